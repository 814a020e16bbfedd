"""Edge-aware learned interpolation of seed 000 (LHSP): ``PixelPlacement``
puts LR feature vectors on the HR grid slightly away from local edges, and
``ShepardUpsampling`` fills the grid by Shepard-normalised convolution
(METHODS §8.3, §8.4).

Tensor conventions: NHWC; features float (any float compute dtype); the luma
that steers the placement is the LR Y channel in ``[0, 1]``, ``[B, h, w, 1]``.
The HR grid is ``[B, h*s, w*s, C]`` and the indicator mask ``[B, h*s, w*s, 1]``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_sr.ops.placement import pixel_placement, placement_offsets
from keras_sr.utils.registry import keras_sr_export

__all__ = ["PixelPlacement", "ShepardUpsampling", "shepard_tent_kernel"]

SHEPARD_MODES = ("depthwise", "shared_full")


def _check_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _scale_shape(dim: int | None, s: int) -> int | None:
    return None if dim is None else dim * s


@keras_sr_export("keras_sr.layers.PixelPlacement")
class PixelPlacement(keras.layers.Layer):
    """Place LR features on the HR grid, moved away from local edges.

    Calls :func:`keras_sr.ops.placement_offsets` on the luma (a constant, no
    gradient) and :func:`keras_sr.ops.pixel_placement` on the features: each
    feature vector lands at one position inside its own ``scale x scale`` HR
    cell, and the gradient returns to its original LR position.

    Args:
        scale: int, the upscaling factor ``s``.
        displacement: bool. ``False`` places every pixel at the cell centre
            (the "placement disabled" ablation; then this is the zero-insertion
            of a strided transposed convolution, with MATLAB's pixel centres).
        rho, tau, min_magnitude, ridge_epsilon, epsilon: the [GUESS]/[DESIGN]
            values of :func:`keras_sr.ops.placement_offsets` (defaults 1.0,
            0.1, 0.02, 1e-4, 1e-12).

    Call arguments:
        inputs: ``[features, luma]``: features ``[B, h, w, C]`` float and luma
            ``[B, h, w, 1]`` in ``[0, 1]``.

    Returns:
        ``(grid, mask)``: ``[B, h*s, w*s, C]`` and ``[B, h*s, w*s, 1]`` (0/1).

    Example:
        >>> import numpy as np
        >>> y = np.random.rand(2, 8, 8, 1).astype("float32")
        >>> feats = np.random.rand(2, 8, 8, 16).astype("float32")
        >>> grid, mask = PixelPlacement(3)([feats, y])
        >>> grid.shape, mask.shape, float(mask.numpy().sum())
        (TensorShape([2, 24, 24, 16]), TensorShape([2, 24, 24, 1]), 128.0)
    """

    def __init__(
        self,
        scale: int,
        displacement: bool = True,
        rho: float = 1.0,
        tau: float = 0.1,
        min_magnitude: float = 0.02,
        ridge_epsilon: float = 1e-4,
        epsilon: float = 1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.scale = _check_int("scale", scale)
        self.displacement = bool(displacement)
        self.rho = float(rho)
        self.tau = float(tau)
        if self.tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.min_magnitude = float(min_magnitude)
        self.ridge_epsilon = float(ridge_epsilon)
        self.epsilon = float(epsilon)

    def offsets(self, luma: tf.Tensor) -> tf.Tensor:
        """The int32 ``[B, h, w, 2]`` offsets this layer uses for ``luma``."""
        luma = tf.convert_to_tensor(luma)
        if not self.displacement:
            centre = self.scale // 2  # floor(c + 0.5) with c = (s-1)/2
            zeros = tf.zeros_like(tf.cast(luma, tf.int32))
            return tf.concat([zeros + centre, zeros + centre], axis=-1)
        return placement_offsets(
            luma,
            self.scale,
            rho=self.rho,
            tau=self.tau,
            min_magnitude=self.min_magnitude,
            ridge_epsilon=self.ridge_epsilon,
            epsilon=self.epsilon,
        )

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("PixelPlacement expects inputs [features, luma]")
        features, luma = inputs
        features = tf.cast(features, self.compute_dtype)
        return pixel_placement(features, self.offsets(luma), self.scale)

    def compute_output_shape(self, input_shape):
        (b, h, w, c), _ = input_shape
        s = self.scale
        hr = (_scale_shape(h, s), _scale_shape(w, s))
        return (b, *hr, c), (b, *hr, 1)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "displacement": self.displacement,
            "rho": self.rho,
            "tau": self.tau,
            "min_magnitude": self.min_magnitude,
            "ridge_epsilon": self.ridge_epsilon,
            "epsilon": self.epsilon,
        }


def shepard_tent_kernel(
    scale: int, kernel_size: int, floor: float = 0.01
) -> np.ndarray:
    """``[k, k]`` separable tent ``max(0, 1-|d|/s)`` (+ ``floor``), centred.

    With pixels at the cell centres, Shepard interpolation with this kernel is
    bilinear interpolation (up to the small ``floor``): the initialisation of
    :class:`ShepardUpsampling`.
    """
    d = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2.0
    t = np.maximum(0.0, 1.0 - np.abs(d) / float(scale))
    return np.outer(t, t) + floor


def _softplus_inverse(y: np.ndarray) -> np.ndarray:
    return np.log(np.expm1(y))


@keras_sr_export("keras_sr.layers.ShepardUpsampling")
class ShepardUpsampling(keras.layers.Layer):
    """Shepard-normalised (de)convolution of a placed HR grid (METHODS §8.4).

    ``mode="depthwise"`` (default, the well-posed variant [DESIGN]): per channel
    ``c`` a non-negative ``k x k`` kernel ``w_c = softplus(a_c)``;
    ``I_c = (w_c * P_c) / maximum(w_c * M, denominator_floor)``, then a 1x1
    channel mixing to ``filters`` with bias (skipped if ``filters`` is None,
    leaving a per-channel bias) and the activation. Since there is one placed
    pixel per ``s x s`` cell, any ``k >= 2s-1`` window holds at least one, so
    the denominator is positive everywhere; the floor guards the division and
    must be representable in full-int8 TFLite (the int8 DIV kernel aborts on a
    zero denominator), so the int8 exporter raises it to
    :meth:`int8_denominator_floor` for the conversion.

    ``mode="shared_full"`` (the literal seed formula ``D(P)/D(M)``): one full
    ``k x k x C x filters`` kernel ``K`` for numerator and denominator,
    ``den = K * (M x 1_C)``, ``den`` replaced by ``floor*sign(den)`` (sign(0)=+1)
    where ``|den| < floor``; initialised non-negative. Float only: its
    denominator can cross zero.

    Both are initialised to the tent kernel of :func:`shepard_tent_kernel`, so
    with unmoved pixels the layer starts as bilinear interpolation.

    Args:
        scale: int, the factor of the preceding placement (sets the default
            kernel size ``2*scale + 1`` and the tent initialisation).
        filters: int or None. Output channels of the 1x1 mixing (``depthwise``)
            or of ``K`` (``shared_full``, where None means "same as input").
        kernel_size: odd int or None (``2*scale + 1``).
        activation: output activation (default ``"relu"``).
        denominator_floor: float, lower bound of the denominator [DESIGN 1e-6].
        mode: ``"depthwise"`` or ``"shared_full"``.

    Call arguments:
        inputs: ``[grid, mask]``, ``[B, H, W, C]`` and ``[B, H, W, 1]`` as
            returned by :class:`PixelPlacement`.

    Returns:
        ``[B, H, W, filters]`` (or ``C`` channels if ``filters`` is None).

    Example:
        >>> import numpy as np
        >>> y = np.random.rand(1, 6, 6, 1).astype("float32")
        >>> grid, mask = PixelPlacement(2, displacement=False)([y, y])
        >>> out = ShepardUpsampling(2, filters=None, activation=None)([grid, mask])
        >>> out.shape
        TensorShape([1, 12, 12, 1])
    """

    def __init__(
        self,
        scale: int,
        filters: int | None = 32,
        kernel_size: int | None = None,
        activation: str | None = "relu",
        denominator_floor: float = 1e-6,
        mode: str = "depthwise",
        mixing_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.scale = _check_int("scale", scale)
        self.filters = None if filters is None else _check_int("filters", filters)
        k = 2 * self.scale + 1 if kernel_size is None else kernel_size
        self.kernel_size = _check_int("kernel_size", k)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        self.activation = keras.activations.get(activation)
        self.denominator_floor = float(denominator_floor)
        if not self.denominator_floor > 0:
            raise ValueError(f"denominator_floor must be > 0, got {denominator_floor}")
        if mode not in SHEPARD_MODES:
            raise ValueError(f"mode must be one of {SHEPARD_MODES}, got {mode!r}")
        self.mode = mode
        self.mixing_initializer = keras.initializers.get(mixing_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self._kernel_size_arg = kernel_size

    def build(self, input_shape):
        (_, _, _, c), _ = input_shape
        if c is None:
            raise ValueError("ShepardUpsampling needs a known channel count")
        k = self.kernel_size
        tent = shepard_tent_kernel(self.scale, k)
        if self.mode == "depthwise":
            self.shepard_kernel = self.add_weight(
                name="shepard_kernel", shape=(k, k, c, 1), initializer="zeros"
            )
            raw = np.repeat(_softplus_inverse(tent)[:, :, None, None], c, axis=2)
            self.shepard_kernel.assign(raw.astype("float32"))
            out = c
            if self.filters is not None:
                self.mixing_kernel = self.add_weight(
                    name="mixing_kernel",
                    shape=(1, 1, c, self.filters),
                    initializer=self.mixing_initializer,
                )
                out = self.filters
        else:
            out = c if self.filters is None else self.filters
            self.shepard_kernel = self.add_weight(
                name="shepard_kernel", shape=(k, k, c, out), initializer="zeros"
            )
            full = np.broadcast_to(tent[:, :, None, None] / c, (k, k, c, out))
            self.shepard_kernel.assign(full.astype("float32"))
        self.bias = self.add_weight(
            name="bias", shape=(out,), initializer=self.bias_initializer
        )
        self.output_channels = out

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("ShepardUpsampling expects inputs [grid, mask]")
        grid, mask = inputs
        dtype = self.compute_dtype
        grid = tf.cast(grid, dtype)
        mask = tf.cast(mask, dtype)
        kernel = tf.cast(self.shepard_kernel, dtype)
        strides = [1, 1, 1, 1]
        if self.mode == "depthwise":
            weights = tf.nn.softplus(kernel)  # [k,k,C,1], non-negative
            num = tf.nn.depthwise_conv2d(grid, weights, strides, "SAME")
            k = self.kernel_size
            # w_c * M for every c at once: a 1 -> C convolution of the mask
            den_kernel = tf.reshape(weights, [k, k, 1, -1])
            den = tf.nn.conv2d(mask, den_kernel, strides, "SAME")
            out = num / tf.maximum(den, self.denominator_floor)
            if self.filters is not None:
                mixing = tf.cast(self.mixing_kernel, dtype)
                out = tf.nn.conv2d(out, mixing, strides, "VALID")
        else:
            num = tf.nn.conv2d(grid, kernel, strides, "SAME")
            den_kernel = tf.reduce_sum(kernel, axis=2, keepdims=True)
            den = tf.nn.conv2d(mask, den_kernel, strides, "SAME")
            eps = self.denominator_floor
            sign = tf.where(den >= 0, tf.ones_like(den), -tf.ones_like(den))
            den = tf.where(tf.abs(den) < eps, eps * sign, den)
            out = num / den
        out = out + tf.cast(self.bias, dtype)
        return self.activation(out)

    def denominator_bound(self) -> float:
        """The largest value any channel's denominator ``w_c * M`` can take
        (depthwise mode), for any placement.

        ``M`` holds exactly one 1 per ``s x s`` cell, so at an HR position the
        denominator is at most the sum, over the cells the ``k x k`` window
        overlaps, of the largest tap falling in each cell; the bound is the
        maximum over the ``s^2`` alignments of window and cells and over the
        channels (10.6 against ``max_c sum(w_c)`` = 17.0 for the shipped
        ``lhsp_x3``).
        """
        if self.mode != "depthwise":
            raise ValueError("denominator_bound applies to mode='depthwise'")
        weights = tf.nn.softplus(tf.cast(self.shepard_kernel, "float32")).numpy()
        taps = weights[:, :, :, 0]  # [k, k, C]
        k, s = self.kernel_size, self.scale
        bound = 0.0
        for ry in range(s):
            rows = (ry + np.arange(k) - k // 2) // s
            for rx in range(s):
                cols = (rx + np.arange(k) - k // 2) // s
                total = np.zeros(taps.shape[-1])
                for cy in np.unique(rows):
                    for cx in np.unique(cols):
                        cell = taps[rows == cy][:, cols == cx]
                        total += cell.max(axis=(0, 1))
                bound = max(bound, float(total.max()))
        return bound

    def int8_denominator_floor(self, steps: int = 2) -> float:
        """The smallest floor that survives full-int8 quantization (depthwise).

        Every denominator lies in ``[0, denominator_bound()]``, so its int8
        step is at most ``denominator_bound() / 255``; a floor of ``steps``
        such steps never rounds to the DIV zero point, which a trained
        kernel's tiny denominators otherwise can (the int8 DIV kernel aborts).
        Returns ``max(denominator_floor, steps * denominator_bound() / 255)``;
        the exporter uses it for ``int8`` only (float keeps
        ``denominator_floor``).
        """
        if self.mode != "depthwise":
            raise ValueError("int8_denominator_floor applies to mode='depthwise'")
        return max(self.denominator_floor, steps * self.denominator_bound() / 255.0)

    def compute_output_shape(self, input_shape):
        (b, h, w, c), _ = input_shape
        return (b, h, w, c if self.filters is None else self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "filters": self.filters,
            "kernel_size": self._kernel_size_arg,
            "activation": keras.activations.serialize(self.activation),
            "denominator_floor": self.denominator_floor,
            "mode": self.mode,
            "mixing_initializer": keras.initializers.serialize(self.mixing_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
