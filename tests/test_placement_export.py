"""Pixel placement in the deployment runtimes: TFLite (float and full-int8,
builtin ops only) and ONNX (tf2onnx + onnxruntime)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sr.io import read_image
from keras_sr.layers import PixelPlacement, ShepardUpsampling
from keras_sr.models.lhsp import LHSP
from keras_sr.ops import pixel_placement, placement_offsets, rgb_to_y
from tests.helpers import SET5_HR

litert = pytest.importorskip("ai_edge_litert.interpreter")
tf2onnx = pytest.importorskip("tf2onnx")
ort = pytest.importorskip("onnxruntime")

SPEC = tf.TensorSpec((None, None, None, 1), tf.float32)


def luma_patches(n: int = 8, size: int = 24, seed: int = 0) -> list[np.ndarray]:
    """Real Y patches (Set5 butterfly, full of edges) as ``[1,size,size,1]``."""
    if (SET5_HR / "butterfly.png").is_file():
        y = rgb_to_y(read_image(SET5_HR / "butterfly.png").astype(np.float32) / 255.0)
        y = np.asarray(y)[::3, ::3]  # LR-like scale
    else:  # pragma: no cover - shared data missing
        rng = np.random.default_rng(seed)
        y = np.kron(rng.random((12, 12, 1)), np.ones((8, 8, 1))).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        i = rng.integers(0, y.shape[0] - size)
        j = rng.integers(0, y.shape[1] - size)
        out.append(y[None, i : i + size, j : j + size, :].astype(np.float32))
    return out


def shepard_image_model(scale: int, floor: float) -> keras.Model:
    """Placement + Shepard interpolation of the image itself (tent kernel)."""
    inp = keras.Input((None, None, 1))
    grid, mask = PixelPlacement(scale)([inp, inp])
    out = ShepardUpsampling(
        scale, filters=None, activation=None, denominator_floor=floor
    )([grid, mask])
    return keras.Model(inp, out)


def to_tflite(model: keras.Model, path, int8: bool, data=None) -> bytes:
    model.export(
        str(path), format="tf_saved_model", input_signature=[SPEC], verbose=False
    )
    converter = tf.lite.TFLiteConverter.from_saved_model(str(path))
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x] for x in data)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def run_tflite(content: bytes, x: np.ndarray) -> tuple[np.ndarray, set[str]]:
    # the builtin kernels without the XNNPACK delegate, so that the op list is
    # the model's own (a delegate would replace nodes by DELEGATE entries)
    interp = litert.Interpreter(
        model_content=content,
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    ops = {op["op_name"] for op in interp._get_ops_details()}
    inp = interp.get_input_details()[0]["index"]
    interp.resize_tensor_input(inp, x.shape)
    interp.allocate_tensors()
    interp.set_tensor(inp, x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"]), ops


def assert_builtin_only(ops: set[str]) -> None:
    assert not any(o.startswith("Flex") or o in ("CUSTOM", "DELEGATE") for o in ops), (
        ops
    )
    # the placement itself: arithmetic one-hot + depth_to_space, no scatter
    assert "DEPTH_TO_SPACE" in ops
    assert not {"SCATTER_ND", "ONE_HOT"} & ops


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def test_tflite_float_matches_keras_with_dynamic_size(tmp_path):
    model = LHSP(scale=3, filters=8, shepard_filters=4)
    content = to_tflite(model, tmp_path / "sm", int8=False)
    for x in (luma_patches(1)[0], luma_patches(1, size=17, seed=1)[0]):
        out, ops = run_tflite(content, x)
        assert_builtin_only(ops)
        np.testing.assert_allclose(out, model(x).numpy(), atol=1e-5)


def test_tflite_full_int8_placement_and_shepard(tmp_path):
    """Full-int8 conversion with builtin ops only; the int8 upscale of a real
    image stays close to the float one (the arithmetic one-hot does not
    produce garbage in the empty cells, unlike quantized SCATTER_ND/ONE_HOT)."""
    data = luma_patches(16)
    model = shepard_image_model(3, floor=0.05)
    content = to_tflite(model, tmp_path / "sm", int8=True, data=data)
    x = luma_patches(1, seed=7)[0]
    out, ops = run_tflite(content, x)
    assert_builtin_only(ops)
    assert "QUANTIZE" in ops and "DIV" in ops
    ref = model(x).numpy()
    assert out.shape == ref.shape == (1, 72, 72, 1)
    assert psnr(out, ref) > 35.0, psnr(out, ref)
    # float placement vs int8 placement: the mask really is one pixel per cell
    assert np.isfinite(out).all() and out.min() > -0.05 and out.max() < 1.05


def test_tflite_full_int8_offsets_follow_float(tmp_path):
    """The placement decided inside the int8 model (the mask) is the float one
    for almost every LR pixel (quantized gradients flip a few borderline cells)."""

    class PlacedMask(keras.layers.Layer):
        def call(self, y):
            return pixel_placement(y, placement_offsets(y, 3), 3)[1]

    inp = keras.Input((None, None, 1))
    model = keras.Model(inp, PlacedMask()(inp))
    content = to_tflite(model, tmp_path / "sm", int8=True, data=luma_patches(16))
    x = luma_patches(1, seed=5)[0]
    out, ops = run_tflite(content, x)
    assert_builtin_only(ops)
    cells = np.rint(out).reshape(24, 3, 24, 3).transpose(0, 2, 1, 3).reshape(24, 24, 9)
    np.testing.assert_array_equal(cells.sum(-1), 1)  # one placed pixel per cell
    ref = (
        model(x).numpy().reshape(24, 3, 24, 3).transpose(0, 2, 1, 3).reshape(24, 24, 9)
    )
    moved = ref.argmax(-1) != 4
    assert 0.3 < moved.mean() < 0.8  # the test image really has edges
    assert (cells.argmax(-1) == ref.argmax(-1)).mean() > 0.95


def test_tflite_full_int8_lhsp_model(tmp_path):
    """The whole LHSP network converts to full-int8 with builtin ops only and
    its int8 output follows the float output."""
    keras.utils.set_random_seed(0)
    model = LHSP(scale=3, filters=8, shepard_filters=4, denominator_floor=0.05)
    data = luma_patches(16)
    content = to_tflite(model, tmp_path / "sm", int8=True, data=data)
    x = luma_patches(1, seed=5)[0]
    out, ops = run_tflite(content, x)
    assert_builtin_only(ops)
    ref = model(x).numpy()
    corr = np.corrcoef(out.ravel(), ref.ravel())[0, 1]
    assert corr > 0.99, corr


def test_shipped_lhsp_full_int8_keeps_the_sr_map_on_its_own_grid():
    """The boundary logits (down to about -40) must not set the int8 grid of
    the SR image: the inference graph computes the SR map alone
    (``MapsConv2D``), so the shipped lhsp_x3 loses a quarter of a dB in full
    int8 (measured 32.25 -> 31.97 Set5 x3), not several dB as with one joint
    2-map tensor (the first weights lost 8.5 dB that way)."""
    from export.common import model_info
    from export.runtime import TFLiteUpscaler
    from export.tflite import convert, representative_dataset
    from keras_sr import models
    from keras_sr.evaluation import evaluate_dataset
    from keras_sr.inference import KerasUpscaler

    model = models.get("lhsp_x3", pretrained=True)
    calibration, _ = representative_dataset(1, 3, num_samples=16)
    content, _ = convert(model, model_info(model), "int8", calibration)
    runner = TFLiteUpscaler("int8.tflite", scale=3, model_content=content)
    int8 = evaluate_dataset(runner, SET5_HR, 3, "y-first")["psnr"]
    ref = evaluate_dataset(KerasUpscaler(model), SET5_HR, 3, "y-first")["psnr"]
    assert ref - 0.5 < int8 < ref, (ref, int8)


def test_onnx_matches_keras(tmp_path):
    model = LHSP(scale=3, filters=8, shepard_filters=4)
    fn = tf.function(lambda x: model(x), input_signature=[SPEC])
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=[SPEC], opset=17)
    sess = ort.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    name = sess.get_inputs()[0].name
    for x in (luma_patches(2)[0], luma_patches(1, size=13, seed=3)[0]):
        out = sess.run(None, {name: x})[0]
        np.testing.assert_allclose(out, model(x).numpy(), atol=1e-5)
    ops = {n.op_type for n in proto.graph.node}
    assert "DepthToSpace" in ops and "ScatterND" not in ops and "OneHot" not in ops


def test_int8_export_floors_tiny_shepard_denominators(tmp_path):
    """A trained Shepard kernel can leave denominators far below one int8 step
    (here every tap but the centre is ~1e-13): converted as is, the int8 DIV
    kernel aborts; ``export.tflite.convert`` raises the floor to an
    int8-representable one for the conversion only and reports it."""
    from export.common import model_info
    from export.tflite import convert

    model = shepard_image_model(2, floor=1e-6)
    layer = next(x for x in model.layers if isinstance(x, ShepardUpsampling))
    raw = np.full(layer.shepard_kernel.shape, -30.0, np.float32)
    raw[2, 2] = np.log(np.expm1(1.0))  # softplus -> 1.0 at the centre tap
    layer.shepard_kernel.assign(raw)
    assert layer.int8_denominator_floor() == pytest.approx(2.0 / 255.0, rel=1e-4)
    data = luma_patches(16)
    x = luma_patches(1, seed=3)[0]
    naive = to_tflite(model, tmp_path / "sm", int8=True, data=data)
    with pytest.raises(RuntimeError, match="zero_point"):
        run_tflite(naive, x)
    content, rewrites = convert(model, model_info(model), "int8", data)
    out, ops = run_tflite(content, x)
    assert_builtin_only(ops)
    assert np.isfinite(out).all() and out.shape == (1, 48, 48, 1)
    assert any("Shepard denominator floor 1e-06 -> 0.00784" in r for r in rewrites)
    assert layer.denominator_floor == 1e-6  # the float model is left as it was
