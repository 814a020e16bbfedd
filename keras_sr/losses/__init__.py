"""Pixel losses for SR, Keras style: a function plus a ``Loss`` class.

All take ``(y_true, y_pred)`` (HR first), NHWC images in the same range (the
package uses ``[0, 1]``). The functions return one value per image (the mean
over H, W, C; :func:`euclidean` the halved sum); the classes reduce over the
batch with the usual Keras ``reduction`` (default ``"sum_over_batch_size"``).

Example:
    >>> import numpy as np
    >>> a, b = np.zeros((2, 4, 4, 1), "float32"), np.full((2, 4, 4, 1), 0.5, "float32")
    >>> float(L1Loss()(a, b)), float(MSELoss()(a, b))
    (0.5, 0.25)
"""

from __future__ import annotations

import keras
from keras import ops
from keras.src.losses.losses import LossFunctionWrapper

from keras_sr.utils.registry import keras_sr_export

__all__ = [
    "CharbonnierLoss",
    "EuclideanLoss",
    "L1Loss",
    "MSELoss",
    "charbonnier",
    "euclidean",
    "get",
    "l1",
    "mse",
]


def _prepare(y_true, y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    return y_true, y_pred


def _per_image_mean(x):
    return ops.mean(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)


@keras_sr_export("keras_sr.losses.l1")
def l1(y_true, y_pred):
    """Mean absolute error per image, ``[B]``."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return _per_image_mean(ops.abs(y_pred - y_true))


@keras_sr_export("keras_sr.losses.mse")
def mse(y_true, y_pred):
    """Mean squared error per image, ``[B]``."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return _per_image_mean(ops.square(y_pred - y_true))


@keras_sr_export("keras_sr.losses.charbonnier")
def charbonnier(y_true, y_pred, epsilon: float = 1e-3):
    """Charbonnier (smooth L1) per image: ``mean(sqrt((y - x)^2 + eps^2))``."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return _per_image_mean(ops.sqrt(ops.square(y_pred - y_true) + epsilon**2))


@keras_sr_export("keras_sr.losses.euclidean")
def euclidean(y_true, y_pred):
    """Caffe ``EuclideanLoss`` per image: ``0.5 * sum((y - x)^2)`` (SRCNN,
    DRRN, GLRL eq. 13); the batch mean of it is ``1/(2N) sum ||y - x||^2``."""
    y_true, y_pred = _prepare(y_true, y_pred)
    d = ops.reshape(ops.square(y_pred - y_true), (ops.shape(y_pred)[0], -1))
    return 0.5 * ops.sum(d, axis=-1)


@keras_sr_export("keras_sr.losses.L1Loss")
class L1Loss(LossFunctionWrapper):
    """Mean absolute error (EDSR, ESRGAN stage 1). See :func:`l1`."""

    def __init__(self, reduction="sum_over_batch_size", name="l1_loss", dtype=None):
        super().__init__(l1, name=name, reduction=reduction, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}


@keras_sr_export("keras_sr.losses.MSELoss")
class MSELoss(LossFunctionWrapper):
    """Mean squared error (SRCNN, FSRCNN, ESPCN, VDSR). See :func:`mse`."""

    def __init__(self, reduction="sum_over_batch_size", name="mse_loss", dtype=None):
        super().__init__(mse, name=name, reduction=reduction, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}


@keras_sr_export("keras_sr.losses.CharbonnierLoss")
class CharbonnierLoss(LossFunctionWrapper):
    """Charbonnier loss. See :func:`charbonnier`.

    Args:
        epsilon: float. Smoothing constant. Defaults to 1e-3.
    """

    def __init__(
        self,
        epsilon: float = 1e-3,
        reduction="sum_over_batch_size",
        name="charbonnier_loss",
        dtype=None,
    ):
        super().__init__(
            charbonnier, name=name, reduction=reduction, dtype=dtype, epsilon=epsilon
        )
        self.epsilon = float(epsilon)

    def get_config(self):
        return {
            "epsilon": self.epsilon,
            "name": self.name,
            "reduction": self.reduction,
            "dtype": self.dtype,
        }


@keras_sr_export("keras_sr.losses.EuclideanLoss")
class EuclideanLoss(LossFunctionWrapper):
    """Caffe Euclidean loss ``0.5 * sum of squares`` per image, batch mean.
    See :func:`euclidean`."""

    def __init__(
        self, reduction="sum_over_batch_size", name="euclidean_loss", dtype=None
    ):
        super().__init__(euclidean, name=name, reduction=reduction, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}


_BY_NAME = {
    "l1": L1Loss,
    "mse": MSELoss,
    "charbonnier": CharbonnierLoss,
    "euclidean": EuclideanLoss,
}


def get(name: str, **kwargs) -> keras.losses.Loss:
    """A loss object by name: ``l1``, ``mse``, ``charbonnier``, ``euclidean``."""
    try:
        return _BY_NAME[name.lower()](**kwargs)
    except KeyError:
        raise ValueError(
            f"unknown loss {name!r}; choose from {', '.join(sorted(_BY_NAME))}"
        ) from None
