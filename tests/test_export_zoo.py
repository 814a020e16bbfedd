"""Exporting the model zoo: the portable MATLAB-bicubic rewrite used by
pre-upsampling models (SRCNN, VDSR, GLRL), and small presets through TFLite,
ONNX and an XLA training step."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from export import check_train_step_compiles, export_onnx, export_tflite
from export.upsampler import (
    bicubic_phase_weights,
    bicubic_upsample_conv,
    conv_bicubic_upsampling,
)
from keras_sr.ops.resize import imresize
from tests.test_export import keras_out, set5_lr

pytest.importorskip("ai_edge_litert.interpreter")
pytest.importorskip("onnxruntime")
models = pytest.importorskip("keras_sr.models")
layers = pytest.importorskip("keras_sr.layers")

# Pixel shuffle (ESPCN) and in-graph MATLAB bicubic (SRCNN) for the exports;
# transposed conv + PReLU (FSRCNN) for the XLA training step.
EXPORT_PRESETS = ("espcn_x3", "srcnn_x3")
XLA_PRESETS = ("fsrcnn_x3",)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_conv_equals_matlab_imresize(scale):
    assert np.allclose(bicubic_phase_weights(scale).sum(axis=1), 1.0)
    for shape in [(1, 2, 3, 1), (2, 9, 14, 1), (1, 11, 7, 3)]:
        x = tf.constant(set5_lr(shape[-1], shape[1], shape[2], batch=shape[0]))
        want = imresize(x, scale=scale).numpy()
        got = bicubic_upsample_conv(x, scale).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_rewrite_only_while_tracing():
    x = tf.constant(set5_lr(1, 6, 6))
    with conv_bicubic_upsampling() as done:
        from keras_sr.ops import resize

        resize.imresize(x, scale=2)  # rewritten (integer up-scale, float)
        resize.imresize(x, scale=0.5)  # not rewritten (downscale)
    assert len(done) == 1 and "imresize(x2)" in done[0]
    assert resize.imresize is imresize  # restored


def bicubic_model(scale: int = 3) -> keras.Model:
    inp = keras.Input((None, None, 1))
    up = layers.BicubicUpsample(scale)(inp)
    res = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(up)
    res = keras.layers.Conv2D(1, 3, padding="same")(res)
    model = keras.Model(inp, keras.layers.Add()([up, res]))
    model.scale, model.channels = scale, 1
    return model


def test_pre_upsampling_model_exports_to_tflite_and_onnx(tmp_path):
    model = bicubic_model(3)
    t = export_tflite(model, tmp_path / "b.tflite")
    assert t["passed"] and t["max_abs_diff"] <= 1e-4
    assert any("imresize(x3)" in r for r in t["graph_rewrites"])
    assert "CONV_2D" in t["ops"] and "DEPTH_TO_SPACE" in t["ops"]
    o = export_onnx(model, tmp_path / "b.onnx")
    assert o["passed"] and o["max_abs_diff"] <= 1e-4
    assert "OneHot" not in o["ops"]


@pytest.mark.parametrize("name", EXPORT_PRESETS)
def test_small_preset_exports(tmp_path, name):
    if name not in models.list():
        pytest.skip(f"{name} is not a preset")
    model = models.get(name, pretrained=False)
    t = export_tflite(model, tmp_path / f"{name}.tflite", name=name)
    o = export_onnx(model, tmp_path / f"{name}.onnx", name=name)
    assert t["passed"] and o["passed"]
    assert t["max_abs_diff"] <= 1e-4 and o["max_abs_diff"] <= 1e-4
    assert t["scale"] == model.scale and t["channels"] == model.channels
    x = set5_lr(model.channels, 10, 13, batch=2)
    from export import load_artifact

    for path in (tmp_path / f"{name}.tflite", tmp_path / f"{name}.onnx"):
        np.testing.assert_allclose(
            load_artifact(str(path))(x), keras_out(model, x), atol=1e-4
        )


@pytest.mark.parametrize("name", XLA_PRESETS)
def test_small_preset_train_step_compiles_with_xla(name):
    if name not in models.list():
        pytest.skip(f"{name} is not a preset")
    model = models.get(name, pretrained=False)
    result = check_train_step_compiles(model, batch_size=2, lr_size=(8, 8))
    assert result["compiled"], result.get("error")


def test_nearest_upsample_is_upsampling2d_bit_for_bit():
    from keras_sr.ops import nearest_upsample

    x = set5_lr(3, 7, 5, batch=2)
    for f in (1, 2, 3, 4):
        want = keras.layers.UpSampling2D(f, interpolation="nearest")(x)
        got = nearest_upsample(tf.constant(x), f)
        assert got.shape == want.shape
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    with pytest.raises(ValueError, match="factor"):
        nearest_upsample(x, 0)


@pytest.mark.parametrize("arch", ["rrdbnet", "spsr"])
def test_nearest_upsampling_generators_export_to_tflite_and_onnx(tmp_path, arch):
    """ESRGAN (RRDBNet) and SPSR upsample with nearest + conv (UpConv); a
    Keras UpSampling2D there left TFLite an unconvertible Conv2D."""
    small = dict(scale=4, filters=8, num_blocks=1, growth=4)
    if arch == "rrdbnet":
        model = models.RRDBNet(**small)
    else:
        model = models.SPSRNet(**small, branch_taps=[1])
    t = export_tflite(model, tmp_path / f"{arch}.tflite", name=arch)
    assert t["passed"] and t["max_abs_diff"] <= 1e-4
    assert "DEPTH_TO_SPACE" in t["ops"] and "TILE" in t["ops"]
    # Full int8 converts with builtin ops only (random weights: no PSNR gate).
    from export.common import model_info
    from export.tflite import convert, non_builtin_ops, tflite_ops

    calibration = [set5_lr(3, 12, 12, offset=i) for i in range(4)]
    content, _ = convert(model, model_info(model, arch), "int8", calibration)
    ops = tflite_ops(content)
    assert not non_builtin_ops(ops) and ops["QUANTIZE"] >= 1
    o = export_onnx(model, tmp_path / f"{arch}.onnx", name=arch)
    assert o["passed"] and o["max_abs_diff"] <= 1e-4
