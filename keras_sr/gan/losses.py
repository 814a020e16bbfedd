"""GAN losses, the SPSR gradient-map operator and gradient / structure losses.

Conventions: images are NHWC float in [0, 1] (RGB); discriminator outputs are
logits of shape ``(B, 1)`` or ``(B,)``. All reductions are means over the batch
(and pixels), as PyTorch's default ``reduction="mean"``.

GAN losses take ``(real_logits, fake_logits)``; the generator forms stop the
gradient through the real logits (the discriminator is frozen during the G step
and, in RaGAN, ``D(real)`` is detached as in ESRGAN / SPSR code).
"""

from __future__ import annotations

import keras
from keras import ops

from keras_sr.gan.gradient import GradientMap, gradient_map
from keras_sr.utils import keras_sr_export

__all__ = [
    "GradientMap",
    "GradientPixelLoss",
    "bce_with_logits",
    "gan_discriminator_loss",
    "gan_generator_loss",
    "gradient_map",
    "gradient_pixel_loss",
    "ragan_discriminator_loss",
    "ragan_generator_loss",
    "structure_pixel_loss",
]


def bce_with_logits(logits, target: float):
    """Mean binary cross-entropy of ``logits`` against a constant label
    (``nn.BCEWithLogitsLoss`` with ``reduction="mean"``)."""
    logits = ops.cast(ops.convert_to_tensor(logits), "float32")
    labels = ops.full_like(logits, float(target))
    return ops.mean(ops.binary_crossentropy(labels, logits, from_logits=True))


def ragan_generator_loss(real_logits, fake_logits):
    """Relativistic average GAN loss for the generator, ESRGAN/SPSR code form.

    ``(BCE(C(r) - mean C(f), 0) + BCE(C(f) - mean C(r), 1)) / 2`` with
    ``C(r)`` detached (METHODS.md §5.3).

    Example:
        >>> import numpy as np
        >>> float(ragan_generator_loss(np.zeros((2, 1)), np.zeros((2, 1))))
        0.6931...
    """
    real = ops.stop_gradient(ops.cast(real_logits, "float32"))
    fake = ops.cast(fake_logits, "float32")
    return 0.5 * (
        bce_with_logits(real - ops.mean(fake, axis=0, keepdims=True), 0.0)
        + bce_with_logits(fake - ops.mean(real, axis=0, keepdims=True), 1.0)
    )


def ragan_discriminator_loss(real_logits, fake_logits):
    """RaGAN discriminator loss, code form with the /2:
    ``(BCE(C(r) - mean C(f), 1) + BCE(C(f) - mean C(r), 0)) / 2``.

    The caller passes ``fake_logits = D(stop_gradient(G(lr)))``."""
    real = ops.cast(real_logits, "float32")
    fake = ops.cast(fake_logits, "float32")
    return 0.5 * (
        bce_with_logits(real - ops.mean(fake, axis=0, keepdims=True), 1.0)
        + bce_with_logits(fake - ops.mean(real, axis=0, keepdims=True), 0.0)
    )


def gan_generator_loss(fake_logits):
    """Standard (non-saturating) GAN generator loss ``BCE(C(f), 1)`` =
    ``-mean log sigmoid(C(f))`` (SRGAN's ``l_Gen``)."""
    return bce_with_logits(fake_logits, 1.0)


def gan_discriminator_loss(real_logits, fake_logits):
    """Standard GAN discriminator loss ``BCE(C(r), 1) + BCE(C(f), 0)``."""
    return bce_with_logits(real_logits, 1.0) + bce_with_logits(fake_logits, 0.0)


def gradient_pixel_loss(y_true, y_pred, padding: int = 2, eps: float = 1e-6):
    """SPSR gradient pixel loss: ``MSE(Get_gradient(SR), Get_gradient(HR))``
    on the (H+2)x(W+2) maps (``padding=2``), a scalar mean."""
    g_true = ops.stop_gradient(gradient_map(y_true, padding, eps))
    g_pred = gradient_map(y_pred, padding, eps)
    return ops.mean(
        ops.square(ops.cast(g_pred, "float32") - ops.cast(g_true, "float32"))
    )


@keras_sr_export("keras_sr.gan.GradientPixelLoss")
class GradientPixelLoss(keras.losses.Loss):
    """Loss-class form of :func:`gradient_pixel_loss` (``(y_true, y_pred)``).

    Args:
        padding: int. Defaults to 2 (SPSR's ``Get_gradient``).
        eps: float. Defaults to 1e-6.
    """

    def __init__(
        self,
        padding: int = 2,
        eps: float = 1e-6,
        name: str = "gradient_pixel_loss",
        reduction: str = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.padding = int(padding)
        self.eps = float(eps)

    def call(self, y_true, y_pred):
        g_true = ops.stop_gradient(gradient_map(y_true, self.padding, self.eps))
        g_pred = gradient_map(y_pred, self.padding, self.eps)
        return ops.mean(ops.square(g_pred - g_true), axis=(1, 2, 3))

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "eps": self.eps})
        return config


def structure_pixel_loss(extractor, y_true, y_pred):
    """Pixelwise structure loss of SPSR-P / SPSR-J:
    ``mean |NSE(SR) - NSE(HR)|`` with the HR features detached (L1 [DESIGN]).

    ``extractor`` is a frozen :class:`~keras_sr.gan.nse.NeuralStructureExtractor`.
    """
    f_true = ops.stop_gradient(extractor(y_true, training=False))
    f_pred = extractor(y_pred, training=False)
    return ops.mean(ops.abs(ops.cast(f_pred, "float32") - ops.cast(f_true, "float32")))
