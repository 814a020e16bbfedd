"""Turn one input image into ``tf.train.Example`` records of the keras_sr schema.

All keys come from :mod:`keras_sr.data.schema`, the module the reader uses.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from keras_sr.data import schema
from keras_sr.io import ImageReadError, read_image
from keras_sr.ops.color import rgb_to_y
from keras_sr.ops.resize import imresize

__all__ = [
    "InputResult",
    "encode_pixels",
    "make_example",
    "process_input",
    "tile_positions",
]


def encode_pixels(image: np.ndarray, encoding: str) -> bytes:
    """uint8 ``[H, W, C]`` -> bytes: ``"raw"`` (row-major) or ``"png"``."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if encoding == schema.FORMAT_RAW:
        return image.tobytes()
    if encoding == schema.FORMAT_PNG:
        buf = io.BytesIO()
        arr = image[..., 0] if image.shape[-1] == 1 else image
        Image.fromarray(arr).save(buf, format="PNG", compress_level=6)
        return buf.getvalue()
    raise ValueError(f"unknown encoding {encoding!r}; choose from {schema.FORMATS}")


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def make_example(
    hr: np.ndarray,
    source_id: str,
    encoding: str,
    boundary: np.ndarray | None = None,
    lrs: dict[int, np.ndarray] | None = None,
) -> bytes:
    """Serialize one HR image (with optional boundary map and stored LRs).

    Args:
        hr: uint8 ``[H, W, C]``, ``C`` 1 or 3.
        source_id: file name (plus ``@y,x`` for a sub-image).
        encoding: ``"raw"`` or ``"png"`` (used for every image in the record).
        boundary: uint8 ``[H, W, 1]`` or ``None``.
        lrs: ``{scale: uint8 LR of modcrop(hr, scale)}``.
    """
    h, w, c = hr.shape
    feature = {
        schema.KEY_VERSION: _int(schema.SCHEMA_VERSION),
        schema.KEY_HR: _bytes(encode_pixels(hr, encoding)),
        schema.KEY_HEIGHT: _int(h),
        schema.KEY_WIDTH: _int(w),
        schema.KEY_CHANNELS: _int(c),
        schema.KEY_FORMAT: _bytes(encoding.encode()),
        schema.KEY_SOURCE_ID: _bytes(source_id.encode("utf-8")),
        schema.KEY_HAS_BOUNDARY: _int(boundary is not None),
        schema.KEY_BOUNDARY: _bytes(
            b"" if boundary is None else encode_pixels(boundary, encoding)
        ),
    }
    for scale, lr in sorted((lrs or {}).items()):
        expected = (h // scale, w // scale, c)
        if lr.shape != expected:
            raise ValueError(f"{source_id}: LR x{scale} is {lr.shape}, not {expected}")
        feature[schema.lr_key(scale)] = _bytes(encode_pixels(lr, encoding))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    # deterministic=True: map fields in key order, so a rebuilt shard is
    # byte-identical (resume and sha256 checks rely on it).
    return example.SerializeToString(deterministic=True)


def tile_positions(length: int, patch: int, stride: int) -> list[int]:
    """SRCNN-style sub-image origins ``0, stride, ...`` while the patch fits
    (no extra tail tile, so counts match the classic MATLAB scripts)."""
    return list(range(0, length - patch + 1, stride))


@dataclasses.dataclass
class InputResult:
    """What one input produced: serialized examples, or a skip reason."""

    examples: list[bytes]
    skip_reason: str | None = None
    sizes: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    channels: int | None = None
    has_boundary: bool = False


def _boundary_channel(b: np.ndarray) -> np.ndarray:
    if b.shape[-1] == 1:
        return b
    # An RGB-saved gray map: equal channels -> any; otherwise the mean.
    if np.array_equal(b[..., 0], b[..., 1]) and np.array_equal(b[..., 1], b[..., 2]):
        return b[..., :1]
    return np.floor(b.astype(np.float64).mean(axis=-1, keepdims=True) + 0.5).astype(
        np.uint8
    )


def process_input(
    path: Path,
    boundary_path: Path | None,
    *,
    patch_size: int | None,
    stride: int | None,
    color: str,
    scales: Sequence[int],
    encoding: str,
) -> InputResult:
    """Read, check, convert and tile one input; never raises for bad input
    (the reason comes back in ``skip_reason``)."""
    try:
        hr = read_image(path)
    except ImageReadError as err:
        return InputResult([], err.reason)
    h, w = hr.shape[:2]
    if patch_size is not None and (h < patch_size or w < patch_size):
        return InputResult(
            [], f"image is {h}x{w}, smaller than the patch size {patch_size}"
        )
    need = max(scales, default=1)
    if h < need or w < need:
        return InputResult([], f"image is {h}x{w}, too small for scale x{need}")
    boundary = None
    if boundary_path is not None:
        try:
            boundary = read_image(boundary_path)
        except ImageReadError as err:
            return InputResult([], f"boundary map {boundary_path}: {err.reason}")
        if boundary.shape[:2] != hr.shape[:2]:
            return InputResult(
                [],
                f"boundary map {boundary_path.name} is "
                f"{boundary.shape[0]}x{boundary.shape[1]}, the image is {h}x{w}",
            )
        boundary = _boundary_channel(boundary)
    if color == "y" and hr.shape[-1] == 3:
        hr = rgb_to_y(hr).numpy()
    if patch_size is None:
        tiles = [(0, 0, hr, boundary)]
    else:
        step = stride or patch_size
        tiles = [
            (
                y,
                x,
                hr[y : y + patch_size, x : x + patch_size],
                None
                if boundary is None
                else boundary[y : y + patch_size, x : x + patch_size],
            )
            for y in tile_positions(h, patch_size, step)
            for x in tile_positions(w, patch_size, step)
        ]
    lrs: list[dict[int, np.ndarray]] = [{} for _ in tiles]
    for s in scales:
        if patch_size is None:
            mc = hr[: h - h % s, : w - w % s]
            lrs[0][s] = imresize(mc, scale=1.0 / s).numpy()
        else:
            # All tiles share a size: one batched MATLAB-bicubic call.
            ph = patch_size - patch_size % s
            stack = np.stack([t[2][:ph, :ph] for t in tiles])
            lr = imresize(stack, scale=1.0 / s).numpy()
            for i in range(len(tiles)):
                lrs[i][s] = lr[i]
    name = path.name
    examples = []
    for (y, x, tile, btile), lr in zip(tiles, lrs, strict=True):
        sid = name if patch_size is None else f"{name}@{y},{x}"
        examples.append(make_example(tile, sid, encoding, btile, lr))
    sizes = [t[2].shape[:2] for t in tiles]
    return InputResult(
        examples,
        None,
        sizes=sizes,
        channels=int(hr.shape[-1]),
        has_boundary=boundary is not None,
    )
