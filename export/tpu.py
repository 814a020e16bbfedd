"""TPU export: a SavedModel whose ``serving_default`` is XLA-compiled
(``jit_compile=True``) at a static shape, plus a check that a model's
training step compiles with XLA at static batch shapes.

A TPU runs XLA programs with static shapes. The exported signature takes
``lr``: float32 ``[batch, tile_h, tile_w, C]`` in [0, 1] (NHWC) and returns
``sr``: float32 ``[batch, tile_h*s, tile_w*s, C]``; the function is marked
``_XlaMustCompile`` so TensorFlow compiles it with XLA wherever it runs (this
CPU included, which is how parity is checked). With ``bfloat16=True`` the
model computes in bfloat16 (variables stay float32, the Keras
``mixed_bfloat16`` policy) and casts the output to float32.

:class:`export.runtime.SavedModelUpscaler` runs such an artifact on any image
size by tiling with a ``margin`` of LR context (stored in the report).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from export.common import (
    ExportError,
    ModelInfo,
    base_report,
    committed_dir,
    model_info,
    output_dir,
)
from export.parity import MAX_ABS_DIFF, find_images, load_lr_images, run_parity

__all__ = [
    "check_train_step_compiles",
    "export_tpu",
    "parse_tile",
    "xla_must_compile",
]

DEFAULT_TILE = (64, 64)
DEFAULT_BATCH = 4
DEFAULT_MARGIN = 16


def parse_tile(text: str) -> tuple[int, int]:
    """``"64x48"`` -> ``(64, 48)`` (height, width); a single number is square."""
    parts = str(text).lower().replace("*", "x").split("x")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"tile must look like HxW (e.g. 64x64), got {text!r}"
        ) from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1:
        raise ValueError(f"tile must look like HxW with positive sizes, got {text!r}")
    return values  # type: ignore[return-value]


@contextlib.contextmanager
def _compute_dtype(model, policy: str | None) -> Iterator[None]:
    """Temporarily give every layer of ``model`` the dtype policy ``policy``
    (``None``: no change). Used only while tracing the export function."""
    if policy is None:
        yield
        return
    layers = list(model._flatten_layers(include_self=True, recursive=True))
    saved = [layer.dtype_policy for layer in layers]
    try:
        for layer in layers:
            layer.dtype_policy = policy
        yield
    finally:
        for layer, old in zip(layers, saved, strict=True):
            layer.dtype_policy = old


def _static_inputs(
    info: ModelInfo,
    shape: tuple[int, int, int, int],
    images_dir: str | os.PathLike | None,
    count: int = 2,
) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """``count`` batches of real crops at the static shape, and the full LR
    images they came from (for the tiled check)."""
    folder = find_images(images_dir)
    images = load_lr_images(folder, info.channels)
    batch, th, tw, _ = shape
    batches, k = [], 0
    for _ in range(count):
        crops = []
        for _ in range(batch):
            img = images[k % len(images)]
            k += 1
            img = np.tile(img, (-(-th // img.shape[0]), -(-tw // img.shape[1]), 1))
            top = (k * 7) % (img.shape[0] - th + 1)
            left = (k * 13) % (img.shape[1] - tw + 1)
            crops.append(img[top : top + th, left : left + tw])
        batches.append(np.stack(crops).astype(np.float32))
    return (
        batches,
        images,
        f"{len(images)} images of {folder}, downscaled x1/2, cropped",
    )


def xla_must_compile(path: str | os.PathLike) -> bool:
    """Whether a SavedModel's graph holds a function call marked
    ``_XlaMustCompile`` (what ``tf.function(jit_compile=True)`` records)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    for meta in proto.meta_graphs:
        nodes = list(meta.graph_def.node)
        for fn in meta.graph_def.library.function:
            if fn.attr.get("_XlaMustCompile") and fn.attr["_XlaMustCompile"].b:
                return True
            nodes.extend(fn.node_def)
        for node in nodes:
            attr = node.attr.get("_XlaMustCompile")
            if attr is not None and attr.b:
                return True
    return False


def export_tpu(
    model,
    path: str | os.PathLike,
    *,
    batch: int = DEFAULT_BATCH,
    tile: tuple[int, int] | str = DEFAULT_TILE,
    bfloat16: bool = False,
    margin: int | None = None,
    parity_data: str | os.PathLike | None = None,
    max_abs_diff: float | None = None,
    name: str | None = None,
) -> dict:
    """Export an XLA-compiled, static-shape SavedModel and prove it matches
    Keras when run under XLA on this machine.

    Args:
        model: keras.Model. LR ``[B,h,w,C]`` float32 in [0,1] -> SR.
        path: str. Output folder.
        batch: int. Static batch size. Defaults to 4.
        tile: (int, int) or "HxW". Static LR tile size. Defaults to 64x64.
        bfloat16: bool. Compute in bfloat16 (parity threshold 5e-2 instead
            of 1e-4).
        margin: int. LR context kept around tiles when the artifact is run on
            larger images (:class:`export.runtime.SavedModelUpscaler`).
            Defaults to 16, at most a quarter of the tile side.
        parity_data: str. Image folder for the parity crops (default Set5).
        max_abs_diff: float. Parity threshold override.
        name: str. Model name for the report.

    Returns:
        The parity report, also written to ``<path>/parity.json``.

    Raises:
        export.ParityError: the artifact fails parity; nothing is written.
        export.ExportError: the function does not compile with XLA.

    Example:
        >>> export_tpu(model, "out/tpu", batch=8, tile=(96, 96))  # doctest: +SKIP
    """
    import keras

    path = output_dir(path)
    info = model_info(model, name)
    th, tw = parse_tile(tile) if isinstance(tile, str) else tuple(int(v) for v in tile)
    batch = int(batch)
    if batch < 1 or th < 1 or tw < 1:
        raise ValueError(f"batch and tile must be positive, got {batch} and {th}x{tw}")
    if margin is None:
        margin = min(DEFAULT_MARGIN, min(th, tw) // 4)
    shape = (batch, th, tw, info.channels)
    key = "tpu_bfloat16" if bfloat16 else "tpu"
    threshold = MAX_ABS_DIFF[key] if max_abs_diff is None else max_abs_diff
    inputs, images, source = _static_inputs(info, shape, parity_data)
    spec = tf.TensorSpec(shape, tf.float32, name="lr")

    def serve(lr):
        return {"sr": tf.cast(model(lr, training=False), tf.float32)}

    jit_fn = tf.function(serve, input_signature=[spec], jit_compile=True)
    with _compute_dtype(model, "mixed_bfloat16" if bfloat16 else None):
        jit_fn.get_concrete_function()
        try:
            hlo = jit_fn.experimental_get_compiler_ir(tf.zeros(shape))(stage="hlo")
        except Exception as err:  # XLA lowering errors come in several types
            raise ExportError(
                f"the model does not compile with XLA at {list(shape)}: {err}"
            ) from err
    hlo_instructions = sum(1 for ln in hlo.splitlines() if " = " in ln)

    with committed_dir(path) as (tmp, report):
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", jit_fn)
        archive.write_out(os.fspath(tmp), verbose=False)
        must_compile = xla_must_compile(tmp)
        loaded = tf.saved_model.load(os.fspath(tmp))
        fn = loaded.signatures["serving_default"]

        def candidate(x):
            return fn(lr=tf.constant(x))["sr"].numpy()

        def reference(x):
            return np.asarray(model(x, training=False))

        result = run_parity(reference, candidate, inputs, threshold)
        if not must_compile:
            result["failures"].append("serving_default is not marked _XlaMustCompile")
            result["passed"] = False
        tiled = _tiled_check(tmp, info, images, shape, margin, reference)
        report.update(
            base_report(
                "tpu",
                info,
                quantize="bfloat16" if bfloat16 else "none",
                input={"name": "lr", "shape": list(shape), "dtype": "float32"},
                margin=margin,
                xla={
                    "jit_compile": True,
                    "xla_must_compile_in_saved_model": must_compile,
                    "hlo_instructions": hlo_instructions,
                    "compute_dtype": "bfloat16" if bfloat16 else "float32",
                },
                parity_data=source,
                tiled=tiled,
            )
        )
        report.update(result)
    return report


def _tiled_check(tmp, info, images, shape, margin, reference) -> dict:
    """Run the artifact tile by tile on one real LR image larger than a tile
    and compare with Keras on the whole image (recorded, not a pass/fail
    criterion: exact only if ``margin`` covers the receptive field)."""
    from export.runtime import tiled_apply

    _, th, tw, _ = shape
    img = max(images, key=lambda a: a.shape[0] * a.shape[1])
    h = min(img.shape[0], th * 2 + 3)
    w = min(img.shape[1], tw * 2 + 5)
    x = img[None, :h, :w].astype(np.float32)
    loaded = tf.saved_model.load(os.fspath(tmp))
    fn = loaded.signatures["serving_default"]

    def run(chunk):
        return fn(lr=tf.constant(chunk))["sr"].numpy()

    got = tiled_apply(run, x, shape, info.scale, margin)
    diff = np.abs(got - reference(x))
    return {
        "image_shape": list(x.shape),
        "margin": margin,
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
    }


def check_train_step_compiles(
    model,
    batch_size: int = 2,
    lr_size: tuple[int, int] = (16, 16),
    data: tuple | None = None,
) -> dict:
    """Check that ``model``'s training step compiles with XLA
    (``jit_compile=True``) at static batch shapes, as a TPU job needs.

    An uncompiled model is compiled with Adam and L1; a compiled one (e.g. a
    GAN trainer with its own ``compile``) keeps its optimizers and losses.
    One step runs through ``fit`` on a ``tf.data`` batch with
    ``drop_remainder=True`` and ``jit_compile=True`` (so the model's weights
    change), then ``train_step`` is lowered to HLO with
    ``experimental_get_compiler_ir`` as explicit proof.

    Args:
        model: keras.Model. A model or trainer with a ``train_step``.
        batch_size: int. Static batch size. Defaults to 2.
        lr_size: (int, int). LR patch size. Defaults to (16, 16).
        data: tuple. ``(x, y)`` to use instead of random LR/HR patches.

    Returns:
        ``{"compiled": bool, "batch_shapes", "hlo_instructions", "loss",
        "error"}``.
    """
    import keras

    if data is None:
        info = model_info(model)
        h, w = lr_size
        rng = np.random.default_rng(0)
        x = rng.random((batch_size, h, w, info.channels), dtype=np.float32)
        y = rng.random(
            (batch_size, h * info.scale, w * info.scale, info.channels),
            dtype=np.float32,
        )
        data = (x, y)
    shapes = tf.nest.map_structure(lambda d: list(np.shape(d)), list(data))
    result = {"compiled": False, "batch_shapes": shapes}
    if (
        not getattr(model, "compiled", False)
        and getattr(model, "optimizer", None) is None
    ):
        model.compile(
            optimizer=keras.optimizers.Adam(1e-4), loss="mae", jit_compile=True
        )
    else:
        model.jit_compile = True
    if not model.jit_compile:
        result["error"] = "Keras disabled jit_compile: a layer has supports_jit=False"
        return result
    model.make_train_function(force=True)
    batch = int(np.shape(data[0])[0])
    dataset = tf.data.Dataset.from_tensors(tuple(data)).unbatch()
    dataset = dataset.batch(batch, drop_remainder=True)  # static batch shape
    try:
        history = model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
        logs = {k: v[-1] for k, v in history.history.items()}
        tensors = tf.nest.map_structure(tf.constant, tuple(data))
        step = tf.function(model.train_step, jit_compile=True)
        hlo = step.experimental_get_compiler_ir(tensors)(stage="hlo")
    except Exception as err:  # XLA errors come in several types
        result["error"] = f"{type(err).__name__}: {_xla_error_summary(str(err))}"
        return result
    result.update(
        compiled=True,
        hlo_instructions=sum(1 for ln in hlo.splitlines() if " = " in ln),
        loss={k: float(np.asarray(v)) for k, v in logs.items()},
    )
    return result


def _xla_error_summary(text: str) -> str:
    """The informative line of an XLA compilation error."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for key in ("unsupported operations", "No registered", "XLA", "not supported"):
        for i, line in enumerate(lines):
            if key in line:
                return " ".join(lines[i : i + 2])[:500]
    return lines[0][:500] if lines else "unknown error"
