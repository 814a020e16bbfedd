"""Training throughput (images/s) of model presets at their usual batch and
LR patch size (the recipe defaults of ``keras_sr.training``), with the
recipe's loss and optimizer, measured with ``model.train_on_batch`` on
2 threads. The cheapest preset's images/s is the reference of the
``ratio_to_fastest`` column (all figures from the same run).

Usage::

    nice -n 10 .venv/bin/python benchmarks/train_step.py [--presets ...]

Prints a table and writes ``benchmarks/results/train_step.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from _common import environment, merge_previous, setup, write_json

MAIN_PRESETS = [
    "srcnn_x3",
    "fsrcnn_x3",
    "espcn_x3",
    "vdsr_x3",
    "glrl_x3",
    "srresnet_x4",
    "edsr_baseline_x4",
    "rrdbnet_x4",
    "edsr_x4",
]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--presets",
        nargs="+",
        default=MAIN_PRESETS,
        help="presets (default: the main preset of each family); 'all'",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5, help="timed steps (max)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=30.0,
        help="stop timing a preset after this long (>= 1 step)",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of other presets from the existing JSON",
    )
    args = p.parse_args(argv)
    setup(args.threads)
    import numpy as np

    from keras_sr import models
    from keras_sr.training import compile_model, default_config

    names = models.list() if args.presets == ["all"] else args.presets
    rows = []
    rng = np.random.default_rng(0)
    for name in names:
        cfg = default_config(name)
        model = models.get(name, pretrained=False)
        cfg.data.scale = model.scale
        compile_model(model, cfg)
        b, pch, s, c = (
            cfg.data.batch_size,
            cfg.data.lr_patch_size,
            model.scale,
            model.channels,
        )
        x = rng.random((b, pch, pch, c)).astype("float32")
        y = rng.random((b, pch * s, pch * s, c)).astype("float32")
        model.train_on_batch(x, y)  # trace + first step
        times = []
        start = time.perf_counter()
        while len(times) < args.steps:
            t = time.perf_counter()
            model.train_on_batch(x, y)
            times.append(time.perf_counter() - t)
            if time.perf_counter() - start > args.max_seconds:
                break
        step = statistics.median(times)
        rows.append(
            {
                "preset": name,
                "batch_size": b,
                "lr_patch": pch,
                "hr_patch": pch * s,
                "loss": cfg.loss,
                "optimizer": cfg.optimizer.name,
                "steps_timed": len(times),
                "step_ms": round(1000 * step, 2),
                "images_per_s": round(b / step, 2),
            }
        )
        r = rows[-1]
        print(
            f"{name:<18} batch {b:>3} patch {pch:>2}->{pch * s:<3} "
            f"{r['step_ms']:>10.1f} ms/step  {r['images_per_s']:>9.2f} img/s "
            f"({r['steps_timed']} steps)",
            flush=True,
        )
        del model
    if args.merge:
        rows = merge_previous("train_step", rows)
    fastest = max(r["images_per_s"] for r in rows)
    for r in rows:
        r["ratio_to_fastest"] = round(r["images_per_s"] / fastest, 4)
    path = write_json(
        "train_step",
        {
            "benchmark": "train_step",
            "environment": environment(args.threads),
            "results": rows,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
