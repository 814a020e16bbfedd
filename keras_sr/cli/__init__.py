"""The ``keras-sr`` command line: a thin layer over library calls."""

from __future__ import annotations

import argparse


def add_self_ensemble_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--self-ensemble [N]`` option of the commands that run a model
    (passed to :func:`keras_sr.inference.load_upscaler`)."""
    parser.add_argument(
        "--self-ensemble",
        type=int,
        nargs="?",
        const=8,
        default=None,
        metavar="N",
        help="average the model over N flipped/transposed copies of the input "
        "(1, 2, 4 or 8; 8 without N), as EDSR+ does; N times slower",
    )
