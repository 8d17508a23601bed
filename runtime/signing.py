"""Ed25519 signatures over an artifact's manifest, and the trust policy that decides which signers a device accepts.

What is signed: the message `hfm-artifact-signature-v1\\n<sha256 hex of the exact manifest.json bytes>`. The manifest
lists the sha256 of every other member, so one signature covers every byte of the artifact. The signatures live in
the member `signature.json`, which cannot be listed in the manifest it signs:

    {"format": "hfm-signature", "version": 1, "manifest_sha256": "<hex>",
     "signatures": [{"algorithm": "ed25519", "key_id": "<16 hex>", "signature": "<base64>"}]}

An unsigned artifact still carries `signature.json` with no signatures: the seal, which catches a manifest edited
on its own (but not an attacker who also rewrites the seal; only a signature and `require_signature` stop that).
A device verifies without Python with `openssl pkeyutl -verify -rawin` (docs/trust.md, tested).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from hfm_runtime.errors import ArtifactError, HfmError

SIGNATURE_MEMBER = "signature.json"
SIGNATURE_FORMAT = "hfm-signature"
SIGNATURE_VERSION = 1
MESSAGE_PREFIX = b"hfm-artifact-signature-v1\n"
ALGORITHM = "ed25519"
KEY_ID_HEX = 16
MAX_SIGNATURE_BYTES = 64 * 1024


class SignatureError(ArtifactError):
    """A signature is missing, made by a key the policy does not trust, or does not match the manifest."""


class SigningKeyError(HfmError):
    """A key file is missing, unreadable or not an Ed25519 key."""


@dataclasses.dataclass(frozen=True)
class TrustPolicy:
    """Which artifacts a device accepts: `require_signature` refuses unsigned, unknown-key and legacy artifacts.

    `trusted_keys` are public keys (PEM text or paths to PEM files); several keys allow rotation.
    """

    require_signature: bool = False
    trusted_keys: tuple[str, ...] = ()
    source: str = "default (signatures optional)"

    def public_keys(self) -> dict[str, Any]:
        """key id -> public key object, read once per load."""
        keys = [load_public_key(entry) for entry in self.trusted_keys]
        return {key_id(key): key for key in keys}


@dataclasses.dataclass(frozen=True)
class TrustResult:
    """What verification established about who made the artifact."""

    status: str  # "signed" (a trusted key verified it), "signed-untrusted", "sealed", "legacy"
    signers: tuple[str, ...] = ()  # key ids whose signatures verified
    untrusted_signers: tuple[str, ...] = ()  # key ids present that the policy does not know
    manifest_sha256: str = ""

    def describe(self) -> str:
        if self.status == "signed":
            return f"signed by {', '.join(self.signers)} (trusted key)"
        if self.status == "signed-untrusted":
            return f"signed by {', '.join(self.untrusted_signers)} (key not in the trust policy: not checked)"
        if self.status == "sealed":
            return "unsigned (sealed: manifest digest checked; no signature)"
        return "unsigned legacy artifact (no seal: the manifest itself is not covered)"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "summary": self.describe()}


def manifest_digest(manifest_bytes: bytes) -> str:
    return hashlib.sha256(manifest_bytes).hexdigest()


def signed_message(digest_hex: str) -> bytes:
    return MESSAGE_PREFIX + digest_hex.encode("ascii")


def key_id(public_key: Any) -> str:
    """sha256 of the raw 32-byte public key, first 16 hex digits: short, stable, derived (cannot be forged apart)."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KEY_ID_HEX]


def generate_keypair(out: str | Path) -> tuple[Path, Path, str]:
    """Write `OUT.key` (private, PKCS#8 PEM, mode 0600) and `OUT.pub` (public PEM); refuse to overwrite a key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    base = Path(out)
    private_path, public_path = base.with_name(base.name + ".key"), base.with_name(base.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise SigningKeyError(f"{path} already exists; refusing to overwrite a key (remove it or choose another name)")
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    base.parent.mkdir(parents=True, exist_ok=True)
    _write_new(private_path, private_pem, 0o600)
    _write_new(public_path, public_pem, 0o644)
    return private_path, public_path, key_id(private.public_key())


def _write_new(path: Path, data: bytes, mode: int) -> None:
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def load_private_key(path: str | Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = _read_key_file(Path(path))
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: a {type(key).__name__}; expected an Ed25519 private key (hfm-compress keygen)")
    return key


def load_public_key(path_or_pem: str | Path) -> Any:
    """A public key from PEM text (starting with -----BEGIN) or a path to a PEM file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = str(path_or_pem)
    where = "inline key"
    if text.lstrip().startswith("-----BEGIN"):
        data = text.encode("ascii", "replace")
    else:
        data, where = _read_key_file(Path(text)), text
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{where}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{where}: a {type(key).__name__}; expected an Ed25519 public key (hfm-compress keygen)")
    return key


def _read_key_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_SIGNATURE_BYTES:
        raise SigningKeyError(f"{path} is {len(data):,} bytes; a PEM key is a few hundred")
    return data


def signature_document(manifest_bytes: bytes, private_keys: Sequence[Any] = (),
                       keep: Iterable[Mapping[str, Any]] = ()) -> bytes:
    """The `signature.json` bytes: the seal, plus one signature per private key (and `keep`: earlier signatures)."""
    digest = manifest_digest(manifest_bytes)
    entries = {entry["key_id"]: dict(entry) for entry in keep}
    for private in private_keys:
        signature = private.sign(signed_message(digest))
        entries[key_id(private.public_key())] = {"algorithm": ALGORITHM, "key_id": key_id(private.public_key()),
                                                 "signature": base64.b64encode(signature).decode("ascii")}
    document = {"format": SIGNATURE_FORMAT, "version": SIGNATURE_VERSION, "manifest_sha256": digest,
                "signatures": sorted(entries.values(), key=lambda e: e["key_id"])}
    return json.dumps(document, indent=2).encode("utf-8")


def parse_signature_document(where: str, raw: bytes) -> dict[str, Any]:
    """Parse and shape-check `signature.json`; every problem is one SignatureError naming the field."""
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SignatureError(f"{where}: {SIGNATURE_MEMBER} is not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != SIGNATURE_FORMAT:
        raise SignatureError(f"{where}: {SIGNATURE_MEMBER} does not declare format {SIGNATURE_FORMAT!r}")
    if type(document.get("version")) is not int or document["version"] != SIGNATURE_VERSION:
        raise SignatureError(f"{where}: {SIGNATURE_MEMBER} version {document.get('version')!r} is not supported; "
                             f"expected {SIGNATURE_VERSION}")
    digest = document.get("manifest_sha256")
    if not isinstance(digest, str) or len(digest) != 64:
        raise SignatureError(f"{where}: {SIGNATURE_MEMBER} manifest_sha256 is not a sha256 hex digest")
    signatures = document.get("signatures")
    if not isinstance(signatures, list):
        raise SignatureError(f"{where}: {SIGNATURE_MEMBER} signatures must be a list")
    for index, entry in enumerate(signatures):
        if (not isinstance(entry, dict) or entry.get("algorithm") != ALGORITHM
                or not isinstance(entry.get("key_id"), str) or not isinstance(entry.get("signature"), str)):
            raise SignatureError(f"{where}: {SIGNATURE_MEMBER} signatures[{index}] must be "
                                 '{"algorithm": "ed25519", "key_id": ..., "signature": base64}')
    return document


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def check_trust(where: str, manifest_bytes: bytes, signature_raw: bytes | None, policy: TrustPolicy) -> TrustResult:
    """Check the seal and every signature the policy can check; refuse what the policy does not accept."""
    digest = manifest_digest(manifest_bytes)
    if signature_raw is None:
        if policy.require_signature:
            raise SignatureError(f"{where} is not signed (no {SIGNATURE_MEMBER}); the trust policy "
                                 f"({policy.source}) requires a signature by a trusted key")
        return TrustResult(status="legacy", manifest_sha256=digest)
    document = parse_signature_document(where, signature_raw)
    if document["manifest_sha256"] != digest:
        raise SignatureError(f"{where}: manifest.json has sha256 {digest[:12]}..., but the artifact was sealed with "
                             f"{document['manifest_sha256'][:12]}...: the manifest was changed after packing")
    trusted = policy.public_keys()
    signers, unknown = [], []
    for entry in document["signatures"]:
        key = trusted.get(entry["key_id"])
        if key is None:
            unknown.append(entry["key_id"])
            continue
        _verify_one(where, key, entry, digest)
        signers.append(entry["key_id"])
    if signers:
        return TrustResult("signed", tuple(signers), tuple(unknown), digest)
    if policy.require_signature:
        found = f"signed only by key(s) {', '.join(unknown)}" if unknown else "not signed"
        known = ", ".join(trusted) or "none configured"
        raise SignatureError(f"{where} is {found}; the trust policy ({policy.source}) requires a signature by a "
                             f"trusted key ({known})")
    return TrustResult("signed-untrusted" if unknown else "sealed", (), tuple(unknown), digest)


def _verify_one(where: str, key: Any, entry: Mapping[str, Any], digest: str) -> None:
    from cryptography.exceptions import InvalidSignature

    try:
        signature = base64.b64decode(entry["signature"], validate=True)
        key.verify(signature, signed_message(digest))
    except (InvalidSignature, binascii.Error, ValueError):
        raise SignatureError(f"{where}: the signature by key {entry['key_id']} does not verify: the artifact was "
                             "changed after signing, or the signature is forged") from None
