"""The TFRecord schema shared by the writer (``tfrecords_tools``) and the reader.

Every key a record can carry is defined here **once**; ``tfrecords_tools``
imports these names, so the writer and :func:`keras_sr.data.make_dataset`
cannot drift apart.

One ``tf.train.Example`` holds one HR image (a full image or a sub-image):

==============================  ======  =========================================
key                             type    content
==============================  ======  =========================================
``schema/version``              int64   :data:`SCHEMA_VERSION`
``image/hr/encoded``            bytes   HR pixels, uint8 ``[H, W, C]`` (see format)
``image/height``                int64   ``H``
``image/width``                 int64   ``W``
``image/channels``              int64   ``C``: 3 (RGB) or 1 (gray or Y)
``image/format``                bytes   ``b"raw"`` (row-major uint8) or ``b"png"``
``image/source_id``             bytes   source file name (+ ``@y,x`` for sub-images)
``image/has_boundary``          int64   1 if a boundary map is stored, else 0
``image/boundary/encoded``      bytes   boundary map, uint8 ``[H, W, 1]`` (0..255),
                                        same format as HR; empty when absent
``image/lr/x{s}/encoded``       bytes   optional MATLAB-bicubic LR for scale ``s``:
                                        uint8 ``[ceil(H'/s), ceil(W'/s), C]`` with
                                        ``H' = H - H % s`` (modcrop), same format
==============================  ======  =========================================

Versioning: :data:`SCHEMA_VERSION` is bumped whenever a key changes meaning or
a required key is added. Readers accept records whose version is at most
theirs (new optional keys do not bump the version).
"""

from __future__ import annotations

SCHEMA_VERSION = 1

KEY_VERSION = "schema/version"
KEY_HR = "image/hr/encoded"
KEY_HEIGHT = "image/height"
KEY_WIDTH = "image/width"
KEY_CHANNELS = "image/channels"
KEY_FORMAT = "image/format"
KEY_SOURCE_ID = "image/source_id"
KEY_HAS_BOUNDARY = "image/has_boundary"
KEY_BOUNDARY = "image/boundary/encoded"

FORMAT_RAW = "raw"
FORMAT_PNG = "png"
FORMATS = (FORMAT_RAW, FORMAT_PNG)

MANIFEST_NAME = "manifest.json"
SHARD_SUFFIX = ".tfrecord"
COMPRESSION_SUFFIXES = {"GZIP": ".gz", "ZLIB": ".zlib"}

__all__ = [
    "COMPRESSION_SUFFIXES",
    "FORMATS",
    "FORMAT_PNG",
    "FORMAT_RAW",
    "KEY_BOUNDARY",
    "KEY_CHANNELS",
    "KEY_FORMAT",
    "KEY_HAS_BOUNDARY",
    "KEY_HEIGHT",
    "KEY_HR",
    "KEY_SOURCE_ID",
    "KEY_VERSION",
    "KEY_WIDTH",
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "SHARD_SUFFIX",
    "lr_key",
    "shard_name",
]


def lr_key(scale: int) -> str:
    """The key of the stored LR image for ``scale``, e.g. ``image/lr/x4/encoded``."""
    scale = int(scale)
    if scale < 2:
        raise ValueError(f"scale must be an integer >= 2, got {scale}")
    return f"image/lr/x{scale}/encoded"


def shard_name(index: int, num_shards: int, compression: str | None = None) -> str:
    """Shard file name, e.g. ``data-00003-of-00008.tfrecord`` (``.gz`` for GZIP)."""
    suffix = SHARD_SUFFIX + COMPRESSION_SUFFIXES.get(compression or "", "")
    return f"data-{index:05d}-of-{num_shards:05d}{suffix}"
