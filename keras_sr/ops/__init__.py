"""Image operations in TensorFlow: MATLAB bicubic, colour spaces, modcrop."""

from keras_sr.ops.color import modcrop, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from keras_sr.ops.placement import pixel_placement, placement_offsets
from keras_sr.ops.resize import imresize, nearest_upsample, resize_output_size

__all__ = [
    "imresize",
    "modcrop",
    "nearest_upsample",
    "pixel_placement",
    "placement_offsets",
    "resize_output_size",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
]
