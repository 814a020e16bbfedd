"""A delegate-friendly formulation of pixel shuffle (``depth_to_space``).

``depth_to_space(x, r)`` on ``[B, h, w, r*r*C]`` is exactly a transposed
convolution with stride ``r``, an ``r x r`` kernel and a fixed 0/1 kernel
``K[dy, dx, c, (dy*r + dx)*C + c] = 1``: each output pixel is one input value
times 1 plus zeros, so float32 and float16 results are bit-identical to
``depth_to_space``. Some accelerator delegates take ``TRANSPOSE_CONV`` but not
``DEPTH_TO_SPACE``; :func:`transposed_conv_pixel_shuffle` swaps the
formulation while a model is traced for export, without touching the model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

__all__ = [
    "bicubic_phase_weights",
    "bicubic_upsample_conv",
    "conv_bicubic_upsampling",
    "depth_to_space_as_transposed_conv",
    "portable_graph",
    "transposed_conv_pixel_shuffle",
]


def _one_hot_kernel(block_size: int, channels: int) -> np.ndarray:
    r, c = block_size, channels
    kernel = np.zeros((r, r, c, r * r * c), np.float32)
    for dy in range(r):
        for dx in range(r):
            for ch in range(c):
                kernel[dy, dx, ch, (dy * r + dx) * c + ch] = 1.0
    return kernel


def depth_to_space_as_transposed_conv(x: tf.Tensor, block_size: int) -> tf.Tensor:
    """``tf.nn.depth_to_space(x, block_size)`` (NHWC) as a stride-r
    ``conv2d_transpose``.

    Args:
        x: ``[B, h, w, r*r*C]`` tensor (any float dtype), static channel count.
        block_size: int. The upscaling factor ``r``.

    Returns:
        ``[B, h*r, w*r, C]``, identical to ``depth_to_space``.

    Example:
        >>> x = tf.random.uniform((1, 3, 5, 8))
        >>> y = depth_to_space_as_transposed_conv(x, 2)
        >>> bool(tf.reduce_all(y == tf.nn.depth_to_space(x, 2)))
        True
    """
    r = int(block_size)
    depth = x.shape[-1]
    if depth is None or depth % (r * r):
        raise ValueError(
            f"depth_to_space with block {r} needs a static channel count divisible "
            f"by {r * r}, got shape {x.shape}"
        )
    c = depth // (r * r)
    # The kernel is created here, inside the traced function (a captured eager
    # constant would become a missing input in ONNX).
    kernel = tf.constant(_one_hot_kernel(r, c), dtype=x.dtype)
    shape = tf.shape(x)
    out_shape = tf.stack([shape[0], shape[1] * r, shape[2] * r, c])
    y = tf.nn.conv2d_transpose(x, kernel, out_shape, strides=r, padding="VALID")
    static = x.shape
    return tf.ensure_shape(
        y,
        [
            static[0],
            None if static[1] is None else static[1] * r,
            None if static[2] is None else static[2] * r,
            c,
        ],
    )


@contextlib.contextmanager
def transposed_conv_pixel_shuffle() -> Iterator[list[str]]:
    """While active, ``tf.nn.depth_to_space`` (which ``keras.ops.depth_to_space``
    calls on the TensorFlow backend) is traced as a transposed convolution.

    Use it around the *tracing* of an export function; eager code and
    already-traced functions are unaffected once the block exits. Yields a
    list that records each rewrite made.
    """
    original = tf.nn.depth_to_space
    done: list[str] = []

    def replacement(input, block_size, data_format="NHWC", name=None):  # noqa: A002
        if data_format != "NHWC":
            return original(input, block_size, data_format=data_format, name=name)
        done.append(f"depth_to_space(x{block_size}) -> transposed conv")
        return depth_to_space_as_transposed_conv(input, block_size)

    tf.nn.depth_to_space = replacement
    try:
        yield done
    finally:
        tf.nn.depth_to_space = original


# --------------------------------------------------------------------------
# MATLAB bicubic upsampling as a convolution
# --------------------------------------------------------------------------


def _keys_cubic(d: np.ndarray) -> np.ndarray:
    a = np.abs(d)
    return np.where(
        a <= 1,
        1.5 * a**3 - 2.5 * a**2 + 1,
        np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0),
    )


def bicubic_phase_weights(scale: int) -> np.ndarray:
    """``[scale, 5]`` float64: MATLAB ``imresize`` bicubic weights of output
    phase ``q`` (output pixel ``scale*k + q``) on input pixels ``k-2 .. k+2``.

    A line-by-line reading of MATLAB's ``contributions`` for an integer
    upscale: ``u = x/s + 0.5(1 - 1/s)`` (1-based ``x``), taps ``floor(u - 2)
    + 0..5``, Keys cubic weights normalised to sum to one.
    """
    s = int(scale)
    weights = np.zeros((s, 5))
    for q in range(s):
        u = (q + 1) / s + 0.5 * (1 - 1 / s)  # k = 0, 1-based output x = q + 1
        taps = np.floor(u - 2) + np.arange(6)  # 1-based input indices
        w = _keys_cubic(u - taps)
        w = w / w.sum()
        for j, wj in zip(taps.astype(int) - 1, w, strict=True):  # 0-based offsets
            if wj != 0.0:
                weights[q, j + 2] += wj
    return weights


def _mirror_pad2(x: tf.Tensor, axis: int) -> tf.Tensor:
    """MATLAB's mirror (edge pixel repeated) by 2 pixels along ``axis``, with
    slices and a concat only (portable to TFLite int8 and ONNX)."""

    def sl(start, stop):
        index = [slice(None)] * 4
        index[axis] = slice(start, stop)
        return x[tuple(index)]

    return tf.concat([sl(1, 2), sl(0, 1), x, sl(-1, None), sl(-2, -1)], axis=axis)


def bicubic_upsample_conv(x: tf.Tensor, scale: int) -> tf.Tensor:
    """MATLAB ``imresize(x, scale, 'bicubic')`` for an integer ``scale`` as
    mirror padding + one 5x5 convolution + ``depth_to_space``.

    Equal to :func:`keras_sr.ops.imresize` on float input up to float32
    rounding (about 1e-7), and made of ops that TFLite (float and int8),
    ONNX and XLA all have. Needs at least 2 pixels per side.

    Args:
        x: ``[B, h, w, C]`` float tensor with a static channel count.
        scale: int. Upscaling factor >= 2.

    Returns:
        ``[B, h*scale, w*scale, C]`` in ``x``'s dtype.

    Example:
        >>> from keras_sr.ops.resize import imresize
        >>> x = tf.random.uniform((1, 6, 7, 1))
        >>> y = bicubic_upsample_conv(x, 3)
        >>> float(tf.reduce_max(tf.abs(y - imresize(x, scale=3)))) < 1e-5
        True
    """
    s = int(scale)
    c = x.shape[-1]
    if c is None:
        raise ValueError(
            f"bicubic_upsample_conv needs a static channel count, got {x.shape}"
        )
    w = bicubic_phase_weights(s)
    k2 = np.einsum("ai,bj->ijab", w, w)  # [dy, dx, qy, qx]
    kernel = np.zeros((5, 5, c, s * s * c), np.float32)
    for qy in range(s):
        for qx in range(s):
            for ch in range(c):
                kernel[:, :, ch, (qy * s + qx) * c + ch] = k2[:, :, qy, qx]
    padded = _mirror_pad2(_mirror_pad2(x, 1), 2)
    y = tf.nn.conv2d(padded, tf.constant(kernel, dtype=x.dtype), 1, "VALID")
    return tf.nn.depth_to_space(y, s)


@contextlib.contextmanager
def conv_bicubic_upsampling() -> Iterator[list[str]]:
    """While active, ``keras_sr.ops.resize.imresize`` on a float 4-D tensor
    with an integer ``scale`` >= 2 is traced as :func:`bicubic_upsample_conv`
    (the generic version computes its weights in float64 with ``OneHot``,
    which neither TFLite's builtin ops nor tf2onnx support). Other calls go
    to the original. Yields a list that records each rewrite made."""
    from keras_sr.ops import resize

    original = resize.imresize
    done: list[str] = []

    def replacement(images, scale=None, output_size=None):
        t = tf.convert_to_tensor(images)
        integer_scale = (
            isinstance(scale, (int, float)) and float(scale).is_integer() and scale >= 2
        )
        if (
            output_size is None
            and integer_scale
            and t.shape.rank == 4
            and t.dtype in (tf.float32, tf.float16, tf.bfloat16)
        ):
            done.append(
                f"imresize(x{int(scale)}) -> mirror pad + conv + depth_to_space"
            )
            return bicubic_upsample_conv(t, int(scale))
        return original(images, scale=scale, output_size=output_size)

    resize.imresize = replacement
    try:
        yield done
    finally:
        resize.imresize = original


@contextlib.contextmanager
def portable_graph(upsampler: str = "depth_to_space") -> Iterator[list[str]]:
    """The rewrites used when tracing for TFLite and ONNX: MATLAB bicubic as a
    convolution, and with ``upsampler="transposed_conv"`` pixel shuffle as a
    transposed convolution. Yields the list of rewrites made."""
    if upsampler not in ("depth_to_space", "transposed_conv"):
        raise ValueError(
            "upsampler must be 'depth_to_space' or 'transposed_conv', got "
            f"{upsampler!r}"
        )
    with contextlib.ExitStack() as stack:
        done = stack.enter_context(conv_bicubic_upsampling())
        if upsampler == "transposed_conv":
            more = stack.enter_context(transposed_conv_pixel_shuffle())
        else:
            more = []
        rewrites: list[str] = []
        try:
            yield rewrites
        finally:
            rewrites.extend(sorted(set(done)) + sorted(set(more)))
