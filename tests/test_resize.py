"""keras_sr.ops.imresize: bit-exact MATLAB bicubic."""

import numpy as np
import pytest
import tensorflow as tf

from keras_sr.io import read_image
from keras_sr.ops import imresize, modcrop, resize_output_size
from tests.helpers import SET5_HR, SET5_LR_MATLAB, random_image


def _matlab_contributions(in_len, out_len, scale):
    """Independent NumPy port of MATLAB's contributions() (1-based like MATLAB)."""

    def cubic(x):
        a = np.abs(x)
        return (1.5 * a**3 - 2.5 * a**2 + 1) * (a <= 1) + (
            -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2
        ) * ((a > 1) & (a <= 2))

    width = 4.0
    if scale < 1:
        h = lambda x: scale * cubic(scale * x)  # noqa: E731
        width = width / scale
    else:
        h = cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(np.ceil(width)) + 2
    ind = left[:, None] + np.arange(p)[None, :]
    w = h(u[:, None] - ind)
    w = w / w.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(1, in_len + 1), np.arange(in_len, 0, -1)])
    ind = aux[np.mod(ind.astype(int) - 1, len(aux))] - 1
    return ind, w


def _numpy_imresize_float(img, scale, round_each_pass=False):
    """Reference float resize: rows then columns (equal scales); with
    ``round_each_pass`` MATLAB's uint8 rounding after each pass."""
    out = img.astype(np.float64)
    for axis in (0, 1):
        n = out.shape[axis]
        m = int(np.ceil(n * scale - 1e-9))
        ind, w = _matlab_contributions(n, m, scale)
        g = np.take(out, ind, axis=axis)  # axis 0: [m, p, W, C]
        if axis == 0:
            out = np.einsum("mpwc,mp->mwc", g, w)
        else:
            out = np.einsum("hmpc,mp->hmc", g, w)
        if round_each_pass:
            out = np.floor(np.clip(out, 0, 255) + 0.5)
    return out


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_reproduces_matlab_lr_files_bit_exactly(scale):
    files = sorted(SET5_HR.glob("*.png"))
    assert len(files) == 5
    for f in files:
        hr = modcrop(read_image(f), scale).numpy()
        ref = read_image(SET5_LR_MATLAB / f"X{scale}" / f"{f.stem}x{scale}.png")
        lr = imresize(hr, scale=1 / scale).numpy()
        assert lr.dtype == np.uint8
        assert lr.shape == ref.shape, f.name
        assert int(np.count_nonzero(lr != ref)) == 0, f"{f.name} x{scale}"


@pytest.mark.parametrize("scale", [0.5, 1 / 3, 0.37, 1.5, 2.0, 3.0, 2.7])
def test_float_path_matches_numpy_port_of_matlab(scale):
    img = random_image(23, 23, 2, seed=1).astype(np.float64) / 255.0
    got = imresize(img, scale=scale).numpy()
    want = _numpy_imresize_float(img, scale)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_float32_and_batch_and_any_channels():
    img = random_image(20, 16, 5, seed=2).astype(np.float32) / 255.0
    batch = np.stack([img, img[::-1]])
    out = imresize(batch, scale=0.5).numpy()
    assert out.shape == (2, 10, 8, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], imresize(img, scale=0.5).numpy(), atol=1e-6)
    np.testing.assert_allclose(out[0], _numpy_imresize_float(img, 0.5), atol=2e-6)


def test_uint8_rounds_after_first_pass_like_matlab():
    img = random_image(30, 30, 1, seed=3)
    got = imresize(img, scale=1 / 3).numpy()
    # MATLAB: rows -> uint8 (round half away) -> columns -> uint8.
    ind, w = _matlab_contributions(30, 10, 1 / 3)
    rows = np.einsum("mpwc,mp->mwc", img[ind].astype(np.float64), w)
    rows = np.floor(np.clip(rows, 0, 255) + 0.5)
    cols = np.einsum("hmpc,mp->hmc", rows[:, ind], w)
    want = np.floor(np.clip(cols, 0, 255) + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(got, want)


def test_output_size_and_non_integer_sizes():
    img = random_image(17, 25, 3, seed=4)
    assert imresize(img, output_size=(9, 40)).shape == (9, 40, 3)
    assert imresize(img, scale=1.5).shape == (26, 38, 3)
    assert resize_output_size((255, 256), 1 / 3) == (85, 86)


def test_upscale_of_constant_is_constant():
    img = np.full((7, 9, 3), 0.25, np.float32)
    np.testing.assert_allclose(imresize(img, scale=3).numpy(), 0.25, atol=1e-6)


def test_runs_under_xla_and_tf_function_and_tf_data():
    img = tf.constant(random_image(24, 24, 3, seed=5).astype(np.float32) / 255.0)
    eager = imresize(img, scale=0.5)
    xla = tf.function(lambda x: imresize(x, scale=0.5), jit_compile=True)(img)
    np.testing.assert_allclose(xla.numpy(), eager.numpy(), atol=1e-6)

    # Dynamic spatial size inside tf.function and tf.data.
    fn = tf.function(
        lambda x: imresize(x, scale=1 / 3),
        input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)],
    )
    u8 = random_image(33, 21, 3, seed=6)
    np.testing.assert_array_equal(fn(u8).numpy(), imresize(u8, scale=1 / 3).numpy())
    ds = tf.data.Dataset.from_generator(
        lambda: iter([u8]), output_signature=tf.TensorSpec([None, None, 3], tf.uint8)
    ).map(lambda x: imresize(x, scale=1 / 3))
    np.testing.assert_array_equal(next(iter(ds)).numpy(), fn(u8).numpy())


def test_bad_arguments():
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="exactly one"):
        imresize(img)
    with pytest.raises(ValueError, match="exactly one"):
        imresize(img, scale=2, output_size=(4, 4))
    with pytest.raises(ValueError, match="positive"):
        imresize(img, scale=-1)
    with pytest.raises(ValueError, match=r"\[H,W,C\]"):
        imresize(np.zeros((8, 8), np.uint8), scale=2)


def test_gather_path_for_huge_sizes_matches_dense_path(monkeypatch):
    import keras_sr.ops.resize as resize_module

    img = random_image(45, 38, 3, seed=7)
    dense = imresize(img, scale=1 / 3).numpy()
    monkeypatch.setattr(resize_module, "_DENSE_LIMIT", 10)
    gathered = imresize(img, scale=1 / 3).numpy()
    np.testing.assert_array_equal(gathered, dense)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 4, 2, 4])
def test_uint8_float32_fast_path_is_exact(scale):
    import keras_sr.ops.resize as resize_module

    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (37, 52, 3)).astype(np.uint8)
    # A smooth image has many exact .5 ties for these dyadic weights.
    steps = rng.integers(-2, 3, (37, 52, 3)).cumsum(axis=0).cumsum(axis=1)
    smooth = np.clip(steps + 128, 0, 255).astype(np.uint8)
    for img in (noise, smooth):
        n, m = img.shape[0], int(np.ceil(img.shape[0] * scale - 1e-9))
        assert resize_module._float32_exact(n, m, scale)
        got = imresize(tf.constant(img), scale=scale).numpy()
        want = _numpy_imresize_float(img, scale, round_each_pass=True)
        np.testing.assert_array_equal(got, want.astype(np.uint8))


def test_non_dyadic_scales_keep_float64():
    import keras_sr.ops.resize as resize_module

    assert not resize_module._float32_exact(99, 33, 1 / 3)
    assert not resize_module._float32_exact(33, 99, 3.0)
