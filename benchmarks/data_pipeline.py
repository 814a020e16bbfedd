"""Training-pair throughput: keras_sr's tf.data reader vs a plain Pillow/NumPy
loader doing the same work, side by side in one run.

Work per pair (x4, LR 24x24, HR 96x96, batch 16): pick an image, random crop
aligned on the LR grid, one of the 8 flips/rotations, bicubic LR, float32 in
[0, 1], stack into a batch. Data: T91 + BSD200 (the classic "291" set; images
whose side is < 96 px are left out by both loaders).

Loaders measured:

* ``reader``        - ``keras_sr.data.make_dataset`` with its defaults on
  TFRecords with raw pixels (the default encoding): ``cache="auto"`` decodes
  each image once into memory because this dataset (104 MiB) fits, then
  crops, flips/rotates and makes the MATLAB-exact uint8 bicubic LR in the
  graph for every pair;
* ``reader_stream`` - the same with ``cache=False``: every pair reads its
  record from disk again (the mode for datasets larger than the RAM);
* ``reader_png_stream`` - ``reader_stream`` on PNG-encoded TFRecords (the
  encoding measurement behind the default; see docs/data.md);
* ``reader_folder`` - ``make_folder_dataset(..., cache=True)`` on the image
  folders (decode once, then crops from memory);
* ``numpy_files``   - the baseline: a plain Python loop that opens each image
  file with Pillow per pair (as a typical ``Dataset.__getitem__`` does),
  crops/transposes with Pillow, makes the LR with Pillow's ``BICUBIC``
  (antialiased Keys a=-0.5, the closest Pillow has to MATLAB; it is C code
  and faster than an exact NumPy port), converts and stacks with NumPy;
* ``numpy_memory``  - the same loop on images decoded once into RAM (the best
  case for a single-process NumPy loader, and the fair partner of ``reader``).

The headline ratio is ``reader / numpy_files``: what a user gets from
``make_dataset`` as is against the plain loader a user would write; every
other ratio is printed too (``reader / numpy_memory`` compares like with
like: both decode once). Speed is reported as pairs/s (wall clock) and pairs
per CPU-second (process CPU time), i.e. per core actually used. Variants run
interleaved for ``--rounds`` rounds and the median is kept, because the
machine is shared.

Usage:
    python benchmarks/data_pipeline.py [--seconds 8] [--rounds 3]
        [--data-dir runs/bench_data] [--output benchmarks/results/data_pipeline.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(
    os.environ.get("KERAS_SR_SHARED_DATA", REPO.parent / "shared" / "data")
).resolve()
if str(REPO) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))
SOURCES = [SHARED / "train" / "T91", SHARED / "train" / "BSD200"]

SCALE, LR_PATCH, BATCH = 4, 24, 16
HR_PATCH = SCALE * LR_PATCH


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _combined_folder(data_dir: Path) -> Path:
    """A folder of symlinks to T91 + BSD200 (names do not collide)."""
    folder = data_dir / "sr291"
    folder.mkdir(parents=True, exist_ok=True)
    for src in SOURCES:
        for p in sorted(src.iterdir()):
            link = folder / p.name
            if not link.exists():
                link.symlink_to(p)
    return folder


def _ensure_records(folder: Path, out: Path, encoding: str) -> Path:
    from keras_sr.data import read_manifest
    from tfrecords_tools.build import build

    try:
        m = read_manifest(out)
        if m["params"]["encoding"] == encoding and m["inputs"] == len(
            list(folder.iterdir())
        ):
            return out
    except (FileNotFoundError, ValueError):
        pass
    print(f"building {encoding} TFRecords in {out} ...", flush=True)
    build(folder, out, encoding=encoding, num_shards=8, overwrite=True, progress=False)
    return out


# ----------------------------------------------------------------- baseline


def _pillow_pair(img: Image.Image, rng: np.random.Generator):
    w, h = img.size
    lh, lw = h // SCALE, w // SCALE
    y = int(rng.integers(0, lh - LR_PATCH + 1)) * SCALE
    x = int(rng.integers(0, lw - LR_PATCH + 1)) * SCALE
    hr = img.crop((x, y, x + HR_PATCH, y + HR_PATCH))
    k = int(rng.integers(0, 8))
    if k % 4:
        hr = hr.transpose(
            (
                Image.Transpose.ROTATE_90,
                Image.Transpose.ROTATE_180,
                Image.Transpose.ROTATE_270,
            )[k % 4 - 1]
        )
    if k >= 4:
        hr = hr.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    lr = hr.resize((LR_PATCH, LR_PATCH), Image.Resampling.BICUBIC)
    return np.asarray(lr, np.float32) / 255.0, np.asarray(hr, np.float32) / 255.0


def numpy_files_loader(paths: list[Path], seed: int = 0):
    rng = np.random.default_rng(seed)
    while True:
        lrs, hrs = [], []
        for _ in range(BATCH):
            with Image.open(paths[int(rng.integers(len(paths)))]) as img:
                lr, hr = _pillow_pair(img.convert("RGB"), rng)
            lrs.append(lr)
            hrs.append(hr)
        yield np.stack(lrs), np.stack(hrs)


def numpy_memory_loader(paths: list[Path], seed: int = 0):
    rng = np.random.default_rng(seed)
    images = []
    for p in paths:
        with Image.open(p) as img:
            images.append(img.convert("RGB"))
    while True:
        lrs, hrs = [], []
        for _ in range(BATCH):
            lr, hr = _pillow_pair(images[int(rng.integers(len(images)))], rng)
            lrs.append(lr)
            hrs.append(hr)
        yield np.stack(lrs), np.stack(hrs)


# ------------------------------------------------------------------- timing


def _measure(iterator, seconds: float, warmup_batches: int) -> dict:
    for _ in range(warmup_batches):
        next(iterator)
    n, t0, c0 = 0, time.perf_counter(), _cpu_seconds()
    while True:
        lr, hr = next(iterator)
        n += int(lr.shape[0])
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            break
    cpu = _cpu_seconds() - c0
    assert tuple(lr.shape) == (BATCH, LR_PATCH, LR_PATCH, 3), lr.shape
    assert tuple(hr.shape) == (BATCH, HR_PATCH, HR_PATCH, 3), hr.shape
    return {
        "pairs": n,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "pairs_per_s": n / elapsed,
        "pairs_per_cpu_s": n / max(cpu, 1e-9),
        "cores_used": cpu / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default=str(REPO / "runs" / "bench_data"))
    parser.add_argument(
        "--output", default=str(HERE / "results" / "data_pipeline.json")
    )
    args = parser.parse_args()

    import tensorflow as tf

    from keras_sr.data import make_dataset, make_folder_dataset
    from keras_sr.io import list_images
    from keras_sr.utils.atomic import atomic_write_bytes

    data_dir = Path(args.data_dir)
    folder = _combined_folder(data_dir)
    raw_dir = _ensure_records(folder, data_dir / "sr291_raw", "raw")
    png_dir = _ensure_records(folder, data_dir / "sr291_png", "png")
    paths = []
    for p in list_images(folder):
        with Image.open(p) as img:
            if min(img.size) >= HR_PATCH:
                paths.append(p)

    # tf.data datasets are built once (the folder cache lives with the dataset
    # object); each measurement opens a fresh iterator and drops it afterwards,
    # so an idle pipeline never prefetches while another loader is timed.
    # (T91's t20.bmp is smaller than the 96 px patch: both loaders leave it
    # out, so the readers' warning about it is silenced here.)
    warnings.filterwarnings("ignore", message=".*smaller than the HR patch.*")
    datasets = {
        "reader": make_dataset(raw_dir, SCALE, LR_PATCH, BATCH, seed=0),
        "reader_stream": make_dataset(
            raw_dir, SCALE, LR_PATCH, BATCH, seed=0, cache=False
        ),
        "reader_png_stream": make_dataset(
            png_dir, SCALE, LR_PATCH, BATCH, seed=0, cache=False
        ),
        "reader_folder": make_folder_dataset(
            folder, SCALE, LR_PATCH, BATCH, seed=0, cache=True
        ),
    }

    def tf_iter(ds):
        return (tuple(t.numpy() for t in b) for b in ds)

    variants = {name: (lambda n=name: tf_iter(datasets[n])) for name in datasets}
    variants["numpy_files"] = lambda: numpy_files_loader(paths)
    variants["numpy_memory"] = lambda: numpy_memory_loader(paths)
    # Fill the in-memory caches (one decode per image) before timing.
    for name in ("reader_folder", "reader"):
        it = variants[name]()
        for _ in range(2 * len(paths) // BATCH + 2):
            next(it)
        del it
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    load_before = os.getloadavg()
    for r in range(args.rounds):
        for name, make in variants.items():
            it = make()
            result = _measure(it, args.seconds, 10)
            del it
            runs[name].append(result)
            print(
                f"round {r + 1} {name:17s} {result['pairs_per_s']:8.1f} pairs/s  "
                f"{result['pairs_per_cpu_s']:8.1f} pairs/CPU-s  "
                f"({result['cores_used']:.2f} cores)",
                flush=True,
            )
    load_after = os.getloadavg()

    summary = {}
    for name, rs in runs.items():
        summary[name] = {
            "pairs_per_s": statistics.median(x["pairs_per_s"] for x in rs),
            "pairs_per_cpu_s": statistics.median(x["pairs_per_cpu_s"] for x in rs),
            "cores_used": statistics.median(x["cores_used"] for x in rs),
        }
    base = summary["numpy_files"]
    ratios = {
        f"{name}/numpy_files": summary[name]["pairs_per_s"] / base["pairs_per_s"]
        for name in summary
        if name != "numpy_files"
    }
    for a, b in (
        ("reader", "numpy_memory"),
        ("reader_folder", "numpy_memory"),
        ("reader", "reader_stream"),
        ("reader_stream", "reader_png_stream"),
    ):
        ratios[f"{a}/{b}"] = summary[a]["pairs_per_s"] / summary[b]["pairs_per_s"]
    per_cpu = {
        f"{name}/numpy_files": summary[name]["pairs_per_cpu_s"]
        / base["pairs_per_cpu_s"]
        for name in summary
        if name != "numpy_files"
    }
    per_cpu["reader/numpy_memory"] = (
        summary["reader"]["pairs_per_cpu_s"]
        / summary["numpy_memory"]["pairs_per_cpu_s"]
    )

    def disk(d: Path) -> int:
        return sum(p.stat().st_size for p in d.glob("data-*"))

    print()
    print(f"{'loader':17s} {'pairs/s':>9s} {'pairs/CPU-s':>12s} {'cores':>6s}")
    for name, s in summary.items():
        print(
            f"{name:17s} {s['pairs_per_s']:9.1f} {s['pairs_per_cpu_s']:12.1f} "
            f"{s['cores_used']:6.2f}"
        )
    print()
    for key, value in {**ratios}.items():
        print(f"speed ratio {key:28s} {value:6.2f}x")
    for key, value in per_cpu.items():
        print(f"per-CPU-s ratio {key:24s} {value:6.2f}x")
    print(
        f"TFRecords on disk: raw {disk(raw_dir) / 2**20:.1f} MiB, "
        f"png {disk(png_dir) / 2**20:.1f} MiB"
    )
    result = {
        "benchmark": "data_pipeline",
        "task": {
            "scale": SCALE,
            "lr_patch": LR_PATCH,
            "hr_patch": HR_PATCH,
            "batch": BATCH,
            "augment": "random LR-grid crop + 8 flips/rotations",
            "images": len(paths),
            "data": "T91 + BSD200 (sides >= 96 px)",
        },
        "baseline": (
            "single-process Python loop: Pillow open+decode per pair, Pillow "
            "crop/transpose, Pillow BICUBIC resize for the LR, NumPy float32 + stack"
        ),
        "summary": summary,
        "ratios_pairs_per_s": ratios,
        "ratios_pairs_per_cpu_s": per_cpu,
        "headline_ratio": ratios["reader/numpy_files"],
        "headline": (
            "reader (make_dataset defaults: raw TFRecords, cache='auto' decodes "
            "once) vs numpy_files (Pillow opens the file for every pair)"
        ),
        "bar_3x_met": {
            k: v >= 3.0 for k, v in ratios.items() if k.endswith("/numpy_files")
        },
        "bytes_on_disk": {"raw": disk(raw_dir), "png": disk(png_dir)},
        "rounds": runs,
        "seconds_per_measurement": args.seconds,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "tensorflow": tf.__version__,
            "pillow": Image.__version__,
        },
    }
    out = Path(args.output)
    atomic_write_bytes(out, (json.dumps(result, indent=2) + "\n").encode())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
