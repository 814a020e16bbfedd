"""PSNR and SSIM as the SR literature computes them: per image, optionally on
the MATLAB Y channel, after shaving ``crop_border`` pixels from every side.

Tensor conventions: ``[H, W, C]`` or ``[B, H, W, C]`` (NHWC); floats in
``[0, max_val]`` or ``uint8`` (then ``max_val`` is taken as 255). The result
is one value per image (a scalar for rank-3 input), computed in float64.
"""

from __future__ import annotations

import math

import tensorflow as tf

from keras_sr.ops.color import rgb_to_y

__all__ = ["psnr", "ssim", "prepare_for_metric"]


def prepare_for_metric(
    images: tf.Tensor,
    max_val: float,
    crop_border: int = 0,
    y_channel: bool = False,
    quantize: bool = False,
) -> tuple[tf.Tensor, float]:
    """Convert to float64 ``[B,H,W,C]``, optionally to Y, and shave the border.

    Returns ``(images, max_val)`` where ``max_val`` is the peak on the returned
    scale (255 for ``uint8`` input).
    """
    x = tf.convert_to_tensor(images)
    if x.shape.rank == 3:
        x = tf.expand_dims(x, 0)
    if x.shape.rank != 4:
        raise ValueError(f"Expected [H,W,C] or [B,H,W,C] images, got shape {x.shape}.")
    if x.dtype == tf.uint8:
        max_val = 255.0
        x = tf.cast(x, tf.float64)
    else:
        x = tf.cast(x, tf.float64)
        if quantize:
            x = tf.floor(tf.clip_by_value(x / max_val, 0.0, 1.0) * 255.0 + 0.5)
            x = x / 255.0 * max_val
    if y_channel and x.shape[-1] == 3:
        x = rgb_to_y(x / max_val) * max_val
    if crop_border:
        b = int(crop_border)
        x = x[:, b:-b, b:-b, :]
    return x, float(max_val)


def _check_pair(a: tf.Tensor, b: tf.Tensor) -> None:
    if a.shape.is_fully_defined() and b.shape.is_fully_defined():
        if a.shape != b.shape:
            raise ValueError(f"Expected equal shapes, got {a.shape} and {b.shape}.")


def psnr(
    y_true: tf.Tensor,
    y_pred: tf.Tensor,
    max_val: float = 1.0,
    crop_border: int = 0,
    y_channel: bool = False,
    quantize: bool = False,
) -> tf.Tensor:
    """Per-image peak signal-to-noise ratio in dB.

    ``PSNR = 10 log10(max_val^2 / MSE)`` with the MSE over one image's pixels
    and channels (not over the batch, unlike ``keras.ops.psnr``). Identical
    images give ``inf``.

    Args:
        y_true, y_pred: ``[H,W,C]`` or ``[B,H,W,C]``, float in ``[0, max_val]``
            or ``uint8``.
        max_val: the peak value of float input (ignored for ``uint8``: 255).
        crop_border: pixels shaved from each side (the SR protocol uses
            ``scale``).
        y_channel: evaluate on MATLAB ``rgb2ycbcr`` Y (3-channel input only;
            1-channel input is taken as Y already).
        quantize: round float input to 8-bit levels first (what saving an
            output as uint8 does).

    Example:
        >>> import numpy as np
        >>> a = np.ones((1, 4, 4, 1), "float32")
        >>> float(psnr(a, 1.2 * a, max_val=2.0)[0])  # MSE 0.04, peak 2
        20.0
    """
    a, peak = prepare_for_metric(y_true, max_val, crop_border, y_channel, quantize)
    b, _ = prepare_for_metric(y_pred, max_val, crop_border, y_channel, quantize)
    _check_pair(a, b)
    mse = tf.reduce_mean(tf.square(a - b), axis=[1, 2, 3])
    value = 10.0 * tf.math.log(peak * peak / mse) / math.log(10.0)
    if tf.convert_to_tensor(y_true).shape.rank == 3:
        value = value[0]
    return value


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> tf.Tensor:
    coords = tf.range(size, dtype=tf.float64) - (size - 1) / 2.0
    g = tf.exp(-(coords**2) / (2.0 * sigma * sigma))
    g = g / tf.reduce_sum(g)
    window = g[:, None] * g[None, :]
    return tf.reshape(window, [size, size, 1, 1])


def _filter_valid(x: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    # x: [N, H, W, 1] float64
    return tf.nn.conv2d(x, window, strides=1, padding="VALID")


def _wang_downsample(x: tf.Tensor) -> tf.Tensor:
    """Wang's ``ssim.m`` pre-processing: f = max(1, round(min(M,N)/256)),
    an f x f box filter (``imfilter`` 'symmetric', 'same') and ``1:f:end``."""
    h, w = x.shape[1], x.shape[2]
    if h is None or w is None:
        raise ValueError("ssim(downsample=True) needs static image sizes.")
    f = max(1, int(math.floor(min(h, w) / 256.0 + 0.5)))
    if f == 1:
        return x
    center = (f + 1) // 2  # MATLAB's kernel centre, 1-based
    before, after = center - 1, f - center
    padded = tf.pad(
        x, [[0, 0], [before, after], [before, after], [0, 0]], mode="SYMMETRIC"
    )
    box = tf.ones([f, f, 1, 1], tf.float64) / float(f * f)
    filtered = tf.nn.conv2d(padded, box, strides=1, padding="VALID")
    return filtered[:, ::f, ::f, :]


def ssim(
    y_true: tf.Tensor,
    y_pred: tf.Tensor,
    max_val: float = 1.0,
    crop_border: int = 0,
    y_channel: bool = False,
    quantize: bool = False,
    downsample: bool = False,
) -> tf.Tensor:
    """Per-image structural similarity (Wang et al. 2004).

    11x11 Gaussian window (sigma 1.5), ``K1 = 0.01``, ``K2 = 0.03``, 'valid'
    filtering, the mean of the SSIM map; channels are averaged. This is
    ``ssim_index.m`` / BasicSR ``calculate_ssim``. ``downsample=True`` adds
    the automatic downsampling of Wang's ``ssim.m`` (used by the SPSR tables).

    Args: as :func:`psnr`, plus ``downsample``.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).random((1, 16, 16, 1))
        >>> float(ssim(x, x)[0])
        1.0
    """
    a, peak = prepare_for_metric(y_true, max_val, crop_border, y_channel, quantize)
    b, _ = prepare_for_metric(y_pred, max_val, crop_border, y_channel, quantize)
    _check_pair(a, b)
    h, w = a.shape[1], a.shape[2]
    if (h is not None and h < 11) or (w is not None and w < 11):
        raise ValueError(
            f"SSIM needs images of at least 11x11 pixels after the {crop_border}-px "
            f"border crop, got {h}x{w}."
        )
    batch = tf.shape(a)[0]
    channels = a.shape[-1] if a.shape[-1] is not None else tf.shape(a)[-1]

    def per_channel(x: tf.Tensor) -> tf.Tensor:  # [B,H,W,C] -> [B*C,H,W,1]
        x = tf.transpose(x, [0, 3, 1, 2])
        x = tf.reshape(x, [-1, tf.shape(x)[2], tf.shape(x)[3], 1])
        return x

    a1, b1 = per_channel(a), per_channel(b)
    if downsample:
        h, w = a.shape[1], a.shape[2]
        a1 = tf.ensure_shape(a1, [None, h, w, 1])
        b1 = tf.ensure_shape(b1, [None, h, w, 1])
        a1, b1 = _wang_downsample(a1), _wang_downsample(b1)
    window = _gaussian_window()
    c1 = (0.01 * peak) ** 2
    c2 = (0.03 * peak) ** 2
    mu1, mu2 = _filter_valid(a1, window), _filter_valid(b1, window)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _filter_valid(a1 * a1, window) - mu1_sq
    s2 = _filter_valid(b1 * b1, window) - mu2_sq
    s12 = _filter_valid(a1 * b1, window) - mu12
    ssim_map = ((2 * mu12 + c1) * (2 * s12 + c2)) / (
        (mu1_sq + mu2_sq + c1) * (s1 + s2 + c2)
    )
    per_image_channel = tf.reshape(
        tf.reduce_mean(ssim_map, axis=[1, 2, 3]), [batch, channels]
    )
    value = tf.reduce_mean(per_image_channel, axis=1)
    if tf.convert_to_tensor(y_true).shape.rank == 3:
        value = value[0]
    return value
