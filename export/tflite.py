"""TFLite export (float32, float16, dynamic-range, full int8), verified in
ai-edge-litert against Keras.

The model is first written as a SavedModel whose ``serving_default`` has the
input signature ``[None, None, None, C]`` and converted with
``TFLiteConverter.from_saved_model`` (converting a concrete function of a
Keras 3 model leaves its variables as ``VAR_HANDLE`` and gives NaN; see
``STACK.md``). The artifact has one input, float32 ``[1, h, w, C]`` in [0, 1]
(NHWC; ``resize_tensor_input`` changes batch, h and w), and one output,
float32 ``[1, h*s, w*s, C]``. Only builtin ops are allowed: the converter
runs without Select TF ops and the flatbuffer's op list is checked again for
``Flex*`` / custom ops.

Quantization:

``none``     float32; parity max abs diff <= 1e-4.
``float16``  float16 weights; parity <= 1e-2.
``dynamic``  int8 weights, float activations (dynamic-range); Set5 PSNR may
             drop by at most 0.3 dB.
``int8``     int8 weights and activations, float32 I/O with QUANTIZE /
             DEQUANTIZE at the edges; calibrated on LR crops of
             ``calibration_data`` (default: T91 from the shared data);
             Set5 PSNR may drop by at most 0.3 dB. Conv2D + PReLU pairs
             (FSRCNN) are converted as one conv with fused ReLU
             (:func:`export.qat.split_prelu_model`, same float numbers):
             one int8 rounding per layer instead of two. LHSP's per-channel
             ranges are equalized first (:mod:`export.equalize`, same float
             numbers), so no channel is left with a few int8 levels.

``upsampler="transposed_conv"`` traces every ``depth_to_space`` as a stride-r
transposed convolution with a 0/1 kernel (same numbers), for GPU delegates
whose op list has ``TRANSPOSE_CONV`` but not ``DEPTH_TO_SPACE``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from export.common import (
    QUANTIZATIONS,
    ExportError,
    ModelInfo,
    base_report,
    committed_file,
    model_info,
    output_file,
)
from export.equalize import equalized_lhsp
from export.parity import (
    MAX_ABS_DIFF,
    MAX_PSNR_DROP_DB,
    find_images,
    load_lr_images,
    parity_inputs,
    psnr_drop,
    run_parity,
)
from export.qat import split_prelu_model
from export.upsampler import portable_graph
from keras_sr.models.presets import INT8_RANGES_ATTR

__all__ = [
    "DOCUMENTED_GPU_OPS",
    "convert",
    "export_tflite",
    "gpu_compatibility",
    "representative_dataset",
    "tflite_ops",
]

UPSAMPLERS = ("depth_to_space", "transposed_conv")

# Builtin ops in the "GPU ML operations support" list of the TFLite GPU
# delegate guide (float16/float32; QUANTIZE/DEQUANTIZE for quantized models).
# The list is older and narrower than the current delegate's own rules (which
# accept DEPTH_TO_SPACE and TANH, for instance) and is what older delegate
# builds and other accelerators tend to support.
DOCUMENTED_GPU_OPS = frozenset(
    {
        "ADD",
        "AVERAGE_POOL_2D",
        "CONCATENATION",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "EXP",
        "FULLY_CONNECTED",
        "LOGICAL_AND",
        "LOGISTIC",
        "LSTM",
        "MAX_POOL_2D",
        "MAXIMUM",
        "MINIMUM",
        "MUL",
        "PAD",
        "PRELU",
        "RELU",
        "RELU6",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "SOFTMAX",
        "STRIDED_SLICE",
        "SUB",
        "TRANSPOSE_CONV",
        "QUANTIZE",
        "DEQUANTIZE",
    }
)
# Integer shape bookkeeping in front of a dynamic-size TRANSPOSE_CONV: constant
# once the input size is fixed, so not a reason for a CPU fallback.
SHAPE_OPS = frozenset({"SHAPE", "PACK", "STRIDED_SLICE", "MUL"})


# --------------------------------------------------------------------------
# Flatbuffer inspection
# --------------------------------------------------------------------------


def tflite_ops(content: bytes) -> dict[str, int]:
    """``{op name: count}`` over all subgraphs of a flatbuffer; custom ops
    (``Flex*`` included) appear under their custom code."""
    from ai_edge_litert import schema_py_generated as schema

    names = {
        v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")
    }
    model = schema.Model.GetRootAs(content, 0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            codes.append((oc.CustomCode() or b"CUSTOM").decode())
        else:
            codes.append(names.get(code, f"BUILTIN_{code}"))
    counts: Counter[str] = Counter()
    for g in range(model.SubgraphsLength()):
        sub = model.Subgraphs(g)
        for j in range(sub.OperatorsLength()):
            counts[codes[sub.Operators(j).OpcodeIndex()]] += 1
    return dict(sorted(counts.items()))


def non_builtin_ops(ops: dict[str, int]) -> list[str]:
    """Flex (Select TF) and custom ops in an op list."""
    from ai_edge_litert import schema_py_generated as schema

    builtin = {k for k in vars(schema.BuiltinOperator) if not k.startswith("_")}
    return sorted(op for op in ops if op not in builtin or op == "CUSTOM")


def gpu_compatibility(content: bytes, ops: dict[str, int] | None = None) -> dict:
    """GPU-delegate compatibility of a flatbuffer, checked offline two ways.

    ``analyzer_compatible``: TFLite's analyzer
    (``tf.lite.experimental.Analyzer.analyze(gpu_compatibility=True)``), i.e.
    the current delegate's rules. Measured on the TF 2.21 / LiteRT 2.3 wheels,
    it also calls a model with a Flex op compatible, so it is recorded but
    not trusted alone (the export itself guarantees builtin ops only).

    ``ops_outside_documented_gpu_list``: ops missing from the GPU delegate
    guide's op list (:data:`DOCUMENTED_GPU_OPS`), the conservative view for
    older delegates; ``DEPTH_TO_SPACE`` there is what
    ``upsampler="transposed_conv"`` removes.
    """
    ops = tflite_ops(content) if ops is None else ops
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        tf.lite.experimental.Analyzer.analyze(
            model_content=content, gpu_compatibility=True
        )
    text = buf.getvalue()
    warnings = [ln.strip() for ln in text.splitlines() if "GPU COMPATIBILITY" in ln]
    outside = sorted(op for op in ops if op not in DOCUMENTED_GPU_OPS | SHAPE_OPS)
    return {
        "analyzer_compatible": "looks compatible with GPU delegate" in text
        and not warnings,
        "analyzer_warnings": warnings,
        "ops_outside_documented_gpu_list": outside,
        "depth_to_space_outside_documented_list": "DEPTH_TO_SPACE" in outside,
    }


# --------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------


def representative_dataset(
    channels: int,
    scale: int,
    images_dir: str | os.PathLike | None = None,
    num_samples: int = 48,
    crop: int = 64,
    seed: int = 0,
) -> tuple[list[np.ndarray], str]:
    """LR calibration crops ``[1, crop, crop, C]`` float32 in [0, 1].

    Images of ``images_dir`` (default: T91 in the shared data) are
    downscaled by ``scale`` with MATLAB bicubic, as the evaluation LR inputs
    are, and random crops are drawn with a fixed seed.
    """
    folder = find_images(images_dir, default="train/T91")
    from keras_sr.io import list_images

    files = list_images(folder)
    # Spread the images over the calibration set, at most num_samples of them.
    step = max(1, len(files) // num_samples)
    images = load_lr_images(
        folder, channels, factor=scale, files=files[::step][:num_samples]
    )
    if not images:
        raise FileNotFoundError(f"{folder}: no calibration images")
    rng = np.random.default_rng(seed)
    samples = []
    for k in range(num_samples):
        img = images[k % len(images)]
        h, w = img.shape[:2]
        ch, cw = min(crop, h), min(crop, w)
        y = int(rng.integers(0, h - ch + 1))
        x = int(rng.integers(0, w - cw + 1))
        samples.append(img[None, y : y + ch, x : x + cw].astype(np.float32))
    return (
        samples,
        f"{num_samples} random {crop}x{crop} LR crops of {len(images)} images "
        f"of {folder}",
    )


def _write_float_saved_model(
    model, info: ModelInfo, path: Path, upsampler: str
) -> list[str]:
    from export.saved_model import write_saved_model

    if upsampler not in UPSAMPLERS:
        raise ValueError(f"upsampler must be one of {UPSAMPLERS}, got {upsampler!r}")
    with portable_graph(upsampler) as rewrites:
        write_saved_model(model, info, path, signatures=("serving_default",))
    return rewrites


def convert(
    model,
    info: ModelInfo,
    quantize: str = "none",
    calibration: list[np.ndarray] | None = None,
    upsampler: str = "depth_to_space",
    equalize: bool = True,
) -> tuple[bytes, list[str]]:
    """Keras model -> ``(TFLite flatbuffer bytes, graph rewrites made)``,
    builtin ops only. ``equalize=False`` skips the LHSP int8 range
    equalization (:mod:`export.equalize`; for comparisons)."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    if quantize == "int8" and not calibration:
        raise ValueError("int8 quantization needs calibration images")
    split = quantize == "int8" and split_prelu_applies(model)
    graph = split_prelu_model(model) if split else model
    with tempfile.TemporaryDirectory(prefix="keras_sr_tflite_") as tmp:
        sm = Path(tmp) / "saved_model"
        twin = (
            int8_float_weights(graph, calibration if equalize else [])
            if quantize == "int8"
            else contextlib.nullcontext([])
        )
        with twin as int8_rewrites:
            rewrites = _write_float_saved_model(graph, info, sm, upsampler)
        rewrites += int8_rewrites
        if split:
            rewrites.append(
                "each Conv2D + PReLU as one Conv2D with kernel [W, -W] and fused "
                "ReLU, the slopes folded into the next conv (export/qat.py "
                "split_prelu_model): one int8 rounding per layer instead of two"
            )
        converter = tf.lite.TFLiteConverter.from_saved_model(os.fspath(sm))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantize == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

            def gen() -> Iterator[list[np.ndarray]]:
                for sample in calibration:
                    yield [sample]

            converter.representative_dataset = gen
        try:
            ranges = (
                _chain_ranges(model, calibration, split) if quantize == "int8" else None
            )
            if ranges:
                content = _quantize_with_ranges(converter, ranges)
                if content is not None:
                    rewrites.append(
                        "int8 activation ranges learned with the int8-aware weights"
                        if getattr(model, INT8_RANGES_ATTR, None)
                        else "int8 activation ranges searched on the calibration "
                        "crops (export/qat.py)"
                    )
                    return content, rewrites
                converter._experimental_calibrate_only = False  # noqa: SLF001
            return converter.convert(), rewrites
        except Exception as err:  # the converter raises assorted types
            raise ExportError(
                f"TFLite conversion ({quantize}) with builtin ops only failed: "
                f"{_converter_error_summary(str(err))}"
            ) from err


@contextlib.contextmanager
def int8_float_weights(
    model: keras.Model, calibration: list[np.ndarray]
) -> Iterator[list[str]]:
    """Within the block ``model`` is the float twin of its int8 export: LHSP
    range equalization (:mod:`export.equalize`, skipped with no
    ``calibration``) and the int8-safe Shepard floors, both undone on exit.
    Yields the rewrites as the export reports them."""
    with (
        equalized_lhsp(model, calibration) as equalized,
        int8_safe_shepard(model) as floors,
    ):
        yield equalized + [
            f"{name}: Shepard denominator floor {old:g} -> {new:.3g} "
            "(int8-representable, ShepardUpsampling.int8_denominator_floor)"
            for name, old, new in floors
        ]


@contextlib.contextmanager
def int8_safe_shepard(model) -> Iterator[list[tuple[str, float, float]]]:
    """Within the block, every depthwise ``ShepardUpsampling`` of ``model``
    divides by at least its :meth:`~keras_sr.layers.ShepardUpsampling.
    int8_denominator_floor`, so no int8 denominator rounds to the DIV zero
    point (the int8 DIV kernel aborts on one). Yields ``(layer, old floor, new
    floor)`` for the layers changed; the floors are restored on exit."""
    from keras_sr.layers import ShepardUpsampling

    changed = []
    for layer in model._flatten_layers(include_self=False):  # noqa: SLF001
        if isinstance(layer, ShepardUpsampling) and layer.mode == "depthwise":
            floor = layer.int8_denominator_floor()
            if floor > layer.denominator_floor:
                changed.append((layer, layer.denominator_floor, floor))
    try:
        for layer, _, floor in changed:
            layer.denominator_floor = floor
        yield [(layer.name, old, new) for layer, old, new in changed]
    finally:
        for layer, old, _ in changed:
            layer.denominator_floor = old


def split_prelu_applies(model) -> bool:
    """Whether the int8 export rewrites ``model``'s Conv2D + PReLU pairs with
    :func:`export.qat.split_prelu_model`: it is a chain with such pairs that
    the rewrite accepts, and it carries no int8 activation ranges learned for
    the unrewritten graph (ranges of ``PReLU`` outputs: weights fine-tuned
    with ``Int8Simulator(model)`` rather than ``split_prelu=True``)."""
    from export.qat import Int8Simulator

    try:
        simulator = Int8Simulator(model, split_prelu=True)
    except ValueError:
        return False
    prelus = {
        layer.name
        for layer in simulator.layers
        if isinstance(layer, keras.layers.PReLU)
    }
    learned = getattr(model, INT8_RANGES_ATTR, None) or {}
    return bool(prelus) and not prelus & set(learned)


def _chain_ranges(
    model, calibration: list[np.ndarray], split_prelu: bool = False
) -> list[tuple] | None:
    """For conv chains (FSRCNN, ESPCN, ...): the activation ranges chosen by
    :meth:`export.qat.Int8Simulator.search_ranges` for the tensors inside the
    network, in graph order (of the :func:`export.qat.split_prelu_model` twin
    with ``split_prelu``); ``None`` for other models."""
    from export.qat import Int8Simulator

    try:
        simulator = Int8Simulator(model, split_prelu=split_prelu)
    except ValueError:
        return None
    simulator.calibrate(calibration)
    learned = getattr(model, INT8_RANGES_ATTR, None)
    if learned:  # int8-aware weights trained with their ranges
        simulator.set_ranges({k: learned[k] for k in simulator.inner_keys()})
        chosen = simulator.get_ranges()
    else:
        chosen = simulator.search_ranges(calibration)
    return [(key, tuple(chosen[key])) for key in simulator.inner_keys()]


# Ops whose outputs are the simulator's quantisation points, in graph order.
_POINT_OPS = ("CONV_2D", "TRANSPOSE_CONV", "PRELU")


def _quantize_with_ranges(converter, ranges: list[tuple]) -> bytes | None:
    """Calibrate, overwrite the min/max statistics of the inner tensors with
    ``ranges`` and quantise (the TFLite converter's own two steps, as its
    ``QuantizationDebugger`` runs them). ``None`` if the graph's point ops do
    not line up with ``ranges`` (the caller then converts as usual)."""
    from tensorflow.lite.python import convert as tfl_convert
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True  # noqa: SLF001
    calibrated = converter.convert()
    fb = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
    graph = fb.subgraphs[0]
    outputs = []
    for op in graph.operators:
        code = fb.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if names.get(builtin) in _POINT_OPS:
            outputs.append(op.outputs[0])
    # The simulator's points: every conv / PReLU output; inner = all but last.
    if len(outputs) != len(ranges) + 1:
        return None
    for index, (_key, (lo, hi)) in zip(outputs[:-1], ranges, strict=True):
        q = graph.tensors[index].quantization
        if q is None or q.min is None or q.max is None:
            return None
        q.min = np.array([lo], np.float32)
        q.max = np.array([hi], np.float32)
    edited = flatbuffer_utils.convert_object_to_bytearray(fb)
    return tfl_convert.mlir_quantize(
        bytes(edited), disable_per_channel=False, fully_quantize=False
    )


def _converter_error_summary(text: str) -> str:
    """One line out of the converter's (very long) MLIR error text."""
    ops = sorted(
        set(re.findall(r"'(tf\.\w+)' op is neither a custom op nor a flex op", text))
    )
    if ops:
        return f"ops without a TFLite builtin kernel: {', '.join(ops)}"
    for line in text.splitlines():
        if "error:" in line:
            return line.split("error:", 1)[1].strip()[:500]
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else "unknown error"


def export_tflite(
    model,
    path: str | os.PathLike,
    *,
    quantize: str = "none",
    calibration_data: str | os.PathLike | None = None,
    parity_data: str | os.PathLike | None = None,
    eval_data: str | os.PathLike | None = None,
    upsampler: str = "depth_to_space",
    max_abs_diff: float | None = None,
    max_psnr_drop: float = MAX_PSNR_DROP_DB,
    name: str | None = None,
    float_reference=None,
) -> dict:
    """Export ``model`` to a ``.tflite`` file and prove it matches Keras.

    Args:
        model: keras.Model. LR ``[B,h,w,C]`` float32 in [0,1] -> SR.
        path: str. Output file ending in ``.tflite``.
        quantize: str. ``none``, ``float16``, ``dynamic`` or ``int8``.
        calibration_data: str. Image folder for int8 calibration. Defaults to
            T91 from the shared data.
        parity_data: str. Image folder for the parity crops. Defaults to
            ``calibration_data`` if given, else Set5.
        eval_data: str. HR folder for the PSNR check of ``dynamic`` / ``int8``.
            Defaults to Set5.
        upsampler: str. ``depth_to_space`` or ``transposed_conv`` (see the
            module docstring).
        max_abs_diff: float. Parity threshold for float exports. Defaults to
            1e-4 (float32) / 1e-2 (float16).
        max_psnr_drop: float. Allowed Set5 PSNR loss (dB) for ``dynamic`` and
            ``int8``. Defaults to 0.3.
        name: str. Model name for the report.
        float_reference: keras.Model. For ``dynamic`` / ``int8`` exports of
            int8-aware weights (``keras_sr.models.get(name, pretrained="int8")``):
            the float model they were fine-tuned from. The Set5 PSNR drop is
            then also measured against it (``report["psnr"]["vs_float_weights"]``)
            and must also be within ``max_psnr_drop``.

    Returns:
        The parity report, also written to ``<path>.parity.json``.

    Raises:
        export.ParityError: the artifact fails parity; nothing is written.
        export.ExportError: conversion failed or produced non-builtin ops.

    Example:
        >>> export_tflite(model, "x3.tflite", quantize="int8")  # doctest: +SKIP
    """
    from export.runtime import TFLiteUpscaler
    from keras_sr.inference import KerasUpscaler

    path = output_file(path, ".tflite")
    info = model_info(model, name)
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    float_export = quantize in ("none", "float16")
    if max_abs_diff is None and float_export:
        key = "tflite" if quantize == "none" else "tflite_float16"
        max_abs_diff = MAX_ABS_DIFF[key]
    inputs, source = parity_inputs(info.channels, parity_data or calibration_data)
    calibration, calib_source = None, None
    if quantize == "int8":
        calibration, calib_source = representative_dataset(
            info.channels, info.scale, calibration_data
        )
    content, rewrites = convert(model, info, quantize, calibration, upsampler)
    ops = tflite_ops(content)
    bad = non_builtin_ops(ops)
    if bad:
        raise ExportError(f"{path}: the TFLite model uses non-builtin ops {bad}")

    with committed_file(path, ".tflite") as (tmp, report):
        tmp.write_bytes(content)
        runner = TFLiteUpscaler(tmp, scale=info.scale)
        input_detail = runner.interpreter.get_input_details()[0]

        def reference(x):
            return np.asarray(model(x, training=False))

        result = run_parity(
            reference, runner, inputs, max_abs_diff if float_export else None
        )
        report.update(
            base_report(
                "tflite",
                info,
                quantize=quantize,
                upsampler=upsampler,
                graph_rewrites=rewrites,
                parity_data=source,
                calibration_data=calib_source,
                input={
                    "name": input_detail["name"],
                    "shape": [int(v) for v in input_detail["shape"]],
                    "shape_signature": [
                        int(v) for v in input_detail["shape_signature"]
                    ],
                    "dtype": np.dtype(input_detail["dtype"]).name,
                },
                ops=ops,
                gpu_delegate=gpu_compatibility(content, ops),
            )
        )
        report.update(result)
        if not float_export:
            check = psnr_drop(
                KerasUpscaler(model, name=info.name),
                runner,
                info.scale,
                info.channels,
                eval_data,
                max_psnr_drop,
            )
            report["psnr"] = check
            if not check["passed"]:
                report["failures"].append(
                    f"Set5 PSNR drop {check['drop_db']:.3f} dB > {max_psnr_drop} dB"
                )
            if float_reference is not None:
                vs_float = psnr_drop(
                    KerasUpscaler(float_reference, name=f"{info.name} (float)"),
                    runner,
                    info.scale,
                    info.channels,
                    eval_data,
                    max_psnr_drop,
                )
                check["vs_float_weights"] = vs_float
                report["weights"] = "int8-aware (export/qat.py fine-tuning)"
                if not vs_float["passed"]:
                    report["failures"].append(
                        f"Set5 PSNR drop against the float weights "
                        f"{vs_float['drop_db']:.3f} dB > {max_psnr_drop} dB"
                    )
            report["passed"] = not report["failures"]
    return report
