"""ESPCN (Shi et al., CVPR 2016), METHODS.md section 2b."""

from __future__ import annotations

import keras

from keras_sr.layers import PixelShuffle
from keras_sr.models.base import SRBackbone, image_input
from keras_sr.models.fsrcnn import DECONV_INIT, PRELU_HE_INIT
from keras_sr.models.presets import register_preset
from keras_sr.utils.registry import keras_sr_export


@keras_sr_export("keras_sr.models.ESPCN")
class ESPCN(SRBackbone):
    """ESPCN: conv 5x5 (64, tanh), conv 3x3 (32, tanh), conv 3x3
    (``scale^2 * channels``), periodic shuffling (:class:`PixelShuffle`).

    Input: LR Y ``[B, h, w, 1]`` float32 in ``[0, 1]``; output SR Y.

    Args:
        scale: int. Defaults to 3.
        filters: tuple of two ints. Defaults to (64, 32).
        activation: ``"tanh"`` (paper) or ``"relu"``. Defaults to "tanh".
        channels: int. Defaults to 1.

    Example:
        >>> import numpy as np
        >>> m = ESPCN(scale=3)
        >>> m.count_params()
        22729
        >>> m(np.zeros((1, 5, 7, 1), "float32")).shape
        TensorShape([1, 15, 21, 1])

    Reference: https://arxiv.org/abs/1609.05158
    """

    def __init__(
        self,
        scale: int = 3,
        filters=(64, 32),
        activation: str = "tanh",
        channels: int = 1,
        **kwargs,
    ):
        if activation not in ("tanh", "relu"):
            raise ValueError(f"activation must be 'tanh' or 'relu', got {activation!r}")
        filters = [int(f) for f in filters]
        config = dict(
            scale=scale, filters=filters, activation=activation, channels=channels
        )
        init = keras.initializers.get(PRELU_HE_INIT)
        inputs = image_input(channels)
        x = keras.layers.Conv2D(
            filters[0],
            5,
            padding="same",
            activation=activation,
            kernel_initializer=init,
            name="conv1",
        )(inputs)
        x = keras.layers.Conv2D(
            filters[1],
            3,
            padding="same",
            activation=activation,
            kernel_initializer=init,
            name="conv2",
        )(x)
        x = keras.layers.Conv2D(
            scale * scale * channels,
            3,
            padding="same",
            kernel_initializer=keras.initializers.get(DECONV_INIT),
            name="conv3",
        )(x)
        x = PixelShuffle(scale, name="shuffle")(x)
        super().__init__(
            inputs, x, scale=scale, channels=channels, config=config, **kwargs
        )


for _s in (2, 3, 4):
    register_preset(
        f"espcn_x{_s}",
        ESPCN,
        {"scale": _s},
        weights="espcn_x3.weights.h5" if _s == 3 else None,
        int8_weights="espcn_x3.int8.weights.h5" if _s == 3 else None,
        description=f"ESPCN (tanh), Y channel, x{_s}",
    )
