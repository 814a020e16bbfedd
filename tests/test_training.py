"""Training: plain model.fit with keras_sr losses/metrics, schedules,
adjustable clipping, typed configs, NaN stop, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sr import losses, models, training
from keras_sr.metrics import PSNR, SSIM
from tests.helpers import REPO, random_image

TINY_ESPCN = ["--set", "model.filters=[8,4]"]


def _pairs(n=4, p=8, s=3, nan_from=None):
    rng = np.random.default_rng(0)
    hr = rng.random((n, p * s, p * s, 1)).astype("float32")
    lr = hr[:, ::s, ::s]
    ds = tf.data.Dataset.from_tensor_slices((lr, hr)).batch(2)
    if nan_from is None:
        return ds.repeat()
    bad = tf.data.Dataset.from_tensor_slices((lr, hr * np.nan)).batch(2)
    return ds.take(nan_from).concatenate(bad.repeat())


def test_plain_model_fit_with_keras_sr_losses_and_metrics():
    model = models.get("espcn_x3", pretrained=False, filters=[8, 4])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=losses.MSELoss(),
        metrics=[PSNR(), SSIM()],
    )
    before = [w.copy() for w in model.get_weights()]
    hist = model.fit(_pairs(), steps_per_epoch=2, epochs=1, verbose=0)
    assert set(hist.history) >= {"loss", "psnr", "ssim"}
    assert np.isfinite(hist.history["loss"][0])
    after = model.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))


def test_schedules():
    step = training.StepDecay(0.1, step_size=10, gamma=0.5)
    assert [round(float(step(i)), 6) for i in (0, 9, 10, 25)] == [0.1, 0.1, 0.05, 0.025]
    multi = training.MultiStepDecay(2e-4, [10, 20], gamma=0.5)
    assert [round(float(multi(i)), 8) for i in (0, 10, 19, 20)] == [
        2e-4,
        1e-4,
        1e-4,
        5e-5,
    ]
    with pytest.raises(ValueError, match="increasing"):
        training.MultiStepDecay(1e-3, [20, 10])
    clone = training.MultiStepDecay.from_config(multi.get_config())
    assert clone.get_config() == multi.get_config()


@pytest.mark.parametrize("mode", ["global_norm", "value"])
def test_adjustable_clipping_uses_theta_over_current_lr(mode):
    schedule = training.StepDecay(0.1, step_size=1, gamma=0.5)
    opt = training.adjustable_clipping(
        keras.optimizers.SGD(schedule), theta=0.01, mode=mode
    )
    v = keras.Variable(np.zeros(2, "float32"))
    grad = np.array([30.0, 40.0], "float32")  # norm 50
    opt.apply([grad], [v])  # step 0: lr 0.1, limit 0.1
    if mode == "global_norm":
        want = -0.1 * grad / 50.0 * 0.1
    else:
        want = -0.1 * np.clip(grad, -0.1, 0.1)
    np.testing.assert_allclose(v.numpy(), want, rtol=1e-5)
    # step 1: lr 0.05 -> limit 0.2, the clip range widens as lr decays
    assert float(opt.clip_threshold()) == pytest.approx(0.2)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert (restored.theta, restored.clip_mode) == (0.01, mode)


def test_config_defaults_overrides_and_errors():
    cfg = training.default_config("vdsr_x3")
    assert (cfg.optimizer.name, cfg.optimizer.clip_theta, cfg.loss) == (
        "sgd",
        0.01,
        "mse",
    )
    training.apply_overrides(
        cfg,
        [
            "optimizer.learning_rate=1e-2",
            "batch_size=8",
            "optimizer.milestones=[10, 20]",
            "ema=0.999",
            "model.depth=5",
        ],
    )
    assert cfg.optimizer.learning_rate == 0.01 and cfg.data.batch_size == 8
    assert cfg.optimizer.milestones == (10, 20) and cfg.optimizer.ema == 0.999
    assert cfg.model_overrides == {"depth": 5}
    with pytest.raises(ValueError, match="unknown setting 'optimizer.lr'"):
        training.apply_overrides(cfg, ["optimizer.lr=1"])
    with pytest.raises(ValueError, match="expected int"):
        training.apply_overrides(cfg, ["data.batch_size=big"])
    cfg.output, cfg.steps, cfg.epochs = "x", 5, 3
    with pytest.raises(ValueError, match="exactly one of --steps and --epochs"):
        cfg.validate()


def _config(tmp_path, steps, **opt):
    cfg = training.default_config(
        "espcn_x3",
        output=str(tmp_path / "run"),
        steps=steps,
        steps_per_epoch=2,
        verbose=0,
    )
    cfg.model_overrides = {"filters": [8, 4]}
    cfg.data.scale = 3
    for k, v in opt.items():
        setattr(cfg.optimizer, k, v)
    return cfg


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = _config(tmp_path, steps=10)
    summary = training.fit(cfg, dataset=_pairs(nan_from=2))
    assert summary["stopped_on_nan"] and "nan at step 3" in summary["stopped_on_nan"]
    assert summary["checkpoint"].endswith("ckpt-2")
    assert not (tmp_path / "run" / "model.keras").exists()
    reader = tf.train.load_checkpoint(summary["checkpoint"])
    for key in reader.get_variable_to_shape_map():
        value = reader.get_tensor(key)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert np.all(np.isfinite(value)), key


def test_ema_and_clipping_options_train(tmp_path):
    cfg = _config(
        tmp_path, steps=2, ema=0.9, clip_theta=0.01, name="sgd", learning_rate=0.1
    )
    summary = training.fit(cfg, dataset=_pairs())
    assert summary["steps"] == 2 and summary["stopped_on_nan"] is None
    model = keras.models.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert model.scale == 3


def _write_images(folder: Path, n=4, size=48):
    from keras_sr.io import write_image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_image(folder / f"im{i}.png", random_image(size, size, 3, seed=i))


def test_resume_after_sigkill_continues_with_same_step_and_weights(tmp_path):
    data = tmp_path / "data"
    _write_images(data)
    out = tmp_path / "run"
    argv = [
        "train",
        "--model",
        "espcn_x3",
        "--data",
        str(data),
        "--scale",
        "3",
        "--steps",
        "100000",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "2",
        "--lr-patch-size",
        "8",
        "--output",
        str(out),
        "--quiet",
        *TINY_ESPCN,
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "keras_sr.cli.main", *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            latest = tf.train.latest_checkpoint(str(out / "ckpt"))
            if latest and int(latest.rsplit("-", 1)[1]) >= 6:
                break
            if proc.poll() is not None:
                pytest.fail(f"training exited early: {proc.stderr.read().decode()}")
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint within 120 s")
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    latest = tf.train.latest_checkpoint(str(out / "ckpt"))
    saved_step = int(latest.rsplit("-", 1)[1])
    assert saved_step >= 6 and saved_step % 2 == 0
    reader = tf.train.load_checkpoint(latest)
    saved = {
        k: reader.get_tensor(k)
        for k in reader.get_variable_to_shape_map()
        if k.startswith("model/")
    }

    # Resume with a total equal to the saved step: nothing trains, and the
    # written weights are exactly the checkpoint's.
    from keras_sr.cli import train as train_cli
    from keras_sr.cli.main import build_parser

    resume = argv[:]
    resume[resume.index("100000")] = str(saved_step)

    cfg = train_cli.build_config(build_parser().parse_args(resume + ["--resume"]))
    summary = training.fit(cfg)
    assert summary["start_step"] == saved_step and summary["steps"] == saved_step
    model = keras.models.load_model(out / "model.keras", compile=False)
    ckpt_kernels = sorted(
        (v for k, v in saved.items() if v.ndim == 4), key=lambda a: a.shape
    )
    model_kernels = sorted(
        (w for w in model.get_weights() if w.ndim == 4), key=lambda a: a.shape
    )
    for a, b in zip(ckpt_kernels, model_kernels, strict=False):
        np.testing.assert_array_equal(a, b)

    # Resume for two more steps: continues from the saved step count.
    resume[resume.index(str(saved_step))] = str(saved_step + 2)
    cfg = train_cli.build_config(build_parser().parse_args(resume + ["--resume"]))
    summary = training.fit(cfg)
    assert (summary["start_step"], summary["steps"]) == (saved_step, saved_step + 2)
    assert json.loads((out / "summary.json").read_text())["steps"] == saved_step + 2


def test_train_cli_end_to_end_with_validation(tmp_path, capsys):
    from tests.helpers import run_cli

    data = tmp_path / "data"
    _write_images(data)
    out = tmp_path / "run"
    rc, stdout, stderr = run_cli(
        [
            "train",
            "--model",
            "espcn_x3",
            "--data",
            data,
            "--scale",
            3,
            "--steps",
            2,
            "--batch-size",
            2,
            "--lr-patch-size",
            8,
            "--eval-dir",
            data,
            "--output",
            out,
            "--quiet",
            *TINY_ESPCN,
        ],
        capsys,
    )
    assert rc == 0, stderr
    assert "validation (step 2): PSNR" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["validation"][0]["step"] == 2
    rc, _, stderr = run_cli(
        [
            "train",
            "--model",
            "espcn_x3",
            "--data",
            data,
            "--scale",
            3,
            "--steps",
            2,
            "--output",
            out,
            "--quiet",
        ],
        capsys,
    )
    assert rc == 2 and "already holds a training run; pass --resume" in stderr


def test_gan_models_are_dispatched(monkeypatch, capsys):
    import types

    from tests.helpers import run_cli

    seen = {}
    fake = types.ModuleType("keras_sr.gan.cli")
    fake.run_train = lambda args: seen.setdefault("model", args.model) and 0
    monkeypatch.setitem(sys.modules, "keras_sr.gan.cli", fake)
    rc, _, _ = run_cli(
        [
            "train",
            "--model",
            "esrgan",
            "--data",
            "x",
            "--scale",
            4,
            "--steps",
            1,
            "--output",
            "y",
        ],
        capsys,
    )
    assert rc == 0 and seen["model"] == "esrgan"
