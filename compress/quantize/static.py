"""Static INT8: activation ranges fixed offline from calibration data, so no per-call range computation.

Calibration memory stays bounded whatever the calibration set size: ORT's `quantize_static` hands the whole reader
to one `collect_data` call, which keeps every intermediate tensor of every sample until the end (hundreds of GB on
BERT with the percentile method, onnxruntime #10503). Here the calibrator is driven chunk by chunk: MinMax merges
each chunk's ranges and the histogram calibrators fold each chunk into their histograms, then release it. The
ranges go through ORT's calibration cache into `quantize_static`, so the quantization itself is the library's.

QDQ has no quantized form of the fused Attention op: on a graph optimized with Attention fusion its packed Q/K/V
weights stay float. Quantize the plain export, or optimize with `multi_head_attention=True`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from hfm_compress.configs import Progress, StepConfig, StepReport, check_choice, check_range, no_progress, register_config
from hfm_compress.errors import CompressError, ConfigError
from hfm_compress.onnx_files import atomic_output
from hfm_compress.quantize.common import (check_flag, check_names, op_counts, quant_format, quant_type,
                                          quiet_quantizer, size_report)
from hfm_compress.quantize.context import QuantizeContext
from hfm_compress.quantize.cpu_format import INT8_TYPES, QUANT_FORMATS, Int8Format, resolve_int8_format

Feed = dict[str, np.ndarray]
METHODS = ("minmax", "percentile", "entropy")


@register_config
@dataclasses.dataclass(frozen=True)
class StaticInt8Config(StepConfig):
    TYPE = "static-int8"

    method: str = "minmax"  # minmax keeps outliers in range; percentile/entropy clip them (try when minmax loses)
    percentile: float = 99.999  # ORT's default for the percentile method: clips only the most extreme 0.001%
    per_channel: bool = True  # per-tensor weights lose 0.03 cosine on MiniLM (measured.md)
    quant_format: str = "auto"  # "auto": QDQ, which ORT recommends for CPU since 1.11; or "qdq"/"qoperator"
    activation_type: str = "auto"  # "auto": from the profile's CPU class (cpu_format.py); or "u8"/"s8"
    weight_type: str = "auto"  # "auto": from the CPU class; or "u8"/"s8"
    reduce_range: bool | str = "auto"  # "auto": from the CPU class (7-bit weights on x86 without VNNI)
    chunk_size: int = 16  # samples per collect_data call: bounds calibration memory to ~16 samples' activations
    max_samples: int = 256  # ranges settle after a few hundred samples; more only costs time
    nodes_to_exclude: tuple[str, ...] = ()  # node names kept in float
    # Weight-carrying ops only: quantizing every op ORT can (attention-score MatMuls, mask Adds, Softmax) collapses
    # MiniLM to 0.38 cosine, and the -3.4e38 attention-mask values break the histogram calibrators.
    op_types: tuple[str, ...] = ("MatMul", "Gather")

    def __post_init__(self) -> None:
        check_choice("static-int8", "method", self.method, METHODS)
        check_range("static-int8", "percentile", self.percentile, 90.0, 100.0)
        check_flag("static-int8", "per_channel", self.per_channel)
        check_choice("static-int8", "quant_format", self.quant_format, ("auto",) + QUANT_FORMATS)
        check_choice("static-int8", "activation_type", self.activation_type, ("auto",) + INT8_TYPES)
        check_choice("static-int8", "weight_type", self.weight_type, ("auto",) + INT8_TYPES)
        check_flag("static-int8", "reduce_range", self.reduce_range, allow_auto=True)
        for name in ("chunk_size", "max_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"static-int8.{name} = {value!r} is invalid; expected an integer >= 1")
        check_names("static-int8", "nodes_to_exclude", self.nodes_to_exclude)
        check_names("static-int8", "op_types", self.op_types)
        if not self.op_types:
            raise ConfigError("static-int8.op_types is empty; expected at least one op type, e.g. [\"MatMul\"]")


@dataclasses.dataclass
class Calibration:
    """Tensor ranges from `calibrate`, with what it cost."""

    ranges: Any  # onnxruntime.quantization.calibrate.TensorsData
    samples: int
    chunks: int
    peak_rss_increase_mb: float | None

    def details(self) -> dict[str, Any]:
        return {"calibration_samples": self.samples, "calibration_chunks": self.chunks,
                "calibration_peak_rss_increase_mb": self.peak_rss_increase_mb}


def resolve_format(config: StaticInt8Config, cpu_class: str) -> Int8Format:
    return resolve_int8_format(cpu_class, static=True, per_channel=config.per_channel,
                               quant_format=config.quant_format, activation_type=config.activation_type,
                               weight_type=config.weight_type, reduce_range=config.reduce_range)


def quantize_static_int8(model_in: Path, model_out: Path, config: StaticInt8Config,
                         ctx: QuantizeContext) -> StepReport:
    started = time.perf_counter()
    fmt = resolve_format(config, ctx.cpu_class)
    with tempfile.TemporaryDirectory(prefix="hfm-static-") as folder:
        typed = with_shapes(Path(model_in), Path(folder, "typed.onnx"))
        calibration = calibrate(typed, config, ctx.calibration_feeds, ctx.progress)
        with atomic_output(Path(model_out)) as temp:
            write_static(typed, temp, config, fmt, calibration)
    details = {"format": fmt.to_dict(), "method": config.method, **calibration.details(),
               "nodes_excluded": list(config.nodes_to_exclude), "ops": op_counts(model_out)}
    return size_report(config.TYPE, config, model_in, model_out, details, started)


def calibrate(model_in: Path, config: StaticInt8Config, feeds: Callable[[], Iterable[Feed]],
              progress: Progress = no_progress) -> Calibration:
    """Ranges of every tensor the quantizer may touch, collected `config.chunk_size` samples at a time."""
    from onnxruntime.quantization.calibrate import create_calibrator

    method = _ort_method(config.method)
    extra = {"percentile": config.percentile} if config.method == "percentile" else {}
    samples = chunks = 0
    with tempfile.TemporaryDirectory(prefix="hfm-calib-") as folder, _PeakRss() as rss, _quiet():
        calibrator = create_calibrator(model_in, list(config.op_types), Path(folder, "augmented.onnx").as_posix(),
                                       calibrate_method=method, extra_options=extra)
        inputs = {i.name for i in calibrator.infer_session.get_inputs()}
        for chunk in chunk_feeds(feeds(), config.chunk_size, config.max_samples):
            calibrator.collect_data(_ListReader([{k: v for k, v in f.items() if k in inputs} for f in chunk]))
            samples += sum(_rows(f) for f in chunk)
            chunks += 1
            progress("calibrating", samples, config.max_samples)
        if not chunks:
            raise CompressError("static-int8: the calibration data is empty; expected at least one input batch")
        ranges = calibrator.compute_data()
        del calibrator
    return Calibration(ranges, samples, chunks, rss.increase_mb)


def write_static(model_in: Path, model_out: Path, config: StaticInt8Config, fmt: Int8Format,
                 calibration: Calibration) -> None:
    """ORT's quantize_static with precomputed ranges (via its calibration cache); reused for selective candidates."""
    import onnx
    from onnxruntime.quantization import quantize_static
    from onnxruntime.quantization.calibrate import save_tensors_data

    with tempfile.TemporaryDirectory(prefix="hfm-static-") as folder, quiet_quantizer():
        cache = Path(folder, "ranges.json")
        save_tensors_data(calibration.ranges, cache)
        quantize_static(
            str(model_in), str(model_out), calibration_data_reader=None, calibration_cache_path=cache,
            calibrate_method=_ort_method(config.method),
            quant_format=quant_format(fmt.quant_format),
            per_channel=config.per_channel,
            reduce_range=fmt.reduce_range,
            activation_type=quant_type(fmt.activation_type),
            weight_type=quant_type(fmt.weight_type),
            nodes_to_exclude=list(config.nodes_to_exclude),
            op_types_to_quantize=list(config.op_types),
            extra_options={
                # Fused com.microsoft ops have no ONNX shape inference; their outputs are float (measured.md).
                "DefaultTensorType": onnx.TensorProto.FLOAT,
                # Activation x activation MatMuls (attention scores) are where static ranges fail worst.
                "MatMulConstBOnly": True,
            },
        )


def with_shapes(model_in: Path, model_out: Path) -> Path:
    """Types for the outputs of fused com.microsoft ops (Attention, SkipLayerNormalization...).

    ONNX shape inference does not know these ops, so without this the calibrator finds no float tensors around
    them and the quantizer leaves those activations unquantized (DequantizeLinear -> float MatMul: slower than fp32).
    ORT's symbolic shape inference knows them; where it fails the model is used as it is.
    """
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    try:
        inferred = SymbolicShapeInference.infer_shapes(onnx.load(str(model_in)), auto_merge=True)
    except Exception:  # noqa: BLE001 - inference is an optimisation; quantization still works without it
        return model_in
    onnx.save(inferred, str(model_out))
    return model_out


def chunk_feeds(feeds: Iterable[Feed], chunk_size: int, max_samples: int) -> Iterator[list[Feed]]:
    """Regroup feed batches into chunks of at most `chunk_size` rows that share one shape per input.

    Batches are split along axis 0 when larger than a chunk; a shape change starts a new chunk, because the
    histogram calibrators stack a chunk's tensors into one array. At most `max_samples` rows are yielded.
    """
    chunk: list[Feed] = []
    rows = total = 0
    for feed in feeds:
        for start in range(0, _rows(feed), chunk_size):
            if total >= max_samples:
                break
            part = {k: v[start:start + min(chunk_size, max_samples - total)] for k, v in feed.items()}
            n = _rows(part)
            if chunk and (rows + n > chunk_size or _shapes(part) != _shapes(chunk[0])):
                yield chunk
                chunk, rows = [], 0
            chunk.append(part)
            rows += n
            total += n
        if total >= max_samples:
            break
    if chunk:
        yield chunk


def _rows(feed: Feed) -> int:
    return int(next(iter(feed.values())).shape[0]) if feed else 0


def _shapes(feed: Feed) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in feed.items()}


def _ort_method(method: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
            "entropy": CalibrationMethod.Entropy}[method]


class _ListReader:
    """A CalibrationDataReader over one chunk of feeds."""

    def __init__(self, feeds: list[Feed]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> Feed | None:
        return next(self._feeds, None)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The histogram collector prints a line per chunk; keep the user's terminal for our own progress."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class _PeakRss:
    """Peak resident-memory increase over a block, sampled from /proc/self/status (None where that is missing)."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.increase_mb: float | None = None
        self._stop = threading.Event()
        self._baseline = self._peak = 0

    def __enter__(self) -> "_PeakRss":
        self._baseline = self._peak = _rss_kb() or 0
        if self._baseline:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._peak = max(self._peak, _rss_kb() or 0)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._baseline:
            self._thread.join()
            self._peak = max(self._peak, _rss_kb() or 0)
            self.increase_mb = round((self._peak - self._baseline) / 1024, 1)


def _rss_kb() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
