"""Clinical gates without compression: parsing every form (and every bad one), where settings come from, checks on
hand-made evaluations (the whole, the worst subgroup, not applicable), auto's fallback loop and the CLI tables."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from hfm_compress.errors import ConfigError
from hfm_compress.gates import (CRITICAL_SENSITIVITY_DROP, DEFAULTS, GateError, GateReport, Gates, check_gates,
                                gates_for, parse_gates, refuse, resolve_gates)
from hfm_compress.recipes import Recipe, read_recipe_file
from hfm_runtime.profiles import load_profile

LABELS = ["normal_sinus", "atrial_fibrillation", "pvc"]


# ---- parsing ------------------------------------------------------------------------------------------------------

def test_parse_option_strings_and_tables() -> None:
    settings = parse_gates(["sensitivity_drop=0.02", "sensitivity_drop[atrial_fibrillation] = 0", "dice_drop=off",
                            "neighbour_overlap=80%", "agreement=1"], "option")
    assert {key: s.limit for key, s in settings.items()} == {
        "sensitivity_drop": 0.02, "sensitivity_drop[atrial_fibrillation]": 0.0, "dice_drop": None,
        "neighbour_overlap": 0.8, "agreement": 1.0}
    assert settings["sensitivity_drop[atrial_fibrillation]"].cls == "atrial_fibrillation"
    assert all(s.source == "option" for s in settings.values())
    table = parse_gates({"sensitivity_drop[pvc]": 0.05, "agreement": "OFF", "dice_drop": 0}, "recipe")
    assert {key: s.limit for key, s in table.items()} == {"sensitivity_drop[pvc]": 0.05, "agreement": None,
                                                         "dice_drop": 0.0}
    assert parse_gates(None, "profile") == {} and parse_gates([], "option") == {}
    later = parse_gates(["agreement=0.9", "agreement=0.95"], "option")  # the last of one name wins
    assert later["agreement"].limit == 0.95


@pytest.mark.parametrize("spec, message", [
    (["sensitivity_drop"], "no '='; expected NAME=VALUE"),
    (["specificity_drop=0.01"], "unknown gate 'specificity_drop'; expected one of sensitivity_drop, dice_drop"),
    (["dice_drop[lesion]=0.01"], "dice_drop has no per-class form"),
    (["sensitivity_drop[]=0.01"], "empty class name"),
    (["sensitivity drop=0.01"], "not a gate name"),
    (["sensitivity_drop=one point"], "'one point': not a number"),
    (["sensitivity_drop=1.5"], "out of range; expected a number from 0 to 1"),
    (["agreement=-0.1"], "out of range"),
    (["neighbour_overlap=nan"], "out of range"),
    (["dice_drop=200%"], "out of range"),
    ({"agreement": True}, "expected a number from 0 to 1"),
    ({"sensitivity_drop": {"atrial_fibrillation": 0.005}}, '"sensitivity_drop[CLASS]" = 0.005'),
    ("sensitivity_drop=0.01", "expected a list of NAME=VALUE"),
])
def test_parse_errors_name_the_gate_what_was_wrong_and_the_syntax(spec: Any, message: str) -> None:
    with pytest.raises(ConfigError, match="--gate") as caught:
        parse_gates(spec, "option")
    assert message in str(caught.value)


# ---- where settings come from ------------------------------------------------------------------------------------

@dataclasses.dataclass
class FakeProfile:
    name: str = "watch"
    gates: dict[str, Any] = dataclasses.field(default_factory=dict)


def limits(gates: Gates) -> dict[str, tuple[float | None, str]]:
    return {s.key: (s.limit, s.source) for s in gates.settings}


def test_defaults_and_critical_classes() -> None:
    gates = resolve_gates(labels=LABELS, critical_classes=["atrial_fibrillation"])
    assert limits(gates) == {
        "sensitivity_drop": (DEFAULTS["sensitivity_drop"], "default"),
        "sensitivity_drop[atrial_fibrillation]": (CRITICAL_SENSITIVITY_DROP, "default"),
        "dice_drop": (0.02, "default"), "neighbour_overlap": (0.70, "default"), "agreement": (None, "default")}
    # A stricter general limit carries to the critical class; switching the general gate off does not free it.
    stricter = resolve_gates(option=parse_gates(["sensitivity_drop=0.002"], "option"),
                             labels=LABELS, critical_classes=["atrial_fibrillation"])
    assert limits(stricter)["sensitivity_drop[atrial_fibrillation]"] == (0.002, "default")
    off = resolve_gates(option=parse_gates(["sensitivity_drop=off"], "option"), labels=LABELS,
                        critical_classes=["atrial_fibrillation"])
    assert limits(off)["sensitivity_drop[atrial_fibrillation]"] == (CRITICAL_SENSITIVITY_DROP, "default")


def test_later_sources_win_per_gate() -> None:
    profile = FakeProfile(gates={"sensitivity_drop": 0.03, "agreement": 0.9, "dice_drop": "off",
                                 "sensitivity_drop[atrial_fibrillation]": 0.01})
    recipe = parse_gates({"agreement": 0.95, "sensitivity_drop[atrial_fibrillation]": 0.002}, "recipe")
    option = parse_gates(["agreement=0.97"], "option")
    gates = resolve_gates(profile=profile, recipe=recipe, option=option, labels=LABELS,
                          critical_classes=["atrial_fibrillation"])
    assert limits(gates) == {
        "sensitivity_drop": (0.03, "profile"), "sensitivity_drop[atrial_fibrillation]": (0.002, "recipe"),
        "dice_drop": (None, "profile"), "neighbour_overlap": (0.70, "default"), "agreement": (0.97, "option")}
    # A profile without the optional field (before [gates] existed) is just the defaults.
    assert limits(resolve_gates(profile=object())) == limits(resolve_gates())


def test_classes_are_checked_against_the_labels_except_a_profiles() -> None:
    with pytest.raises(ConfigError, match=r"--gate sensitivity_drop\[afib\]: class 'afib' is not one of the model's "
                                          r"labels; expected one of normal_sinus, atrial_fibrillation, pvc"):
        resolve_gates(option=parse_gates(["sensitivity_drop[afib]=0.01"], "option"), labels=LABELS)
    with pytest.raises(ConfigError, match="recipe gates sensitivity_drop\\[afib\\]: class 'afib'"):
        resolve_gates(recipe=parse_gates({"sensitivity_drop[afib]": 0.01}, "recipe"), labels=LABELS)
    with pytest.raises(ConfigError, match="this model has no class labels"):
        resolve_gates(option=parse_gates(["sensitivity_drop[pvc]=0.01"], "option"), labels=None)
    # A profile serves many models: a class this one lacks is listed as not applicable, not refused.
    gates = resolve_gates(profile=FakeProfile(gates={"sensitivity_drop[lesion]": 0.01}), labels=LABELS)
    rows = check_gates({"fidelity": classification_fidelity()}, gates).rows
    (lesion,) = [row for row in rows if row["class"] == "lesion"]
    assert lesion["passed"] is None and "not one of the model's labels" in lesion["note"]
    with pytest.raises(ConfigError, match=r"profile watch \[gates\] agreement"):
        resolve_gates(profile=FakeProfile(gates={"agreement": 2}))


def test_gates_for_reads_the_teachers_labels_and_critical_classes() -> None:
    @dataclasses.dataclass
    class Teacher:
        labels: list[str]
        critical_classes: tuple[str, ...] = ()

    gates = gates_for(Teacher(LABELS, ("pvc",)), load_profile("wearable"))
    assert gates.setting("sensitivity_drop", "pvc").limit == CRITICAL_SENSITIVITY_DROP  # type: ignore[union-attr]
    assert gates_for(Teacher(LABELS), load_profile("wearable")).setting("sensitivity_drop", "pvc") is None


def test_recipe_files_carry_gates(tmp_path: Path) -> None:
    toml = tmp_path / "r.toml"
    toml.write_text('[gates]\nagreement = 0.99\n"sensitivity_drop[pvc]" = "off"\n\n[[steps]]\ntype = "export"\n')
    steps, gates = read_recipe_file(toml)
    assert [s.TYPE for s in steps] == ["export"]
    assert {k: (s.limit, s.source) for k, s in gates.items()} == {"agreement": (0.99, "recipe"),
                                                                  "sensitivity_drop[pvc]": (None, "recipe")}
    js = tmp_path / "r.json"
    js.write_text(json.dumps({"gates": {"dice_drop": 0.01}, "steps": [{"type": "export"}]}))
    assert read_recipe_file(js)[1]["dice_drop"].limit == 0.01
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps([{"type": "export"}]))
    assert read_recipe_file(plain)[1] == {}
    bad = tmp_path / "bad.toml"
    bad.write_text('[gates]\nspecificity = 0.1\n\n[[steps]]\ntype = "export"\n')
    with pytest.raises(ConfigError, match=rf"recipe file {bad} \[gates\] specificity: unknown gate"):
        read_recipe_file(bad)
    listed = tmp_path / "listed.json"
    listed.write_text(json.dumps({"gates": ["agreement=0.9"], "steps": [{"type": "export"}]}))
    with pytest.raises(ConfigError, match="gates is a list; expected a table of gates"):
        read_recipe_file(listed)


def test_critical_classes_come_from_the_models_spec(tmp_path: Path) -> None:
    from hfm_compress.errors import SourceError
    from hfm_compress.sources.modules import read_critical_classes

    assert read_critical_classes("m", None, LABELS) == ()
    assert read_critical_classes("m", ["pvc", "pvc"], LABELS) == ("pvc",)
    with pytest.raises(SourceError, match="critical_classes names 'afib', not among its labels; expected some of "
                                          "normal_sinus, atrial_fibrillation, pvc"):
        read_critical_classes("m", ["afib"], LABELS)
    with pytest.raises(SourceError, match="expected a list of class names"):
        read_critical_classes("m", "pvc", LABELS)

    pytest.importorskip("torch")
    from hfm_compress.models.ecg_cnn import ecg_cnn
    from hfm_compress.sources import load_tensor_teacher
    from hfm_compress.sources.modules import save_module_folder

    assert load_tensor_teacher("hfm_compress.models.ecg_cnn:ecg_cnn").critical_classes == ("atrial_fibrillation",)
    model, kwargs = ecg_cnn(widths=[4], kernel=3), {"widths": [4], "kernel": 3}
    spec = dict(model.hfm_spec)
    folder = save_module_folder(tmp_path / "ecg", model, factory="hfm_compress.models.ecg_cnn:ecg_cnn", kwargs=kwargs,
                                task=spec["task"], labels=spec["labels"], preprocessing=spec["preprocessing"])
    assert load_tensor_teacher(str(folder)).critical_classes == ("atrial_fibrillation",)  # the factory's own
    folder = save_module_folder(tmp_path / "ecg-none", model, factory="hfm_compress.models.ecg_cnn:ecg_cnn",
                                kwargs=kwargs, task=spec["task"], labels=spec["labels"],
                                preprocessing=spec["preprocessing"], extra={"critical_classes": []})
    assert load_tensor_teacher(str(folder)).critical_classes == ()  # the folder's spec says otherwise


# ---- checking -----------------------------------------------------------------------------------------------------

def classification_fidelity(drops: dict[str, float] | None = None, **extra: Any) -> dict[str, Any]:
    drops = drops if drops is not None else {"normal_sinus": 0.0, "atrial_fibrillation": 0.0, "pvc": 0.0}
    return {"agreement": 0.99, "count": 300, "teacher_sensitivity": {name: 0.95 for name in LABELS},
            "sensitivity_drop": drops, "max_sensitivity_drop": max(drops.values()), **extra}


def by_scope(report: GateReport, gate: str, cls: str | None = None) -> dict[str, dict[str, Any]]:
    return {row["scope"]: row for row in report.rows if row["gate"] == gate and row["class"] == cls}


def test_the_whole_and_the_worst_subgroup_are_both_checked() -> None:
    subgroups = {"by_attribute": {
        "heart_rate": {"<60 bpm": {**classification_fidelity({"normal_sinus": 0.0, "atrial_fibrillation": 0.04,
                                                               "pvc": 0.02}), "count": 25},
                       "60-100 bpm": {**classification_fidelity(), "count": 200}},
        "noise": {"high": {**classification_fidelity({"normal_sinus": 0.0, "atrial_fibrillation": 0.0,
                                                      "pvc": 0.03}), "count": 40}}}}
    fidelity = classification_fidelity({"normal_sinus": 0.0, "atrial_fibrillation": 0.0, "pvc": 0.005},
                                       subgroups=subgroups)
    gates = resolve_gates(labels=LABELS, critical_classes=["atrial_fibrillation"])
    report = check_gates({"fidelity": fidelity}, gates)
    assert not report.passed
    general = by_scope(report, "sensitivity_drop")
    assert general["overall"]["passed"] is True and general["overall"]["worst_class"] == "pvc"
    worst = general["noise=high"]  # pvc drops 3 points there; AF has its own gate, so it does not count here
    assert worst["passed"] is False and worst["worst_class"] == "pvc" and worst["count"] == 40
    af = by_scope(report, "sensitivity_drop", "atrial_fibrillation")
    assert af["overall"]["passed"] is True and af["overall"]["teacher"] == 0.95
    assert af["heart_rate=<60 bpm"] == {"gate": "sensitivity_drop", "class": "atrial_fibrillation", "limit": 0.005,
                                        "kind": "max", "scope": "heart_rate=<60 bpm", "value": 0.04, "teacher": 0.95,
                                        "passed": False, "count": 25}
    assert report.failures() == [
        "sensitivity_drop (worst class pvc) 0.0300 > 0.01 (noise=high)",
        "sensitivity_drop[atrial_fibrillation] 0.0400 > 0.005 (heart_rate=<60 bpm)"]
    document = report.to_dict()
    assert document["passed"] is False and "attempts" not in document
    assert document["source"]["sensitivity_drop[atrial_fibrillation]"] == "default"
    json.dumps(document)  # goes into the manifest as it is


def test_a_missing_metric_is_not_applicable_and_listed() -> None:
    report = check_gates({"fidelity": {"agreement": 0.97, "count": 50}}, resolve_gates(labels=LABELS))
    assert report.passed  # nothing failed, but nothing was passed silently either:
    rows = {row["gate"]: row for row in report.rows}
    assert rows["sensitivity_drop"]["passed"] is None
    assert rows["sensitivity_drop"]["note"] == ("not applicable: no per-class sensitivity (no labels in the "
                                                "evaluation data)")
    assert rows["dice_drop"]["note"].startswith("not applicable: no Dice")
    assert rows["neighbour_overlap"]["note"].startswith("not applicable: no top-5 neighbour overlap")
    assert rows["agreement"] == {"gate": "agreement", "class": None, "limit": None, "kind": "min", "scope": "overall",
                                 "value": None, "teacher": None, "passed": None, "note": "off (default)"}
    absent = check_gates({"fidelity": classification_fidelity({"normal_sinus": 0.0, "pvc": 0.0})},
                         resolve_gates(labels=LABELS, critical_classes=["atrial_fibrillation"]))
    af = by_scope(absent, "sensitivity_drop", "atrial_fibrillation")["overall"]
    assert af["passed"] is None and "no example of the class" in af["note"]


def test_dice_embedding_and_agreement_gates() -> None:
    gates = resolve_gates(option=parse_gates(["agreement=0.98"], "option"))
    with_truth = {"dice_vs_teacher": 0.9, "teacher_dice_vs_truth": 0.80, "dice_vs_truth": 0.77, "count": 30,
                  "subgroups": {"by_attribute": {"depth": {"deep": {"dice_vs_teacher": 0.99, "count": 9}}}}}
    report = check_gates({"fidelity": with_truth}, gates)
    dice = by_scope(report, "dice_drop")
    assert dice["overall"]["value"] == 0.03 and dice["overall"]["passed"] is False  # against the truth: 3 points
    assert dice["depth=deep"]["value"] == 0.01 and dice["depth=deep"]["teacher"] == 1.0  # no masks there: vs teacher
    without_truth = check_gates({"fidelity": {"dice_vs_teacher": 0.985}}, gates)
    assert by_scope(without_truth, "dice_drop")["overall"]["passed"] is True
    text = {"cosine_mean": 0.99, "top5_neighbour_agreement": 0.93, "class_agreement": 0.97,
            "subgroups": {"by_attribute": {"length": {"long": {"top5_neighbour_agreement": 0.65, "count": 20},
                                                      "short": {"cosine_mean": 0.99, "count": 5}}}}}
    report = check_gates({"fidelity": text}, gates)
    overlap = by_scope(report, "neighbour_overlap")
    assert overlap["overall"]["passed"] is True and overlap["length=long"]["passed"] is False
    assert "length=short" not in overlap  # no neighbour score there (too few texts): not the worst subgroup
    assert by_scope(report, "agreement")["overall"]["value"] == 0.97  # text classification's key
    assert report.failures() == ["neighbour_overlap 0.6500 < 0.7 (length=long)", "agreement 0.9700 < 0.98 (overall)"]


def test_limits_are_inclusive() -> None:
    gates = resolve_gates(option=parse_gates(["sensitivity_drop=0.01", "agreement=0.99"], "option"), labels=LABELS)
    report = check_gates({"fidelity": classification_fidelity({"normal_sinus": 0.01, "atrial_fibrillation": 0.0,
                                                               "pvc": 0.0})}, gates)
    assert report.passed


# ---- refusal and auto's fallbacks ------------------------------------------------------------------------------

def failing_report() -> GateReport:
    gates = resolve_gates(labels=LABELS, critical_classes=["atrial_fibrillation"])
    return check_gates({"fidelity": classification_fidelity({"normal_sinus": 0.0, "atrial_fibrillation": 0.03,
                                                             "pvc": 0.0})}, gates)


def test_refuse_names_every_failure_and_the_output() -> None:
    error = refuse(failing_report(), "out/ecg.hfm")
    assert isinstance(error, GateError) and error.report.failed
    assert str(error) == ("1 gate failed, no artifact written to out/ecg.hfm: sensitivity_drop[atrial_fibrillation] "
                          "0.0300 > 0.005 (overall)")


def test_auto_tries_each_fallback_and_records_the_attempts() -> None:
    from hfm_compress.api import compress_candidates

    big, bigger = Recipe("auto", [], ("big",), candidate="auto (big)"), Recipe("auto", [], ("bigger",),
                                                                              candidate="auto (bigger)")
    plan = Recipe("auto", [], ("small",), fallbacks=(big, bigger), candidate="auto (small)")
    calls: list[tuple[str, tuple[str, ...], int, Any]] = []

    def run(candidate: Recipe, gates: Gates, reasons: Any, checkpoints: Any) -> Any:
        calls.append((candidate.candidate, tuple(reasons), len(gates.attempts), checkpoints))
        if candidate is not bigger:
            raise refuse(failing_report(), "x.hfm")
        return "result"

    assert compress_candidates(plan, resolve_gates(), Path("out/x.hfm"), run) == "result"
    assert [c[0] for c in calls] == ["auto (small)", "auto (big)", "auto (bigger)"]
    assert calls[0][3] is None and calls[2][3] == Path("out/x.fallback2.distill-checkpoints")
    assert calls[2][2] == 2  # the gates of the last candidate carry both refusals into its manifest
    assert calls[2][1] == (
        "gate sensitivity_drop[atrial_fibrillation] failed on auto (small): 0.0300 > 0.005 (overall); trying auto "
        "(big)",
        "gate sensitivity_drop[atrial_fibrillation] failed on auto (big): 0.0300 > 0.005 (overall); trying auto "
        "(bigger)", "bigger")

    def never(candidate: Recipe, gates: Gates, reasons: Any, checkpoints: Any) -> Any:
        raise refuse(failing_report(), "x.hfm")

    with pytest.raises(GateError, match=r"every auto candidate failed its gates, no artifact written to out/x.hfm: "
                                        r"auto \(small\): sensitivity_drop\[atrial_fibrillation\]") as caught:
        compress_candidates(plan, resolve_gates(), Path("out/x.hfm"), never)
    assert [a["candidate"] for a in caught.value.report.to_dict()["attempts"]] == ["auto (small)", "auto (big)",
                                                                                   "auto (bigger)"]
    with pytest.raises(GateError, match="auto has no larger candidate within the profile's size budget"):
        compress_candidates(Recipe("auto", []), resolve_gates(), Path("x.hfm"), never)
    with pytest.raises(GateError) as named:  # a named recipe or a recipe file fails at once
        compress_candidates(Recipe("int8", []), resolve_gates(), Path("x.hfm"), never)
    assert "attempts" not in named.value.report.to_dict() and str(named.value).startswith("1 gate failed")


def test_auto_recipes_offer_larger_candidates_that_fit() -> None:
    from hfm_compress.recipes.text import auto_recipe
    from test_torch_recipe import minilm_shape

    clinic = auto_recipe(load_profile("clinic-cpu"), minilm_shape())
    (full,) = clinic.fallbacks
    assert clinic.candidate == "auto (distill to 3 of 6 layers (0, 2, 5))"
    assert full.candidate == "auto (no distillation, all 6 layers)" and full.steps[0].TYPE == "export"
    assert full.reasons[0].startswith("no distillation, all 6 layers (fallback): 3 of 6 layers (0, 2, 5) failed a "
                                      "gate") and "latency budget (10 ms/text) ruled it out first" in full.reasons[0]
    assert auto_recipe(load_profile("wearable"), minilm_shape()).fallbacks == ()  # nothing larger fits 0.25 MB


# ---- the CLI's tables ---------------------------------------------------------------------------------------------

def test_cli_gate_rows_and_failure_table(capsys: pytest.CaptureFixture[str]) -> None:
    from hfm_compress.cli.report import gate_row, print_gate_failure

    report = failing_report()
    report.attempts = [{"candidate": "auto (small)", "passed": False, "failed": report.failures()}]
    print_gate_failure(report)
    out = capsys.readouterr().out
    assert "Gates failed: no artifact written" in out and "atrial_fibrillation" in out and "FAIL" in out
    assert "Candidates refused by the gates" in out and "auto (small)" in out
    cells = [str(cell) for cell in gate_row(report.rows[0])]
    assert cells == ["sensitivity_drop", "worst: normal_sinus", "overall", "<=0.01", "0.0000", "0.9500", "PASS"]
    off = [str(cell) for cell in gate_row(by_scope(report, "agreement")["overall"])]
    assert off[3] == "off" and off[-1] == "off"
