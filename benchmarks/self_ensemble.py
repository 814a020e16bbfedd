"""Geometric self-ensemble (``--self-ensemble``) on the shipped weights.

For every preset with shipped weights (or ``--presets``), evaluates Set5 and
Set14 (y-first protocol, what ``keras-sr evaluate`` runs) with the plain model
and with the mean over 8 flipped/transposed copies
(:class:`keras_sr.inference.SelfEnsembleUpscaler`), side by side in one run,
and reports the PSNR/SSIM gain and the wall-time ratio. Prints a table and
writes ``benchmarks/results/self_ensemble.json``.

Usage::

    .venv/bin/python benchmarks/self_ensemble.py --threads 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from _common import REPO, environment, setup, write_json

DATA = Path(os.environ.get("KERAS_SR_SHARED_DATA", REPO.parent / "shared" / "data"))
SETS = {name: DATA / "test" / name / "HR" for name in ("Set5", "Set14")}
SHIPPED = ["espcn_x3", "fsrcnn_x3", "lhsp_x3", "srcnn_x3"]


def measure(preset: str, transforms: int) -> dict:
    from keras_sr.evaluation import evaluate_dataset
    from keras_sr.inference import load_upscaler

    upscaler = load_upscaler(preset, self_ensemble=transforms)
    row = {}
    for name, folder in SETS.items():
        upscaler(np.zeros((1, 24, 24, 1), np.float32))  # warm-up (load, build)
        t0 = time.perf_counter()
        r = evaluate_dataset(upscaler, folder, upscaler.scale, "y-first")
        row[name] = {
            "psnr": round(r["psnr"], 4),
            "ssim": round(r["ssim"], 5),
            "seconds": round(time.perf_counter() - t0, 3),
        }
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=SHIPPED)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    setup(args.threads)
    rows = []
    print(
        f"{'preset':<12} {'set':<6} {'plain':>16} {'x8 ensemble':>16} "
        f"{'dPSNR':>7} {'time':>6}"
    )
    for preset in args.presets:
        plain, ens = measure(preset, 1), measure(preset, 8)
        for name in SETS:
            p, e = plain[name], ens[name]
            ratio = e["seconds"] / p["seconds"]
            print(
                f"{preset:<12} {name:<6} {p['psnr']:8.4f}/{p['ssim']:.4f} "
                f"{e['psnr']:8.4f}/{e['ssim']:.4f} {e['psnr'] - p['psnr']:+7.3f} "
                f"{ratio:5.1f}x",
                flush=True,
            )
            rows.append(
                {
                    "preset": preset,
                    "set": name,
                    "plain": p,
                    "self_ensemble_8": e,
                    "delta_psnr": round(e["psnr"] - p["psnr"], 4),
                    "delta_ssim": round(e["ssim"] - p["ssim"], 5),
                    "time_ratio": round(ratio, 2),
                }
            )
    path = write_json(
        "self_ensemble",
        {
            "command": "benchmarks/self_ensemble.py --threads "
            f"{args.threads} --presets {' '.join(args.presets)}",
            "protocol": "y-first (keras-sr evaluate), shave = scale",
            "environment": environment(args.threads),
            "results": rows,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
