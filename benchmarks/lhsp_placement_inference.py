"""The shipped ``lhsp_x3`` weights evaluated with the pixel placement on (as
trained) and off (every LR feature at its cell centre), float and full-int8.

The same weights, so the comparison isolates what the edge-away displacement
of METHODS §8.3 does at inference; the full-int8 rows separate the int8 loss
of the placement offsets from that of the rest of the network, the
``float, int8 floor`` rows what the int8 export's raised Shepard denominator
floor (``ShepardUpsampling.int8_denominator_floor``, sized after the range
equalization of ``export/equalize.py``: ``export.tflite.int8_float_weights``)
costs in float, and
the ``no equalization`` rows the int8 export without that equalization. Set5 and
Set14 x3, y-first protocol (exactly ``keras-sr evaluate``). Writes
``benchmarks/results/lhsp_placement_inference.json``.

Usage::

    .venv/bin/python benchmarks/lhsp_placement_inference.py [--no-int8]
"""

from __future__ import annotations

import argparse
import contextlib

from _common import environment, setup, write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lhsp_x3")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-int8", dest="int8", action="store_false")
    args = parser.parse_args(argv)
    setup(args.threads)
    from train_lhsp import EVAL_SETS  # the LHSP study's Set5/Set14 (same data root)

    from export.common import model_info
    from export.runtime import TFLiteUpscaler
    from export.tflite import convert, int8_float_weights, representative_dataset
    from keras_sr import models
    from keras_sr.evaluation import evaluate_dataset
    from keras_sr.inference import KerasUpscaler

    rows = []
    for displacement in (True, False):
        model = models.get(args.preset, pretrained=True, displacement=displacement)
        runners = {"float (Keras)": (KerasUpscaler(model), contextlib.nullcontext())}
        if args.int8:
            calibration, _ = representative_dataset(1, model.scale)
            # what the int8 export's raised Shepard floor costs in float
            runners["float, int8 floor"] = (
                KerasUpscaler(model, name="floor"),
                int8_float_weights(model, calibration),
            )
            for label, equalize in (("", True), (", no equalization", False)):
                content, _ = convert(
                    model, model_info(model), "int8", calibration, equalize=equalize
                )
                runners[f"full-int8 TFLite{label}"] = (
                    TFLiteUpscaler("int8.tflite", model.scale, model_content=content),
                    contextlib.nullcontext(),
                )
        for runtime, (runner, context) in runners.items():
            row = {"placement": displacement, "runtime": runtime}
            with context:
                for name, folder in EVAL_SETS.items():
                    r = evaluate_dataset(runner, folder, model.scale, "y-first")
                    row[name] = {
                        "psnr": round(r["psnr"], 4),
                        "ssim": round(r["ssim"], 4),
                    }
            rows.append(row)
            print(
                f"placement {'on ' if displacement else 'off'} {runtime:35s} "
                f"Set5 {row['Set5']['psnr']:.2f} / {row['Set5']['ssim']:.4f}  "
                f"Set14 {row['Set14']['psnr']:.2f} / {row['Set14']['ssim']:.4f}",
                flush=True,
            )
    path = write_json(
        "lhsp_placement_inference",
        {"preset": args.preset, "environment": environment(args.threads), "rows": rows},
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
