"""Export round trips: SavedModel, TFLite (float32/float16), ONNX and TPU.

Every artifact is reloaded in its own runtime and compared with the Keras
model on real Set5 crops; a second call uses another batch and spatial size.
Models are tiny (a few hundred weights) so each export takes seconds.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from export import (
    ExportError,
    ParityError,
    export_onnx,
    export_saved_model,
    export_tflite,
    export_tpu,
    load_artifact,
    read_report,
)
from export.runtime import SavedModelUpscaler, tiled_apply
from keras_sr.inference import KerasUpscaler, upscale_image
from keras_sr.io import read_image
from keras_sr.ops.color import rgb_to_y
from tests.helpers import SET5_HR

pytest.importorskip("ai_edge_litert.interpreter")
pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")


@keras.saving.register_keras_serializable(package="keras_sr_tests")
class TinySR(keras.Model):
    """conv-relu-conv + pixel shuffle on top of a nearest-neighbour skip, so
    it behaves like an SR model (output close to the input upscaled).
    ``upsampler="transposed"`` uses a stride-s Conv2DTranspose instead."""

    def __init__(self, scale=2, channels=1, upsampler="shuffle", seed=0, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)
        self.channels = int(channels)
        self.upsampler = upsampler
        self.seed = seed
        s, c = self.scale, self.channels
        init = keras.initializers.RandomNormal(stddev=0.1, seed=seed)
        self.conv1 = keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=init)
        if upsampler == "shuffle":
            self.conv2 = keras.layers.Conv2D(
                c * s * s, 3, padding="same", kernel_initializer=init
            )
        else:
            self.conv2 = keras.layers.Conv2DTranspose(
                c, s, strides=s, padding="same", kernel_initializer=init
            )

    def call(self, x):
        s = self.scale
        h = keras.ops.relu(self.conv1(x))
        skip = keras.ops.repeat(keras.ops.repeat(x, s, axis=1), s, axis=2)
        if self.upsampler == "shuffle":
            return skip + 0.1 * keras.ops.depth_to_space(self.conv2(h), s)
        return skip + 0.1 * self.conv2(h)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "channels": self.channels,
            "upsampler": self.upsampler,
            "seed": self.seed,
        }


def tiny(scale=2, channels=1, upsampler="shuffle") -> TinySR:
    model = TinySR(scale, channels, upsampler)
    model(np.zeros((1, 8, 8, channels), np.float32))
    return model


def set5_lr(channels: int, h: int, w: int, batch: int = 1, offset: int = 0):
    """Real LR-like crops from Set5 (every 2nd pixel), float32 [0, 1]."""
    files = sorted(SET5_HR.glob("*.png"))
    out = []
    for i in range(batch):
        img = read_image(files[(i + offset) % len(files)])[::2, ::2]
        if channels == 1:
            img = np.asarray(rgb_to_y(img))
        out.append(img[5 : 5 + h, 7 : 7 + w].astype(np.float32) / 255.0)
    return np.stack(out)


def keras_out(model, x):
    return np.asarray(model(x, training=False))


# --------------------------------------------------------------------------
# SavedModel
# --------------------------------------------------------------------------


def test_saved_model_round_trip_all_signatures(tmp_path):
    model = tiny(scale=3, channels=1)
    out = tmp_path / "sm"
    report = export_saved_model(model, out)
    assert report["passed"] and report["max_abs_diff"] <= 1e-5
    assert json.loads((out / "parity.json").read_text())["max_abs_diff"] <= 1e-5
    loaded = tf.saved_model.load(str(out))
    serve = loaded.signatures["serving_default"]
    for x in (set5_lr(1, 20, 24), set5_lr(1, 13, 31, batch=3, offset=1)):
        got = serve(lr=tf.constant(x))["sr"].numpy()
        assert got.shape == (x.shape[0], x.shape[1] * 3, x.shape[2] * 3, 1)
        np.testing.assert_allclose(got, keras_out(model, x), atol=1e-5)
    # uint8 in/out, clip + round inside.
    x8 = (set5_lr(1, 11, 9, batch=2) * 255).round().astype(np.uint8)
    got8 = loaded.signatures["upscale_uint8"](lr=tf.constant(x8))["sr"].numpy()
    want8 = np.clip(np.floor(keras_out(model, x8 / 255.0) * 255 + 0.5), 0, 255)
    assert got8.dtype == np.uint8
    assert np.abs(got8.astype(int) - want8.astype(int)).max() <= 1
    # Encoded images: an RGB JPEG goes through the Y + bicubic CbCr path.
    rgb = read_image(SET5_HR / "bird.png")[100:130, 60:84]
    jpeg = tf.io.encode_jpeg(rgb, quality=95).numpy()
    decoded = tf.io.decode_jpeg(jpeg).numpy()
    png = loaded.signatures["upscale_image_bytes"](image_bytes=tf.constant([jpeg]))
    got = tf.io.decode_png(png["png"][0]).numpy()
    want, _ = upscale_image(KerasUpscaler(model), decoded)
    assert got.shape == (90, 72, 3)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_saved_model_bytes_signature_grey_and_alpha(tmp_path):
    model = tiny(scale=2, channels=3)
    out = tmp_path / "sm_rgb"
    report = export_saved_model(model, out)
    assert report["signature_checks"]["upscale_image_bytes"]["max_level_diff"] <= 1
    fn = tf.saved_model.load(str(out)).signatures["upscale_image_bytes"]
    grey = np.asarray(rgb_to_y(read_image(SET5_HR / "head.png")[50:70, 40:66]))
    alpha = np.full(grey.shape[:2], 200, np.uint8)
    inputs = [
        tf.io.encode_png(grey).numpy(),
        tf.io.encode_png(np.concatenate([grey, alpha[..., None]], -1)).numpy(),
    ]
    pngs = fn(image_bytes=tf.constant(inputs))["png"].numpy()
    want, want_alpha = upscale_image(KerasUpscaler(model), grey, alpha)
    plain = tf.io.decode_png(pngs[0]).numpy()
    with_alpha = tf.io.decode_png(pngs[1]).numpy()
    assert plain.shape == (40, 52, 1) and with_alpha.shape == (40, 52, 2)
    assert np.abs(plain.astype(int) - want.astype(int)).max() <= 1
    assert np.abs(with_alpha[..., 1].astype(int) - want_alpha.astype(int)).max() <= 1


# --------------------------------------------------------------------------
# TFLite float
# --------------------------------------------------------------------------


def test_tflite_float32_round_trip(tmp_path):
    model = tiny(scale=3, channels=3)
    path = tmp_path / "m.tflite"
    report = export_tflite(model, path)
    assert report["passed"] and report["max_abs_diff"] <= 1e-4
    assert report["input"]["shape_signature"] == [-1, -1, -1, 3]
    assert report["input"]["dtype"] == "float32"
    assert "DEPTH_TO_SPACE" in report["ops"]
    assert not any(op.startswith("Flex") for op in report["ops"])
    assert read_report(path)["quantize"] == "none"
    up = load_artifact(str(path))
    assert (up.scale, up.channels) == (3, 3)
    with pytest.raises(ValueError, match="upscales x3, not x2"):
        load_artifact(str(path), scale=2)
    for x in (set5_lr(3, 16, 16), set5_lr(3, 9, 23, batch=2, offset=2)):
        got = up(x)
        assert got.shape == (x.shape[0], x.shape[1] * 3, x.shape[2] * 3, 3)
        np.testing.assert_allclose(got, keras_out(model, x), atol=1e-4)


def test_tflite_float16_within_1e_2(tmp_path):
    model = tiny(scale=2, channels=1)
    report = export_tflite(model, tmp_path / "h.tflite", quantize="float16")
    assert report["passed"]
    assert 0 < report["max_abs_diff"] <= 1e-2  # not bit-exact: weights are fp16
    assert report["ops"].get("DEQUANTIZE", 0) >= 2  # fp16 weights dequantized
    x = set5_lr(1, 21, 17, batch=2)
    got = load_artifact(str(tmp_path / "h.tflite"))(x)
    np.testing.assert_allclose(got, keras_out(model, x), atol=1e-2)


def test_tflite_transposed_conv_variant_same_numbers(tmp_path):
    model = tiny(scale=2, channels=3)
    plain = export_tflite(model, tmp_path / "a.tflite")
    gpu = export_tflite(model, tmp_path / "b.tflite", upsampler="transposed_conv")
    assert "DEPTH_TO_SPACE" in plain["ops"] and "DEPTH_TO_SPACE" not in gpu["ops"]
    assert gpu["ops"]["TRANSPOSE_CONV"] == 1
    assert plain["gpu_delegate"]["depth_to_space_outside_documented_list"]
    assert "DEPTH_TO_SPACE" in plain["gpu_delegate"]["ops_outside_documented_gpu_list"]
    assert not gpu["gpu_delegate"]["depth_to_space_outside_documented_list"]
    assert gpu["gpu_delegate"]["analyzer_compatible"]
    x = set5_lr(3, 19, 25, batch=2)
    a = load_artifact(str(tmp_path / "a.tflite"))(x)
    b = load_artifact(str(tmp_path / "b.tflite"))(x)
    np.testing.assert_allclose(a, b, atol=1e-6)


# --------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------


def test_onnx_round_trip_dynamic_axes(tmp_path):
    import onnx

    model = tiny(scale=2, channels=1, upsampler="transposed")
    path = tmp_path / "m.onnx"
    report = export_onnx(model, path)
    assert report["passed"] and report["max_abs_diff"] <= 1e-4
    assert report["input"]["shape"] == ["batch", "height", "width", 1]
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["scale"] == "2" and meta["channels"] == "1"
    up = load_artifact(str(path))
    for x in (set5_lr(1, 30, 14), set5_lr(1, 7, 41, batch=4, offset=3)):
        got = up(x)
        assert got.shape == (x.shape[0], x.shape[1] * 2, x.shape[2] * 2, 1)
        np.testing.assert_allclose(got, keras_out(model, x), atol=1e-4)


# --------------------------------------------------------------------------
# TPU (XLA, static shape)
# --------------------------------------------------------------------------


def test_tpu_export_static_shape_under_xla(tmp_path):
    model = tiny(scale=2, channels=1)
    out = tmp_path / "tpu"
    report = export_tpu(model, out, batch=2, tile=(12, 16))
    assert report["passed"] and report["max_abs_diff"] <= 1e-4
    assert report["xla"]["xla_must_compile_in_saved_model"]
    assert report["xla"]["hlo_instructions"] > 0
    fn = tf.saved_model.load(str(out)).signatures["serving_default"]
    spec = fn.structured_input_signature[1]["lr"]
    assert spec.shape.as_list() == [2, 12, 16, 1]
    x = set5_lr(1, 12, 16, batch=2)
    np.testing.assert_allclose(
        fn(lr=tf.constant(x))["sr"].numpy(), keras_out(model, x), atol=1e-4
    )
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        fn(lr=tf.constant(set5_lr(1, 13, 16, batch=2)))
    # load_artifact tiles any image size; the receptive field (2 px) is
    # inside the margin, so tiling equals the whole-image Keras output.
    up = load_artifact(str(out))
    assert isinstance(up, SavedModelUpscaler) and up.static_shape == (2, 12, 16, 1)
    for x in (set5_lr(1, 29, 37, batch=3), set5_lr(1, 7, 9)):
        got = up(x)
        assert got.shape == (x.shape[0], x.shape[1] * 2, x.shape[2] * 2, 1)
        if x.shape[1] >= 12:
            np.testing.assert_allclose(got, keras_out(model, x), atol=1e-4)


def test_tpu_bfloat16(tmp_path):
    model = tiny(scale=2, channels=3)
    report = export_tpu(model, tmp_path / "bf", batch=1, tile=(8, 8), bfloat16=True)
    assert report["xla"]["compute_dtype"] == "bfloat16"
    # bfloat16 really is used (not bit-exact) but stays within its threshold.
    assert 1e-5 < report["max_abs_diff"] <= 5e-2
    # The Keras model itself is left in float32.
    assert all(layer.compute_dtype == "float32" for layer in model._flatten_layers())


def test_tiled_apply_covers_every_pixel():
    def fn(chunk):  # x2 nearest neighbour, static shape (3, 5, 4, 1)
        assert chunk.shape == (3, 5, 4, 1)
        return np.repeat(np.repeat(chunk, 2, axis=1), 2, axis=2)

    x = np.random.default_rng(0).random((2, 13, 11, 1)).astype(np.float32)
    got = tiled_apply(fn, x, (3, 5, 4, 1), scale=2, margin=1)
    np.testing.assert_array_equal(got, fn_full(x))


def fn_full(x):
    return np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)


# --------------------------------------------------------------------------
# Failing parity leaves nothing behind
# --------------------------------------------------------------------------


def test_failing_parity_leaves_no_artifact(tmp_path):
    model = tiny(scale=2, channels=1)
    path = tmp_path / "strict.tflite"
    with pytest.raises(ParityError, match="failed parity") as info:
        export_tflite(model, path, quantize="float16", max_abs_diff=1e-9)
    assert info.value.report["max_abs_diff"] > 1e-9
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # no report, no temporary file
    with pytest.raises(ParityError):
        export_saved_model(model, tmp_path / "sm", max_abs_diff=-1.0)
    assert list(tmp_path.iterdir()) == []


def test_existing_artifact_untouched_by_failed_export(tmp_path):
    model = tiny(scale=2, channels=1)
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    before = path.read_bytes()
    other = tiny(scale=2, channels=1)
    other.conv1.kernel.assign(other.conv1.kernel * 2)
    with pytest.raises(ParityError):
        export_onnx(other, path, max_abs_diff=-1.0)
    assert path.read_bytes() == before


def test_bad_output_paths(tmp_path):
    model = tiny()
    with pytest.raises(ValueError, match=r"must end with \.tflite"):
        export_tflite(model, tmp_path / "m.onnx")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        export_saved_model(model, tmp_path / "file")
    with pytest.raises(ValueError, match="quantize must be one of"):
        export_tflite(model, tmp_path / "m.tflite", quantize="int4")


def test_non_builtin_ops_are_refused(tmp_path):
    @keras.saving.register_keras_serializable(package="keras_sr_tests")
    class CoshSR(TinySR):
        def call(self, x):  # tf.math.cosh has no TFLite builtin kernel
            return super().call(tf.math.cosh(x) - 1.0)

    model = CoshSR(2, 1)
    model(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ExportError, match="Cosh"):
        export_tflite(model, tmp_path / "c.tflite")
    assert not (tmp_path / "c.tflite").exists()
