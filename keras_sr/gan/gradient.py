"""SPSR's gradient-map operator (METHODS.md §6.1), a dependency-free module
(the SPSR generator in ``keras_sr.models.spsr`` uses it too)."""

from __future__ import annotations

import keras
from keras import ops

from keras_sr.utils import keras_sr_export

__all__ = ["GradientMap", "gradient_map"]


def gradient_map(images, padding: int = 1, eps: float = 1e-6):
    """SPSR's gradient magnitude map, per channel.

    ``v(i,j) = x(i+1,j) - x(i-1,j)``, ``h(i,j) = x(i,j+1) - x(i,j-1)`` on the
    image zero-padded by ``padding``, followed by a valid 3x3 window; the result
    is ``sqrt(v^2 + h^2 + eps)``. ``padding=1`` is ``Get_gradient_nopadding``
    (same size); ``padding=2`` is ``Get_gradient`` (``(H+2) x (W+2)``).

    Args:
        images: ``[B, H, W, C]`` float tensor (RGB in [0, 1] in SPSR).
        padding: 1 or 2 (any int >= 0 works: output side is ``H + 2p - 2``).
        eps: added inside the square root. Defaults to 1e-6.

    Example:
        >>> import numpy as np
        >>> x = np.zeros((1, 4, 4, 1), "float32"); x[0, 1, 1, 0] = 1.0
        >>> g = gradient_map(x, padding=1)
        >>> round(float(g[0, 0, 1, 0]), 4)   # x(1,1) - x(-1,1) = 1
        1.0
    """
    x = ops.convert_to_tensor(images)
    if len(x.shape) != 4:
        raise ValueError(f"gradient_map expects [B, H, W, C], got shape {x.shape}.")
    p = int(padding)
    if p < 0:
        raise ValueError(f"padding must be >= 0, got {padding}.")
    if p:
        x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
    v = x[:, 2:, 1:-1, :] - x[:, :-2, 1:-1, :]
    h = x[:, 1:-1, 2:, :] - x[:, 1:-1, :-2, :]
    return ops.sqrt(ops.square(v) + ops.square(h) + ops.cast(eps, x.dtype))


@keras_sr_export("keras_sr.gan.GradientMap")
class GradientMap(keras.layers.Layer):
    """Layer form of :func:`gradient_map` (not trainable).

    Input ``[B, H, W, C]`` float; output ``[B, H+2p-2, W+2p-2, C]``.

    Args:
        padding: int. 1 (same size, ``Get_gradient_nopadding``) or 2
            (``Get_gradient``). Defaults to 1.
        eps: float. Defaults to 1e-6.

    Example:
        >>> import numpy as np
        >>> GradientMap(padding=2)(np.zeros((1, 8, 8, 3), "float32")).shape
        TensorShape([1, 10, 10, 3])
    """

    def __init__(self, padding: int = 1, eps: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)
        self.eps = float(eps)

    def call(self, inputs):
        return gradient_map(inputs, self.padding, self.eps)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        d = 2 * self.padding - 2
        return (b, None if h is None else h + d, None if w is None else w + d, c)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "eps": self.eps})
        return config
