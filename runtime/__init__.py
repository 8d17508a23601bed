"""hfm_runtime: load a verified .hfm artifact and run it offline under a device profile. Never imports torch."""

__version__ = "0.1.0"

from hfm_runtime.errors import (  # noqa: E402
    ArtifactError,
    BudgetError,
    HfmError,
    InputError,
    ProfileError,
    SelfTestError,
)
from hfm_runtime.model import Model, load  # noqa: E402
from hfm_runtime.profiles import DeviceProfile, available_profiles, load_profile  # noqa: E402
from hfm_runtime.results import Prediction, Predictions  # noqa: E402
from hfm_runtime.safety import RESULT_FLAGS, SAFETY_FLAGS  # noqa: E402

__all__ = [
    "ArtifactError",
    "BudgetError",
    "DeviceProfile",
    "HfmError",
    "InputError",
    "Model",
    "Prediction",
    "Predictions",
    "ProfileError",
    "RESULT_FLAGS",
    "SAFETY_FLAGS",
    "SelfTestError",
    "__version__",
    "available_profiles",
    "load",
    "load_profile",
]
