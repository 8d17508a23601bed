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
from hfm_compress.distill.loop import CHECKPOINT_NAME, RunState, progress_reporter, resume_state, train_steps
from hfm_compress.distill.bert_targets import DistillLoss, TrainingData, teacher_targets, tokenize
from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.prune.encoder import check_keep, check_layers
from hfm_compress.prune.bert import (
    StructuredPruneConfig,
    count_parameters,
    encoder_layers,
    ffn_sizes,
    head_counts,
    is_classifier,
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
    encoded = tokenize(tokenizer, texts, config.max_length)
    data = TrainingData(encoded, pad_id, None if labels is None else torch.tensor(list(labels), dtype=torch.long))

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
    state, resumed_from = resume_state(checkpoint, run_id, student, optimizer, scheduler, resume)

    hidden_layers = [t for _, t in pairs] if config.hidden_weight > 0 else []
    # Attention maps are too big to keep: with that term the teacher runs at every step.
    targets = None if config.attention_weight > 0 else teacher_targets(teacher, data, classifier, hidden_layers,
                                                                                TEACHER_CACHE_BYTES)
    precision = training_precision(config.precision)
    loss_fn = DistillLoss(teacher, config, classifier, pairs, targets, bf16=precision == "bf16")
    steps_per_epoch = math.ceil(len(texts) / config.batch_size)
    student.train(config.dropout)

    def loss_of(epoch: int, position: int) -> "torch.Tensor":
        index = data.epoch_batches(config.seed, epoch, config.batch_size)[position]
        return loss_fn(student, data.batch(index), index, data)

    with progress_reporter(progress, total_steps) as report_progress:
        def report(state: RunState) -> None:
            report_progress(state)
            if on_step is not None:
                on_step(state.step, state.last_loss)

        train_steps(student, optimizer, scheduler, state, total=total_steps, steps_per_epoch=steps_per_epoch,
                    loss_of=loss_of, report=report, checkpoint=checkpoint, run_id=run_id,
                    checkpoint_every=config.checkpoint_every, label="distillation", max_grad_norm=1.0)
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

def build_student(teacher: "torch.nn.Module", config: DistillConfig, data: "TrainingData") -> "torch.nn.Module":
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
