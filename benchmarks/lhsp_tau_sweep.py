"""Sweep the placement threshold ``tau`` of LHSP (METHODS §8.3) at inference
on fixed weights, and select it on training images, never on the test sets.

``tau`` sets how strong the LR gradient must be before a pixel moves: at x3 a
pixel moves one HR pixel where ``clip(m / tau, 0, 1) * |d| >= 0.5``, i.e.
where a central difference ``y(i+1) - y(i-1)`` reaches ``tau`` (the METHODS
guess is ``tau = 0.1``, 25.5 levels of 255). The grid is ``(k + 0.5) / 255``:
half-level thresholds, so that no 8-bit edge sits on the rounding boundary.
The weights stay the same in every row; only the offsets change, so the sweep
isolates which pixels are worth moving. Selection set: every 5th image of
``train/BSD200`` (40 images, x3, y-first protocol; images the model was
trained on, the only data this study may tune on). Set5/Set14 are reported
beside it for every ``tau`` and play no part in the choice. ``tau = inf`` is
placement off (all offsets at the cell centre).

Writes ``benchmarks/results/lhsp_tau_sweep.json``.

Usage (the weights the selection was made on: the 240,000-step
``lhsp_residual`` row of ``benchmarks/lhsp_study.py``, trained at tau 0.1)::

    .venv/bin/python benchmarks/lhsp_tau_sweep.py \\
        --model runs/long240k/lhsp_residual/model.keras
"""

from __future__ import annotations

import argparse
import math

from _common import environment, setup, write_json

#: half-level thresholds (k + 0.5) / 255: no 8-bit edge on the rounding
#: boundary of the offsets (``placement_offsets``' tau); 25.5 is METHODS' 0.1
LEVELS = (25.5, 38.5, 50.5, 63.5, 76.5, 101.5, 152.5, 254.5)
TAUS = (*(k / 255 for k in LEVELS), math.inf)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default=None,
        help="a saved LHSP .keras file (default: the shipped lhsp_x3 weights)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--every", type=int, default=5, help="BSD200 subsampling")
    args = parser.parse_args(argv)
    setup(args.threads)
    import keras
    import numpy as np
    from train_lhsp import BSD200, EVAL_SETS

    from keras_sr import models
    from keras_sr.evaluation import evaluate_dataset, evaluate_image
    from keras_sr.inference import KerasUpscaler
    from keras_sr.io import list_images, read_image

    if args.model:
        source = keras.saving.load_model(args.model, compile=False)
        weights, scale = source.get_weights(), source.scale
        config = source.get_config()
    else:
        source = models.get("lhsp_x3", pretrained=True)
        weights, scale, config = source.get_weights(), 3, source.get_config()
    selection = list_images(BSD200)[:: args.every]
    images = [(p.name, read_image(p)) for p in selection]
    rows = []
    for tau in TAUS:
        overrides = {"tau": tau} if math.isfinite(tau) else {"displacement": False}
        model = models.LHSP(**{**config, **overrides})
        model.build((None, None, None, 1))
        model.set_weights(weights)
        upscaler = KerasUpscaler(model, name=f"tau={tau}")
        val = [evaluate_image(upscaler, hr, scale, "y-first", n)[0] for n, hr in images]
        row = {
            "tau": tau if math.isfinite(tau) else "inf (placement off)",
            "levels": round(tau * 255, 2) if math.isfinite(tau) else None,
            "selection_psnr": round(float(np.mean([r.psnr for r in val])), 4),
        }
        for name, folder in EVAL_SETS.items():
            r = evaluate_dataset(upscaler, folder, scale, "y-first")
            row[name] = {"psnr": round(r["psnr"], 4), "ssim": round(r["ssim"], 5)}
        rows.append(row)
        print(
            f"tau {str(row['levels']) + '/255' if row['levels'] else 'off':10s} "
            f"BSD200/{args.every} {row['selection_psnr']:.4f}"
            f"  Set5 {row['Set5']['psnr']:.4f}  Set14 {row['Set14']['psnr']:.4f}",
            flush=True,
        )
    best = max(rows, key=lambda r: r["selection_psnr"])
    print(f"selected on BSD200/{args.every}: tau = {best['tau']}")
    path = write_json(
        "lhsp_tau_sweep",
        {
            "model": args.model or "lhsp_x3 (shipped)",
            "trained_tau": config["tau"],
            "scale": scale,
            "selection_set": f"train/BSD200, every {args.every}th image "
            f"({len(images)} images), x{scale} y-first",
            "selected_tau": best["tau"],
            "environment": environment(args.threads),
            "rows": rows,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
