"""Alias of `hfm_compress.sources.modules`: module folders and scripts name
`hfm_compress.tensor_sources.save_module_folder` (and load through it)."""

from hfm_compress.sources.modules import *  # noqa: F401,F403
from hfm_compress.sources import load_tensor_teacher  # noqa: F401
from hfm_compress.sources.modules import load_module_folder, save_module_folder  # noqa: F401
