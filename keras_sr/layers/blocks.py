"""Residual building blocks of the model zoo (EDSR, SRResNet, ESRGAN/SPSR).

All blocks take and return NHWC float tensors; spatial size is preserved
(``UpConv`` and ``SubPixelUpsampler`` multiply it by their factor).
"""

from __future__ import annotations

import keras
from keras import ops

from keras_sr.layers.core import PixelShuffle
from keras_sr.ops.resize import nearest_upsample
from keras_sr.utils.registry import keras_sr_export

# PyTorch's default Conv2d init (kaiming_uniform with a = sqrt(5)).
TORCH_DEFAULT_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_in", "distribution": "uniform"},
}
# ESRGAN/SPSR: Kaiming normal (fan_in) x 0.1 -> variance x 0.01 (METHODS 0.1).
ESRGAN_INIT = {
    "class_name": "VarianceScaling",
    "config": {
        "scale": 0.02,
        "mode": "fan_in",
        "distribution": "untruncated_normal",
    },
}
HE_NORMAL_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_in", "distribution": "untruncated_normal"},
}


def _init(value):
    """Accept a name, a config dict or an initializer; return an initializer."""
    return keras.initializers.get(value)


def _init_config(value):
    return keras.initializers.serialize(keras.initializers.get(value))


def _conv(filters, kernel_size, init, name, use_bias=True, padding="same"):
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        padding=padding,
        use_bias=use_bias,
        kernel_initializer=_init(init),
        name=name,
    )


@keras_sr_export("keras_sr.layers.ResidualBlock")
class ResidualBlock(keras.layers.Layer):
    """EDSR residual block ``x + res_scale * conv(relu(conv(x)))``, no BN.

    Args:
        filters: int. Channels of input and output. Defaults to 64.
        kernel_size: int. Defaults to 3.
        res_scale: float. Residual scaling (1 for EDSR-baseline, 0.1 for EDSR).
            Defaults to 1.0.
        kernel_initializer: initializer name/config. Defaults to PyTorch's
            default conv init.

    Example:
        >>> import numpy as np
        >>> ResidualBlock(8)(np.zeros((1, 5, 7, 8), "float32")).shape
        TensorShape([1, 5, 7, 8])
    """

    def __init__(
        self,
        filters: int = 64,
        kernel_size: int = 3,
        res_scale: float = 1.0,
        kernel_initializer=TORCH_DEFAULT_INIT,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.res_scale = float(res_scale)
        self.kernel_initializer = _init_config(kernel_initializer)
        self.conv1 = _conv(filters, kernel_size, self.kernel_initializer, "conv1")
        self.conv2 = _conv(filters, kernel_size, self.kernel_initializer, "conv2")

    def build(self, input_shape):
        self.conv1.build(input_shape)
        self.conv2.build(input_shape[:-1] + (self.filters,))

    def call(self, inputs):
        res = self.conv2(ops.relu(self.conv1(inputs)))
        if self.res_scale != 1.0:
            res = res * self.res_scale
        return inputs + res

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "res_scale": self.res_scale,
            "kernel_initializer": self.kernel_initializer,
        }


@keras_sr_export("keras_sr.layers.SRResNetBlock")
class SRResNetBlock(keras.layers.Layer):
    """SRResNet block ``x + BN(conv(PReLU(BN(conv(x)))))`` (Ledig et al. 2017).

    BatchNorm uses PyTorch's defaults (momentum 0.1 -> Keras 0.9, eps 1e-5);
    PReLU is per channel with alpha initialised to 0.25.

    Args:
        filters: int. Defaults to 64.

    Example:
        >>> import numpy as np
        >>> SRResNetBlock(8)(np.zeros((1, 5, 7, 8), "float32")).shape
        TensorShape([1, 5, 7, 8])
    """

    def __init__(self, filters: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.conv1 = _conv(filters, 3, TORCH_DEFAULT_INIT, "conv1")
        self.bn1 = keras.layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, name="bn1"
        )
        self.act = keras.layers.PReLU(
            alpha_initializer=keras.initializers.Constant(0.25),
            shared_axes=[1, 2],
            name="prelu",
        )
        self.conv2 = _conv(filters, 3, TORCH_DEFAULT_INIT, "conv2")
        self.bn2 = keras.layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, name="bn2"
        )

    def build(self, input_shape):
        shape = input_shape[:-1] + (self.filters,)
        self.conv1.build(input_shape)
        self.bn1.build(shape)
        self.act.build(shape)
        self.conv2.build(shape)
        self.bn2.build(shape)

    def call(self, inputs, training=None):
        x = self.act(self.bn1(self.conv1(inputs), training=training))
        return inputs + self.bn2(self.conv2(x), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras_sr_export("keras_sr.layers.ResidualDenseBlock")
class ResidualDenseBlock(keras.layers.Layer):
    """ESRGAN ``ResidualDenseBlock_5C``: five densely connected 3x3 convs
    (LeakyReLU 0.2 after the first four) and ``x + beta * x5``.

    Args:
        filters: int. Input/output channels ``nf``. Defaults to 64.
        growth: int. Channels added by each of the first four convs ``gc``.
            Defaults to 32.
        beta: float. Residual scaling. Defaults to 0.2.
        kernel_initializer: Defaults to Kaiming-normal x 0.1
            (``VarianceScaling(0.02, 'fan_in', 'untruncated_normal')``).

    Example:
        >>> import numpy as np
        >>> ResidualDenseBlock(8, 4)(np.zeros((1, 5, 7, 8), "float32")).shape
        TensorShape([1, 5, 7, 8])
    """

    def __init__(
        self,
        filters: int = 64,
        growth: int = 32,
        beta: float = 0.2,
        kernel_initializer=ESRGAN_INIT,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.growth = int(growth)
        self.beta = float(beta)
        self.kernel_initializer = _init_config(kernel_initializer)
        self.convs = [
            _conv(self.growth, 3, self.kernel_initializer, f"conv{i + 1}")
            for i in range(4)
        ] + [_conv(self.filters, 3, self.kernel_initializer, "conv5")]

    def build(self, input_shape):
        for i, conv in enumerate(self.convs):
            conv.build(input_shape[:-1] + (self.filters + i * self.growth,))

    def call(self, inputs):
        features = [inputs]
        for conv in self.convs[:4]:
            x = conv(ops.concatenate(features, axis=-1))
            features.append(ops.leaky_relu(x, negative_slope=0.2))
        x5 = self.convs[4](ops.concatenate(features, axis=-1))
        return inputs + self.beta * x5

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "growth": self.growth,
            "beta": self.beta,
            "kernel_initializer": self.kernel_initializer,
        }


@keras_sr_export("keras_sr.layers.RRDB")
class RRDB(keras.layers.Layer):
    """Residual-in-Residual Dense Block: three :class:`ResidualDenseBlock` and
    ``x + beta * RDB3(RDB2(RDB1(x)))`` (ESRGAN, METHODS 5.1).

    Args:
        filters: int. Defaults to 64.
        growth: int. Defaults to 32.
        beta: float. Defaults to 0.2 (used inside the RDBs too).
        kernel_initializer: Defaults to Kaiming-normal x 0.1.

    Example:
        >>> import numpy as np
        >>> RRDB(8, 4)(np.zeros((1, 5, 7, 8), "float32")).shape
        TensorShape([1, 5, 7, 8])
    """

    def __init__(
        self,
        filters: int = 64,
        growth: int = 32,
        beta: float = 0.2,
        kernel_initializer=ESRGAN_INIT,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.growth = int(growth)
        self.beta = float(beta)
        self.kernel_initializer = _init_config(kernel_initializer)
        self.rdbs = [
            ResidualDenseBlock(
                self.filters,
                self.growth,
                self.beta,
                self.kernel_initializer,
                name=f"rdb{i + 1}",
            )
            for i in range(3)
        ]

    def build(self, input_shape):
        for rdb in self.rdbs:
            rdb.build(input_shape)

    def call(self, inputs):
        x = inputs
        for rdb in self.rdbs:
            x = rdb(x)
        return inputs + self.beta * x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "growth": self.growth,
            "beta": self.beta,
            "kernel_initializer": self.kernel_initializer,
        }


@keras_sr_export("keras_sr.layers.UpConv")
class UpConv(keras.layers.Layer):
    """Nearest-neighbour upsampling by ``factor``, 3x3 conv, LeakyReLU 0.2
    (ESRGAN/SPSR ``upconv_block``).

    Args:
        filters: int. Output channels. Defaults to 64.
        factor: int. Nearest upsampling factor. Defaults to 2.
        negative_slope: float. LeakyReLU slope. Defaults to 0.2.
        kernel_initializer: Defaults to Kaiming-normal x 0.1.

    Example:
        >>> import numpy as np
        >>> UpConv(8, 2)(np.zeros((1, 5, 7, 3), "float32")).shape
        TensorShape([1, 10, 14, 8])
    """

    def __init__(
        self,
        filters: int = 64,
        factor: int = 2,
        negative_slope: float = 0.2,
        kernel_initializer=ESRGAN_INIT,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.factor = int(factor)
        self.negative_slope = float(negative_slope)
        self.kernel_initializer = _init_config(kernel_initializer)
        self.conv = _conv(self.filters, 3, self.kernel_initializer, "conv")

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, inputs):
        # Not UpSampling2D: its repeat-based graph does not convert to TFLite.
        x = self.conv(nearest_upsample(inputs, self.factor))
        return ops.leaky_relu(x, negative_slope=self.negative_slope)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        f = self.factor
        return (
            b,
            None if h is None else h * f,
            None if w is None else w * f,
            self.filters,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "factor": self.factor,
            "negative_slope": self.negative_slope,
            "kernel_initializer": self.kernel_initializer,
        }


@keras_sr_export("keras_sr.layers.SubPixelUpsampler")
class SubPixelUpsampler(keras.layers.Layer):
    """EDSR/SRResNet tail upsampler: ``log2(s)`` x [conv3x3 -> 4*F,
    PixelShuffle(2)] for ``s`` in {2, 4, 8}, or [conv3x3 -> 9*F,
    PixelShuffle(3)] for ``s = 3``; optional activation after each shuffle.

    Args:
        scale: int. 2, 3, 4 or 8.
        filters: int. Feature channels ``F`` in and out. Defaults to 64.
        activation: ``None`` (EDSR) or ``"prelu"`` (SRResNet). Defaults to None.
        kernel_initializer: Defaults to PyTorch's default conv init.

    Example:
        >>> import numpy as np
        >>> SubPixelUpsampler(4, 8)(np.zeros((1, 5, 7, 8), "float32")).shape
        TensorShape([1, 20, 28, 8])
    """

    def __init__(
        self,
        scale: int,
        filters: int = 64,
        activation: str | None = None,
        kernel_initializer=TORCH_DEFAULT_INIT,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.scale = int(scale)
        self.filters = int(filters)
        if activation not in (None, "prelu"):
            raise ValueError(f"activation must be None or 'prelu', got {activation!r}")
        self.activation = activation
        self.kernel_initializer = _init_config(kernel_initializer)
        if self.scale == 3:
            factors = [3]
        elif self.scale in (2, 4, 8):
            factors = [2] * {2: 1, 4: 2, 8: 3}[self.scale]
        else:
            raise ValueError(f"SubPixelUpsampler supports x2/x3/x4/x8, got {scale}")
        self.factors = factors
        self.convs = [
            _conv(self.filters * f * f, 3, self.kernel_initializer, f"conv{i + 1}")
            for i, f in enumerate(factors)
        ]
        self.shuffles = [
            PixelShuffle(f, name=f"shuffle{i + 1}") for i, f in enumerate(factors)
        ]
        self.acts = [
            keras.layers.PReLU(
                alpha_initializer=keras.initializers.Constant(0.25),
                shared_axes=[1, 2],
                name=f"prelu{i + 1}",
            )
            if activation == "prelu"
            else None
            for i in range(len(factors))
        ]

    def build(self, input_shape):
        b, h, w, _ = input_shape
        for conv, act, f in zip(self.convs, self.acts, self.factors, strict=False):
            conv.build((b, h, w, self.filters))
            h = None if h is None else h * f
            w = None if w is None else w * f
            if act is not None:
                act.build((b, h, w, self.filters))

    def call(self, inputs):
        x = inputs
        stages = zip(self.convs, self.shuffles, self.acts, strict=True)
        for conv, shuffle, act in stages:
            x = shuffle(conv(x))
            if act is not None:
                x = act(x)
        return x

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        s = self.scale
        return (
            b,
            None if h is None else h * s,
            None if w is None else w * s,
            self.filters,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "filters": self.filters,
            "activation": self.activation,
            "kernel_initializer": self.kernel_initializer,
        }
