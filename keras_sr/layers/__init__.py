"""Layers of the keras_sr model zoo (NHWC float32, images in [0, 1])."""

from keras_sr.layers.blocks import (
    RRDB,
    ResidualBlock,
    ResidualDenseBlock,
    SRResNetBlock,
    SubPixelUpsampler,
    UpConv,
)
from keras_sr.layers.core import (
    BicubicUpsample,
    MeanShift,
    Pad2D,
    PixelShuffle,
    WeightedSum,
)

__all__ = [
    "RRDB",
    "BicubicUpsample",
    "MeanShift",
    "Pad2D",
    "PixelShuffle",
    "ResidualBlock",
    "ResidualDenseBlock",
    "SRResNetBlock",
    "SubPixelUpsampler",
    "UpConv",
    "WeightedSum",
]

# --- Layers added by other families (one import line each) -----------------
from keras_sr.layers.placement import PixelPlacement, ShepardUpsampling  # noqa: E402,F401
# --- end of family layers ----------------------------------------------------
