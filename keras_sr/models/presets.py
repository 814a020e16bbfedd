"""Named presets: ``register_preset`` / ``get`` / ``list_presets``.

A preset is a builder (a model class or factory), its constructor kwargs and
optionally shipped weights (a ``.weights.h5`` file name inside
``keras_sr/pretrained``).
"""

from __future__ import annotations

import dataclasses
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

    @property
    def weights_path(self) -> Path | None:
        if self.weights is None:
            return None
        path = Path(self.weights)
        return path if path.is_absolute() else PRETRAINED_DIR / path


_PRESETS: dict[str, Preset] = {}


def register_preset(
    name: str,
    builder: Callable,
    config: dict,
    weights: str | None = None,
    description: str = "",
) -> Preset:
    """Register a preset ``name``; ``builder(**config)`` must return a model
    with ``scale`` and ``channels`` attributes.

    Registering an existing name with the same builder and config is a no-op
    (modules may be re-imported); a different definition raises ValueError.
    """
    preset = Preset(name, builder, dict(config), weights, description)
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


def has_weights(name: str) -> bool:
    """True if the preset ships weights and the file is present."""
    path = get_preset(name).weights_path
    return path is not None and path.is_file()


def build(name: str, pretrained: bool = True, **overrides):
    """Build preset ``name``; see :func:`keras_sr.models.get`."""
    preset = get_preset(name)
    config = {**preset.config, **overrides}
    if pretrained:
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
    return model
