"""Validation PSNR/SSIM and SR images land in TensorBoard event files."""

import keras
import numpy as np
import tensorflow as tf

from keras_sr import models
from keras_sr.io import write_image
from keras_sr.training.callbacks import ValidationCallback, tensorboard_available
from tests.helpers import random_image


def _events(log_dir):
    tags = {}
    for f in sorted(log_dir.rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(f)):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                tags.setdefault(value.tag, []).append((event.step, plugin, value))
    return tags


def test_validation_scalars_and_images_in_tensorboard(tmp_path):
    assert tensorboard_available(), "tensorboard is an install requirement"
    val = tmp_path / "val"
    for i in range(2):
        write_image(val / f"img{i}.png", random_image(36, 30, 3, seed=i))
    model = models.get("espcn_x3", pretrained=False)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.optimizer.build(model.trainable_variables)
    callback = ValidationCallback(val, log_dir=tmp_path / "logs", num_images=1)
    callback.set_model(model)
    logs = {}
    callback.on_epoch_end(0, logs)

    tags = _events(tmp_path / "logs")
    assert {"val_psnr", "val_ssim", "sr/img0"} <= set(tags)
    ((_, plugin, value),) = tags["val_psnr"]
    assert plugin == "scalars"
    logged = float(tf.make_ndarray(value.tensor))
    assert np.isclose(logged, logs["val_psnr"], atol=1e-4)
    assert 5.0 < logs["val_psnr"] < 60.0
    assert tags["sr/img0"][0][1] == "images"
