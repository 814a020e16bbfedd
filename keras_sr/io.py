"""Image file I/O with clear errors.

Every reader returns ``uint8`` arrays ``[H, W, C]`` with ``C`` 1 (grayscale) or
3 (RGB). Odd inputs are normalised the same way everywhere in the package:
EXIF orientation is applied, palette and CMYK images become RGB, 16-bit images
are scaled to 8 bits (``round(v / 257)``), and alpha is split off (returned
separately by :func:`read_image_with_alpha`, dropped by :func:`read_image`).
A file that cannot be decoded raises :class:`ImageReadError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from keras_sr.utils.atomic import atomic_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "list_images",
    "read_image",
    "read_image_with_alpha",
    "write_image",
]


class ImageReadError(ValueError):
    """A file could not be read as an image. ``str(err)`` names the file."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def list_images(directory: str | os.PathLike) -> list[Path]:
    """Sorted image files (by extension) directly inside ``directory``.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: the folder holds no image files.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such directory")
    files = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise ValueError(
            f"{directory}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found"
        )
    return files


def _to_array(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    mode = img.mode
    alpha = None
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        if mode == "I" and arr.max(initial=0) <= 255:
            scaled = arr
        else:
            scaled = arr / 257.0
        gray = np.clip(np.floor(scaled + 0.5), 0, 255).astype(np.uint8)
        return gray[..., None], None
    if mode == "F":
        arr = np.asarray(img).astype(np.float64)
        scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
        gray = np.clip(np.floor(arr * scale + 0.5), 0, 255).astype(np.uint8)
        return gray[..., None], None
    if mode == "1":
        img = img.convert("L")
        mode = "L"
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode == "LA":
        arr = np.asarray(img)
        return arr[..., :1].copy(), arr[..., 1].copy()
    if mode == "L":
        return np.asarray(img)[..., None].copy(), None
    if mode == "RGBA":
        arr = np.asarray(img)
        return arr[..., :3].copy(), arr[..., 3].copy()
    if mode != "RGB":
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, ...
    return np.asarray(img).copy(), alpha


def read_image_with_alpha(
    path: str | os.PathLike,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read ``path`` as ``(image uint8 [H,W,1|3], alpha uint8 [H,W] or None)``."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "no such file")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            image, alpha = _to_array(img)
    except UnidentifiedImageError:
        raise ImageReadError(path, "not a recognised image file") from None
    except (OSError, SyntaxError, ValueError) as err:  # truncated, corrupt, ...
        raise ImageReadError(path, f"cannot decode image ({err})") from None
    if image.ndim != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageReadError(path, f"empty image of shape {image.shape}")
    return image, alpha


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read ``path`` as uint8 ``[H, W, C]``, ``C`` = 1 (gray) or 3 (RGB).

    Example:
        >>> import tempfile, numpy as np, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.png"
        >>> write_image(p, np.zeros((4, 5, 3), np.uint8))
        >>> read_image(p).shape
        (4, 5, 3)
    """
    return read_image_with_alpha(path)[0]


def write_image(
    path: str | os.PathLike, image: np.ndarray, alpha: np.ndarray | None = None
) -> None:
    """Write a uint8 ``[H,W,1|3]`` (or ``[H,W]``) image atomically; the format
    follows the file extension. ``alpha`` (``[H,W]`` uint8) adds an alpha
    channel (PNG/WebP/TIFF)."""
    path = Path(path)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"{path}: write_image expects uint8, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if alpha is not None:
        alpha = np.asarray(alpha, np.uint8)
        arr = np.concatenate(
            [arr[..., None] if arr.ndim == 2 else arr, alpha[..., None]], axis=-1
        )
        if arr.shape[-1] == 2:
            img = Image.fromarray(arr, "LA")
        else:
            img = Image.fromarray(arr, "RGBA")
    else:
        img = Image.fromarray(arr)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image extension {path.suffix!r}")
    with atomic_path(path, suffix=path.suffix) as tmp:
        img.save(tmp, format=fmt)
