"""Teachers and data: Hugging Face text encoders and ONNX files (text.py), torch modules and module folders
(modules.py), Hugging Face vision folders (vision.py), texts (texts.py), arrays (arrays.py), teacher reference
outputs (reference.py).
"""

from __future__ import annotations

from pathlib import Path

from hfm_compress.errors import SourceError
from hfm_compress.sources.modules import (MODULE_SPEC_FILE, TensorTeacher, is_module_reference, load_module_folder,
                                          load_module_reference)


def load_tensor_teacher(source: str, task: str | None = None, input_spec: Path | None = None) -> TensorTeacher:
    """Resolve SOURCE into a TensorTeacher; `task` (if given) must match the source's own task."""
    if is_module_reference(source):
        teacher = load_module_reference(source, input_spec)
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise SourceError(f"SOURCE {source!r} does not exist; expected a model folder or package.module:factory")
        if (folder / MODULE_SPEC_FILE).is_file():
            teacher = load_module_folder(folder)
        else:
            from hfm_compress.sources.vision import load_hf_vision_teacher

            teacher = load_hf_vision_teacher(folder, task)
    if task is not None and task != teacher.task:
        raise SourceError(f"SOURCE {source}: --task {task} was asked for, but the model is a {teacher.task} model")
    return teacher
