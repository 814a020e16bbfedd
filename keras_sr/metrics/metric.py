"""``keras.metrics.Metric`` wrappers that average **per-image** PSNR/SSIM."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_sr.metrics.functional import psnr, ssim
from keras_sr.utils.registry import keras_sr_export


class _PerImageMean(keras.metrics.Metric):
    def __init__(
        self,
        crop_border: int = 0,
        y_channel: bool = True,
        max_val: float = 1.0,
        quantize: bool = False,
        name: str | None = None,
        dtype: str | None = None,
    ):
        super().__init__(name=name, dtype=dtype)
        self.crop_border = int(crop_border)
        self.y_channel = bool(y_channel)
        self.max_val = float(max_val)
        self.quantize = bool(quantize)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def _values(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = tf.cast(self._values(y_true, y_pred), self.dtype)
        if sample_weight is not None:
            w = tf.cast(tf.reshape(sample_weight, [-1]), self.dtype)
            self.total.assign_add(tf.reduce_sum(values * w))
            self.count.assign_add(tf.reduce_sum(w))
        else:
            self.total.assign_add(tf.reduce_sum(values))
            self.count.assign_add(tf.cast(tf.size(values), self.dtype))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def get_config(self):
        config = super().get_config()
        config.update(
            crop_border=self.crop_border,
            y_channel=self.y_channel,
            max_val=self.max_val,
            quantize=self.quantize,
        )
        return config


@keras_sr_export("keras_sr.metrics.PSNR")
class PSNR(_PerImageMean):
    """Mean over images of per-image PSNR (dB), for ``compile(metrics=...)``.

    Inputs are NHWC float tensors in ``[0, max_val]`` (RGB or Y). With
    ``y_channel=True`` a 3-channel image is converted to MATLAB Y first; a
    1-channel image is used as is. ``crop_border`` shaves that many pixels.

    Example:
        >>> import numpy as np
        >>> m = PSNR(crop_border=0)
        >>> a = np.full((2, 8, 8, 1), 0.5, "float32")
        >>> m.update_state(a, a + 0.1)
        >>> round(float(m.result()), 3)
        20.0
    """

    def __init__(
        self,
        crop_border=0,
        y_channel=True,
        max_val=1.0,
        quantize=False,
        name="psnr",
        dtype=None,
    ):
        super().__init__(crop_border, y_channel, max_val, quantize, name, dtype)

    def _values(self, y_true, y_pred):
        return psnr(
            y_true,
            y_pred,
            self.max_val,
            self.crop_border,
            self.y_channel,
            self.quantize,
        )


@keras_sr_export("keras_sr.metrics.SSIM")
class SSIM(_PerImageMean):
    """Mean over images of per-image SSIM (Gaussian 11x11, sigma 1.5).

    Same conventions as :class:`PSNR`; ``downsample=True`` applies Wang's
    ``ssim.m`` automatic downsampling.

    Example:
        >>> import numpy as np
        >>> m = SSIM()
        >>> a = np.random.default_rng(0).random((2, 16, 16, 1)).astype("float32")
        >>> m.update_state(a, a)
        >>> float(m.result())
        1.0
    """

    def __init__(
        self,
        crop_border=0,
        y_channel=True,
        max_val=1.0,
        quantize=False,
        downsample=False,
        name="ssim",
        dtype=None,
    ):
        super().__init__(crop_border, y_channel, max_val, quantize, name, dtype)
        self.downsample = bool(downsample)

    def _values(self, y_true, y_pred):
        return ssim(
            y_true,
            y_pred,
            self.max_val,
            self.crop_border,
            self.y_channel,
            self.quantize,
            self.downsample,
        )

    def get_config(self):
        config = super().get_config()
        config["downsample"] = self.downsample
        return config
