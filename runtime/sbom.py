"""A CycloneDX SBOM of the runtime (and optionally of one artifact), so a device maker can list it as SOUP.

IEC 62304 asks a medical-device maker to identify every piece of software of unknown provenance (SOUP) by name and
version. The runtime is what ships on the device, so the SBOM lists the installed `hfm-compress` distribution and the
closure of its *base* requirements only (the toolchain extras, torch and transformers, never run on a device), each
with version, purl, license where the metadata states one, and who depends on whom. Given an `.hfm` artifact it also
lists the model, its tokenizer and other members, and the artifact file, each with its SHA-256.

Everything is built with the CycloneDX project's own object model, serializer and schema validator
(cyclonedx-python-lib, the `sbom` extra), imported lazily so the runtime keeps working without it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hfm_runtime.artifact import Artifact, default_file_mode, read_artifact, sha256_file
from hfm_runtime.errors import HfmError

if TYPE_CHECKING:
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component
    from cyclonedx.model.license import License

RUNTIME_DISTRIBUTION = "hfm-compress"
SPEC_VERSION = "1.6"  # the newest version most SBOM consumers (Dependency-Track, the CycloneDX CLI) read today
INSTALL_HINT = "pip install 'hfm-compress[sbom]'"
PROPERTY_PREFIX = "hfm:"

# Trove classifiers that name exactly one SPDX license. Vaguer ones ("BSD License", "Apache Software License")
# do not say which version or variant, so they are kept as license names, never guessed into an SPDX id.
_CLASSIFIER_SPDX = {
    "MIT License": "MIT",
    "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "Zero-Clause BSD (0BSD)": "0BSD",
    "MIT No Attribution License (MIT-0)": "MIT-0",
}


class SbomError(HfmError):
    """The SBOM cannot be built, written or validated (library missing, runtime not installed, schema violation)."""


def build_sbom(artifact: str | Path | None = None) -> Bom:
    """The CycloneDX BOM of the installed runtime, plus the artifact's components when `artifact` is given.

    The artifact is read with `read_artifact`, so every member hash is verified before it is written into the SBOM:
    an SBOM never vouches for a tampered artifact.
    """
    _require_cyclonedx()
    from cyclonedx.model.bom import Bom

    verified = read_artifact(artifact) if artifact is not None else None  # the user's input fails first
    installed = _installed()
    root_key = _canonical(RUNTIME_DISTRIBUTION)
    if root_key not in installed:
        raise SbomError(
            f"the {RUNTIME_DISTRIBUTION} distribution is not installed, so its requirements cannot be listed "
            "(expected `pip install hfm-compress` or `pip install -e .`)"
        )
    dists, edges, unmet = _requirement_closure(installed[root_key], installed)
    components = {key: _library_component(dist) for key, dist in dists.items()}
    bom = Bom()
    bom.metadata.component = components[root_key]
    # A base requirement that is not installed is named, so an incomplete install cannot pass as a complete list.
    bom.metadata.component.properties.update(_properties({"unmet-requirement": sorted(unmet)}))
    for key, component in components.items():
        if key != root_key:
            bom.components.add(component)
    for key, targets in edges.items():
        bom.register_dependency(components[key], [components[target] for target in sorted(targets)])
    if verified is not None:
        _add_artifact(bom, verified)
    return bom


def sbom_json(bom: Bom) -> str:
    """Serialize with the library's own CycloneDX JSON serializer (spec `SPEC_VERSION`)."""
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat

    outputter = make_outputter(bom, OutputFormat.JSON, _schema_version())
    return outputter.output_as_string(indent=2)


def validate_sbom_json(text: str) -> None:
    """Check `text` against the strict CycloneDX JSON schema of `SPEC_VERSION`; raise SbomError naming the violation."""
    _require_cyclonedx()
    from cyclonedx.exception import MissingOptionalDependencyException
    from cyclonedx.validation.json import JsonStrictValidator

    try:
        error = JsonStrictValidator(_schema_version()).validate_str(text)
    except MissingOptionalDependencyException as exc:  # jsonschema: the library's [json-validation] extra
        raise SbomError(
            f"validating the SBOM needs cyclonedx-python-lib[json-validation] ({exc}); run: {INSTALL_HINT}"
        ) from None
    if error is not None:
        cause = getattr(error, "data", None)  # jsonschema's ValidationError: its message and where it failed
        where = "/".join(str(part) for part in getattr(cause, "absolute_path", [])) or "(document)"
        detail = " ".join(str(getattr(cause, "message", error)).split())
        raise SbomError(
            f"the SBOM does not validate against the CycloneDX {SPEC_VERSION} JSON schema at {where}: {detail[:200]}"
        )


def write_sbom(out: Path, artifact: str | Path | None = None, fmt: str = "json") -> Path:
    """Build, serialize, validate and write the SBOM atomically; return `out`.

    Validation runs on the exact text before it is renamed into place, and the write goes through a temp file in the
    target folder + fsync + `os.replace`, so a failure at any point leaves the previous file (or none) behind.
    """
    if fmt != "json":
        raise SbomError(f"SBOM format {fmt!r} is not supported; expected 'json' (CycloneDX {SPEC_VERSION} JSON)")
    out = Path(out)
    text = sbom_json(build_sbom(artifact))
    validate_sbom_json(text)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise SbomError(f"{out}: cannot write the SBOM there ({exc.strerror or exc})") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, default_file_mode())  # mkstemp makes 0600; an SBOM is shared like any file
        os.replace(temp_name, out)
    except BaseException as exc:
        Path(temp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise SbomError(f"{out}: cannot write the SBOM there ({exc.strerror or exc})") from None
        raise
    return out


# --- the runtime's distributions -------------------------------------------------------------------------------


def _require_cyclonedx() -> None:
    try:
        import cyclonedx.model.bom  # noqa: F401
        import packageurl  # noqa: F401
    except ImportError as exc:
        raise SbomError(f"the SBOM needs cyclonedx-python-lib ({exc.name} is missing); run: {INSTALL_HINT}") from None


def _schema_version() -> Any:
    from cyclonedx.schema import SchemaVersion

    return SchemaVersion.from_version(SPEC_VERSION)


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _installed() -> dict[str, metadata.Distribution]:
    """Every installed distribution by canonical name, first on sys.path winning as it does for imports.

    One scan of sys.path instead of one per requirement: `metadata.distribution()` rescans every time.
    """
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(_canonical(name), dist)
    return found


def _requirement_closure(
    root: metadata.Distribution, installed: Mapping[str, metadata.Distribution]
) -> tuple[dict[str, metadata.Distribution], dict[str, set[str]], set[str]]:
    """Installed distributions reachable from `root`'s base requirements, the edges between them, and unmet ones.

    Markers are evaluated for this interpreter, as pip did when it installed them; a requirement `pkg[extra]` also
    follows `pkg`'s requirements for that extra. The root is walked without extras, which is what keeps the
    toolchain (torch, transformers) out.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    root_key = _canonical(root.metadata["Name"])
    dists = {root_key: root}
    edges: dict[str, set[str]] = {root_key: set()}
    walked: dict[str, set[str]] = {}
    unmet: set[str] = set()
    pending: list[tuple[str, frozenset[str]]] = [(root_key, frozenset())]
    while pending:
        key, extras = pending.pop()
        wanted = {""} | set(extras)
        if wanted <= walked.get(key, set()):
            continue
        walked.setdefault(key, set()).update(wanted)
        for line in dists[key].requires or []:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue  # a malformed line in someone else's metadata: pip could not have installed it either
            if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in wanted):
                continue
            target = _canonical(requirement.name)
            dist = installed.get(target)
            if dist is None:
                unmet.add(str(requirement) if key == root_key else f"{requirement} (for {key})")
                continue
            dists[target] = dist
            edges.setdefault(target, set())
            if target != key:
                edges[key].add(target)
            pending.append((target, frozenset(requirement.extras)))
    return dists, edges, unmet


def _library_component(dist: metadata.Distribution) -> Component:
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    name = dist.metadata["Name"]
    purl = PackageURL(type="pypi", name=_canonical(name), version=dist.version)
    return Component(
        type=ComponentType.LIBRARY,
        name=name,
        version=dist.version,
        purl=purl,
        bom_ref=purl.to_string(),
        licenses=_licenses(dist.metadata),
    )


def _licenses(meta: Any) -> list[License]:
    """The license the metadata states, best effort: an SPDX expression or id when it is one, else its short name.

    Order of trust: PEP 639 `License-Expression`, then a `License` field that is a valid SPDX id or expression,
    then classifiers naming one SPDX license, then the `License` field or classifier as a plain name. A `License`
    field holding a whole license text says nothing usable here and is skipped.
    """
    from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
    from cyclonedx.spdx import fixup_id, is_expression

    declared = [(meta.get(field) or "").strip() for field in ("License-Expression", "License")]
    declared = [value for value in declared if value and "\n" not in value and len(value) <= 100]
    for value in declared:
        spdx_id = fixup_id(value)
        if spdx_id:
            return [DisjunctiveLicense(id=spdx_id)]
        if is_expression(value):
            return [LicenseExpression(value)]
    prefix = "License :: OSI Approved :: "
    classified = [c[len(prefix):] for c in meta.get_all("Classifier") or [] if c.startswith(prefix)]
    if classified and all(c in _CLASSIFIER_SPDX for c in classified):
        return [DisjunctiveLicense(id=_CLASSIFIER_SPDX[c]) for c in classified]
    names = declared[-1:] or classified
    return [DisjunctiveLicense(name=name) for name in names]


# --- the artifact --------------------------------------------------------------------------------------------


def _add_artifact(bom: Bom, verified: Artifact) -> None:
    """The artifact file as a component holding its members; the model depends on its tokenizer.

    Members are nested inside the file component because the file *contains* them (a CycloneDX assembly);
    `dependsOn` is kept for the one real use relation: the model reads what the tokenizer produces.
    """
    from cyclonedx.model.component import Component, ComponentType

    path = Path(verified.path)
    manifest = verified.manifest
    members: Mapping[str, str] = manifest["members"]
    model_info = manifest.get("model") or {}
    name = str(manifest.get("name") or path.stem)
    model_files = {model_info.get("file"), model_info.get("ort_file")} - {None}
    preprocessing = manifest.get("preprocessing") or {}
    tokenizer_file = preprocessing.get("tokenizer") or "tokenizer.json"

    children: dict[str, Component] = {}
    for member, digest in members.items():
        is_model = member in model_files
        children[member] = Component(
            type=ComponentType.MACHINE_LEARNING_MODEL if is_model else ComponentType.DATA,
            name=_member_name(name, member, model_info),
            version=manifest.get("version") if is_model else None,
            bom_ref=f"hfm-artifact:{path.name}#{member}",
            hashes=[_sha256(digest)],
            description=_member_description(member, is_model, tokenizer_file),
            properties=_properties(_model_facts(manifest)) if is_model else _properties({"member": member}),
        )
    container = Component(
        type=ComponentType.FILE,
        name=path.name,
        bom_ref=f"hfm-artifact:{path.name}",
        hashes=[_sha256(sha256_file(path))],
        description=f".hfm artifact (format version {manifest.get('format_version')}) holding {name}",
        properties=_properties({
            "format": manifest.get("format"),
            "format_version": manifest.get("format_version"),
            "manifest_sha256": getattr(verified, "digest", None),  # names this exact artifact, where the reader says
        }),
        components=children.values(),
    )
    bom.components.add(container)
    bom.register_dependency(container, [])
    tokenizer = children.get(tokenizer_file)
    for member, child in children.items():
        uses_tokenizer = tokenizer is not None and member in model_files
        bom.register_dependency(child, [tokenizer] if uses_tokenizer else [])


def _member_name(name: str, member: str, model_info: Mapping[str, Any]) -> str:
    if member == model_info.get("file"):
        return name
    if member == model_info.get("ort_file"):
        return f"{name} (ORT format)"
    return member


def _member_description(member: str, is_model: bool, tokenizer_file: str) -> str:
    if is_model:
        return f"ONNX model ({member}) run by the hfm runtime"
    if member == tokenizer_file:
        return "tokenizer (Hugging Face `tokenizers` JSON) that turns texts into the model's input ids"
    return f"artifact member {member}"


def _model_facts(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What a CycloneDX modelCard would carry, as properties: cyclonedx-python-lib has no modelCard model yet."""
    model = manifest.get("model") or {}
    source = manifest.get("source") or {}
    return {
        "task": manifest.get("task"),
        "precision": model.get("precision"),
        "opset": model.get("opset"),
        "architecture": source.get("model_type"),
        "source": source.get("name"),
        "source_sha256": source.get("sha256"),
        "profile": (manifest.get("profile") or {}).get("name"),
        "created": manifest.get("created"),
    }


def _properties(facts: Mapping[str, Any]) -> list[Any]:
    """`hfm:<name>` properties for every fact that is set; a list value gives one property per item."""
    from cyclonedx.model import Property

    result = []
    for key, value in facts.items():
        values: Iterable[Any] = value if isinstance(value, (list, tuple, set)) else [value]
        result += [Property(name=f"{PROPERTY_PREFIX}{key}", value=str(v)) for v in values if v not in (None, "")]
    return result


def _sha256(hex_digest: str) -> Any:
    from cyclonedx.model import HashAlgorithm, HashType

    return HashType(alg=HashAlgorithm.SHA_256, content=hex_digest)
