"""VGG-style discriminators with PyTorch-exact padding.

``Discriminator_VGG_128`` of ESRGAN / SPSR (METHODS.md §5.2) and the
structure-feature discriminator ``D_SF`` of SPSR-P / SPSR-J (§6.7).

Every strided 4x4 conv is ``ZeroPadding2D(1)`` + ``Conv2D(padding="valid")``,
which reproduces PyTorch's ``padding=1``: a side ``n`` maps to ``floor(n / 2)``.
So both 128x128 images (128->64->32->16->8->4) and SPSR's 130x130 gradient
maps (130->65->32->16->8->4) end at 4x4x512 and fit the same ``Linear(8192,
100)``. ``padding="same"`` would give 5x5 for 130 inputs.
"""

from __future__ import annotations

import contextlib

import keras

from keras_sr.utils import keras_sr_export

__all__ = ["StructureDiscriminator", "VGGStyleDiscriminator", "pytorch_conv"]


def _kaiming(scale: float = 1.0) -> keras.initializers.Initializer:
    # PyTorch kaiming_normal_(a=0, mode="fan_in") * scale (METHODS.md §0.1 item 5).
    return keras.initializers.VarianceScaling(
        2.0 * scale * scale, "fan_in", "untruncated_normal"
    )


def pytorch_conv(
    x,
    filters: int,
    kernel_size: int,
    strides: int,
    name: str,
    use_bias: bool = True,
):
    """A conv with PyTorch ``padding=1`` semantics (explicit pad + valid)."""
    if strides == 1 and kernel_size == 3:
        # Odd kernel, stride 1: "same" equals PyTorch pad 1 exactly.
        return keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=use_bias,
            kernel_initializer=_kaiming(),
            name=name,
        )(x)
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="valid",
        use_bias=use_bias,
        kernel_initializer=_kaiming(),
        name=name,
    )(x)


@contextlib.contextmanager
def _policy(layer_dtype: str | None):
    """Build layers under ``layer_dtype`` (e.g. float32 discriminators in a
    mixed_float16 run), then restore the global policy."""
    if layer_dtype is None:
        yield
        return
    old = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(layer_dtype)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(old)


def _vgg_stack(x, rows, use_bn: bool, first_bn: bool, prefix: str = ""):
    for i, (index, kernel, stride, filters) in enumerate(rows):
        name = f"{prefix}conv{index}"
        x = pytorch_conv(x, filters, kernel, stride, name)
        if use_bn and (i > 0 or first_bn):
            x = keras.layers.BatchNormalization(
                momentum=0.9, epsilon=1e-5, name=f"{name}_bn"
            )(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x)
    return x


def _head(x, dense_units: int):
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, kernel_initializer=_kaiming(), name="linear1")(
        x
    )
    x = keras.layers.LeakyReLU(0.2, name="linear1_lrelu")(x)
    return keras.layers.Dense(
        1, kernel_initializer=_kaiming(), name="linear2", dtype="float32"
    )(x)


# The VGG-128 table (METHODS.md §5.2): (row, kernel, stride, channels / nf).
_VGG128_ROWS = (
    (0, 3, 1, 1),
    (1, 4, 2, 1),
    (2, 3, 1, 2),
    (3, 4, 2, 2),
    (4, 3, 1, 4),
    (5, 4, 2, 4),
    (6, 3, 1, 8),
    (7, 4, 2, 8),
    (8, 3, 1, 8),
    (9, 4, 2, 8),
)


class _VGGTableDiscriminator(keras.Model):
    """Rows ``first_row..9`` of the VGG-128 table, then the Dense head.

    Subclasses set ``first_row`` and ``min_input_size``; the constructor
    arguments (and so ``get_config``) are shared.
    """

    first_row = 0
    min_input_size = 32

    def __init__(
        self,
        input_size: int,
        in_channels: int,
        base_filters: int = 64,
        dense_units: int = 100,
        use_bn: bool = True,
        layer_dtype: str | None = None,
        **kwargs,
    ):
        if int(input_size) < self.min_input_size:
            raise ValueError(
                f"{type(self).__name__} needs input_size >= "
                f"{self.min_input_size}, got {input_size}."
            )
        nf = int(base_filters)
        rows = [(i, k, st, m * nf) for i, k, st, m in _VGG128_ROWS[self.first_row :]]
        inputs = keras.Input((int(input_size), int(input_size), int(in_channels)))
        with _policy(layer_dtype):
            x = _vgg_stack(inputs, rows, use_bn, first_bn=False)
            outputs = _head(x, int(dense_units))
        super().__init__(inputs, outputs, **kwargs)
        self.input_size = int(input_size)
        self.in_channels = int(in_channels)
        self.base_filters = nf
        self.dense_units = int(dense_units)
        self.use_bn = bool(use_bn)
        self.layer_dtype = layer_dtype

    def get_config(self) -> dict:
        return {
            "input_size": self.input_size,
            "in_channels": self.in_channels,
            "base_filters": self.base_filters,
            "dense_units": self.dense_units,
            "use_bn": self.use_bn,
            "layer_dtype": self.layer_dtype,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras_sr_export("keras_sr.gan.VGGStyleDiscriminator")
class VGGStyleDiscriminator(_VGGTableDiscriminator):
    """ESRGAN / SPSR ``Discriminator_VGG_128`` (METHODS.md §5.2).

    Ten convs (3x3/s1 and 4x4/s2 alternating, channels ``nf, nf, 2nf, 2nf, 4nf,
    4nf, 8nf, 8nf, 8nf, 8nf``), BatchNorm on all but the first, LeakyReLU 0.2,
    then ``Flatten -> Dense(100) -> LReLU -> Dense(1)``. The output is a logit
    (no sigmoid), shape ``(B, 1)``, float32.

    Input: NHWC float images with a static side ``input_size`` (128 for RGB
    patches in [0, 1]; 130 for SPSR's padded gradient maps). Any side works as
    long as it is at least 32; 128 and 130 both reach a 4x4 map.

    Args:
        input_size: int. Height and width of the input. Defaults to 128.
        in_channels: int. Input channels. Defaults to 3.
        base_filters: int. ``nf``; 64 in the papers. Defaults to 64.
        dense_units: int. Width of the hidden Dense layer. Defaults to 100.
        use_bn: bool. BatchNorm (momentum 0.9, eps 1e-5 = PyTorch defaults).
        layer_dtype: str or None. Dtype policy of the layers (None: the global
            policy). ``"float32"`` keeps the discriminator in full precision in
            a ``mixed_float16`` run: float16 BatchNorm overflows on the
            near-constant outputs of a freshly initialised generator.

    Example:
        >>> import numpy as np
        >>> d = VGGStyleDiscriminator(input_size=130, base_filters=4)
        >>> d(np.zeros((2, 130, 130, 3), "float32")).shape
        TensorShape([2, 1])
    """

    first_row = 0
    min_input_size = 32  # five stride-2 convs

    def __init__(
        self,
        input_size: int = 128,
        in_channels: int = 3,
        base_filters: int = 64,
        dense_units: int = 100,
        use_bn: bool = True,
        layer_dtype: str | None = None,
        **kwargs,
    ):
        super().__init__(
            input_size,
            in_channels,
            base_filters,
            dense_units,
            use_bn,
            layer_dtype,
            **kwargs,
        )


@keras_sr_export("keras_sr.gan.StructureDiscriminator")
class StructureDiscriminator(_VGGTableDiscriminator):
    """``D_SF`` of SPSR-P / SPSR-J: a discriminator on NSE structure features.

    Rows conv4..conv9 of the VGG-128 table (METHODS.md §6.7, a [DESIGN]
    choice): channels ``4nf, 4nf, 8nf, 8nf, 8nf, 8nf`` with three stride-2
    4x4 convs, no BatchNorm on the first conv, then ``Dense(100) -> LReLU ->
    Dense(1)``. For a 128x128 HR patch the NSE gives 32x32x32 features and the
    chain is 32->16->8->4. Output: logits ``(B, 1)``, float32.

    Args:
        input_size: int. Side of the feature map (HR patch / 4). Defaults to 32.
        in_channels: int. NSE channels. Defaults to 32.
        base_filters: int. ``nf``. Defaults to 64.
        dense_units: int. Defaults to 100.
        use_bn: bool. Defaults to True.
        layer_dtype: str or None. See :class:`VGGStyleDiscriminator`.

    Example:
        >>> import numpy as np
        >>> d = StructureDiscriminator(input_size=32, base_filters=4)
        >>> d(np.zeros((1, 32, 32, 32), "float32")).shape
        TensorShape([1, 1])
    """

    first_row = 4  # rows conv4..conv9
    min_input_size = 8  # three stride-2 convs

    def __init__(
        self,
        input_size: int = 32,
        in_channels: int = 32,
        base_filters: int = 64,
        dense_units: int = 100,
        use_bn: bool = True,
        layer_dtype: str | None = None,
        **kwargs,
    ):
        super().__init__(
            input_size,
            in_channels,
            base_filters,
            dense_units,
            use_bn,
            layer_dtype,
            **kwargs,
        )
