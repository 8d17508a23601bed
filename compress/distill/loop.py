"""The training loop's shared parts for every distillation step: checkpoints (format, write, read, resume), the
progress report, and Ctrl-C handling.

A run is a pure function of its inputs: a checkpoint holds the step counter, optimizer, scheduler and RNG state. Ctrl-C
finishes the current step, writes a checkpoint and raises `DistillInterrupted`; resuming continues the same run, and
an interrupted and resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from hfm_compress.configs import Progress
from hfm_compress.errors import CompressError

if TYPE_CHECKING:
    import torch

CHECKPOINT_NAME = "distill-checkpoint.pt"
CHECKPOINT_FORMAT = 1


class DistillInterrupted(CompressError):
    """Ctrl-C during distillation; the checkpoint named in the message continues the run."""

    def __init__(self, message: str, checkpoint: Path | None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


@dataclasses.dataclass
class RunState:
    step: int = 0
    last_loss: float = float("nan")
    epoch_sums: dict[int, list[float]] = dataclasses.field(default_factory=dict)

    def record(self, epoch: int, loss: float) -> None:
        self.step += 1
        self.last_loss = loss
        total = self.epoch_sums.setdefault(epoch, [0.0, 0])
        total[0] += loss
        total[1] += 1

    def epoch_means(self) -> list[float]:
        return [s / n for _, (s, n) in sorted(self.epoch_sums.items())]


def save_checkpoint(path: Path, run_id: dict[str, Any], student: "torch.nn.Module", optimizer: Any, scheduler: Any,
                     state: RunState) -> None:
    """Written to a temporary name and renamed, so a crash mid-write never leaves a broken checkpoint."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT, **run_id, "step": state.step, "last_loss": state.last_loss,
        "epoch_sums": {str(k): v for k, v in state.epoch_sums.items()},
        "student": student.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
    }
    partial = path.with_suffix(".partial")
    try:
        torch.save(payload, partial)
        partial.replace(path)
    except BaseException:  # SIGTERM (or a second Ctrl-C) mid-write: leave no half-written file behind
        partial.unlink(missing_ok=True)
        raise


def read_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same user-facing message
        raise CompressError(f"checkpoint {path} cannot be read ({exc}); delete it to start over") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CompressError(f"checkpoint {path} is not a distillation checkpoint of format {CHECKPOINT_FORMAT}")
    return payload


def checkpoint_step(path: Path) -> int:
    return int(read_checkpoint(path)["step"])


def load_checkpoint(path: Path, run_id: dict[str, Any], student: "torch.nn.Module", optimizer: Any,
                     scheduler: Any) -> RunState:
    import torch

    payload = read_checkpoint(path)
    for key, what in (("config", "config"), ("corpus", "corpus"), ("labels", "labels")):
        if payload.get(key) != run_id[key]:
            raise CompressError(f"checkpoint {path} belongs to a run with a different {what}; expected the same "
                                f"{what} to resume (delete the checkpoint to start over)")
    try:
        student.load_state_dict(payload["student"])
    except RuntimeError as exc:
        raise CompressError(f"checkpoint {path} does not fit this student ({str(exc).splitlines()[0]})") from None
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["rng"])
    return RunState(step=int(payload["step"]), last_loss=float(payload["last_loss"]),
                     epoch_sums={int(k): list(v) for k, v in payload["epoch_sums"].items()})


@contextlib.contextmanager
def progress_reporter(progress: bool | Progress, total: int) -> Iterator[Callable[[RunState], None]]:
    if callable(progress):
        yield lambda state: progress(f"distill: loss {state.last_loss:.4f}", state.step, total)
        return
    if not progress:
        yield lambda state: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("distill"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("distill", total=total, loss="-")
        yield lambda state: bar.update(task, completed=state.step, loss=f"{state.last_loss:.4f}")


@dataclasses.dataclass
class StopRequest:
    requested: bool = False


@contextlib.contextmanager
def deferred_sigint() -> Iterator[StopRequest]:
    """The first Ctrl-C lets the current step finish (so the checkpoint is consistent); a second one stops at once."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def resume_state(checkpoint: Path, run_id: dict[str, Any], student: "torch.nn.Module", optimizer: Any,
                 scheduler: Any, resume: bool) -> tuple[RunState, int | None]:
    """The run's state: from `checkpoint` when resuming and it exists (then also its step), else a fresh one."""
    if resume and checkpoint.is_file():
        state = load_checkpoint(checkpoint, run_id, student, optimizer, scheduler)
        return state, state.step
    return RunState(), None


def train_steps(student: "torch.nn.Module", optimizer: Any, scheduler: Any, state: RunState, *, total: int,
                steps_per_epoch: int, loss_of: Callable[[int, int], Any], report: Callable[[RunState], None],
                checkpoint: Path, run_id: dict[str, Any], checkpoint_every: int, label: str,
                max_grad_norm: float | None = None) -> None:
    """The step loop every distillation shares, from `state.step` to `total`: `loss_of(epoch, position)` gives the
    step's loss; a checkpoint every `checkpoint_every` steps and at the end. The first Ctrl-C finishes the step,
    writes a checkpoint and raises `DistillInterrupted` naming it."""
    import torch

    try:
        with deferred_sigint() as stop:
            while state.step < total:
                if stop.requested:
                    raise KeyboardInterrupt
                epoch, position = divmod(state.step, steps_per_epoch)
                loss = loss_of(epoch, position)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(student.parameters(), max_grad_norm)
                optimizer.step()
                scheduler.step()
                state.record(epoch, float(loss.detach()))
                report(state)
                if state.step % checkpoint_every == 0 or state.step == total or stop.requested:
                    save_checkpoint(checkpoint, run_id, student, optimizer, scheduler, state)
    except KeyboardInterrupt:
        saved = checkpoint if checkpoint.is_file() else None
        where = (f"the checkpoint {saved} holds step {checkpoint_step(saved)}; run again with resume to continue"
                 if saved else "no checkpoint was written yet")
        raise DistillInterrupted(f"{label} interrupted at step {state.step} of {total}; {where}", saved) from None
