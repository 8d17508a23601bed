"""Known limitations, derived from what the manifest records and what it lacks.

Each line says what was not shown and why it matters; none is written by hand for one model. A line
appears only when its condition holds, except the first: fidelity to a teacher is never clinical validity.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

from hfm_compress.card.blocks import compact, is_number, mapping, sequence
from hfm_compress.card.evaluation import evaluation_data

SIMULATED = "synth:"  # data sources the toolchain generates (compress/synth): ECG and ultrasound simulators
BUNDLED_TEXT = "bundled clinical"  # compress/data: texts written for this repo, no patient data
FEW_INPUTS = 100  # below this many held-out inputs a rate moves by 1% or more per input


def known_limitations(manifest: Mapping[str, Any], verification: Mapping[str, Any]) -> list[str]:
    lines = ["Fidelity is measured against the teacher model it was compressed from, not against clinical outcomes: "
             "this card does not establish the teacher's or the artifact's clinical validity."]
    for check in _CHECKS:
        lines.extend(check(manifest, verification))
    return lines


def _data_sources(manifest: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(role, fingerprint) of every data set the manifest names."""
    evaluation, safety = mapping(manifest.get("evaluation")), mapping(manifest.get("safety"))
    calibration = mapping(evaluation.get("calibration"))
    candidates = [
        ("quantization calibration data", manifest.get("calibration")),
        ("training corpus (distillation, vocabulary)", manifest.get("corpus")),
        ("evaluation data", evaluation_data(evaluation)),
        ("in-distribution data of the out-of-distribution evaluation",
         mapping(evaluation.get("ood")).get("in_distribution")),
        ("temperature-fitting data", calibration.get("fitted_on")),
        ("calibration evaluation data", calibration.get("evaluated_on")),
        ("out-of-distribution detector's fitting data",
         mapping(safety.get("out_of_distribution")).get("fitted_on")),
    ]
    for role, entry in candidates:
        if isinstance(entry, Mapping) and entry.get("source"):
            yield role, entry


def _simulated_data(manifest: Mapping[str, Any], _: Mapping[str, Any]) -> list[str]:
    simulated, bundled = [], []
    for role, entry in _data_sources(manifest):
        source = str(entry["source"])
        if source.startswith(SIMULATED):
            simulated.append((role, source))
        elif source.startswith(BUNDLED_TEXT):
            bundled.append((role, source))
    lines = []
    if simulated:
        lines.append(f"The {_roles(simulated)} simulated ({_sources(simulated)}): performance on real patients' "
                     "recordings is not measured.")
    if bundled:
        lines.append(f"The {_roles(bundled)} the bundled fictional clinical text ({_sources(bundled)}), written for "
                     "this project without patient data: performance on real clinical notes is not measured.")
    return lines


def _roles(pairs: list[tuple[str, str]]) -> str:
    """`quantization calibration data and evaluation data are`."""
    return f"{_joined([role for role, _ in pairs])} {'are' if len(pairs) > 1 else 'is'}"


def _sources(pairs: list[tuple[str, str]]) -> str:
    return "; ".join(dict.fromkeys(source for _, source in pairs))


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _few_inputs(manifest: Mapping[str, Any], _: Mapping[str, Any]) -> list[str]:
    evaluation = mapping(manifest.get("evaluation"))
    count = mapping(evaluation.get("fidelity")).get("count", evaluation_data(evaluation).get("count"))
    if isinstance(count, int) and not isinstance(count, bool) and count < FEW_INPUTS:
        return [f"Fidelity rests on {count} held-out inputs only: each rate above is uncertain by several points."]
    return []


def _no_labels(manifest: Mapping[str, Any], _: Mapping[str, Any]) -> list[str]:
    fidelity = mapping(mapping(manifest.get("evaluation")).get("fidelity"))
    if not fidelity:
        return ["No fidelity evaluation is recorded: how closely the artifact follows its teacher is unknown."]
    task = manifest.get("task")
    if task in ("classification", "image-classification", "signal-classification") and "accuracy" not in fidelity:
        return ["The evaluation data carried no labels: accuracy and per-class sensitivity are not measured, only "
                "agreement with the teacher."]
    if task == "segmentation" and "dice_vs_truth" not in fidelity:
        return ["The evaluation data carried no true masks: only overlap with the teacher's masks is measured."]
    return []


def _subgroups(manifest: Mapping[str, Any], _: Mapping[str, Any]) -> list[str]:
    subgroups = mapping(mapping(mapping(manifest.get("evaluation")).get("fidelity")).get("subgroups"))
    if not subgroups:
        return ["Fidelity per subgroup (age, sex, device, site) is not measured: a loss confined to one group "
                "would not show in the overall numbers."]
    skipped = mapping(subgroups.get("skipped"))
    return [f"Some subgroups were not scored ({compact(skipped)})."] if skipped else []


def _gates(manifest: Mapping[str, Any], _: Mapping[str, Any]) -> list[str]:
    gates = mapping(mapping(manifest.get("evaluation")).get("gates"))
    if not gates:
        return ["No fidelity gates were set: nothing stopped the build if the artifact drifted from its teacher."]
    lines = []
    if gates.get("passed") is False:
        lines.append("The artifact FAILED its fidelity gates (see Gates) and was written anyway.")
    rules = [mapping(rule) for rule in sequence(gates.get("rules"))]
    unchecked = [f"{rule.get('gate')}" + (f": {str(rule['note']).removeprefix('not applicable: ')}"
                                          if rule.get("note") else "")
                 for rule in rules if rule.get("passed") is None]
    if unchecked:
        lines.append(f"Gate rules not checked (switched off, or not applicable to this model or data): "
                     f"{'; '.join(unchecked)}.")
    return lines


def _ood(manifest: Mapping[str, Any], _: Mapping[str, Any]) -> list[str]:
    safety = mapping(manifest.get("safety"))
    sets = mapping(mapping(mapping(manifest.get("evaluation")).get("ood")).get("sets"))
    if not safety.get("out_of_distribution"):
        return ["The artifact has no out-of-distribution detector: inputs unlike its training data are not flagged."]
    if not sets:
        return ["The out-of-distribution detector was not evaluated on shifted data."]
    return [f"Out-of-distribution detection was tested on {len(sets)} generated set(s) only ({', '.join(sets)}); "
            "other kinds of shift (new devices, populations, artefacts) are not measured."]


def _calibration(manifest: Mapping[str, Any], _: Mapping[str, Any]) -> list[str]:
    if mapping(mapping(manifest.get("evaluation")).get("calibration")):
        return []
    if manifest.get("task") in ("classification", "image-classification", "signal-classification"):
        return ["Calibration is not measured: the predicted probabilities may be over- or under-confident."]
    return []


def _latency(manifest: Mapping[str, Any], _: Mapping[str, Any]) -> list[str]:
    latency = mapping(mapping(manifest.get("evaluation")).get("latency_batch1"))
    if latency.get("measured_on"):
        return [f"Latency was measured as recorded ({latency['measured_on']}), not on the target device; the "
                "device profile's assumed slowdown only estimates the device's."]
    return []


def _trust(manifest: Mapping[str, Any], verification: Mapping[str, Any]) -> list[str]:
    status = verification.get("status")
    if status == "signed":
        return []
    if status == "signed-untrusted":
        return ["The artifact is signed, but by a key this card was not told to trust (--key): who built it is not "
                "established."]
    if status == "legacy":
        return ["The artifact is an unsigned legacy artifact: not even its manifest is sealed against edits."]
    return ["The artifact is not signed: its contents are sealed against edits, but who built it is not attested."]


def _dirty_build(manifest: Mapping[str, Any], _: Mapping[str, Any]) -> list[str]:
    source = mapping(mapping(manifest.get("provenance")).get("source"))
    if source.get("dirty") is True:
        return [f"Built from a working tree with uncommitted changes (on commit {str(source.get('commit'))[:12]}): "
                "the toolchain's code cannot be recovered exactly."]
    return []


def _size_grew(manifest: Mapping[str, Any], _: Mapping[str, Any]) -> list[str]:
    ratio = mapping(mapping(manifest.get("evaluation")).get("size")).get("ratio")
    if is_number(ratio) and ratio > 1:
        return [f"The artifact is larger than its teacher ({ratio:.2f}x): quantisation overhead outweighs the "
                "savings on a model this small."]
    return []


_CHECKS: list[Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]] = [
    _simulated_data, _few_inputs, _no_labels, _subgroups, _gates, _ood, _calibration, _latency, _trust, _dirty_build,
    _size_grew,
]
