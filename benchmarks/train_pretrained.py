"""Train the pretrained weights shipped in ``keras_sr/pretrained``.

Rerunnable and resumable: every run keeps a ``tf.train.CheckpointManager``
under ``--runs-dir/<preset>`` (model, optimizers, step) and continues from it.

Data (the Y-first protocol of the SRCNN-era papers, as their
``generate_train.m``): T91 + BSD200 (``/work/shared/data/train``; never the
test sets); Y = MATLAB ``rgb2ycbcr`` of the uint8 image (rounded);
HR = modcrop(Y, s); LR = ``imresize(HR / 255, 1/s)`` in double precision.

* ``srcnn_x3`` (9-1-5): the unpadded network on 33x33 sub-images of the
  bicubic-upsampled LR (``imresize(LR, s)``), loss on the central 21x21 of the
  label (``generate_train.m``: size_input 33, size_label 21); the trained
  kernels are then loaded into the padded inference model.
* ``espcn_x3``, ``fsrcnn_x3``: LR 17x17 -> HR 51x51 patches (ESPCN's 17r).

Patches are drawn at random positions (a dense superset of the papers' fixed
stride-14 / stride-13 grids) with random flips and 90-degree rotations.
Optimiser: Adam (REIMPL settings of METHODS.md: lr 1e-3, last layer x0.1,
lr x0.1 for the last 20% of the steps, or at ``--decay-steps``, or for the last
20% of a ``--minutes`` budget if that comes first), MSE loss.

At the end the weights are written (atomically) to
``keras_sr/pretrained/<preset>.weights.h5`` and their Set5/Set14 PSNR/SSIM
(y-first, exactly ``keras-sr evaluate``) to ``keras_sr/pretrained/pretrained.json``.

Usage::

    nice -n 10 .venv/bin/python benchmarks/train_pretrained.py \
        --model espcn_x3 --steps 30000 --runs-dir runs/pretrained
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = Path(os.environ.get("KERAS_SR_SHARED_DATA", REPO.parent / "shared" / "data"))
TRAIN_DIRS = [DATA / "train" / "T91", DATA / "train" / "BSD200"]
EVAL_SETS = {
    "Set5": DATA / "test" / "Set5" / "HR",
    "Set14": DATA / "test" / "Set14" / "HR",
}

# Per-preset defaults: (lr patch or ILR input size, batch size, steps, lr).
DEFAULTS = {
    "srcnn_x3": {"patch": 33, "batch": 128, "steps": 40000, "lr": 1e-3},
    "fsrcnn_x3": {"patch": 17, "batch": 32, "steps": 40000, "lr": 1e-3},
    "espcn_x3": {"patch": 17, "batch": 32, "steps": 40000, "lr": 1e-3},
}


def load_training_set(scale: int, pre_upsample: bool) -> list[tuple[np.ndarray, ...]]:
    """Return ``[(lr or ilr float32 [h,w], hr float32 [H,W])]`` in [0, 1]."""
    from keras_sr.io import list_images, read_image
    from keras_sr.ops import imresize, rgb_to_y

    pairs = []
    for folder in TRAIN_DIRS:
        for path in list_images(folder):
            img = read_image(path)
            y = img if img.shape[-1] == 1 else rgb_to_y(img).numpy()
            h, w = y.shape[0] - y.shape[0] % scale, y.shape[1] - y.shape[1] % scale
            hr = y[:h, :w].astype(np.float64) / 255.0
            lr = imresize(hr, scale=1.0 / scale).numpy()
            if pre_upsample:
                lr = imresize(lr, scale=scale).numpy()
            pairs.append((lr[..., 0].astype(np.float32), hr[..., 0].astype(np.float32)))
    return pairs


class PatchSampler:
    """Random aligned (input, label) patches with flips/rotations."""

    def __init__(self, pairs, scale, patch, batch, srcnn_label=None, seed=0):
        self.pairs = pairs
        self.scale = scale
        self.patch = patch
        self.batch = batch
        self.srcnn_label = srcnn_label
        small = [i for i, pr in enumerate(pairs) if min(pr[0].shape[:2]) < patch]
        if len(small) == len(pairs):
            raise ValueError(f"no training image has an LR side >= patch {patch}")
        if small:  # too small for this patch size: never drawn
            print(f"{len(small)} images smaller than the patch are not sampled")
        areas = np.array(
            [
                0.0 if i in small else pr[0].shape[0] * pr[0].shape[1]
                for i, pr in enumerate(pairs)
            ],
            np.float64,
        )
        self.prob = areas / areas.sum()
        self.rng = np.random.default_rng(seed)

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        idx = self.rng.choice(len(self.pairs), size=self.batch, p=self.prob)
        xs, ys = [], []
        p = self.patch
        for i in idx:
            lr, hr = self.pairs[i]
            top = self.rng.integers(0, lr.shape[0] - p + 1)
            left = self.rng.integers(0, lr.shape[1] - p + 1)
            x = lr[top : top + p, left : left + p]
            if self.srcnn_label is not None:  # ILR and HR share the grid
                off = (p - self.srcnn_label) // 2
                n = self.srcnn_label
                y = hr[top + off : top + off + n, left + off : left + off + n]
            else:
                s = self.scale
                y = hr[top * s : (top + p) * s, left * s : (left + p) * s]
            k = self.rng.integers(4)
            x, y = np.rot90(x, k), np.rot90(y, k)
            if self.rng.integers(2):
                x, y = x[:, ::-1], y[:, ::-1]
            xs.append(x)
            ys.append(y)
        return np.stack(xs)[..., None], np.stack(ys)[..., None]


def build_training_model(name: str):
    """The network trained; its ``get_weights()`` order matches the preset."""
    import keras

    from keras_sr import models

    if name.startswith("srcnn"):
        preset = models.get_preset(name).config
        f1, f2, f3 = preset.get("f1", 9), preset.get("f2", 1), preset.get("f3", 5)
        he = keras.initializers.HeNormal()
        core = keras.Sequential(
            [
                keras.Input((None, None, 1)),
                keras.layers.Conv2D(64, f1, activation="relu", kernel_initializer=he),
                keras.layers.Conv2D(32, f2, activation="relu", kernel_initializer=he),
                keras.layers.Conv2D(
                    1, f3, kernel_initializer=keras.initializers.RandomNormal(0, 1e-3)
                ),
            ]
        )
        return core
    return models.get(name, pretrained=False)


def evaluate(name: str, weights, sets=("Set5",)) -> dict:
    from keras_sr import models
    from keras_sr.evaluation import evaluate_dataset
    from keras_sr.inference import KerasUpscaler

    model = models.get(name, pretrained=False)
    model.set_weights(weights)
    upscaler = KerasUpscaler(model, name=name)
    out = {}
    for s in sets:
        r = evaluate_dataset(upscaler, EVAL_SETS[s], model.scale, "y-first")
        out[s] = {"psnr": round(r["psnr"], 4), "ssim": round(r["ssim"], 4)}
    return out


def evaluate_int8(simulator) -> float:
    """Set5 PSNR (y-first) of the int8 simulation of export/qat.py."""
    from keras_sr.evaluation import evaluate_dataset
    from keras_sr.inference import Upscaler

    class Simulated(Upscaler):
        scale = simulator.model.scale
        channels = simulator.model.channels
        name = "int8-simulated"

        def __call__(self, lr):
            return np.asarray(simulator(lr), dtype=np.float32)

    r = evaluate_dataset(Simulated(), EVAL_SETS["Set5"], Simulated.scale, "y-first")
    return round(r["psnr"], 4)


def train(args, name: str) -> None:
    import keras
    import tensorflow as tf

    from keras_sr import models

    cfg = dict(DEFAULTS[name])
    for key in ("steps", "batch", "lr", "patch"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    scale = models.get_preset(name).config["scale"]
    is_srcnn = name.startswith("srcnn")
    # --qat fine-tunes a finished float run in its own folder, starting from
    # the float run's last checkpoint (weights, optimiser state and step).
    float_dir = Path(args.runs_dir) / name
    run_dir = float_dir.with_name(f"{name}_int8") if args.qat else float_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    log = open(run_dir / "log.txt", "a")

    def say(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {name}: {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    model = build_training_model(name)
    label = None
    if is_srcnn:
        shrink = sum(layer.kernel_size[0] - 1 for layer in model.layers)
        label = cfg["patch"] - shrink
    steps = int(cfg["steps"])
    decays = sorted(args.decay_steps or [int(0.8 * steps)])
    cfg["decay_steps"] = decays

    late = {"on": False}  # set in the last 20% of a --minutes budget

    def lr_at(step):
        n = sum(step >= d for d in decays)
        if late["on"] and n == 0:  # out of time before the first decay: take it now
            n = 1
        return cfg["lr"] * 0.1**n

    opt_body = keras.optimizers.Adam(cfg["lr"])
    opt_last = keras.optimizers.Adam(cfg["lr"] * 0.1)
    last_vars = model.layers[-1].trainable_weights if is_srcnn else None
    if not is_srcnn:
        last = "deconv" if name.startswith("fsrcnn") else "conv3"
        last_vars = model.get_layer(last).trainable_weights
    last_ids = {id(v) for v in last_vars}
    body_vars = [v for v in model.trainable_weights if id(v) not in last_ids]
    opt_body.build(body_vars)
    opt_last.build(last_vars)
    step_var = tf.Variable(0, dtype=tf.int64, name="step")
    ckpt = tf.train.Checkpoint(
        model=model, opt_body=opt_body, opt_last=opt_last, step=step_var
    )
    manager = tf.train.CheckpointManager(ckpt, run_dir / "ckpt", max_to_keep=2)
    start_from = manager.latest_checkpoint
    if start_from is None and args.qat:
        start_from = tf.train.latest_checkpoint(float_dir / "ckpt")
        if start_from is None:
            raise SystemExit(f"--qat: no float checkpoint in {float_dir / 'ckpt'}")
    if start_from:
        ckpt.restore(start_from).assert_existing_objects_matched()
        say(f"resumed from {start_from} at step {int(step_var)}")

    forward = model
    range_vars: list = []
    opt_range = None
    if args.qat:
        from export.qat import Int8Simulator
        from export.tflite import representative_dataset

        forward = Int8Simulator(model, split_prelu=args.qat_split_prelu)
        calibration, _ = representative_dataset(model.channels, scale)

        def recalibrate():
            forward.calibrate(calibration)

        recalibrate()
        cfg["qat"] = True
        say(f"int8-aware fine-tuning (export/qat.py), {len(calibration)} crops")
        if args.qat_learn_ranges:
            saved = run_dir / "int8_ranges.json"
            if saved.is_file():
                forward.learn_ranges()
                forward.set_ranges(json.loads(saved.read_text()))
                say(f"activation ranges from {saved}")
            else:
                forward.search_ranges(calibration, scope="inner", passes=1)
                forward.learn_ranges()
                say("activation ranges searched (scope inner), then learned")
            range_vars = [forward.ranges[k] for k in sorted(forward.learned)]
            opt_range = keras.optimizers.Adam(args.range_lr)
            opt_range.build(range_vars)

    def save_ranges():
        if range_vars:
            from keras_sr.utils.atomic import atomic_path

            with atomic_path(run_dir / "int8_ranges.json", suffix=".json") as tmp:
                tmp.write_text(json.dumps(forward.get_ranges(), indent=1) + "\n")

    @tf.function(reduce_retracing=True)
    def train_step(x, y, lr):
        opt_body.learning_rate.assign(lr)
        opt_last.learning_rate.assign(lr * 0.1)
        with tf.GradientTape() as tape:
            if forward is model:
                loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
            else:  # int8-aware: the loss of the simulated int8 output
                loss = tf.reduce_mean(tf.square(forward(x) - y))
        grads = tape.gradient(loss, body_vars + last_vars + range_vars)
        n = len(body_vars) + len(last_vars)
        opt_body.apply(grads[: len(body_vars)], body_vars)
        opt_last.apply(grads[len(body_vars) : n], last_vars)
        if range_vars:
            opt_range.learning_rate.assign(lr / cfg["lr"] * args.range_lr)
            opt_range.apply(grads[n:], range_vars)
        return loss

    say(f"loading T91 + BSD200 (x{scale})")
    pairs = load_training_set(scale, pre_upsample=is_srcnn)
    sampler = PatchSampler(
        pairs, scale, cfg["patch"], cfg["batch"], label, seed=int(step_var) + 1
    )
    say(
        f"{len(pairs)} images; batch {cfg['batch']}, patch {cfg['patch']}, "
        f"{steps} steps"
    )
    deadline = time.time() + args.minutes * 60 if args.minutes else math.inf
    late_from = deadline - 0.2 * args.minutes * 60 if args.minutes else math.inf
    t0, losses = time.time(), []
    start = int(step_var)
    while int(step_var) < steps and time.time() < deadline:
        x, y = sampler.next()
        step = int(step_var)
        if not late["on"] and time.time() >= late_from and step < decays[0]:
            late["on"] = True
            say(f"step {step}: last 20% of the time budget, lr x0.1 from now on")
            cfg["decay_steps"] = [step]
        loss = float(train_step(x, y, tf.constant(lr_at(step), tf.float32)))
        if not math.isfinite(loss):
            say(f"non-finite loss at step {step}; stopping (last checkpoint kept)")
            return
        losses.append(loss)
        step_var.assign_add(1)
        step += 1
        if step % args.log_every == 0:
            rate = (step - start) / (time.time() - t0)
            say(
                f"step {step} loss {np.mean(losses):.3e} lr {lr_at(step - 1):.1e} "
                f"{rate:.1f} it/s"
            )
            losses = []
        if step % args.ckpt_every == 0:
            manager.save(checkpoint_number=step)
            save_ranges()
        if args.qat and step % args.qat_recalibrate == 0:
            recalibrate()
        if args.eval_every and step % args.eval_every == 0:
            monitor = evaluate(name, model.get_weights())
            if args.qat:
                monitor["Set5 int8 (simulated)"] = evaluate_int8(forward)
            say(f"step {step} monitor {monitor}")
    manager.save(checkpoint_number=int(step_var))
    save_ranges()
    say(f"stopped at step {int(step_var)} / {steps}")
    if args.export:
        if range_vars:
            cfg["learned_ranges"] = forward.get_ranges()
        export(name, model, int(step_var), cfg, say)


def export(name, model, step, cfg, say) -> None:
    """Write the weights and their measured numbers into keras_sr/pretrained
    (``--qat`` runs: ``<name>.int8.weights.h5`` and the ``int8_aware`` entry,
    with the Set5 PSNR of the real int8 TFLite conversion)."""
    from keras_sr import models
    from keras_sr.utils.atomic import atomic_path

    qat = bool(cfg.get("qat"))
    results = evaluate(name, model.get_weights(), sets=("Set5", "Set14"))
    out_dir = REPO / "keras_sr" / "pretrained"
    target = out_dir / (f"{name}.int8.weights.h5" if qat else f"{name}.weights.h5")
    inference = models.get(name, pretrained=False)
    inference.set_weights(model.get_weights())
    with atomic_path(target, suffix=".weights.h5") as tmp:
        inference.save_weights(tmp)
    ranges = cfg.get("learned_ranges")
    if qat and ranges:  # the int8 export reads them beside the weights
        from keras_sr.models.presets import INT8_RANGES_ATTR, int8_ranges_path

        with atomic_path(int8_ranges_path(target), suffix=".json") as tmp:
            tmp.write_text(json.dumps(ranges, indent=1, sort_keys=True) + "\n")
        object.__setattr__(inference, INT8_RANGES_ATTR, ranges)
    if qat:
        results["Set5_int8_tflite"] = int8_tflite_psnr(inference)
    table_path = out_dir / "pretrained.json"
    table = json.loads(table_path.read_text()) if table_path.is_file() else {}
    previous = table.get(name, {})
    command = "benchmarks/train_pretrained.py " + " ".join(sys.argv[1:])
    optimizer = (
        f"Adam lr {cfg['lr']} (last layer x0.1), x0.1 at steps {cfg['decay_steps']}"
    )
    scale = inference.scale
    if qat:
        entry = {
            "weights": target.name,
            "steps": step,
            "batch_size": cfg["batch"],
            "patch": cfg["patch"],
            "optimizer": optimizer,
            "run": command,
            **{f"{k}_x{scale}": v for k, v in results.items()},
        }
        if ranges:
            entry["int8_ranges"] = int8_ranges_path(target).name
        table[name] = {**previous, "int8_aware": entry}
    else:
        table[name] = {
            **previous,
            "runs": [*previous.get("runs", []), command],
            "weights": target.name,
            "train_data": "T91 + BSD200 (Y channel, MATLAB bicubic)",
            "steps": step,
            "batch_size": cfg["batch"],
            "patch": cfg["patch"],
            "optimizer": optimizer,
            "protocol": "y-first",
            **{f"{k}_x{scale}": v for k, v in results.items()},
        }
    with atomic_path(table_path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    say(f"exported {target} ({target.stat().st_size} bytes): {results}")


def int8_tflite_psnr(model) -> dict:
    """Set5 PSNR/SSIM (y-first) of the full-int8 TFLite conversion that
    ``keras-sr export --quantize int8`` makes of ``model``."""
    from export.common import model_info
    from export.runtime import TFLiteUpscaler
    from export.tflite import convert, representative_dataset
    from keras_sr.evaluation import evaluate_dataset

    calibration, _ = representative_dataset(model.channels, model.scale)
    content, _ = convert(model, model_info(model), "int8", calibration)
    runner = TFLiteUpscaler("int8.tflite", scale=model.scale, model_content=content)
    r = evaluate_dataset(runner, EVAL_SETS["Set5"], model.scale, "y-first")
    return {"psnr": round(r["psnr"], 4), "ssim": round(r["ssim"], 4)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", nargs="+", default=list(DEFAULTS), choices=list(DEFAULTS))
    p.add_argument("--steps", type=int, help="total steps (default per model)")
    p.add_argument("--batch", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument(
        "--patch",
        type=int,
        help="LR patch (ILR input for SRCNN) size; may change when resuming",
    )
    p.add_argument(
        "--decay-steps",
        type=int,
        nargs="+",
        help="steps where the lr is multiplied by 0.1 (default: 80%% of "
        "--steps); e.g. to continue a finished run at the low lr",
    )
    p.add_argument("--minutes", type=float, help="stop after this wall time per model")
    p.add_argument("--runs-dir", default=str(REPO / "runs" / "pretrained"))
    p.add_argument("--log-every", type=int, default=200)
    p.add_argument("--ckpt-every", type=int, default=1000)
    p.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="print Set5 PSNR every N steps (monitoring only)",
    )
    p.add_argument(
        "--qat",
        action="store_true",
        help="train through the int8 simulation of export/qat.py (int8-aware "
        "fine-tuning of a finished run, for the int8 TFLite export)",
    )
    p.add_argument(
        "--qat-recalibrate",
        type=int,
        default=500,
        help="with --qat: redo the activation ranges every N steps",
    )
    p.add_argument(
        "--qat-learn-ranges",
        action="store_true",
        help="with --qat: start from ranges searched on the calibration crops "
        "and learn them with the weights (LSQ); they ship beside the int8 weights",
    )
    p.add_argument(
        "--qat-split-prelu",
        action="store_true",
        help="with --qat: simulate the int8 export's conv + PReLU rewrite (one "
        "conv with fused ReLU, one rounding per layer; export.qat.split_prelu_model)",
    )
    p.add_argument(
        "--range-lr",
        type=float,
        default=1e-3,
        help="with --qat-learn-ranges: Adam lr of the ranges (decays with the lr)",
    )
    p.add_argument("--no-export", dest="export", action="store_false")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    for name in args.model:
        train(args, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
