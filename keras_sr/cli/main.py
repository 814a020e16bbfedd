"""``keras-sr`` entry point.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``
and ``run(args) -> int``. Errors a user can fix (bad files, bad arguments)
print one line ``keras-sr: error: ...`` and exit with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from keras_sr import __version__

# Subcommand modules under keras_sr.cli, in help order.
SUBCOMMANDS = ["evaluate", "train", "upscale", "demo", "export", "nse-eval"]

# Exceptions that mean "the user's input is wrong": reported in one line.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    PermissionError,
)


def quiet_tensorflow_import() -> None:
    """Import TensorFlow with its C++ start-up chatter (absl INFO lines that
    no environment variable silences) sent to /dev/null; Python errors still
    surface normally."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-sr",
        description="Single-image super-resolution for TensorFlow / Keras 3.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"keras_sr.cli.{name.replace('-', '_')}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_tensorflow_import()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        print(f"keras-sr: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("keras-sr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
