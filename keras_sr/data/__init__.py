"""Input pipelines for SR training: the TFRecord schema, ``tf.data`` readers
and graph-safe degradations.

* :func:`make_dataset` reads ``sr-tfrecords`` shards (static shapes, TPU
  sharding); :func:`make_folder_dataset` reads an image folder directly.
* :mod:`keras_sr.data.schema` defines every record key once (the writer in
  ``tfrecords_tools`` imports it).
* :mod:`keras_sr.data.degradations`: MATLAB bicubic, Gaussian blur +
  subsampling, Gaussian noise, JPEG.
"""

from keras_sr.data import degradations, schema
from keras_sr.data.degradations import (
    add_gaussian_noise,
    bicubic_downscale,
    blur_downscale,
    degrade,
    gaussian_blur,
    jpeg_compress,
)
from keras_sr.data.manifest import ManifestError, read_manifest
from keras_sr.data.reader import (
    decode_pixels,
    make_dataset,
    make_folder_dataset,
    parse_example,
    resolve_tfrecord_files,
)
from keras_sr.data.schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "ManifestError",
    "add_gaussian_noise",
    "bicubic_downscale",
    "blur_downscale",
    "decode_pixels",
    "degradations",
    "degrade",
    "gaussian_blur",
    "jpeg_compress",
    "make_dataset",
    "make_folder_dataset",
    "parse_example",
    "read_manifest",
    "resolve_tfrecord_files",
    "schema",
]
