"""``keras-sr train``: train a zoo model with ``model.fit`` from the command line.

GAN models (srgan, esrgan, spsr_*, nse_*) are handed to
``keras_sr.gan.cli.run_train`` with the same arguments.
"""

from __future__ import annotations

import argparse

GAN_MODELS = {
    "srgan",
    "esrgan",
    "spsr_g",
    "spsr_p",
    "spsr_j",
    "nse_contrastive",
    "nse_jigsaw",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (model.fit, resumable checkpoints, validation)",
        description=(
            "Train a zoo model on TFRecord shards (or an image folder) with the "
            "recipe defaults of its paper; override any setting with --set "
            "key=value (e.g. --set optimizer.learning_rate=2e-4 --set "
            "loss=charbonnier). Writes checkpoints, TensorBoard logs, "
            "model.keras and summary.json to --output."
        ),
    )
    p.add_argument(
        "--model",
        required=True,
        help="preset (edsr_baseline_x4) or family (edsr_baseline) name",
    )
    p.add_argument(
        "--data", required=True, help="TFRecord glob / dataset folder (or image folder)"
    )
    p.add_argument("--scale", required=True, type=int, help="upscaling factor")
    length = p.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=int, help="total optimizer steps")
    length.add_argument("--epochs", type=int, help="passes over the dataset")
    p.add_argument("--batch-size", type=int, help="global batch size")
    p.add_argument("--lr-patch-size", type=int, help="LR crop side in pixels")
    p.add_argument("--eval-dir", help="folder of HR images for per-epoch PSNR/SSIM")
    p.add_argument(
        "--steps-per-epoch",
        type=int,
        help="checkpoint/validation interval in --steps mode (1000)",
    )
    p.add_argument("--config", help="YAML file of settings (applied before --set)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting (repeatable)",
    )
    p.add_argument("--output", required=True, help="run folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output from its last checkpoint",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    from keras_sr.training.config import apply_overrides, default_config, load_yaml

    config = default_config(args.model)
    config.data.data = args.data
    config.data.scale = int(args.scale)
    config.output = args.output
    config.resume = bool(args.resume)
    config.steps = args.steps
    config.epochs = args.epochs
    if args.batch_size is not None:
        config.data.batch_size = args.batch_size
    if args.lr_patch_size is not None:
        config.data.lr_patch_size = args.lr_patch_size
    if args.eval_dir:
        config.data.eval_dir = args.eval_dir
    if args.steps_per_epoch is not None:
        config.steps_per_epoch = args.steps_per_epoch
    if getattr(args, "quiet", False):
        config.verbose = 0
    if args.config:
        load_yaml(config, args.config)
    apply_overrides(config, args.overrides)
    config.validate()
    return config


def run(args: argparse.Namespace) -> int:
    if args.model in GAN_MODELS:
        from keras_sr.gan.cli import run_train

        return int(run_train(args) or 0)
    from keras_sr.training.trainer import fit

    config = build_config(args)
    summary = fit(config)
    print(
        f"model {config.model} x{summary['scale']} ({summary['params']:,} params): "
        f"steps {summary['start_step']} -> {summary['steps']} in "
        f"{summary['seconds']:.1f} s"
    )
    hist = summary["history"]
    if hist.get("loss"):
        print(
            f"final loss {hist['loss'][-1]:.6g}  train PSNR "
            f"{hist.get('psnr', [float('nan')])[-1]:.3f} dB"
        )
    if summary["validation"]:
        v = summary["validation"][-1]
        print(
            f"validation (step {v['step']}): PSNR {v['psnr']:.4f} dB  "
            f"SSIM {v['ssim']:.4f}"
        )
    if summary["stopped_on_nan"]:
        print(f"keras-sr: error: {summary['stopped_on_nan']}")
        print(f"last good checkpoint: {summary['checkpoint']}")
        return 1
    print(
        f"saved {summary.get('model_file')}  (checkpoints in "
        f"{config.output}/ckpt, logs in {config.output}/logs)"
    )
    return 0
