"""``keras-sr upscale``: folders, a bad file skipped and reported, exit code,
Y-only models on RGB, grayscale, 16-bit and alpha inputs."""

from __future__ import annotations

import numpy as np
from PIL import Image

from keras_sr import models
from keras_sr.io import read_image, read_image_with_alpha, write_image
from keras_sr.ops import imresize
from tests.helpers import random_image, run_cli


def _inputs(folder):
    folder.mkdir()
    rgb = random_image(12, 10, 3, seed=1)
    write_image(folder / "rgb.png", rgb)
    write_image(folder / "gray.png", random_image(9, 11, 1, seed=2))
    rgba = random_image(8, 8, 3, seed=3)
    write_image(folder / "rgba.png", rgba, alpha=np.full((8, 8), 128, np.uint8))
    g16 = (np.arange(10 * 7).reshape(10, 7) * 900).astype(np.uint16)
    Image.fromarray(g16, mode="I;16").save(folder / "gray16.png")
    (folder / "broken.png").write_bytes(b"\x89PNG not really an image")
    return rgb


def test_upscale_folder_skips_bad_file_and_reports(tmp_path, capsys):
    rgb = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    rc, stdout, stderr = run_cli(
        [
            "upscale",
            tmp_path / "in",
            "--model",
            "bicubic",
            "--scale",
            2,
            "--output",
            out,
            "--quiet",
        ],
        capsys,
    )
    assert rc == 1
    assert "broken.png" in stderr and "skipped" in stderr
    assert "upscaled 4 of 5 inputs x2" in stdout and "1 skipped" in stdout
    produced = sorted(p.name for p in out.iterdir())
    assert produced == ["gray16_x2.png", "gray_x2.png", "rgb_x2.png", "rgba_x2.png"]
    np.testing.assert_array_equal(
        read_image(out / "rgb_x2.png"), imresize(rgb, scale=2).numpy()
    )
    assert read_image(out / "gray_x2.png").shape == (18, 22, 1)
    assert read_image(out / "gray16_x2.png").shape == (20, 14, 1)
    image, alpha = read_image_with_alpha(out / "rgba_x2.png")
    assert image.shape == (16, 16, 3) and alpha is not None
    assert np.all(alpha == 128)


def test_upscale_y_model_file_and_missing_input(tmp_path, capsys):
    src = tmp_path / "in"
    _inputs(src)
    model = models.get("espcn_x3", pretrained=False, filters=[8, 4])
    model.save(tmp_path / "espcn.keras")
    out = tmp_path / "out"
    rc, stdout, stderr = run_cli(
        [
            "upscale",
            src / "rgb.png",
            src / "gray.png",
            tmp_path / "missing.png",
            "--model",
            tmp_path / "espcn.keras",
            "--output",
            out,
            "--quiet",
        ],
        capsys,
    )
    assert rc == 1 and "missing.png" in stderr
    assert read_image(out / "rgb_x3.png").shape == (36, 30, 3)
    assert read_image(out / "gray_x3.png").shape == (27, 33, 1)
    rc, stdout, _ = run_cli(
        [
            "upscale",
            src / "rgb.png",
            "--model",
            tmp_path / "espcn.keras",
            "--output",
            tmp_path / "out2",
            "--quiet",
        ],
        capsys,
    )
    assert rc == 0 and "upscaled 1 of 1 inputs x3" in stdout


def test_upscale_unknown_model_is_a_clean_error(tmp_path, capsys):
    write_image(tmp_path / "a.png", random_image(8, 8))
    rc, _, stderr = run_cli(
        ["upscale", tmp_path / "a.png", "--model", "nope", "--output", tmp_path / "o"],
        capsys,
    )
    assert rc == 2 and "unknown model 'nope'" in stderr
