"""Teachers that take one float tensor: imaging models (images in, class or per-pixel logits out) and 1-D signal
models (windows in, rhythm logits out).

Three kinds of SOURCE resolve here (text encoders stay in `sources.py`):
- a module folder: `hfm_module.json` + `model.pt`, which names a factory, its keyword arguments, the task, the
  labels, the preprocessing spec and optionally `default_data` (the DATA it was trained on, e.g. `synth:ecg`) and
  `critical_classes` (labels whose sensitivity the gates guard more strictly). The teacher training scripts write
  these, and `save_module_folder` is public so users can wrap their own PyTorch model the same way;
- `package.module:factory`: a plain PyTorch module built by calling the factory; its spec comes from the module's
  `hfm_spec` attribute (task, labels, preprocessing) or from `--input-spec FILE.json`;
- a Hugging Face vision folder (`AutoModelForImageClassification` or `AutoModelForSemanticSegmentation`), whose
  preprocessing comes from its `preprocessor_config.json` (see `sources/vision.py`).

Every teacher's `model` maps `input` (batch, channels, ...) to `logits`: (batch, classes) for classification and
(batch, classes, height, width) at the input's size for segmentation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping

from hfm_compress.errors import SourceError
from hfm_compress.onnx_files import atomic_output
from hfm_runtime.artifact import sha256_file
from hfm_runtime.inputs import IMAGE_TASKS, SIGNAL_TASKS

TENSOR_TASKS = IMAGE_TASKS + SIGNAL_TASKS
MODULE_SPEC_FILE = "hfm_module.json"
MODULE_WEIGHTS_FILE = "model.pt"
MODULE_FORMAT = "hfm-torch-module"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


@dataclasses.dataclass
class TensorTeacher:
    """A one-tensor-in, logits-out model in torch, plus what packing and the runtime need."""

    name: str
    task: str
    model: Any  # torch.nn.Module in eval mode: input (batch, ...) -> logits
    labels: list[str]
    preprocessing: dict[str, Any]  # ImageSpec.to_dict() or SignalSpec.to_dict()
    sha256: str
    model_type: str
    folder: Path | None = None
    factory: str | None = None  # "package.module:function" that rebuilds the architecture (module sources)
    factory_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    default_data: str | None = None  # DATA the model was trained on (e.g. synth:ecg): the CLI's default data
    # Labels whose sensitivity gets the stricter gate (gates.CRITICAL_SENSITIVITY_DROP): spec key "critical_classes".
    critical_classes: tuple[str, ...] = ()

    input_name = INPUT_NAME
    output_name = OUTPUT_NAME

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One input without the batch axis: (channels, height, width) or (channels, samples)."""
        spec = self.preprocessing
        if spec.get("type") == "image":
            return (int(spec["channels"]), int(spec["height"]), int(spec["width"]))
        return (int(spec.get("channels", 1)), int(round(float(spec["window_seconds"]) * float(spec["fs"]))))

    def describe(self) -> dict[str, Any]:
        described = {"name": self.name, "sha256": self.sha256, "model_type": self.model_type, "task": self.task}
        if self.factory:
            described["factory"] = self.factory
            described["factory_kwargs"] = self.factory_kwargs
        return described


def is_module_reference(source: str) -> bool:
    """`package.module:factory` (not a Windows drive letter, not an existing path)."""
    head, sep, tail = source.partition(":")
    return bool(sep) and len(head) > 1 and tail.isidentifier() and not Path(source).exists()


def import_factory(reference: str) -> Callable[..., Any]:
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SourceError(f"SOURCE {reference}: cannot import module {module_name!r} ({exc})") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise SourceError(f"SOURCE {reference}: module {module_name} has no callable {attribute!r}")
    return factory


def load_module_reference(reference: str, input_spec: Path | None = None) -> TensorTeacher:
    """Build the module by calling the factory with no arguments; spec from `hfm_spec` or the --input-spec file."""
    import torch

    model = import_factory(reference)()
    if not isinstance(model, torch.nn.Module):
        raise SourceError(f"SOURCE {reference}: the factory returned {type(model).__name__}; expected a torch.nn.Module")
    if input_spec is not None:
        spec = _read_json(input_spec, "--input-spec")
    else:
        spec = getattr(model, "hfm_spec", None)
        if not isinstance(spec, Mapping):
            raise SourceError(f"SOURCE {reference}: the module has no `hfm_spec` dict (task, labels, preprocessing); "
                              "pass --input-spec FILE.json with them")
    return _teacher_from_spec(model.eval(), spec, name=reference, sha256=_state_sha256(model), folder=None,
                              factory=reference, kwargs={})


def load_module_folder(folder: Path) -> TensorTeacher:
    """A folder written by `save_module_folder`: rebuild the factory's module and load its weights."""
    import torch

    spec = _read_json(folder / MODULE_SPEC_FILE, "module spec")
    if spec.get("format") != MODULE_FORMAT or spec.get("version") != 1:
        raise SourceError(f"{folder / MODULE_SPEC_FILE}: format {spec.get('format')!r} version {spec.get('version')!r};"
                          f" expected {MODULE_FORMAT!r} version 1")
    for key in ("factory", "task", "labels", "preprocessing"):
        if key not in spec:
            raise SourceError(f"{folder / MODULE_SPEC_FILE} lacks {key!r}; expected factory, task, labels, preprocessing")
    weights = folder / spec.get("weights", MODULE_WEIGHTS_FILE)
    if not weights.is_file():
        raise SourceError(f"SOURCE {folder}: weights file {weights.name} is missing")
    kwargs = dict(spec.get("kwargs", {}))
    model = import_factory(spec["factory"])(**kwargs)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # torch raises RuntimeError/UnpicklingError with long messages
        raise SourceError(f"SOURCE {folder}: weights do not fit {spec['factory']}({kwargs}): "
                          f"{str(exc).splitlines()[0][:200]}") from None
    inherited = (getattr(model, "hfm_spec", None) or {}).get("critical_classes")
    labels = spec["labels"] if isinstance(spec["labels"], list) else []
    if "critical_classes" not in spec and isinstance(inherited, list) and inherited and set(inherited) <= set(labels):
        spec = {**spec, "critical_classes": list(inherited)}  # the factory's own, e.g. AF for ecg_cnn folders
    return _teacher_from_spec(model.eval(), spec, name=str(folder), sha256=sha256_file(weights), folder=folder,
                              factory=spec["factory"], kwargs=kwargs)


def save_module_folder(folder: Path, model: Any, *, factory: str, kwargs: Mapping[str, Any], task: str,
                       labels: list[str], preprocessing: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> Path:
    """Write `model.pt` (state dict) and `hfm_module.json`; each file is written to a temp name, then renamed."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    spec = {"format": MODULE_FORMAT, "version": 1, "factory": factory, "kwargs": dict(kwargs), "task": task,
            "labels": list(labels), "preprocessing": dict(preprocessing), "weights": MODULE_WEIGHTS_FILE,
            **(dict(extra) if extra else {})}
    with atomic_output(folder / MODULE_WEIGHTS_FILE) as temp:
        torch.save(model.state_dict(), temp)
    with atomic_output(folder / MODULE_SPEC_FILE) as temp:
        temp.write_text(json.dumps(spec, indent=2))
    return folder


def _teacher_from_spec(model: Any, spec: Mapping[str, Any], *, name: str, sha256: str, folder: Path | None,
                       factory: str | None, kwargs: dict[str, Any]) -> TensorTeacher:
    task = spec.get("task")
    if task not in TENSOR_TASKS:
        raise SourceError(f"SOURCE {name}: task {task!r} is not supported here; expected one of {', '.join(TENSOR_TASKS)}")
    labels = spec.get("labels")
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        raise SourceError(f"SOURCE {name}: labels {labels!r}; expected a list of at least 2 class names")
    preprocessing = dict(spec.get("preprocessing") or {})
    check_preprocessing(name, task, preprocessing)
    return TensorTeacher(name=name, task=task, model=model, labels=list(labels), preprocessing=preprocessing,
                         sha256=sha256, model_type=type(model).__name__, folder=folder, factory=factory,
                         factory_kwargs=kwargs, default_data=spec.get("default_data"),
                         critical_classes=read_critical_classes(name, spec.get("critical_classes"), labels))


def read_critical_classes(name: str, value: Any, labels: list[str]) -> tuple[str, ...]:
    """The spec's `critical_classes`: a list of the model's own labels (absent: none)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise SourceError(f"SOURCE {name}: critical_classes {value!r}; expected a list of class names from its labels")
    unknown = [x for x in value if x not in labels]
    if unknown:
        raise SourceError(f"SOURCE {name}: critical_classes names {', '.join(map(repr, unknown))}, not among its "
                          f"labels; expected some of {', '.join(labels)}")
    return tuple(dict.fromkeys(value))


def check_preprocessing(name: str, task: str, spec: dict[str, Any]) -> None:
    """Validate the spec with the runtime's own parser, so an artifact can never carry one the device refuses."""
    from hfm_runtime.errors import HfmError
    from hfm_runtime.preprocess.image import ImageSpec
    from hfm_runtime.preprocess.signal import SignalSpec

    expected = "image" if task in IMAGE_TASKS else "signal"
    if spec.get("type") != expected:
        raise SourceError(f"SOURCE {name}: task {task} needs a preprocessing spec of type {expected!r}; "
                          f"found {spec.get('type')!r}")
    try:
        parsed = ImageSpec.from_dict(spec) if expected == "image" else SignalSpec.from_dict(spec)
    except HfmError as exc:
        raise SourceError(f"SOURCE {name}: preprocessing spec is invalid: {exc}") from None
    spec.clear()
    spec.update(parsed.to_dict())


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{what} {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(f"{what} {path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{what} {path} holds a {type(data).__name__}; expected a JSON object")
    return data


def _state_sha256(model: Any) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
