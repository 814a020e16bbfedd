"""Training wrapper of LHSP: SR + boundary multi-task loss (METHODS §8.5).

``L = mean((SR - HR)^2) + lambda * mean_b[ m_b * mean((B_b - B_gt_b)^2) ]``
where ``m_b`` is 1 for the examples that carry a human boundary map and the
boundary term is averaged over those examples only (it is 0 for a batch with
none, e.g. T91 sub-images).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_sr.models.lhsp.lhsp_model import LHSP
from keras_sr.utils.registry import keras_sr_export

__all__ = ["LHSPTrainer", "lhsp_loss"]

DEGRADATIONS = ("dataset", "blur")


def _per_example_mse(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(
        tf.square(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)), axis=[1, 2, 3]
    )


def lhsp_loss(
    hr: tf.Tensor,
    sr: tf.Tensor,
    boundary_true: tf.Tensor | None = None,
    boundary_pred: tf.Tensor | None = None,
    has_boundary: tf.Tensor | None = None,
    boundary_weight: float = 0.1,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The LHSP loss; returns ``(total, sr_term, boundary_term)``.

    Args:
        hr, sr: ``[B, H, W, 1]`` target and prediction (Y in [0, 1]).
        boundary_true, boundary_pred: ``[B, H, W, 1]`` in [0, 1], or None
            (then the boundary term is 0).
        has_boundary: ``[B]`` (or ``[B, 1]``) 0/1 per example; None = all 1.
        boundary_weight: ``lambda`` [GUESS 0.1].

    Example:
        >>> import numpy as np
        >>> z = np.zeros((2, 4, 4, 1), "float32"); o = np.ones_like(z)
        >>> [float(v) for v in lhsp_loss(z, o, z, o, np.array([1.0, 0.0]))]
        [1.100000023841858, 1.0, 1.0]
    """
    sr_term = tf.reduce_mean(_per_example_mse(sr, hr))
    if boundary_true is None or boundary_pred is None:
        zero = tf.zeros([], tf.float32)
        return sr_term, sr_term, zero
    per_example = _per_example_mse(boundary_pred, boundary_true)
    if has_boundary is None:
        mask = tf.ones_like(per_example)
    else:
        mask = tf.reshape(tf.cast(has_boundary, tf.float32), [-1])
    boundary_term = tf.reduce_sum(mask * per_example) / tf.maximum(
        tf.reduce_sum(mask), 1.0
    )
    return sr_term + boundary_weight * boundary_term, sr_term, boundary_term


@keras_sr_export("keras_sr.models.LHSPTrainer")
class LHSPTrainer(keras.Model):
    """Trains an :class:`LHSP` on ``(lr, {"sr": hr, "boundary": b,
    "boundary_mask": m})`` (the targets of ``keras_sr.data.make_dataset(...,
    with_boundary=True)``) with ``||SR-HR||^2 + lambda ||B-B_gt||^2``, the
    boundary term masked per example by ``boundary_mask`` (METHODS §8.5).

    ``y`` may also be a bare HR tensor (no boundary term), and the boundary
    keys may be missing (no boundary term). Calling the trainer returns
    ``{"sr": SR, "boundary": B}``; the trained inference model is
    ``trainer.lhsp`` (SR only).

    Args:
        lhsp: the :class:`LHSP` model to train (its weights are shared).
        boundary_weight: ``lambda`` [GUESS 0.1]; 0 disables the term.
        degradation: ``"dataset"`` uses the LR given in ``x``; ``"blur"``
            recomputes it from the HR as seed 000's blurred sub-sampling,
            ``keras_sr.data.degradations.blur_downscale(HR, s, blur_sigma)``.
        blur_sigma: Gaussian sigma for ``"blur"`` (None = ``0.4 * scale``).
        hr_key, boundary_key, mask_key: the keys of ``y``.

    Example:
        >>> import numpy as np, keras
        >>> net = LHSP(scale=2, filters=8, shepard_filters=4)
        >>> trainer = LHSPTrainer(net)
        >>> trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> lr = np.random.rand(4, 8, 8, 1).astype("float32")
        >>> y = {"sr": np.random.rand(4, 16, 16, 1).astype("float32"),
        ...      "boundary": np.zeros((4, 16, 16, 1), "float32"),
        ...      "boundary_mask": np.array([1, 0, 1, 0], "float32")}
        >>> hist = trainer.fit(lr, y, epochs=1, batch_size=2, verbose=0)
        >>> sorted(hist.history)
        ['boundary_loss', 'loss', 'psnr', 'sr_loss']
    """

    def __init__(
        self,
        lhsp: LHSP,
        boundary_weight: float = 0.1,
        degradation: str = "dataset",
        blur_sigma: float | None = None,
        hr_key: str = "sr",
        boundary_key: str = "boundary",
        mask_key: str = "boundary_mask",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if degradation not in DEGRADATIONS:
            raise ValueError(
                f"degradation must be one of {DEGRADATIONS}, got {degradation!r}"
            )
        self.lhsp = lhsp
        self.scale = int(lhsp.scale)
        self.channels = int(lhsp.channels)
        self.boundary_weight = float(boundary_weight)
        self.degradation = degradation
        self.blur_sigma = None if blur_sigma is None else float(blur_sigma)
        self.hr_key = hr_key
        self.boundary_key = boundary_key
        self.mask_key = mask_key
        self.net = lhsp.training_model()
        self.sr_loss_tracker = keras.metrics.Mean(name="sr_loss")
        self.boundary_loss_tracker = keras.metrics.Mean(name="boundary_loss")
        self.psnr_tracker = keras.metrics.Mean(name="psnr")

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    # --- data ---------------------------------------------------------------
    def _split_targets(self, y):
        if isinstance(y, dict):
            if self.hr_key not in y:
                raise ValueError(
                    f"LHSPTrainer: the targets have no {self.hr_key!r} key "
                    f"(got {sorted(y)})"
                )
            return y[self.hr_key], y.get(self.boundary_key), y.get(self.mask_key)
        return y, None, None

    def _degrade(self, data):
        if self.degradation != "blur":
            return data
        from keras_sr.data.degradations import blur_downscale

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        hr, _, _ = self._split_targets(y)
        x = blur_downscale(tf.cast(hr, tf.float32), self.scale, self.blur_sigma)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def train_step(self, data):
        return super().train_step(self._degrade(data))

    def test_step(self, data):
        return super().test_step(self._degrade(data))

    # --- loss -----------------------------------------------------------------
    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        del x, training
        if sample_weight is not None:
            raise ValueError("LHSPTrainer does not support sample_weight")
        hr, b_true, has_b = self._split_targets(y)
        sr = y_pred["sr"]
        b_pred = y_pred.get("boundary")
        weight = self.boundary_weight if b_pred is not None else 0.0
        if weight == 0.0:
            b_true = None
        total, sr_term, b_term = lhsp_loss(
            hr, sr, b_true, b_pred, has_b, boundary_weight=weight
        )
        mse = _per_example_mse(sr, hr)
        psnr = tf.reduce_mean(
            -10.0 * tf.math.log(tf.maximum(mse, 1e-10)) / tf.math.log(10.0)
        )
        self.sr_loss_tracker.update_state(sr_term)
        self.boundary_loss_tracker.update_state(b_term)
        self.psnr_tracker.update_state(psnr)
        return total

    def get_config(self):
        return {
            "lhsp": keras.saving.serialize_keras_object(self.lhsp),
            "boundary_weight": self.boundary_weight,
            "degradation": self.degradation,
            "blur_sigma": self.blur_sigma,
            "hr_key": self.hr_key,
            "boundary_key": self.boundary_key,
            "mask_key": self.mask_key,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["lhsp"] = keras.saving.deserialize_keras_object(config["lhsp"])
        return cls(**config)
