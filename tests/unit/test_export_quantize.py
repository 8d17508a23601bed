"""Export, optimize and every quantizer on a tiny random BERT (seconds each; the packaged MiniLM is not used)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

import onnx  # noqa: E402
import onnxruntime  # noqa: E402
import torch  # noqa: E402

from hfm_compress.configs import StepConfig, config_from_dict  # noqa: E402
from hfm_compress.errors import ConfigError, FidelityError  # noqa: E402
from hfm_compress.export import ExportConfig, export_onnx  # noqa: E402
from hfm_compress.optimize import OptimizeConfig, optimize_onnx  # noqa: E402
from hfm_compress.quantize import (DynamicInt8Config, FidelityScore, Int4WeightOnlyConfig,  # noqa: E402
                                   QuantizeContext, SelectiveInt8Config, StaticInt8Config, choose_int8_format,
                                   quantize)
from hfm_compress.quantize.common import write_weight_only_int8  # noqa: E402
from hfm_compress.quantize.dynamic import write_dynamic  # noqa: E402
from hfm_compress.quantize.smooth import measure_activation_ranges, write_smoothed  # noqa: E402
from hfm_compress.quantize.static import calibrate, chunk_feeds  # noqa: E402
from tiny_torch import TinyBertEncoder, tiny_mlp_onnx  # noqa: E402


def _export(module: TinyBertEncoder, out: Path, checks: list[dict[str, torch.Tensor]], config: ExportConfig = ExportConfig()):
    return export_onnx(module, module.example_inputs(), list(module.output_names), module.dynamic_axes(), out,
                       config, checks)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tiny-onnx")
    module = TinyBertEncoder()
    fp32 = folder / "fp32.onnx"
    _export(module, fp32, [module.example_inputs(3, 11, seed=1)])
    fused = folder / "fused.onnx"
    optimize_onnx(fp32, fused, OptimizeConfig(), TinyBertEncoder.feeds(2))
    return {"fp32": fp32, "fused": fused, "folder": folder}


def _outputs(path: Path, feeds: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    return [session.run(None, {k: v for k, v in f.items() if k in names})[0] for f in feeds]


def _cosine_fidelity(reference: Path, feeds: list[dict[str, np.ndarray]]):
    """A QuantizeContext.fidelity: row cosine of mean-pooled outputs vs the fp32 model."""
    expected = _outputs(reference, feeds)

    def score(candidate: Path) -> FidelityScore:
        cosines = []
        for ref, out in zip(expected, _outputs(candidate, feeds)):
            a, b = ref.mean(axis=1), out.mean(axis=1)
            cosines.extend((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))
        return FidelityScore(mean=float(np.mean(cosines)), min=float(np.min(cosines)))

    return score


def _error_fidelity(reference: Path, feeds: list[dict[str, np.ndarray]]):
    """A stricter score for selection tests: 1 - 20 x relative RMS error per row. INT8 barely moves the cosine of
    a random tiny BERT (0.99999), which leaves a selection nothing to recover; this spreads the same ordering out."""
    expected = _outputs(reference, feeds)

    def score(candidate: Path) -> FidelityScore:
        rows = []
        for ref, out in zip(expected, _outputs(candidate, feeds)):
            rows.extend(1 - 20 * np.sqrt(((out - ref) ** 2).mean(axis=(1, 2)) / (ref ** 2).mean(axis=(1, 2))))
        return FidelityScore(mean=float(np.mean(rows)), min=float(np.min(rows)))

    return score


def _context(reference: Path, calibration_batches: int = 6, strict: bool = False) -> QuantizeContext:
    feeds = TinyBertEncoder.feeds(calibration_batches, batch=4)
    scorer = _error_fidelity if strict else _cosine_fidelity
    return QuantizeContext(cpu_class="x86-avx2", calibration_feeds=lambda: iter(feeds),
                           fidelity=scorer(reference, TinyBertEncoder.feeds(3, seed=100)))


def _float_matmul_weight_bytes(path: Path) -> int:
    """Bytes of fp32 initializers feeding MatMul/Attention nodes: what INT8 must shrink."""
    model = onnx.load(str(path))
    weights = {i.name: i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    names = {name for n in model.graph.node if n.op_type in ("MatMul", "Attention") for name in n.input}
    return sum(int(np.prod(weights[n].dims)) * 4 for n in names if n in weights)


def _run_ok(path: Path) -> None:
    for out in _outputs(path, TinyBertEncoder.feeds(2, seed=50)):
        assert out.shape[-1] == 32 and np.isfinite(out).all()


# --- export -------------------------------------------------------------------------------------------------------

def test_export_checks_numerics_and_keeps_dynamic_axes(tmp_path: Path) -> None:
    module = TinyBertEncoder()
    report = _export(module, tmp_path / "m.onnx", [module.example_inputs(3, 11, seed=1), module.example_inputs(1, 5)])
    assert report.details["max_abs_diff"] < 1e-4 and report.details["opset"] == 17
    assert report.details["parameters"] == sum(p.numel() for p in module.parameters())
    assert report.details["size_out"] == (tmp_path / "m.onnx").stat().st_size
    for batch, sequence in ((4, 13), (1, 3)):
        feed = {k: v.numpy() for k, v in module.example_inputs(batch, sequence, seed=9).items()}
        (out,) = _outputs(tmp_path / "m.onnx", [feed])
        expected = module(**{k: torch.from_numpy(v) for k, v in feed.items()}).detach().numpy()
        np.testing.assert_allclose(out, expected, atol=1e-4)
    assert not list(tmp_path.glob(".*tmp*")), "temp files must not be left behind"


class _DriftingEncoder(TinyBertEncoder):
    """Traces like TinyBertEncoder but answers 0.01 higher when run eagerly: the export check must catch it."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        out = super().forward(input_ids, attention_mask, token_type_ids)
        return out if torch.jit.is_tracing() else out + 0.01


def test_export_raises_fidelity_error_naming_output_and_diff(tmp_path: Path) -> None:
    module = _DriftingEncoder()
    with pytest.raises(FidelityError, match=r"'last_hidden_state'.*max abs 0\.01.*check_atol=0\.0001"):
        _export(module, tmp_path / "bad.onnx", [module.example_inputs(2, 6)])
    assert not (tmp_path / "bad.onnx").exists(), "a model that failed its check must not be written"
    assert not list(tmp_path.iterdir()), "temp files must not be left behind"


# --- optimize -----------------------------------------------------------------------------------------------------

def test_optimize_reports_fusions(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    report = optimize_onnx(tiny_models["fp32"], tmp_path / "o.onnx", OptimizeConfig(), TinyBertEncoder.feeds(2))
    fused = report.details["fused_ops"]
    assert fused.get("Attention") == 2 and fused.get("SkipLayerNormalization", 0) >= 2 and "BiasGelu" in fused
    assert report.details["max_abs_diff"] < 1e-3


def test_optimize_passes_through_graphs_without_fusions(tmp_path: Path) -> None:
    mlp = tiny_mlp_onnx(tmp_path / "mlp.onnx")
    report = optimize_onnx(mlp, tmp_path / "o.onnx", OptimizeConfig(), [{"x": np.ones((2, 64), np.float32)}])
    assert report.details["fusions"] == 0 and report.details["max_abs_diff"] == 0.0


# --- quantizers ---------------------------------------------------------------------------------------------------

QUANTIZERS = {
    "dynamic": DynamicInt8Config(),
    "static-minmax": StaticInt8Config(chunk_size=4),
    "static-percentile": StaticInt8Config(method="percentile", chunk_size=4),
    "static-entropy": StaticInt8Config(method="entropy", chunk_size=4),
    "int4": Int4WeightOnlyConfig(block_size=16, quantize_gather=True),
}


@pytest.mark.parametrize("name", list(QUANTIZERS))
def test_quantizers_run_and_shrink_matmul_weights(name: str, tiny_models: dict[str, Path], tmp_path: Path) -> None:
    # Static QDQ and MatMulNBits have no form of the fused Attention op (QKV weights would stay float): use the export.
    source = tiny_models["fused" if name == "dynamic" else "fp32"]
    out = tmp_path / f"{name}.onnx"
    report = quantize(source, out, QUANTIZERS[name], _context(tiny_models["fp32"]))
    _run_ok(out)
    assert report.details["size_out"] == out.stat().st_size < report.details["size_in"]
    assert _float_matmul_weight_bytes(out) < 0.1 * _float_matmul_weight_bytes(source)
    if name.startswith("static"):
        assert report.details["calibration_samples"] == 24 and report.details["calibration_chunks"] == 6
        assert report.details["format"]["quant_format"] == "qdq" and report.details["format"]["reason"]


def test_selective_meets_reachable_target_and_reports_each_addition(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    ctx = _context(tiny_models["fp32"], strict=True)
    all_int8 = ctx.fidelity(_quantized(tiny_models, tmp_path, DynamicInt8Config()))
    # On the tiny model most of the INT8 error sits in the fused Attention and embedding Gathers, so they must be
    # candidates; with every candidate moved out of INT8 the model is ~fp32, so halfway there is reachable.
    target = all_int8.mean + 0.5 * (1.0 - all_int8.mean)
    config = SelectiveInt8Config(fidelity_mean_target=target, fidelity_min_target=0.0, max_float_nodes=16,
                                 candidate_op_types=("MatMul", "Attention", "Gather"), smooth_alphas=())
    report = quantize(tiny_models["fused"], tmp_path / "sel.onnx", config, ctx)
    details = report.details
    _run_ok(tmp_path / "sel.onnx")
    assert details["target_met"] is True and details["fidelity"]["mean"] >= round(target, 6) - 1e-6
    assert details["fidelity_all_int8"]["mean"] == round(all_int8.mean, 6) < details["fidelity"]["mean"]
    assert details["nodes_kept_out"] and [a["node"] for a in details["additions"]] == details["nodes_kept_out"]
    means = [a["fidelity"]["mean"] for a in details["additions"]]
    assert means[-1] == details["fidelity"]["mean"] and all(m < target for m in means[:-1])  # stops once met
    for addition in details["additions"]:
        matmul = "MatMul" in addition["node"]
        assert addition["fallback"] == ("int8-weight-only" if matmul else "float")
        assert (addition["node"] in details["float_nodes"]) is not matmul


def _outlier_matmul(path: Path, width: int = 64) -> Path:
    """x @ W where input channels 0-1 carry values 100x the others and W's matching rows are 100x smaller, so every
    channel contributes alike to the output: the pattern of LayerNorm outlier channels in transformers."""
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).normal(0, 0.2, (width, width)).astype(np.float32)
    weight[:2] /= 100
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], "outliers",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
                              initializer=[numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _outlier_feeds(width: int, count: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    feeds = []
    for _ in range(count):
        x = rng.normal(size=(8, width)).astype(np.float32)
        x[:, :2] *= 100
        feeds.append({"x": x})
    return feeds


def test_smoothing_keeps_float_outputs_and_rescues_outlier_channels(tmp_path: Path) -> None:
    model = _outlier_matmul(tmp_path / "plain.onnx")
    ranges = measure_activation_ranges(model, _outlier_feeds(64, 4, seed=1))
    assert set(ranges) == {"x"} and ranges["x"].shape == (64,) and ranges["x"][:2].min() > 10 * ranges["x"][2:].max()
    assert write_smoothed(model, tmp_path / "smooth.onnx", ranges, alpha=0.5) == 1
    test = _outlier_feeds(64, 2, seed=2)
    expected, smoothed = _outputs(model, test), _outputs(tmp_path / "smooth.onnx", test)
    for ref, out in zip(expected, smoothed):
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())

    fmt = choose_int8_format("x86-avx2", static=False, per_channel=True)
    errors = {}
    for name in ("plain", "smooth"):
        write_dynamic(tmp_path / f"{name}.onnx", tmp_path / f"{name}-int8.onnx", DynamicInt8Config(), fmt)
        outputs = _outputs(tmp_path / f"{name}-int8.onnx", test)
        errors[name] = np.mean([np.abs(o - r).mean() / np.abs(r).mean() for o, r in zip(outputs, expected)])
    assert errors["smooth"] < 0.25 * errors["plain"], errors


def test_selective_tries_each_smoothing_strength_and_keeps_the_best(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    config = SelectiveInt8Config(fidelity_mean_target=1.0, fidelity_min_target=0.0, max_float_nodes=0,
                                 smooth_alphas=(0.0, 0.5, 0.8))
    details = quantize(tiny_models["fused"], tmp_path / "sel.onnx", config, _context(tiny_models["fp32"], strict=True)).details
    smoothing = details["smoothing"]
    assert set(smoothing["tried"]) == {"0.0", "0.5", "0.8"} and smoothing["activation_inputs_measured"] > 0
    best = max(smoothing["tried"].values(), key=lambda score: score["mean"])
    assert smoothing["tried"][str(smoothing["alpha"])] == best == details["fidelity_all_int8"] == details["fidelity"]
    smooth_muls = [n for n in onnx.load(str(tmp_path / "sel.onnx")).graph.node if n.name.endswith("_smooth")]
    assert bool(smooth_muls) == (smoothing["alpha"] > 0)
    _run_ok(tmp_path / "sel.onnx")


def test_weight_only_int8_keeps_int8_bytes_and_float_numerics(tmp_path: Path) -> None:
    mlp = tiny_mlp_onnx(tmp_path / "mlp.onnx", width=128)
    write_weight_only_int8(mlp, tmp_path / "wo.onnx", ["fc1", "fc2"])
    model = onnx.load(str(tmp_path / "wo.onnx"))
    assert {i.data_type for i in model.graph.initializer if len(i.dims) == 2} == {onnx.TensorProto.INT8}
    assert (tmp_path / "wo.onnx").stat().st_size < 0.35 * mlp.stat().st_size
    x = np.random.default_rng(1).normal(size=(4, 128)).astype(np.float32)
    (expected,), (actual,) = _outputs(mlp, [{"x": x}]), _outputs(tmp_path / "wo.onnx", [{"x": x}])
    assert np.abs(actual - expected).max() < 0.02 * np.abs(expected).max()


def test_selective_never_claims_an_unreachable_target(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    config = SelectiveInt8Config(fidelity_mean_target=1.0, fidelity_min_target=1.0, max_float_nodes=2, fallback="float")
    report = quantize(tiny_models["fused"], tmp_path / "sel.onnx", config, _context(tiny_models["fp32"]))
    assert report.details["target_met"] is False
    assert len(report.details["nodes_kept_out"]) <= 2 and report.details["float_nodes"] == report.details["nodes_kept_out"]
    _run_ok(tmp_path / "sel.onnx")


def _quantized(tiny_models: dict[str, Path], tmp_path: Path, config: StepConfig) -> Path:
    out = tmp_path / "all-int8.onnx"
    quantize(tiny_models["fused"], out, config, _context(tiny_models["fp32"]))
    return out


def test_minmax_ranges_do_not_depend_on_chunking(tiny_models: dict[str, Path]) -> None:
    feeds = TinyBertEncoder.feeds(1, batch=12)  # one shape: a single chunk can hold them all
    one = calibrate(tiny_models["fused"], StaticInt8Config(chunk_size=64), lambda: iter(feeds))
    many = calibrate(tiny_models["fused"], StaticInt8Config(chunk_size=1), lambda: iter(feeds))
    assert (one.chunks, many.chunks) == (1, 12) and one.samples == many.samples == 12
    assert set(one.ranges.keys()) == set(many.ranges.keys())
    for name in one.ranges.keys():
        np.testing.assert_allclose(one.ranges[name].range_value, many.ranges[name].range_value, rtol=1e-6)


def test_chunks_are_bounded_and_share_a_shape() -> None:
    feeds = TinyBertEncoder.feeds(5, batch=7)
    chunks = list(chunk_feeds(iter(feeds), chunk_size=4, max_samples=20))
    assert sum(c["input_ids"].shape[0] for chunk in chunks for c in chunk) == 20
    for chunk in chunks:
        assert sum(f["input_ids"].shape[0] for f in chunk) <= 4
        assert len({f["input_ids"].shape[1] for f in chunk}) == 1


def test_cpu_class_decides_int8_format() -> None:
    avx2, vnni, arm = (choose_int8_format(c) for c in ("x86-avx2", "x86-vnni", "arm64"))
    assert (avx2.activation_type, avx2.weight_type, avx2.reduce_range) == ("u8", "s8", True)
    assert (vnni.activation_type, vnni.weight_type, vnni.reduce_range) == ("u8", "s8", False)
    assert arm.reduce_range is False and arm.weight_type == "s8"
    assert all(f.reason for f in (avx2, vnni, arm))
    with pytest.raises(ConfigError, match="cpu_class"):
        choose_int8_format("riscv")


# --- configs ------------------------------------------------------------------------------------------------------

ALL_CONFIGS = [ExportConfig(), OptimizeConfig(), DynamicInt8Config(nodes_to_exclude=("a", "b")), StaticInt8Config(),
               SelectiveInt8Config(base="static", nodes_to_exclude=("x",)), Int4WeightOnlyConfig()]


@pytest.mark.parametrize("config", ALL_CONFIGS, ids=lambda c: c.TYPE)
def test_configs_round_trip(config: StepConfig) -> None:
    import json

    data = json.loads(json.dumps(config.to_dict()))  # through JSON, as recipe files and manifests store them
    assert config_from_dict(data) == config


BAD_VALUES = [
    (ExportConfig, "opset", 9), (ExportConfig, "check_atol", -1.0), (OptimizeConfig, "model_type", "resnet"),
    (OptimizeConfig, "num_heads", -2), (DynamicInt8Config, "weight_type", "s4"),
    (DynamicInt8Config, "reduce_range", "yes"), (DynamicInt8Config, "nodes_to_exclude", "MatMul_1"),
    (StaticInt8Config, "method", "kl"), (StaticInt8Config, "percentile", 50.0), (StaticInt8Config, "chunk_size", 0),
    (StaticInt8Config, "quant_format", "qlinear"), (StaticInt8Config, "activation_type", "fp8"),
    (SelectiveInt8Config, "base", "qat"), (SelectiveInt8Config, "fidelity_mean_target", 1.5),
    (SelectiveInt8Config, "max_float_nodes", -1), (SelectiveInt8Config, "fallback", "fp16"),
    (SelectiveInt8Config, "op_types", ("MatMul", "Conv")),
    (Int4WeightOnlyConfig, "block_size", 33), (Int4WeightOnlyConfig, "accuracy_level", 7),
]


@pytest.mark.parametrize("cls,field,value", BAD_VALUES, ids=lambda v: str(v) if not isinstance(v, type) else v.TYPE)
def test_bad_config_values_name_the_field(cls: type, field: str, value: object) -> None:
    assert field in {f.name for f in dataclasses.fields(cls)}
    with pytest.raises(ConfigError, match=field):
        cls(**{field: value})
    with pytest.raises(ConfigError, match=field):
        config_from_dict({**cls().to_dict(), field: value})


def test_int4_table_lookups_by_index_input(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """gather_indices picks the word table (indexed by input_ids); a name no lookup uses is a config error."""
    words_only = Int4WeightOnlyConfig(quantize_gather=True, quantize_matmul=False, gather_indices=("input_ids",))
    report = quantize(tiny_models["fp32"], tmp_path / "w.onnx", words_only, _context(tiny_models["fp32"]))
    _run_ok(tmp_path / "w.onnx")
    graph = onnx.load(str(tmp_path / "w.onnx")).graph
    packed = [n for n in graph.node if n.op_type == "GatherBlockQuantized"]
    assert [n.input[1] for n in packed] == ["input_ids"]
    kept = report.details["gathers_kept_float"]
    assert kept and {n.name for n in graph.node if n.op_type == "Gather" and n.name in kept} == set(kept)
    with pytest.raises(ConfigError, match="no table lookup .* is indexed by those graph inputs"):
        quantize(tiny_models["fp32"], tmp_path / "x.onnx",
                 dataclasses.replace(words_only, gather_indices=("input_idz",)), _context(tiny_models["fp32"]))
    assert not (tmp_path / "x.onnx").exists()
