"""FSRCNN (Dong, Loy, Tang, ECCV 2016), METHODS.md section 2a."""

from __future__ import annotations

import keras

from keras_sr.models.base import SRBackbone, image_input
from keras_sr.models.presets import register_preset
from keras_sr.utils.registry import keras_sr_export

# N(0, sqrt(2 / (n_out * k^2))): He init on fan_out.
PRELU_HE_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"},
}
DECONV_INIT = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.001}}


def _prelu(name):
    return keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(0.25),
        shared_axes=[1, 2],
        name=name,
    )


@keras_sr_export("keras_sr.models.FSRCNN")
class FSRCNN(SRBackbone):
    """FSRCNN(d, s, m): feature extraction 5x5 (d), shrinking 1x1 (s),
    ``m`` x mapping 3x3 (s), expanding 1x1 (d), each followed by PReLU, then a
    9x9 transposed convolution with stride ``scale``.

    Input: LR Y ``[B, h, w, 1]`` float32 in ``[0, 1]``; output SR Y
    ``[B, h*s, w*s, 1]`` (``Conv2DTranspose(padding="same")`` gives exactly
    ``s`` times the input size).

    Args:
        scale: int. Defaults to 3.
        d, s, m: int. FSRCNN(56, 12, 4) by default; FSRCNN-s is (32, 5, 1).
        channels: int. Defaults to 1.

    Example:
        >>> import numpy as np
        >>> FSRCNN(scale=3)(np.zeros((1, 5, 7, 1), "float32")).shape
        TensorShape([1, 15, 21, 1])

    Reference: https://arxiv.org/abs/1608.00367
    """

    def __init__(
        self,
        scale: int = 3,
        d: int = 56,
        s: int = 12,
        m: int = 4,
        channels: int = 1,
        **kwargs,
    ):
        config = dict(scale=scale, d=d, s=s, m=m, channels=channels)
        init = keras.initializers.get(PRELU_HE_INIT)
        inputs = image_input(channels)
        x = inputs
        layers = [(d, 5, "extract"), (s, 1, "shrink")]
        layers += [(s, 3, f"map{i + 1}") for i in range(m)]
        layers += [(d, 1, "expand")]
        for filters, k, name in layers:
            x = keras.layers.Conv2D(
                filters, k, padding="same", kernel_initializer=init, name=name
            )(x)
            x = _prelu(f"{name}_prelu")(x)
        x = keras.layers.Conv2DTranspose(
            channels,
            9,
            strides=scale,
            padding="same",
            kernel_initializer=keras.initializers.get(DECONV_INIT),
            name="deconv",
        )(x)
        super().__init__(
            inputs, x, scale=scale, channels=channels, config=config, **kwargs
        )


for _s in (2, 3, 4):
    register_preset(
        f"fsrcnn_x{_s}",
        FSRCNN,
        {"scale": _s},
        weights="fsrcnn_x3.weights.h5" if _s == 3 else None,
        description=f"FSRCNN(56,12,4), Y channel, x{_s}",
        int8_weights="fsrcnn_x3.int8.weights.h5" if _s == 3 else None,
    )
register_preset(
    "fsrcnn_s_x3",
    FSRCNN,
    {"scale": 3, "d": 32, "s": 5, "m": 1},
    description="FSRCNN-s(32,5,1), Y channel, x3",
)
