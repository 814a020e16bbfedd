"""Colour conversions match MATLAB rgb2ycbcr / ycbcr2rgb; modcrop."""

import numpy as np
import pytest

from keras_sr.ops import modcrop, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from tests.helpers import random_image


def test_known_values_match_matlab():
    # MATLAB: rgb2ycbcr(uint8([255 0 0])) = [81 90 240]; white -> [235 128 128]
    rgb = np.array([[[255, 0, 0], [255, 255, 255], [0, 0, 0]]], np.uint8)
    np.testing.assert_array_equal(
        rgb_to_ycbcr(rgb).numpy(), [[[81, 90, 240], [235, 128, 128], [16, 128, 128]]]
    )


def test_y_formula_float():
    rgb = np.random.default_rng(0).random((4, 5, 3))
    want = 16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]
    np.testing.assert_allclose(rgb_to_y(rgb).numpy()[..., 0] * 255, want, atol=1e-9)
    assert rgb_to_y(rgb, keepdims=False).shape == (4, 5)


def test_uint8_y_is_rounded_half_away_from_zero():
    img = random_image(16, 16, 3, seed=1)
    x = img.astype(np.float64) / 255
    y = 16 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]
    np.testing.assert_array_equal(
        rgb_to_y(img).numpy()[..., 0], np.floor(y + 0.5).astype(np.uint8)
    )


def test_round_trip_float():
    rgb = np.random.default_rng(1).random((2, 6, 7, 3))
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb)).numpy()
    np.testing.assert_allclose(back, rgb, atol=1e-9)


def test_wrong_channel_count():
    with pytest.raises(ValueError, match="3 channels"):
        rgb_to_y(np.zeros((4, 4, 1), np.float32))


def test_modcrop():
    img = np.zeros((2, 17, 14, 1))
    assert modcrop(img, 4).shape == (2, 16, 12, 1)
    assert modcrop(img[0], 3).shape == (15, 12, 1)
