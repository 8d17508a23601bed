"""Structured pruning of BERT-family encoders: attention heads, FFN neurons and whole layers, removed physically.

Heads and neurons are ranked by an importance score measured on calibration batches, then the weight matrices are
sliced, so the exported ONNX graph has smaller MatMuls and ONNX Runtime does less work. Every layer keeps the same
number of heads and neurons: `config.intermediate_size` is one number for all layers, and ONNX Runtime's attention
fusion assumes one head count, so uneven cuts would either not reload or not fuse.

Unstructured magnitude pruning (`MagnitudePruneConfig`) is here too, but zeros inside dense matrices make no CPU
kernel faster; its report says so.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from hfm_compress.configs import StepConfig, StepReport, check_choice, check_range, register_config
from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.prune.encoder import Encoder, check_keep, check_layers, resolve_keep

if TYPE_CHECKING:
    import torch

IMPORTANCE_KINDS = ("taylor", "activation")


@register_config
@dataclasses.dataclass(frozen=True)
class StructuredPruneConfig(StepConfig):
    """Remove attention heads, FFN neurons and (optionally) whole layers; counts are per layer."""

    TYPE = "prune"

    # Heads per layer to keep (int) or the fraction to keep (float). 1.0 keeps all: on MiniLM a head carries 1/12 of
    # the attention FLOPs but cutting heads costs more fidelity per FLOP than cutting FFN neurons.
    heads_keep: int | float = 1.0
    # FFN intermediate neurons per layer to keep (int) or the fraction (float). 0.5 halves the FFN, which is two thirds
    # of a BERT layer's weights, and a short distillation recovers the fidelity (see the distill step).
    ffn_keep: int | float = 0.5
    # Indices of the layers to keep, in order; None keeps all. Layers are the biggest single factor in latency.
    layers: tuple[int, ...] | None = None
    # "taylor": first-order estimate of how far the model's output moves when a unit is removed (needs gradients);
    # "activation": size of the unit's contribution to the residual stream (forward only, cheaper, a bit cruder).
    importance: str = "taylor"
    # Calibration batches to score on; rankings stop changing after a few hundred sentences.
    max_batches: int = 16

    def __post_init__(self) -> None:
        check_keep("prune", "heads_keep", self.heads_keep)
        check_keep("prune", "ffn_keep", self.ffn_keep)
        check_layers("prune", self.layers)
        check_choice("prune", "importance", self.importance, IMPORTANCE_KINDS)
        check_range("prune", "max_batches", self.max_batches, 1)
        if not isinstance(self.max_batches, int):
            raise ConfigError(f"prune.max_batches = {self.max_batches!r} is invalid; expected an integer >= 1")


@register_config
@dataclasses.dataclass(frozen=True)
class MagnitudePruneConfig(StepConfig):
    """Zero the smallest weights of every encoder Linear layer. Shrinks only the compressed size (see module doc)."""

    TYPE = "magnitude-prune"

    # Fraction of each weight matrix set to zero. 0.5 is where BERT-size encoders start losing fidelity without
    # retraining; higher needs a recovery distillation.
    sparsity: float = 0.5

    def __post_init__(self) -> None:
        check_range("magnitude-prune", "sparsity", self.sparsity, 0.0, 0.99)


MAGNITUDE_NOTE = (
    "unstructured sparsity: zeroed weights shrink only the compressed (zip) size of the artifact; ONNX Runtime on CPU "
    "runs dense kernels, so latency and memory do not improve"
)


# ---- model structure (shared with the distill step) ---------------------------------------------------------------

def encoder_layers(model: "torch.nn.Module") -> "torch.nn.ModuleList":
    """The `encoder.layer` list of a BERT-family model (BertModel, BertForSequenceClassification, RoBERTa, ...)."""
    base = getattr(model, "base_model", model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None:
        raise CompressError(f"{type(model).__name__} is not a BERT-family model (no encoder.layer); cannot prune it")
    return layers


def is_classifier(model: "torch.nn.Module") -> bool:
    return hasattr(model, "classifier")


def mean_pool(hidden: "torch.Tensor", attention_mask: "torch.Tensor") -> "torch.Tensor":
    """Mean over real tokens (the sentence-transformers pooling of MiniLM); padding does not count."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def model_output(model: "torch.nn.Module", batch: dict[str, "torch.Tensor"]) -> "torch.Tensor":
    """The vector the model is judged on: normalised mean-pooled embedding, or logits for a classifier."""
    import torch.nn.functional as F

    result = model(**batch)
    if is_classifier(model):
        return result.logits
    return F.normalize(mean_pool(result.last_hidden_state, batch["attention_mask"]), dim=-1)


def bert_encoder(model: "torch.nn.Module") -> Encoder:
    encoder_layers(model)  # checks the layout
    return Encoder(model, "self")


def keep_layers(model: "torch.nn.Module", keep: tuple[int, ...]) -> None:
    bert_encoder(model).keep_layers(keep)


def head_counts(model: "torch.nn.Module") -> list[int]:
    return bert_encoder(model).head_counts()


def ffn_sizes(model: "torch.nn.Module") -> list[int]:
    return bert_encoder(model).ffn_sizes()


# ---- importance ---------------------------------------------------------------------------------------------------

def unit_importance(model: "torch.nn.Module", batches: Iterable[dict[str, "torch.Tensor"]], kind: str,
                    max_batches: int, seed: int = 0) -> tuple[list["torch.Tensor"], list["torch.Tensor"], int]:
    """Per-layer importance of every attention head and FFN neuron; returns (head scores, neuron scores, batches).

    Each unit is gated by a multiplier m = 1 placed where its output enters the next matrix (the input of
    attention.output.dense for heads, of output.dense for neurons), so the same code works for any attention kernel.
    - "taylor": sum over sentences of ||d output / d m||^2, the first-order estimate of how far the model's output
      (normalised pooled embedding, or logits) moves when the unit is removed. A loss that compares the model with
      itself has zero gradient at the start, so the squared Jacobian norm is estimated instead, with one random
      Gaussian projection per sentence: E[(sum_i r_i . J_i)^2] = sum_i ||J_i||^2.
    - "activation": mean |m-input| over real tokens times the norm of the unit's outgoing weights, i.e. the size of
      what the unit writes into the residual stream.
    """
    import torch

    layers = encoder_layers(model)
    heads = [torch.zeros(n) for n in head_counts(model)]
    neurons = [torch.zeros(n) for n in ffn_sizes(model)]
    gates: list[tuple[torch.Tensor, torch.Tensor]] = []
    current_mask: dict[str, torch.Tensor] = {}

    def gate(layer_index: int, is_head: bool) -> Callable[..., Any]:
        def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            hidden = inputs[0]
            units = heads[layer_index].numel() if is_head else hidden.shape[-1]
            if kind == "activation":
                token_mask = current_mask["mask"].unsqueeze(-1).to(hidden.dtype)
                size = (hidden.abs() * token_mask).sum(dim=(0, 1)).detach()
                if is_head:
                    size = size.view(units, -1).sum(dim=1)
                target = heads[layer_index] if is_head else neurons[layer_index]
                target += size / token_mask.sum()
                return inputs
            multiplier = torch.ones(units, requires_grad=True)
            gates.append((multiplier, heads[layer_index] if is_head else neurons[layer_index]))
            scale = multiplier.repeat_interleave(hidden.shape[-1] // units) if is_head else multiplier
            return (hidden * scale,) + tuple(inputs[1:])

        return hook

    handles = []
    for index, layer in enumerate(layers):
        handles.append(layer.attention.output.dense.register_forward_pre_hook(gate(index, True)))
        handles.append(layer.output.dense.register_forward_pre_hook(gate(index, False)))
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    trainable = [p for p in model.parameters() if p.requires_grad]
    for parameter in trainable:  # only the gates need gradients; skipping weight gradients halves the backward
        parameter.requires_grad_(False)
    model.eval()
    used = 0
    try:
        for batch in batches:
            if used >= max_batches:
                break
            current_mask["mask"] = batch["attention_mask"]
            gates.clear()
            if kind == "activation":
                with torch.no_grad():
                    model_output(model, batch)
            else:
                output = model_output(model, batch)
                projection = torch.randn(output.shape, generator=generator)
                (output * projection).sum().backward()
                for multiplier, target in gates:
                    target += multiplier.grad.detach() ** 2
            used += 1
    finally:
        for handle in handles:
            handle.remove()
        for parameter in trainable:
            parameter.requires_grad_(True)
        model.train(was_training)
    if used == 0:
        raise CompressError("pruning needs calibration batches to score heads and neurons; got none")
    if kind == "activation":
        for index, layer in enumerate(layers):
            out_norm = layer.output.dense.weight.detach().norm(dim=0)
            neurons[index] *= out_norm
            head_norm = layer.attention.output.dense.weight.detach().norm(dim=0) ** 2
            heads[index] *= head_norm.view(heads[index].numel(), -1).sum(dim=1).sqrt()
    return heads, neurons, used


# ---- the steps ----------------------------------------------------------------------------------------------------

def count_parameters(model: "torch.nn.Module") -> int:
    return sum(p.numel() for p in model.parameters())


def _shape_facts(model: "torch.nn.Module") -> dict[str, Any]:
    return {"layers": len(encoder_layers(model)), "heads_per_layer": head_counts(model),
            "ffn_per_layer": ffn_sizes(model), "parameters": count_parameters(model)}


def prune_model(model: "torch.nn.Module", config: StructuredPruneConfig,
                batches: Iterable[dict[str, "torch.Tensor"]]) -> StepReport:
    """Prune `model` in place: keep `config.layers`, then the best heads and FFN neurons of each layer.

    `batches` are tokenized calibration batches (input_ids, attention_mask, optionally token_type_ids); only the
    first `config.max_batches` are used, and only when heads or neurons are actually cut.
    """
    started = time.perf_counter()
    before = _shape_facts(model)
    if config.layers is not None:
        keep_layers(model, config.layers)
    n_heads = min(head_counts(model))
    n_ffn = min(ffn_sizes(model))
    heads_keep = resolve_keep(config.heads_keep, n_heads, "heads per layer")
    ffn_keep = resolve_keep(config.ffn_keep, n_ffn, "FFN neurons per layer")
    uneven = len(set(head_counts(model))) > 1 or len(set(ffn_sizes(model))) > 1
    details: dict[str, Any] = {"before": before, "importance": config.importance}
    if heads_keep < max(head_counts(model)) or ffn_keep < max(ffn_sizes(model)) or uneven:
        head_scores, neuron_scores, used = unit_importance(model, batches, config.importance, config.max_batches)
        details["calibration_batches"] = used
        details["removed_heads"] = {str(k): v for k, v in bert_encoder(model).prune_heads_to(head_scores, heads_keep).items()}
        bert_encoder(model).prune_ffn_to(neuron_scores, ffn_keep)
    details["after"] = _shape_facts(model)
    details["parameter_ratio"] = round(details["after"]["parameters"] / before["parameters"], 4)
    return StepReport(step=config.TYPE, config=config.to_dict(), details=details,
                      seconds=time.perf_counter() - started)


def magnitude_prune(model: "torch.nn.Module", config: MagnitudePruneConfig) -> StepReport:
    """Zero the `config.sparsity` smallest-magnitude weights of each encoder Linear layer, in place."""
    import torch

    started = time.perf_counter()
    zeroed = total = 0
    with torch.no_grad():
        for module in encoder_layers(model).modules():
            if isinstance(module, torch.nn.Linear):
                weight = module.weight
                count = int(config.sparsity * weight.numel())
                if count:
                    threshold = weight.abs().flatten().kthvalue(count).values
                    mask = weight.abs() <= threshold
                    weight.masked_fill_(mask, 0.0)
                    zeroed += int(mask.sum())
                total += weight.numel()
    details = {"zeroed_weights": zeroed, "encoder_linear_weights": total,
               "sparsity": round(zeroed / max(total, 1), 4), "speeds_up_onnxruntime_cpu": False,
               "note": MAGNITUDE_NOTE}
    return StepReport(step=config.TYPE, config=config.to_dict(), details=details,
                      seconds=time.perf_counter() - started)
