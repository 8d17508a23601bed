"""Knowledge distillation of BERT-family encoders into a smaller student.

- Embedding models (task-agnostic): the student starts as a subset of the teacher's layers (optionally with fewer heads
  and FFN neurons, cut by the prune step's importance ranking) and learns, on the user's unlabeled in-domain text, to
  reproduce the teacher's mean-pooled sentence embedding; hidden-state and attention-map terms are optional.
- Classifiers (task-specific, `...ForSequenceClassification`): soft targets with a temperature, plus cross-entropy on
  hard labels when the user gives them.

A run is a pure function of (teacher, config, texts, labels): the data order is drawn from the seed per epoch, and a
checkpoint holds the step counter, optimizer, scheduler and RNG state. Ctrl-C finishes the current step, writes a
checkpoint and raises `DistillInterrupted`; `distill(..., resume=True)` continues the same run, and an interrupted and
resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from hfm_compress.configs import Progress, StepConfig, StepReport, check_range, register_config
from hfm_compress.distill.loop import (CHECKPOINT_NAME, DistillInterrupted, RunState, checkpoint_step, deferred_sigint,
                                       load_checkpoint, progress_reporter, save_checkpoint)
from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.prune.bert import (
    StructuredPruneConfig,
    check_keep,
    check_layers,
    count_parameters,
    encoder_layers,
    ffn_sizes,
    head_counts,
    is_classifier,
    mean_pool,
    prune_model,
)
from hfm_compress.quantize.int4 import BLOCK_SIZES as INT4_BLOCK_SIZES
from hfm_compress.quantize.int4 import stored_4bit_table
from hfm_runtime.fingerprint import text_fingerprint

if TYPE_CHECKING:
    import torch

# Teacher hidden states for the hidden-state term are computed once and kept when they fit this many bytes (the
# bundled 12,070-line corpus, 306k tokens, needs ~1.4 GB for three paired layers); above it the teacher runs at every
# step instead.
# Caching saves the teacher's forward pass per step: ~40% of a MiniLM-L6 -> 3-layer run.
TEACHER_CACHE_BYTES = 2 << 30
PRECISIONS = ("auto", "fp32", "bf16")


@register_config
@dataclasses.dataclass(frozen=True)
class DistillConfig(StepConfig):
    """How to build the student and train it against the teacher."""

    TYPE = "distill"

    # Teacher layers the student starts from; None keeps all. The hidden/attention terms pair student layer i with
    # teacher layer (i + 1) * n_teacher / n_student - 1 whatever the initialisation (see _layer_pairs).
    layers: tuple[int, ...] | None = (0, 2, 5)
    # Heads / FFN neurons per layer in the student at the start (count or fraction; see the prune step).
    # 1.0 / None keep the teacher's: cut these only with enough training to recover.
    heads_keep: int | float = 1.0
    ffn_keep: int | float | None = None
    # Passes over the corpus (`auto` sets them from the corpus size, see recipes.AUTO_DISTILL_TEXTS). MiniLM-L6 -> 3
    # layers on the earlier 4,870-line corpus (held-out mean cosine, before INT8, lr 3e-4): 4 passes 0.942, 20 passes
    # 0.958; 20 passes took 12.5 minutes on 2 CPU cores (teacher targets computed once).
    epochs: int = 20
    # 32 sentences per step: big enough for the in-batch relation term, small enough for ~0.5 s steps on a CPU.
    batch_size: int = 32
    # AdamW peak learning rate after warmup. A 3-layer student made of teacher layers must relearn how they connect.
    # MiniLM-L6, held-out cosine after 4 passes: 1e-4 0.922, 3e-4 0.942, 6e-4 0.948; the 20-pass `auto` artifact
    # 0.951 at 3e-4, 0.954 at 6e-4.
    lr: float = 6e-4
    # Fraction of steps with linearly rising learning rate; then it decays linearly to 0.
    warmup: float = 0.1
    # Tokens per text; clinical sentences rarely reach it, and attention cost grows with its square.
    max_length: int = 128
    seed: int = 0
    # Loss on the pooled sentence embedding: 1 - cosine (what the fidelity goal measures) ...
    cosine_weight: float = 1.0
    # ... MSE of the un-normalised pooled embeddings (keeps the norm too; off by default, cosine is what counts) ...
    mse_weight: float = 0.0
    # ... and MSE between the in-batch cosine-similarity matrices of student and teacher, which is what
    # nearest-neighbour agreement depends on.
    relation_weight: float = 1.0
    # Per-layer terms: MSE of hidden states and KL of attention maps against the teacher layers paired by depth. The
    # hidden term gives a target per token rather than per sentence (MiniLM-L6, 4 passes: 0.942 vs 0.939 cosine); the
    # teacher's states are computed once and kept (see TEACHER_CACHE_BYTES). Attention maps stay off: they cannot be
    # kept, so that term runs the teacher at every step.
    hidden_weight: float = 1.0
    attention_weight: float = 0.0
    # Classifiers: temperature of the soft targets (2 shows the student the teacher's runner-up classes) ...
    temperature: float = 2.0
    # ... and the weight of cross-entropy on hard labels when labels are given (the soft term gets 1 - this).
    hard_weight: float = 0.5
    # The word-embedding table is half of MiniLM's weights and a corpus touches a few thousand of its rows; freezing
    # it keeps every piece the corpus lacks consistent with the teacher (and the vocab step exact) and saves time.
    train_embeddings: bool = False
    # Train against the word table as a later int4-weight-only step with quantize_gather will store it: 4 bits in
    # blocks of this many weights (0: off), with zero points unless table_4bit_symmetric. The table is frozen, so the
    # student learns around the rounding instead of meeting it after training, and the int4 step then finds the table
    # already on its grid (3-layer MiniLM: the 4-bit table cost 0.0014 mean cosine when applied after training).
    table_4bit_block: int = 0
    table_4bit_symmetric: bool = False
    # Dropout during training. Off: the student copies a teacher that runs without dropout, and a frozen,
    # teacher-initialised student overfits little on a few thousand lines.
    dropout: bool = False
    # Steps between checkpoints (one is always written at Ctrl-C and at the end).
    checkpoint_every: int = 200
    # The student's forward pass: "bf16" runs it under bfloat16 autocast (weights, optimizer and losses stay fp32),
    # "fp32" in float32, "auto" picks bf16 where the CPU computes it natively (AVX-512 BF16 or AMX), else fp32.
    # MiniLM-L6 -> 3 layers on a 2-core AVX-512 BF16 machine: 0.11 s per step against 0.19 s.
    precision: str = "auto"

    def __post_init__(self) -> None:
        check_layers("distill", self.layers)
        check_keep("distill", "heads_keep", self.heads_keep)
        check_keep("distill", "ffn_keep", self.ffn_keep, allow_none=True)
        for name, low in (("epochs", 1), ("batch_size", 1), ("max_length", 2), ("checkpoint_every", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"distill.{name} = {value!r} is invalid; expected an integer >= {low}")
            check_range("distill", name, value, low)
        check_range("distill", "lr", self.lr, 1e-8, 1.0)
        check_range("distill", "warmup", self.warmup, 0.0, 0.9)
        for name in ("cosine_weight", "mse_weight", "relation_weight", "hidden_weight", "attention_weight"):
            check_range("distill", name, getattr(self, name), 0.0)
        check_range("distill", "temperature", self.temperature, 0.05, 100.0)
        check_range("distill", "hard_weight", self.hard_weight, 0.0, 1.0)
        if isinstance(self.table_4bit_block, bool) or self.table_4bit_block not in (0, *INT4_BLOCK_SIZES):
            raise ConfigError(f"distill.table_4bit_block = {self.table_4bit_block!r} is invalid; expected 0 (off) or "
                              f"the int4 step's block size: {', '.join(map(str, INT4_BLOCK_SIZES))}")
        if self.table_4bit_block and self.train_embeddings:
            raise ConfigError("distill.table_4bit_block needs train_embeddings = false: a trained table would leave "
                              "the 4-bit grid")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"distill.precision = {self.precision!r} is invalid; expected one of "
                              f"{', '.join(PRECISIONS)}")
        for name in ("train_embeddings", "dropout", "table_4bit_symmetric"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"distill.{name} = {getattr(self, name)!r} is invalid; expected true or false")


def distill(
    teacher: "torch.nn.Module",
    student: "torch.nn.Module | None",
    tokenizer: Any,
    texts: Sequence[str],
    config: DistillConfig,
    checkpoint_dir: Path,
    labels: Sequence[int] | None = None,
    progress: bool | Progress = True,
    *,
    resume: bool = False,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple["torch.nn.Module", StepReport]:
    """Train `student` (or a student built from `teacher` by `config`) to reproduce `teacher` on `texts`.

    `tokenizer`: the teacher's tokenizer (a `tokenizers.Tokenizer`, tokenizer.json text or path, or a HF fast
    tokenizer); teacher and student share it, so run the vocab step after this one.
    `labels`: class indices for a classifier teacher (optional). `progress`: a rich bar when True, or a
    `progress(label, done, total)` callback. `resume`: continue from the checkpoint in `checkpoint_dir` if there is
    one (it must come from the same config and data). `on_step(step, loss)` is called after every step.
    Returns the trained student (in eval mode) and a report with the config, data fingerprint and loss curve.
    """
    import torch

    started = time.perf_counter()
    texts = list(texts)
    if not texts:
        raise CompressError("distillation needs training texts; got none")
    classifier = is_classifier(teacher)
    if labels is not None:
        if not classifier:
            raise CompressError("labels were given but the teacher is not a classifier; embedding distillation uses "
                                "unlabeled text only")
        if len(labels) != len(texts):
            raise CompressError(f"got {len(labels)} labels for {len(texts)} texts; expected one label per text")
    pad_id = teacher.config.pad_token_id or 0
    encoded = _tokenize(tokenizer, texts, config.max_length)
    data = _TrainingData(encoded, pad_id, None if labels is None else torch.tensor(list(labels), dtype=torch.long))

    teacher.eval()
    if student is None:
        student = build_student(teacher, config, data)
    pairs = _layer_pairs(teacher, student, config)
    table_change = _store_table_4bit(student, config) if config.table_4bit_block else None
    _set_trainable(student, config)
    optimizer, scheduler, total_steps = _optimizer(student, config, len(texts))
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME
    # The checkpoint's identity: a checkpoint resumes only the run with this config and data.
    run_id = {"config": config.to_dict(), "corpus": text_fingerprint(texts),
              "labels": None if labels is None else text_fingerprint([str(int(label)) for label in labels])}
    state = RunState()
    if resume and checkpoint.is_file():
        state = load_checkpoint(checkpoint, run_id, student, optimizer, scheduler)
    resumed_from = state.step if resume and checkpoint.is_file() else None

    hidden_layers = [t for _, t in pairs] if config.hidden_weight > 0 else []
    # Attention maps are too big to keep: with that term the teacher runs at every step.
    targets = None if config.attention_weight > 0 else _teacher_targets(teacher, data, classifier, hidden_layers)
    precision = training_precision(config.precision)
    loss_fn = _Loss(teacher, config, classifier, pairs, targets, bf16=precision == "bf16")
    steps_per_epoch = math.ceil(len(texts) / config.batch_size)
    student.train(config.dropout)
    try:
        with progress_reporter(progress, total_steps) as report_progress, deferred_sigint() as stop:
            while state.step < total_steps:
                if stop.requested:
                    raise KeyboardInterrupt
                epoch, position = divmod(state.step, steps_per_epoch)
                index = data.epoch_batches(config.seed, epoch, config.batch_size)[position]
                loss = loss_fn(student, data.batch(index), index, data)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                state.record(epoch, float(loss.detach()))
                report_progress(state)
                if on_step is not None:
                    on_step(state.step, state.last_loss)
                if state.step % config.checkpoint_every == 0 or state.step == total_steps or stop.requested:
                    save_checkpoint(checkpoint, run_id, student, optimizer, scheduler, state)
    except KeyboardInterrupt:
        saved = checkpoint if checkpoint.is_file() else None
        where = (f"the checkpoint {saved} holds step {checkpoint_step(saved)}; run again with resume to continue"
                 if saved else "no checkpoint was written yet")
        raise DistillInterrupted(f"distillation interrupted at step {state.step} of {total_steps}; {where}",
                                 saved) from None
    student.eval()

    details = {
        "task": "classification" if classifier else "embedding",
        "teacher_layers_paired": [t for _, t in pairs] if pairs else None,
        "student": {"layers": len(encoder_layers(student)), "heads_per_layer": head_counts(student),
                    "ffn_per_layer": ffn_sizes(student), "parameters": count_parameters(student)},
        "teacher_parameters": count_parameters(teacher),
        "corpus": run_id["corpus"],
        "labels": run_id["labels"],
        "steps": total_steps,
        "epochs": config.epochs,
        "loss_by_epoch": [round(x, 6) for x in state.epoch_means()],
        "resumed_from_step": resumed_from,
        "teacher_outputs": "per step" if targets is None else "computed once",
        "precision": precision if precision == "fp32" else "bf16 autocast of the student's forward pass",
    }
    if table_change is not None:
        details["word_table"] = {"stored_4bit": {"block_size": config.table_4bit_block,
                                                 "symmetric": config.table_4bit_symmetric},
                                 "max_abs_change": round(table_change, 6)}
    return student, StepReport(step=config.TYPE, config=config.to_dict(), details=details,
                               seconds=time.perf_counter() - started)


# ---- student ------------------------------------------------------------------------------------------------------

def build_student(teacher: "torch.nn.Module", config: DistillConfig, data: "_TrainingData") -> "torch.nn.Module":
    """A copy of the teacher cut to `config.layers`, `heads_keep` and `ffn_keep` (ranked by the prune step's Taylor
    importance on the first training batches of a seeded order)."""
    student = copy.deepcopy(teacher)
    prune = StructuredPruneConfig(heads_keep=config.heads_keep, ffn_keep=config.ffn_keep or 1.0, layers=config.layers,
                                  importance="taylor", max_batches=8)
    batches = data.epoch_batches(config.seed, -1, config.batch_size)[:prune.max_batches]
    prune_model(student, prune, (data.batch(index) for index in batches))
    return student


def _layer_pairs(teacher: "torch.nn.Module", student: "torch.nn.Module",
                 config: DistillConfig) -> list[tuple[int, int]]:
    """(student layer, teacher layer) pairs for the per-layer terms."""
    n_student, n_teacher = len(encoder_layers(student)), len(encoder_layers(teacher))
    if config.layers is not None and max(config.layers) >= n_teacher:
        raise ConfigError(f"distill.layers = {list(config.layers)} but the teacher has layers 0..{n_teacher - 1}")
    if n_student > n_teacher:
        raise ConfigError(f"the student has {n_student} layers, more than the teacher's {n_teacher}")
    # Student layer i does the work of teacher layers up to (i + 1) * n_teacher / n_student, whichever teacher layers
    # it was initialised from: its last layer must land where the teacher's output is (TinyBERT's uniform mapping).
    return [(i, (i + 1) * n_teacher // n_student - 1) for i in range(n_student)]


def training_precision(precision: str) -> str:
    """"fp32" or "bf16" for a DistillConfig.precision; "auto" is bf16 only where the CPU computes it natively (an
    emulated bf16 matmul is slower than fp32)."""
    if precision != "auto":
        return precision
    import torch

    native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return "bf16" if native else "fp32"


def _store_table_4bit(student: "torch.nn.Module", config: DistillConfig) -> float:
    """Put the student's word table on the 4-bit grid of the int4 step (ORT's own quantizer); returns the largest
    change of a weight."""
    import torch

    weight = student.get_input_embeddings().weight
    table = weight.detach().float().numpy()
    stored = torch.from_numpy(stored_4bit_table(table, config.table_4bit_block, config.table_4bit_symmetric))
    with torch.no_grad():
        change = float((stored - weight).abs().max())
        weight.copy_(stored)
    return change


def _set_trainable(student: "torch.nn.Module", config: DistillConfig) -> None:
    for parameter in student.parameters():
        parameter.requires_grad_(True)
    student.get_input_embeddings().weight.requires_grad_(config.train_embeddings)


def _optimizer(student: "torch.nn.Module", config: DistillConfig, n_texts: int) -> tuple[Any, Any, int]:
    import torch

    total = config.epochs * math.ceil(n_texts / config.batch_size)
    warmup = max(1, int(config.warmup * total)) if config.warmup > 0 else 0

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.01)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule), total


# ---- data ---------------------------------------------------------------------------------------------------------

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


def _tokenize(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    return [encoding.ids for encoding in as_tokenizer(tokenizer, max_length).encode_batch(texts)]


class _TrainingData:
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
class _TeacherTargets:
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


def _teacher_targets(teacher: "torch.nn.Module", data: _TrainingData, classifier: bool,
                     hidden_layers: Sequence[int]) -> _TeacherTargets | None:
    """Teacher outputs (and hidden states of `hidden_layers`) for every text; None if the hidden states would not fit
    TEACHER_CACHE_BYTES. Batched by length in a fixed order, so the values never depend on the run's batches."""
    import torch

    if hidden_layers:
        width = teacher.get_input_embeddings().embedding_dim
        needed = sum(len(ids) for ids in data.encoded) * len(hidden_layers) * width * 4
        if needed > TEACHER_CACHE_BYTES:
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
    return _TeacherTargets(torch.stack([rows[i] for i in range(len(data))]),
                           [hidden[i] for i in range(len(data))] if hidden_layers else None)


# ---- loss ---------------------------------------------------------------------------------------------------------

class _Loss:
    def __init__(self, teacher: "torch.nn.Module", config: DistillConfig, classifier: bool,
                 pairs: list[tuple[int, int]], targets: _TeacherTargets | None, bf16: bool = False) -> None:
        self.teacher, self.config, self.classifier, self.pairs, self.targets = teacher, config, classifier, pairs, targets
        self.bf16 = bf16
        output_weights = (config.cosine_weight + config.mse_weight + config.relation_weight) if not classifier else 1.0
        if output_weights + config.hidden_weight + config.attention_weight <= 0:
            raise ConfigError("distill: every loss weight is 0; expected cosine_weight, mse_weight, relation_weight, "
                              "hidden_weight or attention_weight > 0")

    def __call__(self, student: "torch.nn.Module", batch: dict[str, "torch.Tensor"], index: Sequence[int],
                 data: _TrainingData) -> "torch.Tensor":
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
