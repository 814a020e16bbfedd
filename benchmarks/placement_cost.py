"""Cost of LHSP's learned interpolation (pixel placement + Shepard-normalised
deconvolution) against a plain ``Conv2DTranspose`` of the same size.

Both map the same LR features ``[B, h, w, 64]`` to HR features
``[B, h*s, w*s, 32]`` in one run, forward and forward+backward (gradients with
respect to the input and all weights), with ``tf.function`` (no XLA):

* ``placement_shepard``: ``placement_offsets`` (from the LR luma) +
  ``pixel_placement`` + ``ShepardUpsampling`` (depthwise ``(2s+1)^2`` softplus
  kernel on grid and mask, division, 1x1 mixing 64->32, ReLU), as in LHSP;
* ``conv2d_transpose``: ``Conv2DTranspose(32, 2s+1, strides=s)`` + ReLU.

The placement parts are also timed alone. Prints a table with the ratio
(placement+Shepard time / Conv2DTranspose time; > 1 means slower) and writes
``benchmarks/results/placement_cost.json``.

Usage:
    python benchmarks/placement_cost.py [--scale 3] [--batch 16] [--size 32]
        [--repeats 20] [--output FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_sr.layers import PixelPlacement, ShepardUpsampling  # noqa: E402
from keras_sr.ops import pixel_placement, placement_offsets  # noqa: E402
from keras_sr.utils import atomic_path  # noqa: E402

HERE = Path(__file__).resolve().parent


def _time(fn, repeats: int) -> float:
    fn()  # warm-up: tracing
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        _ = [np.asarray(o) for o in tf.nest.flatten(out)]  # wait for results
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=32, help="LR height = width")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--output", default=str(HERE / "results" / "placement_cost.json")
    )
    args = parser.parse_args()
    s, c, f = args.scale, args.features, args.filters
    k = 2 * s + 1

    rng = np.random.default_rng(0)
    shape = (args.batch, args.size, args.size)
    luma = tf.constant(rng.random((*shape, 1)).astype(np.float32))
    feats = tf.constant(rng.normal(size=(*shape, c)).astype(np.float32))

    placement = PixelPlacement(s)
    shepard = ShepardUpsampling(s, filters=f, activation="relu")
    shepard(placement([feats, luma]))  # build
    deconv = keras.layers.Conv2DTranspose(
        f, k, strides=s, padding="same", activation="relu"
    )
    deconv(feats)

    def lhsp_forward(x):
        return shepard(placement([x, luma]))

    def deconv_forward(x):
        return deconv(x)

    def with_backward(forward, weights):
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.square(forward(x)))
            return tape.gradient(loss, [x, *weights])

        return step

    fns = {
        "placement_shepard": (lhsp_forward, shepard.trainable_weights),
        "conv2d_transpose": (deconv_forward, deconv.trainable_weights),
    }
    results: dict[str, dict[str, float]] = {}
    for name, (fwd, weights) in fns.items():
        f_fwd = tf.function(fwd)
        f_bwd = tf.function(with_backward(fwd, weights))
        results[name] = {
            "forward_ms": _time(lambda f_fwd=f_fwd: f_fwd(feats), args.repeats),
            "forward_backward_ms": _time(
                lambda f_bwd=f_bwd: f_bwd(feats), args.repeats
            ),
            "params": int(sum(np.prod(w.shape) for w in weights)),
        }
    offsets = placement_offsets(luma, s)
    f_off = tf.function(lambda y: placement_offsets(y, s))
    f_place = tf.function(lambda x, o: pixel_placement(x, o, s))
    parts = {
        "placement_offsets_forward_ms": _time(lambda: f_off(luma), args.repeats),
        "pixel_placement_forward_ms": _time(
            lambda: f_place(feats, offsets), args.repeats
        ),
    }
    a, b = results["placement_shepard"], results["conv2d_transpose"]
    ratios = {
        "forward": a["forward_ms"] / b["forward_ms"],
        "forward_backward": a["forward_backward_ms"] / b["forward_backward_ms"],
    }

    print(
        f"LR {args.batch}x{args.size}x{args.size}x{c} -> HR x{s} ({f} channels), "
        f"kernel {k}x{k}, median of {args.repeats}, tf.function on CPU"
    )
    print(f"{'':22s}{'forward ms':>12s}{'fwd+bwd ms':>12s}{'params':>9s}")
    for name, r in results.items():
        print(
            f"{name:22s}{r['forward_ms']:12.2f}{r['forward_backward_ms']:12.2f}"
            f"{r['params']:9d}"
        )
    print(
        f"ratio placement+Shepard / Conv2DTranspose: forward {ratios['forward']:.2f}x, "
        f"forward+backward {ratios['forward_backward']:.2f}x"
    )
    print(
        f"of which placement_offsets {parts['placement_offsets_forward_ms']:.2f} ms, "
        f"pixel_placement {parts['pixel_placement_forward_ms']:.2f} ms (forward)"
    )

    report = {
        "benchmark": "placement_cost",
        "setting": {
            "scale": s,
            "batch": args.batch,
            "lr_size": args.size,
            "features": c,
            "filters": f,
            "kernel": k,
            "repeats": args.repeats,
            "statistic": "median milliseconds per call",
            "mode": "tf.function, no XLA, CPU",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "tensorflow": tf.__version__,
            "load_average": os.getloadavg(),
        },
        "results": results,
        "placement_parts": parts,
        "ratio_placement_shepard_over_conv2d_transpose": ratios,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
