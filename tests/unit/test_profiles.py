from pathlib import Path

import pytest

from hfm_runtime.errors import ProfileError
from hfm_runtime.profiles import available_profiles, load_profile

PACKAGED = Path(__file__).parents[2] / "device_profiles" / "clinic-cpu.toml"


def test_packaged_profiles_load_with_a_reason_for_every_number() -> None:
    assert available_profiles() == ["clinic-cpu", "ultrasound-host", "wearable"]
    for name in available_profiles():
        profile = load_profile(name)
        assert profile.name == name
        numeric = [k for k, v in profile.to_dict().items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        for field in numeric:
            assert any(key.endswith("." + field) for key in profile.rationale), f"{name}.{field} has no why"


def test_clinic_cpu_accepts_the_fp32_default_model_and_binds_on_latency() -> None:
    profile = load_profile("clinic-cpu")
    assert profile.artifact_size_mb >= 91
    assert profile.binding == "latency"
    assert "fp32" in profile.allowed_precisions and profile.cores == 4


def test_profile_from_a_user_path(tmp_path: Path) -> None:
    path = tmp_path / "my-device.toml"
    path.write_text(PACKAGED.read_text().replace('name = "clinic-cpu"', 'name = "my-device"'))
    assert load_profile(path).name == "my-device"
    assert load_profile(str(path)).source == str(path)


def test_unknown_profile_name_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match="unknown profile 'mri-cart'.*clinic-cpu, ultrasound-host, wearable"):
        load_profile("mri-cart")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("intra_op_threads = { value = 4,", "intra_op_threads = { value = 0,", r"session.intra_op_threads = 0 is invalid; expected a whole number >= 1"),
        ('cpu_class = { value = "x86-avx2"', 'cpu_class = { value = "sparc"', r"device.cpu_class = 'sparc' is invalid; expected one of x86-avx2"),
        ('allowed_precisions = ["fp32", "fp16", "int8", "int4"]', 'allowed_precisions = ["int3"]', r"budgets.allowed_precisions .* expected values from fp32"),
        ("latency_ms = { value = 10.0, why", "latency_ms = { value = 10.0, whyx", r"budgets.latency_ms .* expected a non-empty `why`"),
        ('graph_optimization_level = "all"', 'graph_optimization_level = "max"', r"session.graph_optimization_level = 'max' is invalid; expected one of disabled"),
        ("schema_version = 1", "schema_version = 9", r"schema_version = 9; this runtime reads schema_version 1"),
        ("[budgets]\n", "[budget]\n", r"missing field budgets.artifact_size_mb"),
    ],
)
def test_invalid_profile_names_the_field_and_the_expected_value(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = PACKAGED.read_text()
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new))
    with pytest.raises(ProfileError, match=message):
        load_profile(path)


def test_profile_that_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("name = [unclosed")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(path)
