"""What a TPU job needs: the training step compiles with XLA
(``jit_compile=True``) at static batch shapes. Tiny shapes: XLA convolutions
are slow on this CPU."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from export import check_train_step_compiles
from export.tpu import parse_tile
from tests.test_export import tiny


def test_plain_model_train_step_compiles():
    model = tiny(scale=2, channels=1)
    before = [w.copy() for w in model.get_weights()]
    result = check_train_step_compiles(model, batch_size=2, lr_size=(8, 8))
    assert result["compiled"], result.get("error")
    assert result["batch_shapes"] == [[2, 8, 8, 1], [2, 16, 16, 1]]
    assert result["hlo_instructions"] > 50
    assert np.isfinite(result["loss"]["loss"])
    # One real optimizer step ran.
    after = model.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))


class TwoOptimizerTrainer(keras.Model):
    """A GAN-shaped trainer: custom train_step, two optimizers."""

    def __init__(self, generator, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.critic = keras.Sequential(
            [
                keras.layers.Conv2D(4, 3, strides=2),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(1),
            ]
        )
        self.g_loss = keras.metrics.Mean(name="g_loss")
        self.d_loss = keras.metrics.Mean(name="d_loss")

    def compile(self, g_opt, d_opt, **kwargs):
        super().compile(**kwargs)
        self.g_opt, self.d_opt = g_opt, d_opt

    @property
    def metrics(self):
        return [self.g_loss, self.d_loss]

    def call(self, x):
        return self.generator(x)

    def train_step(self, data):
        lr, hr = data
        with tf.GradientTape() as tape:
            d_fake = self.critic(self.generator(lr))
            d_loss = tf.reduce_mean(tf.nn.softplus(d_fake)) + tf.reduce_mean(
                tf.nn.softplus(-self.critic(hr))
            )
        grads = tape.gradient(d_loss, self.critic.trainable_weights)
        self.d_opt.apply(grads, self.critic.trainable_weights)
        with tf.GradientTape() as tape:
            sr = self.generator(lr)
            g_loss = tf.reduce_mean(tf.abs(sr - hr)) + 1e-3 * tf.reduce_mean(
                tf.nn.softplus(-self.critic(sr))
            )
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_opt.apply(grads, self.generator.trainable_weights)
        self.g_loss.update_state(g_loss)
        self.d_loss.update_state(d_loss)
        return {"g_loss": self.g_loss.result(), "d_loss": self.d_loss.result()}


def test_custom_train_step_with_two_optimizers_compiles():
    trainer = TwoOptimizerTrainer(tiny(scale=2, channels=1))
    trainer.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4))
    rng = np.random.default_rng(0)
    data = (
        rng.random((2, 8, 8, 1), dtype=np.float32),
        rng.random((2, 16, 16, 1), dtype=np.float32),
    )
    result = check_train_step_compiles(trainer, data=data)
    assert result["compiled"], result.get("error")
    assert set(result["loss"]) == {"g_loss", "d_loss"}


def test_non_xla_op_is_reported():
    @keras.saving.register_keras_serializable(package="keras_sr_tests")
    class NumpySR(keras.Model):
        scale, channels = 2, 1

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(4, 3, padding="same")

        def call(self, x):
            y = tf.numpy_function(np.square, [x], tf.float32)  # no XLA kernel
            y = tf.ensure_shape(y, x.shape)
            return tf.nn.depth_to_space(self.conv(y), 2)

    model = NumpySR()
    model(np.zeros((1, 8, 8, 1), np.float32))
    result = check_train_step_compiles(model, batch_size=1, lr_size=(8, 8))
    assert not result["compiled"]
    assert "PyFunc" in result["error"] or "XLA" in result["error"]


@pytest.mark.parametrize(
    ("text", "tile"), [("64x48", (64, 48)), ("32", (32, 32)), ("16X8", (16, 8))]
)
def test_parse_tile(text, tile):
    assert parse_tile(text) == tile


def test_parse_tile_rejects_garbage():
    with pytest.raises(ValueError, match="HxW"):
        parse_tile("64x")
