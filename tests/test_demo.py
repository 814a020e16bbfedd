"""``keras-sr demo`` and the shipped pretrained weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keras_sr import models
from keras_sr.io import read_image
from tests.helpers import SET5_HR, run_cli

PRETRAINED = Path(models.__file__).resolve().parents[1] / "pretrained"
SHIPPED = ["srcnn_x3", "fsrcnn_x3", "espcn_x3"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_and_are_small(name):
    assert models.has_weights(name), f"{name}: weights missing from the package"
    path = models.get_preset(name).weights_path
    assert path.stat().st_size < 10 * 1024 * 1024
    model = models.get(name)  # pretrained=True
    assert (model.scale, model.channels) == (3, 1)


def test_pretrained_json_records_measured_numbers():
    table = json.loads((PRETRAINED / "pretrained.json").read_text())
    for name in SHIPPED:
        entry = table[name]
        assert entry["protocol"] == "y-first"
        for s in ("Set5_x3", "Set14_x3"):
            assert 20 < entry[s]["psnr"] < 40 and 0.5 < entry[s]["ssim"] < 1


def test_shipped_espcn_beats_bicubic_on_a_set5_image():
    from keras_sr.evaluation import evaluate_image
    from keras_sr.inference import BicubicUpscaler, load_upscaler

    hr = (
        read_image(SET5_HR / "butterfly.png")
        if (SET5_HR / "butterfly.png").exists()
        else read_image(sorted(SET5_HR.iterdir())[0])
    )
    bic, _ = evaluate_image(BicubicUpscaler(3), hr, 3, "y-first")
    sr, _ = evaluate_image(load_upscaler("espcn_x3"), hr, 3, "y-first")
    assert sr.psnr > bic.psnr + 1.0


def test_demo_runs_on_shipped_photos(tmp_path, capsys):
    out = tmp_path / "demo"
    rc, stdout, stderr = run_cli(
        ["demo", "--model", "espcn_x3", "--output", out], capsys
    )
    assert rc == 0, stderr
    assert "gain over bicubic: espcn_x3 +" in stdout
    for stem in ("astronaut", "chelsea", "coffee"):
        compare = read_image(out / f"{stem}_compare.png")
        sr = read_image(out / f"{stem}_espcn_x3.png")
        assert sr.shape == (192, 192, 3)
        assert compare.shape[1] == 3 * 192 + 2 * 4  # bicubic | model | original
        assert (out / f"{stem}_bicubic.png").is_file()
    # the model's row numbers are real measurements: SR differs from bicubic
    bic = read_image(out / "astronaut_bicubic.png").astype(int)
    assert (
        np.abs(read_image(out / "astronaut_espcn_x3.png").astype(int) - bic).max() > 0
    )
