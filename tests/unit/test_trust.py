"""The trust layer: every case of issue 16's table is refused with one HfmError line, signatures round-trip."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import hfm_runtime
from hfm_compress.cli import app
from hfm_runtime.artifact import read_artifact, sign_artifact
from hfm_runtime.errors import ArtifactError, BudgetError
from hfm_runtime.signing import SignatureError, generate_keypair, load_private_key
from tiny_artifacts import make_text_artifact, tiny_encoder
from trust_helpers import (
    edit_manifest,
    legacy_copy,
    members_of,
    replace_member,
    set_encrypted_flag,
    write_bomb,
    write_members,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    found = {}
    for name in ("maker", "rotated", "stranger"):
        private, public, _ = generate_keypair(tmp_path / "keys" / name)
        found[name], found[name + ".pub"] = private, public
    return found


def refused(path: Path, match: str, **kwargs: object) -> None:
    """Both `load` and `inspect` refuse, with the same one-line reason."""
    with pytest.raises(ArtifactError, match=match) as caught:
        hfm_runtime.load(path, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 2, result.output
    assert "verified" not in result.output


# --- the manifest is covered ------------------------------------------------------------------------------------

@pytest.mark.parametrize("edit", [
    lambda m: m["postprocessing"].update(labels=list(reversed(m["postprocessing"]["labels"]))),
    lambda m: m["source"].update(sha256="0" * 64),
    lambda m: m["golden"].update(atol=1e9),
], ids=["labels-reversed", "source-hash", "atol-1e9"])
def test_manifest_only_edits_are_refused(tiny_classifier: Path, tmp_path: Path, edit: object) -> None:
    edited = edit_manifest(tiny_classifier, tmp_path / "edited.hfm", edit)  # type: ignore[arg-type]
    refused(edited, "the manifest was changed after packing")


def test_even_whitespace_in_the_manifest_is_covered(tiny_artifact: Path, tmp_path: Path) -> None:
    raw = members_of(tiny_artifact)["manifest.json"] + b" "
    refused(edit_manifest(tiny_artifact, tmp_path / "space.hfm", lambda m: None, raw=raw), "changed after packing")


@pytest.mark.parametrize("edit,field", [
    (lambda m: m["golden"].update(atol=1e9), "golden.atol"),
    (lambda m: m["preprocessing"].update(max_length=1e30), "preprocessing.max_length"),
    (lambda m: m["preprocessing"].update(max_length=-5), "preprocessing.max_length"),
    (lambda m: m["preprocessing"].update(max_length="abc"), "preprocessing.max_length"),
    (lambda m: m.update(golden="golden.npz"), "golden"),
    (lambda m: m["inputs"][0].pop("name"), "inputs.0"),
    (lambda m: m.update(preprocessing=None), "preprocessing"),
    (lambda m: m["model"].update(size_bytes=-1), "model.size_bytes"),
    (lambda m: m.update(members={"../evil": "0" * 64}), "members"),
], ids=["atol", "max_length-huge", "max_length-negative", "max_length-text", "golden-string", "input-no-name",
        "preprocessing-null", "negative-size", "traversal-name"])
def test_malformed_fields_name_the_field(tiny_artifact: Path, tmp_path: Path, edit: object, field: str) -> None:
    """Even with the seal rewritten (an attacker who knows the format), the schema refuses and names the field."""
    edited = edit_manifest(tiny_artifact, tmp_path / "bad.hfm", edit, reseal=True)  # type: ignore[arg-type]
    refused(edited, rf"manifest.json field {field}")


def test_infinite_tolerance_is_not_json(tiny_artifact: Path, tmp_path: Path) -> None:
    raw = members_of(tiny_artifact)["manifest.json"].replace(b'"atol": 0.0001', b'"atol": Infinity')
    assert b"Infinity" in raw
    refused(edit_manifest(tiny_artifact, tmp_path / "inf.hfm", lambda m: None, raw=raw, reseal=True),
            "not valid JSON .*Infinity")


@pytest.mark.parametrize("version", [True, 1.0, "1", 2])
def test_format_version_must_be_the_integer_1(tiny_artifact: Path, tmp_path: Path, version: object) -> None:
    edited = edit_manifest(tiny_artifact, tmp_path / "v.hfm", lambda m: m.update(format_version=version), reseal=True)
    refused(edited, "format version .* is not supported; this runtime reads version 1")


def test_deeply_nested_manifest(tiny_artifact: Path, tmp_path: Path) -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    refused(edit_manifest(tiny_artifact, tmp_path / "deep.hfm", lambda m: None, raw=raw), "nested too deeply|not valid")


def test_precision_claim_must_match_the_graph(tiny_artifact: Path, tmp_path: Path) -> None:
    edited = edit_manifest(tiny_artifact, tmp_path / "claim.hfm", lambda m: m["model"].update(precision="int8"),
                           reseal=True)
    with pytest.raises(ArtifactError, match="manifest says precision 'int8', but the graph's weights are fp32"):
        hfm_runtime.load(edited, profile="wearable")


def test_swapped_model_is_refused(tiny_artifact: Path, tmp_path: Path, keys: dict[str, Path]) -> None:
    """Another valid graph with its member hash recomputed: the seal catches it; with the seal rewritten too, only a
    signature can (docs/trust.md says so), and a policy that requires one refuses it."""
    other = tiny_encoder(seed=7).SerializeToString()
    refused(replace_member(tiny_artifact, tmp_path / "swap.hfm", "model.onnx", other), "changed after packing")
    resealed = replace_member(tiny_artifact, tmp_path / "resealed.hfm", "model.onnx", other, reseal=True)
    with pytest.raises(SignatureError, match="not signed"):
        hfm_runtime.load(resealed, trusted_keys=[str(keys["maker.pub"])], require_signature=True)


# --- bounded reading ----------------------------------------------------------------------------------------------

def test_unlisted_encrypted_and_unknown_compression(tiny_artifact: Path, tmp_path: Path) -> None:
    members = members_of(tiny_artifact)
    encrypted = tmp_path / "enc.hfm"
    encrypted.write_bytes(set_encrypted_flag(tiny_artifact.read_bytes(), b"model.onnx"))
    refused(encrypted, "member model.onnx is encrypted")
    lzma = tmp_path / "lzma.hfm"
    with zipfile.ZipFile(lzma, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_LZMA if name == "model.onnx" else zipfile.ZIP_STORED)
    refused(lzma, "compression method 14; expected stored or deflate")
    duplicate = tmp_path / "dup.hfm"
    with zipfile.ZipFile(duplicate, "w") as archive, pytest.warns(UserWarning):
        for name, data in [*members.items(), ("model.onnx", tiny_encoder(seed=3).SerializeToString())]:
            archive.writestr(name, data)
    refused(duplicate, "member model.onnx appears twice")


@pytest.mark.parametrize("member", ["bomb.bin", "manifest.json"])
def test_one_gib_bomb_is_refused_in_bounded_memory(tmp_path: Path, member: str) -> None:
    bomb = write_bomb(make_text_artifact(tmp_path / "base.hfm"), tmp_path / f"bomb-{member}.hfm", member, 1 << 30)
    assert bomb.stat().st_size < 8_000_000
    script = textwrap.dedent(f"""
        import sys
        from hfm_runtime import memory
        from hfm_runtime.artifact import read_artifact
        from hfm_runtime.errors import ArtifactError
        base = memory.rss_mb(); memory.reset_peak()
        try:
            read_artifact({str(bomb)!r})
        except ArtifactError as exc:
            print(f"{{memory.peak_rss_mb() - base:.1f}}|{{exc}}")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    added, message = out.split("|", 1)
    assert float(added) < 50, out
    assert ("zip bomb" in message) or ("at most" in message), message


def test_truncated_member_stream_is_an_artifact_error(tiny_artifact: Path, tmp_path: Path) -> None:
    data = bytearray(tiny_artifact.read_bytes())
    start = data.find(b"model.onnx") + 40  # inside the model's compressed bytes
    data[start : start + 64] = bytes(64)
    broken = tmp_path / "broken.hfm"
    broken.write_bytes(bytes(data))
    with pytest.raises(ArtifactError):
        hfm_runtime.load(broken)


# --- signatures and the trust policy ------------------------------------------------------------------------------

def test_signed_round_trip_and_rotation(tiny_artifact: Path, tmp_path: Path, keys: dict[str, Path]) -> None:
    signed = sign_artifact(tiny_artifact, load_private_key(keys["maker"]), tmp_path / "signed.hfm")
    model = hfm_runtime.load(signed, trusted_keys=[str(keys["maker.pub"])], require_signature=True)
    assert model.artifact.trust.status == "signed"
    # rotation: the device trusts the old and the new key; an artifact co-signed later by the new key alone-trusted
    cosigned = sign_artifact(signed, load_private_key(keys["rotated"]), tmp_path / "cosigned.hfm")
    only_new = hfm_runtime.load(cosigned, trusted_keys=[str(keys["rotated.pub"])], require_signature=True)
    assert len(only_new.artifact.trust.signers) == 1
    both = read_artifact(cosigned, hfm_runtime.load.__globals__["TrustPolicy"](
        True, (str(keys["maker.pub"]), str(keys["rotated.pub"]))))
    assert len(both.trust.signers) == 2
    assert members_of(cosigned)["manifest.json"] == members_of(tiny_artifact)["manifest.json"]


def test_policy_refusals(tiny_artifact: Path, tmp_path: Path, keys: dict[str, Path]) -> None:
    trusted = [str(keys["maker.pub"])]
    with pytest.raises(SignatureError, match="is not signed; the trust policy .* requires"):
        hfm_runtime.load(tiny_artifact, trusted_keys=trusted, require_signature=True)
    legacy = legacy_copy(tiny_artifact, tmp_path / "legacy.hfm")
    with pytest.raises(SignatureError, match=r"not signed \(no signature.json\)"):
        hfm_runtime.load(legacy, trusted_keys=trusted, require_signature=True)
    assert hfm_runtime.load(legacy).artifact.trust.status == "legacy"  # allowed where the policy allows it
    stranger = sign_artifact(tiny_artifact, load_private_key(keys["stranger"]), tmp_path / "stranger.hfm")
    with pytest.raises(SignatureError, match="signed only by key"):
        hfm_runtime.load(stranger, trusted_keys=trusted, require_signature=True)
    assert hfm_runtime.load(stranger).artifact.trust.status == "signed-untrusted"


def test_tampering_after_signing_is_refused(tiny_classifier: Path, tmp_path: Path, keys: dict[str, Path]) -> None:
    signed = sign_artifact(tiny_classifier, load_private_key(keys["maker"]), tmp_path / "signed.hfm")
    flipped = edit_manifest(signed, tmp_path / "flipped.hfm",
                            lambda m: m["postprocessing"].update(labels=["emergency", "urgent", "routine"]), reseal=True)
    with pytest.raises(SignatureError, match="does not verify"):
        hfm_runtime.load(flipped, trusted_keys=[str(keys["maker.pub"])])
    members = members_of(signed)
    seal = json.loads(members["signature.json"])
    seal["signatures"][0]["signature"] = seal["signatures"][0]["signature"][::-1]
    members["signature.json"] = json.dumps(seal).encode()
    forged = write_members(tmp_path / "forged.hfm", members)
    with pytest.raises(SignatureError, match="does not verify"):
        hfm_runtime.load(forged, trusted_keys=[str(keys["maker.pub"])])


def test_profile_trust_table(tiny_artifact: Path, tmp_path: Path, keys: dict[str, Path]) -> None:
    packaged = (REPO / "device_profiles" / "clinic-cpu.toml").read_text()
    key = Path(keys["maker.pub"]).relative_to(tmp_path)
    profile = tmp_path / "locked.toml"
    profile.write_text(packaged.replace('name = "clinic-cpu"', 'name = "locked-clinic"')
                       + f'\n[trust]\nrequire_signature = true\ntrusted_keys = ["{key}"]\n')
    with pytest.raises(SignatureError, match="profile locked-clinic"):
        hfm_runtime.load(tiny_artifact, profile=profile)
    signed = sign_artifact(tiny_artifact, load_private_key(keys["maker"]), tmp_path / "signed.hfm")
    assert hfm_runtime.load(signed, profile=profile).artifact.trust.status == "signed"


def test_cli_keygen_sign_verify_inspect(tiny_artifact: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["keygen", str(tmp_path / "clinic"), "--json"])
    assert made.exit_code == 0, made.output
    key_id = json.loads(made.output)["key_id"]
    assert runner.invoke(app, ["keygen", str(tmp_path / "clinic")]).exit_code == 2  # never overwrites a key
    assert runner.invoke(app, ["sign", str(tiny_artifact), "--key", str(tmp_path / "clinic.key")]).exit_code == 0
    verified = runner.invoke(app, ["verify", str(tiny_artifact), "--key", str(tmp_path / "clinic.pub"), "--json"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["signers"] == [key_id]
    shown = runner.invoke(app, ["inspect", str(tiny_artifact), "--key", str(tmp_path / "clinic.pub")])
    assert f"signed by {key_id}" in shown.output
    other = tmp_path / "other"
    runner.invoke(app, ["keygen", str(other)])
    wrong = runner.invoke(app, ["verify", str(tiny_artifact), "--key", str(other) + ".pub"])
    assert wrong.exit_code == 2 and "signed only by key" in wrong.output
    bad_key = runner.invoke(app, ["sign", str(tiny_artifact), "--key", str(tiny_artifact)])
    assert bad_key.exit_code == 2 and "not an unencrypted PEM private key" in bad_key.output


def test_openssl_recipe_verifies_without_python(tiny_artifact: Path, tmp_path: Path, keys: dict[str, Path]) -> None:
    script = REPO / "tools" / "verify_artifact.sh"
    signed = sign_artifact(tiny_artifact, load_private_key(keys["maker"]), tmp_path / "signed.hfm")
    signed = sign_artifact(signed, load_private_key(keys["rotated"]))
    ok = subprocess.run(["sh", str(script), str(signed), str(keys["rotated.pub"])], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "verified: signed by" in ok.stdout
    stranger = subprocess.run(["sh", str(script), str(signed), str(keys["stranger.pub"])], capture_output=True, text=True)
    assert stranger.returncode != 0 and "no signature by key" in stranger.stderr
    swapped = replace_member(signed, tmp_path / "swapped.hfm", "tokenizer.json", b"{}", rehash=False)
    bad = subprocess.run(["sh", str(script), str(swapped), str(keys["maker.pub"])], capture_output=True, text=True)
    assert bad.returncode != 0 and "member tokenizer.json does not match" in bad.stderr
    edited = edit_manifest(signed, tmp_path / "edited.hfm", lambda m: m.update(name="other"))
    bad = subprocess.run(["sh", str(script), str(edited), str(keys["maker.pub"])], capture_output=True, text=True)
    assert bad.returncode != 0 and "does not verify" in bad.stderr


# --- budgets from the graph and batch invariance -------------------------------------------------------------------

def test_precision_budget_reads_the_graph(tiny_artifact: Path) -> None:
    with pytest.raises(BudgetError, match="graph precision fp32"):
        hfm_runtime.load(tiny_artifact, profile="wearable")


def test_model_bytes_are_not_kept_after_load(tiny_artifact: Path) -> None:
    model = hfm_runtime.load(tiny_artifact)
    assert model.artifact.kept == {}
    assert model.session._model_bytes is None  # ONNX Runtime's Python session let go of them too
    np.testing.assert_allclose(np.linalg.norm(model.run("patient reports chest pain"), axis=1), 1.0, atol=1e-5)
