"""Upscalers: one interface over bicubic, Keras models and exported artifacts.

An :class:`Upscaler` maps a batch of LR images ``[B, h, w, C]`` to SR images
``[B, h*s, w*s, C]``. Float input is in ``[0, 1]`` (NHWC) and gives float
output (unclipped); only :class:`BicubicUpscaler` also accepts ``uint8`` and then
returns ``uint8`` exactly as MATLAB's ``imresize`` on a uint8 image.

``channels`` is 1 for Y-channel models, 3 for RGB models and ``None`` for
operators that take any channel count (bicubic).

:func:`load_upscaler` resolves a user's ``--model`` argument: ``bicubic``, a
preset name, a ``.keras`` file, or an exported artifact (``.tflite``,
``.onnx``, SavedModel folder). Resolvers are tried in order; other modules add
theirs with :func:`register_resolver`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_sr.ops.color import rgb_to_ycbcr, ycbcr_to_rgb
from keras_sr.ops.resize import imresize

__all__ = [
    "BicubicUpscaler",
    "KerasUpscaler",
    "SelfEnsembleUpscaler",
    "Upscaler",
    "load_upscaler",
    "register_resolver",
    "to_uint8",
    "upscale_image",
]


class Upscaler:
    """Base class. Subclasses set ``name``, ``scale``, ``channels`` and
    implement :meth:`__call__`."""

    name: str = "upscaler"
    scale: int = 1
    channels: int | None = None

    def __call__(self, lr: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class BicubicUpscaler(Upscaler):
    """MATLAB ``imresize(lr, scale, 'bicubic')`` on any channel count."""

    channels = None

    def __init__(self, scale: int):
        self.scale = int(scale)
        self.name = "bicubic"

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        return imresize(lr, scale=self.scale).numpy()


class KerasUpscaler(Upscaler):
    """Wraps a Keras model with ``scale`` and ``channels`` attributes."""

    def __init__(self, model, name: str | None = None):
        self.model = model
        self.scale = int(model.scale)
        self.channels = int(model.channels)
        self.name = name or model.name

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        x = tf.convert_to_tensor(lr)
        if x.dtype == tf.uint8:
            x = tf.cast(x, tf.float32) / 255.0
        x = tf.cast(x, tf.float32)
        return np.asarray(self.model(x, training=False), dtype=np.float32)


def _check_transforms(transforms: int) -> None:
    if transforms not in (1, 2, 4, 8):
        raise ValueError(
            f"self-ensemble transforms must be 1, 2, 4 or 8, got {transforms!r}"
        )


def _dihedral(x: np.ndarray, k: int, inverse: bool = False) -> np.ndarray:
    """Transform ``k`` (0..7) of the square's symmetry group on NHWC ``x``:
    bit 0 flips rows, bit 1 flips columns, bit 2 swaps rows and columns
    (applied in that order; ``inverse`` undoes them in reverse order)."""
    steps = [(1, lambda a: a[:, ::-1]), (2, lambda a: a[:, :, ::-1])]
    steps.append((4, lambda a: np.transpose(a, (0, 2, 1, 3))))
    for bit, op in reversed(steps) if inverse else steps:
        if k & bit:
            x = op(x)
    return x


class SelfEnsembleUpscaler(Upscaler):
    """Geometric self-ensemble ("+" in EDSR+, RCAN+): the mean of ``inner``
    over flipped and transposed copies of the input, each mapped back.

    ``transforms`` is 1 (identity), 2 (+ vertical flip), 4 (all flips) or 8
    (flips and transposes, the usual choice). Costs ``transforms`` forward
    passes, one per copy (so fixed-batch artifacts work too). Any ``inner``
    upscaler: Keras, TFLite, ONNX, SavedModel, bicubic. Input float ``[0, 1]``
    (float32/64) or uint8 NHWC ``[B, h, w, C]``; output float32
    ``[B, h*s, w*s, C]``.

    Example::

        up = SelfEnsembleUpscaler(load_upscaler("lhsp_x3"))
        sr = up(lr_y[None])  # lr_y: float32 [h, w, 1] in [0, 1]

    A network that is already flip- and transpose-equivariant (MATLAB bicubic
    is) gives back its own output; ``benchmarks/self_ensemble.py`` measures
    the gain of the shipped models.
    """

    def __init__(self, inner: Upscaler, transforms: int = 8):
        _check_transforms(transforms)
        self.inner = inner
        self.transforms = int(transforms)
        self.scale = inner.scale
        self.channels = inner.channels
        self.name = f"{inner.name}+" if transforms > 1 else inner.name

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        x = np.asarray(lr)
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / 255.0
        if x.dtype != np.float64:  # float64 (the evaluation's LR) stays as is
            x = x.astype(np.float32)
        if x.ndim != 4:
            raise ValueError(f"self-ensemble expects NHWC [B, h, w, C], got {x.shape}")
        total = None
        for k in range(self.transforms):
            y = np.asarray(self.inner(np.ascontiguousarray(_dihedral(x, k))))
            y = _dihedral(y.astype(np.float64), k, inverse=True)
            total = y if total is None else total + y
        return (total / self.transforms).astype(np.float32)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float ``[0, 1]`` -> uint8: clip, then round half away from zero (MATLAB's
    ``uint8(x * 255)``). uint8 input is returned unchanged."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.floor(np.clip(images.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(
        np.uint8
    )


def upscale_image(
    upscaler: Upscaler, image: np.ndarray, alpha: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Upscale one uint8 image ``[h, w, 1|3]`` (and optional ``[h, w]`` alpha).

    * Y-channel models on RGB input upscale Y and take Cb/Cr from MATLAB bicubic
      (as SRCNN-era papers do);
    * RGB models on a grayscale image see it replicated to 3 channels and give
      back one channel (the channel mean);
    * alpha is upscaled separately with bicubic.

    Returns ``(sr uint8 [h*s, w*s, C], alpha uint8 or None)``.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(
            f"upscale_image expects uint8 [h, w, 1|3], got {image.dtype} {image.shape}"
        )
    s = upscaler.scale
    c_in = image.shape[-1]
    want = upscaler.channels
    if isinstance(upscaler, BicubicUpscaler):
        sr = upscaler(image)
    elif want == c_in:
        sr = to_uint8(upscaler(image[None].astype(np.float32) / 255.0)[0])
    elif want == 1 and c_in == 3:
        ycc = rgb_to_ycbcr(image.astype(np.float32) / 255.0).numpy()
        y_sr = upscaler(ycc[None, ..., :1])[0]
        cbcr = imresize(ycc[..., 1:], scale=s).numpy()
        sr_ycc = np.concatenate([y_sr, cbcr], axis=-1)
        sr = to_uint8(ycbcr_to_rgb(sr_ycc).numpy())
    elif want == 3 and c_in == 1:
        rgb = np.repeat(image, 3, axis=-1).astype(np.float32) / 255.0
        out = upscaler(rgb[None])[0]
        sr = to_uint8(out.mean(axis=-1, keepdims=True))
    else:  # pragma: no cover - guarded by the checks above
        raise ValueError(f"cannot feed a {c_in}-channel image to {upscaler.name}")
    alpha_sr = None
    if alpha is not None:
        alpha_sr = imresize(np.asarray(alpha, np.uint8)[..., None], scale=s).numpy()[
            ..., 0
        ]
    return sr, alpha_sr


# --------------------------------------------------------------------------
# Resolving a ``--model`` argument
# --------------------------------------------------------------------------

Resolver = Callable[[str, "int | None"], "Upscaler | None"]
_RESOLVERS: list[Resolver] = []


def register_resolver(resolver: Resolver, first: bool = False) -> Resolver:
    """Add a function ``(spec, scale) -> Upscaler | None``; ``None`` = not mine."""
    if first:
        _RESOLVERS.insert(0, resolver)
    else:
        _RESOLVERS.append(resolver)
    return resolver


def _resolve_bicubic(spec: str, scale: int | None) -> Upscaler | None:
    if spec.lower() != "bicubic":
        return None
    if scale is None:
        raise ValueError("the bicubic model needs --scale")
    return BicubicUpscaler(scale)


def _resolve_keras_file(spec: str, scale: int | None) -> Upscaler | None:
    if not spec.endswith(".keras"):
        return None
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"{spec}: no such model file")
    import keras

    import keras_sr.models  # noqa: F401  (registers the model classes)

    model = keras.models.load_model(path, compile=False)
    return KerasUpscaler(model, name=path.name)


def _resolve_preset(spec: str, scale: int | None) -> Upscaler | None:
    try:
        from keras_sr import models
    except ImportError:
        return None
    if spec not in models.list():
        return None
    return KerasUpscaler(models.get(spec, pretrained=True), name=spec)


def _resolve_artifact(spec: str, scale: int | None) -> Upscaler | None:
    path = Path(spec)
    is_saved_model = path.is_dir() and (path / "saved_model.pb").is_file()
    if not (spec.endswith((".tflite", ".onnx")) or is_saved_model):
        return None
    if not path.exists():
        raise FileNotFoundError(f"{spec}: no such file")
    try:
        from export.runtime import load_artifact
    except ImportError as err:
        raise ValueError(
            f"{spec}: evaluating exported artifacts needs the 'export' extra "
            f"(pip install keras-sr[export]): {err}"
        ) from None
    return load_artifact(os.fspath(path), scale=scale)


for _r in (_resolve_bicubic, _resolve_keras_file, _resolve_artifact, _resolve_preset):
    register_resolver(_r)


def load_upscaler(
    spec: str, scale: int | None = None, self_ensemble: int | None = None
) -> Upscaler:
    """Resolve ``spec`` (``bicubic``, a preset, ``.keras``, ``.tflite``,
    ``.onnx`` or a SavedModel folder) to an :class:`Upscaler`.

    ``self_ensemble`` (1, 2, 4 or 8) wraps the result in
    :class:`SelfEnsembleUpscaler`.

    Raises:
        ValueError: nothing recognises ``spec``, its scale differs from
            ``scale``, or ``self_ensemble`` is not 1, 2, 4 or 8.
    """
    if self_ensemble is not None:  # before loading anything
        _check_transforms(self_ensemble)
    for resolver in _RESOLVERS:
        upscaler = resolver(spec, scale)
        if upscaler is not None:
            if scale is not None and upscaler.scale != int(scale):
                raise ValueError(
                    f"model {spec!r} upscales x{upscaler.scale}, but --scale is {scale}"
                )
            if self_ensemble is not None:
                upscaler = SelfEnsembleUpscaler(upscaler, self_ensemble)
            return upscaler
    known = ""
    try:
        from keras_sr import models

        known = "; presets: " + ", ".join(models.list())
    except ImportError:
        pass
    raise ValueError(
        f"unknown model {spec!r}: expected 'bicubic', a preset name, a .keras "
        f"file, a .tflite/.onnx file or a SavedModel folder{known}"
    )
