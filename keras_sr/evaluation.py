"""The SR evaluation protocols (see ``README.md`` "Evaluation protocol").

Two protocols are in use in the literature; :func:`evaluate_dataset` runs
either, exactly:

``y-first`` (SRCNN-style; Y-channel models and bicubic):
    HR = modcrop(HR, s); Y = rgb2ycbcr(uint8 HR) rounded to uint8 (a
    single-channel image is Y as is); LR = imresize(Y, 1/s) in double; SR =
    model(LR) (or imresize(LR, s) in double for bicubic), rounded to uint8;
    PSNR/SSIM on Y with ``s`` pixels shaved.

``rgb`` (EDSR/BasicSR-style; RGB models):
    HR = modcrop(HR, s) (a single-channel image is replicated to RGB, as
    ``imread`` in colour mode does); LR = imresize(uint8 HR, 1/s) -> uint8;
    SR = model(LR) rounded to uint8 (bicubic: MATLAB's uint8 imresize);
    Y computed from the uint8 images without rounding; PSNR/SSIM with ``s``
    pixels shaved. Y-channel models upscale Y and take CbCr from bicubic.

PSNR uses peak 255; SSIM is Wang et al. (Gaussian 11x11, sigma 1.5, valid
region). Per-image values are averaged over the set.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from keras_sr.inference import BicubicUpscaler, Upscaler, to_uint8, upscale_image
from keras_sr.io import list_images, read_image, write_image
from keras_sr.metrics.functional import psnr, ssim
from keras_sr.ops.color import rgb_to_y
from keras_sr.ops.resize import imresize

PROTOCOLS = ("y-first", "rgb")

__all__ = ["PROTOCOLS", "EvaluationError", "evaluate_dataset", "evaluate_image"]


class EvaluationError(ValueError):
    """Bad evaluation input (the message names the file and the problem)."""


@dataclasses.dataclass
class ImageResult:
    name: str
    psnr: float
    ssim: float


def check_scale(scale: object) -> int:
    """Validate a ``--scale`` value: an integer >= 2."""
    try:
        value = float(scale)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise EvaluationError(f"scale must be an integer >= 2, got {scale!r}") from None
    if not value.is_integer() or value < 2:
        raise EvaluationError(f"scale must be an integer >= 2, got {scale!r}")
    return int(value)


def _min_size(scale: int) -> int:
    # After shaving `scale` pixels per side SSIM's 11x11 window must fit.
    return 2 * scale + 11


def prepare_pair(
    hr: np.ndarray, scale: int, protocol: str, name: str = "image"
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(gt, lr)`` for one uint8 HR image under ``protocol``.

    ``y-first``: ``gt`` uint8 Y ``[H,W,1]``, ``lr`` float64 Y in [0,1].
    ``rgb``: ``gt`` uint8 RGB ``[H,W,3]``, ``lr`` uint8 RGB.
    """
    if protocol not in PROTOCOLS:
        raise EvaluationError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
    if min(h, w) < _min_size(scale):
        raise EvaluationError(
            f"{name}: image of {hr.shape[0]}x{hr.shape[1]} is too small for x{scale} "
            f"evaluation (needs at least {_min_size(scale)} px per side after modcrop "
            f"and a {scale}-px shave)"
        )
    hr = hr[:h, :w]
    if protocol == "y-first":
        gt = hr if hr.shape[-1] == 1 else rgb_to_y(hr).numpy()
        lr = imresize(gt.astype(np.float64) / 255.0, scale=1.0 / scale).numpy()
        return gt, lr
    gt = hr if hr.shape[-1] == 3 else np.repeat(hr, 3, axis=-1)
    lr = imresize(gt, scale=1.0 / scale).numpy()
    return gt, lr


def super_resolve(upscaler: Upscaler, lr: np.ndarray, protocol: str) -> np.ndarray:
    """Run ``upscaler`` on one protocol LR image; return uint8 SR."""
    if protocol == "y-first":
        if upscaler.channels not in (None, 1):
            raise EvaluationError(
                f"{upscaler.name} is an RGB model; evaluate it with --protocol rgb"
            )
        return to_uint8(upscaler(lr[None])[0])
    if isinstance(upscaler, BicubicUpscaler):
        return upscaler(lr)
    return upscale_image(upscaler, lr)[0]


def evaluate_image(
    upscaler: Upscaler, hr: np.ndarray, scale: int, protocol: str, name: str = "image"
) -> tuple[ImageResult, np.ndarray]:
    """Evaluate one uint8 HR image; returns the result and the uint8 SR image."""
    gt, lr = prepare_pair(hr, scale, protocol, name)
    sr = super_resolve(upscaler, lr, protocol)
    if sr.shape != gt.shape:
        raise EvaluationError(
            f"{name}: {upscaler.name} returned shape {sr.shape}, expected {gt.shape}"
        )
    y_channel = protocol == "rgb"
    p = float(psnr(gt, sr, crop_border=scale, y_channel=y_channel))
    s = float(ssim(gt, sr, crop_border=scale, y_channel=y_channel))
    return ImageResult(name=name, psnr=p, ssim=s), sr


def evaluate_dataset(
    upscaler: Upscaler,
    dataset: str | os.PathLike,
    scale: int,
    protocol: str = "y-first",
    save_images: str | os.PathLike | None = None,
    progress: Iterable | None = None,
) -> dict:
    """Evaluate ``upscaler`` on every image of the HR folder ``dataset``.

    Every image must be readable: an unreadable file raises
    :class:`keras_sr.io.ImageReadError` naming it (dropping it silently would
    misreport the set).

    Returns:
        ``{"model", "dataset", "scale", "protocol", "psnr", "ssim",
        "images": [{"name", "psnr", "ssim"}, ...]}`` with means over images.
    """
    scale = check_scale(scale)
    if protocol not in PROTOCOLS:
        raise EvaluationError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    try:
        files = list_images(dataset)
    except (FileNotFoundError, ValueError) as err:
        raise EvaluationError(str(err)) from None
    # Read everything first: a bad file fails the run before any work is done.
    images = [(f, read_image(f)) for f in files]
    results = []
    iterator = progress(images) if progress is not None else images
    for path, hr in iterator:
        result, sr = evaluate_image(upscaler, hr, scale, protocol, name=path.name)
        results.append(result)
        if save_images is not None:
            write_image(Path(save_images) / f"{path.stem}_x{scale}.png", sr)
    return {
        "model": upscaler.name,
        "dataset": str(dataset),
        "scale": scale,
        "protocol": protocol,
        "psnr": float(np.mean([r.psnr for r in results])),
        "ssim": float(np.mean([r.ssim for r in results])),
        "images": [dataclasses.asdict(r) for r in results],
    }
