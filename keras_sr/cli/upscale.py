"""``keras-sr upscale``: super-resolve image files or folders.

Every input is accounted for: a file that cannot be read or processed is
reported on stderr and skipped, the others finish, and the exit status is 1
if anything was skipped (0 otherwise).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from keras_sr.cli import add_self_ensemble_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale",
        help="upscale image files or folders with a model",
        description=(
            "Upscale images with a preset, a .keras file or an exported artifact. "
            "Y-channel models upscale Y and take CbCr from bicubic; alpha is "
            "upscaled separately; grayscale and 16-bit inputs are handled "
            "(16-bit is reduced to 8-bit). Outputs are PNG files named "
            "<name>_x<scale>.png."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument(
        "--model",
        required=True,
        help="'bicubic', a preset name, a .keras file, .tflite/.onnx or "
        "a SavedModel folder",
    )
    p.add_argument(
        "--scale",
        type=int,
        help="upscaling factor (required for bicubic; checked otherwise)",
    )
    p.add_argument("--output", required=True, help="output folder")
    add_self_ensemble_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def collect_inputs(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand folders; return ``(files, [(input, problem), ...])``."""
    from keras_sr.io import list_images

    files, problems = [], []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            try:
                files.extend(list_images(path))
            except ValueError as err:
                problems.append((item, str(err)))
        elif path.is_file():
            files.append(path)
        else:
            problems.append((item, "no such file or directory"))
    return files, problems


def _output_name(path: Path, scale: int, used: set[str]) -> str:
    name = f"{path.stem}_x{scale}.png"
    k = 1
    while name in used:
        name = f"{path.stem}_{k}_x{scale}.png"
        k += 1
    used.add(name)
    return name


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from keras_sr.inference import load_upscaler, upscale_image
    from keras_sr.io import read_image_with_alpha, write_image

    upscaler = load_upscaler(args.model, args.scale, args.self_ensemble)
    files, problems = collect_inputs(args.inputs)
    for item, reason in problems:
        print(f"keras-sr: skipped {item}: {reason}", file=sys.stderr)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    done, skipped = 0, len(problems)
    bar = tqdm(
        files,
        desc="upscale",
        unit="img",
        file=sys.stderr,
        disable=args.quiet or not sys.stderr.isatty(),
    )
    for path in bar:
        try:
            image, alpha = read_image_with_alpha(path)
            sr, alpha_sr = upscale_image(upscaler, image, alpha)
            write_image(
                out_dir / _output_name(path, upscaler.scale, used), sr, alpha=alpha_sr
            )
            done += 1
        except Exception as err:  # noqa: BLE001 - report, skip, carry on
            skipped += 1
            reason = str(err) if str(path) in str(err) else f"{path}: {err}"
            tqdm.write(f"keras-sr: skipped {reason}", file=sys.stderr)
    total = done + skipped
    print(
        f"upscaled {done} of {total} inputs x{upscaler.scale} with {upscaler.name} "
        f"-> {out_dir}" + (f"; {skipped} skipped" if skipped else "")
    )
    return 1 if skipped else 0
