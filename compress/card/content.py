"""A verified manifest -> the model card's sections (no plotting, no files): `build_card`.

Only the manifest is read, plus what verification established (who signed it, the manifest's digest); nothing is
run. Every field is optional here: a section the manifest cannot fill says "Not measured" and why.
"""

from __future__ import annotations

from typing import Any, Mapping

from hfm_compress.card.blocks import (
    Block,
    Bullets,
    Card,
    Cell,
    Code,
    Paragraph,
    Section,
    compact,
    fingerprint,
    is_number,
    mapping,
    sequence,
    not_measured,
    number,
    table,
)
from hfm_compress.card.evaluation import (
    calibration_section,
    evaluation_data,
    fidelity_section,
    gates_section,
    ood_section,
)
from hfm_compress.card.limitations import known_limitations

TASKS = {
    "embedding": "Embeds clinical text as vectors (for search and similarity)",
    "classification": "Classifies clinical text",
    "image-classification": "Classifies images",
    "segmentation": "Segments images into labelled regions",
    "signal-classification": "Classifies windows of a physiological signal",
}


def build_card(manifest: Mapping[str, Any], verification: Mapping[str, Any], artifact_name: str,
               artifact_bytes: int | None = None) -> Card:
    """`verification`: `TrustResult.to_dict()` of the read (status, signers, manifest_sha256, summary)."""
    name = str(manifest.get("name") or artifact_name)
    limitations = known_limitations(manifest, verification)
    sections = (
        _overview(manifest, verification, artifact_bytes, len(limitations)),
        _source_and_steps(manifest),
        fidelity_section(manifest),
        gates_section(manifest),
        ood_section(manifest),
        calibration_section(manifest),
        _size_and_latency(manifest, artifact_bytes),
        _provenance(manifest, verification),
        Section("Known limitations", "limitations", (Bullets(tuple(limitations)),)),
    )
    digest = str(verification.get("manifest_sha256") or "")
    subtitle = f"{artifact_name}" + (f", manifest sha256 {digest}" if digest else "")
    return Card(f"Model card: {name}", subtitle, sections)


def _overview(manifest: Mapping[str, Any], verification: Mapping[str, Any], artifact_bytes: int | None,
              limitations: int) -> Section:
    model = mapping(manifest.get("model"))
    labels = sequence(mapping(manifest.get("postprocessing")).get("labels"))
    task = str(manifest.get("task") or "-")
    rows: list[tuple[Cell, ...]] = [
        ("name", str(manifest.get("name") or "-")),
        ("task", f"{task}: {TASKS[task].lower()}" if task in TASKS else task),
        ("classes", ", ".join(str(label) for label in labels) if labels else "none (the output is not a class)"),
        ("inputs", _inputs(mapping(manifest.get("preprocessing")))),
        ("precision", str(model.get("precision") or "-")),
        ("parameters", number(model.get("parameters"))),
        ("size", _size(model, artifact_bytes)),
    ]
    blocks: list[Block] = [Paragraph(_intended_use(manifest, task)), table(["field", "value"], rows)]
    blocks.append(Bullets(tuple(_at_a_glance(manifest, verification, limitations))))
    return Section("Overview", "overview", tuple(blocks))


def _intended_use(manifest: Mapping[str, Any], task: str) -> str:
    profile = mapping(manifest.get("profile"))
    what = TASKS.get(task, f"A {task} model")
    if not profile.get("name"):
        return f"Intended use: {what.lower()}; the manifest names no device profile."
    description, same = profile_description(profile)
    sentence = f"Intended use: {what} on the {profile['name']} device profile"
    if description is None:
        return sentence + " (the manifest records no description of it)."
    if same:
        return f"{sentence}: {description}"
    return (f"{sentence}. The packaged profile of that name describes: {description} (its file has changed since "
            "this artifact was built: compare the profile sha256 under Provenance)")


def profile_description(profile: Mapping[str, Any]) -> tuple[str | None, bool]:
    """(description, whether it is the very profile the artifact was built for): the manifest's own, else the
    packaged profile's of that name, the same file when its sha256 is the one the manifest records."""
    if profile.get("description"):
        return str(profile["description"]), True
    from hfm_runtime.errors import HfmError
    from hfm_runtime.profiles import available_profiles, load_profile

    name = profile.get("name")
    if name not in available_profiles():
        return None, False
    try:
        packaged = load_profile(str(name))
    except HfmError:
        return None, False
    return packaged.description, packaged.sha256 == profile.get("sha256")


def _inputs(preprocessing: Mapping[str, Any]) -> str:
    kind = preprocessing.get("type")
    if kind == "text":
        return f"text, up to {number(preprocessing.get('max_length'))} tokens"
    if kind == "image":
        size = f"{preprocessing.get('height', '?')}x{preprocessing.get('width', '?')}"
        return f"images resized to {size}, {preprocessing.get('channels', '?')} channel(s)"
    if kind == "signal":
        hop = preprocessing.get("hop_seconds")
        return (f"signal windows of {number(preprocessing.get('window_seconds'), 1)} s at "
                f"{number(preprocessing.get('fs'), 1)} Hz, {preprocessing.get('channels') or 1} channel(s)"
                + (f", every {number(hop, 1)} s" if is_number(hop) else ""))
    return str(kind or "-")


def _size(model: Mapping[str, Any], artifact_bytes: int | None) -> str:
    parts = []
    if is_number(model.get("size_bytes")):
        parts.append(f"{model['size_bytes'] / 1e6:.3f} MB model ({model.get('file', 'model.onnx')})")
    if artifact_bytes is not None:
        parts.append(f"{artifact_bytes / 1e6:.3f} MB artifact file")
    return ", ".join(parts) or "-"


def _at_a_glance(manifest: Mapping[str, Any], verification: Mapping[str, Any], limitations: int) -> list[str]:
    evaluation = mapping(manifest.get("evaluation"))
    gates = mapping(evaluation.get("gates"))
    passed = gates.get("passed")
    gate = ("gates: passed" if passed is True else "gates: FAILED" if passed is False
            else "gates: result not recorded" if gates else "gates: none set")
    safety = mapping(manifest.get("safety"))
    ood = ("out-of-distribution detector: yes" if safety.get("out_of_distribution")
           else "out-of-distribution detector: none")
    calibration = "calibration: measured" if evaluation.get("calibration") else "calibration: not measured"
    signer = f"signature: {verification.get('summary') or verification.get('status') or 'not checked'}"
    return [gate, ood, calibration, signer, f"known limitations: {limitations} (see the last section)"]


def _source_and_steps(manifest: Mapping[str, Any]) -> Section:
    source = mapping(manifest.get("source"))
    blocks: list[Block] = []
    if source:
        rows: list[tuple[Cell, ...]] = [("name", str(source.get("name") or "-"))]
        if source.get("sha256"):
            rows.append(("sha256", Code(str(source["sha256"]))))
        rows += [(key.replace("_", " "), compact(value)) for key, value in source.items()
                 if key not in ("name", "sha256") and value not in (None, "", {}, [])]
        blocks.append(table(["source model", "value"], rows))
    else:
        blocks.append(not_measured("the manifest names no source model"))
    recipe = [mapping(step) for step in sequence(manifest.get("recipe"))]
    steps = [mapping(step) for step in sequence(manifest.get("steps"))]
    if recipe:
        chain = " → ".join(str(step.get("type", "?")) for step in recipe)
        blocks.append(Paragraph(f"Recipe {manifest.get('recipe_name') or '(unnamed)'}: {chain}."))
    reasons = [str(reason) for reason in sequence(manifest.get("recipe_reasons"))]
    if reasons:
        blocks.append(Paragraph("Why these steps:"))
        blocks.append(Bullets(tuple(reasons)))
    if steps:
        rows = [(str(index), str(step.get("step") or mapping(step.get("config")).get("type") or "?"),
                 _config(mapping(step.get("config"))), compact(mapping(step.get("details"))),
                 f"{step['seconds']:.1f} s" if is_number(step.get("seconds")) else "-")
                for index, step in enumerate(steps, 1)]
        blocks.append(table(["#", "step", "config", "what it did", "time"], rows))
    elif recipe:
        blocks.append(table(["#", "step", "config"], [(str(index), str(step.get("type", "?")), _config(step))
                                                       for index, step in enumerate(recipe, 1)]))
    else:
        blocks.append(Paragraph("No compression steps: the model is packed as exported."))
    return Section("Source and steps", "source", tuple(blocks))


def _config(config: Mapping[str, Any]) -> str:
    return compact({key: value for key, value in config.items() if key not in ("type", "version")}) or "defaults"


def _size_and_latency(manifest: Mapping[str, Any], artifact_bytes: int | None) -> Section:
    evaluation = mapping(manifest.get("evaluation"))
    size, latency = mapping(evaluation.get("size")), mapping(evaluation.get("latency_batch1"))
    model = mapping(manifest.get("model"))
    rows: list[tuple[Cell, ...]] = []
    if size or artifact_bytes is not None:
        artifact_mb = size.get("artifact_mb", artifact_bytes / 1e6 if artifact_bytes is not None else None)
        rows.append(("artifact file (MB)", number(artifact_mb), number(size.get("teacher_fp32_mb")) + " (fp32)"))
    if is_number(size.get("ratio")):
        rows.append(("size ratio", f"{size['ratio']:.2f}x the teacher", "reference"))
    if is_number(model.get("size_bytes")):
        rows.append(("model graph, unpacked (MB)", number(model["size_bytes"] / 1e6), "-"))
    if latency:
        rows.append(("latency, batch 1 (ms)", number(latency.get("artifact_ms"), 3),
                     f"{number(latency.get('teacher_onnx_fp32_ms'), 3)} (ONNX Runtime fp32), "
                     f"{number(latency.get('teacher_torch_fp32_ms'), 3)} (PyTorch fp32)"))
        if is_number(latency.get("per_second")):
            rows.append(("throughput (inputs per second)", f"{latency['per_second']:,.0f}", "-"))
    if not rows:
        return Section("Size and latency", "size", (not_measured("the manifest records no size or latency"),))
    blocks: list[Block] = [table(["measure", "artifact", "teacher"], rows)]
    if latency:
        where = ", ".join(part for part in (
            str(latency.get("measured_on") or ""),
            f"{latency['threads']} thread(s)" if isinstance(latency.get("threads"), int) else "",
            f"model format {latency['model_format']}" if latency.get("model_format") else "") if part)
        blocks.append(Paragraph(f"Latency measured on: {where or 'not recorded'}."))
    return Section("Size and latency", "size", tuple(blocks))


def _provenance(manifest: Mapping[str, Any], verification: Mapping[str, Any]) -> Section:
    provenance = mapping(manifest.get("provenance"))
    toolchain = mapping(manifest.get("toolchain"))
    profile = mapping(manifest.get("profile"))
    built_from = mapping(provenance.get("source"))
    signers = list(verification.get("signers") or ()) + list(verification.get("untrusted_signers") or ())
    rows: list[tuple[Cell, ...]] = [
        ("manifest sha256", Code(str(verification.get("manifest_sha256") or "-"))),
        ("signature", str(verification.get("summary") or verification.get("status") or "not checked")),
    ]
    if signers:
        rows.append(("signer key id(s)", Code(", ".join(str(s) for s in signers))))
    rows += [
        ("created", str(manifest.get("created") or "-")),
        ("toolchain", " ".join(str(toolchain[k]) for k in ("name", "version") if toolchain.get(k)) or "-"),
        ("runtime version", str(toolchain.get("runtime_version") or "-")),
    ]
    if built_from:
        dirty = " (uncommitted changes)" if built_from.get("dirty") else ""
        rows.append(("toolchain commit", Code(f"{built_from.get('commit') or '-'}{dirty}")))
    if profile:
        rows.append(("device profile", f"{profile.get('name', '-')} ({profile.get('source', '-')})"))
        if profile.get("sha256"):
            rows.append(("device profile sha256", Code(str(profile["sha256"]))))
    data_rows = [("calibration data", manifest.get("calibration")), ("training corpus", manifest.get("corpus")),
                 ("evaluation data", evaluation_data(mapping(manifest.get("evaluation"))))]
    rows += [(role, Code(fingerprint(entry))) for role, entry in data_rows if entry]
    golden = mapping(manifest.get("golden"))
    if golden:
        rows.append(("self-test on load", f"golden outputs in {golden.get('file', '-')}, tolerance "
                                          f"{number(golden.get('atol'), 6)}"))
    for key, label in (("python", "Python"), ("platform", "platform"), ("onnxruntime_build", "ONNX Runtime build")):
        if provenance.get(key):
            rows.append((label, compact(provenance[key])))
    blocks: list[Block] = [table(["field", "value"], rows)]
    libraries = mapping(provenance.get("libraries"))
    if libraries:
        blocks.append(table(["library", "version"], [(str(name), str(version or "not installed"))
                                                      for name, version in libraries.items()],
                            "Libraries on the build machine"))
    members = mapping(manifest.get("members"))
    if members:
        blocks.append(table(["member", "sha256"], [(str(name), Code(str(digest))) for name, digest in members.items()],
                            "Files in the artifact, each checked against its hash when this card was made"))
    return Section("Provenance", "provenance", tuple(blocks))
