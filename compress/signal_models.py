"""Alias of `hfm_compress.models.ecg_cnn`: artifacts and module folders record the factory
`hfm_compress.signal_models:ecg_cnn`, which must keep rebuilding the model."""

from hfm_compress.models.ecg_cnn import *  # noqa: F401,F403
from hfm_compress.models.ecg_cnn import conv_net_2d, ecg_cnn  # noqa: F401
