"""`keygen`, `sign` and `verify`: Ed25519 signatures over artifacts (runtime only; see docs/trust.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hfm_compress.cli.errors import reports_errors
from hfm_compress.cli.output import print_json, show, table
from hfm_runtime.artifact import read_artifact, sign_artifact
from hfm_runtime.signing import TrustPolicy, generate_keypair, load_private_key

KeyOption = Annotated[list[str], typer.Option(
    "--key", "-k", help="Trusted public key (.pub PEM file); repeat for several (key rotation).")]


@reports_errors
def keygen(
    out: Annotated[Path, typer.Argument(help="Key name: writes NAME.key (private, mode 0600) and NAME.pub (public).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Make an Ed25519 signing key pair; keep NAME.key secret and ship NAME.pub to devices."""
    private, public, key_id = generate_keypair(out)
    if as_json:
        print_json({"private_key": str(private), "public_key": str(public), "key_id": key_id})
        return
    show(table("New signing key", ["", ""], [("key id", key_id), ("private key (keep secret)", private),
                                             ("public key (ship to devices)", public)]))


@reports_errors
def sign(
    artifact: Annotated[Path, typer.Argument(help="The .hfm artifact to sign (verified first).")],
    key: Annotated[Path, typer.Option("--key", "-k", help="Private key file made by `hfm-compress keygen`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the signed copy here (default: in place).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Add a signature to an artifact; earlier signatures are kept (co-signing, key rotation)."""
    written = sign_artifact(artifact, load_private_key(key), out)
    signed = read_artifact(written)
    document = {"artifact": str(written), "manifest_sha256": signed.digest,
                "signatures": list(signed.trust.untrusted_signers)}
    if as_json:
        print_json(document)
        return
    show(table(f"signed {written}", ["", ""], [("manifest sha256", signed.digest),
                                               ("signatures by key id", ", ".join(document["signatures"]))]))


@reports_errors
def verify(
    artifact: Annotated[Path, typer.Argument(help="The .hfm artifact to verify.")],
    keys: KeyOption = [],  # noqa: B006 - typer reads the default
    # Its default applies only with --key, which the help says; a "[default: require-signature]" would not.
    require_signature: Annotated[bool, typer.Option(
        help="With --key: refuse an artifact that no trusted key signed (the default); --no-require-signature "
             "accepts it and reports who signed.", show_default=False)] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Verify every byte of an artifact; with --key, that a trusted key signed it. Exit 0 only when it holds."""
    policy = TrustPolicy(require_signature=bool(keys) and require_signature, trusted_keys=tuple(map(str, keys)),
                         source="--key" if keys else "no keys given: signatures not checked")
    verified = read_artifact(artifact, policy)
    result = {"artifact": str(artifact), "verified": True, "members": len(verified.manifest["members"]),
              **verified.trust.to_dict()}
    if as_json:
        print_json(result)
        return
    show(table(f"{artifact}: verified", ["", ""], [
        ("trust", verified.trust.describe()),
        ("manifest sha256", verified.digest),
        ("member hashes", f"{result['members']} checked"),
    ]))
