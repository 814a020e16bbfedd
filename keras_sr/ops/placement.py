"""Pixel placement: put LR pixels (or feature vectors) on the HR grid, each at a
chosen position inside its own ``scale x scale`` cell (seed 000, METHODS §8.3).

Two functions:

* :func:`pixel_placement` scatters ``features [B,h,w,C]`` to ``grid
  [B,h*s,w*s,C]`` at ``(s*i+dy, s*j+dx)`` and returns the indicator ``mask
  [B,h*s,w*s,1]``. With every offset at ``0`` it is the zero-insertion step of a
  strided transposed convolution.
* :func:`placement_offsets` computes the per-pixel ``(dy, dx)`` from the LR
  luminance: the pixel moves away from the nearest edge, by an amount that grows
  with the local gradient magnitude.

Portability. The scatter is written as an *arithmetic* one-hot (``1 -
min(|k - range(s*s)|, 1)``) multiplied with the tiled features and rearranged by
``depth_to_space``. STACK.md records why: ``tf.scatter_nd`` and ``tf.one_hot``
run in float, XLA, TFLite and ONNX, but the quantized SCATTER_ND/ONE_HOT kernels
of full-int8 TFLite fill the empty cells with garbage; the arithmetic form only
needs SUB/ABS/MINIMUM/MUL/TILE/DEPTH_TO_SPACE, which every runtime has. Every
intermediate tensor is 4-D (no ``[..., None]``, which becomes a Flex
StridedSlice in TFLite), and the constants are created inside the traced
function (onnxruntime otherwise reports captured constants as missing inputs).

Gradient. :func:`pixel_placement` carries an explicit ``tf.custom_gradient``:
the upstream gradient of ``grid`` is rearranged back to the LR layout
(``space_to_depth``) and gathered at the position each pixel was placed, i.e.
the gradient returns to the pixel's *original* LR location (seed 000 §2.3: "save
the original location of the moved pixels for the back propagating"). The
offsets and the mask receive no gradient; they are piecewise constant.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["pixel_placement", "placement_offsets"]


def _check_scale(scale: object) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive Python int, got {scale!r}")
    return scale


def _placement_onehot(offsets: tf.Tensor, scale: int, dtype: tf.DType) -> tf.Tensor:
    """``[B,h,w,s*s]`` arithmetic one-hot of the cell index ``dy*s + dx``."""
    s = scale
    offsets = tf.clip_by_value(tf.cast(offsets, tf.int32), 0, s - 1)
    dy, dx = tf.split(offsets, 2, axis=-1)  # [B,h,w,1] each, stays 4-D
    k = tf.cast(dy * s + dx, dtype)
    positions = tf.cast(tf.range(s * s), dtype)  # created inside the trace
    return 1.0 - tf.minimum(tf.abs(k - positions), 1.0)


def _tile_onehot(onehot: tf.Tensor, channels: tf.Tensor | int, scale: int) -> tf.Tensor:
    """``[B,h,w,s*s]`` -> ``[B,h,w,s*s*C]`` in TF depth order ``k*C + c``."""
    # Entry k*C + c repeats onehot[k]: reshape so that k becomes a spatial
    # index, tile along a unit channel axis, reshape back (all 4-D tensors).
    shape = tf.shape(onehot)
    b, h, w = shape[0], shape[1], shape[2]
    rep = tf.tile(tf.reshape(onehot, [b, h, w * scale * scale, 1]), [1, 1, 1, channels])
    return tf.reshape(rep, [b, h, w, scale * scale * channels])


def _placement_forward(
    features: tf.Tensor, offsets: tf.Tensor, scale: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Forward pass; also returns the expanded one-hot used by the gradient."""
    s = scale
    channels = tf.shape(features)[-1]
    onehot = _placement_onehot(offsets, s, features.dtype)  # [B,h,w,s*s]
    expanded = _tile_onehot(onehot, channels, s)  # [B,h,w,s*s*C]
    z = tf.tile(features, [1, 1, 1, s * s]) * expanded  # block k = features
    grid = tf.nn.depth_to_space(z, s)
    mask = tf.nn.depth_to_space(onehot, s)
    return grid, mask, expanded


def _pixel_placement_autodiff(
    features: tf.Tensor, offsets: tf.Tensor, scale: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """The same op without the custom gradient (reference for the tests)."""
    grid, mask, _ = _placement_forward(features, offsets, _check_scale(scale))
    return grid, tf.stop_gradient(mask)


def pixel_placement(
    features: tf.Tensor, offsets: tf.Tensor, scale: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """Place each LR feature vector at one position of its HR cell.

    ``grid[b, s*i+dy, s*j+dx, :] = features[b, i, j, :]`` with ``(dy, dx) =
    offsets[b, i, j]``, zero elsewhere; ``mask`` is 1 exactly at the placed
    positions. Exactly one position per cell is occupied, so there are no
    collisions. Offsets outside ``[0, scale)`` are clipped into the cell.

    Args:
        features: float ``[B, h, w, C]`` (any float dtype), NHWC.
        offsets: int ``[B, h, w, 2]`` holding ``(dy, dx)`` in ``[0, scale)``.
        scale: the upscaling factor ``s`` (Python int >= 1).

    Returns:
        ``(grid, mask)``: ``grid`` ``[B, h*s, w*s, C]`` in the dtype of
        ``features``; ``mask`` ``[B, h*s, w*s, 1]`` of 0/1 in the same dtype.

    The gradient with respect to ``features`` is the upstream gradient of
    ``grid`` read at the placed positions (a gather back to the original LR
    location); ``offsets`` and ``mask`` get no gradient. Runs eagerly, in
    ``tf.function``, under ``jit_compile=True`` and converts to TFLite (float and
    full-int8, builtin ops only) and ONNX.

    Example:
        >>> import tensorflow as tf
        >>> x = tf.reshape(tf.range(4, dtype=tf.float32), [1, 2, 2, 1])
        >>> off = tf.constant([[[[0, 0], [1, 1]], [[0, 1], [1, 0]]]])
        >>> grid, mask = pixel_placement(x, off, 2)
        >>> grid[0, :, :, 0].numpy().astype(int).tolist()
        [[0, 0, 0, 0], [0, 0, 0, 1], [0, 2, 0, 0], [0, 0, 3, 0]]
    """
    s = _check_scale(scale)
    features = tf.convert_to_tensor(features)
    offsets = tf.convert_to_tensor(offsets)
    if not features.dtype.is_floating:
        raise TypeError(f"features must be a float tensor, got {features.dtype.name}")
    if offsets.dtype not in (tf.int32, tf.int64):
        raise TypeError(f"offsets must be int32 or int64, got {offsets.dtype.name}")
    if features.shape.rank is not None and features.shape.rank != 4:
        raise ValueError(f"features must be [B,h,w,C], got shape {features.shape}")
    if offsets.shape.rank is not None and (
        offsets.shape.rank != 4 or offsets.shape[-1] not in (None, 2)
    ):
        raise ValueError(f"offsets must be [B,h,w,2], got shape {offsets.shape}")
    offsets = tf.cast(offsets, tf.int32)

    @tf.custom_gradient
    def _place(x: tf.Tensor) -> tuple[tuple[tf.Tensor, tf.Tensor], object]:
        grid, mask, expanded = _placement_forward(x, offsets, s)

        def grad(d_grid: tf.Tensor, d_mask: tf.Tensor) -> tf.Tensor:
            del d_mask  # the mask is a constant of the offsets
            # [B,H,W,C] -> [B,h,w,s*s*C]; block k holds cell position k.
            local = tf.nn.space_to_depth(d_grid, s) * expanded
            shape = tf.shape(local)
            c = tf.shape(x)[-1]
            local = tf.reshape(local, [shape[0], shape[1], shape[2], s * s, c])
            return tf.reduce_sum(local, axis=3)  # the one placed position

        return (grid, mask), grad

    return _place(features)


def _pad_replicate(x: tf.Tensor) -> tf.Tensor:
    """Pad H and W by one pixel, repeating the border (replicate padding).

    ``SYMMETRIC`` mirror padding of width 1 repeats the edge pixel itself.
    """
    return tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")


def _central_differences(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(d/drow, d/dcol)`` by central differences with replicate padding."""
    p = _pad_replicate(x)
    d_row = (p[:, 2:, 1:-1, :] - p[:, :-2, 1:-1, :]) * 0.5
    d_col = (p[:, 1:-1, 2:, :] - p[:, 1:-1, :-2, :]) * 0.5
    return d_row, d_col


def placement_offsets(
    luma: tf.Tensor,
    scale: int,
    rho: float = 1.0,
    tau: float = 0.1,
    min_magnitude: float = 0.02,
    ridge_epsilon: float = 1e-4,
    epsilon: float = 1e-12,
) -> tf.Tensor:
    """Per-pixel placement ``(dy, dx)`` that moves LR pixels away from edges.

    METHODS §8.3 [DESIGN], on the LR luminance ``y`` (``[B,h,w,1]``, [0, 1]):

    1. ``g = (gy, gx)`` by central differences (replicate padding),
       ``m = sqrt(gx^2 + gy^2 + epsilon)``, ``n = g / m`` (row, col).
    2. The edge is the ridge of ``m`` along ``n``: ``dm = grad(m) . n``; the
       edge lies on the side ``sign(dm) n``, so the pixel moves along
       ``d = -sign(dm) n``; if ``|dm| < ridge_epsilon`` it is on the ridge and
       does not move.
    3. Distance in HR pixels: ``delta = rho * clip(m / tau, 0, 1) * (s-1)/2``;
       pixels with ``m < min_magnitude`` do not move.
    4. ``dy = clip(floor(c + delta*d_row + 0.5), 0, s-1)`` and likewise ``dx``,
       with the cell centre ``c = (s-1)/2`` (for even ``s`` the unmoved
       position is ``s/2``, the lower-right of the four central cells).

    The result is a constant of the input (no gradient flows through it).

    Args:
        luma: float ``[B, h, w, 1]`` luminance (Y/255 for the Y models).
        scale: upscaling factor ``s``.
        rho: displacement gain (fraction of the half cell) [GUESS 1.0].
        tau: gradient magnitude of full displacement [GUESS 0.1]. On 8-bit
            input keep ``tau * 255`` off whole numbers (0.1 is 25.5 levels):
            at x3 a pixel moves where a central difference reaches ``tau``,
            so a whole-level ``tau`` puts real edges exactly on the rounding
            boundary of step 4, and float16 or a different ``/255`` decide
            them differently (export parity fails).
        min_magnitude: below this gradient magnitude nothing moves [GUESS 0.02].
        ridge_epsilon: ``|dm|`` below which a pixel is on the ridge [DESIGN 1e-4].
        epsilon: added under the square root of the magnitude [DESIGN 1e-12].

    Returns:
        int32 ``[B, h, w, 2]`` offsets ``(dy, dx)`` in ``[0, scale)``.

    Example:
        >>> import numpy as np
        >>> step = np.zeros((1, 4, 6, 1), np.float32); step[..., 3:, :] = 1.0
        >>> off = placement_offsets(step, 3).numpy()
        >>> off[0, 0, :, 1].tolist()  # dx: left of the edge moves left
        [1, 1, 0, 2, 1, 1]
    """
    s = _check_scale(scale)
    y = tf.stop_gradient(tf.convert_to_tensor(luma))
    if not y.dtype.is_floating:
        y = tf.cast(y, tf.float32)
    if y.shape.rank is not None and (y.shape.rank != 4 or y.shape[-1] not in (None, 1)):
        raise ValueError(f"luma must be [B,h,w,1], got shape {y.shape}")
    y = tf.cast(y, tf.float32)
    gy, gx = _central_differences(y)
    m = tf.sqrt(gx * gx + gy * gy + epsilon)
    # Computed without dividing by m (same values in exact arithmetic, but
    # well conditioned where m is tiny, which matters once quantized to int8):
    #   dm = grad(m) . g / m, so sign(dm) = sign(q) with q = grad(m) . g and
    #   |dm| >= ridge_epsilon  <=>  |q| >= ridge_epsilon * m;
    #   delta * n = rho * half * min(m / tau, 1) * g / m
    #             = rho * half * g / max(m, tau).
    m_row, m_col = _central_differences(m)
    q = m_row * gy + m_col * gx
    moving = tf.cast(tf.abs(q) >= ridge_epsilon * m, tf.float32) * tf.cast(
        m >= min_magnitude, tf.float32
    )
    half = (s - 1) / 2.0
    # move away from the edge (-sign(dm)); zero on the ridge and in flat areas
    step = -tf.sign(q) * moving * (rho * half) / tf.maximum(m, tau)
    dy = tf.clip_by_value(tf.floor(half + step * gy + 0.5), 0.0, s - 1.0)
    dx = tf.clip_by_value(tf.floor(half + step * gx + 0.5), 0.0, s - 1.0)
    # round before the cast: the values are integers, but in a quantized
    # (int8 TFLite) model they come back as e.g. 0.996, which a cast truncates
    return tf.cast(tf.round(tf.concat([dy, dx], axis=-1)), tf.int32)
