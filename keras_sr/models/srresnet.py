"""SRResNet generator (Ledig et al., CVPR 2017), METHODS.md section 4a."""

from __future__ import annotations

import keras

from keras_sr.layers import SRResNetBlock, SubPixelUpsampler
from keras_sr.layers.blocks import TORCH_DEFAULT_INIT
from keras_sr.models.base import SRBackbone, image_input
from keras_sr.models.presets import register_preset
from keras_sr.utils.registry import keras_sr_export


@keras_sr_export("keras_sr.models.SRResNet")
class SRResNet(SRBackbone):
    """SRResNet: conv 9x9 (64, PReLU), ``num_blocks`` x :class:`SRResNetBlock`,
    conv 3x3 + BN + long skip, sub-pixel upsampling with PReLU, conv 9x9.

    Input: LR RGB ``[B, h, w, 3]`` float32 in ``[0, 1]``; output SR RGB in
    ``[0, 1]`` (the REIMPL range convention; not clipped).

    Args:
        scale: int. 2, 3, 4 or 8. Defaults to 4.
        num_blocks: int. Defaults to 16.
        filters: int. Defaults to 64.
        channels: int. Defaults to 3.

    Example:
        >>> import numpy as np
        >>> m = SRResNet(scale=4, num_blocks=2, filters=8)
        >>> m(np.zeros((1, 5, 7, 3), "float32")).shape
        TensorShape([1, 20, 28, 3])

    Reference: https://arxiv.org/abs/1609.04802
    """

    def __init__(
        self,
        scale: int = 4,
        num_blocks: int = 16,
        filters: int = 64,
        channels: int = 3,
        **kwargs,
    ):
        config = dict(
            scale=scale, num_blocks=num_blocks, filters=filters, channels=channels
        )
        init = keras.initializers.get(TORCH_DEFAULT_INIT)
        inputs = image_input(channels)
        x = keras.layers.Conv2D(
            filters, 9, padding="same", kernel_initializer=init, name="conv_first"
        )(inputs)
        out1 = keras.layers.PReLU(
            alpha_initializer=keras.initializers.Constant(0.25),
            shared_axes=[1, 2],
            name="prelu_first",
        )(x)
        x = out1
        for i in range(num_blocks):
            x = SRResNetBlock(filters, name=f"block{i + 1}")(x)
        x = keras.layers.Conv2D(
            filters, 3, padding="same", kernel_initializer=init, name="conv_body"
        )(x)
        x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn_body")(
            x
        )
        x = keras.layers.Add(name="long_skip")([x, out1])
        x = SubPixelUpsampler(scale, filters, activation="prelu", name="upsampler")(x)
        x = keras.layers.Conv2D(
            channels, 9, padding="same", kernel_initializer=init, name="conv_last"
        )(x)
        super().__init__(
            inputs, x, scale=scale, channels=channels, config=config, **kwargs
        )


for _s in (2, 4):
    register_preset(
        f"srresnet_x{_s}",
        SRResNet,
        {"scale": _s},
        description=f"SRResNet (16 blocks, BN), RGB, x{_s}",
    )
