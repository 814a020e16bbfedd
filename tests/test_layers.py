"""Layers of keras_sr.layers: numerics against references, config round trips."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_sr import layers as L
from keras_sr.ops import imresize
from tests.helpers import assert_config_roundtrip


def test_pixel_shuffle_matches_tf_depth_to_space():
    x = np.random.default_rng(0).random((2, 3, 5, 18)).astype("float32")
    for r in (2, 3):
        c = x[..., : (18 // (r * r)) * r * r]
        got = np.asarray(L.PixelShuffle(r)(c))
        np.testing.assert_array_equal(got, tf.nn.depth_to_space(c, r).numpy())


def test_pixel_shuffle_channel_order_is_tf_not_pytorch():
    # TF order: output (i, j) of channel c reads depth (i*r + j)*C + c.
    r, c_out = 2, 3
    x = np.arange(r * r * c_out, dtype="float32").reshape(1, 1, 1, -1)
    y = np.asarray(L.PixelShuffle(r)(x))[0]
    for i in range(r):
        for j in range(r):
            for c in range(c_out):
                assert y[i, j, c] == (i * r + j) * c_out + c
    # PyTorch would read c*r*r + i*r + j: differs (needs a weight permutation).
    assert y[0, 1, 0] != 0 * r * r + 0 * r + 1


def test_pixel_shuffle_rejects_bad_channels():
    with pytest.raises(ValueError, match="divisible by 4"):
        L.PixelShuffle(2).compute_output_shape((1, 4, 4, 6))


def test_mean_shift_and_bicubic_and_pad():
    x = np.full((1, 2, 2, 3), 0.5, "float32")
    y = np.asarray(L.MeanShift(sign=-1, value_range=255.0)(x))
    np.testing.assert_allclose(
        y[0, 0, 0], 0.5 - 255 * np.array([0.4488, 0.4371, 0.4040]), rtol=1e-6
    )
    img = np.random.default_rng(1).random((1, 7, 9, 1)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(L.BicubicUpsample(3)(img)), imresize(img, scale=3).numpy(), atol=1e-7
    )
    for mode, np_mode in [
        ("replicate", "edge"),
        ("reflect", "reflect"),
        ("symmetric", "symmetric"),
        ("zero", "constant"),
    ]:
        got = np.asarray(L.Pad2D(2, mode)(img))
        want = np.pad(img, [(0, 0), (2, 2), (2, 2), (0, 0)], mode=np_mode)
        np.testing.assert_allclose(got, want)


def test_weighted_sum():
    a = np.ones((1, 2, 2, 1), "float32")
    assert float(L.WeightedSum(2)([a, 3 * a])[0, 0, 0, 0]) == pytest.approx(2.0)
    layer = L.WeightedSum(2, normalize=True, initial_weight=2.0)
    assert float(layer([a, 3 * a])[0, 0, 0, 0]) == pytest.approx(2.0)


def test_rdb_and_rrdb_residual_structure():
    x = np.random.default_rng(2).random((1, 6, 5, 8)).astype("float32")
    rdb = L.ResidualDenseBlock(8, 4, beta=0.2)
    rdb(x)
    # Zero the last conv: the block must reduce to the identity.
    k, b = rdb.convs[4].get_weights()
    rdb.convs[4].set_weights([np.zeros_like(k), np.zeros_like(b)])
    np.testing.assert_allclose(np.asarray(rdb(x)), x, atol=1e-7)
    rrdb = L.RRDB(8, 4)
    # nf=8, gc=4: convs in 8,12,16,20,24 -> 4,4,4,4,8 (3x3 + bias), times 3 RDBs
    per_rdb = sum(
        9 * cin * cout + cout
        for cin, cout in [(8, 4), (12, 4), (16, 4), (20, 4), (24, 8)]
    )
    rrdb(x)
    assert rrdb.count_params() == 3 * per_rdb
    init = rrdb.rdbs[0].convs[0].kernel_initializer.get_config()
    assert init["scale"] == 0.02 and init["mode"] == "fan_in"


@pytest.mark.parametrize(
    "layer",
    [
        L.PixelShuffle(3),
        L.MeanShift(sign=1, value_range=255.0),
        L.BicubicUpsample(2),
        L.Pad2D(3, "symmetric"),
        L.WeightedSum(3, normalize=True),
        L.ResidualBlock(8, res_scale=0.1),
        L.SRResNetBlock(8),
        L.ResidualDenseBlock(8, 4),
        L.RRDB(8, 4, beta=0.3),
        L.UpConv(8, 3),
        L.SubPixelUpsampler(4, 8, activation="prelu"),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layer_config_roundtrip(layer):
    assert_config_roundtrip(layer)


def test_upconv_and_upsampler_shapes():
    x = np.zeros((2, 5, 7, 8), "float32")
    assert L.UpConv(6, 3)(x).shape == (2, 15, 21, 6)
    for s in (2, 3, 4):
        assert L.SubPixelUpsampler(s, 8)(x).shape == (2, 5 * s, 7 * s, 8)
    with pytest.raises(ValueError, match="x2/x3/x4/x8"):
        L.SubPixelUpsampler(5, 8)
