"""RRDBNet, the ESRGAN generator (Wang et al., ECCVW 2018), METHODS.md 5.1."""

from __future__ import annotations

import keras

from keras_sr.layers import RRDB, UpConv
from keras_sr.layers.blocks import ESRGAN_INIT
from keras_sr.models.base import SRBackbone, image_input
from keras_sr.models.presets import register_preset
from keras_sr.utils.registry import keras_sr_export


def upconv_factors(scale: int) -> list[int]:
    """Nearest-upsampling stages: x2 -> [2], x3 -> [3], x4 -> [2, 2], x8 -> [2]*3."""
    table = {2: [2], 3: [3], 4: [2, 2], 8: [2, 2, 2]}
    if scale not in table:
        raise ValueError(f"RRDBNet supports x2/x3/x4/x8, got {scale}")
    return table[scale]


def apply_rrdb_trunk(
    inputs, filters: int, growth: int, num_blocks: int, scale: int
) -> tuple:
    """The ESRGAN trunk shared by :class:`RRDBNet` and SPSR's SR branch.

    ``conv_first -> num_blocks x RRDB -> trunk_conv -> + conv_first ->
    upconvs -> hr_conv -> LeakyReLU 0.2``. The layer names are the same in
    both models, so an RRDBNet checkpoint initialises SPSR's trunk by name.

    Returns:
        ``(hr_features, block_outputs)``: the HR feature map (``filters``
        channels) and the output of every RRDB, in order.
    """
    init = keras.initializers.get(ESRGAN_INIT)

    def conv(name):
        return keras.layers.Conv2D(
            filters, 3, padding="same", kernel_initializer=init, name=name
        )

    fea = conv("conv_first")(inputs)
    x = fea
    block_outputs = []
    for i in range(num_blocks):
        x = RRDB(filters, growth, name=f"rrdb{i + 1}")(x)
        block_outputs.append(x)
    x = keras.layers.Add(name="trunk_skip")([fea, conv("trunk_conv")(x)])
    for i, f in enumerate(upconv_factors(scale)):
        x = UpConv(filters, f, name=f"upconv{i + 1}")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2, name="hr_lrelu")(conv("hr_conv")(x))
    return x, block_outputs


@keras_sr_export("keras_sr.models.RRDBNet")
class RRDBNet(SRBackbone):
    """RRDBNet: conv_first, ``num_blocks`` x :class:`RRDB`, trunk conv + skip,
    nearest-upsampling :class:`UpConv` stages, HR conv + LeakyReLU, conv_last.

    Input: LR RGB ``[B, h, w, 3]`` float32 in ``[0, 1]``; output SR RGB (no
    output activation, not clipped).

    Args:
        scale: int. 2, 3, 4 or 8. Defaults to 4.
        filters: int. ``nf``. Defaults to 64.
        num_blocks: int. ``nb``. Defaults to 23.
        growth: int. ``gc``. Defaults to 32.
        channels: int. Defaults to 3.

    Example:
        >>> import numpy as np
        >>> m = RRDBNet(scale=4, filters=8, num_blocks=1, growth=4)
        >>> m(np.zeros((1, 5, 7, 3), "float32")).shape
        TensorShape([1, 20, 28, 3])

    Reference: https://arxiv.org/abs/1809.00219
    """

    def __init__(
        self,
        scale: int = 4,
        filters: int = 64,
        num_blocks: int = 23,
        growth: int = 32,
        channels: int = 3,
        **kwargs,
    ):
        config = dict(
            scale=scale,
            filters=filters,
            num_blocks=num_blocks,
            growth=growth,
            channels=channels,
        )
        init = keras.initializers.get(ESRGAN_INIT)
        inputs = image_input(channels)
        x, _ = apply_rrdb_trunk(inputs, filters, growth, num_blocks, scale)
        x = keras.layers.Conv2D(
            channels, 3, padding="same", kernel_initializer=init, name="conv_last"
        )(x)
        super().__init__(
            inputs, x, scale=scale, channels=channels, config=config, **kwargs
        )


for _s in (2, 3, 4):
    register_preset(
        f"rrdbnet_x{_s}",
        RRDBNet,
        {"scale": _s},
        description=f"RRDBNet (23 RRDB, ESRGAN generator), RGB, x{_s}",
    )
