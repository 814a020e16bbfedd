"""keras-sr: single-image super-resolution for TensorFlow / Keras 3.

Submodules load on first use, so ``import keras_sr`` is cheap and
``keras_sr.ops.imresize`` works without importing ``keras_sr.ops`` first.

Tensor conventions everywhere: NHWC; float32 images in [0, 1] (RGB for RGB
models, MATLAB Y/255 for Y-channel models); functions documented as taking
uint8 return uint8.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "data",
    "evaluation",
    "gan",
    "inference",
    "io",
    "layers",
    "losses",
    "metrics",
    "models",
    "ops",
    "training",
    "utils",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_sr.{name}")
    raise AttributeError(f"module 'keras_sr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
