"""Shared test helpers (import as ``from tests.helpers import ...``).

Keep tests small and CPU-friendly: tiny images (16x16), tiny widths, and
assertions on behaviour a user relies on (numbers against references, round
trips, error messages).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get("KERAS_SR_SHARED_DATA", REPO.parent / "shared" / "data")
).resolve()
SET5_HR = SHARED_DATA / "test" / "Set5" / "HR"
SET14_HR = SHARED_DATA / "test" / "Set14" / "HR"
SET5_LR_MATLAB = SHARED_DATA / "test" / "Set5" / "LR_bicubic_matlab"
T91 = SHARED_DATA / "train" / "T91"
BSD200 = SHARED_DATA / "train" / "BSD200"
BSD200_BOUNDARIES = SHARED_DATA / "train" / "BSD200_boundaries"


def random_image(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth-ish random uint8 image (random field + gradient)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w, c)).astype(np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    ramp = (yy * 3 + xx * 5)[..., None] % 256
    return ((base + ramp) / 2).astype(np.uint8)


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run ``keras-sr`` in-process; returns ``(exit code, stdout, stderr)``."""
    from keras_sr.cli.main import main

    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        rc = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return rc, out.out, out.err


def assert_config_roundtrip(obj) -> None:
    """``from_config(get_config())`` gives an equal config (JSON-safe too)."""
    config = obj.get_config()
    json.dumps(config)  # must be JSON-serializable
    clone = type(obj).from_config(config)
    assert clone.get_config() == config


def assert_keras_file_roundtrip(model, inputs, tmp_path, atol: float = 1e-6) -> None:
    """Save ``model`` to ``.keras``, reload without custom_objects, and compare
    outputs on ``inputs``."""
    import keras

    path = Path(tmp_path) / "model.keras"
    expected = np.asarray(model(inputs, training=False))
    model.save(path)
    reloaded = keras.models.load_model(path, compile=False)
    got = np.asarray(reloaded(inputs, training=False))
    np.testing.assert_allclose(got, expected, atol=atol)
