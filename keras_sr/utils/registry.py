"""One decorator that registers a class for Keras serialization and records
its public path (``keras_sr.layers.PixelShuffle`` ...).

Keras serialization *is* the registry: a registered class round-trips through
``model.save("x.keras")`` / ``keras.models.load_model`` without
``custom_objects``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import keras

T = TypeVar("T")

_PUBLIC: dict[str, object] = {}


def keras_sr_export(path: str) -> Callable[[T], T]:
    """Register ``obj`` under the ``keras_sr`` package and record ``path``.

    Example:
        >>> import keras
        >>> @keras_sr_export("keras_sr.layers.Identity2")
        ... class Identity2(keras.layers.Layer):
        ...     def call(self, x):
        ...         return x
        >>> keras.saving.get_registered_name(Identity2)
        'keras_sr>Identity2'
    """

    def decorator(obj: T) -> T:
        registered = keras.saving.register_keras_serializable(package="keras_sr")(obj)
        _PUBLIC[path] = registered
        return registered

    return decorator


def public_symbols() -> dict[str, object]:
    """A copy of ``{public path: object}`` for everything exported so far."""
    return dict(_PUBLIC)
