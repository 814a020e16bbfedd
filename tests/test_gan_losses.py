"""GAN losses, gradient maps, VGG perceptual loss and LPIPS against
hand-computed values."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_sr.gan import (
    LPIPS,
    GradientMap,
    GradientPixelLoss,
    NeuralStructureExtractor,
    VGGFeatureExtractor,
    VGGPerceptualLoss,
    gan_discriminator_loss,
    gan_generator_loss,
    gradient_map,
    gradient_pixel_loss,
    ragan_discriminator_loss,
    ragan_generator_loss,
    structure_pixel_loss,
)
from tests.helpers import assert_config_roundtrip


def softplus(x):
    return np.log1p(np.exp(x))


def bce(logits, label):
    # BCEWithLogits: label*softplus(-x) + (1-label)*softplus(x), mean
    return np.mean(label * softplus(-logits) + (1 - label) * softplus(logits))


REAL = np.array([[1.5], [-0.5], [0.25]], "float32")
FAKE = np.array([[-1.0], [0.5], [2.0]], "float32")


def test_ragan_losses_match_the_code_form_with_the_half():
    r, f = REAL[:, 0].astype(np.float64), FAKE[:, 0].astype(np.float64)
    want_g = (bce(r - f.mean(), 0) + bce(f - r.mean(), 1)) / 2
    want_d = (bce(r - f.mean(), 1) + bce(f - r.mean(), 0)) / 2
    # Hand value for the first element of the G real term:
    # r0 - mean(f) = 1.5 - 0.5 = 1.0, BCE(1.0, 0) = log(1 + e) = 1.31326
    assert softplus(1.0) == pytest.approx(1.3132617, abs=1e-6)
    assert float(ragan_generator_loss(REAL, FAKE)) == pytest.approx(want_g, abs=1e-6)
    assert float(ragan_discriminator_loss(REAL, FAKE)) == pytest.approx(
        want_d, abs=1e-6
    )
    # Equal logits: every term is log 2.
    z = np.zeros((4, 1), "float32")
    assert float(ragan_generator_loss(z, z)) == pytest.approx(np.log(2), abs=1e-6)


def test_ragan_generator_loss_does_not_backprop_into_real_logits():
    import tensorflow as tf

    real = tf.Variable(REAL)
    fake = tf.Variable(FAKE)
    with tf.GradientTape() as tape:
        loss = ragan_generator_loss(real, fake)
    g_real, g_fake = tape.gradient(loss, [real, fake])
    assert g_real is None or np.allclose(g_real, 0)
    assert np.abs(g_fake.numpy()).sum() > 0


def test_standard_gan_losses():
    r, f = REAL[:, 0].astype(np.float64), FAKE[:, 0].astype(np.float64)
    assert float(gan_generator_loss(FAKE)) == pytest.approx(bce(f, 1), abs=1e-6)
    assert float(gan_discriminator_loss(REAL, FAKE)) == pytest.approx(
        bce(r, 1) + bce(f, 0), abs=1e-6
    )
    # -log sigmoid(0) = log 2
    assert float(gan_generator_loss(np.zeros((2, 1)))) == pytest.approx(np.log(2))


def reference_gradient(x, pad, eps=1e-6):
    """Direct transcription of SPSR's Get_gradient(_nopadding): zero pad, then
    3x3 cross-correlation with kernel_v / kernel_h per channel."""
    b, h, w, c = x.shape
    xp = np.zeros((b, h + 2 * pad, w + 2 * pad, c))
    xp[:, pad : pad + h, pad : pad + w] = x
    kv = np.array([[0, -1, 0], [0, 0, 0], [0, 1, 0]], float)
    kh = np.array([[0, 0, 0], [-1, 0, 1], [0, 0, 0]], float)
    oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
    out = np.zeros((b, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i : i + 3, j : j + 3, :]
            v = np.einsum("bijc,ij->bc", win, kv)
            hh = np.einsum("bijc,ij->bc", win, kh)
            out[:, i, j] = np.sqrt(v**2 + hh**2 + eps)
    return out


@pytest.mark.parametrize("pad", [1, 2])
def test_gradient_map_matches_spsr_operator(pad):
    x = np.random.default_rng(0).random((2, 7, 6, 3)).astype("float32")
    got = np.asarray(gradient_map(x, padding=pad))
    want = reference_gradient(x.astype(np.float64), pad)
    assert got.shape == (2, 7 + 2 * pad - 2, 6 + 2 * pad - 2, 3)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_gradient_map_hand_value_and_eps():
    x = np.zeros((1, 3, 3, 1), "float32")
    x[0, 2, 1, 0] = 0.3  # below the centre
    x[0, 1, 2, 0] = 0.4  # right of the centre
    g = np.asarray(gradient_map(x, padding=1))
    assert g[0, 1, 1, 0] == pytest.approx(np.sqrt(0.3**2 + 0.4**2 + 1e-6), abs=1e-6)
    # flat image: sqrt(eps) everywhere, never 0 (finite gradient)
    flat = np.asarray(gradient_map(np.full((1, 4, 4, 3), 0.5, "float32"), padding=1))
    assert flat[0, 1:-1, 1:-1] == pytest.approx(1e-3, abs=1e-7)


def test_gradient_map_layer_config_and_shape():
    layer = GradientMap(padding=2, eps=1e-4)
    assert_config_roundtrip(layer)
    assert layer.compute_output_shape((None, 8, None, 3)) == (None, 10, None, 3)
    with pytest.raises(ValueError, match="B, H, W, C"):
        gradient_map(np.zeros((4, 4, 3), "float32"))


def test_gradient_pixel_loss_is_mse_of_padded_maps():
    rng = np.random.default_rng(1)
    a = rng.random((2, 6, 6, 3)).astype("float32")
    b = rng.random((2, 6, 6, 3)).astype("float32")
    want = np.mean((reference_gradient(b, 2) - reference_gradient(a, 2)) ** 2)
    assert float(gradient_pixel_loss(a, b)) == pytest.approx(want, rel=1e-5)
    assert float(GradientPixelLoss()(a, b)) == pytest.approx(want, rel=1e-5)
    assert float(gradient_pixel_loss(a, a)) == 0.0


def test_structure_pixel_loss_is_l1_of_nse_features():
    nse = NeuralStructureExtractor(filters=4)
    rng = np.random.default_rng(2)
    a = rng.random((2, 16, 16, 3)).astype("float32")
    b = rng.random((2, 16, 16, 3)).astype("float32")
    want = np.mean(np.abs(np.asarray(nse(b)) - np.asarray(nse(a))))
    assert float(structure_pixel_loss(nse, a, b)) == pytest.approx(want, rel=1e-5)
    assert float(structure_pixel_loss(nse, a, a)) == 0.0


# ------------------------------------------------------------------ VGG
def test_vgg_taps_are_chosen_by_name_and_conv_is_before_relu():
    vgg = VGGFeatureExtractor(
        layers=("conv1_2", "relu1_2", "pool1"), preprocessing="none"
    )
    x = np.random.default_rng(3).random((1, 8, 8, 3)).astype("float32")
    out = vgg(x)
    conv, relu = np.asarray(out["conv1_2"]), np.asarray(out["relu1_2"])
    assert conv.min() < 0  # pre-activation keeps negatives
    np.testing.assert_allclose(relu, np.maximum(conv, 0), atol=1e-6)
    assert out["pool1"].shape == (1, 4, 4, 64)
    # Only as deep as needed: nothing of block 2 was built.
    assert not [layer for layer in vgg.layers if layer.name.startswith("block2")]
    with pytest.raises(ValueError, match="Unknown VGG19 layer"):
        VGGFeatureExtractor(layers=("block5_conv4x",))
    with pytest.raises(ValueError, match="no conv 4"):
        VGGFeatureExtractor(layers=("conv1_4",))


def test_vgg_torch_normalisation_hand_value():
    vgg = VGGFeatureExtractor(layers=("conv1_1",))
    x = np.full((1, 4, 4, 3), 0.5, "float32")
    kernel, bias = vgg.get_layer("block1_conv1").get_weights()
    norm = (0.5 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    # Centre pixel: the full 3x3 window lies inside the image.
    want = np.einsum("ijc,ijco->o", np.broadcast_to(norm, (3, 3, 3)), kernel) + bias
    np.testing.assert_allclose(
        np.asarray(vgg(x)["conv1_1"])[0, 1, 1], want, rtol=1e-4, atol=1e-5
    )


def test_vgg_weights_from_local_files(tmp_path):
    src = VGGFeatureExtractor(layers=("conv2_1",))
    convs = [layer for layer in src.layers if "_conv" in layer.name]
    # Keras-style npz
    keras_npz = tmp_path / "vgg_keras.npz"
    np.savez(
        keras_npz,
        **{f"{c.name}/kernel": c.kernel.numpy() for c in convs},
        **{f"{c.name}/bias": c.bias.numpy() for c in convs},
    )
    # torchvision-style npz (OIHW at the features.N indices)
    torch_npz = tmp_path / "vgg_torch.npz"
    index = {"block1_conv1": 0, "block1_conv2": 2, "block2_conv1": 5}
    np.savez(
        torch_npz,
        **{
            f"features.{index[c.name]}.weight": c.kernel.numpy().transpose(3, 2, 0, 1)
            for c in convs
        },
        **{f"features.{index[c.name]}.bias": c.bias.numpy() for c in convs},
    )
    x = np.random.default_rng(4).random((1, 12, 12, 3)).astype("float32")
    want = np.asarray(src(x)["conv2_1"])
    for path in (keras_npz, torch_npz):
        got = VGGFeatureExtractor(layers=("conv2_1",), weights=str(path))(x)["conv2_1"]
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        VGGFeatureExtractor(weights=str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="no weights for conv2_2"):
        VGGFeatureExtractor(layers=("conv5_4",), weights=str(keras_npz))


def test_vgg_weights_from_keras_h5(tmp_path):
    ref = keras.applications.VGG19(
        weights=None, include_top=False, input_shape=(None, None, 3)
    )
    path = tmp_path / "vgg19.weights.h5"
    ref.save_weights(path)
    vgg = VGGFeatureExtractor(
        layers=("relu1_2",), weights=str(path), preprocessing="caffe"
    )
    x = np.random.default_rng(5).random((1, 8, 8, 3)).astype("float32")
    bgr = x[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68], "float32")
    sub = keras.Model(ref.input, ref.get_layer("block1_conv2").output)
    np.testing.assert_allclose(
        np.asarray(vgg(x)["relu1_2"]), np.asarray(sub(bgr)), rtol=1e-4, atol=1e-3
    )


def test_perceptual_loss_hand_value_and_zero():
    loss = VGGPerceptualLoss({"conv1_2": 2.0, "relu1_1": 0.5}, criterion="l1")
    rng = np.random.default_rng(6)
    a = rng.random((2, 8, 8, 3)).astype("float32")
    b = rng.random((2, 8, 8, 3)).astype("float32")
    fa, fb = loss.extractor(a), loss.extractor(b)
    want = 2.0 * np.mean(np.abs(np.asarray(fb["conv1_2"]) - np.asarray(fa["conv1_2"])))
    want += 0.5 * np.mean(np.abs(np.asarray(fb["relu1_1"]) - np.asarray(fa["relu1_1"])))
    assert float(loss(a, b)) == pytest.approx(want, rel=1e-5)
    assert float(loss(a, a)) == 0.0
    l2 = VGGPerceptualLoss({"conv1_1": 1.0}, criterion="l2")
    want2 = np.mean(
        (
            np.asarray(l2.extractor(b)["conv1_1"])
            - np.asarray(l2.extractor(a)["conv1_1"])
        )
        ** 2
    )
    assert float(l2(a, b)) == pytest.approx(want2, rel=1e-5)
    with pytest.raises(ValueError, match="criterion"):
        VGGPerceptualLoss(criterion="huber")


# ---------------------------------------------------------------- LPIPS
def test_lpips_runs_is_zero_for_identical_and_loads_npz(tmp_path):
    lp = LPIPS(weights=None, seed=1)
    rng = np.random.default_rng(7)
    a = rng.random((2, 64, 64, 3)).astype("float32")
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1).astype("float32")
    np.testing.assert_allclose(np.asarray(lp(a, a)), [0.0, 0.0], atol=1e-7)
    d = np.asarray(lp(a, b))
    assert d.shape == (2,) and (d > 0).all()
    # Export in the PyTorch layout, reload into a differently seeded LPIPS.
    arrays = {}
    for index, conv in lp._convs:
        arrays[f"features.{index}.weight"] = conv.kernel.numpy().transpose(3, 2, 0, 1)
        arrays[f"features.{index}.bias"] = conv.bias.numpy()
    for k, w in enumerate(lp.lin):
        arrays[f"lin{k}.model.1.weight"] = w.reshape(1, -1, 1, 1)
    path = tmp_path / "lpips_alex.npz"
    np.savez(path, **arrays)
    other = LPIPS(weights=str(path), seed=99)
    np.testing.assert_allclose(np.asarray(other(a, b)), d, rtol=1e-5)
    del arrays["lin3.model.1.weight"]
    np.savez(tmp_path / "broken.npz", **arrays)
    with pytest.raises(ValueError, match="lin3"):
        LPIPS(weights=str(tmp_path / "broken.npz"))
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        LPIPS(weights=str(tmp_path / "nope.npz"))
