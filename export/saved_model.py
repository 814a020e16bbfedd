"""SavedModel export for TensorFlow Serving, verified against Keras.

Signatures (all with dynamic batch and spatial size):

``serving_default``
    ``lr``: float32 ``[B, h, w, C]`` in [0, 1] (NHWC; C = 1 for Y models,
    3 for RGB) -> ``sr``: float32 ``[B, h*s, w*s, C]``, unclipped.
``upscale_uint8``
    ``lr``: uint8 ``[B, h, w, C]`` -> ``sr``: uint8 ``[B, h*s, w*s, C]``
    (clip to [0, 1], then round half away from zero inside the graph).
``upscale_image_bytes``
    ``image_bytes``: string ``[N]`` of encoded PNG/JPEG/BMP/GIF images ->
    ``png``: string ``[N]`` of PNG images, upscaled like
    :func:`keras_sr.inference.upscale_image` (Y models upscale Y and take CbCr
    from MATLAB bicubic; RGB models on a grayscale image return the channel
    mean; alpha is upscaled with bicubic and kept).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from export.common import (
    ModelInfo,
    base_report,
    committed_dir,
    model_info,
    output_dir,
)
from export.parity import MAX_ABS_DIFF, parity_inputs, rgb_crop, run_parity

__all__ = ["SIGNATURES", "build_archive", "export_saved_model"]

SIGNATURES = ("serving_default", "upscale_uint8", "upscale_image_bytes")


def _to_uint8(x: tf.Tensor) -> tf.Tensor:
    # Same rounding as keras_sr.inference.to_uint8: clip, then half away from 0.
    x = tf.clip_by_value(tf.cast(x, tf.float32), 0.0, 1.0)
    return tf.cast(tf.floor(x * 255.0 + 0.5), tf.uint8)


def _upscale_decoded(model, info: ModelInfo, image: tf.Tensor) -> tf.Tensor:
    """uint8 ``[h, w, 1..4]`` -> uint8 ``[h*s, w*s, 1..4]`` (graph version of
    :func:`keras_sr.inference.upscale_image`)."""
    from keras_sr.ops.color import rgb_to_ycbcr, ycbcr_to_rgb
    from keras_sr.ops.resize import imresize

    s = info.scale
    n = tf.shape(image)[-1]
    has_alpha = tf.logical_or(tf.equal(n, 2), tf.equal(n, 4))
    n_color = tf.where(n >= 3, 3, 1)
    color = image[..., :n_color]

    def run(x):  # float [h, w, c] -> float [h*s, w*s, c']
        return tf.cast(model(tf.expand_dims(x, 0), training=False), tf.float32)[0]

    def gray_branch():
        g = tf.cast(tf.ensure_shape(color, [None, None, 1]), tf.float32) / 255.0
        if info.channels == 1:
            return _to_uint8(run(g))
        out = run(tf.concat([g, g, g], axis=-1))
        return _to_uint8(tf.reduce_mean(out, axis=-1, keepdims=True))

    def rgb_branch():
        rgb = tf.cast(tf.ensure_shape(color, [None, None, 3]), tf.float32) / 255.0
        if info.channels == 3:
            return _to_uint8(run(rgb))
        ycc = rgb_to_ycbcr(rgb)
        y_sr = run(ycc[..., :1])
        cbcr = tf.cast(imresize(ycc[..., 1:], scale=s), tf.float32)
        return _to_uint8(ycbcr_to_rgb(tf.concat([y_sr, cbcr], axis=-1)))

    sr = tf.cond(tf.equal(n_color, 1), gray_branch, rgb_branch)

    def with_alpha():
        alpha = tf.expand_dims(image[..., n - 1], -1)
        return tf.concat([sr, imresize(alpha, scale=s)], axis=-1)

    return tf.cond(has_alpha, with_alpha, lambda: sr)


def build_archive(
    model,
    info: ModelInfo,
    signatures: Sequence[str] = SIGNATURES,
):
    """A ``keras.export.ExportArchive`` with the requested signatures."""
    import keras

    unknown = set(signatures) - set(SIGNATURES)
    if unknown or "serving_default" not in signatures:
        raise ValueError(
            f"signatures must include 'serving_default' and be among {SIGNATURES}, "
            f"got {list(signatures)}"
        )
    c = info.channels
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serving_default(lr):
        return {"sr": tf.cast(model(lr, training=False), tf.float32)}

    archive.add_endpoint(
        "serving_default",
        serving_default,
        input_signature=[tf.TensorSpec([None, None, None, c], tf.float32, name="lr")],
    )
    if "upscale_uint8" in signatures:

        def upscale_uint8(lr):
            x = tf.cast(lr, tf.float32) / 255.0
            return {"sr": _to_uint8(model(x, training=False))}

        archive.add_endpoint(
            "upscale_uint8",
            upscale_uint8,
            input_signature=[tf.TensorSpec([None, None, None, c], tf.uint8, name="lr")],
        )
    if "upscale_image_bytes" in signatures:

        def one(encoded):
            image = tf.io.decode_image(encoded, channels=0, expand_animations=False)
            return tf.io.encode_png(_upscale_decoded(model, info, image))

        def upscale_image_bytes(image_bytes):
            png = tf.map_fn(
                one, image_bytes, fn_output_signature=tf.TensorSpec([], tf.string)
            )
            return {"png": png}

        archive.add_endpoint(
            "upscale_image_bytes",
            upscale_image_bytes,
            input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
        )
    return archive


def write_saved_model(
    model, info: ModelInfo, path: str | os.PathLike, signatures=SIGNATURES
) -> None:
    """Write the SavedModel (no verification)."""
    build_archive(model, info, signatures).write_out(os.fspath(path), verbose=False)


def _check_uint8(model, loaded, inputs: Sequence[np.ndarray]) -> dict:
    from keras_sr.inference import to_uint8

    worst = 0
    for x in inputs:
        x8 = to_uint8(x)
        want = to_uint8(np.asarray(model(x8.astype(np.float32) / 255.0)))
        got = loaded.signatures["upscale_uint8"](lr=tf.constant(x8))["sr"].numpy()
        if got.shape != want.shape or got.dtype != np.uint8:
            return {"passed": False, "error": f"got {got.dtype} {got.shape}"}
        worst = max(worst, int(np.abs(got.astype(int) - want.astype(int)).max()))
    # One grey level: the float32 rounding inside the graph may flip a tie.
    return {"max_level_diff": worst, "passed": worst <= 1}


def _check_image_bytes(model, loaded, rgb: np.ndarray) -> dict:
    """Encode a real RGB crop plus a ramp alpha as PNG, upscale it through the
    signature and compare with :func:`keras_sr.inference.upscale_image`."""
    from keras_sr.inference import KerasUpscaler, upscale_image

    h, w = rgb.shape[:2]
    alpha = (np.add.outer(np.arange(h), np.arange(w)) * 255 // (h + w)).astype(np.uint8)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    want_rgb, want_alpha = upscale_image(KerasUpscaler(model), rgb, alpha)
    want = np.concatenate([want_rgb, want_alpha[..., None]], axis=-1)
    png = tf.io.encode_png(rgba).numpy()
    out = loaded.signatures["upscale_image_bytes"](image_bytes=tf.constant([png]))
    got = tf.io.decode_png(out["png"][0], channels=0).numpy()
    if got.shape != want.shape:
        return {"passed": False, "error": f"got {got.shape}, expected {want.shape}"}
    worst = int(np.abs(got.astype(int) - want.astype(int)).max())
    return {"input": f"RGBA PNG {h}x{w}", "max_level_diff": worst, "passed": worst <= 1}


def verify_saved_model(
    model,
    info: ModelInfo,
    path: str | os.PathLike,
    inputs: Sequence[np.ndarray],
    max_abs_diff: float,
    signatures: Sequence[str] = SIGNATURES,
    rgb_image: np.ndarray | None = None,
) -> dict:
    """Reload ``path`` with ``tf.saved_model.load`` and compare every
    signature with the Keras model."""
    loaded = tf.saved_model.load(os.fspath(path))
    serve = loaded.signatures["serving_default"]

    def candidate(x):
        return serve(lr=tf.constant(x))["sr"].numpy()

    def reference(x):
        return np.asarray(model(x, training=False))

    result = run_parity(reference, candidate, inputs, max_abs_diff)
    extra = {}
    if "upscale_uint8" in signatures:
        extra["upscale_uint8"] = _check_uint8(model, loaded, inputs)
    if "upscale_image_bytes" in signatures and rgb_image is not None:
        extra["upscale_image_bytes"] = _check_image_bytes(model, loaded, rgb_image)
    for name, check in extra.items():
        if not check["passed"]:
            result["failures"].append(f"{name}: {check}")
    result["passed"] = not result["failures"]
    return {**result, "signature_checks": extra}


def export_saved_model(
    model,
    path: str | os.PathLike,
    *,
    signatures: Sequence[str] = SIGNATURES,
    parity_data: str | os.PathLike | None = None,
    max_abs_diff: float | None = None,
    name: str | None = None,
) -> dict:
    """Export ``model`` as a SavedModel folder and prove it matches Keras.

    Args:
        model: keras.Model. LR ``[B,h,w,C]`` float32 in [0,1] -> SR
            ``[B,h*s,w*s,C]``, with ``scale`` and ``channels`` attributes (or
            inferable, see :func:`export.common.model_info`).
        path: str. Output folder; replaced only if the new export passes.
        signatures: sequence of str. Subset of ``SIGNATURES``
            (``serving_default`` is required).
        parity_data: str. Folder of images for the parity inputs. Defaults to
            Set5 from the shared data folder.
        max_abs_diff: float. Parity threshold. Defaults to 1e-5.
        name: str. Model name recorded in the report.

    Returns:
        The parity report, also written to ``<path>/parity.json``.

    Raises:
        export.ParityError: the reloaded SavedModel differs from Keras by more
            than the threshold; nothing is written.

    Example:
        >>> report = export_saved_model(model, "out/espcn_x3")  # doctest: +SKIP
        >>> report["max_abs_diff"] <= 1e-5  # doctest: +SKIP
        True
    """
    path = output_dir(path)
    info = model_info(model, name)
    threshold = MAX_ABS_DIFF["saved_model"] if max_abs_diff is None else max_abs_diff
    inputs, source = parity_inputs(info.channels, parity_data)
    rgb = rgb_crop(parity_data, 40, 36)
    with committed_dir(path) as (tmp, report):
        write_saved_model(model, info, tmp, signatures)
        result = verify_saved_model(
            model, info, tmp, inputs, threshold, signatures, rgb_image=rgb
        )
        report.update(
            base_report(
                "saved_model",
                info,
                quantize="none",
                signatures=list(signatures),
                parity_data=source,
            )
        )
        report.update(result)
    return report


def saved_model_dir_ok(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a SavedModel folder."""
    return (Path(path) / "saved_model.pb").is_file()
