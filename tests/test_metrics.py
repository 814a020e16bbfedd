"""PSNR / SSIM functions and Metric classes against hand-worked values and
independent NumPy references."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sr.metrics import PSNR, SSIM, psnr, ssim
from tests.helpers import random_image


def _np_ssim(a, b, peak=255.0):
    """Independent reference: ssim_index.m with an 11x11 sigma-1.5 window."""
    x = np.arange(11) - 5.0
    g = np.exp(-(x**2) / (2 * 1.5**2))
    g /= g.sum()
    win = np.outer(g, g)

    def filt(img):
        v = np.lib.stride_tricks.sliding_window_view(img, (11, 11))
        return np.einsum("ijkl,kl->ij", v, win)

    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    a, b = a.astype(np.float64), b.astype(np.float64)
    m1, m2 = filt(a), filt(b)
    s1 = filt(a * a) - m1**2
    s2 = filt(b * b) - m2**2
    s12 = filt(a * b) - m1 * m2
    return float(
        np.mean(
            ((2 * m1 * m2 + c1) * (2 * s12 + c2))
            / ((m1**2 + m2**2 + c1) * (s1 + s2 + c2))
        )
    )


def test_identical_images():
    a = random_image(32, 32, 3, seed=0)
    assert math.isinf(float(psnr(a, a)))
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-12)


def test_psnr_hand_computed():
    a = np.full((8, 8, 1), 100, np.uint8)
    b = a.copy()
    b[0, 0, 0] = 110  # MSE = 100 / 64
    want = 10 * math.log10(255**2 / (100 / 64))
    assert float(psnr(a, b)) == pytest.approx(want, abs=1e-10)
    # kornia-style doctest value: peak 2, MSE 0.04 -> 20 dB exactly
    ones = np.ones((1, 4, 4, 3), np.float32)
    assert float(psnr(ones, 1.2 * ones, max_val=2.0)[0]) == pytest.approx(
        20.0, abs=1e-5
    )


def test_psnr_is_per_image_not_batch_global():
    a = np.zeros((2, 8, 8, 1), np.float32)
    b = a.copy()
    b[0] += 0.1  # image 0: 20 dB; image 1: identical (inf)
    b[1] += 0.01  # 40 dB
    vals = psnr(a, b).numpy()
    np.testing.assert_allclose(vals, [20.0, 40.0], atol=1e-4)
    m = PSNR(y_channel=False)
    m.update_state(a, b)
    assert float(m.result()) == pytest.approx(30.0, abs=1e-4)  # mean of per-image
    assert float(keras.ops.psnr(a, b, 1.0)) < 30.0  # batch-global MSE differs


def test_border_shave_and_y_channel():
    a = random_image(20, 20, 3, seed=1)
    b = a.copy()
    b[:2] = 0  # damage only the border rows
    assert math.isinf(float(psnr(a, b, crop_border=2)))
    ya = 16 + a.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255
    yb = 16 + b.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255
    mse = np.mean((ya[1:-1, 1:-1] - yb[1:-1, 1:-1]) ** 2)
    want = 10 * np.log10(255**2 / mse)
    assert float(psnr(a, b, crop_border=1, y_channel=True)) == pytest.approx(
        want, abs=1e-9
    )


def test_ssim_matches_numpy_reference_and_tf_image_ssim():
    a = random_image(40, 36, 1, seed=2)
    noise = np.random.default_rng(3).integers(-20, 21, a.shape)
    b = np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)
    got = float(ssim(a, b))
    assert got == pytest.approx(_np_ssim(a[..., 0], b[..., 0]), abs=1e-10)
    tf_val = float(tf.image.ssim(a.astype(np.float64), b.astype(np.float64), 255.0))
    assert got == pytest.approx(tf_val, abs=1e-4)


def test_ssim_wang_downsampling_variant():
    # min side 400 -> f = round(400/256) = 2: 2x2 box filter (symmetric pad
    # after), keep every 2nd pixel, then the usual SSIM.
    a = random_image(400, 410, 1, seed=4)
    b = np.clip(
        a.astype(int) + 7 * np.sign(np.sin(np.arange(410)))[None, :, None], 0, 255
    ).astype(np.uint8)

    def down(img):
        x = np.pad(img[..., 0].astype(np.float64), ((0, 1), (0, 1)), mode="symmetric")
        box = (x[:-1, :-1] + x[1:, :-1] + x[:-1, 1:] + x[1:, 1:]) / 4
        return box[::2, ::2]

    want = _np_ssim(down(a), down(b))
    assert float(ssim(a, b, downsample=True)) == pytest.approx(want, abs=1e-10)
    # small images are not downsampled
    s = a[:200, :200]
    t = b[:200, :200]
    assert float(ssim(s, t, downsample=True)) == pytest.approx(
        float(ssim(s, t)), abs=1e-12
    )


def test_metric_classes_in_compile_and_config():
    model = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Identity()])
    model.compile(loss="mse", metrics=[PSNR(crop_border=1), SSIM()])
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype("float32")
    logs = model.evaluate(x, np.clip(x + 0.05, 0, 1), verbose=0, return_dict=True)
    assert 20 < logs["psnr"] < 30
    assert 0 < logs["ssim"] < 1
    for m in (PSNR(crop_border=3, quantize=True), SSIM(downsample=True)):
        clone = type(m).from_config(m.get_config())
        assert clone.get_config() == m.get_config()


def test_shape_mismatch_and_too_small_are_errors():
    with pytest.raises(ValueError, match="equal shapes"):
        psnr(np.zeros((8, 8, 1)), np.zeros((8, 9, 1)))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((14, 14, 1)), np.zeros((14, 14, 1)), crop_border=2)
