"""hfm-compress's toolchain: `compress(...)` and `plan_recipe(...)` (see api.py).

They are loaded on first use, so `import hfm_compress` (and `hfm-compress --help`) stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compress", "plan_recipe", "CompressResult"]


def __getattr__(name: str) -> Any:
    if name in ("compress", "plan_recipe"):
        from hfm_compress import api

        return getattr(api, name)
    if name == "CompressResult":
        from hfm_compress.run import CompressResult

        return CompressResult
    raise AttributeError(f"module 'hfm_compress' has no attribute {name!r}")
