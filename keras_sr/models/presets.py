"""Named presets: ``register_preset`` / ``get`` / ``list_presets``.

A preset is a builder (a model class or factory), its constructor kwargs and
optionally shipped weights (a ``.weights.h5`` file name inside
``keras_sr/pretrained``) and int8-aware weights: the same model fine-tuned
through a simulation of full-int8 TFLite (``export/qat.py``), which the int8
export uses because they lose less to int8 rounding.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    builder: Callable
    config: dict
    weights: str | None = None
    description: str = ""
    int8_weights: str | None = None

    @property
    def weights_path(self) -> Path | None:
        return _resolve(self.weights)

    @property
    def int8_weights_path(self) -> Path | None:
        return _resolve(self.int8_weights)


def _resolve(weights: str | None) -> Path | None:
    if weights is None:
        return None
    path = Path(weights)
    return path if path.is_absolute() else PRETRAINED_DIR / path


_PRESETS: dict[str, Preset] = {}


def register_preset(
    name: str,
    builder: Callable,
    config: dict,
    weights: str | None = None,
    description: str = "",
    int8_weights: str | None = None,
) -> Preset:
    """Register a preset ``name``; ``builder(**config)`` must return a model
    with ``scale`` and ``channels`` attributes.

    Registering an existing name with the same builder and config is a no-op
    (modules may be re-imported); a different definition raises ValueError.
    """
    preset = Preset(name, builder, dict(config), weights, description, int8_weights)
    old = _PRESETS.get(name)
    if old is not None and (old.builder, old.config) != (builder, preset.config):
        raise ValueError(f"preset {name!r} is already registered differently")
    _PRESETS[name] = preset
    return preset


def get_preset(name: str) -> Preset:
    try:
        return _PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown model preset {name!r}; available: {', '.join(list_presets())}"
        ) from None


def list_presets() -> list[str]:
    return sorted(_PRESETS)


def has_weights(name: str, kind: str = "float") -> bool:
    """True if the preset ships weights (``kind="int8"``: int8-aware weights)
    and the file is present."""
    preset = get_preset(name)
    path = preset.int8_weights_path if kind == "int8" else preset.weights_path
    return path is not None and path.is_file()


def build(name: str, pretrained: bool | str = True, **overrides):
    """Build preset ``name``; see :func:`keras_sr.models.get`."""
    preset = get_preset(name)
    config = {**preset.config, **overrides}
    if pretrained not in (True, False, "int8"):
        raise ValueError(
            f"pretrained must be True, False or 'int8', got {pretrained!r}"
        )
    if pretrained == "int8":
        path = preset.int8_weights_path
        if path is None or not path.is_file():
            raise ValueError(
                f"preset {name!r} has no int8-aware weights; presets with them: "
                f"{', '.join(n for n in list_presets() if has_weights(n, 'int8'))}"
            )
    elif pretrained:
        path = preset.weights_path
        if path is None:
            raise ValueError(
                f"preset {name!r} has no pretrained weights shipped with keras-sr; "
                f"use get({name!r}, pretrained=False) for a randomly initialised "
                f"model (presets with weights: "
                f"{', '.join(n for n in list_presets() if has_weights(n)) or 'none'})"
            )
        if not path.is_file():
            raise FileNotFoundError(
                f"weights file of preset {name!r} is missing: {path} (reinstall "
                f"keras-sr or use pretrained=False)"
            )
    model = preset.builder(**config)
    if pretrained:
        try:
            model.load_weights(path)
        except ValueError as err:
            raise ValueError(
                f"cannot load the weights of preset {name!r} into a model built "
                f"with overrides {overrides}: {err}"
            ) from None
    if pretrained == "int8":
        ranges = int8_ranges_path(path)
        if ranges.is_file():
            # Not a Keras-tracked attribute: plain data for export.tflite.
            object.__setattr__(model, INT8_RANGES_ATTR, json.loads(ranges.read_text()))
    return model


#: Attribute of a model loaded with ``pretrained="int8"`` holding the int8
#: activation ranges learned with its weights (``{tensor: [lo, hi]}``), which
#: the int8 TFLite export writes into the calibration statistics.
INT8_RANGES_ATTR = "keras_sr_int8_ranges"


def int8_ranges_path(weights: Path) -> Path:
    """``x.int8.weights.h5`` -> ``x.int8.ranges.json`` (the learned ranges)."""
    return weights.with_name(weights.name.replace(".weights.h5", ".ranges.json"))
