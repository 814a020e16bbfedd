"""Exporters for keras_sr models: SavedModel, TFLite, ONNX and TPU.

Every exporter writes its artifact to a temporary path, reloads it in its own
runtime (``tf.saved_model.load``, ai-edge-litert, onnxruntime, XLA), compares
it with the Keras model on real images and only then moves it into place next
to a parity report (``<file>.parity.json``, or ``parity.json`` inside a
SavedModel folder). A failed comparison raises :class:`ParityError` and
leaves nothing new at the output path.

Example:
    >>> import keras_sr.models, export  # doctest: +SKIP
    >>> model = keras_sr.models.get("espcn_x3", pretrained=True)  # doctest: +SKIP
    >>> report = export.export_tflite(model, "espcn_x3.tflite")  # doctest: +SKIP
    >>> report["max_abs_diff"] <= 1e-4  # doctest: +SKIP
    True
    >>> upscaler = export.load_artifact("espcn_x3.tflite")  # doctest: +SKIP
"""

from export.common import (
    FORMATS,
    QUANTIZATIONS,
    ExportError,
    ParityError,
    load_model,
    model_info,
    read_report,
    report_path,
)
from export.onnx import export_onnx
from export.runtime import load_artifact
from export.saved_model import export_saved_model
from export.tflite import export_tflite
from export.tpu import check_train_step_compiles, export_tpu

__all__ = [
    "FORMATS",
    "QUANTIZATIONS",
    "ExportError",
    "ParityError",
    "check_train_step_compiles",
    "export_model",
    "export_onnx",
    "export_saved_model",
    "export_tflite",
    "export_tpu",
    "load_artifact",
    "load_model",
    "model_info",
    "read_report",
    "report_path",
]


def export_model(model, fmt: str, output: str, **kwargs) -> dict:
    """Dispatch to the exporter of ``fmt`` (one of :data:`FORMATS`)."""
    exporters = {
        "saved_model": export_saved_model,
        "tflite": export_tflite,
        "onnx": export_onnx,
        "tpu": export_tpu,
    }
    if fmt not in exporters:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    return exporters[fmt](model, output, **kwargs)
