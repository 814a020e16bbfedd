"""Typed training configuration: dataclasses, per-family recipe defaults and
``key=value`` overrides (``--set``).

A :class:`TrainConfig` holds a :class:`DataConfig`, an
:class:`OptimizerConfig` and the run settings. :func:`default_config` fills
them with the family's recipe from METHODS.md (loss, optimizer, lr, schedule,
patch and batch size); :func:`apply_overrides` then applies ``key=value``
strings, type-checked against the dataclass fields.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import yaml


@dataclasses.dataclass
class DataConfig:
    """Input pipeline settings (see :func:`keras_sr.data.make_dataset`)."""

    data: str = ""
    scale: int = 4
    lr_patch_size: int = 24
    batch_size: int = 16
    color: str = "auto"  # "auto" = "y" for 1-channel models, "rgb" otherwise
    degradation: str = "bicubic"
    seed: int | None = 0
    eval_dir: str | None = None
    eval_max_images: int | None = None


@dataclasses.dataclass
class OptimizerConfig:
    """Optimizer, schedule, clipping and EMA."""

    name: str = "adam"  # "adam" | "sgd"
    learning_rate: float = 1e-4
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"  # "constant" | "step" | "multistep"
    step_size: int = 0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.5
    clip_theta: float | None = None  # adjustable clipping theta / lr
    clip_mode: str = "global_norm"  # "global_norm" | "value"
    ema: float | None = None  # EMA momentum (e.g. 0.999), None = off


@dataclasses.dataclass
class TrainConfig:
    """One training run."""

    model: str = ""
    output: str = ""
    loss: str = "l1"  # l1 | mse | charbonnier | euclidean
    steps: int | None = None
    epochs: int | None = None
    steps_per_epoch: int = 1000  # checkpoint / validation interval in --steps mode
    resume: bool = False
    pretrained: bool = False  # start from the preset's shipped weights
    max_checkpoints: int = 3
    verbose: int = 1
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    model_overrides: dict = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        if not self.model:
            raise ValueError("no model given (--model)")
        if not self.output:
            raise ValueError("no output directory given (--output)")
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("give exactly one of --steps and --epochs")
        for name in ("steps", "epochs", "steps_per_epoch"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        if self.loss not in ("l1", "mse", "charbonnier", "euclidean"):
            raise ValueError(
                f"loss must be l1, mse, charbonnier or euclidean, got {self.loss!r}"
            )
        o = self.optimizer
        if o.name not in ("adam", "sgd"):
            raise ValueError(f"optimizer.name must be adam or sgd, got {o.name!r}")
        if o.schedule not in ("constant", "step", "multistep"):
            raise ValueError(
                f"optimizer.schedule must be constant, step or multistep, got "
                f"{o.schedule!r}"
            )
        if o.schedule == "step" and o.step_size < 1:
            raise ValueError("optimizer.schedule=step needs optimizer.step_size >= 1")
        if o.schedule == "multistep" and not o.milestones:
            raise ValueError("optimizer.schedule=multistep needs optimizer.milestones")
        if o.clip_mode not in ("global_norm", "value"):
            raise ValueError(
                f"clip_mode must be global_norm or value, got {o.clip_mode}"
            )
        if o.ema is not None and not 0.0 < o.ema < 1.0:
            raise ValueError(f"optimizer.ema must be in (0, 1), got {o.ema}")
        d = self.data
        if d.color not in ("auto", "y", "rgb"):
            raise ValueError(f"data.color must be auto, y or rgb, got {d.color!r}")
        if d.lr_patch_size < 1 or d.batch_size < 1:
            raise ValueError("data.lr_patch_size and data.batch_size must be >= 1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Recipe defaults per family (METHODS.md; REIMPL Adam settings for the small
# Y models). Keys are "section.field".
RECIPES: dict[str, dict[str, Any]] = {
    "srcnn": {
        "loss": "mse",
        "optimizer.learning_rate": 1e-3,
        "data.lr_patch_size": 11,
        "data.batch_size": 128,
    },
    "fsrcnn": {
        "loss": "mse",
        "optimizer.learning_rate": 1e-3,
        "data.lr_patch_size": 17,
        "data.batch_size": 32,
    },
    "espcn": {
        "loss": "mse",
        "optimizer.learning_rate": 1e-3,
        "data.lr_patch_size": 17,
        "data.batch_size": 32,
    },
    "vdsr": {
        "loss": "mse",
        "optimizer.name": "sgd",
        "optimizer.learning_rate": 0.1,
        "optimizer.momentum": 0.9,
        "optimizer.weight_decay": 1e-4,
        "optimizer.clip_theta": 0.01,
        "optimizer.schedule": "step",
        "optimizer.step_size": 40000,
        "optimizer.gamma": 0.1,
        "data.lr_patch_size": 14,
        "data.batch_size": 64,
    },
    "glrl": {
        "loss": "euclidean",
        "optimizer.name": "sgd",
        "optimizer.learning_rate": 0.1,
        "optimizer.momentum": 0.9,
        "optimizer.weight_decay": 1e-4,
        "optimizer.clip_theta": 0.01,
        "optimizer.schedule": "step",
        "optimizer.step_size": 65360,
        "optimizer.gamma": 0.5,
        "data.lr_patch_size": 10,
        "data.batch_size": 32,
    },
    "srresnet": {
        "loss": "mse",
        "optimizer.learning_rate": 1e-4,
        "data.lr_patch_size": 24,
        "data.batch_size": 16,
    },
    "edsr": {
        "loss": "l1",
        "optimizer.learning_rate": 1e-4,
        "optimizer.schedule": "step",
        "optimizer.step_size": 200000,
        "optimizer.gamma": 0.5,
        "data.lr_patch_size": 48,
        "data.batch_size": 16,
    },
    "rrdbnet": {
        "loss": "l1",
        "optimizer.learning_rate": 2e-4,
        "optimizer.schedule": "multistep",
        "optimizer.milestones": (200000, 400000, 600000, 800000),
        "optimizer.gamma": 0.5,
        "data.lr_patch_size": 32,
        "data.batch_size": 16,
    },
}


def family_of(model: str) -> str | None:
    """``edsr_baseline_x4`` -> ``edsr``; longest recipe prefix wins."""
    base = model.split("_x")[0]
    for fam in sorted(RECIPES, key=len, reverse=True):
        if base == fam or base.startswith(fam + "_") or base.startswith(fam):
            return fam
    return None


def default_config(model: str, **top: Any) -> TrainConfig:
    """A :class:`TrainConfig` with the family recipe of ``model`` applied."""
    config = TrainConfig(model=model)
    fam = family_of(model)
    if fam is not None:
        for key, value in RECIPES[fam].items():
            set_field(config, key, value)
    for key, value in top.items():
        set_field(config, key, value)
    return config


def _fields(obj) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(obj)}


def _resolve(config: TrainConfig, key: str):
    """Return ``(owner dataclass, field name)`` for ``key`` (``a.b`` or a
    unique bare field name)."""
    parts = key.split(".")
    if len(parts) == 2 and parts[0] in ("data", "optimizer"):
        owner = getattr(config, parts[0])
        if parts[1] in _fields(owner):
            return owner, parts[1]
    elif len(parts) == 1:
        owners = [
            o
            for o in (config, config.data, config.optimizer)
            if key in _fields(o) and not dataclasses.is_dataclass(getattr(o, key))
        ]
        if len(owners) == 1:
            return owners[0], key
        if len(owners) > 1:
            raise ValueError(f"ambiguous setting {key!r}; prefix it with its section")
    if parts[0] == "model" and len(parts) == 2:
        return config.model_overrides, parts[1]
    known = sorted(
        [f"data.{n}" for n in _fields(config.data)]
        + [f"optimizer.{n}" for n in _fields(config.optimizer)]
        + [n for n, f in _fields(config).items() if n not in ("data", "optimizer")]
    )
    raise ValueError(
        f"unknown setting {key!r}; known: {', '.join(known)}, or model.<argument>"
    )


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0])
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(_coerce(v, args[0], key) for v in value)
    if (
        hint is float
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        return float(value)
    if hint is dict and isinstance(value, dict):
        return value
    if hint in (int, str, bool) and type(value) is hint:
        return value
    raise ValueError(
        f"setting {key}: expected {getattr(hint, '__name__', hint)}, got {value!r}"
    )


def set_field(config: TrainConfig, key: str, value: Any) -> None:
    owner, name = _resolve(config, key)
    if isinstance(owner, dict):  # model constructor override
        owner[name] = value
        return
    hints = typing.get_type_hints(type(owner))
    setattr(owner, name, _coerce(value, hints[name], key))


def apply_overrides(config: TrainConfig, items: list[str]) -> TrainConfig:
    """Apply ``["key=value", ...]``; values are parsed as YAML scalars/lists
    (``1e-4``, ``true``, ``[100, 200]``, ``null``)."""
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str) and _looks_float(raw):
            value = float(raw)
        set_field(config, key.strip(), value)
    return config


def _looks_float(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


def load_yaml(config: TrainConfig, path: str) -> TrainConfig:
    """Apply a YAML file of ``{section: {field: value}}`` or flat keys."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    for key, value in data.items():
        if key in ("data", "optimizer", "model") and isinstance(value, dict):
            for sub, v in value.items():
                set_field(config, f"{key}.{sub}", v)
        else:
            set_field(config, key, value)
    return config
