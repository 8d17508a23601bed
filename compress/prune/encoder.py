"""Encoder slicing, written once for every Hugging Face transformer encoder (BERT family, ViT, DeiT).

An `Encoder` reaches the layer list (`base_model.encoder.layer`) and, in each layer, the self-attention module that
holds the head count: `attention.self` in BERT, `attention.attention` in ViT. Everything else (dropping layers,
keeping the best heads and FFN neurons, renumbering `config.pruned_heads`) is the same code for both. Also here: the
checks of the keep fields that the prune, distill, prune-heads and distill-vit configs share.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hfm_compress.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Encoder:
    model: Any  # a transformers PreTrainedModel (has `config`, `base_model` and `prune_heads`)
    attention: str  # the attribute of `layer.attention` that counts heads: "self" (BERT) or "attention" (ViT)

    @property
    def layers(self) -> Any:
        return getattr(self.model, "base_model", self.model).encoder.layer

    def head_counts(self) -> list[int]:
        return [getattr(layer.attention, self.attention).num_attention_heads for layer in self.layers]

    def ffn_sizes(self) -> list[int]:
        return [layer.intermediate.dense.out_features for layer in self.layers]

    def keep_layers(self, keep: tuple[int, ...]) -> None:
        """Keep only the listed layers, in order; renumbers `config.pruned_heads` so save/reload stays valid."""
        import torch

        layers = self.layers
        if max(keep) >= len(layers):
            raise ConfigError(f"layers {list(keep)} do not exist; the model has layers 0..{len(layers) - 1}")
        kept = [layers[i] for i in keep]
        for new_index, layer in enumerate(kept):
            for attention in (getattr(layer, "attention", None), getattr(layer, "crossattention", None)):
                inner = getattr(attention, self.attention, None) if attention is not None else None
                if inner is not None and hasattr(inner, "layer_idx"):
                    inner.layer_idx = new_index  # used by the KV cache only, kept consistent anyway
        getattr(self.model, "base_model", self.model).encoder.layer = torch.nn.ModuleList(kept)
        config = self.model.config
        old_pruned = {int(k): list(v) for k, v in (config.pruned_heads or {}).items()}
        config.pruned_heads = {new: old_pruned[old] for new, old in enumerate(keep) if old_pruned.get(old)}
        config.num_hidden_layers = len(kept)

    def prune_heads_to(self, scores: list[Any], keep: int) -> dict[int, list[int]]:
        """Prune each layer down to its `keep` best heads; returns the removed heads by their original index."""
        removed: dict[int, list[int]] = {}
        for index, (layer, score) in enumerate(zip(self.layers, scores)):
            # HF's prune_heads takes original head numbers; current position p is the p-th head not yet pruned.
            alive = sorted(set(range(self.model.config.num_attention_heads)) - set(layer.attention.pruned_heads))
            drop = sorted(alive[p] for p in best_first(score)[keep:])
            if drop:
                removed[index] = drop
        if removed:
            self.model.prune_heads(removed)
        return removed

    def prune_ffn_to(self, scores: list[Any], keep: int) -> None:
        """Keep each layer's `keep` best neurons: rows of intermediate.dense, columns of output.dense."""
        import torch
        from transformers.pytorch_utils import prune_linear_layer

        for layer, score in zip(self.layers, scores):
            if len(score) == keep:
                continue
            index = torch.as_tensor(np.sort(np.asarray(best_first(score)[:keep])))
            layer.intermediate.dense = prune_linear_layer(layer.intermediate.dense, index, dim=0)
            layer.output.dense = prune_linear_layer(layer.output.dense, index, dim=1)
        self.model.config.intermediate_size = keep


def best_first(score: Any) -> list[int]:
    """Unit positions by importance, best first (ties keep their order for numpy scores, as torch sorts them)."""
    if isinstance(score, np.ndarray):
        return np.argsort(-score, kind="stable").tolist()
    return score.argsort(descending=True).tolist()


def check_keep(step: str, field: str, value: Any, allow_none: bool = False) -> None:
    """A keep amount is a count (int >= 1) or a fraction (float in (0, 1])."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{step}.{field} = {value!r} is invalid; expected a count (int >= 1) or a fraction (0 < x <= 1)")
    if isinstance(value, int) and value < 1:
        raise ConfigError(f"{step}.{field} = {value!r} is out of range; expected a count >= 1")
    if isinstance(value, float) and not 0.0 < value <= 1.0:
        raise ConfigError(f"{step}.{field} = {value!r} is out of range; expected a fraction 0 < x <= 1 (or an int count)")


def check_layers(step: str, layers: Any) -> None:
    if layers is None:
        return
    if not isinstance(layers, tuple) or not layers or not all(isinstance(i, int) and not isinstance(i, bool)
                                                              for i in layers):
        raise ConfigError(f"{step}.layers = {layers!r} is invalid; expected None or a non-empty tuple of layer indices")
    if min(layers) < 0 or len(set(layers)) != len(layers) or list(layers) != sorted(layers):
        raise ConfigError(f"{step}.layers = {layers!r} is invalid; expected distinct indices >= 0 in increasing order")


def resolve_keep(keep: int | float, total: int, what: str) -> int:
    """How many of `total` units a keep amount means (a fraction rounds to the nearest count, at least 1)."""
    count = keep if isinstance(keep, int) else max(1, round(keep * total))
    if count > total:
        raise ConfigError(f"cannot keep {count} {what}; the model has only {total}")
    return count
