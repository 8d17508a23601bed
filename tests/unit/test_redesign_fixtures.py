"""Artifacts and recipes written before the one-pipeline redesign (main c683f43, tests/fixtures/make_redesign_fixtures.py)
still rebuild: every recipe in their manifests loads with `config_from_dict`, and the same seeded models and data
compressed by today's pipeline compute the same outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import hfm_compress  # noqa: E402
import hfm_runtime  # noqa: E402
from hfm_compress.configs import config_from_dict  # noqa: E402
from hfm_compress.recipes import load_recipe_file  # noqa: E402

FIXTURES = Path(__file__).parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))

from make_redesign_fixtures import FIXED_TEXTS, fixed_image_frames, fixed_signal_windows  # noqa: E402

MANIFESTS = sorted((FIXTURES / "manifests").glob("*.json"))


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.stem)
def test_every_recipe_the_previous_main_wrote_rebuilds(path: Path) -> None:
    data = json.loads(path.read_text())
    steps = data["steps"] if "steps" in data and "recipe" not in data else data["recipe"]
    configs = [config_from_dict(step) for step in steps]
    assert [c.to_dict() for c in configs] == steps
    if "recipe" in data:  # a manifest: the reports name the same configs
        assert [s["config"] for s in data["steps"]] == steps


def test_the_all_step_types_file_loads_as_a_recipe_file() -> None:
    steps = load_recipe_file(FIXTURES / "manifests" / "all-step-types.recipe.json")
    assert len({s.TYPE for s in steps}) == len(steps) == 15


def test_every_step_type_keeps_its_defaults() -> None:
    """A recipe entry that names only `type` means what it meant before the redesign."""
    from hfm_compress.steps import config_types

    data = json.loads((FIXTURES / "manifests" / "all-step-types.recipe.json").read_text())
    types = config_types()
    assert sorted(types) == sorted(step["type"] for step in data["steps"])
    for step in data["steps"]:
        assert types[step["type"]]().to_dict() == step


def _outputs(artifact: Path, profile: str, inputs: object) -> np.ndarray:
    model = hfm_runtime.load(artifact, profile=profile)
    if isinstance(inputs, list):
        return np.asarray(model.run_raw(inputs))
    return np.concatenate([model.run_raw(x) for x in inputs])  # type: ignore[attr-defined]


def _expected(name: str) -> np.ndarray:
    return np.load(FIXTURES / "outputs" / f"{name}.npz")["outputs"]


def _same_manifest(built: Path, name: str) -> None:
    old = json.loads((FIXTURES / "manifests" / f"{name}.json").read_text())
    new = dict(hfm_runtime.load(built, profile=old["profile"]["name"]).manifest)
    # Safety (issue 18) is new: artifacts now carry the fitted flags beside everything the previous main wrote.
    assert sorted(set(new) - {"safety"}) == sorted(old)
    for key in ("task", "inputs", "outputs", "preprocessing", "postprocessing", "recipe", "calibration", "model"):
        assert new[key] == old[key], key
    unnamed = lambda source: {k: v for k, v in source.items() if k != "name"}  # noqa: E731  (a temporary folder)
    assert unnamed(new["source"]) == unnamed(old["source"])
    assert [s["step"] for s in new["steps"]] == [s["step"] for s in old["steps"]]


def _profile_of(name: str) -> str:
    return {"text": "clinic-cpu", "signal": "wearable", "image": "ultrasound-host"}[name.split("-")[0]]


@pytest.mark.parametrize("recipe", ["fp32", "int8"])
def test_text_artifact_computes_what_the_previous_main_built(tiny_bert_folder: Path, tmp_path: Path,
                                                             recipe: str) -> None:
    out = tmp_path / f"text-{recipe}.hfm"
    hfm_compress.compress(str(tiny_bert_folder), "clinic-cpu", recipe, out=out, task="embedding")
    np.testing.assert_allclose(_outputs(out, "clinic-cpu", FIXED_TEXTS), _expected(f"text-{recipe}"), atol=1e-5)
    _same_manifest(out, f"text-{recipe}")


@pytest.mark.parametrize(("name", "reference", "data", "recipe_file"), [
    ("signal-int8", "tiny_tensor:tiny_signal_cnn", "synth:ecg?n=2", "signal"),
    ("image-int8", "tiny_tensor:tiny_image_cnn", "synth:ultrasound?n=3", "image"),
])
def test_tensor_artifact_computes_what_the_previous_main_built(tmp_path: Path, name: str, reference: str, data: str,
                                                               recipe_file: str) -> None:
    old = json.loads((FIXTURES / "manifests" / f"{name}.json").read_text())
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(old["recipe"]))
    out = tmp_path / f"{name}.hfm"
    profile = _profile_of(name)
    hfm_compress.compress(reference, profile, str(recipe), out=out, calib=data, eval=data)
    inputs = fixed_signal_windows() if recipe_file == "signal" else fixed_image_frames()
    np.testing.assert_allclose(_outputs(out, profile, inputs), _expected(name), atol=1e-5)
    _same_manifest(out, name)
