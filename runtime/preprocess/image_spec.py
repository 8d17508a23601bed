"""The image preprocessing spec: `ImageSpec`, what an imaging artifact's manifest records under "preprocessing"
(`{"type": "image", ...}`), with the checks that refuse a bad one, and the choices it allows.

Reading files is `image_io`; resizing, normalising and laying out frames is `image_dsp`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from hfm_runtime.errors import ArtifactError, InputError

LAYOUTS = ("NCHW", "NHWC")
RESIZES = ("bilinear", "none")
VALUE_SCALES = ("source_range", "raw")
MB = 2**20  # as runtime.memory and the profiles' memory_mb


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """How an imaging model wants its input, as recorded in the artifact manifest.

    `mean` and `std` hold one value per channel, or one value for all channels. `resize="none"` makes a frame of
    another size an error instead of resampling it (for models whose pixels have a physical size).
    """

    height: int
    width: int
    channels: int = 3
    layout: str = "NCHW"
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    resize: str = "bilinear"
    antialias: bool = True
    value_scale: str = "source_range"
    crop_to_region: bool = True

    TYPE: ClassVar[str] = "image"
    VERSION: ClassVar[int] = 1

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"image spec {name} = {value!r}; expected a whole number >= 1")
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise InputError(f"image spec channels = {self.channels!r}; expected 1 (grey) or 3 (RGB)")
        check_choice("image spec layout", self.layout, LAYOUTS)
        check_choice("image spec resize", self.resize, RESIZES)
        check_choice("image spec value_scale", self.value_scale, VALUE_SCALES)
        for name in ("antialias", "crop_to_region"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"image spec {name} = {getattr(self, name)!r}; expected true or false")
        for name in ("mean", "std"):
            object.__setattr__(self, name, _per_channel(name, getattr(self, name), self.channels))
        if min(self.std) <= 0:
            raise InputError(f"image spec std = {self.std}; expected numbers > 0")

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"type": self.TYPE, "version": self.VERSION, **fields, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ImageSpec":
        """Rebuild from `to_dict()` as read from a manifest; anything unexpected is an ArtifactError that names it."""
        if not isinstance(data, Mapping) or data.get("type") != cls.TYPE:
            found = data.get("type") if isinstance(data, Mapping) else type(data).__name__
            raise ArtifactError(f"preprocessing spec has type {found!r}; expected type {cls.TYPE!r}")
        if data.get("version", cls.VERSION) != cls.VERSION:
            raise ArtifactError(f"image preprocessing spec has version {data.get('version')!r}; this runtime reads "
                                f"version {cls.VERSION}")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k not in ("type", "version")}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ArtifactError(f"image preprocessing spec has unknown fields {unknown}; expected {sorted(known)}")
        try:
            return cls(**values)
        except (InputError, TypeError) as exc:
            raise ArtifactError(f"image preprocessing spec in the manifest is invalid: {exc}") from None


def _per_channel(name: str, value: Any, channels: int) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in np.atleast_1d(np.asarray(value, dtype=np.float64)))
    except (TypeError, ValueError):
        values = ()
    if len(values) not in (1, channels) or not all(np.isfinite(values)):
        raise InputError(f"image spec {name} = {value!r}; expected 1 or {channels} finite numbers")
    return values


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise InputError(f"{name} = {value!r}; expected one of {', '.join(choices)}")
