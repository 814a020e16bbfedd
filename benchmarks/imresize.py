"""Time keras_sr.ops.imresize (MATLAB-exact bicubic) against Pillow's bicubic.

Both resize the same 512x512 RGB uint8 images in one run: x1/4 down (the SR
degradation) and x4 up. Reports ms per image and the ratio Pillow/keras_sr
(> 1 means keras_sr is faster). Pillow's BICUBIC (a = -0.5, with antialiasing
support) is *not* MATLAB-exact; the script also reports how many uint8 values
differ from MATLAB's result to show what the extra cost buys.

Usage:
    python benchmarks/imresize.py [--repeats 20] [--output FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from keras_sr.ops import imresize  # noqa: E402

HERE = Path(__file__).resolve().parent


def _time(fn, repeats: int) -> float:
    fn()  # warm-up (tracing, allocation)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--output", default=str(HERE / "results" / "imresize.json"))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:512, 0:512]
    smooth = (128 + 100 * np.sin(yy / 17.0) * np.cos(xx / 23.0))[..., None]
    img = np.clip(smooth + rng.normal(0, 20, (512, 512, 3)), 0, 255).astype(np.uint8)
    small = np.asarray(Image.fromarray(img).resize((128, 128), Image.BICUBIC))

    down_u8 = tf.function(lambda x: imresize(x, scale=0.25))
    up_u8 = tf.function(lambda x: imresize(x, scale=4))
    img_f = tf.constant(img.astype(np.float32) / 255.0)
    small_f = tf.constant(small.astype(np.float32) / 255.0)
    img_t, small_t = tf.constant(img), tf.constant(small)

    cases = {
        "down_x4_uint8": (
            lambda: down_u8(img_t).numpy(),
            lambda: Image.fromarray(img).resize((128, 128), Image.BICUBIC),
        ),
        "down_x4_float32": (
            lambda: down_u8(img_f).numpy(),
            lambda: Image.fromarray(img).resize((128, 128), Image.BICUBIC),
        ),
        "up_x4_uint8": (
            lambda: up_u8(small_t).numpy(),
            lambda: Image.fromarray(small).resize((512, 512), Image.BICUBIC),
        ),
        "up_x4_float32": (
            lambda: up_u8(small_f).numpy(),
            lambda: Image.fromarray(small).resize((512, 512), Image.BICUBIC),
        ),
    }
    results = {}
    print(f"{'case':<18} {'keras_sr ms':>12} {'Pillow ms':>10} {'Pillow/keras_sr':>16}")
    for name, (ours, pillow) in cases.items():
        t_ours = _time(ours, args.repeats)
        t_pil = _time(pillow, args.repeats)
        results[name] = {
            "keras_sr_ms": t_ours * 1e3,
            "pillow_ms": t_pil * 1e3,
            "ratio_pillow_over_keras_sr": t_pil / t_ours,
        }
        ratio = t_pil / t_ours
        print(f"{name:<18} {t_ours * 1e3:12.2f} {t_pil * 1e3:10.2f} {ratio:16.3f}")

    ours = down_u8(img_t).numpy()
    pil = np.asarray(Image.fromarray(img).resize((128, 128), Image.BICUBIC))
    differing = int(np.count_nonzero(ours != pil))
    print(
        f"uint8 values where Pillow differs from MATLAB-exact (x1/4): "
        f"{differing} of {ours.size}"
    )
    report = {
        "benchmark": "imresize_vs_pillow",
        "image": "512x512x3 uint8 (synthetic smooth + noise)",
        "repeats": args.repeats,
        "statistic": "median seconds per call",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "tensorflow": tf.__version__,
            "pillow": Image.__version__,
        },
        "results": results,
        "pillow_values_differing_from_matlab_down_x4": differing,
        "values_total": int(ours.size),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
