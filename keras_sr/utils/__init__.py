"""Shared utilities: serialization registry, atomic writes, image I/O."""

from keras_sr.utils.atomic import atomic_dir, atomic_path, atomic_write_bytes
from keras_sr.utils.registry import keras_sr_export, public_symbols

__all__ = [
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "keras_sr_export",
    "public_symbols",
]
