"""ONNX export through tf2onnx, verified in onnxruntime against Keras.

The graph has one input ``lr``: float32 ``[batch, height, width, C]`` in
[0, 1] (NHWC; batch, height and width are symbolic) and one output ``sr``:
float32 ``[batch, height*s, width*s, C]``. The model's ``scale``,
``channels`` and name are stored in the ONNX ``metadata_props``. Parity: max
abs difference <= 1e-4 on real-image crops at two batch and spatial sizes.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from export.common import (
    ExportError,
    ModelInfo,
    base_report,
    committed_file,
    model_info,
    output_file,
)
from export.parity import MAX_ABS_DIFF, parity_inputs, run_parity
from export.upsampler import portable_graph

__all__ = ["DEFAULT_OPSET", "convert", "export_onnx"]

DEFAULT_OPSET = 17


def convert(model, info: ModelInfo, opset: int = DEFAULT_OPSET, attempts: int = 3):
    """Keras model -> ``(onnx.ModelProto, graph rewrites made)`` with symbolic
    batch/height/width.

    The conversion intermittently (about 1 run in 5-10 of
    ``tests/test_export_zoo.py``, and once on CI) produced a graph whose
    output has a spurious leading axis, ``[1, B, H, W, C]``; the cause was not
    found in this stack. Each result is therefore run once in onnxruntime on
    a small input and converted afresh (up to ``attempts`` times) if its
    output is not ``[B, h*s, w*s, C]``; the parity check of
    :func:`export_onnx` stays the final gate.
    """
    for _ in range(attempts):
        proto, rewrites = _convert_once(model, info, opset)
        if _output_shape_ok(proto, info):
            break
    return proto, rewrites


def _output_shape_ok(proto, info: ModelInfo) -> bool:
    import onnxruntime as ort

    x = np.zeros((2, 6, 5, info.channels), np.float32)
    try:
        session = ort.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        out = session.run(None, {session.get_inputs()[0].name: x})[0]
    except Exception:  # noqa: BLE001 - judged by the parity check instead
        return True
    return tuple(out.shape) == (2, 6 * info.scale, 5 * info.scale, info.channels)


def _convert_once(model, info: ModelInfo, opset: int):
    import tf2onnx

    spec = tf.TensorSpec([None, None, None, info.channels], tf.float32, name="lr")

    @tf.function(input_signature=[spec])
    def forward(lr):
        return {"sr": tf.cast(model(lr, training=False), tf.float32)}

    try:
        # Trace once, inside the rewrite context, freeze, and hand tf2onnx the
        # frozen graph: its from_function traces again by itself, and such a
        # retrace intermittently gave a rank-5 output ([1, B, H, W, C]; seen
        # on CI and in about 1 of 5 runs of tests/test_export_zoo.py).
        from tensorflow.python.framework.convert_to_constants import (
            convert_variables_to_constants_v2,
        )

        with portable_graph() as rewrites:
            concrete = forward.get_concrete_function()
        frozen = convert_variables_to_constants_v2(concrete)
        inputs = [t.name for t in frozen.inputs if t.dtype != tf.resource]
        outputs = [t.name for t in frozen.outputs]
        proto, _ = tf2onnx.convert.from_graph_def(
            frozen.graph.as_graph_def(),
            input_names=inputs,
            output_names=outputs,
            opset=opset,
            tensors_to_rename={inputs[0]: "lr", outputs[0]: "sr"},
        )
    except Exception as err:  # tf2onnx raises assorted types
        raise ExportError(f"tf2onnx conversion failed: {err}") from err
    for value, dims in (
        (proto.graph.input[0], ("batch", "height", "width", None)),
        (proto.graph.output[0], ("batch", "out_height", "out_width", None)),
    ):
        for dim, label in zip(value.type.tensor_type.shape.dim, dims, strict=False):
            if label is not None and not dim.HasField("dim_value"):
                dim.dim_param = label
    del proto.metadata_props[:]
    for key, val in (
        ("scale", info.scale),
        ("channels", info.channels),
        ("model", info.name),
        ("layout", "NHWC float32 in [0, 1]"),
    ):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(val)
    return proto, rewrites


def export_onnx(
    model,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    parity_data: str | os.PathLike | None = None,
    max_abs_diff: float | None = None,
    name: str | None = None,
) -> dict:
    """Export ``model`` to ``.onnx`` and prove it matches Keras in onnxruntime.

    Args:
        model: keras.Model. LR ``[B,h,w,C]`` float32 in [0,1] -> SR.
        path: str. Output file ending in ``.onnx``.
        opset: int. ONNX opset. Defaults to 17.
        parity_data: str. Image folder for the parity crops (default Set5).
        max_abs_diff: float. Parity threshold. Defaults to 1e-4.
        name: str. Model name for the report.

    Returns:
        The parity report, also written to ``<path>.parity.json``.

    Raises:
        export.ParityError: the artifact fails parity; nothing is written.

    Example:
        >>> export_onnx(model, "edsr_baseline_x4.onnx")  # doctest: +SKIP
    """
    import onnx

    from export.runtime import ONNXUpscaler

    path = output_file(path, ".onnx")
    info = model_info(model, name)
    threshold = MAX_ABS_DIFF["onnx"] if max_abs_diff is None else max_abs_diff
    inputs, source = parity_inputs(info.channels, parity_data)
    proto, rewrites = convert(model, info, opset)
    with committed_file(path, ".onnx") as (tmp, report):
        onnx.save(proto, os.fspath(tmp))
        try:
            onnx.checker.check_model(os.fspath(tmp))
        except onnx.checker.ValidationError as err:
            first = str(err).strip().splitlines()[0]
            raise ExportError(
                f"tf2onnx produced an invalid ONNX graph: {first}"
            ) from err
        runner = ONNXUpscaler(tmp, scale=info.scale)

        def reference(x):
            return np.asarray(model(x, training=False))

        result = run_parity(reference, runner, inputs, threshold)
        ops: dict[str, int] = {}
        for node in proto.graph.node:
            ops[node.op_type] = ops.get(node.op_type, 0) + 1
        report.update(
            base_report(
                "onnx",
                info,
                quantize="none",
                opset=opset,
                graph_rewrites=rewrites,
                parity_data=source,
                input=_describe(proto.graph.input[0]),
                output=_describe(proto.graph.output[0]),
                ops=dict(sorted(ops.items())),
            )
        )
        report.update(result)
    return report


def _describe(value) -> dict:
    dims = []
    for d in value.type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else d.dim_param or None)
    return {"name": value.name, "shape": dims}
