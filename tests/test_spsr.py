"""SPSR generator, trunk initialisation from RRDBNet and the GAN presets."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_sr import models
from keras_sr.models import RRDBNet
from keras_sr.models.spsr import SPSRNet, default_branch_taps, load_trunk_weights
from tests.helpers import assert_config_roundtrip, assert_keras_file_roundtrip

TINY = dict(filters=8, num_blocks=3, growth=4)


def test_default_taps():
    assert default_branch_taps(23) == [5, 10, 15, 20]
    assert default_branch_taps(4) == [1, 2, 3, 3]
    with pytest.raises(ValueError, match="branch_taps"):
        SPSRNet(branch_taps=[0, 1], **TINY)


@pytest.mark.parametrize("scale", [3, 4])
def test_spsr_shapes_and_branch(scale):
    m = SPSRNet(scale=scale, return_branch=True, **TINY)
    sr, grad = m(np.zeros((2, 6, 5, 3), "float32"))
    assert sr.shape == grad.shape == (2, 6 * scale, 5 * scale, 3)
    # Fusion input order: branch features first, then SR features (2nf ch).
    assert m.get_layer("f_rrdb").filters == 16
    assert [m.get_layer(f"b_rrdb{k}").filters for k in range(1, 5)] == [16] * 4
    fusion = [
        layer.name
        for layer in m.layers
        if layer.name.startswith("f_") and layer.weights
    ]
    assert fusion == ["f_rrdb", "f_concat", "f_hr_conv0", "f_hr_conv1"]


def test_spsr_full_size_parameter_count():
    # Hand count of the official SPSRNet (nf 64, nb 23, gc 32), conv by conv:
    # trunk: fea_conv 1,792 + 23 RRDB(64) x 719,424 + LR_conv 36,928 +
    #   2 upconv 73,856 + HR_conv0/1_new 73,856
    # branch: b_fea_conv 1,792 + 4 RRDB(128) x 1,493,760 + 4 b_concat x 73,792
    #   + b_LR_conv 36,928 + 2 upconv 73,856 + b_HR_conv0/1 73,856 + conv_w 195
    # fusion: RRDB(128) 1,493,760 + f_concat 73,792 + f_HR_conv0 36,928
    #   + f_HR_conv1 1,731                                     = 24,796,230
    m = SPSRNet(return_branch=True)
    assert m.count_params() == 24_796_230
    assert m.get_layer("conv_w").count_params() == 195  # absent from the zoo view


def test_inference_model_and_serialization(tmp_path):
    m = SPSRNet(return_branch=True, **TINY)
    x = np.random.rand(1, 6, 6, 3).astype("float32")
    inf = m.inference_model()
    np.testing.assert_allclose(np.asarray(inf(x)), np.asarray(m(x)[0]), atol=1e-6)
    assert inf.scale == 4 and inf.channels == 3
    assert_config_roundtrip(inf)
    assert_keras_file_roundtrip(inf, x, tmp_path)
    path = tmp_path / "train_view.keras"
    m.save(path)
    back = keras.models.load_model(path, compile=False)
    for a, b in zip(back(x), m(x), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_trunk_is_initialised_from_a_psnr_rrdbnet():
    psnr = RRDBNet(**TINY)
    spsr = SPSRNet(return_branch=True, **TINY)
    copied = load_trunk_weights(spsr, psnr)
    assert copied[:2] == ["conv_first", "rrdb1"] and "hr_conv" in copied
    assert "hr_conv1" not in copied and not any(
        n.startswith(("b_", "f_")) for n in copied
    )
    x = np.random.rand(1, 5, 5, 3).astype("float32")
    tap = keras.Model(spsr.input, spsr.get_layer("hr_lrelu").output)
    ref = keras.Model(psnr.input, psnr.get_layer("hr_lrelu").output)
    np.testing.assert_allclose(np.asarray(tap(x)), np.asarray(ref(x)), atol=1e-6)
    with pytest.raises(ValueError, match="lacks trunk layers"):
        load_trunk_weights(SPSRNet(filters=8, num_blocks=4, growth=4), psnr)


def test_gan_presets_are_in_the_zoo():
    names = models.list()
    for name in ("srgan_x4", "esrgan_x4", "spsr_x4"):
        assert name in names
    m = models.get("spsr_x4", pretrained=False, **TINY)
    assert isinstance(m, SPSRNet) and m(np.zeros((1, 4, 4, 3), "float32")).shape == (
        1,
        16,
        16,
        3,
    )
    assert models.get("srgan_x4", pretrained=False, num_blocks=1, filters=8).scale == 4
