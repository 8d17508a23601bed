"""BERT distillation's data and objective: the corpus as token ids, the teacher's targets (computed once when they
fit in memory, else per step) and the loss (embedding cosine / MSE / relation terms, hidden-state and attention
terms, soft targets for classifiers)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.prune.bert import mean_pool

if TYPE_CHECKING:
    import torch

    from hfm_compress.distill.bert import DistillConfig



def as_tokenizer(tokenizer: Any, max_length: int) -> Any:
    """A `tokenizers.Tokenizer` that truncates to `max_length` and does not pad (batches pad to their longest)."""
    from tokenizers import Tokenizer

    if isinstance(tokenizer, Tokenizer):
        result = Tokenizer.from_str(tokenizer.to_str())
    elif hasattr(tokenizer, "backend_tokenizer"):
        result = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    elif isinstance(tokenizer, (str, Path)) and str(tokenizer).lstrip().startswith("{"):
        result = Tokenizer.from_str(str(tokenizer))
    elif isinstance(tokenizer, (str, Path)) and Path(tokenizer).is_file():
        result = Tokenizer.from_file(str(tokenizer))
    else:
        raise CompressError(f"cannot use {type(tokenizer).__name__} as a tokenizer; expected a tokenizers.Tokenizer, "
                            "tokenizer.json text or path, or a Hugging Face fast tokenizer")
    result.no_padding()
    result.enable_truncation(max_length)
    return result


def tokenize(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    return [encoding.ids for encoding in as_tokenizer(tokenizer, max_length).encode_batch(texts)]


class TrainingData:
    def __init__(self, encoded: list[list[int]], pad_id: int, labels: "torch.Tensor | None") -> None:
        self.encoded, self.pad_id, self.labels = encoded, pad_id, labels
        self._batches: dict[tuple[int, int, int], list[list[int]]] = {}

    def __len__(self) -> int:
        return len(self.encoded)

    def epoch_batches(self, seed: int, epoch: int, batch_size: int) -> list[list[int]]:
        """The batches of one epoch, a function of (seed, epoch) only, so a resumed run sees the same ones.

        Texts are shuffled, then sorted by length within pools of 50 batches and cut into batches whose order is
        shuffled again: batches pad to their longest text, and clinical lines vary from 5 to 100+ tokens, so random
        batches would spend most of their time on padding. There are always ceil(texts / batch_size) batches."""
        import torch

        key = (seed, epoch, batch_size)
        if key not in self._batches:
            generator = torch.Generator().manual_seed(seed * 100_003 + epoch + 1)
            order = torch.randperm(len(self.encoded), generator=generator).tolist()
            pool = batch_size * 50
            batches = []
            for start in range(0, len(order), pool):
                chunk = sorted(order[start:start + pool], key=lambda i: len(self.encoded[i]))
                batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
            shuffled = torch.randperm(len(batches), generator=generator).tolist()
            self._batches = {key: [batches[i] for i in shuffled]}  # only the current epoch is kept
        return self._batches[key]

    def batch(self, index: Sequence[int]) -> dict[str, "torch.Tensor"]:
        import torch

        rows = [self.encoded[i] for i in index]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, tokens in enumerate(rows):
            ids[row, :len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            mask[row, :len(tokens)] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


@dataclasses.dataclass
class TeacherTargets:
    """The frozen teacher's outputs for every text, computed once."""

    outputs: "torch.Tensor"  # logits or un-normalised pooled embeddings, one row per text
    hidden: "list[torch.Tensor] | None"  # per text: hidden states of the paired teacher layers, (layers, tokens, width)

    def hidden_batch(self, index: Sequence[int], width: int) -> "list[torch.Tensor]":
        """Per paired layer, the (batch, width, hidden) states of the texts in `index`, zero past each text's end."""
        import torch

        rows = [self.hidden[i] for i in index]  # type: ignore[index]
        batch = torch.zeros((rows[0].shape[0], len(rows), width, rows[0].shape[2]), dtype=rows[0].dtype)
        for position, row in enumerate(rows):
            batch[:, position, :row.shape[1]] = row
        return list(batch)


def teacher_targets(teacher: "torch.nn.Module", data: TrainingData, classifier: bool,
                     hidden_layers: Sequence[int], cache_bytes: int) -> TeacherTargets | None:
    """Teacher outputs (and hidden states of `hidden_layers`) for every text; None if the hidden states would not fit
    `cache_bytes`. Batched by length in a fixed order, so the values never depend on the run's batches."""
    import torch

    if hidden_layers:
        width = teacher.get_input_embeddings().embedding_dim
        needed = sum(len(ids) for ids in data.encoded) * len(hidden_layers) * width * 4
        if needed > cache_bytes:
            return None
    by_length = sorted(range(len(data)), key=lambda i: len(data.encoded[i]))  # little padding, same results
    rows: dict[int, torch.Tensor] = {}
    hidden: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for start in range(0, len(by_length), 64):
            index = by_length[start:start + 64]
            batch = data.batch(index)
            result = teacher(**batch, output_hidden_states=bool(hidden_layers))
            values = result.logits if classifier else mean_pool(result.last_hidden_state, batch["attention_mask"])
            rows.update(zip(index, values))
            if hidden_layers:
                states = torch.stack([result.hidden_states[t + 1] for t in hidden_layers], 1)  # batch, layers, ...
                hidden.update((i, states[row, :, :len(data.encoded[i])].clone()) for row, i in enumerate(index))
    return TeacherTargets(torch.stack([rows[i] for i in range(len(data))]),
                           [hidden[i] for i in range(len(data))] if hidden_layers else None)


# ---- loss ---------------------------------------------------------------------------------------------------------

class DistillLoss:
    def __init__(self, teacher: "torch.nn.Module", config: DistillConfig, classifier: bool,
                 pairs: list[tuple[int, int]], targets: TeacherTargets | None, bf16: bool = False) -> None:
        self.teacher, self.config, self.classifier, self.pairs, self.targets = teacher, config, classifier, pairs, targets
        self.bf16 = bf16
        output_weights = (config.cosine_weight + config.mse_weight + config.relation_weight) if not classifier else 1.0
        if output_weights + config.hidden_weight + config.attention_weight <= 0:
            raise ConfigError("distill: every loss weight is 0; expected cosine_weight, mse_weight, relation_weight, "
                              "hidden_weight or attention_weight > 0")

    def __call__(self, student: "torch.nn.Module", batch: dict[str, "torch.Tensor"], index: Sequence[int],
                 data: TrainingData) -> "torch.Tensor":
        import torch

        c = self.config
        layered = c.hidden_weight > 0 or c.attention_weight > 0
        # Only the student's forward pass runs in bf16; its outputs are cast back so that the losses (differences of
        # nearly equal numbers) are computed in fp32.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            out = student(**batch, output_hidden_states=c.hidden_weight > 0, output_attentions=c.attention_weight > 0)
        if self.bf16:
            out = _as_float(out)
        teacher_out = None
        if self.targets is None:
            with torch.no_grad():
                teacher_out = self.teacher(**batch, output_hidden_states=c.hidden_weight > 0,
                                           output_attentions=c.attention_weight > 0)
        mask = batch["attention_mask"]
        if self.classifier:
            target = teacher_out.logits if teacher_out is not None else self.targets.outputs[list(index)]
            labels = data.labels[list(index)] if data.labels is not None else None
            loss = self._classification(out.logits, target, labels)
        else:
            target = (mean_pool(teacher_out.last_hidden_state, mask) if teacher_out is not None
                      else self.targets.outputs[list(index)])
            loss = self._embedding(mean_pool(out.last_hidden_state, mask), target)
        if layered:
            if c.hidden_weight == 0:
                hidden = None
            elif teacher_out is not None:
                hidden = [teacher_out.hidden_states[t + 1] for _, t in self.pairs]
            else:
                hidden = self.targets.hidden_batch(index, mask.shape[1])
            loss = loss + self._layers(out, hidden, teacher_out, mask)
        return loss

    def _embedding(self, pooled: "torch.Tensor", target: "torch.Tensor") -> "torch.Tensor":
        import torch.nn.functional as F

        c = self.config
        unit, target_unit = F.normalize(pooled, dim=-1), F.normalize(target, dim=-1)
        loss = c.cosine_weight * (1 - (unit * target_unit).sum(-1)).mean()
        if c.mse_weight:
            loss = loss + c.mse_weight * F.mse_loss(pooled, target)
        if c.relation_weight and len(unit) > 1:
            loss = loss + c.relation_weight * F.mse_loss(unit @ unit.T, target_unit @ target_unit.T)
        return loss

    def _classification(self, logits: "torch.Tensor", target: "torch.Tensor",
                        labels: "torch.Tensor | None") -> "torch.Tensor":
        import torch.nn.functional as F

        t = self.config.temperature
        soft = F.kl_div(F.log_softmax(logits / t, -1), F.log_softmax(target / t, -1), log_target=True,
                        reduction="batchmean") * t * t
        if labels is None:
            return soft
        w = self.config.hard_weight
        return (1 - w) * soft + w * F.cross_entropy(logits, labels)

    def _layers(self, out: Any, teacher_hidden: "list[torch.Tensor] | None", teacher_out: Any,
                mask: "torch.Tensor") -> "torch.Tensor":
        """Hidden-state MSE (teacher states per pair, from the cache or this step's pass) and attention KL."""
        c = self.config
        tokens = mask.unsqueeze(-1).float()
        loss = 0.0
        for k, (s, t) in enumerate(self.pairs):
            if c.hidden_weight:
                diff = (out.hidden_states[s + 1] - teacher_hidden[k]) ** 2 * tokens
                loss = loss + c.hidden_weight * diff.sum() / (tokens.sum() * diff.shape[-1]) / len(self.pairs)
            if c.attention_weight:
                loss = loss + c.attention_weight * _attention_kl(out.attentions[s], teacher_out.attentions[t],
                                                                 mask) / len(self.pairs)
        return loss


def _as_float(out: Any) -> Any:
    """The model output with its tensors (and tuples of tensors) in fp32."""
    for key, value in out.items():
        if isinstance(value, tuple):
            out[key] = tuple(v.float() for v in value)
        elif value is not None:
            out[key] = value.float()
    return out


def _attention_kl(student: "torch.Tensor", teacher: "torch.Tensor", mask: "torch.Tensor") -> "torch.Tensor":
    """KL(teacher || student) of attention rows of real query tokens; heads are averaged if their counts differ."""
    if student.shape[1] != teacher.shape[1]:
        student, teacher = student.mean(1, keepdim=True), teacher.mean(1, keepdim=True)
    eps = 1e-9
    kl = (teacher * ((teacher + eps).log() - (student + eps).log())).sum(-1)  # batch, heads, queries
    rows = mask.unsqueeze(1).to(kl.dtype)
    return (kl * rows).sum() / (rows.sum() * kl.shape[1])
