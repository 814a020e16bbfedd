"""VDSR (Kim, Lee, Lee, CVPR 2016), METHODS.md section 3."""

from __future__ import annotations

import keras

from keras_sr.layers import BicubicUpsample
from keras_sr.layers.blocks import HE_NORMAL_INIT
from keras_sr.models.base import SRBackbone, image_input
from keras_sr.models.presets import register_preset
from keras_sr.utils.registry import keras_sr_export


@keras_sr_export("keras_sr.models.VDSR")
class VDSR(SRBackbone):
    """VDSR: MATLAB bicubic upsampling ``x``, then ``depth`` 3x3 convs (64
    filters, ReLU, no bias; last one linear to ``channels``) predicting the
    residual: ``y = x + f(x)``.

    Input: LR Y ``[B, h, w, 1]`` float32 in ``[0, 1]``; output SR Y. Train it
    with :class:`keras_sr.training.AdjustableGradientClipping` (theta / lr).

    Args:
        scale: int. Defaults to 3.
        depth: int. Number of conv layers. Defaults to 20.
        filters: int. Defaults to 64.
        use_bias: bool. Defaults to False (pytorch-vdsr).
        channels: int. Defaults to 1.

    Example:
        >>> import numpy as np
        >>> m = VDSR(scale=3)
        >>> m.count_params()
        664704
        >>> m(np.zeros((1, 5, 7, 1), "float32")).shape
        TensorShape([1, 15, 21, 1])

    Reference: https://arxiv.org/abs/1511.04587
    """

    def __init__(
        self,
        scale: int = 3,
        depth: int = 20,
        filters: int = 64,
        use_bias: bool = False,
        channels: int = 1,
        **kwargs,
    ):
        config = dict(
            scale=scale,
            depth=depth,
            filters=filters,
            use_bias=use_bias,
            channels=channels,
        )
        init = keras.initializers.get(HE_NORMAL_INIT)
        inputs = image_input(channels)
        up = BicubicUpsample(scale, name="bicubic")(inputs)
        x = up
        for i in range(depth - 1):
            x = keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                activation="relu",
                use_bias=use_bias,
                kernel_initializer=init,
                name=f"conv{i + 1}",
            )(x)
        x = keras.layers.Conv2D(
            channels,
            3,
            padding="same",
            use_bias=use_bias,
            kernel_initializer=init,
            name=f"conv{depth}",
        )(x)
        out = keras.layers.Add(name="global_residual")([up, x])
        super().__init__(
            inputs, out, scale=scale, channels=channels, config=config, **kwargs
        )


for _s in (2, 3, 4):
    register_preset(
        f"vdsr_x{_s}",
        VDSR,
        {"scale": _s},
        description=f"VDSR (20 layers), Y channel, x{_s}",
    )
