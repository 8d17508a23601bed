"""Clinical safety per modality (issue 18): out-of-distribution AUROC and false-flag rates, teacher beside artifact,
and calibration (ECE before and after temperature scaling), read from the artifacts the toolchain builds.

Usage: python benchmarks/bench_safety.py [--reuse] [--only text|ecg|ultrasound|segmentation]
Teachers: the packaged MiniLM-L6 (text), benchmarks/out/teachers/ecg-cnn (train_ecg_teacher.py), and
benchmarks/out/teachers/{us-vit,us-segformer} (train_ultrasound_teachers.py). Each artifact is built with
`hfm_compress.compress(...)` (recipe int8; the ECG one under benchmarks/wearable-reference.toml, whose lifted size
budget fits the teacher), which fits the detector on half of the calibration set, chooses thresholds on the other
half (1% false-flag rate) and measures on the evaluation set and the generated OOD sets (`synth/ood.py`), none of
which any fitting step saw. Writes benchmarks/out/safety.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from common import OUT_DIR, machine, print_table, write_json

HERE = Path(__file__).parent
TEACHERS = OUT_DIR / "teachers"
CASES: dict[str, dict[str, Any]] = {
    "text": {"source": "default", "profile": "clinic-cpu", "recipe": "int8", "data": {}},
    "ecg": {"source": str(TEACHERS / "ecg-cnn"), "profile": str(HERE / "wearable-reference.toml"), "recipe": "int8",
            "data": {"calib": "synth:ecg?n=64", "eval": "synth:ecg"}},
    # The ViT teacher (trained briefly, accuracy 0.68) at INT8 loses more no_lesion sensitivity than the default gate
    # allows; the refusal is recorded and the artifact is then built under a stated looser gate to measure its flags.
    "ultrasound": {"source": str(TEACHERS / "us-vit"), "profile": "ultrasound-host", "recipe": "int8",
                   "data": {"calib": "synth:ultrasound?n=64", "eval": "synth:ultrasound"},
                   "retry_gates": ["sensitivity_drop=0.06"]},
    "segmentation": {"source": str(TEACHERS / "us-segformer"), "profile": "ultrasound-host", "recipe": "int8",
                     "data": {"calib": "synth:ultrasound?n=64", "eval": "synth:ultrasound"}},
}


def build(name: str, case: dict[str, Any], reuse: bool) -> dict[str, Any]:
    import hfm_compress
    from hfm_compress.gates import GateError
    from hfm_runtime.artifact import read_artifact

    out = OUT_DIR / "safety" / f"{name}.hfm"
    started = time.perf_counter()
    refused = None
    if not (reuse and out.exists()):
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            hfm_compress.compress(case["source"], case["profile"], case["recipe"], out=out, **case["data"])
        except GateError as exc:
            if "retry_gates" not in case:
                raise
            refused = {"error": str(exc), "retried_with": case["retry_gates"]}
            print(f"\n{name}: refused by the default gates ({exc}); building again with {case['retry_gates']}")
            hfm_compress.compress(case["source"], case["profile"], case["recipe"], out=out, gates=case["retry_gates"],
                                  **case["data"])
    manifest = dict(read_artifact(out).manifest)
    return {"artifact": str(out), "build_s": round(time.perf_counter() - started, 1), "refused_first": refused,
            "gates": manifest["evaluation"].get("gates"),
            "ood": manifest["evaluation"].get("ood"), "calibration": manifest["evaluation"].get("calibration"),
            "safety": manifest.get("safety")}


def report(name: str, result: dict[str, Any]) -> None:
    ood = result["ood"] or {}
    if "sets" not in ood:
        print(f"\n{name}: no OOD evaluation ({ood.get('skipped', 'absent')})")
        return
    ind = ood["in_distribution"]
    rows = [[set_name, row["count"], row["teacher_auroc"], row["artifact_auroc"], row["teacher_flag_rate"],
             row["artifact_flag_rate"]] for set_name, row in ood["sets"].items()]
    rows.append([f"in-distribution ({ind['count']}, false flags)", ind["count"], "", "",
                 ind["teacher_false_flag_rate"], ind["artifact_false_flag_rate"]])
    print_table(f"{name}: out-of-distribution (target false-flag rate {ood['false_flag_rate_target']})",
                ["set", "n", "AUROC teacher", "AUROC artifact", "flagged teacher", "flagged artifact"], rows)
    calibration = result["calibration"]
    if calibration and "teacher" in calibration:
        print_table(f"{name}: calibration (ECE, {calibration['bins']} bins, evaluation set)",
                    ["teacher", "artifact before", "artifact after", "temperature", "applied"],
                    [[calibration["teacher"]["ece"], calibration["artifact_before"]["ece"],
                      calibration["artifact_after"]["ece"], calibration["fitted_temperature"],
                      calibration["applied"]]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="keep artifacts already built")
    parser.add_argument("--only", choices=tuple(CASES), action="append")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name in args.only or CASES:
        case = CASES[name]
        if case["source"] != "default" and not Path(case["source"]).exists():
            print(f"\n{name}: teacher {case['source']} missing; run the training script first")
            continue
        results[name] = build(name, case, args.reuse)
        report(name, results[name])
    path = write_json("safety", {"machine": machine(), "cases": CASES, "results": results})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
