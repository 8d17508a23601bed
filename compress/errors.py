"""Toolchain errors; all are `HfmError`s so the CLI reports them as one line."""

from hfm_runtime.errors import HfmError


class CompressError(HfmError):
    """A compression step could not be carried out."""


class ConfigError(CompressError):
    """A step config or recipe is invalid."""


class SourceError(CompressError):
    """The SOURCE model could not be found or is not supported."""


class FidelityError(CompressError):
    """A step produced a model that disagrees with its reference beyond tolerance."""
