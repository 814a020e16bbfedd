"""Shared pieces of the exporters: model metadata, model loading, errors, the
atomic "build in a temporary place, verify, then rename" commit, and the
parity report sidecar.

Every exporter writes its artifact to a temporary sibling of the output path,
reloads it in its own runtime, compares it with the Keras model and only then
renames it into place together with a parity report (JSON). An export that
fails parity raises :class:`ParityError` and leaves nothing new at the output
path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from keras_sr import __version__ as KERAS_SR_VERSION
from keras_sr.utils.atomic import atomic_dir, atomic_path, atomic_write_bytes

__all__ = [
    "FORMATS",
    "QUANTIZATIONS",
    "ExportError",
    "ModelInfo",
    "ParityError",
    "load_model",
    "model_info",
    "report_path",
    "read_report",
]

FORMATS = ("saved_model", "tflite", "onnx", "tpu")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")

# Name of the parity report inside a SavedModel folder.
SAVED_MODEL_REPORT = "parity.json"


class ExportError(RuntimeError):
    """The export could not be produced (conversion failed, forbidden ops)."""


class ParityError(ExportError):
    """The artifact does not match the Keras model within the threshold.

    ``report`` holds the full parity report (the numbers that failed)."""

    def __init__(self, message: str, report: dict):
        super().__init__(message)
        self.report = report


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What an artifact must remember about the model it came from."""

    name: str
    scale: int
    channels: int


def model_info(model, name: str | None = None) -> ModelInfo:
    """Read ``scale`` and ``channels`` from a model.

    keras_sr models carry both as attributes. For a plain Keras model the
    channel count comes from its input shape and the scale from one probe call
    on an 8x8 input, which must give an integer factor >= 1.

    Raises:
        ValueError: the model's scale or channels cannot be determined.
    """
    channels = getattr(model, "channels", None)
    scale = getattr(model, "scale", None)
    label = name or getattr(model, "name", "model")
    if channels is None:
        try:
            channels = model.inputs[0].shape[-1]
        except (AttributeError, IndexError, ValueError):
            channels = None
        if channels is None:
            raise ValueError(
                f"{label}: cannot tell the model's channel count; give it a "
                "'channels' attribute (1 for Y models, 3 for RGB)"
            )
    channels = int(channels)
    if channels not in (1, 3):
        raise ValueError(f"{label}: expected 1 or 3 input channels, got {channels}")
    if scale is None:
        probe = np.zeros((1, 8, 8, channels), np.float32)
        out = np.asarray(model(probe, training=False))
        if out.ndim != 4 or out.shape[1] % 8 or out.shape[1] != out.shape[2]:
            raise ValueError(
                f"{label}: an 8x8 input gave output shape {out.shape}; cannot "
                "infer an integer scale (give the model a 'scale' attribute)"
            )
        scale = out.shape[1] // 8
    return ModelInfo(name=str(label), scale=int(scale), channels=channels)


def has_int8_weights(spec: str) -> bool:
    """True if ``spec`` is a preset that ships int8-aware weights."""
    try:
        from keras_sr.models import presets
    except ImportError:
        return False
    return spec in presets.list_presets() and presets.has_weights(spec, "int8")


def load_model(spec: str, pretrained: bool | str = True):
    """Load the model named by a CLI ``--model`` argument.

    Args:
        spec: str. A ``.keras`` file or a preset name of
            ``keras_sr.models.list()``.
        pretrained: bool or ``"int8"``. For presets, load the shipped weights
            (an error if there are none); ``"int8"`` the int8-aware ones;
            ``False`` gives freshly initialised weights.

    Returns:
        A Keras model (not compiled).
    """
    import keras

    if spec.endswith(".keras"):
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"{spec}: no such model file")
        with contextlib.suppress(ImportError):
            import keras_sr.models  # noqa: F401  (registers the model classes)
        try:
            return keras.models.load_model(path, compile=False)
        except (ValueError, TypeError, OSError) as err:
            raise ValueError(f"{spec}: cannot load the model: {err}") from None
    try:
        from keras_sr import models
    except ImportError:
        raise ValueError(
            f"unknown model {spec!r}: expected a .keras file (keras_sr.models is "
            "not available for preset names)"
        ) from None
    names = list(models.list())
    if spec not in names:
        raise ValueError(
            f"unknown model {spec!r}: expected a .keras file or a preset name "
            f"({', '.join(names)})"
        )
    if not pretrained:
        return models.get(spec, pretrained=False)
    try:
        return models.get(spec, pretrained=pretrained)
    except (ValueError, FileNotFoundError, KeyError) as err:
        raise ValueError(
            f"{spec}: no pretrained weights ({err}); pass --no-pretrained to "
            "export the architecture with freshly initialised weights"
        ) from None


def environment() -> dict[str, str]:
    """Versions of everything an artifact's numbers depend on."""
    import keras
    import tensorflow as tf

    versions = {
        "keras_sr": KERAS_SR_VERSION,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    for module in ("ai_edge_litert", "onnxruntime", "tf2onnx", "onnx"):
        with contextlib.suppress(Exception):
            mod = __import__(module)
            versions[module] = getattr(mod, "__version__", "unknown")
    return versions


def report_path(artifact: str | os.PathLike) -> Path:
    """Where the parity report of ``artifact`` lives: ``<file>.parity.json``
    beside a file, ``parity.json`` inside a SavedModel folder."""
    artifact = Path(artifact)
    if artifact.is_dir() or artifact.suffix not in (".tflite", ".onnx"):
        return artifact / SAVED_MODEL_REPORT
    return artifact.with_name(artifact.name + ".parity.json")


def read_report(artifact: str | os.PathLike) -> dict | None:
    """The parity report written next to ``artifact``, or ``None``."""
    path = report_path(artifact)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _json_bytes(report: dict) -> bytes:
    return (json.dumps(report, indent=2, default=_json_default) + "\n").encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def check_passed(report: dict, output: str | os.PathLike) -> None:
    """Raise :class:`ParityError` if ``report['passed']`` is false."""
    if report.get("passed"):
        return
    failures = "; ".join(report.get("failures", [])) or "parity check failed"
    raise ParityError(
        f"{output}: {report['format']} export failed parity ({failures}); "
        "nothing was written",
        report,
    )


def output_file(output: str | os.PathLike, suffix: str) -> Path:
    """Validate a file output path (``.tflite`` / ``.onnx``)."""
    output = Path(output)
    if output.suffix != suffix:
        raise ValueError(f"{output}: the output file must end with {suffix}")
    if output.is_dir():
        raise ValueError(f"{output}: is a directory; expected a {suffix} file path")
    return output


def output_dir(output: str | os.PathLike) -> Path:
    """Validate a SavedModel output folder path."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"{output}: exists and is not a folder")
    if output.suffix in (".tflite", ".onnx", ".keras"):
        raise ValueError(
            f"{output}: a SavedModel is a folder; give a path without a "
            f"{output.suffix} suffix"
        )
    return output


@contextlib.contextmanager
def committed_file(output: Path, suffix: str) -> Iterator[tuple[Path, dict]]:
    """Yield ``(temporary artifact path, report dict)``.

    On a clean exit the caller has filled ``report`` (with ``passed`` true);
    the report is written to ``<output>.parity.json`` and the artifact is
    renamed to ``output``. On any exception, including a failed parity check,
    the temporary file is removed and ``output`` is untouched.
    """
    report: dict = {}
    with atomic_path(output, suffix=suffix) as tmp:
        yield tmp, report
        check_passed(report, output)
        report["artifact"] = output.name
        report["size_bytes"] = tmp.stat().st_size
        atomic_write_bytes(report_path(output), _json_bytes(report))


@contextlib.contextmanager
def committed_dir(output: Path) -> Iterator[tuple[Path, dict]]:
    """Like :func:`committed_file` for a SavedModel folder: the report goes
    inside the folder as ``parity.json`` before the folder is renamed."""
    report: dict = {}
    with atomic_dir(output) as tmp:
        yield tmp, report
        check_passed(report, output)
        report["artifact"] = output.name
        report["size_bytes"] = dir_size(tmp)
        (tmp / SAVED_MODEL_REPORT).write_bytes(_json_bytes(report))


def dir_size(path: Path) -> int:
    """Total bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def base_report(fmt: str, info: ModelInfo, **extra: Any) -> dict:
    """The fields every parity report starts with."""
    return {
        "format": fmt,
        "model": info.name,
        "scale": info.scale,
        "channels": info.channels,
        **extra,
        "environment": environment(),
    }
