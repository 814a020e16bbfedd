"""Parity between an exported artifact and its Keras model, on real images.

Thresholds (issue 7): max abs difference <= 1e-5 for SavedModel, <= 1e-4 for
float TFLite, ONNX and TPU, <= 1e-2 for float16 TFLite; dynamic-range and
int8 TFLite may lose at most 0.3 dB of Set5 PSNR against the Keras model
(``y-first`` protocol for 1-channel models, ``rgb`` for 3-channel ones).

Parity inputs are crops of real photographs: the images of
``calibration_data`` if given, else Set5 from the shared data folder
(``$KERAS_SR_SHARED_DATA`` or ``../shared/data`` beside the project), first
downscaled by 2 with MATLAB bicubic so they look like LR inputs. Y models see
``Y/255`` (MATLAB ``rgb2ycbcr``), RGB models ``RGB/255``; NHWC float32 in
[0, 1].
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from keras_sr.inference import Upscaler

__all__ = [
    "MAX_ABS_DIFF",
    "MAX_PSNR_DROP_DB",
    "compare_arrays",
    "find_images",
    "parity_inputs",
    "psnr_drop",
    "run_parity",
    "shared_data_dir",
]

# Max abs difference allowed against Keras, per (format, precision).
MAX_ABS_DIFF = {
    "saved_model": 1e-5,
    "tflite": 1e-4,
    "tflite_float16": 1e-2,
    "onnx": 1e-4,
    "tpu": 1e-4,
    # bfloat16 keeps 8 mantissa bits (relative step 2**-8 = 0.4%): a few
    # roundings through a network stay within a few percent of the [0,1] range.
    "tpu_bfloat16": 5e-2,
}
# Set5 PSNR an int8 / dynamic-range artifact may lose against Keras.
MAX_PSNR_DROP_DB = 0.3

# (batch, height, width) of the parity inputs for formats with dynamic shapes.
DEFAULT_SHAPES: tuple[tuple[int, int, int], ...] = ((1, 48, 40), (2, 33, 57))


def shared_data_dir() -> Path | None:
    """The shared data folder: ``$KERAS_SR_SHARED_DATA`` if set, else
    ``../shared/data`` beside the current folder or the source tree."""
    env = os.environ.get("KERAS_SR_SHARED_DATA")
    if env:  # an explicit setting wins, even if it points nowhere
        return Path(env) if Path(env).is_dir() else None
    candidates = [
        Path.cwd().parent / "shared" / "data",
        Path(__file__).resolve().parents[2] / "shared" / "data",
    ]
    for path in candidates:
        if path.is_dir():
            return path
    return None


def find_images(
    images_dir: str | os.PathLike | None, default: str = "test/Set5/HR"
) -> Path:
    """Resolve an image folder: ``images_dir`` if given, else ``default``
    under :func:`shared_data_dir`.

    Raises:
        FileNotFoundError: the folder does not exist (the message says which
            flag supplies one).
    """
    if images_dir is not None:
        path = Path(images_dir)
        if not path.is_dir():
            raise FileNotFoundError(f"{images_dir}: no such image folder")
        return path
    root = shared_data_dir()
    if root is None or not (root / default).is_dir():
        raise FileNotFoundError(
            f"no image folder for parity/calibration: {default} not found under "
            "$KERAS_SR_SHARED_DATA or ../shared/data; pass --calibration-data DIR"
        )
    return root / default


def _model_domain(image: np.ndarray, channels: int) -> np.ndarray:
    """uint8 ``[H,W,1|3]`` -> float32 [0,1] in the model's colour space."""
    from keras_sr.ops.color import rgb_to_y

    if channels == 1:
        if image.shape[-1] == 3:
            image = rgb_to_y(image).numpy()
        return image.astype(np.float32) / 255.0
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image.astype(np.float32) / 255.0


def load_lr_images(
    images_dir: str | os.PathLike,
    channels: int,
    limit: int | None = None,
    factor: int = 2,
    files: Sequence[Path] | None = None,
) -> list[np.ndarray]:
    """Read the images of ``images_dir`` (sorted; or ``files``), downscale them
    by ``factor`` with MATLAB bicubic (uint8) and convert them to the model's
    float domain (``Y/255`` or ``RGB/255``)."""
    from keras_sr.io import list_images, read_image
    from keras_sr.ops.resize import imresize

    if files is None:
        files = list_images(images_dir)
    if limit is not None:
        files = files[:limit]
    out = []
    for f in files:
        hr = read_image(f)
        lr = imresize(hr, scale=1.0 / factor).numpy()
        out.append(_model_domain(lr, channels))
    return out


def parity_inputs(
    channels: int,
    images_dir: str | os.PathLike | None = None,
    shapes: Sequence[tuple[int, int, int]] = DEFAULT_SHAPES,
) -> tuple[list[np.ndarray], str]:
    """Float32 NHWC batches of real-image crops, one per ``(b, h, w)``.

    Crops are taken from the centre of successive images (wrapping around),
    so every batch holds different content.

    Returns:
        ``(batches, description of the source)``.
    """
    folder = find_images(images_dir)
    images = load_lr_images(folder, channels)
    if not images:
        raise FileNotFoundError(f"{folder}: no images for the parity check")
    batches = []
    k = 0
    for b, h, w in shapes:
        crops = []
        for _ in range(b):
            img = images[k % len(images)]
            k += 1
            if img.shape[0] < h or img.shape[1] < w:
                reps = (-(-h // img.shape[0]), -(-w // img.shape[1]), 1)
                img = np.tile(img, reps)
            top = (img.shape[0] - h) // 2
            left = (img.shape[1] - w) // 2
            crops.append(img[top : top + h, left : left + w])
        batches.append(np.stack(crops).astype(np.float32))
    return batches, f"{len(images)} images of {folder}, downscaled x1/2, cropped"


def compare_arrays(expected: np.ndarray, got: np.ndarray) -> dict:
    """Max / mean abs difference and PSNR (peak 1) of ``got`` vs ``expected``."""
    expected = np.asarray(expected, np.float64)
    got = np.asarray(got, np.float64)
    if expected.shape != got.shape:
        return {
            "input_shape": None,
            "error": f"shape {list(got.shape)} != Keras {list(expected.shape)}",
            "max_abs_diff": float("inf"),
        }
    diff = np.abs(expected - got)
    mse = float(np.mean(diff**2))
    return {
        "output_shape": list(got.shape),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        # None when identical (JSON has no infinity).
        "psnr_vs_keras_db": None if mse == 0 else float(-10.0 * np.log10(mse)),
        "finite": bool(np.isfinite(got).all()),
        # A near-constant reference makes any max-abs-diff check vacuous.
        "keras_output_std": float(expected.std()),
    }


def run_parity(
    reference: Callable[[np.ndarray], np.ndarray],
    candidate: Callable[[np.ndarray], np.ndarray],
    inputs: Sequence[np.ndarray],
    max_abs_diff: float | None,
) -> dict:
    """Compare ``candidate`` with ``reference`` on every input batch.

    Returns ``{"checks": [...], "max_abs_diff", "threshold_max_abs_diff",
    "failures": [...], "passed"}``; with ``max_abs_diff=None`` the numbers
    are recorded but do not decide (quantized formats use :func:`psnr_drop`).
    """
    checks = []
    failures = []
    for x in inputs:
        try:
            got = candidate(x)
        except Exception as err:  # noqa: BLE001 - any runtime error fails parity
            checks.append({"input_shape": list(x.shape), "error": repr(err)})
            failures.append(f"input {list(x.shape)}: {type(err).__name__}: {err}")
            continue
        c = {"input_shape": list(x.shape), **compare_arrays(reference(x), got)}
        checks.append(c)
        if "error" in c:
            failures.append(f"input {list(x.shape)}: {c['error']}")
        elif not c["finite"]:
            failures.append(f"input {list(x.shape)}: non-finite output")
    worst = max((c.get("max_abs_diff", float("inf")) for c in checks), default=0.0)
    if max_abs_diff is not None and not worst <= max_abs_diff:
        failures.append(f"max abs diff {worst:.3g} > threshold {max_abs_diff:.3g}")
    return {
        "checks": checks,
        "max_abs_diff": worst,
        "threshold_max_abs_diff": max_abs_diff,
        "failures": failures,
        "passed": not failures,
    }


def psnr_drop(
    reference: Upscaler,
    candidate: Upscaler,
    scale: int,
    channels: int,
    dataset: str | os.PathLike | None = None,
    max_drop_db: float = MAX_PSNR_DROP_DB,
) -> dict:
    """Set5 PSNR of ``candidate`` vs ``reference`` with the protocol of the
    model type (``y-first`` for 1-channel, ``rgb`` for 3-channel models).

    Returns ``{"dataset", "protocol", "keras_psnr", "artifact_psnr",
    "drop_db", "threshold_drop_db", "passed"}``.
    """
    from keras_sr.evaluation import evaluate_dataset

    folder = find_images(dataset)
    protocol = "y-first" if channels == 1 else "rgb"
    ref = evaluate_dataset(reference, folder, scale, protocol)
    got = evaluate_dataset(candidate, folder, scale, protocol)
    drop = ref["psnr"] - got["psnr"]
    return {
        "dataset": str(folder),
        "protocol": protocol,
        "keras_psnr": ref["psnr"],
        "artifact_psnr": got["psnr"],
        "keras_ssim": ref["ssim"],
        "artifact_ssim": got["ssim"],
        "drop_db": drop,
        "threshold_drop_db": max_drop_db,
        "passed": bool(drop <= max_drop_db),
    }


def rgb_crop(images_dir: str | os.PathLike | None, h: int, w: int) -> np.ndarray:
    """A uint8 RGB ``[h, w, 3]`` centre crop of the first image (downscaled
    by 2), for checks that need an encoded colour picture."""
    from keras_sr.io import list_images, read_image
    from keras_sr.ops.resize import imresize

    folder = find_images(images_dir)
    files = list_images(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no images for the parity check")
    img = imresize(read_image(files[0]), scale=0.5).numpy()
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    img = np.tile(img, (-(-h // img.shape[0]), -(-w // img.shape[1]), 1))
    top, left = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return np.ascontiguousarray(img[top : top + h, left : left + w])
