"""Per-image PSNR / SSIM (functions and ``keras.metrics.Metric`` classes)."""

from keras_sr.metrics.functional import psnr, ssim
from keras_sr.metrics.metric import PSNR, SSIM

__all__ = ["PSNR", "SSIM", "psnr", "ssim"]
