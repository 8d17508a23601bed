"""Alias of `hfm_compress.models.imaging_students`: kd steps in recipes and manifests name the factories
`hfm_compress.imaging_students:cls_cnn` and `:seg_cnn`, which must keep rebuilding the students."""

from hfm_compress.models.imaging_students import *  # noqa: F401,F403
from hfm_compress.models.imaging_students import cls_cnn, seg_cnn  # noqa: F401
