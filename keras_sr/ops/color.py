"""Colour conversions (MATLAB ``rgb2ycbcr``, BT.601 studio swing) and modcrop.

Conventions: RGB images in ``[0, 1]`` for floating dtypes, ``[0, 255]`` for
``uint8``. The returned Y/Cb/Cr follow the input's convention: floats give
``Y`` in ``[16/255, 235/255]``, ``uint8`` input gives ``uint8`` output rounded
as MATLAB does (``rgb2ycbcr`` on a uint8 image).
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_y", "modcrop"]

# Rows: Y, Cb, Cr; columns: R, G, B. Inputs in [0, 1], outputs on 0..255.
_RGB_TO_YCBCR = (
    (65.481, 128.553, 24.966),
    (-37.797, -74.203, 112.0),
    (112.0, -93.786, -18.214),
)
_YCBCR_OFFSET = (16.0, 128.0, 128.0)


def _to_unit_float(images: tf.Tensor) -> tuple[tf.Tensor, tf.DType]:
    images = tf.convert_to_tensor(images)
    dtype = images.dtype
    if dtype == tf.uint8:
        return tf.cast(images, tf.float64) / 255.0, dtype
    if not dtype.is_floating:
        raise TypeError(f"Expected uint8 or float images, got {dtype.name}.")
    compute = tf.float64 if dtype == tf.float64 else tf.float32
    return tf.cast(images, compute), dtype


def _from_unit_float(x: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    if dtype == tf.uint8:
        return tf.cast(
            tf.floor(tf.clip_by_value(x * 255.0, 0.0, 255.0) + 0.5), tf.uint8
        )
    return tf.cast(x, dtype)


def _check_channels(images: tf.Tensor, expected: int, name: str) -> None:
    channels = images.shape[-1]
    if channels is not None and channels != expected:
        raise ValueError(
            f"{name}: expected {expected} channels in the last axis, got shape "
            f"{images.shape}."
        )


def rgb_to_ycbcr(images: tf.Tensor) -> tf.Tensor:
    """MATLAB ``rgb2ycbcr``: RGB -> YCbCr (BT.601, studio swing).

    Args:
        images: ``[..., 3]`` RGB, float in ``[0, 1]`` or ``uint8``.

    Returns:
        ``[..., 3]`` YCbCr in the input's range convention and dtype
        (``uint8`` rounded like MATLAB).

    Example:
        >>> import numpy as np
        >>> rgb_to_ycbcr(np.array([[[255, 255, 255]]], "uint8")).numpy()
        array([[[235, 128, 128]]], dtype=uint8)
    """
    x, dtype = _to_unit_float(images)
    _check_channels(x, 3, "rgb_to_ycbcr")
    m = tf.constant(_RGB_TO_YCBCR, dtype=x.dtype)
    off = tf.constant(_YCBCR_OFFSET, dtype=x.dtype)
    ycc = (tf.tensordot(x, tf.transpose(m), axes=1) + off) / 255.0
    return _from_unit_float(ycc, dtype)


def ycbcr_to_rgb(images: tf.Tensor) -> tf.Tensor:
    """MATLAB ``ycbcr2rgb``: the exact inverse of :func:`rgb_to_ycbcr`.

    Args:
        images: ``[..., 3]`` YCbCr, float (``Y`` in ``[16/255, 235/255]``) or
            ``uint8``.

    Returns:
        ``[..., 3]`` RGB in the input's convention; float output is not
        clipped, ``uint8`` output is saturated and rounded.
    """
    x, dtype = _to_unit_float(images)
    _check_channels(x, 3, "ycbcr_to_rgb")
    m = tf.linalg.inv(tf.constant(_RGB_TO_YCBCR, dtype=tf.float64))
    m = tf.cast(m, x.dtype)
    off = tf.constant(_YCBCR_OFFSET, dtype=x.dtype)
    rgb = tf.tensordot(x * 255.0 - off, tf.transpose(m), axes=1)
    return _from_unit_float(rgb, dtype)


def rgb_to_y(images: tf.Tensor, keepdims: bool = True) -> tf.Tensor:
    """The Y (luma) channel of MATLAB ``rgb2ycbcr``.

    ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` on R, G, B in ``[0, 1]``,
    returned on the input's scale: ``uint8`` input gives rounded ``uint8``
    (as MATLAB's ``rgb2ycbcr`` on uint8), float input gives float ``Y/255``.

    Args:
        images: ``[..., 3]`` RGB.
        keepdims: keep a trailing channel axis of size 1.

    Example:
        >>> import numpy as np
        >>> float(rgb_to_y(np.ones((1, 1, 3), "float32"))[0, 0, 0]) * 255
        235.0
    """
    x, dtype = _to_unit_float(images)
    _check_channels(x, 3, "rgb_to_y")
    w = tf.constant(_RGB_TO_YCBCR[0], dtype=x.dtype)
    y = (tf.reduce_sum(x * w, axis=-1, keepdims=keepdims) + 16.0) / 255.0
    return _from_unit_float(y, dtype)


def modcrop(images: tf.Tensor, scale: int) -> tf.Tensor:
    """Crop height and width down to multiples of ``scale`` (top-left kept).

    Args:
        images: ``[H, W, C]`` or ``[B, H, W, C]``.
        scale: positive integer.
    """
    images = tf.convert_to_tensor(images)
    scale = int(scale)
    if scale < 1:
        raise ValueError(f"modcrop: scale must be >= 1, got {scale}.")
    if images.shape.rank == 3:
        shape = tf.shape(images)
        h, w = shape[0] - shape[0] % scale, shape[1] - shape[1] % scale
        return images[:h, :w, :]
    if images.shape.rank == 4:
        shape = tf.shape(images)
        h, w = shape[1] - shape[1] % scale, shape[2] - shape[2] % scale
        return images[:, :h, :w, :]
    raise ValueError(f"modcrop: expected rank 3 or 4, got shape {images.shape}.")
