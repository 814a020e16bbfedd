"""``keras-sr train --model {esrgan,...}``: configs, --set overrides and resume
after a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from argparse import Namespace

import pytest

from keras_sr.gan.cli import apply_overrides, config_from_args, default_config
from tests.helpers import REPO, random_image

TINY = [
    "--set",
    "net.num_blocks=1",
    "--set",
    "net.filters=8",
    "--set",
    "net.growth=4",
    "--set",
    "net.d_filters=2",
]


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    from keras_sr.io import write_image

    d = tmp_path_factory.mktemp("imgs")
    for i in range(4):
        write_image(d / f"im{i}.png", random_image(48, 48, 3, seed=i))
    return d


def args(**kw):
    base = dict(
        model="esrgan",
        data="x",
        scale=4,
        steps=10,
        epochs=None,
        batch_size=None,
        lr_patch_size=None,
        steps_per_epoch=None,
        overrides=[],
        output="out",
        resume=False,
    )
    base.update(kw)
    return Namespace(**base)


def test_defaults_and_overrides():
    cfg = default_config("spsr_g")
    assert cfg.data.batch_size == 30 and cfg.data.lr_patch_size * cfg.data.scale == 128
    assert cfg.optim.milestones == [50000, 100000, 200000, 300000]
    assert cfg.optim.gamma == 0.5 and cfg.train.warmup_steps == 5000
    apply_overrides(
        cfg,
        [
            "net.num_blocks=2",
            "loss.gan=0.01",
            "optim.milestones=5,9",
            "warmup_steps=7",
            "train.mixed_precision=true",
            "loss.pixel=none",
        ],
    )
    assert cfg.net.num_blocks == 2 and cfg.loss.gan == 0.01
    assert cfg.optim.milestones == [5, 9] and cfg.train.warmup_steps == 7
    assert cfg.train.mixed_precision is True and cfg.loss.pixel is None
    with pytest.raises(ValueError, match="unknown setting"):
        apply_overrides(cfg, ["net.depth=3"])
    with pytest.raises(ValueError, match="unknown section"):
        apply_overrides(cfg, ["model.depth=3"])
    with pytest.raises(ValueError, match="expected <class 'int'>"):
        apply_overrides(cfg, ["net.num_blocks=2.5"])
    nse = default_config("nse_contrastive")
    assert (
        nse.optim.g_lr == 1e-3 and nse.optim.gamma == 0.2 and nse.data.batch_size == 48
    )
    c = config_from_args(args(model="esrgan", overrides=["train.ema_decay=0.999"]))
    assert c.train.ema_decay == 0.999 and c.train.steps == 10
    with pytest.raises(ValueError, match="needs a trained NSE"):
        config_from_args(args(model="spsr_p"))


def cli(out, data, steps, *extra, resume=False):
    cmd = [
        sys.executable,
        "-m",
        "keras_sr.cli.main",
        "train",
        "--model",
        "esrgan",
        "--data",
        str(data),
        "--scale",
        "4",
        "--steps",
        str(steps),
        "--batch-size",
        "2",
        "--lr-patch-size",
        "8",
        "--output",
        str(out),
        *TINY,
        "--set",
        "train.checkpoint_every=2",
        "--set",
        "train.log_every=2",
        *extra,
    ]
    if resume:
        cmd.append("--resume")
    return cmd


def latest_step(ckpt_dir):
    state = ckpt_dir / "checkpoint"
    if not state.exists():
        return None
    for line in state.read_text().splitlines():
        if line.startswith("model_checkpoint_path"):
            return int(line.split("ckpt-")[1].strip().strip('"'))
    return None


def test_resume_after_sigkill(tmp_path, image_dir):
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(
        cli(out, image_dir, 100000),
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            step = latest_step(out / "ckpt")
            if step is not None and step >= 4:
                break
            assert proc.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint within 600 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    killed_at = latest_step(out / "ckpt")
    assert not (out / "summary.json").exists()  # it really died mid-run
    target = killed_at + 2
    # Same output without --resume is refused, with --resume it continues.
    refused = subprocess.run(
        cli(out, image_dir, target), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--resume" in refused.stderr
    done = subprocess.run(
        cli(out, image_dir, target, resume=True),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resumed from" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["start_step"] == killed_at
    assert summary["steps"] == target
    # Both Adam states continued (they count every update since step 0).
    assert summary["optimizer_iterations"] == {
        "generator_optimizer": target,
        "discriminator_optimizer": target,
    }
    assert (out / "generator.keras").exists() and latest_step(out / "ckpt") == target
