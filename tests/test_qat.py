"""export/qat.py: the int8 simulation must predict what the int8 TFLite
artifact computes, and pass gradients (it is used for fine-tuning)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from export.common import model_info
from export.qat import Int8Simulator, fake_quant_weights, split_prelu_model
from export.runtime import TFLiteUpscaler
from export.tflite import convert, representative_dataset, tflite_ops
from keras_sr.models import ESPCN, FSRCNN, SRCNN
from tests.helpers import T91
from tests.test_export import set5_lr, tiny

pytest.importorskip("ai_edge_litert.interpreter")


def randomize(model, seed: int, gain: float = 2.0) -> None:
    """Random normal kernels with variance gain / fan_in."""
    rng = np.random.default_rng(seed)
    for var in model.trainable_weights:
        shape = tuple(var.shape)
        if len(shape) == 4:
            var.assign(rng.normal(size=shape) * np.sqrt(gain / np.prod(shape[:3])))


def test_weights_round_per_output_channel_to_127_levels():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 4, 5)).astype("float32")
    kernel[..., 2] *= 100.0  # one channel's range must not coarsen the others
    q = fake_quant_weights(tf.constant(kernel)).numpy()
    for c in range(5):
        step = np.abs(kernel[..., c]).max() / 127.0
        levels = q[..., c] / step
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
        assert np.abs(q[..., c] - kernel[..., c]).max() <= step / 2 + 1e-6
    # Transposed-conv kernels [k, k, out, in] quantise along axis 2.
    qt = fake_quant_weights(tf.constant(kernel), channel_axis=2).numpy()
    for c in range(4):
        step = np.abs(kernel[:, :, c]).max() / 127.0
        assert np.abs(qt[:, :, c] - kernel[:, :, c]).max() <= step / 2 + 1e-6


@pytest.mark.parametrize("arch", ["espcn", "fsrcnn", "fsrcnn_unsplit"])
def test_simulation_predicts_the_int8_tflite_error(arch, monkeypatch):
    tf.keras.utils.set_random_seed(1)
    if arch == "espcn":
        model = ESPCN(scale=3, filters=(16, 8))
    else:
        model = FSRCNN(scale=3, d=16, s=6, m=1)
    split = arch == "fsrcnn"  # what the int8 export does with conv + PReLU
    if arch == "fsrcnn_unsplit":  # PReLU kept as TFLite PRELU ops
        monkeypatch.setattr("export.tflite.split_prelu_applies", lambda m: False)
    # He-scaled random weights everywhere (the presets initialise the last
    # layer near zero, whose output int8 would round to nothing).
    randomize(model, seed=1)
    last = model.layers[-2] if arch == "espcn" else model.layers[-1]
    last.bias.assign(np.full(last.bias.shape, 0.5))
    calibration, _ = representative_dataset(1, 3, T91, num_samples=12, crop=32)
    content, _ = convert(model, model_info(model), "int8", calibration)
    assert ("PRELU" in tflite_ops(content)) == (arch == "fsrcnn_unsplit")
    runner = TFLiteUpscaler("int8.tflite", scale=3, model_content=content)
    sim = Int8Simulator(model, split_prelu=split)
    ranges = sim.calibrate(calibration)
    assert set(ranges) >= {"input"} and all(lo <= hi for lo, hi in ranges.values())
    x = set5_lr(1, 40, 40)  # a test image, not a calibration crop
    ref = np.asarray(model(x))
    minmax = np.asarray(sim(x))
    sim.search_ranges(calibration)  # what convert() does for chains

    int8 = runner(x)
    simulated = np.asarray(sim(x))
    assert simulated.shape == ref.shape
    err_int8 = np.sqrt(np.mean((int8 - ref) ** 2))
    err_sim = np.sqrt(np.mean((simulated - ref) ** 2))
    assert err_int8 > 1e-4  # int8 really does round
    # The simulated error has the size of the real one ...
    assert 0.7 < err_sim / err_int8 < 1.4
    # ... and tracks it pixel by pixel (the same rounding decisions).
    assert np.sqrt(np.mean((simulated - int8) ** 2)) < 0.2 * err_int8
    # The searched ranges do not lose to plain min/max on unseen images.
    assert err_sim <= 1.05 * np.sqrt(np.mean((minmax - ref) ** 2))


def test_split_prelu_twin_computes_the_same_and_rounds_once_per_layer():
    tf.keras.utils.set_random_seed(3)
    model = FSRCNN(scale=2, d=8, s=4, m=2)
    randomize(model, seed=3)
    for layer in model.layers:  # varied slopes, one above 1
        if isinstance(layer, keras.layers.PReLU):
            n = layer.weights[0].shape[-1]
            layer.weights[0].assign(np.linspace(-0.3, 1.5, n).reshape(1, 1, n))
    twin = split_prelu_model(model)
    x = set5_lr(1, 20, 24, batch=2)
    np.testing.assert_allclose(np.asarray(twin(x)), np.asarray(model(x)), atol=2e-5)
    convs = [layer for layer in twin.layers if hasattr(layer, "kernel")]
    assert [c.name for c in convs] == [
        layer.name for layer in model.layers if hasattr(layer, "kernel")
    ]
    assert [c.filters for c in convs[:-1]] == [16, 8, 8, 8, 16]
    # The split simulation of the original is the plain simulation of the twin.
    calibration = [set5_lr(1, 16, 16), set5_lr(1, 24, 20, offset=1)]
    a = Int8Simulator(model, split_prelu=True)
    b = Int8Simulator(twin)
    ranges = a.calibrate(calibration)
    assert ranges == b.calibrate(calibration)
    assert not any(k.endswith("_prelu") for k in ranges)  # no PReLU rounding
    assert all(ranges[k][0] == 0.0 for k in a.inner_keys())  # ReLU outputs
    np.testing.assert_allclose(np.asarray(a(x)), np.asarray(b(x)), atol=1e-5)
    # A PReLU the rewrite cannot fold is refused by name.
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inputs)
    h = keras.layers.PReLU(name="p1")(h)  # one slope per pixel and channel
    chain = keras.Model(inputs, keras.layers.Conv2D(1, 3, name="c2")(h))
    with pytest.raises(ValueError, match="'p1'"):
        split_prelu_model(chain)
    Int8Simulator(chain)  # the unsplit simulation takes it


def test_gradients_flow_straight_through():
    tf.keras.utils.set_random_seed(0)
    model = ESPCN(scale=2, filters=(8, 4))
    sim = Int8Simulator(model)
    sim.calibrate([set5_lr(1, 16, 16)])
    x = set5_lr(1, 16, 16)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(sim(x) - 0.5))
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    assert all(np.abs(g.numpy()).max() > 0 for g in grads)


def test_unsupported_models_and_uncalibrated_use_are_refused():
    with pytest.raises(ValueError, match="'bicubic'.*not supported"):
        Int8Simulator(SRCNN(scale=3))
    with pytest.raises(ValueError, match="not a functional model"):
        Int8Simulator(tiny())
    sim = Int8Simulator(ESPCN(scale=2, filters=(4, 4)))
    with pytest.raises(RuntimeError, match="calibrate"):
        sim(set5_lr(1, 8, 8))
    with pytest.raises(ValueError, match="no calibration samples"):
        sim.calibrate([])


def test_range_search_never_increases_the_simulated_error():
    tf.keras.utils.set_random_seed(2)
    model = ESPCN(scale=3, filters=(16, 8))
    randomize(model, seed=2)
    calibration, _ = representative_dataset(1, 3, T91, num_samples=8, crop=32)
    sim = Int8Simulator(model)
    before = sim.calibrate(calibration)

    def error():
        return sum(
            float(np.sum((np.asarray(sim(x)) - np.asarray(model(x))) ** 2))
            for x in calibration
        )

    e0 = error()
    after = sim.search_ranges(calibration, factors=(1.0, 0.7, 0.4), passes=1)
    assert error() <= e0 + 1e-9
    for key, (lo, hi) in after.items():  # only ever narrowed
        assert before[key][0] - 1e-6 <= lo and hi <= before[key][1] + 1e-6
    # The input and output images keep their calibrated ranges.
    assert after["input"] == before["input"] and after["conv3"] == before["conv3"]


def test_int8_export_takes_the_searched_tanh_input_range(tmp_path):
    """A tanh input spanning +-10 (as trained ESPCNs' conv2 does): the int8
    artifact's conv output grid follows the searched range, not min/max."""
    from ai_edge_litert.interpreter import Interpreter

    from export import export_tflite
    from export.qat import TANH_SATURATION

    model = ESPCN(scale=3, filters=(16, 8))
    randomize(model, seed=3, gain=1.0)
    conv2 = model.get_layer("conv2")
    conv2.kernel.assign(conv2.kernel * 8.0)  # saturating tanh inputs
    model.get_layer("conv3").bias.assign(np.full(9, 0.5))
    calibration, _ = representative_dataset(1, 3, T91)
    sim = Int8Simulator(model)
    minmax = sim.calibrate(calibration)["conv2"]
    searched = sim.search_ranges(calibration)["conv2"]
    assert searched[1] - searched[0] < 0.9 * (minmax[1] - minmax[0])
    assert min(-searched[0], searched[1]) >= TANH_SATURATION - 1e-5

    path = tmp_path / "e.tflite"
    report = export_tflite(
        model, path, quantize="int8", calibration_data=T91, max_psnr_drop=99.0
    )
    assert any(r.startswith("int8 activation ranges") for r in report["graph_rewrites"])
    interpreter = Interpreter(model_path=str(path))
    steps = []
    for d in interpreter.get_tensor_details():
        q = d["quantization_parameters"]
        if d["dtype"] == np.int8 and len(q["scales"]) == 1 and d["shape"][-1] == 8:
            steps.append(float(q["scales"][0]))
    # conv2's output (8 channels) and its tanh (fixed 1/128)
    assert sorted(steps)[-1] == pytest.approx(
        (searched[1] - searched[0]) / 255, rel=0.02
    )


def test_int8_aware_preset_weights():
    from keras_sr import models

    float_model = models.get("espcn_x3", pretrained=True)
    int8_model = models.get("espcn_x3", pretrained="int8")
    differ = [
        not np.array_equal(a, b)
        for a, b in zip(
            float_model.get_weights(), int8_model.get_weights(), strict=True
        )
    ]
    assert any(differ)
    # Learned int8 ranges ship beside the int8-aware weights of fsrcnn_x3.
    from keras_sr.models.presets import INT8_RANGES_ATTR

    fsrcnn = models.get("fsrcnn_x3", pretrained="int8")
    ranges = getattr(fsrcnn, INT8_RANGES_ATTR)
    calibration, _ = representative_dataset(1, 3, T91, num_samples=2, crop=16)
    quantised = Int8Simulator(fsrcnn, split_prelu=True).calibrate(calibration)
    assert set(ranges) == set(quantised)  # one range per quantised tensor
    assert getattr(models.get("fsrcnn_x3"), INT8_RANGES_ATTR, None) is None
    with pytest.raises(ValueError, match="no int8-aware weights.*espcn_x3"):
        models.get("srcnn_x3", pretrained="int8")
    with pytest.raises(ValueError, match="pretrained must be"):
        models.get("espcn_x3", pretrained="yes")


def test_learned_range_rounding_matches_tflite_grid_and_trains_the_range():
    from export.qat import fake_quant_activation, fake_quant_activation_learned

    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(scale=3.0, size=(2000,)).astype("float32"))
    for lo, hi in ((-2.3, 4.1), (-7.0, 0.5), (0.2, 3.0)):
        a = fake_quant_activation(x, lo, hi).numpy()
        b = fake_quant_activation_learned(x, lo, hi).numpy()
        step = (max(hi, 0.0) - min(lo, 0.0)) / 255
        # The same grid: equal except at exact rounding ties (one step).
        assert np.mean(np.abs(a - b) < 1e-5) > 0.999
        assert np.abs(a - b).max() <= step + 1e-5
    bounds = tf.Variable([-1.0, 1.0])
    with tf.GradientTape() as tape:
        q = fake_quant_activation_learned(x, bounds[0], bounds[1])
        loss = tf.reduce_mean(tf.square(q - x))
    grad = tape.gradient(loss, bounds).numpy()
    # Values far outside +-1 are clipped: the error falls if the range widens.
    assert grad[0] > 0 and grad[1] < 0


def test_learned_ranges_survive_recalibration_and_reach_the_int8_export():
    from export.tflite import _chain_ranges
    from keras_sr.models.presets import INT8_RANGES_ATTR

    tf.keras.utils.set_random_seed(5)
    model = FSRCNN(scale=3, d=8, s=4, m=1)
    randomize(model, seed=5)
    calibration, _ = representative_dataset(1, 3, T91, num_samples=6, crop=24)
    sim = Int8Simulator(model)
    sim.calibrate(calibration)
    learned = sim.learn_ranges()
    assert [v.trainable for v in learned] == [True] * len(sim.inner_keys())
    assert "input" not in sim.learned
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(sim(calibration[0]) - 0.5))
    assert all(g is not None for g in tape.gradient(loss, learned))
    key = sim.inner_keys()[0]
    sim.set_ranges({key: [-0.25, 0.5]})
    sim.calibrate(calibration)  # leaves learned ranges alone
    assert sim.get_ranges()[key] == [-0.25, 0.5]
    # A model carrying learned ranges exports with exactly those ranges.
    object.__setattr__(model, INT8_RANGES_ATTR, sim.get_ranges())
    chosen = dict(_chain_ranges(model, calibration))
    assert chosen[key] == pytest.approx((-0.25, 0.5))
    assert set(chosen) == set(sim.inner_keys())
