"""LR degradations as standalone, graph-safe TensorFlow functions.

Each function takes NHWC images (``[H, W, C]`` or ``[B, H, W, C]``), runs
eagerly, inside ``tf.function`` and inside ``tf.data`` maps, and is used both
by the reader (:func:`keras_sr.data.make_dataset`) and by the offline writer
(``tfrecords_tools``). Randomness comes only from stateless ops seeded by an
explicit ``seed`` (shape ``[2]`` integer tensor), so a pipeline is
reproducible.

Range conventions: ``uint8`` images are on ``0..255``; floating images are in
``[0, 1]``. Functions return the input dtype unless stated otherwise.

Groups (BasicSR-style): resize, blur, noise, JPEG, and :func:`degrade`, the
composition the reader uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import tensorflow as tf

from keras_sr.ops.resize import imresize

__all__ = [
    "DEGRADATIONS",
    "add_gaussian_noise",
    "bicubic_downscale",
    "blur_downscale",
    "corrupt",
    "degrade",
    "fold_seed",
    "gaussian_blur",
    "gaussian_kernel1d",
    "jpeg_compress",
    "quantize",
]

DEGRADATIONS = ("bicubic", "blur")


def _as_batch(images: tf.Tensor) -> tuple[tf.Tensor, bool]:
    images = tf.convert_to_tensor(images)
    rank = images.shape.rank
    if rank == 3:
        return images[None], True
    if rank == 4:
        return images, False
    raise ValueError(f"expected [H,W,C] or [B,H,W,C] images, got shape {images.shape}")


def _round_to_uint8(x: tf.Tensor) -> tf.Tensor:
    """Float on 0..255 -> uint8: saturate, round half away from zero (MATLAB)."""
    return tf.cast(tf.floor(tf.clip_by_value(x, 0.0, 255.0) + 0.5), tf.uint8)


def quantize(images: tf.Tensor) -> tf.Tensor:
    """Round float images in ``[0, 1]`` to the nearest of the 256 uint8 levels.

    The result stays floating point (``round(255 x) / 255``), as if the image
    had been saved to an 8-bit file and read back. ``uint8`` input is returned
    unchanged.
    """
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        return images
    levels = _round_to_uint8(tf.cast(images, tf.float32) * 255.0)
    return tf.cast(levels, images.dtype) / tf.constant(255.0, images.dtype)


# --------------------------------------------------------------------- resize


def bicubic_downscale(images: tf.Tensor, scale: int) -> tf.Tensor:
    """MATLAB ``imresize(I, 1/scale, 'bicubic')`` (the standard SR degradation).

    Args:
        images: ``[H, W, C]`` or ``[B, H, W, C]``; ``uint8`` (bit-exact with
            MATLAB, rounded after each pass) or float in ``[0, 1]``. ``H`` and
            ``W`` should be multiples of ``scale`` (see
            :func:`keras_sr.ops.modcrop`); otherwise the output is
            ``ceil(H / scale)``.
        scale: integer factor >= 2.

    Returns:
        The LR image(s) in the input dtype.

    Example:
        >>> import numpy as np
        >>> hr = np.zeros((8, 8, 3), np.uint8)
        >>> tuple(bicubic_downscale(hr, 4).shape)
        (2, 2, 3)
    """
    scale = _check_scale(scale)
    return imresize(images, scale=1.0 / scale)


# ----------------------------------------------------------------------- blur


def gaussian_kernel1d(sigma: float, size: int | None = None) -> tf.Tensor:
    """A normalised 1-D Gaussian, float32 ``[size]``; ``size`` defaults to
    ``2 * ceil(3 sigma) + 1``."""
    if sigma <= 0:
        raise ValueError(f"gaussian blur: sigma must be > 0, got {sigma}")
    if size is None:
        size = 2 * int(math.ceil(3.0 * sigma)) + 1
    size = int(size)
    if size < 1 or size % 2 == 0:
        raise ValueError(f"gaussian blur: kernel size must be odd, got {size}")
    x = tf.range(size, dtype=tf.float64) - (size - 1) / 2.0
    k = tf.exp(-(x * x) / (2.0 * float(sigma) ** 2))
    return tf.cast(k / tf.reduce_sum(k), tf.float32)


def gaussian_blur(
    images: tf.Tensor, sigma: float, kernel_size: int | None = None
) -> tf.Tensor:
    """Separable Gaussian blur with symmetric (mirror) borders.

    Args:
        images: ``[H, W, C]`` or ``[B, H, W, C]``, ``uint8`` or float.
        sigma: standard deviation in pixels.
        kernel_size: odd kernel width; defaults to ``2 * ceil(3 sigma) + 1``.

    Returns:
        Blurred images, same shape and dtype (``uint8`` is rounded).
    """
    x, squeeze = _as_batch(images)
    in_dtype = x.dtype
    k = gaussian_kernel1d(sigma, kernel_size)
    r = (int(k.shape[0]) - 1) // 2
    xf = tf.cast(x, tf.float32)
    channels = tf.shape(xf)[-1]
    # Depthwise kernels [kh, kw, C, 1]; the tile makes one kernel per channel.
    kv = tf.tile(tf.reshape(k, [-1, 1, 1, 1]), tf.stack([1, 1, channels, 1]))
    kh = tf.tile(tf.reshape(k, [1, -1, 1, 1]), tf.stack([1, 1, channels, 1]))
    if r > 0:
        # Mirror padding needs the pad to be smaller than the side; fold
        # repeatedly for tiny images.
        xf = _symmetric_pad(xf, r)
    xf = tf.nn.depthwise_conv2d(xf, kv, strides=[1, 1, 1, 1], padding="VALID")
    xf = tf.nn.depthwise_conv2d(xf, kh, strides=[1, 1, 1, 1], padding="VALID")
    if in_dtype == tf.uint8:
        out = _round_to_uint8(xf)
    else:
        out = tf.cast(xf, in_dtype)
    return out[0] if squeeze else out


def _symmetric_pad(x: tf.Tensor, r: int) -> tf.Tensor:
    """Pad ``[B,H,W,C]`` by ``r`` on each spatial side with mirror borders
    (``[... c b a | a b c ...]``); works for any ``r`` and side length."""
    for axis in (1, 2):
        n = tf.shape(x)[axis]
        idx = tf.range(-r, n + r)
        period = 2 * n
        m = tf.math.floormod(idx, period)
        idx = tf.where(m < n, m, period - 1 - m)
        x = tf.gather(x, idx, axis=axis)
    return x


def blur_downscale(
    images: tf.Tensor,
    scale: int,
    sigma: float | None = None,
    kernel_size: int | None = None,
) -> tf.Tensor:
    """Gaussian blur, then keep every ``scale``-th pixel (seed 000's "with blur").

    ``LR[i, j] = blur(HR)[s i + o, s j + o]`` with ``o = (s - 1) // 2``, the
    HR pixel nearest the centre of the LR cell (exact for odd ``s``; half a
    pixel up-left for even ``s``).

    Args:
        images: ``[H, W, C]`` or ``[B, H, W, C]``, ``uint8`` or float.
        scale: integer factor >= 2.
        sigma: blur standard deviation; defaults to ``0.4 * scale`` (1.2 for
            x3; METHODS.md section 8.5 guesses sigma ~ 0.4 s).
        kernel_size: odd kernel width; defaults to ``2 * ceil(3 sigma) + 1``.

    Returns:
        ``[ceil(H/s), ceil(W/s), C]`` images in the input dtype.
    """
    scale = _check_scale(scale)
    if sigma is None:
        sigma = 0.4 * scale
    blurred = gaussian_blur(images, sigma, kernel_size)
    offset = (scale - 1) // 2
    if blurred.shape.rank == 3:
        return blurred[offset::scale, offset::scale, :]
    return blurred[:, offset::scale, offset::scale, :]


# ---------------------------------------------------------------------- noise


def add_gaussian_noise(
    images: tf.Tensor, sigma: float | tf.Tensor, seed: tf.Tensor
) -> tf.Tensor:
    """Add white Gaussian noise (stateless) and clip to the valid range.

    Args:
        images: float images in ``[0, 1]`` or ``uint8``.
        sigma: noise standard deviation **on the [0, 1] scale** (``15 / 255``
            for the common "sigma 15"); a scalar.
        seed: ``[2]`` int32/int64 tensor; the same seed gives the same noise.

    Returns:
        Noisy images in the input dtype (``uint8`` is rounded).
    """
    images = tf.convert_to_tensor(images)
    in_dtype = images.dtype
    x = tf.cast(images, tf.float32)
    if in_dtype == tf.uint8:
        x = x / 255.0
    noise = tf.random.stateless_normal(tf.shape(x), seed=seed, dtype=tf.float32)
    x = tf.clip_by_value(x + tf.cast(sigma, tf.float32) * noise, 0.0, 1.0)
    if in_dtype == tf.uint8:
        return _round_to_uint8(x * 255.0)
    return tf.cast(x, in_dtype)


# ----------------------------------------------------------------------- JPEG


def jpeg_compress(
    images: tf.Tensor,
    quality: int | Sequence[int] | tf.Tensor,
    seed: tf.Tensor | None = None,
) -> tf.Tensor:
    """JPEG-encode and decode images (the compression artefact degradation).

    Args:
        images: ``[H, W, C]`` or ``[B, H, W, C]`` with ``C`` 1 or 3, ``uint8``
            or float in ``[0, 1]`` (rounded to uint8 before encoding).
        quality: an integer in ``[1, 100]``, or a ``(low, high)`` pair from
            which each image draws its quality uniformly (inclusive; needs
            ``seed``).
        seed: ``[2]`` integer tensor for the random quality.

    Returns:
        The decoded images, same shape and dtype as ``images``.
    """
    x, squeeze = _as_batch(images)
    in_dtype = x.dtype
    u8 = x if in_dtype == tf.uint8 else _round_to_uint8(tf.cast(x, tf.float32) * 255)
    batch = tf.shape(u8)[0]
    if isinstance(quality, (list, tuple)):
        low, high = (int(q) for q in quality)
        _check_quality(low)
        _check_quality(high)
        if seed is None:
            raise ValueError("jpeg_compress: a quality range needs a seed")
        qualities = tf.random.stateless_uniform(
            [batch], seed=seed, minval=low, maxval=high + 1, dtype=tf.int32
        )
    else:
        if isinstance(quality, int):
            _check_quality(quality)
        qualities = tf.fill([batch], tf.cast(quality, tf.int32))
    channels = u8.shape[-1]

    def one(args: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        image, q = args
        encoded = tf.raw_ops.EncodeJpegVariableQuality(images=image, quality=q)
        decoded = tf.io.decode_jpeg(encoded, channels=channels or 0)
        return tf.reshape(decoded, tf.shape(image))

    out = tf.map_fn(
        one, (u8, qualities), fn_output_signature=tf.TensorSpec(None, tf.uint8)
    )
    out = tf.ensure_shape(out, u8.shape)
    if in_dtype != tf.uint8:
        out = tf.cast(out, in_dtype) / tf.constant(255.0, in_dtype)
    return out[0] if squeeze else out


def _check_quality(q: int) -> None:
    if not 1 <= q <= 100:
        raise ValueError(f"jpeg quality must be in [1, 100], got {q}")


def _check_scale(scale: int) -> int:
    if isinstance(scale, bool) or int(scale) != scale or int(scale) < 2:
        raise ValueError(f"scale must be an integer >= 2, got {scale!r}")
    return int(scale)


# ---------------------------------------------------------------- composition


def degrade(
    hr: tf.Tensor,
    scale: int,
    degradation: str | Callable[..., tf.Tensor] = "bicubic",
    *,
    blur_sigma: float | None = None,
    noise_sigma: float = 0.0,
    jpeg_quality: int | Sequence[int] | None = None,
    quantize_lr: bool = True,
    seed: tf.Tensor | None = None,
) -> tf.Tensor:
    """HR -> LR as the reader makes it: downscale, then noise, then JPEG.

    Args:
        hr: ``[H, W, C]`` or ``[B, H, W, C]``; ``uint8`` or float in ``[0, 1]``.
            ``H`` and ``W`` multiples of ``scale``.
        scale: integer factor >= 2.
        degradation: ``"bicubic"`` (MATLAB imresize; on ``uint8`` input the
            result is MATLAB's uint8 LR exactly), ``"blur"``
            (:func:`blur_downscale`, sigma ``blur_sigma`` or ``0.4 * scale``)
            or a callable ``fn(hr_float32_in_0_1, scale) -> lr`` (it also gets
            ``seed=`` if it accepts that keyword).
        blur_sigma: sigma for ``"blur"``.
        noise_sigma: Gaussian noise std on the [0, 1] scale; 0 disables.
        jpeg_quality: ``None``, a quality, or a ``(low, high)`` range.
        quantize_lr: round the LR to 8-bit levels (as if saved to a PNG) before
            noise/JPEG and after noise. ``False`` keeps the float LR (the
            "y-first" protocol computes the LR in double).
        seed: ``[2]`` integer tensor; required for noise, a JPEG quality
            range, or a callable that takes a seed.

    Returns:
        float32 LR in ``[0, 1]`` with the rank of ``hr``.
    """
    hr = tf.convert_to_tensor(hr)
    if seed is None:
        seed = tf.constant([0, 0], tf.int64)
    seed = tf.cast(seed, tf.int64)
    if callable(degradation):
        hr_float = _to_unit_float32(hr)
        if _accepts_seed(degradation):
            lr = degradation(hr_float, scale, seed=_fold(seed, 1))
        else:
            lr = degradation(hr_float, scale)
        lr = tf.cast(lr, tf.float32)
        if quantize_lr:
            lr = quantize(lr)
    elif degradation in DEGRADATIONS:
        src = hr if (quantize_lr or hr.dtype != tf.uint8) else _to_unit_float32(hr)
        if degradation == "bicubic":
            lr = bicubic_downscale(src, scale)
        else:
            lr = blur_downscale(src, scale, sigma=blur_sigma)
        lr = _to_unit_float32(lr)
        if quantize_lr:
            lr = quantize(lr)
    else:
        raise ValueError(
            f"unknown degradation {degradation!r}; choose from {DEGRADATIONS} "
            "or pass a callable"
        )
    return corrupt(
        lr,
        noise_sigma=noise_sigma,
        jpeg_quality=jpeg_quality,
        quantize_lr=quantize_lr,
        seed=seed,
    )


def corrupt(
    lr: tf.Tensor,
    *,
    noise_sigma: float = 0.0,
    jpeg_quality: int | Sequence[int] | None = None,
    quantize_lr: bool = True,
    seed: tf.Tensor | None = None,
) -> tf.Tensor:
    """The post-downscale part of :func:`degrade`: Gaussian noise, then JPEG.

    Used on its own for stored LR images. ``lr`` is ``uint8`` or float in
    ``[0, 1]``; returns float32 in ``[0, 1]``.
    """
    lr = _to_unit_float32(tf.convert_to_tensor(lr))
    if seed is None:
        seed = tf.constant([0, 0], tf.int64)
    if noise_sigma:
        lr = add_gaussian_noise(lr, noise_sigma, _fold(seed, 2))
        if quantize_lr:
            lr = quantize(lr)
    if jpeg_quality is not None:
        lr = jpeg_compress(lr, jpeg_quality, seed=_fold(seed, 3))
    return lr


def _to_unit_float32(x: tf.Tensor) -> tf.Tensor:
    if x.dtype == tf.uint8:
        return tf.cast(x, tf.float32) / 255.0
    return tf.cast(x, tf.float32)


def fold_seed(seed: tf.Tensor, data: int | tf.Tensor) -> tf.Tensor:
    """Derive an independent ``[2]`` int64 stateless seed from ``seed`` and
    ``data`` (an integer, e.g. an element index)."""
    seed = tf.cast(seed, tf.int64)
    data = tf.cast(data, tf.int64)
    return tf.cast(tf.random.experimental.stateless_fold_in(seed, data), tf.int64)


def _fold(seed: tf.Tensor, k: int) -> tf.Tensor:
    return fold_seed(seed, k)


def _accepts_seed(fn: Callable[..., object]) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
