"""``tf.data`` input pipelines for SR training and validation.

Two sources, one output:

* :func:`make_dataset` reads TFRecord shards written by ``sr-tfrecords build``
  (the TPU path: static shapes, sharding by ``tf.distribute.InputContext``);
* :func:`make_folder_dataset` reads an image folder directly.

Both yield ``(lr, hr)`` float32 in ``[0, 1]``, NHWC, RGB (``C = 3``) or Y
(``C = 1``). In training mode the shapes are static, ``[B, p, p, C]`` and
``[B, p*s, p*s, C]``, and the last partial batch is dropped (TPUs need it).

Training pipeline (Model Garden's InputReader order)::

    files -> shard(input_context) -> shuffle files -> repeat -> interleave
    -> parse -> shuffle -> drop too-small images -> enumerate
    -> random crop on the LR grid (raw records: only the crop's rows are
       decoded) -> one of the 8 flips/rotations -> colour (RGB or MATLAB Y)
    -> batch(per replica, drop_remainder) -> degradation in the graph (on
       the batch) -> float32 -> prefetch

Randomness is stateless: every element gets the seed
``fold_in(seed, element index)``, so two pipelines with the same ``seed`` yield
identical batches.
"""

from __future__ import annotations

import glob as globlib
import math
import os
import random
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_sr.data import schema
from keras_sr.data.degradations import (
    DEGRADATIONS,
    corrupt,
    degrade,
    fold_seed,
)
from keras_sr.data.manifest import read_manifest
from keras_sr.io import IMAGE_EXTENSIONS, list_images, read_image
from keras_sr.ops.color import rgb_to_y

__all__ = [
    "COLORS",
    "LR_SOURCES",
    "decode_pixels",
    "dihedral",
    "make_dataset",
    "make_folder_dataset",
    "parse_example",
    "resolve_tfrecord_files",
]

COLORS = ("rgb", "y")
LR_SOURCES = ("on_the_fly", "stored")
AUTOTUNE = tf.data.AUTOTUNE

# Shuffle buffer sizing when ``shuffle_buffer`` is None: about this many bytes
# of serialized records, clamped to [_MIN_BUFFER, _MAX_BUFFER] elements.
_BUFFER_BYTES = 256 * 2**20
_MIN_BUFFER, _MAX_BUFFER, _DEFAULT_BUFFER = 64, 10_000, 1024

# ``cache="auto"`` keeps the decoded images in memory when the manifest says
# they take at most this many bytes (and at most an eighth of the RAM).
AUTO_CACHE_BYTES = 2 * 2**30


# ------------------------------------------------------------------ decoding


def decode_pixels(
    data: tf.Tensor,
    image_format: tf.Tensor | str,
    height: tf.Tensor,
    width: tf.Tensor,
    channels: tf.Tensor | int,
) -> tf.Tensor:
    """Decode one stored image to uint8 ``[height, width, channels]``.

    ``image_format`` is ``"raw"`` (row-major bytes) or ``"png"``, a Python
    string (static choice) or a scalar string tensor (chosen per record).
    """
    shape = tf.stack(
        [
            tf.cast(height, tf.int32),
            tf.cast(width, tf.int32),
            tf.cast(channels, tf.int32),
        ]
    )

    def raw() -> tf.Tensor:
        return tf.reshape(tf.io.decode_raw(data, tf.uint8), shape)

    def png() -> tf.Tensor:
        return tf.reshape(tf.io.decode_png(data, channels=0, dtype=tf.uint8), shape)

    if isinstance(image_format, str):
        if image_format not in schema.FORMATS:
            raise ValueError(
                f"unknown image format {image_format!r}; expected {schema.FORMATS}"
            )
        return raw() if image_format == schema.FORMAT_RAW else png()
    return tf.cond(tf.equal(image_format, schema.FORMAT_PNG), png, raw)


def _feature_spec(lr_scale: int | None, with_boundary: bool) -> dict:
    fixed = tf.io.FixedLenFeature
    spec = {
        schema.KEY_VERSION: fixed([], tf.int64, default_value=schema.SCHEMA_VERSION),
        schema.KEY_HR: fixed([], tf.string),
        schema.KEY_HEIGHT: fixed([], tf.int64),
        schema.KEY_WIDTH: fixed([], tf.int64),
        schema.KEY_CHANNELS: fixed([], tf.int64),
        schema.KEY_FORMAT: fixed([], tf.string, default_value=schema.FORMAT_RAW),
    }
    if with_boundary:
        spec[schema.KEY_HAS_BOUNDARY] = fixed([], tf.int64, default_value=0)
        spec[schema.KEY_BOUNDARY] = fixed([], tf.string, default_value="")
    if lr_scale is not None:
        spec[schema.lr_key(lr_scale)] = fixed([], tf.string)
    return spec


def parse_example(
    serialized: tf.Tensor,
    *,
    lr_scale: int | None = None,
    with_boundary: bool = False,
    image_format: str | None = None,
    decode: bool = True,
) -> dict[str, tf.Tensor]:
    """Parse one serialized ``tf.train.Example`` of the keras_sr schema.

    Returns a dict with ``"height"``, ``"width"``, ``"channels"`` (int32
    scalars) and ``"hr"`` (uint8 ``[H, W, C]``); with ``with_boundary`` also
    ``"boundary"`` (uint8 ``[H, W, 1]``, zeros when absent) and
    ``"has_boundary"`` (float32 0/1); with ``lr_scale`` also ``"lr"`` (the
    stored uint8 LR). ``decode=False`` leaves the encoded bytes under
    ``"hr_bytes"``/``"boundary_bytes"``/``"lr_bytes"`` and the format under
    ``"format"`` (decode later with :func:`decode_pixels`).
    """
    parsed = tf.io.parse_single_example(
        serialized, _feature_spec(lr_scale, with_boundary)
    )
    version_ok = tf.debugging.assert_less_equal(
        parsed[schema.KEY_VERSION],
        tf.constant(schema.SCHEMA_VERSION, tf.int64),
        message=(
            f"record schema version is newer than this keras_sr "
            f"(supports <= {schema.SCHEMA_VERSION})"
        ),
    )
    with tf.control_dependencies([version_ok]):
        height = tf.cast(parsed[schema.KEY_HEIGHT], tf.int32)
    out = {
        "height": height,
        "width": tf.cast(parsed[schema.KEY_WIDTH], tf.int32),
        "channels": tf.cast(parsed[schema.KEY_CHANNELS], tf.int32),
        "format": parsed[schema.KEY_FORMAT],
        "hr_bytes": parsed[schema.KEY_HR],
    }
    if with_boundary:
        out["has_boundary"] = tf.cast(parsed[schema.KEY_HAS_BOUNDARY] > 0, tf.float32)
        out["boundary_bytes"] = parsed[schema.KEY_BOUNDARY]
    if lr_scale is not None:
        out["lr_bytes"] = parsed[schema.lr_key(lr_scale)]
    if decode:
        out = _decode_record(out, image_format, lr_scale)
    return out


def _decode_record(
    ex: dict[str, tf.Tensor], image_format: str | None, lr_scale: int | None
) -> dict[str, tf.Tensor]:
    fmt = image_format if image_format is not None else ex["format"]
    h, w, c = ex["height"], ex["width"], ex["channels"]
    out = {k: v for k, v in ex.items() if not k.endswith("_bytes") and k != "format"}
    out["hr"] = decode_pixels(ex["hr_bytes"], fmt, h, w, c)
    if "boundary_bytes" in ex:
        out["boundary"] = tf.cond(
            ex["has_boundary"] > 0,
            lambda: decode_pixels(ex["boundary_bytes"], fmt, h, w, 1),
            lambda: tf.zeros(tf.stack([h, w, 1]), tf.uint8),
        )
    if "lr_bytes" in ex:
        out["lr"] = decode_pixels(ex["lr_bytes"], fmt, h // lr_scale, w // lr_scale, c)
    return out


# --------------------------------------------------------------- file lists


def _looks_like_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _compression_from_name(name: str) -> str:
    for comp, suffix in schema.COMPRESSION_SUFFIXES.items():
        if name.endswith(suffix):
            return comp
    return ""


def resolve_tfrecord_files(
    files: str | os.PathLike | Sequence[str | os.PathLike],
) -> tuple[list[str], dict | None]:
    """Expand ``files`` to a sorted list of shard paths (and the manifest, if
    any).

    ``files`` is a directory holding a ``manifest.json`` (its shards are
    used), a glob pattern, one file, or a list of files/patterns.

    Raises:
        FileNotFoundError: nothing matches, or a listed file is missing.
    """
    if isinstance(files, (str, os.PathLike)):
        text = os.fspath(files)
        path = Path(text)
        if path.is_dir():
            manifest = read_manifest(path)
            shards = [str(path / s["file"]) for s in manifest["shards"]]
            missing = [s for s in shards if not Path(s).is_file()]
            if missing:
                raise FileNotFoundError(
                    f"{path}: manifest lists missing shard(s): "
                    + ", ".join(Path(m).name for m in missing)
                )
            if not shards:
                raise ValueError(f"{path}: the dataset has no shards (0 examples)")
            return shards, manifest
        items = [text]
    else:
        items = [os.fspath(f) for f in files]
        if not items:
            raise ValueError("make_dataset: `files` is an empty list")
    out: list[str] = []
    for item in items:
        if _looks_like_glob(item):
            matches = sorted(tf.io.gfile.glob(item))
            if not matches:
                raise FileNotFoundError(f"{item}: no files match this pattern")
            out.extend(matches)
        else:
            if not tf.io.gfile.exists(item):
                raise FileNotFoundError(f"{item}: no such file")
            out.append(item)
    manifest = None
    parents = {str(Path(f).parent) for f in out}
    if len(parents) == 1:
        candidate = Path(next(iter(parents)))
        if (candidate / schema.MANIFEST_NAME).is_file():
            manifest = read_manifest(candidate)
    return out, manifest


# ------------------------------------------------------------- argument checks


def _check_args(
    scale: int,
    lr_patch_size: int | None,
    batch_size: int,
    training: bool,
    color: str,
    degradation: str | Callable,
    lr_source: str,
    noise_sigma: float,
    jpeg_quality: int | Sequence[int] | None,
) -> None:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 2:
        raise ValueError(f"scale must be an integer >= 2, got {scale!r}")
    if training and (lr_patch_size is None or int(lr_patch_size) < 1):
        raise ValueError(
            "lr_patch_size must be a positive integer in training, "
            f"got {lr_patch_size!r}"
        )
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if color not in COLORS:
        raise ValueError(f"color must be one of {COLORS}, got {color!r}")
    if not callable(degradation) and degradation not in DEGRADATIONS:
        raise ValueError(
            f"degradation must be one of {DEGRADATIONS} or a callable, "
            f"got {degradation!r}"
        )
    if lr_source not in LR_SOURCES:
        raise ValueError(f"lr_source must be one of {LR_SOURCES}, got {lr_source!r}")
    if lr_source == "stored" and degradation != "bicubic":
        raise ValueError(
            "lr_source='stored' uses the stored MATLAB-bicubic LR; "
            f"degradation={degradation!r} needs lr_source='on_the_fly'"
        )
    if noise_sigma < 0:
        raise ValueError(f"noise_sigma must be >= 0, got {noise_sigma}")
    if jpeg_quality is not None:
        qs = jpeg_quality if isinstance(jpeg_quality, (list, tuple)) else [jpeg_quality]
        if len(qs) not in (1, 2) or not all(1 <= int(q) <= 100 for q in qs):
            raise ValueError(
                "jpeg_quality must be an integer in [1, 100] or a (low, high) "
                f"pair, got {jpeg_quality!r}"
            )


def _base_seed(seed: int | None, input_context: tf.distribute.InputContext | None):
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    pipeline = input_context.input_pipeline_id if input_context is not None else 0
    return int(seed), tf.constant([int(seed), int(pipeline)], tf.int64)


# ------------------------------------------------------------ per-element ops


def _to_color(image: tf.Tensor, color: str) -> tf.Tensor:
    """uint8 ``[..., H, W, 1|3]`` -> RGB (gray replicated) or MATLAB Y (uint8,
    rounded; gray used as is)."""
    static_c = image.shape[-1]
    if color == "rgb":
        if static_c == 3:
            return image
        if static_c == 1:
            return tf.concat([image] * 3, axis=-1)
        out = tf.cond(
            tf.equal(tf.shape(image)[-1], 1),
            lambda: tf.concat([image[..., :1]] * 3, axis=-1),
            lambda: image[..., :3],
        )
        return tf.ensure_shape(out, image.shape[:-1].concatenate([3]))
    if static_c == 1:
        return image
    if static_c == 3:
        return rgb_to_y(image)
    out = tf.cond(
        tf.equal(tf.shape(image)[-1], 3),
        lambda: rgb_to_y(tf.ensure_shape(image, image.shape[:-1].concatenate([3]))),
        lambda: image[..., :1],
    )
    return tf.ensure_shape(out, image.shape[:-1].concatenate([1]))


def dihedral(image: tf.Tensor, k: tf.Tensor) -> tf.Tensor:
    """One of the 8 flips/rotations of a square ``[P, P, C]`` image.

    ``k`` (int32 scalar, ``0..7``): bit 0 transposes H and W, bit 1 flips
    up-down, bit 2 flips left-right; the 8 combinations are the 8 elements of
    the dihedral group (identity, 3 rotations, 4 mirrors). One
    ``tf.switch_case`` per image (measured cheaper in tf.data than
    ``tf.image.rot90`` plus a flip, or than a vectorised ``tf.where`` on the
    batch).
    """

    def t(x: tf.Tensor) -> tf.Tensor:
        return tf.transpose(x, [1, 0, 2])

    branches = [
        lambda: image,
        lambda: t(image),
        lambda: tf.reverse(image, [0]),
        lambda: tf.reverse(t(image), [0]),
        lambda: tf.reverse(image, [1]),
        lambda: tf.reverse(t(image), [1]),
        lambda: tf.reverse(image, [0, 1]),
        lambda: tf.reverse(t(image), [0, 1]),
    ]
    return tf.switch_case(k, branches)


class _Spec:
    """Normalised pipeline arguments shared by the TFRecord and folder readers."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
        # The one place where the user's arguments are normalised.
        self.scale = int(self.scale)
        if self.lr_patch_size is not None:
            self.lr_patch_size = int(self.lr_patch_size)
        self.batch_size = int(self.batch_size)
        self.noise_sigma = float(self.noise_sigma)
        self.quantize_lr = _quantize_default(self.quantize_lr, self.color)
        self.channels = 3 if self.color == "rgb" else 1
        self.hr_patch = (
            None if self.lr_patch_size is None else self.lr_patch_size * (self.scale)
        )

    # ---- training: one random crop aligned on the LR grid per element
    def _crop(
        self,
        ex: dict[str, tf.Tensor],
        name: str,
        y0: tf.Tensor,
        x0: tf.Tensor,
        size: int,
        channels: tf.Tensor | int,
    ) -> tf.Tensor:
        """uint8 ``[size, size, channels]`` crop of ``ex[name]`` at ``(y0, x0)``,
        decoding only what is needed: raw records slice the byte string to the
        crop's rows before decoding."""
        if name in ex:
            return ex[name][y0 : y0 + size, x0 : x0 + size, :]
        data = ex[name + "_bytes"]
        h, w = ex["height"], ex["width"]
        if name == "lr":
            h, w = h // self.scale, w // self.scale

        def raw() -> tf.Tensor:
            row = w * channels
            chunk = tf.strings.substr(data, y0 * row, size * row)
            rows = tf.reshape(
                tf.io.decode_raw(chunk, tf.uint8), tf.stack([size, w, channels])
            )
            return rows[:, x0 : x0 + size, :]

        def png() -> tf.Tensor:
            full = decode_pixels(data, schema.FORMAT_PNG, h, w, channels)
            return full[y0 : y0 + size, x0 : x0 + size, :]

        if self.image_format == schema.FORMAT_RAW:
            return raw()
        if self.image_format == schema.FORMAT_PNG:
            return png()
        return tf.cond(tf.equal(ex["format"], schema.FORMAT_PNG), png, raw)

    def train_element(self, idx: tf.Tensor, ex: dict[str, tf.Tensor]) -> dict:
        s, p = self.scale, self.lr_patch_size
        hp = p * s
        # One stateless draw per element: crop row, crop column, dihedral k.
        u = tf.random.stateless_uniform([3], fold_seed(self.base_seed, idx))
        lh, lw = ex["height"] // s, ex["width"] // s
        y = tf.minimum(
            tf.cast(u[0] * tf.cast(lh - p + 1, tf.float32), tf.int32), lh - p
        )
        x = tf.minimum(
            tf.cast(u[1] * tf.cast(lw - p + 1, tf.float32), tf.int32), lw - p
        )
        k = tf.minimum(tf.cast(u[2] * 8.0, tf.int32), 7)
        channels = ex.get("channels", tf.shape(ex["hr"])[-1] if "hr" in ex else None)
        hr = self._crop(ex, "hr", y * s, x * s, hp, channels)
        out = {"idx": idx}
        if self.with_boundary:
            has = ex["has_boundary"]
            b = tf.cond(
                has > 0,
                lambda: self._crop(ex, "boundary", y * s, x * s, hp, 1),
                lambda: tf.zeros([hp, hp, 1], tf.uint8),
            )
            # One transform for HR and boundary: stack them on channels.
            both = dihedral(tf.concat([hr, b], axis=-1), k)
            hr, b = both[..., :-1], both[..., -1:]
            out["boundary"] = tf.ensure_shape(b, [hp, hp, 1])
            out["has_boundary"] = has
        else:
            hr = dihedral(hr, k)
        out["hr"] = tf.ensure_shape(_to_color(hr, self.color), [hp, hp, self.channels])
        if self.lr_source == "stored":
            lr = dihedral(self._crop(ex, "lr", y, x, p, channels), k)
            lr = _to_color(lr, self.color)
            out["lr"] = tf.ensure_shape(lr, [p, p, self.channels])
        return out

    # ---- evaluation: the whole image, modcropped
    def eval_element(self, idx: tf.Tensor, ex: dict[str, tf.Tensor]) -> dict:
        s = self.scale
        h = ex["height"] - ex["height"] % s
        w = ex["width"] - ex["width"] % s
        out = {"idx": idx, "hr": _to_color(ex["hr"][:h, :w, :], self.color)}
        if self.with_boundary:
            out["boundary"] = ex["boundary"][:h, :w, :]
            out["has_boundary"] = ex["has_boundary"]
        if self.lr_source == "stored":
            out["lr"] = _to_color(ex["lr"], self.color)
        return out

    # ---- on the batch: the degradation, float conversion, output structure
    def finish_batch(self, batch: dict[str, tf.Tensor]):
        seed = fold_seed(self.base_seed, batch["idx"][0] + (1 << 40))
        hr = batch["hr"]
        if self.lr_source == "stored":
            lr = corrupt(
                batch["lr"],
                noise_sigma=self.noise_sigma,
                jpeg_quality=self.jpeg_quality,
                quantize_lr=self.quantize_lr,
                seed=seed,
            )
        else:
            lr = degrade(
                hr,
                self.scale,
                self.degradation,
                blur_sigma=self.blur_sigma,
                noise_sigma=self.noise_sigma,
                jpeg_quality=self.jpeg_quality,
                quantize_lr=self.quantize_lr,
                seed=seed,
            )
        hr = tf.cast(hr, tf.float32) / 255.0
        if self.training:
            b, p, c = self.batch_size, self.lr_patch_size, self.channels
            lr = tf.ensure_shape(lr, [b, p, p, c])
            hr = tf.ensure_shape(hr, [b, p * self.scale, p * self.scale, c])
        if not self.with_boundary:
            return lr, hr
        boundary = tf.cast(batch["boundary"], tf.float32) / 255.0
        if self.training:
            boundary = tf.ensure_shape(boundary, hr.shape[:-1].concatenate([1]))
        return lr, {
            "sr": hr,
            "boundary": boundary,
            "boundary_mask": tf.cast(batch["has_boundary"], tf.float32),
        }


def _options(deterministic: bool) -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = deterministic
    options.experimental_optimization.map_parallelization = True
    return options


def _finish(
    ds: tf.data.Dataset,
    spec: _Spec,
    *,
    decoded_stream: bool,
    decode_fn: Callable | None,
    shuffle_buffer: int,
    eval_batch: int,
) -> tf.data.Dataset:
    """Shared tail: shuffle, enumerate, size filter, crop/augment, batch,
    degrade. ``ds`` yields parsed (or decoded, if ``decoded_stream``) dicts."""
    s = spec.scale
    if spec.training:
        if shuffle_buffer > 1:
            ds = ds.shuffle(
                shuffle_buffer, seed=spec.seed_value, reshuffle_each_iteration=True
            )
        p = spec.lr_patch_size
        ds = ds.filter(lambda ex: (ex["height"] // s >= p) & (ex["width"] // s >= p))
        ds = ds.enumerate()

        # Crops come straight from the encoded bytes when not decoded yet.
        ds = ds.map(spec.train_element, num_parallel_calls=AUTOTUNE)
        ds = ds.batch(spec.batch_size, drop_remainder=True)
    else:
        ds = ds.filter(lambda ex: (ex["height"] >= s) & (ex["width"] >= s))
        ds = ds.enumerate()

        def element(idx, ex):
            if not decoded_stream:
                ex = decode_fn(ex)
            return spec.eval_element(idx, ex)

        ds = ds.map(element, num_parallel_calls=AUTOTUNE)
        ds = ds.batch(eval_batch, drop_remainder=False)
    ds = ds.map(spec.finish_batch, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def _default_buffer(manifest: dict | None) -> int:
    if manifest is None:
        return _DEFAULT_BUFFER
    stats = manifest.get("stats") or {}
    total, n = stats.get("bytes"), manifest.get("examples")
    if not total or not n:
        return _DEFAULT_BUFFER
    return int(min(_MAX_BUFFER, max(_MIN_BUFFER, _BUFFER_BYTES // max(1, total // n))))


def _decoded_bytes(manifest: dict) -> int | None:
    """Bytes of the decoded pixels, from the manifest (``None`` if unknown)."""
    stats = manifest.get("stats") or {}
    total = stats.get("bytes")
    if not total:
        return None
    encoding = (manifest.get("params") or {}).get("encoding")
    # Raw records hold the pixels plus a few bytes; PNG compresses natural
    # photos about 2x, so 4x is a safe upper estimate.
    return int(total) if encoding == "raw" else 4 * int(total)


def _physical_ram() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _auto_cache(
    manifest_or_bytes: dict | int | None,
    training: bool,
    repeat: int | None,
    input_context: tf.distribute.InputContext | None,
) -> bool:
    """The ``cache="auto"`` decision: decode once when it fits and pays.
    Takes a manifest, or the decoded size in bytes when it is known."""
    if not training or repeat == 1 or manifest_or_bytes is None:
        return False
    if isinstance(manifest_or_bytes, dict):
        size = _decoded_bytes(manifest_or_bytes)
    else:
        size = int(manifest_or_bytes)
    if size is None:
        return False
    if input_context is not None:
        size //= max(1, input_context.num_input_pipelines)
    ram = _physical_ram()
    budget = AUTO_CACHE_BYTES if ram is None else min(AUTO_CACHE_BYTES, ram // 8)
    return size <= budget


def _quantize_default(quantize_lr: bool | None, color: str) -> bool:
    # "rgb" follows the RGB-uint8 protocol (8-bit LR); "y" the y-first protocol
    # (LR computed in floating point on the rounded Y).
    return (color == "rgb") if quantize_lr is None else bool(quantize_lr)


# ------------------------------------------------------------ TFRecord reader


def make_dataset(
    files: str | os.PathLike | Sequence[str | os.PathLike],
    scale: int,
    lr_patch_size: int | None,
    batch_size: int,
    training: bool = True,
    color: str = "rgb",
    seed: int | None = None,
    degradation: str | Callable[..., tf.Tensor] = "bicubic",
    noise_sigma: float = 0.0,
    jpeg_quality: int | Sequence[int] | None = None,
    with_boundary: bool = False,
    input_context: tf.distribute.InputContext | None = None,
    shuffle_buffer: int | None = None,
    repeat: int | None = None,
    compression: str | None = "auto",
    lr_source: str = "on_the_fly",
    cache: bool | str = "auto",
    *,
    blur_sigma: float | None = None,
    quantize_lr: bool | None = None,
    cycle_length: int | None = None,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(lr, hr)`` pairs from ``sr-tfrecords`` shards.

    Args:
        files: a dataset folder with a ``manifest.json``, a glob pattern
            (``"gs://bucket/sr/data-*.tfrecord"``), one file, or a list.
        scale: integer SR factor >= 2.
        lr_patch_size: LR crop side ``p`` in training (HR crop is ``p *
            scale``); ignored when ``training=False``.
        batch_size: the **global** batch size; with ``input_context`` each
            pipeline batches ``input_context.get_per_replica_batch_size``.
        training: random crops, flips/rotations, shuffling, repeat and static
            shapes with ``drop_remainder=True``. ``False``: whole images,
            modcropped to multiples of ``scale``, in file order, no
            augmentation, batch 1 (or ``batch_size`` when the manifest says
            every example has the same size, i.e. sub-images).
        color: ``"rgb"`` (gray images replicated to 3 channels) or ``"y"``
            (MATLAB ``rgb2ycbcr`` Y of the uint8 HR, rounded to uint8, as the
            y-first protocol; single-channel images are Y as is).
        seed: makes the pipeline deterministic (same seed, same batches).
            ``None`` draws a random seed and lets tf.data reorder freely.
        degradation: ``"bicubic"`` (MATLAB imresize), ``"blur"`` (Gaussian
            blur sigma ``blur_sigma`` or ``0.4 * scale``, then subsampling; seed
            000) or a callable ``fn(hr, scale) -> lr`` on float32 ``[B,H,W,C]``
            batches in ``[0, 1]`` (passed ``seed=`` if it accepts it).
        noise_sigma: Gaussian noise std added to the LR, on the [0, 1] scale.
        jpeg_quality: JPEG-compress the LR at this quality, or at a quality
            drawn per image from a ``(low, high)`` range.
        with_boundary: also return the boundary maps: the target becomes
            ``{"sr": hr, "boundary": b, "boundary_mask": m}`` with ``b``
            float32 ``[B, P, P, 1]`` in ``[0, 1]`` (zeros where absent) and
            ``m`` float32 ``[B]``, 1 for examples that have a boundary map, so
            a loss can be masked (e.g. ``mean(m[:, None, None, None] * err)``).
        input_context: a ``tf.distribute.InputContext``; the file list is
            sharded by ``input_pipeline_id`` **before** interleave (so it
            needs at least as many files as input pipelines).
        shuffle_buffer: record shuffle buffer; default about 256 MB of records
            (from the manifest), 1024 without a manifest.
        repeat: epochs; ``None`` repeats forever in training, once in eval.
        compression: ``"auto"`` (manifest, else file suffix ``.gz``/``.zlib``),
            ``None``/``""``, ``"GZIP"`` or ``"ZLIB"``.
        lr_source: ``"on_the_fly"`` (degrade in the graph) or ``"stored"``
            (the LR written by ``sr-tfrecords build --scales``).
        cache: ``"auto"`` (default) caches the decoded images in memory
            when training for more than one epoch and the manifest puts
            them at <= ``AUTO_CACHE_BYTES`` (2 GiB, and <= 1/8 of the RAM):
            decoding once is 2-3x faster than streaming
            (``benchmarks/data_pipeline.py``). ``True`` always caches in
            memory, a string caches to that file prefix, ``False`` streams
            the records every epoch (datasets larger than the RAM).
        blur_sigma: sigma for ``degradation="blur"``.
        quantize_lr: round the LR to 8-bit levels; default ``True`` for
            ``"rgb"`` (the RGB-uint8 protocol: the LR is exactly MATLAB's
            uint8 ``imresize`` of the HR crop) and ``False`` for ``"y"`` (the
            y-first protocol computes the LR in floating point).
        cycle_length: files read in parallel by interleave (default
            ``min(#files, 8)``).

    Returns:
        A dataset of ``(lr, hr)``: float32, NHWC, ``[0, 1]``; in training
        ``lr`` is ``[B, p, p, C]`` and ``hr`` ``[B, p*s, p*s, C]``.

    Example:
        >>> ds = make_dataset("runs/t91_tfrecords", scale=4, lr_patch_size=24,
        ...                   batch_size=16, seed=0)  # doctest: +SKIP
        >>> lr, hr = next(iter(ds))  # doctest: +SKIP
        >>> lr.shape, hr.shape  # doctest: +SKIP
        (TensorShape([16, 24, 24, 3]), TensorShape([16, 96, 96, 3]))
    """
    _check_args(
        scale,
        lr_patch_size,
        batch_size,
        training,
        color,
        degradation,
        lr_source,
        noise_sigma,
        jpeg_quality,
    )
    paths, manifest = resolve_tfrecord_files(files)
    params = (manifest or {}).get("params", {})
    image_format = params.get("encoding")
    if compression == "auto":
        if manifest is not None:
            compression = params.get("compression") or ""
        else:
            kinds = {_compression_from_name(p) for p in paths}
            if len(kinds) > 1:
                raise ValueError(
                    "make_dataset: files mix compression types; pass compression="
                )
            compression = kinds.pop()
    compression = (compression or "").upper()
    if compression not in ("", "GZIP", "ZLIB"):
        raise ValueError(f"compression must be GZIP, ZLIB or none, got {compression!r}")
    lr_scale = None
    if lr_source == "stored":
        lr_scale = int(scale)
        stored = params.get("scales")
        if manifest is not None and int(scale) not in (stored or []):
            raise ValueError(
                f"lr_source='stored': the dataset stores LR for scales "
                f"{stored or []}, not x{scale} (rebuild with --scales {scale})"
            )
        if color == "y" and manifest is not None and params.get("color") != "y":
            raise ValueError(
                "lr_source='stored' with color='y' needs records written with "
                "--color y (the Y of a stored RGB LR is not the LR of the Y)"
            )
    if color == "rgb" and params.get("color") == "y":
        raise ValueError(
            "these records store Y only (--color y); read them with color='y'"
        )
    if with_boundary and manifest is not None:
        if not (manifest.get("stats") or {}).get("with_boundary"):
            warnings.warn(
                "with_boundary=True but no example in this dataset has a "
                "boundary map; every boundary_mask will be 0",
                stacklevel=2,
            )
    _check_sizes(manifest, scale, lr_patch_size, training)

    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
        n = input_context.num_input_pipelines
        if len(paths) < n:
            raise ValueError(
                f"{len(paths)} TFRecord file(s) cannot be sharded over {n} input "
                "pipelines; write more shards (sr-tfrecords build --num-shards)"
            )
    if cache == "auto":
        cache = _auto_cache(manifest, training, repeat, input_context)
    seed_value, base_seed = _base_seed(seed, input_context)
    spec = _Spec(
        scale=scale,
        lr_patch_size=lr_patch_size,
        batch_size=batch_size,
        training=training,
        color=color,
        degradation=degradation,
        blur_sigma=blur_sigma,
        noise_sigma=noise_sigma,
        jpeg_quality=jpeg_quality,
        quantize_lr=quantize_lr,
        with_boundary=with_boundary,
        lr_source=lr_source,
        seed_value=seed_value,
        base_seed=base_seed,
        image_format=image_format,
    )

    files_ds = tf.data.Dataset.from_tensor_slices(paths)
    if input_context is not None and input_context.num_input_pipelines > 1:
        files_ds = files_ds.shard(
            input_context.num_input_pipelines, input_context.input_pipeline_id
        )
    pipelines = input_context.num_input_pipelines if input_context else 1
    n_files = math.ceil(len(paths) / pipelines)
    epochs = repeat if repeat is not None else (None if training else 1)
    if not cache:
        if training:
            files_ds = files_ds.shuffle(
                max(1, n_files), seed=seed_value, reshuffle_each_iteration=True
            )
        if epochs != 1:
            files_ds = files_ds.repeat(epochs)
    cycle = cycle_length or min(n_files, 8)
    deterministic = seed is not None or not training

    def read(path):
        return tf.data.TFRecordDataset(
            path, compression_type=compression, buffer_size=4 * 2**20
        )

    if training:
        records = files_ds.interleave(
            read,
            cycle_length=max(1, cycle),
            block_length=1,
            num_parallel_calls=AUTOTUNE,
            deterministic=deterministic,
        )
    else:
        records = files_ds.flat_map(read)

    def parse(serialized):
        return parse_example(
            serialized,
            lr_scale=lr_scale,
            with_boundary=with_boundary,
            image_format=image_format,
            decode=bool(cache),
        )

    ds = records.map(parse, num_parallel_calls=AUTOTUNE)
    if cache:
        # Decode once: colour conversion before the cache (a third of the
        # memory for Y), then replay the decoded images every epoch.
        ds = ds.map(lambda ex: _color_early(ex, color), num_parallel_calls=AUTOTUNE)
        ds = ds.cache("" if cache is True else os.fspath(cache))
        if epochs != 1:
            ds = ds.repeat(epochs)
    buffer = shuffle_buffer if shuffle_buffer is not None else _default_buffer(manifest)

    def decode_fn(ex):
        return _decode_record(ex, image_format, lr_scale)

    eval_batch = spec.batch_size if _uniform_size(manifest) else 1
    ds = _finish(
        ds,
        spec,
        decoded_stream=bool(cache),
        decode_fn=decode_fn,
        shuffle_buffer=int(buffer),
        eval_batch=eval_batch,
    )
    return ds.with_options(_options(deterministic))


def _color_early(ex: dict[str, tf.Tensor], color: str) -> dict[str, tf.Tensor]:
    out = dict(ex, hr=_to_color(ex["hr"], color))
    if "lr" in ex:
        out["lr"] = _to_color(ex["lr"], color)
    return out


def _uniform_size(manifest: dict | None) -> bool:
    if manifest is None:
        return False
    stats = manifest.get("stats") or {}
    return (
        stats.get("min_height") is not None
        and stats.get("min_height") == stats.get("max_height")
        and stats.get("min_width") == stats.get("max_width")
    )


def _check_sizes(
    manifest: dict | None, scale: int, lr_patch_size: int | None, training: bool
) -> None:
    if manifest is None or not training:
        return
    stats = manifest.get("stats") or {}
    need = int(lr_patch_size) * int(scale)
    max_h, max_w = stats.get("max_height"), stats.get("max_width")
    min_h, min_w = stats.get("min_height"), stats.get("min_width")
    if max_h is None or min_h is None:
        return
    if max_h < need or max_w < need:
        raise ValueError(
            f"every example is smaller than the HR patch {need}x{need} "
            f"(lr_patch_size {lr_patch_size} x scale {scale}); largest is "
            f"{max_h}x{max_w}"
        )
    if min_h < need or min_w < need:
        warnings.warn(
            f"some examples are smaller than the HR patch {need}x{need} "
            "and are skipped by the reader",
            stacklevel=3,
        )


# --------------------------------------------------------------- folder reader


def _image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the header, after EXIF orientation."""
    from PIL import Image

    with Image.open(path) as img:
        w, h = img.size
        try:
            orientation = img.getexif().get(0x0112, 1)
        except Exception:  # noqa: BLE001 - a broken EXIF block is not fatal here
            orientation = 1
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def _folder_files(directory_or_glob) -> list[Path]:
    """Image files from a folder, a glob pattern, a file, or a list of these
    (e.g. ``[T91, BSD200]`` for the 291-image set)."""
    items = (
        [directory_or_glob]
        if isinstance(directory_or_glob, (str, os.PathLike))
        else list(directory_or_glob)
    )
    if not items:
        raise ValueError("make_folder_dataset: empty file list")
    files: list[Path] = []
    for item in items:
        text = os.fspath(item)
        if Path(text).is_dir():
            files.extend(list_images(text))
        elif _looks_like_glob(text):
            matches = sorted(
                Path(p)
                for p in globlib.glob(text)
                if Path(p).suffix.lower() in IMAGE_EXTENSIONS and Path(p).is_file()
            )
            if not matches:
                raise FileNotFoundError(f"{text}: no image files match this pattern")
            files.extend(matches)
        elif Path(text).is_file():
            files.append(Path(text))
        else:
            raise FileNotFoundError(f"{text}: no such directory or file")
    return files


def _boundary_for(files: list[Path], boundary_dir: str | os.PathLike) -> list[str]:
    bdir = Path(boundary_dir)
    if not bdir.is_dir():
        raise FileNotFoundError(f"{bdir}: no such directory")
    by_stem = {p.stem: p for p in sorted(bdir.iterdir()) if p.is_file()}
    return [str(by_stem[f.stem]) if f.stem in by_stem else "" for f in files]


def _read_pair(path: bytes, bpath: bytes, color: str):
    hr = read_image(path.decode())
    if bpath:
        b = read_image(bpath.decode())
        if b.shape[:2] != hr.shape[:2]:
            raise ValueError(
                f"{bpath.decode()}: boundary map is {b.shape[0]}x{b.shape[1]} but "
                f"{path.decode()} is {hr.shape[0]}x{hr.shape[1]}"
            )
        b = b[..., :1]
        has = np.float32(1.0)
    else:
        b = np.zeros(hr.shape[:2] + (1,), np.uint8)
        has = np.float32(0.0)
    return hr, b, has


def make_folder_dataset(
    directory_or_glob: str | os.PathLike | Sequence[str | os.PathLike],
    scale: int,
    lr_patch_size: int | None,
    batch_size: int,
    training: bool = True,
    color: str = "rgb",
    seed: int | None = None,
    degradation: str | Callable[..., tf.Tensor] = "bicubic",
    noise_sigma: float = 0.0,
    jpeg_quality: int | Sequence[int] | None = None,
    with_boundary: bool = False,
    input_context: tf.distribute.InputContext | None = None,
    shuffle_buffer: int | None = None,
    repeat: int | None = None,
    compression: str | None = "auto",
    lr_source: str = "on_the_fly",
    cache: bool | str = "auto",
    *,
    boundary_dir: str | os.PathLike | None = None,
    blur_sigma: float | None = None,
    quantize_lr: bool | None = None,
) -> tf.data.Dataset:
    """:func:`make_dataset`'s output straight from an image folder.

    Same arguments and output as :func:`make_dataset` (``compression`` is
    ignored, ``lr_source`` must be ``"on_the_fly"``). Images are read with
    :func:`keras_sr.io.read_image` (EXIF rotation, palette, CMYK, 16-bit and
    alpha handled); an unreadable file stops the pipeline with an error naming
    it. In training, images smaller than the HR patch are left out with a
    warning. ``cache=True`` decodes (and converts to Y) each image once and
    keeps it in memory: the efficient choice for small sets such as T91 and
    BSD200 (about 100 MB of RGB, a third of that as Y). The default
    ``"auto"`` does so when training for more than one epoch and the decoded
    images (sizes read from the file headers) fit in ``AUTO_CACHE_BYTES``.

    Args:
        directory_or_glob: a folder, a glob pattern, or a list of image files.
        boundary_dir: with ``with_boundary``, the folder of boundary maps,
            matched to the images by file stem (e.g. BSD200_boundaries).

    Example:
        >>> ds = make_folder_dataset("../shared/data/train/T91", scale=3,
        ...     lr_patch_size=11, batch_size=64, color="y", cache=True,
        ...     seed=0)  # doctest: +SKIP
    """
    del compression
    _check_args(
        scale,
        lr_patch_size,
        batch_size,
        training,
        color,
        degradation,
        lr_source,
        noise_sigma,
        jpeg_quality,
    )
    if lr_source != "on_the_fly":
        raise ValueError("make_folder_dataset: lr_source must be 'on_the_fly'")
    if with_boundary and boundary_dir is None:
        raise ValueError("with_boundary=True needs boundary_dir= for a folder dataset")
    files = _folder_files(directory_or_glob)
    sizes = []
    for f in files:
        try:
            sizes.append(_image_size(f))
        except Exception as err:  # noqa: BLE001 - report which file is bad
            raise ValueError(f"{f}: not a readable image ({err})") from None
    if training:
        need = int(lr_patch_size) * int(scale)
        keep = [i for i, (h, w) in enumerate(sizes) if h >= need and w >= need]
        if not keep:
            raise ValueError(
                f"every image is smaller than the HR patch {need}x{need} "
                f"(lr_patch_size {lr_patch_size} x scale {scale})"
            )
        if len(keep) < len(files):
            small = [files[i].name for i in range(len(files)) if i not in set(keep)]
            warnings.warn(
                f"{len(small)} image(s) smaller than the HR patch {need}x{need} "
                f"are left out: {', '.join(small[:5])}"
                + (" ..." if len(small) > 5 else ""),
                stacklevel=2,
            )
            files = [files[i] for i in keep]
            sizes = [sizes[i] for i in keep]
    bpaths = _boundary_for(files, boundary_dir) if with_boundary else [""] * len(files)
    for f, b, size in zip(files, bpaths, sizes, strict=True):
        if b and _image_size(Path(b)) != size:
            raise ValueError(
                f"{b}: boundary map is {_image_size(Path(b))}, but {f} is {size} "
                "(height, width)"
            )
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
        if len(files) < input_context.num_input_pipelines:
            raise ValueError(
                f"{len(files)} image(s) cannot be sharded over "
                f"{input_context.num_input_pipelines} input pipelines"
            )
    if cache == "auto":
        per_pixel = (3 if color == "rgb" else 1) + (1 if with_boundary else 0)
        decoded = sum(h * w for h, w in sizes) * per_pixel
        cache = _auto_cache(decoded, training, repeat, input_context)
    seed_value, base_seed = _base_seed(seed, input_context)
    spec = _Spec(
        scale=scale,
        lr_patch_size=lr_patch_size,
        batch_size=batch_size,
        training=training,
        color=color,
        degradation=degradation,
        blur_sigma=blur_sigma,
        noise_sigma=noise_sigma,
        jpeg_quality=jpeg_quality,
        quantize_lr=quantize_lr,
        with_boundary=with_boundary,
        lr_source="on_the_fly",
        seed_value=seed_value,
        base_seed=base_seed,
        image_format=None,
    )
    ds = tf.data.Dataset.from_tensor_slices(([str(f) for f in files], bpaths))
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(
            input_context.num_input_pipelines, input_context.input_pipeline_id
        )
    pipelines = input_context.num_input_pipelines if input_context else 1
    n_files = math.ceil(len(files) / pipelines)
    epochs = repeat if repeat is not None else (None if training else 1)
    if not cache:
        if training:
            ds = ds.shuffle(n_files, seed=seed_value, reshuffle_each_iteration=True)
        if epochs != 1:
            ds = ds.repeat(epochs)
    channels = spec.channels

    def decode(path, bpath):
        hr, b, has = tf.numpy_function(
            _read_pair, [path, bpath, color], [tf.uint8, tf.uint8, tf.float32]
        )
        hr = _to_color(tf.ensure_shape(hr, [None, None, None]), color)
        hr = tf.ensure_shape(hr, [None, None, channels])
        shape = tf.shape(hr)
        ex = {"hr": hr, "height": shape[0], "width": shape[1]}
        if with_boundary:
            ex["boundary"] = tf.ensure_shape(b, [None, None, 1])
            ex["has_boundary"] = tf.ensure_shape(has, [])
        return ex

    ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache("" if cache is True else os.fspath(cache))
        if epochs != 1:
            ds = ds.repeat(epochs)
    if shuffle_buffer is None:
        shuffle_buffer = n_files if cache else min(n_files, 64)
    # Whole images batch together only when their modcropped sizes agree.
    uniform = len({(h - h % scale, w - w % scale) for h, w in sizes}) == 1
    deterministic = seed is not None or not training
    ds = _finish(
        ds,
        spec,
        decoded_stream=True,
        decode_fn=None,
        shuffle_buffer=int(shuffle_buffer),
        eval_batch=spec.batch_size if uniform else 1,
    )
    return ds.with_options(_options(deterministic))
