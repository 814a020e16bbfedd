"""Inference latency and output megapixels/s of every model preset.

Each preset (random weights; speed does not depend on them) upscales one
256x256 LR image (Y for Y models, RGB for RGB models) with 2 intra-op
threads; MATLAB bicubic (``keras_sr.ops.imresize``) on the same input is
timed in the same run as the reference, and each preset's time is also given
as a ratio to it. Heavy presets run fewer repetitions (``--max-seconds``).

Usage::

    nice -n 10 .venv/bin/python benchmarks/inference.py [--presets srcnn_x3 ...]

Prints a table and writes ``benchmarks/results/inference.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from _common import environment, merge_previous, setup, write_json


def time_call(fn, x, repeats: int, max_seconds: float) -> list[float]:
    times = []
    start = time.perf_counter()
    while len(times) < repeats:
        t = time.perf_counter()
        out = fn(x)
        _ = out.numpy() if hasattr(out, "numpy") else out
        times.append(time.perf_counter() - t)
        if time.perf_counter() - start > max_seconds:
            break
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", help="default: every registered preset")
    p.add_argument("--size", type=int, default=256, help="LR side (default 256)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--max-seconds",
        type=float,
        default=20.0,
        help="stop repeating a preset after this long (>= 1 run)",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of other presets from the existing JSON",
    )
    args = p.parse_args(argv)
    setup(args.threads)
    import numpy as np
    import tensorflow as tf

    from keras_sr import models
    from keras_sr.ops import imresize

    names = args.presets or models.list()
    n = args.size
    rng = np.random.default_rng(0)
    rows = []
    bicubic_ms = {}
    for name in names:
        model = models.get(name, pretrained=False)
        s, c = model.scale, model.channels
        x = tf.constant(rng.random((1, n, n, c)).astype("float32"))
        fn = tf.function(lambda t, m=model: m(t, training=False), reduce_retracing=True)
        fn(x[:, :32, :32])  # trace + build on a small input
        fn(x[:, :48, :48])  # retrace to dynamic H, W so the timed call is warm
        times = time_call(fn, x, args.repeats, args.max_seconds)
        latency = statistics.median(times)
        if (s, c) not in bicubic_ms:
            bic = tf.function(
                lambda t, s=s: imresize(t, scale=s), reduce_retracing=True
            )
            bic(x[:, :32, :32])
            bic(x[:, :48, :48])
            bicubic_ms[(s, c)] = 1000 * statistics.median(time_call(bic, x, 5, 10))
        out_mp = (n * s) ** 2 / 1e6
        row = {
            "preset": name,
            "scale": s,
            "channels": c,
            "params": int(model.count_params()),
            "lr_size": [n, n],
            "runs": len(times),
            "latency_ms": round(1000 * latency, 2),
            "output_mp_per_s": round(out_mp / latency, 3),
            "bicubic_latency_ms": round(bicubic_ms[(s, c)], 2),
            "ratio_to_bicubic": round(1000 * latency / bicubic_ms[(s, c)], 2),
        }
        rows.append(row)
        print(
            f"{name:<18} x{s} C{c} {row['params']:>11,d} params  "
            f"{row['latency_ms']:>10.1f} ms  {row['output_mp_per_s']:>8.3f} MP/s  "
            f"{row['ratio_to_bicubic']:>8.1f}x bicubic ({row['runs']} runs)",
            flush=True,
        )
        del model
    if args.merge:
        rows = merge_previous("inference", rows)
    path = write_json(
        "inference",
        {
            "benchmark": "inference",
            "environment": environment(args.threads),
            "results": rows,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
