"""``keras-sr export``: write a SavedModel, TFLite, ONNX or TPU artifact and
prove it matches the Keras model before reporting success."""

from __future__ import annotations

import argparse
import json
import sys

FORMATS = ("saved_model", "tflite", "onnx", "tpu")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a model to SavedModel/TFLite/ONNX/TPU, verified against Keras",
        description=(
            "Export a model and verify the artifact in its own runtime against "
            "the Keras model on real images (max abs diff <= 1e-5 SavedModel, "
            "<= 1e-4 float TFLite/ONNX/TPU, <= 1e-2 float16; dynamic/int8 lose "
            "<= 0.3 dB Set5 PSNR). A parity report (JSON) is written next to the "
            "artifact. On a parity failure the command exits with status 1 and "
            "writes nothing at the output path."
        ),
    )
    p.add_argument("--model", required=True, help="a preset name or a .keras file")
    p.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
    p.add_argument(
        "--output",
        required=True,
        help="artifact path: a .tflite / .onnx file, or a folder for "
        "saved_model and tpu",
    )
    p.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        default="none",
        help="TFLite only: float16 weights, dynamic-range int8 weights, or full "
        "int8 (default: none = float32)",
    )
    p.add_argument(
        "--calibration-data",
        help="folder of images for int8 calibration and for the parity crops "
        "(default: T91 for calibration, Set5 for parity, from ../shared/data)",
    )
    p.add_argument(
        "--eval-data",
        help="HR folder for the dynamic/int8 PSNR check (default: Set5)",
    )
    p.add_argument("--tile", default="64x64", help="TPU only: static LR tile HxW")
    p.add_argument("--batch", type=int, default=4, help="TPU only: static batch size")
    p.add_argument(
        "--bfloat16", action="store_true", help="TPU only: compute in bfloat16"
    )
    p.add_argument(
        "--upsampler",
        choices=("depth_to_space", "transposed_conv"),
        default="depth_to_space",
        help="TFLite only: transposed_conv writes pixel shuffle as a stride-r "
        "transposed convolution (same numbers) for GPU delegates without "
        "DEPTH_TO_SPACE",
    )
    p.add_argument(
        "--max-abs-diff",
        type=float,
        help="override the parity threshold (max abs difference vs Keras)",
    )
    p.add_argument(
        "--max-psnr-drop",
        type=float,
        default=0.3,
        help="allowed Set5 PSNR loss in dB for dynamic/int8 (default: 0.3)",
    )
    p.add_argument(
        "--no-pretrained",
        action="store_true",
        help="export a preset with freshly initialised weights (no shipped weights)",
    )
    p.add_argument("--json", action="store_true", help="print the full parity report")
    p.set_defaults(func=run)


def _check_flags(args: argparse.Namespace) -> None:
    if args.fmt != "tflite":
        if args.quantize != "none":
            raise ValueError(
                f"--quantize applies to --format tflite only (got {args.fmt}; "
                "use --bfloat16 for tpu)"
            )
        if args.upsampler != "depth_to_space":
            raise ValueError("--upsampler applies to --format tflite only")
    if args.fmt != "tpu" and args.bfloat16:
        raise ValueError("--bfloat16 applies to --format tpu only")
    if args.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {args.batch}")


def _summary(report: dict, output: str) -> list[str]:
    lines = [
        f"exported {report['model']} (x{report['scale']}, {report['channels']} ch) "
        f"-> {output} [{report['format']}, {report.get('quantize', 'none')}], "
        f"{report['size_bytes'] / 1e6:.3f} MB",
    ]
    threshold = report.get("threshold_max_abs_diff")
    limit = f" (threshold {threshold:g})" if threshold is not None else ""
    for c in report.get("checks", []):
        if "max_abs_diff" in c:
            lines.append(
                f"  parity {c['input_shape']}: max abs diff {c['max_abs_diff']:.3g}"
            )
    lines.append(f"  max abs diff vs Keras {report['max_abs_diff']:.3g}{limit}")
    if "psnr" in report:
        p = report["psnr"]
        lines.append(
            f"  Set5 PSNR ({p['protocol']}): Keras {p['keras_psnr']:.3f} dB, artifact "
            f"{p['artifact_psnr']:.3f} dB, drop {p['drop_db']:.3f} dB "
            f"(allowed {p['threshold_drop_db']:g})"
        )
        if "vs_float_weights" in p:
            f = p["vs_float_weights"]
            lines.append(
                "  int8-aware weights; against the float weights "
                f"({f['keras_psnr']:.3f} dB) the drop is {f['drop_db']:.3f} dB"
            )
    if "gpu_delegate" in report:
        g = report["gpu_delegate"]
        outside = g["ops_outside_documented_gpu_list"]
        lines.append(
            "  GPU delegate: analyzer "
            + ("compatible" if g["analyzer_compatible"] else "NOT compatible")
            + "; ops outside the documented GPU op list: "
            + (", ".join(outside) if outside else "none")
        )
        if g.get("depth_to_space_outside_documented_list"):
            lines.append(
                "  hint: --upsampler transposed_conv replaces DEPTH_TO_SPACE "
                "(same numbers)"
            )
    if "tiled" in report:
        t = report["tiled"]
        lines.append(
            f"  tiled run on {t['image_shape']} (margin {t['margin']}): max abs diff "
            f"{t['max_abs_diff']:.3g}"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    _check_flags(args)
    import export
    from export.common import has_int8_weights, report_path

    # An int8 TFLite export of a preset starts from its int8-aware weights
    # when it ships them, and is then also checked against the float weights.
    int8_weights = (
        args.fmt == "tflite"
        and args.quantize == "int8"
        and not args.no_pretrained
        and has_int8_weights(args.model)
    )
    pretrained = "int8" if int8_weights else not args.no_pretrained
    model = export.load_model(args.model, pretrained=pretrained)
    name = args.model.rsplit("/", 1)[-1]
    kwargs: dict = {"name": name, "max_abs_diff": args.max_abs_diff}
    if int8_weights:
        kwargs["float_reference"] = export.load_model(args.model)
    if args.fmt == "tflite":
        kwargs.update(
            quantize=args.quantize,
            calibration_data=args.calibration_data,
            eval_data=args.eval_data,
            upsampler=args.upsampler,
            max_psnr_drop=args.max_psnr_drop,
        )
    else:
        kwargs["parity_data"] = args.calibration_data
    if args.fmt == "tpu":
        kwargs.update(batch=args.batch, tile=args.tile, bfloat16=args.bfloat16)
    try:
        report = export.export_model(model, args.fmt, args.output, **kwargs)
    except export.ParityError as err:
        print(f"keras-sr: error: {err}", file=sys.stderr)
        if args.json:
            print(json.dumps(err.report, indent=2, default=str), file=sys.stderr)
        return 1
    except export.ExportError as err:
        print(f"keras-sr: error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(_summary(report, args.output)))
        print(f"  parity report: {report_path(args.output)}")
    return 0
