"""Adjustable gradient clipping (VDSR / DRRN / GLRL, METHODS.md section 3).

Gradients are clipped to ``theta / lr`` where ``lr`` is the optimizer's
*current* learning rate, so the clip range widens as the schedule decays the
learning rate: ``mode="global_norm"`` clips the global L2 norm (DRRN's Caffe
``clip_gradients``), ``mode="value"`` clips every element to
``[-theta/lr, theta/lr]`` (the VDSR paper's wording).

It is implemented as an optimizer subclass, so plain ``model.compile`` /
``model.fit`` keep working::

    opt = adjustable_clipping(keras.optimizers.SGD(0.1, momentum=0.9), theta=0.01)
    model.compile(optimizer=opt, loss="mse")
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_sr.utils.registry import keras_sr_export

CLIP_MODES = ("global_norm", "value")


class AdjustableGradientClipping:
    """Mixin overriding ``_clip_gradients``; combine with a Keras optimizer."""

    def __init__(
        self, *args, theta: float = 0.01, clip_mode: str = "global_norm", **kwargs
    ):
        if clip_mode not in CLIP_MODES:
            raise ValueError(
                f"clip_mode must be one of {CLIP_MODES}, got {clip_mode!r}"
            )
        if float(theta) <= 0:
            raise ValueError(f"theta must be > 0, got {theta}")
        super().__init__(*args, **kwargs)
        self.theta = float(theta)
        self.clip_mode = clip_mode

    def clip_threshold(self):
        """The current ``theta / lr``."""
        lr = ops.cast(self._get_current_learning_rate(), "float32")
        return self.theta / lr

    def _clip_gradients(self, grads):
        grads = super()._clip_gradients(grads)
        limit = self.clip_threshold()
        if self.clip_mode == "global_norm":
            present = [g for g in grads if g is not None]
            clipped, _ = tf.clip_by_global_norm(present, limit)
            it = iter(clipped)
            return [None if g is None else next(it) for g in grads]
        return [None if g is None else ops.clip(g, -limit, limit) for g in grads]

    def get_config(self):
        return {
            **super().get_config(),
            "theta": self.theta,
            "clip_mode": self.clip_mode,
        }


@keras_sr_export("keras_sr.training.ClippedSGD")
class ClippedSGD(AdjustableGradientClipping, keras.optimizers.SGD):
    """``keras.optimizers.SGD`` with adjustable gradient clipping (``theta``,
    ``clip_mode``).

    Example:
        >>> opt = ClippedSGD(learning_rate=0.1, momentum=0.9, theta=0.01)
        >>> round(float(opt.clip_threshold()), 6)  # 0.01 / 0.1
        0.1
    """


@keras_sr_export("keras_sr.training.ClippedAdam")
class ClippedAdam(AdjustableGradientClipping, keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with adjustable gradient clipping."""


_CLIPPED = {keras.optimizers.SGD: ClippedSGD, keras.optimizers.Adam: ClippedAdam}


def adjustable_clipping(
    optimizer: keras.optimizers.Optimizer,
    theta: float = 0.01,
    mode: str = "global_norm",
) -> keras.optimizers.Optimizer:
    """Return a copy of ``optimizer`` (SGD or Adam) that clips gradients to
    ``theta / current lr``. The optimizer must not have been built yet."""
    cls = _CLIPPED.get(type(optimizer))
    if cls is None:
        raise ValueError(
            f"adjustable clipping supports SGD and Adam, got {type(optimizer).__name__}"
        )
    return cls.from_config(
        {**optimizer.get_config(), "theta": theta, "clip_mode": mode}
    )
