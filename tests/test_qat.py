"""export/qat.py: the int8 simulation must predict what the int8 TFLite
artifact computes, and pass gradients (it is used for fine-tuning)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from export.common import model_info
from export.qat import Int8Simulator, fake_quant_weights
from export.runtime import TFLiteUpscaler
from export.tflite import convert, representative_dataset
from keras_sr.models import ESPCN, FSRCNN, SRCNN
from tests.helpers import T91
from tests.test_export import set5_lr

pytest.importorskip("ai_edge_litert.interpreter")


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


@pytest.mark.parametrize("arch", ["espcn", "fsrcnn"])
def test_simulation_predicts_the_int8_tflite_error(arch):
    tf.keras.utils.set_random_seed(1)
    if arch == "espcn":
        model = ESPCN(scale=3, filters=(16, 8))
    else:
        model = FSRCNN(scale=3, d=16, s=6, m=1)
    # He-scaled random weights everywhere (the presets initialise the last
    # layer near zero, whose output int8 would round to nothing).
    rng = np.random.default_rng(1)
    for var in model.trainable_weights:
        shape = tuple(var.shape)
        if len(shape) == 4:
            var.assign(rng.normal(size=shape) * np.sqrt(2.0 / np.prod(shape[:3])))
    last = model.layers[-2] if arch == "espcn" else model.layers[-1]
    last.bias.assign(np.full(last.bias.shape, 0.5))
    calibration, _ = representative_dataset(1, 3, T91, num_samples=12, crop=32)
    content, _ = convert(model, model_info(model), "int8", calibration)
    runner = TFLiteUpscaler("int8.tflite", scale=3, model_content=content)
    sim = Int8Simulator(model)
    ranges = sim.calibrate(calibration)
    assert set(ranges) >= {"input"} and all(lo <= hi for lo, hi in ranges.values())

    x = set5_lr(1, 40, 40)
    ref = np.asarray(model(x))
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
    sim = Int8Simulator(ESPCN(scale=2, filters=(4, 4)))
    with pytest.raises(RuntimeError, match="calibrate"):
        sim(set5_lr(1, 8, 8))
    with pytest.raises(ValueError, match="no calibration samples"):
        sim.calibrate([])
