"""Export matrix: every preset to every format and quantization, with parity,
size and latency side by side.

For each preset (shipped weights when the preset has them, else random
weights; recorded per row) the script exports:

* SavedModel, TFLite float32 / float16 / dynamic-range / int8 (and, when the
  graph has ``DEPTH_TO_SPACE``, the float32 transposed-conv variant), ONNX,
  and the TPU SavedModel (XLA, static ``--tpu-batch`` x ``--tpu-tile``);
* each through the library exporters, so every artifact passed (or failed)
  the same parity check as ``keras-sr export``; a failure is recorded with
  its reason and the matrix goes on.

Latency: one 256x256 LR input (Set5 ``baby`` downscaled by 2 with MATLAB
bicubic; Y for 1-channel models), 2 threads, median of ``--repeats`` runs
after one warm-up, in the same run for Keras (``tf.function``, no XLA),
the SavedModel (``tf.saved_model.load``), TFLite (ai-edge-litert, XNNPACK)
and onnxruntime (CPU EP), timed round-robin (one call of each runtime per
round) so that load changes on a shared machine hit all alike; speed is also
given as a ratio to Keras. The TPU
artifact's latency is not measured (XLA convolutions on this CPU say nothing
about a TPU).

Usage::

    nice -n 10 .venv/bin/python benchmarks/export_matrix.py \
        --presets espcn_x3 fsrcnn_x3 srcnn_x3

Prints the table and writes ``benchmarks/results/export_matrix.json`` and
``benchmarks/results/export_matrix.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
import traceback
from pathlib import Path

from _common import RESULTS, environment, setup, write_json

VARIANTS = (
    ("saved_model", "none", "depth_to_space"),
    ("tflite", "none", "depth_to_space"),
    ("tflite", "none", "transposed_conv"),
    ("tflite", "float16", "depth_to_space"),
    ("tflite", "dynamic", "depth_to_space"),
    ("tflite", "int8", "depth_to_space"),
    ("onnx", "none", "depth_to_space"),
    ("tpu", "none", "depth_to_space"),
)


def time_interleaved(runners: dict, x, repeats: int, max_seconds: float) -> dict:
    """Median latency of every runner, timed round-robin (one call of each in
    turn, ``repeats`` rounds with the order rotated, after one warm-up call
    each) so that changes in machine load hit all runtimes alike."""
    times: dict = {key: [] for key in runners}
    for fn in runners.values():
        fn(x)  # warm-up (allocation, XNNPACK packing, tracing)
    start = time.perf_counter()
    keys = list(runners)
    for r in range(repeats):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:  # rotate order
            t = time.perf_counter()
            runners[key](x)
            times[key].append(time.perf_counter() - t)
        if time.perf_counter() - start > max_seconds:
            break
    return {
        key: {"median_ms": 1e3 * statistics.median(v), "runs": len(v)}
        for key, v in times.items()
    }


def lr_input(channels: int, size: int):
    import numpy as np

    from keras_sr.io import read_image
    from keras_sr.ops.color import rgb_to_y
    from keras_sr.ops.resize import imresize
    from tests.helpers import SET5_HR

    lr = imresize(read_image(SET5_HR / "baby.png"), scale=0.5).numpy()
    if channels == 1:
        lr = rgb_to_y(lr).numpy()
    lr = np.tile(lr, (-(-size // lr.shape[0]), -(-size // lr.shape[1]), 1))
    return (lr[None, :size, :size] / 255.0).astype(np.float32)


def artifact_path(work: Path, preset: str, fmt: str, quant: str, ups: str) -> Path:
    stem = f"{preset}_{fmt}_{quant}" + ("_tconv" if ups == "transposed_conv" else "")
    return work / (stem + {"tflite": ".tflite", "onnx": ".onnx"}.get(fmt, ""))


def run_variant(model, name, fmt, quant, ups, args, work: Path) -> dict:
    """Export one variant (parity checked by the exporter); no timing."""
    import export
    from keras_sr import models

    row = {"preset": name, "format": fmt, "quantize": quant, "upsampler": ups}
    path = artifact_path(work, name, fmt, quant, ups)
    kwargs: dict = {"name": name}
    if fmt == "tflite":
        kwargs.update(quantize=quant, upsampler=ups)
        if quant == "int8" and models.has_weights(name, "int8"):
            # As `keras-sr export --quantize int8`: the int8-aware weights,
            # checked against them and against the float weights.
            kwargs["float_reference"] = model
            model = models.get(name, pretrained="int8")
            row["weights"] = "int8-aware"
    if fmt == "tpu":
        kwargs.update(batch=args.tpu_batch, tile=args.tpu_tile)
    start = time.perf_counter()
    try:
        report = export.export_model(model, fmt, str(path), **kwargs)
    except export.ParityError as err:
        row.update(status="parity failed", error=str(err), report=_slim(err.report))
        return row
    except Exception as err:  # noqa: BLE001 - record and go on
        row.update(status="export failed", error=f"{type(err).__name__}: {err}"[:800])
        return row
    row["export_seconds"] = time.perf_counter() - start
    row.update(status="ok", report=_slim(report), size_mb=report["size_bytes"] / 1e6)
    row["_path"] = str(path)
    return row


def _slim(report: dict) -> dict:
    keep = (
        "max_abs_diff",
        "threshold_max_abs_diff",
        "psnr",
        "ops",
        "gpu_delegate",
        "graph_rewrites",
        "failures",
        "passed",
        "xla",
        "tiled",
        "input",
    )
    return {k: report[k] for k in keep if k in report}


def parity_text(row: dict) -> str:
    if row["status"] == "export failed":
        return "export failed"
    rep = row.get("report", {})
    if "psnr" in rep:
        p = rep["psnr"]
        text = f"ΔPSNR {-p['drop_db']:+.3f} dB"
        if "vs_float_weights" in p:
            text += f" ({-p['vs_float_weights']['drop_db']:+.3f} vs float weights)"
    else:
        text = f"{rep.get('max_abs_diff', float('nan')):.1e}"
    return text + (" ✓" if rep.get("passed") else " ✗")


def markdown(rows: list[dict], keras: dict, skipped: dict, env: dict, args) -> str:
    lines = [
        "| preset | weights | artifact | parity vs Keras | size MB | latency ms "
        "(256x256, 2 thr) | speed vs Keras | documented GPU ops |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, k in keras.items():
        lines.append(
            f"| {name} | {k['weights']} | Keras (tf.function) | reference "
            f"(output std {k['output_std']:.2g}) | "
            f"{k['params'] * 4 / 1e6:.3f} | {k['latency']['median_ms']:.1f} | 1.00x | |"
        )
        for r in (r for r in rows if r["preset"] == name):
            label = r["format"] + (
                f" {r['quantize']}" if r["quantize"] != "none" else ""
            )
            if r["upsampler"] == "transposed_conv":
                label += " (tconv)"
            lat = r.get("latency", {}).get("median_ms")
            lat_s = (
                f"{lat:.1f}" if lat else ("XLA, n/a" if r["format"] == "tpu" else "")
            )
            ratio = f"{k['latency']['median_ms'] / lat:.2f}x" if lat else ""
            gpu = r.get("report", {}).get("gpu_delegate")
            gpu_s = ""
            if gpu:
                outside = gpu["ops_outside_documented_gpu_list"]
                gpu_s = (
                    "all listed" if not outside else "not listed: " + ", ".join(outside)
                )
            size = f"{r['size_mb']:.3f}" if "size_mb" in r else ""
            lines.append(
                f"| {name} | {k['weights']} | {label} | {parity_text(r)} | {size} | "
                f"{lat_s} | {ratio} | {gpu_s} |"
            )
    for name, why in skipped.items():
        lines.append(f"| {name} | | skipped | {why} | | | | |")
    head = (
        f"Measured by `benchmarks/export_matrix.py` on {env['cpu_count']} CPU cores "
        f"({env['threads']} threads, load average {env['load_average_at_start']:.1f} "
        f"at start; TF {env['tensorflow']}). Parity: max abs difference against "
        "Keras on real Set5 crops (thresholds 1e-5 SavedModel, 1e-4 float, 1e-2 "
        "float16), or for dynamic/int8 the Set5 PSNR change against Keras "
        "(allowed drop 0.3 dB). TPU: XLA-compiled static "
        f"{args.tpu_batch}x{args.tpu_tile} signature, run under XLA on this CPU "
        "for parity only."
    )
    if env.get("merged_from_previous_run"):
        head += (
            " Rows of "
            + ", ".join(env["merged_from_previous_run"])
            + " are kept from the previous run (`--merge`)."
        )
    head += "\n\n"
    return head + "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", help="default: every registered preset")
    p.add_argument(
        "--variants",
        nargs="+",
        help="subset of fmt[:quant[:upsampler]] (e.g. tflite:int8 onnx)",
    )
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--max-seconds", type=float, default=120.0)
    p.add_argument("--tpu-batch", type=int, default=1)
    p.add_argument("--tpu-tile", default="64x64")
    p.add_argument("--work", default="/tmp/keras_sr_export_matrix")
    p.add_argument("--keep-artifacts", action="store_true")
    p.add_argument("--name", default="export_matrix", help="results file stem")
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the previous JSON's rows of presets not run now",
    )
    args = p.parse_args(argv)

    setup(args.threads)
    import numpy as np
    import tensorflow as tf

    from export.runtime import load_artifact
    from keras_sr import models

    env = environment(args.threads)
    presets = args.presets or models.list()
    variants = VARIANTS
    if args.variants:
        wanted = [
            tuple((v.split(":") + ["none", "depth_to_space"])[:3])
            for v in args.variants
        ]
        variants = tuple(v for v in VARIANTS if v in wanted)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    keras_rows: dict = {}
    skipped: dict = {}
    for name in presets:
        try:
            pretrained = models.has_weights(name)
            model = models.get(name, pretrained=pretrained)
            x = lr_input(model.channels, args.size)
            fn = tf.function(lambda t, m=model: m(t, training=False))
            keras_rows[name] = {
                "weights": "pretrained" if pretrained else "random",
                "params": int(model.count_params()),
                "scale": int(model.scale),
                "channels": int(model.channels),
                # ~0 for random-weight models without a skip: parity is vacuous.
                "output_std": float(np.asarray(fn(x)).std()),
            }
        except Exception as err:  # noqa: BLE001 - a preset that fails is recorded
            skipped[name] = f"{type(err).__name__}: {err}"[:300]
            traceback.print_exc()
            continue
        print(f"{name} ({keras_rows[name]['weights']} weights)", flush=True)
        default_ops: dict = {}
        preset_rows = []
        for fmt, quant, ups in variants:
            if ups == "transposed_conv" and "DEPTH_TO_SPACE" not in default_ops:
                continue  # nothing to replace: identical to the default artifact
            row = run_variant(model, name, fmt, quant, ups, args, work)
            if (fmt, quant, ups) == ("tflite", "none", "depth_to_space"):
                default_ops = row.get("report", {}).get("ops", {})
            preset_rows.append(row)
            print(
                f"  {fmt:11s} {quant:8s} {ups:15s} {row['status']:14s} "
                f"{parity_text(row):24s}"
                + (f"  {row.get('error', '')[:160]}" if "error" in row else ""),
                flush=True,
            )
        # Latency: Keras and every artifact runtime, interleaved.
        runners = {"keras": lambda t, f=fn: np.asarray(f(t))}
        for i, row in enumerate(preset_rows):
            if row["status"] == "ok" and row["format"] != "tpu":
                try:
                    runners[i] = load_artifact(row["_path"])
                except Exception as err:  # noqa: BLE001
                    row["latency_error"] = f"{type(err).__name__}: {err}"[:400]
        latency = time_interleaved(runners, x, args.repeats, args.max_seconds)
        keras_rows[name]["latency"] = latency.pop("keras")
        for i, lat in latency.items():
            preset_rows[i]["latency"] = lat
        del runners
        for row in preset_rows:
            path = Path(row.pop("_path", "") or work / "none")
            if not args.keep_artifacts and path.exists():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            rows.append(row)
        k = keras_rows[name]["latency"]["median_ms"]
        print(
            f"  latency: Keras {k:.1f} ms; "
            + ", ".join(
                f"{r['format']} {r['quantize']}"
                + (" tconv" if r["upsampler"] == "transposed_conv" else "")
                + f" {r['latency']['median_ms']:.1f} ms"
                for r in preset_rows
                if "latency" in r
            ),
            flush=True,
        )
    if args.merge and (RESULTS / f"{args.name}.json").is_file():
        old = json.loads((RESULTS / f"{args.name}.json").read_text())
        kept = [p for p in old["presets_run"] if p not in keras_rows]
        keras_rows = {**{p: old["keras"][p] for p in kept}, **keras_rows}
        rows = [r for r in old["rows"] if r["preset"] in kept] + rows
        env = {**env, "merged_from_previous_run": kept}
    md = markdown(rows, keras_rows, skipped, env, args)
    print()
    print(md)
    payload = {
        "environment": env,
        "input": f"1x{args.size}x{args.size}xC float32 (Set5 baby, x1/2)",
        "threads": args.threads,
        "keras": keras_rows,
        "rows": rows,
        "skipped": skipped,
        "presets_run": list(keras_rows),
    }
    write_json(args.name, payload)
    from keras_sr.utils.atomic import atomic_write_bytes

    atomic_write_bytes(RESULTS / f"{args.name}.md", md.encode())
    print(f"wrote {RESULTS / (args.name + '.json')} and {args.name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
