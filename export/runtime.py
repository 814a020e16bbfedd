"""Run exported artifacts in their own runtimes, behind the
:class:`keras_sr.inference.Upscaler` interface.

* ``.tflite`` -> :class:`TFLiteUpscaler` (ai-edge-litert, XNNPACK, input
  resized per call so any batch and image size works);
* ``.onnx`` -> :class:`ONNXUpscaler` (onnxruntime, CPU);
* SavedModel folder -> :class:`SavedModelUpscaler` (``tf.saved_model.load``);
  a TPU SavedModel (static input shape) is run tile by tile.

All take float32 NHWC ``[B, h, w, C]`` in [0, 1] (uint8 is scaled by 1/255)
and return float32 ``[B, h*s, w*s, C]``. ``scale`` and ``channels`` come from
the parity report written next to the artifact, or, if it is missing, from
the artifact's input signature and one probe call.

Example:
    >>> from export.runtime import load_artifact  # doctest: +SKIP
    >>> up = load_artifact("espcn_x3.tflite")  # doctest: +SKIP
    >>> up(lr).shape  # doctest: +SKIP
    (1, 96, 96, 1)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from export.common import read_report
from keras_sr.inference import Upscaler

__all__ = [
    "ONNXUpscaler",
    "SavedModelUpscaler",
    "TFLiteUpscaler",
    "load_artifact",
]

DEFAULT_THREADS = 2


def _as_float(lr: np.ndarray) -> np.ndarray:
    x = np.asarray(lr)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if x.ndim != 4:
        raise ValueError(f"expected a batch [B, h, w, C], got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


class _ArtifactUpscaler(Upscaler):
    """Shared metadata handling: scale/channels from the report or a probe."""

    path: str

    def _set_metadata(self, scale: int | None, known_scale: int | None = None) -> None:
        """Scale and channels from the parity report, else from the artifact
        (``known_scale`` from its own metadata, or one probe call). A
        ``scale`` that contradicts the artifact raises ValueError."""
        report = read_report(self.path) or {}
        self.report = report
        self.name = Path(self.path).name
        self.channels = int(report.get("channels") or self._channels())
        self.scale = int(report.get("scale") or known_scale or self._probe_scale())
        if scale is not None and int(scale) != self.scale:
            raise ValueError(
                f"{self.path}: the artifact upscales x{self.scale}, not x{scale}"
            )

    def _channels(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def _probe_scale(self) -> int:
        h, w = self._probe_size()
        probe = np.zeros((self._probe_batch(), h, w, self.channels), np.float32)
        return int(self._raw_call(probe).shape[1] // h)

    def _raw_call(self, x: np.ndarray) -> np.ndarray:
        return self._run(x)

    def _probe_size(self) -> tuple[int, int]:
        return 8, 8

    def _probe_batch(self) -> int:
        return 1

    def _run(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        x = _as_float(lr)
        if x.shape[-1] != self.channels:
            raise ValueError(
                f"{self.name}: expects {self.channels}-channel input, got {x.shape}"
            )
        return self._run(x)


class TFLiteUpscaler(_ArtifactUpscaler):
    """A ``.tflite`` model under the ai-edge-litert interpreter.

    The input tensor is resized (``resize_tensor_input`` +
    ``allocate_tensors``) whenever the input shape changes.

    Args:
        path: str. The ``.tflite`` file.
        scale: int. Expected upscaling factor (checked); the artifact's own is
            read from the parity report, or probed.
        num_threads: int. Interpreter threads. Defaults to 2.
        model_content: bytes. Flatbuffer bytes to use instead of reading
            ``path``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        scale: int | None = None,
        num_threads: int = DEFAULT_THREADS,
        model_content: bytes | None = None,
    ):
        from ai_edge_litert.interpreter import Interpreter

        self.path = os.fspath(path)
        if model_content is None:
            self.interpreter = Interpreter(
                model_path=self.path, num_threads=num_threads
            )
        else:
            self.interpreter = Interpreter(
                model_content=model_content, num_threads=num_threads
            )
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"{self.path}: expected one input and one output, got "
                f"{len(inputs)} and {len(outputs)}"
            )
        self._input = inputs[0]
        self._output_index = outputs[0]["index"]
        self._shape: tuple[int, ...] | None = None
        self._set_metadata(scale)

    def _channels(self) -> int:
        return int(self._input["shape_signature"][-1])

    def _run(self, x: np.ndarray) -> np.ndarray:
        it = self.interpreter
        if self._shape != x.shape:
            it.resize_tensor_input(self._input["index"], list(x.shape), strict=False)
            it.allocate_tensors()
            self._shape = x.shape
        it.set_tensor(self._input["index"], x)
        it.invoke()
        return np.array(it.get_tensor(self._output_index), dtype=np.float32)


class ONNXUpscaler(_ArtifactUpscaler):
    """An ``.onnx`` model under onnxruntime (CPU execution provider).

    Args:
        path: str. The ``.onnx`` file.
        scale: int. Upscaling factor; read from the report or the model's
            metadata if ``None``.
        num_threads: int. Intra-op threads. Defaults to 2.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        scale: int | None = None,
        num_threads: int = DEFAULT_THREADS,
    ):
        import onnxruntime as ort

        self.path = os.fspath(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No busy-waiting worker threads after a run: they would steal the
        # CPU from whatever runs next (other runtimes, the rest of the app).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            self.path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self.session.get_inputs()[0]
        meta = self.session.get_modelmeta().custom_metadata_map
        self._set_metadata(scale, _int_or_none(meta.get("scale")))

    def _channels(self) -> int:
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("channels"):
            return int(meta["channels"])
        return int(self._input.shape[-1])

    def _run(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self._input.name: x})[0]
        return np.asarray(out, dtype=np.float32)


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class SavedModelUpscaler(_ArtifactUpscaler):
    """A SavedModel folder's ``serving_default`` signature.

    If the signature has a static input shape (a TPU export), images are cut
    into overlapping tiles of that shape (``margin`` LR pixels of context on
    every inner side, tiles clamped inside the image, the batch padded with
    zeros) and the centres are stitched; with a margin at least the model's
    receptive-field radius this equals running the whole image.

    Args:
        path: str. The SavedModel folder.
        scale: int. Upscaling factor; read from the report if ``None``.
        margin: int. Tile overlap in LR pixels for static-shape models;
            defaults to the value stored at export (16 if none).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        scale: int | None = None,
        margin: int | None = None,
    ):
        import tensorflow as tf

        self.path = os.fspath(path)
        self.loaded = tf.saved_model.load(self.path)
        self.fn = self.loaded.signatures["serving_default"]
        _, kwargs = self.fn.structured_input_signature
        if len(kwargs) != 1:
            raise ValueError(f"{self.path}: serving_default must take one input")
        ((self._arg, spec),) = kwargs.items()
        self._spec = spec
        shape = spec.shape.as_list()
        self.static_shape = None if None in shape else tuple(shape)
        self._set_metadata(scale)
        self.margin = int(
            margin if margin is not None else self.report.get("margin", 16)
        )

    def _channels(self) -> int:
        return int(self._spec.shape[-1])

    def _probe_size(self) -> tuple[int, int]:
        if self.static_shape:
            return self.static_shape[1], self.static_shape[2]
        return 8, 8

    def _probe_batch(self) -> int:
        return self.static_shape[0] if self.static_shape else 1

    def _call_fn(self, x: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        out = self.fn(**{self._arg: tf.constant(x, dtype=self._spec.dtype)})
        (value,) = out.values()
        return np.asarray(value, dtype=np.float32)

    def _raw_call(self, x: np.ndarray) -> np.ndarray:
        return self._call_fn(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.static_shape is None:
            return self._call_fn(x)
        return tiled_apply(self._call_fn, x, self.static_shape, self.scale, self.margin)


def _tile_starts(length: int, tile: int, margin: int) -> list[tuple[int, int, int]]:
    """``(start, keep_from, keep_to)`` per tile along one axis; tiles stay
    inside ``[0, length)`` and each kept pixel is >= margin from an inner
    tile edge (or on the image border)."""
    if length <= tile:
        return [(0, 0, length)]
    stride = tile - 2 * margin
    if stride <= 0:
        raise ValueError(f"tile {tile} is too small for a margin of {margin}")
    starts = list(range(0, length - tile, stride)) + [length - tile]
    starts = sorted(set(starts))
    cuts = [0]
    for a, b in zip(starts, starts[1:], strict=False):
        cuts.append((b + a + tile) // 2)  # middle of the overlap
    cuts.append(length)
    return [(s, cuts[i], cuts[i + 1]) for i, s in enumerate(starts)]


def tiled_apply(
    fn, x: np.ndarray, static_shape: tuple[int, ...], scale: int, margin: int
) -> np.ndarray:
    """Run a static-shape function ``fn`` over ``x`` ``[B, h, w, C]`` tile by
    tile (see :class:`SavedModelUpscaler`). Images smaller than the tile are
    padded by edge replication at the bottom/right and cropped back."""
    batch, th, tw, _ = static_shape
    b, h, w, c = x.shape
    s = scale
    ys = _tile_starts(h, th, margin)
    xs = _tile_starts(w, tw, margin)
    jobs = []
    tiles = []
    for i in range(b):
        img = x[i]
        if h < th or w < tw:
            img = np.pad(
                img, ((0, max(0, th - h)), (0, max(0, tw - w)), (0, 0)), "edge"
            )
        for y0, ya, yb in ys:
            for x0, xa, xb in xs:
                tiles.append(img[y0 : y0 + th, x0 : x0 + tw])
                jobs.append((i, y0, ya, yb, x0, xa, xb))
    out = np.zeros((b, h * s, w * s, c), np.float32)
    for k in range(0, len(tiles), batch):
        chunk = np.stack(tiles[k : k + batch])
        n = len(chunk)
        if n < batch:
            chunk = np.concatenate(
                [chunk, np.zeros((batch - n, th, tw, c), chunk.dtype)]
            )
        sr = fn(chunk)
        for j in range(n):
            i, y0, ya, yb, x0, xa, xb = jobs[k + j]
            out[i, ya * s : yb * s, xa * s : xb * s] = sr[
                j, (ya - y0) * s : (yb - y0) * s, (xa - x0) * s : (xb - x0) * s
            ]
    return out


def load_artifact(path: str, scale: int | None = None) -> Upscaler:
    """An :class:`~keras_sr.inference.Upscaler` for an exported artifact.

    Args:
        path: str. A ``.tflite`` or ``.onnx`` file, or a SavedModel folder
            (plain or TPU).
        scale: int. Expected factor; ``None`` reads it from the artifact.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a recognised artifact.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if p.suffix == ".tflite":
        return TFLiteUpscaler(p, scale=scale)
    if p.suffix == ".onnx":
        return ONNXUpscaler(p, scale=scale)
    if p.is_dir() and (p / "saved_model.pb").is_file():
        return SavedModelUpscaler(p, scale=scale)
    raise ValueError(
        f"{path}: not an exported artifact (expected .tflite, .onnx or a "
        "SavedModel folder)"
    )
