"""User-facing errors. Each message is one line that names the input, what was wrong and what was expected.

The CLI prints `str(error)` for any `HfmError` and exits non-zero; anything else is a bug and shows a traceback.
"""


class HfmError(Exception):
    """Base class for every error a user can cause."""


class ArtifactError(HfmError):
    """The .hfm file is missing, not an artifact, truncated, tampered with, or of an unknown format version."""


class SelfTestError(ArtifactError):
    """The artifact's golden inputs no longer give the recorded outputs under this runtime and profile."""


class ProfileError(HfmError):
    """A device profile is unknown or invalid."""


class BudgetError(HfmError):
    """The artifact does not fit the device profile's budgets."""


class InputError(HfmError):
    """Inputs given to `run` do not match the artifact's input spec."""
