"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016), METHODS.md section 1."""

from __future__ import annotations

import keras

from keras_sr.layers import BicubicUpsample, Pad2D
from keras_sr.models.base import SRBackbone, image_input
from keras_sr.models.presets import register_preset
from keras_sr.utils.registry import keras_sr_export

CAFFE_GAUSSIAN_INIT = {
    "class_name": "RandomNormal",
    "config": {"mean": 0.0, "stddev": 0.001},
}


@keras_sr_export("keras_sr.models.SRCNN")
class SRCNN(SRBackbone):
    """SRCNN ``f1-f2-f3``: MATLAB bicubic upsampling, then conv ``f1`` (n1,
    ReLU), conv ``f2`` (n2, ReLU), conv ``f3`` (linear).

    Input: LR Y channel ``[B, h, w, 1]`` float32 in ``[0, 1]`` (Y = MATLAB
    ``rgb2ycbcr`` / 255). Output: SR Y ``[B, h*s, w*s, 1]``.

    The paper trains with unpadded convs on 33x33 sub-images; at inference the
    authors' demo pads each layer by replicating the border, which is what
    ``padding="replicate"`` does so the output has full size.

    Args:
        scale: int. Upscaling factor. Defaults to 3.
        f1, f2, f3: int. Kernel sizes (9-1-5 base model, 9-5-5, 9-3-5).
        n1, n2: int. Filters of the first two layers. Defaults to 64, 32.
        channels: int. Image channels. Defaults to 1.
        padding: ``"replicate"``, ``"symmetric"``, ``"reflect"`` or ``"zero"``.
        kernel_initializer: Defaults to Gaussian std 0.001 (Caffe prototxt).

    Example:
        >>> import numpy as np
        >>> m = SRCNN(scale=3)
        >>> m.count_params()
        8129
        >>> m(np.zeros((1, 5, 7, 1), "float32")).shape
        TensorShape([1, 15, 21, 1])

    Reference: https://arxiv.org/abs/1501.00092
    """

    def __init__(
        self,
        scale: int = 3,
        f1: int = 9,
        f2: int = 1,
        f3: int = 5,
        n1: int = 64,
        n2: int = 32,
        channels: int = 1,
        padding: str = "replicate",
        kernel_initializer=CAFFE_GAUSSIAN_INIT,
        **kwargs,
    ):
        for k in (f1, f2, f3):
            if k % 2 != 1:
                raise ValueError(f"SRCNN kernel sizes must be odd, got {f1}-{f2}-{f3}")
        config = dict(
            scale=scale,
            f1=f1,
            f2=f2,
            f3=f3,
            n1=n1,
            n2=n2,
            channels=channels,
            padding=padding,
            kernel_initializer=keras.initializers.serialize(
                keras.initializers.get(kernel_initializer)
            ),
        )
        # === Functional Model ===
        inputs = image_input(channels)
        x = BicubicUpsample(scale, name="bicubic")(inputs)
        for i, (k, n, act) in enumerate(
            [(f1, n1, "relu"), (f2, n2, "relu"), (f3, channels, None)]
        ):
            if k > 1:
                x = Pad2D(k // 2, padding, name=f"pad{i + 1}")(x)
            x = keras.layers.Conv2D(
                n,
                k,
                padding="valid",
                activation=act,
                kernel_initializer=keras.initializers.get(config["kernel_initializer"]),
                name=f"conv{i + 1}",
            )(x)
        super().__init__(
            inputs, x, scale=scale, channels=channels, config=config, **kwargs
        )


# === Presets ===
for _s in (2, 3, 4):
    register_preset(
        f"srcnn_x{_s}",
        SRCNN,
        {"scale": _s, "f2": 1},
        weights="srcnn_x3.weights.h5" if _s == 3 else None,
        description=f"SRCNN 9-1-5, Y channel, x{_s}",
    )
register_preset(
    "srcnn_955_x3",
    SRCNN,
    {"scale": 3, "f2": 5},
    description="SRCNN 9-5-5, Y channel, x3",
)
