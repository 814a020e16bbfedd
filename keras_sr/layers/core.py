"""Shape-changing and normalisation layers shared by the model zoo.

Tensor convention everywhere: NHWC float32, images in ``[0, 1]`` (RGB or Y).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_sr.utils.registry import keras_sr_export

# DIV2K RGB mean used by EDSR (sanghyun-son/EDSR-PyTorch common.MeanShift).
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)

PAD_MODES = ("zero", "reflect", "symmetric", "replicate")


@keras_sr_export("keras_sr.layers.PixelShuffle")
class PixelShuffle(keras.layers.Layer):
    """Sub-pixel rearrangement ``[B, h, w, C*r*r] -> [B, h*r, w*r, C]``.

    Wraps ``keras.ops.depth_to_space`` and therefore uses TensorFlow's depth
    order: output pixel ``(i, j)`` of channel ``c`` inside each ``r x r`` cell
    reads input depth ``(i*r + j)*C + c``. PyTorch's ``nn.PixelShuffle`` reads
    channel ``c*r*r + i*r + j`` instead; when porting PyTorch weights permute
    the output channels of the preceding convolution.

    Args:
        scale: int. Upscaling factor ``r``.

    Input shape: ``(B, h, w, C*r*r)``. Output shape: ``(B, h*r, w*r, C)``.

    Example:
        >>> import numpy as np
        >>> PixelShuffle(2)(np.zeros((1, 3, 5, 4), "float32")).shape
        TensorShape([1, 6, 10, 1])
    """

    def __init__(self, scale: int, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)
        if self.scale < 1:
            raise ValueError(f"PixelShuffle scale must be >= 1, got {scale}")

    def call(self, inputs):
        return ops.depth_to_space(inputs, self.scale, data_format="channels_last")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        r = self.scale
        if c is not None and c % (r * r):
            raise ValueError(
                f"PixelShuffle({r}) needs channels divisible by {r * r}, got {c}"
            )
        return (
            b,
            None if h is None else h * r,
            None if w is None else w * r,
            None if c is None else c // (r * r),
        )

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras_sr_export("keras_sr.layers.MeanShift")
class MeanShift(keras.layers.Layer):
    """Subtract (``sign=-1``) or add (``sign=+1``) a fixed per-channel mean,
    scaled by ``value_range`` (EDSR's ``sub_mean`` / ``add_mean``).

    ``y = x + sign * value_range * mean``. The layer has no weights, so it does
    not change parameter counts (EDSR-baseline x4 has 1,517,571 parameters).

    Args:
        mean: sequence of floats. Per-channel mean in ``[0, 1]``. Defaults to
            the DIV2K RGB mean ``(0.4488, 0.4371, 0.4040)``.
        sign: ``-1`` or ``1``. Defaults to ``-1``.
        value_range: float. Scale of the mean (EDSR works on ``0..255``).
            Defaults to ``1.0``.

    Example:
        >>> import numpy as np
        >>> x = np.full((1, 2, 2, 3), 0.5, "float32")
        >>> round(float(MeanShift(sign=-1)(x)[0, 0, 0, 0]), 4)  # 0.5 - 0.4488
        0.0512
    """

    def __init__(
        self,
        mean: Sequence[float] = DIV2K_RGB_MEAN,
        sign: int = -1,
        value_range: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if sign not in (-1, 1):
            raise ValueError(f"MeanShift sign must be -1 or 1, got {sign}")
        self.mean = tuple(float(m) for m in mean)
        self.sign = int(sign)
        self.value_range = float(value_range)

    def call(self, inputs):
        shift = ops.convert_to_tensor(
            [self.sign * self.value_range * m for m in self.mean], dtype=inputs.dtype
        )
        return inputs + ops.reshape(shift, (1, 1, 1, -1))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "mean": list(self.mean),
            "sign": self.sign,
            "value_range": self.value_range,
        }


@keras_sr_export("keras_sr.layers.BicubicUpsample")
class BicubicUpsample(keras.layers.Layer):
    """MATLAB ``imresize(x, scale, 'bicubic')`` as a layer (no weights).

    Pre-upsampling networks (SRCNN, VDSR, GLRL) start with it so that every
    model of the zoo maps LR ``[B, h, w, C]`` to SR ``[B, h*s, w*s, C]``.
    Float input in, float output (not clipped), exactly
    :func:`keras_sr.ops.imresize` on float data.

    Args:
        scale: int. Upscaling factor.

    Example:
        >>> import numpy as np
        >>> BicubicUpsample(3)(np.zeros((2, 5, 7, 1), "float32")).shape
        TensorShape([2, 15, 21, 1])
    """

    def __init__(self, scale: int, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, inputs):
        from keras_sr.ops.resize import imresize

        return imresize(inputs, scale=self.scale)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.scale
        return (b, None if h is None else h * s, None if w is None else w * s, c)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras_sr_export("keras_sr.layers.Pad2D")
class Pad2D(keras.layers.Layer):
    """Pad H and W by ``padding`` pixels per side with a chosen border rule.

    Args:
        padding: int. Pixels added on each side of H and W.
        mode: one of ``"zero"``, ``"reflect"`` (mirror without the edge pixel),
            ``"symmetric"`` (mirror with the edge pixel), ``"replicate"``
            (repeat the edge pixel, MATLAB ``imfilter(..., 'replicate')``).
            Defaults to ``"replicate"``.

    Example:
        >>> import numpy as np
        >>> Pad2D(2, "replicate")(np.zeros((1, 4, 5, 1), "float32")).shape
        TensorShape([1, 8, 9, 1])
    """

    def __init__(self, padding: int, mode: str = "replicate", **kwargs):
        super().__init__(**kwargs)
        if mode not in PAD_MODES:
            raise ValueError(f"Pad2D mode must be one of {PAD_MODES}, got {mode!r}")
        self.padding = int(padding)
        self.mode = mode

    def call(self, inputs):
        p = self.padding
        if p == 0:
            return inputs
        if self.mode == "replicate":
            x = inputs
            top = ops.repeat(x[:, :1], p, axis=1)
            bottom = ops.repeat(x[:, -1:], p, axis=1)
            x = ops.concatenate([top, x, bottom], axis=1)
            left = ops.repeat(x[:, :, :1], p, axis=2)
            right = ops.repeat(x[:, :, -1:], p, axis=2)
            return ops.concatenate([left, x, right], axis=2)
        mode = "constant" if self.mode == "zero" else self.mode
        return ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode=mode)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        p = 2 * self.padding
        return (b, None if h is None else h + p, None if w is None else w + p, c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "mode": self.mode}


@keras_sr_export("keras_sr.layers.WeightedSum")
class WeightedSum(keras.layers.Layer):
    """Learned scalar-weighted sum of ``n`` same-shaped tensors,
    ``sum_d w_d x_d`` (or ``sum_d w_d x_d / sum_d w_d`` with ``normalize``),
    as the output ensemble of DRCN / GLRL.

    Args:
        n: int. Number of inputs.
        normalize: bool. Divide by the sum of the weights. Defaults to False.
        initial_weight: float or None. Initial value of every ``w_d``;
            ``None`` means ``1/n``. Defaults to None.

    Example:
        >>> import numpy as np
        >>> a = np.ones((1, 2, 2, 1), "float32")
        >>> float(WeightedSum(2)([a, 3 * a])[0, 0, 0, 0])  # (1 + 3) / 2
        2.0
    """

    def __init__(
        self,
        n: int,
        normalize: bool = False,
        initial_weight: float | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n = int(n)
        self.normalize = bool(normalize)
        self.initial_weight = None if initial_weight is None else float(initial_weight)

    def build(self, input_shape):
        init = self.initial_weight if self.initial_weight is not None else 1.0 / self.n
        self.w = self.add_weight(
            shape=(self.n,),
            initializer=keras.initializers.Constant(init),
            name="w",
        )

    def call(self, inputs):
        if len(inputs) != self.n:
            raise ValueError(f"WeightedSum expects {self.n} inputs, got {len(inputs)}")
        w = ops.cast(self.w, inputs[0].dtype)
        total = inputs[0] * w[0]
        for i in range(1, self.n):
            total = total + inputs[i] * w[i]
        if self.normalize:
            total = total / ops.sum(w)
        return total

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {
            **super().get_config(),
            "n": self.n,
            "normalize": self.normalize,
            "initial_weight": self.initial_weight,
        }
