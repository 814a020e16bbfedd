"""Small-scale evidence for the GAN / SPSR / NSE code (issue 6, item 7).

These models cannot be trained to paper quality on 2 CPU cores: the paper runs
5e5 iterations of a 23-block generator on DIV2K with batch 30 (SPSR) and an
NSE on DIV2K with batch 48. This script runs a *reduced* version of each
comparison, side by side in one process, and reports what it measured:

1. A reduced RRDBNet (``--blocks`` RRDBs, ``--filters`` channels) is trained
   with L1 on T91 HR patches, x4 (the ESRGAN PSNR stage).
2. Its trunk is copied into a reduced SPSRNet (SPSR's non-strict load), and
   the whole SPSR generator is trained with L1 + 0.5 branch L1
   (``--spsr-psnr-steps``): the PSNR-oriented SPSR start. (The official recipe
   instead trains the randomly initialised fusion block during a 5000-step
   warm-up inside the GAN run; a few hundred GAN steps are too few for that,
   so the warm-up is replaced by this PSNR stage and ``--warmup`` is 0.)
   From that start, two SPSR-G runs with identical seeds and data: with the
   gradient losses (gradient pixel 1e-2 + gradient RaGAN 5e-3, the official
   weights) and without them (both 0). Every other term as in SPSR-G (pixel
   1e-2, image RaGAN 5e-3, branch pixel 0.5); the perceptual term is off in
   both because ImageNet VGG19 weights cannot be downloaded here (give
   ``--vgg-weights`` to turn it on).
3. Set5 x4 (RGB-uint8 protocol): PSNR / SSIM on Y with a 4-px shave, and the
   mean L1 distance between the gradient maps (``Get_gradient_nopadding``,
   RGB [0,1]) of SR and HR, plus the L1 distance of trained-NSE features.
4. An NSE trained by contrastive prediction (strategy h) on T91 HR patches,
   evaluated on 192x192 Set14 crops (seed 001's top-1 protocol, ~1900
   negatives per anchor) against a randomly initialised NSE + predictor.

LPIPS needs the AlexNet-lin weights file (``--lpips-weights``); without it the
LPIPS column is reported as not run.

Usage (background, niced)::

    nice -n 10 .venv/bin/python benchmarks/gan_evidence.py > /tmp/gan_evidence.log

Writes ``benchmarks/results/gan_evidence.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from keras_sr.data import make_folder_dataset  # noqa: E402
from keras_sr.evaluation import evaluate_image  # noqa: E402
from keras_sr.gan import (  # noqa: E402
    LPIPS,
    ContrastivePredictor,
    GANTrainer,
    NeuralStructureExtractor,
    NSEContrastiveTrainer,
    SPSRTrainer,
    VGGPerceptualLoss,
    VGGStyleDiscriminator,
    gradient_map,
)
from keras_sr.gan.nse import evaluate_nse, nse_patches  # noqa: E402
from keras_sr.inference import BicubicUpscaler, KerasUpscaler  # noqa: E402
from keras_sr.io import list_images, read_image  # noqa: E402
from keras_sr.models import RRDBNet  # noqa: E402
from keras_sr.models.spsr import SPSRNet, load_trunk_weights  # noqa: E402
from keras_sr.utils import atomic_write_bytes  # noqa: E402

DATA = REPO.parent / "shared" / "data"
T91 = DATA / "train" / "T91"
SET5 = DATA / "test" / "Set5" / "HR"
SET14 = DATA / "test" / "Set14" / "HR"


def log(msg: str) -> None:
    print(msg, flush=True)


def set5_scores(upscaler, scale: int, nse=None, lpips=None) -> dict:
    """PSNR/SSIM (rgb protocol) + gradient-map L1 + NSE-feature L1 (+ LPIPS)."""
    psnrs, ssims, grads, feats, lp = [], [], [], [], []
    for path in list_images(SET5):
        hr = read_image(path)
        result, sr = evaluate_image(upscaler, hr, scale, "rgb", name=path.name)
        gt = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
        a = tf.constant(gt[None].astype("float32") / 255.0)
        b = tf.constant(sr[None].astype("float32") / 255.0)
        psnrs.append(result.psnr)
        ssims.append(result.ssim)
        grads.append(float(tf.reduce_mean(tf.abs(gradient_map(a) - gradient_map(b)))))
        if nse is not None:
            feats.append(float(tf.reduce_mean(tf.abs(nse(a) - nse(b)))))
        if lpips is not None:
            lp.append(float(lpips(a, b)[0]))
    out = {
        "psnr_y": float(np.mean(psnrs)),
        "ssim_y": float(np.mean(ssims)),
        "gradient_l1": float(np.mean(grads)),
    }
    if feats:
        out["nse_feature_l1"] = float(np.mean(feats))
    out["lpips"] = float(np.mean(lp)) if lp else None
    return out


def train_psnr(args) -> tuple[keras.Model, dict]:
    keras.utils.set_random_seed(args.seed)
    model = RRDBNet(
        scale=4, filters=args.filters, num_blocks=args.blocks, growth=args.growth
    )
    ds = make_folder_dataset(
        T91, 4, args.lr_patch, args.batch, seed=args.seed, cache=True
    )
    model.compile(
        optimizer=keras.optimizers.Adam(args.psnr_lr), loss="mae", jit_compile=False
    )
    t0 = time.time()
    hist = model.fit(ds, steps_per_epoch=args.psnr_steps, epochs=1, verbose=0)
    return model, {
        "steps": args.psnr_steps,
        "seconds": round(time.time() - t0, 1),
        "final_l1": float(hist.history["loss"][-1]),
    }


class _PSNRStage(GANTrainer):
    """L1 pixel + branch pixel training of the SPSR generator, no GAN."""

    generator_has_branch = True


def train_spsr_psnr(args, psnr_model) -> tuple[keras.Model, dict]:
    """PSNR-oriented SPSR generator: RRDBNet trunk copied in, then L1 on the SR
    image + 0.5 L1 on the branch gradient map (all layers train)."""
    keras.utils.set_random_seed(args.seed + 1)
    gen = SPSRNet(
        scale=4,
        filters=args.filters,
        num_blocks=args.blocks,
        growth=args.growth,
        return_branch=True,
    )
    load_trunk_weights(gen, psnr_model)
    stage = _PSNRStage(gen, default_loss_weights={"pixel": 1.0, "branch_pixel": 0.5})
    stage.compile(generator_optimizer=keras.optimizers.Adam(args.psnr_lr))
    ds = make_folder_dataset(
        T91, 4, args.lr_patch, args.batch, seed=args.seed + 5, cache=True
    )
    t0 = time.time()
    hist = stage.fit(ds, steps_per_epoch=args.spsr_psnr_steps, epochs=1, verbose=0)
    return gen, {
        "steps": args.spsr_psnr_steps,
        "seconds": round(time.time() - t0, 1),
        "final_metrics": {k: float(v[-1]) for k, v in hist.history.items()},
    }


def train_spsr(args, start, with_gradient: bool, perceptual):
    """SPSR-G fine-tuning from the PSNR-oriented SPSR generator ``start``."""
    keras.utils.set_random_seed(args.seed + 1)
    gen = SPSRNet.from_config(start.get_config())
    gen.set_weights(start.get_weights())
    hr = args.lr_patch * 4
    trainer = SPSRTrainer(
        gen,
        VGGStyleDiscriminator(hr, 3, args.d_filters, name="discriminator"),
        VGGStyleDiscriminator(hr + 2, 3, args.d_filters, name="gradient_discriminator"),
        perceptual,
        warmup_steps=args.warmup,
        seed=args.seed,
    )
    weights = {} if with_gradient else {"gradient_pixel": 0.0, "gradient_gan": 0.0}
    if perceptual is None:
        weights["perceptual"] = 0.0
    if args.pixel_weight is not None:
        weights["pixel"] = args.pixel_weight
    trainer.compile(
        generator_optimizer=keras.optimizers.Adam(args.gan_lr),
        discriminator_optimizer=keras.optimizers.Adam(args.gan_lr),
        loss_weights=weights,
    )
    ds = make_folder_dataset(
        T91, 4, args.lr_patch, args.batch, seed=args.seed + 2, cache=True
    )
    t0 = time.time()
    hist = trainer.fit(ds, steps_per_epoch=args.gan_steps, epochs=1, verbose=0)
    info = {
        "steps": args.gan_steps,
        "seconds": round(time.time() - t0, 1),
        "loss_weights": trainer.loss_weights_,
        "final_metrics": {k: float(v[-1]) for k, v in hist.history.items()},
    }
    return trainer.export_generator(), info


def train_nse(args) -> tuple[NSEContrastiveTrainer, dict]:
    keras.utils.set_random_seed(args.seed + 3)
    trainer = NSEContrastiveTrainer(
        NeuralStructureExtractor(),
        ContrastivePredictor(2, 32),
        strategy="h",
        seed=args.seed,
    )
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    # HR patches of 128 (LR 32 at x4): a 32x32 feature grid, as in the spec.
    ds = make_folder_dataset(T91, 4, 32, args.nse_batch, seed=args.seed + 4, cache=True)
    t0 = time.time()
    hist = trainer.fit(ds, steps_per_epoch=args.nse_steps, epochs=1, verbose=0)
    return trainer, {
        "steps": args.nse_steps,
        "batch": args.nse_batch,
        "seconds": round(time.time() - t0, 1),
        "final_train_loss": float(hist.history["loss"][-1]),
        "final_train_top1": float(hist.history["accuracy"][-1]),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--filters", type=int, default=16)
    p.add_argument("--growth", type=int, default=8)
    p.add_argument("--d-filters", type=int, default=8)
    p.add_argument("--lr-patch", type=int, default=16, help="LR patch (HR = 4x)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--psnr-steps", type=int, default=800)
    p.add_argument("--psnr-lr", type=float, default=2e-4)
    p.add_argument("--spsr-psnr-steps", type=int, default=400)
    p.add_argument("--gan-steps", type=int, default=200)
    p.add_argument("--gan-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument(
        "--pixel-weight",
        type=float,
        default=1.0,
        help="pixel L1 weight of the GAN runs (official 1e-2 assumes the "
        "perceptual term anchors the content; without VGG weights 1e-2 lets "
        "both runs drift, see gan_evidence_official_weights.json)",
    )
    p.add_argument("--nse-steps", type=int, default=200)
    p.add_argument("--nse-batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=9)
    p.add_argument("--vgg-weights", help="local VGG19 weights (torchvision npz)")
    p.add_argument("--lpips-weights", help="local LPIPS AlexNet-lin v0.1 npz")
    p.add_argument(
        "--output", default=str(REPO / "benchmarks/results/gan_evidence.json")
    )
    args = p.parse_args(argv)

    t_start = time.time()
    perceptual = (
        VGGPerceptualLoss({"conv5_4": 1.0}, weights=args.vgg_weights)
        if args.vgg_weights
        else None
    )
    lpips = LPIPS(args.lpips_weights) if args.lpips_weights else None
    results: dict = {
        "setup": {k: v for k, v in vars(args).items() if k != "output"},
        "machine": f"{os.cpu_count()} CPU cores, TF {tf.__version__}, "
        f"Keras {keras.__version__}",
    }

    log("[1/4] NSE contrastive training ...")
    nse_trainer, nse_info = train_nse(args)
    crops = nse_patches(str(SET14), 192, 4)
    trained = evaluate_nse(nse_trainer.extractor, nse_trainer.head, crops, seed=1)
    keras.utils.set_random_seed(123)
    rand = evaluate_nse(
        NeuralStructureExtractor(), ContrastivePredictor(2, 32), crops, seed=1
    )
    results["nse_contrastive"] = {
        "train": nse_info,
        "eval_set": f"Set14 HR, {len(crops)} crops 192x192 (evaluation only)",
        "trained": trained,
        "random_init": rand,
    }
    log(
        f"  NSE top-1: trained {100 * trained['accuracy']:.2f}%  random "
        f"{100 * rand['accuracy']:.2f}%  (chance {100 * trained['chance']:.3f}%, "
        f"{trained['negatives']:.0f} negatives/anchor)"
    )
    nse = nse_trainer.extractor

    log("[2/4] PSNR-oriented reduced RRDBNet ...")
    psnr_model, psnr_info = train_psnr(args)
    results["psnr_start"] = {
        "train": psnr_info,
        "set5": set5_scores(KerasUpscaler(psnr_model), 4, nse, lpips),
    }
    results["bicubic"] = {"set5": set5_scores(BicubicUpscaler(4), 4, nse, lpips)}
    log(f"  PSNR start: {results['psnr_start']['set5']}")

    log("[2b/4] PSNR-oriented reduced SPSR generator (trunk from RRDBNet) ...")
    spsr_start, spsr_info = train_spsr_psnr(args, psnr_model)
    results["spsr_psnr_start"] = {
        "train": spsr_info,
        "set5": set5_scores(KerasUpscaler(spsr_start.inference_model()), 4, nse, lpips),
    }
    log(f"  SPSR PSNR start: {results['spsr_psnr_start']['set5']}")
    for name, with_grad in (
        ("spsr_g_with_gradient_loss", True),
        ("spsr_g_without_gradient_loss", False),
    ):
        log(f"[3/4] {name} ...")
        gen, info = train_spsr(args, spsr_start, with_grad, perceptual)
        results[name] = {
            "train": info,
            "set5": set5_scores(KerasUpscaler(gen), 4, nse, lpips),
        }
        log(f"  {name}: {results[name]['set5']}")

    results["seconds_total"] = round(time.time() - t_start, 1)
    results["notes"] = [
        "Reduced models and runs on a shared 2-core CPU; not paper-scale, numbers are "
        "evidence that the code trains, not reproductions of the SPSR tables.",
        "Perceptual loss off (no local VGG19 weights) unless --vgg-weights is given;"
        " the GAN runs then use pixel weight --pixel-weight (default 1.0) instead "
        "of 1e-2 as their content anchor.",
        "LPIPS null = not run (no local AlexNet-lin weights file).",
    ]
    log(
        "\n[4/4] Set5 x4 (RGB-uint8 protocol; PSNR/SSIM on Y, shave 4; gradient-map L1"
        " and NSE-feature L1 on RGB [0,1]):"
    )
    log(f"{'model':32s} {'PSNR':>8s} {'SSIM':>7s} {'grad L1':>9s} {'NSE L1':>8s}")
    for name in (
        "bicubic",
        "psnr_start",
        "spsr_psnr_start",
        "spsr_g_with_gradient_loss",
        "spsr_g_without_gradient_loss",
    ):
        s = results[name]["set5"]
        log(
            f"{name:32s} {s['psnr_y']:8.3f} {s['ssim_y']:7.4f} {s['gradient_l1']:9.5f} "
            f"{s.get('nse_feature_l1', float('nan')):8.5f}"
        )
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, (json.dumps(results, indent=2) + "\n").encode())
    log(f"wrote {out} ({results['seconds_total']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
