"""``keras-sr evaluate``: PSNR/SSIM of a model on a folder of HR images."""

from __future__ import annotations

import argparse
import json
import sys

from keras_sr.cli import add_self_ensemble_argument
from keras_sr.utils.atomic import atomic_write_bytes


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="PSNR/SSIM of a model on a folder of HR images (MATLAB protocol)",
        description=(
            "Degrade every HR image with MATLAB bicubic, super-resolve it and "
            "report per-image and mean PSNR/SSIM with a scale-pixel shave."
        ),
    )
    p.add_argument(
        "--model",
        required=True,
        help="'bicubic', a preset name, a .keras file, a .tflite/.onnx file or "
        "a SavedModel folder",
    )
    p.add_argument("--dataset", required=True, help="folder of HR images")
    p.add_argument("--scale", required=True, help="integer upscaling factor >= 2")
    p.add_argument(
        "--protocol",
        choices=["y-first", "rgb"],
        default="y-first",
        help="y-first: SRCNN-style Y protocol; rgb: EDSR/BasicSR-style "
        "(default: y-first)",
    )
    p.add_argument("--output", help="write the results as JSON to this file")
    add_self_ensemble_argument(p)
    p.add_argument("--save-images", help="write the uint8 SR images to this folder")
    p.add_argument("--quiet", action="store_true", help="print only the mean")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from keras_sr.evaluation import check_scale, evaluate_dataset
    from keras_sr.inference import load_upscaler

    scale = check_scale(args.scale)
    upscaler = load_upscaler(args.model, scale, args.self_ensemble)

    def progress(items):
        return tqdm(
            items,
            desc="evaluate",
            unit="img",
            file=sys.stderr,
            disable=args.quiet or not sys.stderr.isatty(),
        )

    result = evaluate_dataset(
        upscaler,
        args.dataset,
        scale,
        args.protocol,
        save_images=args.save_images,
        progress=progress,
    )
    result["model"] = args.model
    result["self_ensemble"] = args.self_ensemble or 1
    if not args.quiet:
        width = max(len(r["name"]) for r in result["images"])
        ensemble = f"  self-ensemble {args.self_ensemble}" if args.self_ensemble else ""
        print(
            f"model {args.model}{ensemble}  x{scale}  protocol {args.protocol}  "
            f"dataset {args.dataset}"
        )
        print(f"{'image':<{width}}  {'PSNR':>8}  {'SSIM':>7}")
        for r in result["images"]:
            print(f"{r['name']:<{width}}  {r['psnr']:8.4f}  {r['ssim']:7.4f}")
    n = len(result["images"])
    print(f"mean ({n} images): PSNR {result['psnr']:.4f} dB  SSIM {result['ssim']:.4f}")
    if args.output:
        atomic_write_bytes(args.output, (json.dumps(result, indent=2) + "\n").encode())
    return 0
