"""GAN trainers: one fit step of each changes generator and discriminator
weights; compile contract; warm-up; EMA; mixed precision; generator export."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sr.gan import (
    ESRGANTrainer,
    NeuralStructureExtractor,
    SPSRStructureTrainer,
    SPSRTrainer,
    SRGANTrainer,
    StructureDiscriminator,
    VGGPerceptualLoss,
    VGGStyleDiscriminator,
    init_generator_from,
)
from keras_sr.models import RRDBNet, SRResNet
from keras_sr.models.spsr import SPSRNet
from tests.helpers import assert_keras_file_roundtrip

HR = 32
TINY_RRDB = dict(filters=8, num_blocks=2, growth=4)


def dataset(n=4, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    hr = rng.random((n, HR, HR, 3)).astype("float32")
    lr = hr.reshape(n, HR // 4, 4, HR // 4, 4, 3).mean(axis=(2, 4))
    return tf.data.Dataset.from_tensor_slices((lr, hr)).batch(batch).repeat()


def disc(size=HR, channels=3, name=None):
    return VGGStyleDiscriminator(
        size, channels, base_filters=2, dense_units=8, name=name
    )


def perceptual():
    return VGGPerceptualLoss({"conv1_2": 1.0})


def adam(lr=1e-3):
    return keras.optimizers.Adam(lr)


def snapshot(models):
    return {
        k: [w.numpy().copy() for w in m.trainable_weights] for k, m in models.items()
    }


def changed(before, model):
    return sum(
        not np.array_equal(a, b.numpy())
        for a, b in zip(before, model.trainable_weights, strict=True)
    )


def build(kind, **kw):
    if kind == "srgan":
        return SRGANTrainer(
            SRResNet(num_blocks=1, filters=8),
            disc(),
            VGGPerceptualLoss({"relu1_2": 1.0}, "l2"),
            **kw,
        )
    if kind == "esrgan":
        return ESRGANTrainer(RRDBNet(**TINY_RRDB), disc(), perceptual(), **kw)
    gen = SPSRNet(return_branch=True, **TINY_RRDB)
    if kind == "spsr_g":
        return SPSRTrainer(
            gen, disc(name="d_img"), disc(HR + 2, name="d_grad"), perceptual(), **kw
        )
    nse = NeuralStructureExtractor(filters=4)
    return SPSRStructureTrainer(
        gen, nse, StructureDiscriminator(HR // 4, 4, 2, 8), perceptual(), **kw
    )


@pytest.mark.parametrize("kind", ["srgan", "esrgan", "spsr_g", "spsr_p"])
def test_fit_step_changes_generator_and_every_discriminator(kind, tmp_path):
    extra = {"warmup_steps": 0} if kind.startswith("spsr") else {}
    trainer = build(kind, seed=0, **extra)
    trainer.compile(
        generator_optimizer=adam(), discriminator_optimizer=adam(), run_eagerly=True
    )
    models = {"generator": trainer.generator, **trainer.adversaries}
    before = snapshot(models)
    hist = trainer.fit(dataset(), steps_per_epoch=1, epochs=1, verbose=0).history
    for key, model in models.items():
        assert changed(before[key], model) > 0, key
    expected = {
        "srgan": {"g_perceptual", "g_gan", "d_real", "d_fake"},
        "esrgan": {"g_pixel", "g_perceptual", "g_gan", "d_loss"},
        "spsr_g": {
            "g_pixel",
            "g_perceptual",
            "g_gan",
            "g_gradient_pixel",
            "g_gradient_gan",
            "g_branch_pixel",
            "d_grad_real",
            "d_grad_fake",
        },
        "spsr_p": {
            "g_structure_pixel",
            "g_structure_gan",
            "g_branch_pixel",
            "d_sf_real",
            "d_sf_fake",
        },
    }[kind]
    assert expected <= set(hist), sorted(hist)
    assert all(np.isfinite(v[-1]) for v in hist.values())
    if kind == "spsr_p":
        assert "g_gan" not in hist and "g_gradient_pixel" not in hist
    # The generator saves and reloads alone (.keras, no custom_objects).
    x = np.random.rand(1, HR // 4, HR // 4, 3).astype("float32")
    exported = trainer.export_generator()
    np.testing.assert_allclose(
        np.asarray(exported(x)), np.asarray(trainer(x)), atol=1e-6
    )
    assert_keras_file_roundtrip(exported, x, tmp_path, atol=1e-5)


def test_graph_mode_fit_of_esrgan():
    trainer = build("esrgan", seed=0)
    trainer.compile(generator_optimizer=adam(), discriminator_optimizer=adam())
    before = snapshot({"g": trainer.generator, "d": trainer.discriminator})
    trainer.fit(dataset(), steps_per_epoch=2, epochs=1, verbose=0)
    assert changed(before["g"], trainer.generator) > 0
    assert changed(before["d"], trainer.discriminator) > 0
    assert int(trainer.train_step_counter.numpy()) == 2
    assert int(trainer.discriminator_optimizer.iterations.numpy()) == 2


def test_compile_refuses_bare_loss_and_optimizer():
    trainer = build("esrgan")
    with pytest.raises(ValueError, match="does not take `loss=`"):
        trainer.compile(
            loss="mse", generator_optimizer=adam(), discriminator_optimizer=adam()
        )
    with pytest.raises(ValueError, match="does not take `optimizer=`"):
        trainer.compile(optimizer="adam")
    with pytest.raises(ValueError, match="discriminator_optimizer"):
        trainer.compile(generator_optimizer=adam())
    with pytest.raises(ValueError, match="unknown loss weight 'gann'"):
        trainer.compile(
            generator_optimizer=adam(),
            discriminator_optimizer=adam(),
            loss_weights={"gann": 1.0},
        )
    with pytest.raises(ValueError, match="component it needs is missing"):
        trainer.compile(
            generator_optimizer=adam(),
            discriminator_optimizer=adam(),
            loss_weights={"gradient_gan": 1.0},
        )
    with pytest.raises(ValueError, match=r"return_branch=True"):
        SPSRTrainer(SPSRNet(**TINY_RRDB), disc(), disc(HR + 2))


def test_official_loss_weights_and_separate_optimizers():
    trainer = build("spsr_g")
    trainer.compile(generator_optimizer=adam(), discriminator_optimizer=adam())
    assert trainer.loss_weights_ == {
        "pixel": 1e-2,
        "perceptual": 1.0,
        "gan": 5e-3,
        "gradient_pixel": 1e-2,
        "gradient_gan": 5e-3,
        "branch_pixel": 0.5,
    }
    opts = trainer.optimizers()
    assert set(opts) == {
        "generator_optimizer",
        "discriminator_optimizer",
        "gradient_discriminator_optimizer",
        "warmup_optimizer",
    }
    assert len({id(o) for o in opts.values()}) == 4  # separate Adam states
    assert all(o.built for o in opts.values())  # built before fit
    esr = build("esrgan")
    esr.compile(generator_optimizer=adam(), discriminator_optimizer=adam())
    assert esr.loss_weights_ == {"perceptual": 1.0, "gan": 5e-3, "pixel": 1e-2}
    p = build("spsr_p")
    p.compile(generator_optimizer=adam(), discriminator_optimizer=adam())
    assert p.loss_weights_ == {
        "pixel": 1e-2,
        "perceptual": 1.0,
        "branch_pixel": 0.5,
        "structure_pixel": 1e-2,
        "structure_gan": 5e-3,
    }


def test_fusion_only_warmup_then_everything():
    trainer = build("spsr_g", warmup_steps=1, seed=0)
    trainer.compile(
        generator_optimizer=adam(), discriminator_optimizer=adam(), run_eagerly=True
    )
    gen = trainer.generator
    names = [layer.name for layer in gen.layers if layer.trainable_weights]
    before = {
        n: [w.numpy().copy() for w in gen.get_layer(n).trainable_weights] for n in names
    }
    ds = dataset()
    trainer.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
    moved = {
        n
        for n in names
        if any(
            not np.array_equal(a, b.numpy())
            for a, b in zip(before[n], gen.get_layer(n).trainable_weights, strict=True)
        )
    }
    assert moved == {"f_rrdb", "f_concat", "f_hr_conv0", "f_hr_conv1"}
    assert int(trainer.generator_optimizer.iterations.numpy()) == 0
    trainer.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
    assert int(trainer.generator_optimizer.iterations.numpy()) == 1
    assert changed(before["conv_first"], gen.get_layer("conv_first")) > 0


def test_ema_generator_tracks_the_generator():
    trainer = build("esrgan", ema_decay=0.5, seed=0)
    trainer.compile(
        generator_optimizer=adam(), discriminator_optimizer=adam(), run_eagerly=True
    )
    w0 = trainer.generator.get_layer("conv_first").kernel.numpy().copy()
    trainer.fit(dataset(), steps_per_epoch=1, epochs=1, verbose=0)
    w1 = trainer.generator.get_layer("conv_first").kernel.numpy()
    ema = trainer.ema_generator.get_layer("conv_first").kernel.numpy()
    np.testing.assert_allclose(ema, 0.5 * w0 + 0.5 * w1, atol=1e-6)
    assert trainer.export_generator() is trainer.ema_generator
    assert trainer.export_generator(ema=False) is trainer.generator


def test_mixed_precision_with_two_loss_scale_optimizers():
    keras.utils.set_random_seed(0)  # the generator's initial weights too
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        # float16 generator, float32 discriminator (float16 BatchNorm overflows
        # on the near-constant output of a freshly initialised generator).
        d = VGGStyleDiscriminator(
            HR, 3, base_filters=2, dense_units=8, layer_dtype="float32"
        )
        assert d.get_layer("conv0").compute_dtype == "float32"
        trainer = ESRGANTrainer(RRDBNet(**TINY_RRDB), d, perceptual(), seed=0)
        trainer.compile(
            generator_optimizer=adam(), discriminator_optimizer=adam(), run_eagerly=True
        )
        assert isinstance(
            trainer.generator_optimizer, keras.optimizers.LossScaleOptimizer
        )
        assert isinstance(
            trainer.discriminator_optimizer, keras.optimizers.LossScaleOptimizer
        )
        before = snapshot({"g": trainer.generator, "d": trainer.discriminator})
        # Dynamic loss scaling starts at 2**15 and skips overflowing steps while
        # it halves the scale, each optimizer on its own: 16 steps leave room
        # for up to 15 halvings before the first applied update.
        hist = trainer.fit(dataset(), steps_per_epoch=16, epochs=1, verbose=0).history
        assert np.isfinite(hist["g_total"][-1]) and np.isfinite(hist["d_loss"][-1])
        assert trainer.generator(np.zeros((1, 4, 4, 3))).dtype == "float16"
        assert changed(before["g"], trainer.generator) > 0
        assert changed(before["d"], trainer.discriminator) > 0
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_init_from_psnr_generator(tmp_path):
    psnr = RRDBNet(**TINY_RRDB)
    path = tmp_path / "psnr.keras"
    psnr.save(path)
    gen = RRDBNet(**TINY_RRDB)
    init_generator_from(gen, str(path))
    x = np.random.rand(1, 4, 4, 3).astype("float32")
    np.testing.assert_allclose(np.asarray(gen(x)), np.asarray(psnr(x)), atol=1e-6)
    spsr = SPSRNet(return_branch=True, **TINY_RRDB)
    copied = init_generator_from(spsr, psnr)
    assert "rrdb2" in copied and "f_rrdb" not in copied
    with pytest.raises(FileNotFoundError, match="nope.keras"):
        init_generator_from(gen, str(tmp_path / "nope.keras"))


@pytest.mark.parametrize("kind", ["srgan", "esrgan", "spsr_g", "spsr_p"])
def test_train_step_compiles_with_xla_for_tpu(kind):
    """What a TPU job needs: each GAN trainer's train_step (both optimizers,
    every discriminator) compiles with jit_compile=True at a static batch."""
    from export import check_train_step_compiles

    extra = {"warmup_steps": 0} if kind.startswith("spsr") else {}
    trainer = build(kind, seed=0, **extra)
    trainer.compile(generator_optimizer=adam(), discriminator_optimizer=adam())
    lr, hr = next(iter(dataset()))
    result = check_train_step_compiles(trainer, data=(lr.numpy(), hr.numpy()))
    assert result["compiled"], result.get("error")
    assert result["hlo_instructions"] > 0
    assert all(np.isfinite(v) for v in result["loss"].values())
