"""EDSR and EDSR-baseline (Lim et al., CVPRW 2017), METHODS.md section 4b."""

from __future__ import annotations

import keras

from keras_sr.layers import MeanShift, ResidualBlock, SubPixelUpsampler
from keras_sr.layers.blocks import TORCH_DEFAULT_INIT
from keras_sr.layers.core import DIV2K_RGB_MEAN
from keras_sr.models.base import SRBackbone, image_input
from keras_sr.models.presets import register_preset
from keras_sr.utils.registry import keras_sr_export


@keras_sr_export("keras_sr.models.EDSR")
class EDSR(SRBackbone):
    """EDSR: ``(x - mean) * 255`` -> head conv -> ``num_blocks`` x
    :class:`ResidualBlock` -> conv + global skip -> sub-pixel upsampler ->
    conv -> ``/ 255 + mean``.

    Input: LR RGB ``[B, h, w, 3]`` float32 in ``[0, 1]``; output SR RGB in
    ``[0, 1]`` (not clipped). Internally the network works on the 0..255 range,
    as EDSR-PyTorch with ``rgb_range=255``.

    Args:
        scale: int. 2, 3, 4 or 8. Defaults to 4.
        num_blocks: int. 16 (baseline) or 32 (EDSR). Defaults to 16.
        filters: int. 64 (baseline) or 256 (EDSR). Defaults to 64.
        res_scale: float. 1 (baseline) or 0.1 (EDSR). Defaults to 1.0.
        rgb_mean: sequence of floats. Defaults to the DIV2K mean.
        channels: int. Defaults to 3.

    Example:
        >>> import numpy as np
        >>> m = EDSR(scale=4)
        >>> m.count_params()
        1517571
        >>> m(np.zeros((1, 5, 7, 3), "float32")).shape
        TensorShape([1, 20, 28, 3])

    Reference: https://arxiv.org/abs/1707.02921
    """

    def __init__(
        self,
        scale: int = 4,
        num_blocks: int = 16,
        filters: int = 64,
        res_scale: float = 1.0,
        rgb_mean=DIV2K_RGB_MEAN,
        channels: int = 3,
        **kwargs,
    ):
        rgb_mean = [float(m) for m in rgb_mean]
        config = dict(
            scale=scale,
            num_blocks=num_blocks,
            filters=filters,
            res_scale=res_scale,
            rgb_mean=rgb_mean,
            channels=channels,
        )
        init = keras.initializers.get(TORCH_DEFAULT_INIT)
        inputs = image_input(channels)
        x = MeanShift(rgb_mean, sign=-1, name="sub_mean")(inputs)
        x = keras.layers.Rescaling(255.0, name="to_255")(x)
        head = keras.layers.Conv2D(
            filters, 3, padding="same", kernel_initializer=init, name="head"
        )(x)
        x = head
        for i in range(num_blocks):
            x = ResidualBlock(filters, 3, res_scale, name=f"block{i + 1}")(x)
        x = keras.layers.Conv2D(
            filters, 3, padding="same", kernel_initializer=init, name="body_conv"
        )(x)
        x = keras.layers.Add(name="global_skip")([x, head])
        x = SubPixelUpsampler(scale, filters, name="upsampler")(x)
        x = keras.layers.Conv2D(
            channels, 3, padding="same", kernel_initializer=init, name="tail"
        )(x)
        x = keras.layers.Rescaling(1.0 / 255.0, name="from_255")(x)
        x = MeanShift(rgb_mean, sign=1, name="add_mean")(x)
        super().__init__(
            inputs, x, scale=scale, channels=channels, config=config, **kwargs
        )


for _s in (2, 3, 4):
    register_preset(
        f"edsr_baseline_x{_s}",
        EDSR,
        {"scale": _s},
        description=f"EDSR-baseline (16x64), RGB, x{_s}",
    )
    register_preset(
        f"edsr_x{_s}",
        EDSR,
        {"scale": _s, "num_blocks": 32, "filters": 256, "res_scale": 0.1},
        description=f"EDSR (32x256, res_scale 0.1), RGB, x{_s}",
    )
