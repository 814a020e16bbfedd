"""``keras-sr demo``: upscale the sample photos shipped with keras-sr.

Each photo (``keras_sr/assets/demo``) is downscaled with MATLAB bicubic,
upscaled back by bicubic and by each model with shipped weights, and
compared with the original: PSNR/SSIM on Y with a ``scale``-pixel shave. The
outputs and a side-by-side PNG per photo (bicubic | models... | original)
are written to ``--output``. Works offline: nothing is downloaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "demo"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="upscale the bundled sample photos with the shipped models",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    p.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME",
        help="preset with shipped weights (repeatable; default: all)",
    )
    p.add_argument(
        "--output", default="demo_output", help="output folder (default: ./demo_output)"
    )
    p.add_argument(
        "--images",
        nargs="+",
        metavar="IMAGE",
        help="use these HR images instead of the bundled photos",
    )
    p.set_defaults(func=run)


def side_by_side(panels: list[tuple[str, np.ndarray]], gap: int = 4):  # noqa: F821
    """One uint8 RGB image: the panels left to right with a label above each."""
    import numpy as np
    from PIL import Image, ImageDraw

    h = max(p.shape[0] for _, p in panels)
    label_h = 14
    width = sum(p.shape[1] for _, p in panels) + gap * (len(panels) - 1)
    canvas = Image.new("RGB", (width, h + label_h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    x = 0
    for label, panel in panels:
        rgb = panel if panel.shape[-1] == 3 else np.repeat(panel, 3, axis=-1)
        canvas.paste(Image.fromarray(rgb), (x, label_h))
        draw.text((x + 2, 1), label, fill=(0, 0, 0))
        x += panel.shape[1] + gap
    return np.asarray(canvas)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from keras_sr import models
    from keras_sr.inference import BicubicUpscaler, load_upscaler, upscale_image
    from keras_sr.io import list_images, read_image, write_image
    from keras_sr.metrics.functional import psnr, ssim
    from keras_sr.ops import imresize

    names = args.models or [n for n in models.list() if models.has_weights(n)]
    if not names:
        raise ValueError("no preset with shipped weights is installed")
    upscalers = [load_upscaler(n) for n in names]
    scales = {u.scale for u in upscalers}
    if len(scales) != 1:
        raise ValueError(f"demo models must share one scale, got {sorted(scales)}")
    scale = scales.pop()
    files = [Path(f) for f in args.images] if args.images else list_images(ASSETS)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    bicubic = BicubicUpscaler(scale)
    methods = ["bicubic"] + names
    totals = {m: [] for m in methods}
    width = max(len(f.stem) for f in files)
    print(
        f"x{scale} super-resolution of {len(files)} photos; PSNR/SSIM on Y "
        f"({scale}-px border) against the original"
    )
    print(f"{'image':<{width}}  " + "  ".join(f"{m:>18}" for m in methods))
    for path in files:
        hr = read_image(path)
        h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
        hr = hr[:h, :w]
        lr = imresize(hr, scale=1.0 / scale).numpy()
        write_image(out / f"{path.stem}_lr.png", lr)
        results = {"bicubic": bicubic(lr)}
        for name, up in zip(names, upscalers, strict=False):
            results[name] = upscale_image(up, lr)[0]
        cells = []
        for m in methods:
            sr = results[m]
            write_image(out / f"{path.stem}_{m}.png", sr)
            y = hr.shape[-1] == 3
            p = float(psnr(hr, sr, crop_border=scale, y_channel=y))
            s = float(ssim(hr, sr, crop_border=scale, y_channel=y))
            totals[m].append((p, s))
            cells.append(f"{p:7.2f} dB / {s:.4f}")
        panels = [(m, results[m]) for m in methods] + [("original", hr)]
        write_image(out / f"{path.stem}_compare.png", side_by_side(panels))
        print(f"{path.stem:<{width}}  " + "  ".join(f"{c:>18}" for c in cells))
    means = [np.mean(totals[m], axis=0) for m in methods]
    print(
        f"{'mean':<{width}}  "
        + "  ".join(f"{f'{p:7.2f} dB / {s:.4f}':>18}" for p, s in means)
    )
    gains = ", ".join(
        f"{m} {means[i + 1][0] - means[0][0]:+.2f} dB" for i, m in enumerate(names)
    )
    print(f"gain over bicubic: {gains}")
    print(
        f"wrote the outputs and side-by-side images (bicubic | "
        f"{' | '.join(names)} | original) to {out}/"
    )
    return 0
