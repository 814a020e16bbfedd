"""LHSP model, presets and training wrapper (SR + masked boundary loss)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sr import models
from keras_sr.data.degradations import blur_downscale
from keras_sr.inference import KerasUpscaler
from keras_sr.models.lhsp import LHSP, LHSPTrainer, grow_lhsp_weights, lhsp_loss
from tests.helpers import (
    BSD200,
    BSD200_BOUNDARIES,
    SET5_HR,
    T91,
    assert_config_roundtrip,
    assert_keras_file_roundtrip,
)

TINY = {"filters": 8, "shepard_filters": 4}


def batch(n=4, h=8, w=8, s=2, seed=0, with_boundary=(1, 0, 1, 0)):
    rng = np.random.default_rng(seed)
    lr = rng.random((n, h, w, 1)).astype(np.float32)
    y = {"sr": rng.random((n, h * s, w * s, 1)).astype(np.float32)}
    if with_boundary is not None:
        y["boundary"] = (rng.random((n, h * s, w * s, 1)) > 0.8).astype(np.float32)
        y["boundary_mask"] = np.asarray(with_boundary, np.float32)
    return lr, y


@pytest.mark.parametrize("s", [2, 3, 4])
def test_presets_build_and_map_lr_to_hr(s):
    name = f"lhsp_x{s}"
    assert name in models.list()
    model = models.get(name, pretrained=False)
    assert (model.scale, model.channels) == (s, 1)
    x = np.random.default_rng(0).random((2, 5, 7, 1)).astype(np.float32)
    assert model(x).shape == (2, 5 * s, 7 * s, 1)
    # conv1 9x9x64 + Shepard (2s+1)^2 x 64 + 1x1 64->48 + HSP 7x7x48x2
    k = 2 * s + 1
    assert model.count_params() == (81 * 64 + 64) + (k * k * 64) + (64 * 48 + 48) + (
        49 * 48 * 2 + 2
    )
    # LHSP() itself keeps METHODS §8.2's sizes: conv1 5x5, 32 channels, HSP 5x5
    assert LHSP(scale=s).count_params() == (25 * 64 + 64) + (k * k * 64) + (
        64 * 32 + 32
    ) + (25 * 32 * 2 + 2)
    upscaler = KerasUpscaler(model)
    assert upscaler(x).shape == (2, 5 * s, 7 * s, 1)


def test_shipped_lhsp_x3_beats_bicubic_on_an_edge_image():
    if not models.has_weights("lhsp_x3"):
        with pytest.raises(ValueError, match="pretrained=False"):
            models.get("lhsp_x3")
        return
    from keras_sr.evaluation import evaluate_image
    from keras_sr.inference import BicubicUpscaler
    from keras_sr.io import read_image

    hr = read_image(SET5_HR / "butterfly.png")
    model = KerasUpscaler(models.get("lhsp_x3"))
    ours, _ = evaluate_image(model, hr, 3, "y-first", name="butterfly")
    bicubic, _ = evaluate_image(BicubicUpscaler(3), hr, 3, "y-first", name="b")
    assert ours.psnr > bicubic.psnr + 0.5, (ours.psnr, bicubic.psnr)


def test_config_and_keras_file_roundtrip(tmp_path):
    model = LHSP(scale=3, padding="replicate", displacement=False, tau=0.2, **TINY)
    assert_config_roundtrip(model)
    x = np.random.default_rng(1).random((1, 6, 5, 1)).astype(np.float32)
    assert_keras_file_roundtrip(model, x, tmp_path)
    with pytest.raises(ValueError, match="channels=1"):
        LHSP(channels=3)
    with pytest.raises(ValueError, match="odd"):
        LHSP(hsp_kernel=4)


def test_grow_lhsp_weights_keeps_the_output_and_then_trains_the_new_weights():
    keras.utils.set_random_seed(3)
    small = LHSP(scale=3, residual=True, **TINY)
    # train a little so that no weight is at its initial value
    lr, y = batch(s=3, with_boundary=None)
    trainer = LHSPTrainer(small, boundary_weight=0.0)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    trainer.fit(lr, y, epochs=2, batch_size=4, verbose=0)
    big = LHSP(
        scale=3,
        residual=True,
        filters=8,
        shepard_filters=6,
        conv1_kernel=9,
        hsp_kernel=7,
    )
    grow_lhsp_weights(small, big)
    x = np.random.default_rng(5).random((2, 9, 7, 1)).astype(np.float32)
    np.testing.assert_allclose(big(x), small(x), atol=1e-6)
    k_small = small.get_layer("conv1").kernel.numpy()
    k_big = big.get_layer("conv1").kernel.numpy()
    np.testing.assert_array_equal(k_big[2:7, 2:7], k_small)
    assert not np.any(k_big[:2]) and not np.any(k_big[:, 7:])
    # the new HSP inputs start at zero but receive a gradient
    hsp = big.get_layer("hsp").kernel
    assert not np.any(hsp.numpy()[:, :, 4:])
    trainer = LHSPTrainer(big, boundary_weight=0.0)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    trainer.fit(lr, y, epochs=1, batch_size=4, verbose=0)
    assert np.any(hsp.numpy()[:, :, 4:])
    with pytest.raises(ValueError, match="conv1/kernel .* cannot grow into"):
        grow_lhsp_weights(big, small)
    with pytest.raises(ValueError, match="Shepard kernel cannot grow"):
        grow_lhsp_weights(small, LHSP(scale=3, residual=True, filters=16))
    with pytest.raises(ValueError, match="do not match"):
        grow_lhsp_weights(small, LHSP(scale=3, hsp=False, **TINY))


def test_residual_adds_matlab_bicubic_and_roundtrips(tmp_path):
    from keras_sr.ops import imresize

    model = LHSP(scale=3, residual=True, **TINY)
    x = np.random.default_rng(2).random((2, 6, 5, 1)).astype(np.float32)
    assert_config_roundtrip(model)
    assert_keras_file_roundtrip(model, x, tmp_path)
    # With the HSP SR map zeroed the output is exactly MATLAB bicubic.
    hsp = model.get_layer("hsp")
    kernel, bias = hsp.get_weights()
    kernel[..., 0] = 0.0
    bias[0] = 0.0
    hsp.set_weights([kernel, bias])
    np.testing.assert_allclose(
        model(x).numpy(), imresize(x, scale=3).numpy(), atol=1e-6
    )
    # ... and the boundary map is untouched by the skip.
    plain = LHSP(scale=3, **TINY)
    plain.set_weights(model.get_weights())
    out = model.training_model()(x)["boundary"]
    np.testing.assert_array_equal(out, plain.training_model()(x)["boundary"])


def test_training_model_shares_weights_and_boundary_is_a_probability():
    model = LHSP(scale=2, **TINY)
    net = model.training_model()
    x = np.random.default_rng(2).random((2, 6, 6, 1)).astype(np.float32)
    out = net(x)
    np.testing.assert_allclose(out["sr"].numpy(), model(x).numpy(), atol=1e-6)
    b = out["boundary"].numpy()
    assert b.shape == (2, 12, 12, 1) and b.min() >= 0 and b.max() <= 1
    assert set(LHSP(scale=2, hsp=False, **TINY).training_model()(x)) == {"sr"}


def test_placement_changes_the_output_on_edges():
    """Same weights, displacement on vs off: different SR near edges only."""
    keras.utils.set_random_seed(3)
    on = LHSP(scale=3, **TINY)
    off = LHSP(scale=3, displacement=False, **TINY)
    off.set_weights(on.get_weights())
    y = np.full((1, 10, 10, 1), 0.2, np.float32)
    y[:, :, 5:] = 0.8
    diff = np.abs(on(y).numpy() - off(y).numpy())[0, :, :, 0]
    assert diff[:, 12:18].max() > 1e-3  # around the edge (LR cols 4..5)
    np.testing.assert_allclose(diff[:, :6], 0, atol=1e-6)  # flat far left


def test_lhsp_loss_masks_examples_without_boundary():
    hr = np.zeros((2, 4, 4, 1), np.float32)
    sr = np.full_like(hr, 0.5)
    b_true = np.zeros_like(hr)
    b_pred = np.stack([np.full((4, 4, 1), 0.2), np.full((4, 4, 1), 0.9)]).astype("f4")
    total, sr_t, b_t = lhsp_loss(hr, sr, b_true, b_pred, np.array([1.0, 0.0]), 0.1)
    assert float(sr_t) == pytest.approx(0.25)
    assert float(b_t) == pytest.approx(0.04)  # only example 0 counts
    assert float(total) == pytest.approx(0.25 + 0.1 * 0.04)
    _, _, none = lhsp_loss(hr, sr, b_true, b_pred, np.array([0.0, 0.0]), 0.1)
    assert float(none) == 0.0
    total, _, b_all = lhsp_loss(hr, sr, b_true, b_pred, None, 0.5)
    assert float(b_all) == pytest.approx((0.04 + 0.81) / 2)


def _boundary_kernel(model: LHSP) -> np.ndarray:
    return model.get_layer("hsp").get_weights()[0][..., 1].copy()


@pytest.mark.parametrize(
    "with_boundary, boundary_learns",
    [((1, 0, 1, 0), True), ((0, 0, 0, 0), False), (None, False)],
)
def test_training_step_with_and_without_boundary_maps(with_boundary, boundary_learns):
    keras.utils.set_random_seed(4)
    model = LHSP(scale=2, **TINY)
    trainer = LHSPTrainer(model, boundary_weight=0.1)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    lr, y = batch(with_boundary=with_boundary)
    before_sr = model.get_layer("conv1").get_weights()[0].copy()
    before_b = _boundary_kernel(model)
    hist = trainer.fit(lr, y, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(hist["loss"][0])
    assert not np.allclose(model.get_layer("conv1").get_weights()[0], before_sr)
    # the boundary half of the HSP conv learns only from boundary maps
    assert np.allclose(_boundary_kernel(model), before_b) != boundary_learns
    if boundary_learns:
        assert hist["loss"][0] > hist["sr_loss"][0] and hist["boundary_loss"][0] > 0
    else:
        assert hist["boundary_loss"][0] == 0.0


def test_training_reduces_the_loss():
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    hr = np.kron(rng.random((8, 6, 6, 1)), np.ones((1, 4, 4, 1))).astype(np.float32)
    lr = blur_downscale(tf.constant(hr), 2).numpy()
    y = {"sr": hr, "boundary": np.zeros_like(hr), "boundary_mask": np.ones(8, "f4")}
    trainer = LHSPTrainer(LHSP(scale=2, **TINY))
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3))
    first = trainer.evaluate(lr, y, verbose=0, return_dict=True)["loss"]
    trainer.fit(lr, y, batch_size=8, epochs=30, verbose=0)
    assert trainer.evaluate(lr, y, verbose=0, return_dict=True)["loss"] < 0.5 * first


def test_blur_degradation_recomputes_lr_from_hr():
    keras.utils.set_random_seed(6)
    model = LHSP(scale=2, **TINY)
    _, y = batch(seed=6)
    blurred = blur_downscale(tf.constant(y["sr"]), 2, 0.8).numpy()
    garbage = np.zeros_like(blurred)
    by_blur = LHSPTrainer(model, degradation="blur", blur_sigma=0.8)
    by_data = LHSPTrainer(model)
    for t in (by_blur, by_data):
        t.compile(optimizer="adam")
    got = by_blur.evaluate(garbage, y, verbose=0, return_dict=True)
    ref = by_data.evaluate(blurred, y, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(ref["loss"], rel=1e-6)
    with pytest.raises(ValueError, match="degradation"):
        LHSPTrainer(model, degradation="jpeg")


def test_trainer_errors_and_config():
    model = LHSP(scale=2, **TINY)
    trainer = LHSPTrainer(model, boundary_weight=0.3)
    trainer.compile(optimizer="adam")
    lr, y = batch()
    with pytest.raises(ValueError, match="'sr'"):
        trainer.fit(lr, {"hr": y["sr"]}, verbose=0)
    config = trainer.get_config()
    clone = LHSPTrainer.from_config(config)
    assert clone.boundary_weight == 0.3 and clone.lhsp.scale == 2


@pytest.mark.skipif(not BSD200_BOUNDARIES.is_dir(), reason="shared data missing")
def test_fit_on_the_data_pipeline_with_bsd200_boundaries():
    """(LR, {"sr", "boundary", "boundary_mask"}) from the folder reader: T91
    images have no boundary map (masked), BSD200 images have one."""
    from keras_sr.data import make_folder_dataset

    files = [T91 / "t1.bmp", BSD200 / "100075.jpg", BSD200 / "100080.jpg"]
    ds = make_folder_dataset(
        [str(f) for f in files],
        scale=3,
        lr_patch_size=6,
        batch_size=3,
        color="y",
        seed=0,
        with_boundary=True,
        boundary_dir=BSD200_BOUNDARIES,
        degradation="blur",
        shuffle_buffer=3,
    )
    lr, y = next(iter(ds))
    assert lr.shape == (3, 6, 6, 1) and y["sr"].shape == (3, 18, 18, 1)
    assert sorted(y["boundary_mask"].numpy().tolist()) == [0.0, 1.0, 1.0]
    keras.utils.set_random_seed(7)
    trainer = LHSPTrainer(LHSP(scale=3, **TINY))
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    hist = trainer.fit(ds, steps_per_epoch=2, epochs=1, verbose=0).history
    assert np.isfinite(hist["loss"][0]) and hist["boundary_loss"][0] > 0


def test_xla_inference_and_training_step():
    """The whole network and its train step compile with XLA (TPU requirement)."""
    keras.utils.set_random_seed(8)
    model = LHSP(scale=3, **TINY)
    x = np.random.default_rng(8).random((2, 6, 6, 1)).astype(np.float32)
    compiled = tf.function(model, jit_compile=True)
    np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy(), atol=1e-5)
    trainer = LHSPTrainer(model)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    lr, y = batch(n=2, h=6, w=6, s=3, with_boundary=(1, 0))
    before = model.get_layer("conv1").get_weights()[0].copy()
    hist = trainer.fit(lr, y, batch_size=2, epochs=1, verbose=0).history
    assert np.isfinite(hist["loss"][0])
    assert not np.allclose(model.get_layer("conv1").get_weights()[0], before)


def test_lhsp_trainer_train_step_compiles_with_xla_for_tpu():
    from export import check_train_step_compiles

    keras.utils.set_random_seed(7)
    trainer = LHSPTrainer(LHSP(scale=2, **TINY), boundary_weight=0.1)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    lr, y = batch()
    result = check_train_step_compiles(trainer, data=(lr, y))
    assert result["compiled"], result.get("error")
    assert np.isfinite(result["loss"]["loss"])
