"""keras-sr evaluate: the published bicubic rows, the JSON report, bad input."""

import json
import shutil

import numpy as np
import pytest

from keras_sr.evaluation import evaluate_dataset
from keras_sr.inference import load_upscaler
from keras_sr.io import write_image
from tests.helpers import SET5_HR, SET14_HR, random_image, run_cli

# (PSNR, SSIM) rows every SR paper repeats (shared/data/README.md).
PUBLISHED = {
    ("Set5", 2): (33.66, 0.9299),
    ("Set5", 3): (30.39, 0.8682),
    ("Set5", 4): (28.42, 0.8104),
    ("Set14", 2): (30.24, 0.8688),
    ("Set14", 3): (27.55, 0.7742),
    ("Set14", 4): (26.00, 0.7027),
}
TOLERANCE = {"Set5": (0.005, 0.0005), "Set14": (0.01, 0.001)}
FOLDERS = {"Set5": SET5_HR, "Set14": SET14_HR}


@pytest.mark.parametrize("name,scale", sorted(PUBLISHED))
def test_bicubic_reproduces_published_rows(name, scale):
    result = evaluate_dataset(
        load_upscaler("bicubic", scale), FOLDERS[name], scale, "y-first"
    )
    want_psnr, want_ssim = PUBLISHED[(name, scale)]
    tol_psnr, tol_ssim = TOLERANCE[name]
    assert len(result["images"]) == (5 if name == "Set5" else 14)
    assert abs(result["psnr"] - want_psnr) <= tol_psnr, result["psnr"]
    assert abs(result["ssim"] - want_ssim) <= tol_ssim, result["ssim"]


def test_rgb_protocol_set5_x4_is_slightly_above_published():
    result = evaluate_dataset(load_upscaler("bicubic", 4), SET5_HR, 4, "rgb")
    # README: the RGB-uint8 protocol gives about +0.01 dB on Set5.
    assert 0.0 < result["psnr"] - 28.42 < 0.03


def test_cli_prints_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "res.json"
    saved = tmp_path / "sr"
    rc, stdout, _ = run_cli(
        [
            "evaluate",
            "--model",
            "bicubic",
            "--dataset",
            SET5_HR,
            "--scale",
            "3",
            "--output",
            out,
            "--save-images",
            saved,
        ],
        capsys,
    )
    assert rc == 0
    assert "butterfly.png" in stdout and "mean (5 images)" in stdout
    report = json.loads(out.read_text())
    assert {"model", "dataset", "scale", "protocol", "psnr", "ssim", "images"} <= set(
        report
    )
    assert report["scale"] == 3 and report["protocol"] == "y-first"
    assert report["psnr"] == pytest.approx(
        np.mean([r["psnr"] for r in report["images"]])
    )
    assert [r["name"] for r in report["images"]] == sorted(
        p.name for p in SET5_HR.iterdir()
    )
    assert len(list(saved.glob("*.png"))) == 5


def test_single_channel_images_are_y_under_y_first(tmp_path):
    rgb = random_image(48, 40, 3, seed=0)
    gray = rgb[..., :1]
    write_image(tmp_path / "g.png", gray)
    res = evaluate_dataset(load_upscaler("bicubic", 2), tmp_path, 2, "y-first")
    # Same numbers as evaluating that Y directly: LR computed on the gray values.
    assert np.isfinite(res["psnr"]) and 0 < res["ssim"] <= 1
    res_rgb = evaluate_dataset(load_upscaler("bicubic", 2), tmp_path, 2, "rgb")
    assert np.isfinite(res_rgb["psnr"])


@pytest.mark.parametrize("scale", ["2.5", "1", "abc", "0"])
def test_bad_scale_is_one_line_error(scale, capsys):
    rc, _, err = run_cli(
        ["evaluate", "--model", "bicubic", "--dataset", SET5_HR, "--scale", scale],
        capsys,
    )
    assert rc == 2
    assert err.strip().splitlines() == [
        f"keras-sr: error: scale must be an integer >= 2, got '{scale}'"
    ]


def test_empty_and_missing_folder(tmp_path, capsys):
    rc, _, err = run_cli(
        ["evaluate", "--model", "bicubic", "--dataset", tmp_path, "--scale", "2"],
        capsys,
    )
    assert rc == 2 and "no image files" in err and len(err.strip().splitlines()) == 1
    rc, _, err = run_cli(
        [
            "evaluate",
            "--model",
            "bicubic",
            "--dataset",
            tmp_path / "nope",
            "--scale",
            "2",
        ],
        capsys,
    )
    assert rc == 2 and "no such directory" in err


def test_unreadable_file_is_named_and_fails(tmp_path, capsys):
    for f in sorted(SET5_HR.glob("*.png"))[:2]:
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    rc, _, err = run_cli(
        ["evaluate", "--model", "bicubic", "--dataset", tmp_path, "--scale", "2"],
        capsys,
    )
    assert rc == 2
    assert "broken.png" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_image_too_small_for_shave(tmp_path, capsys):
    write_image(tmp_path / "tiny.png", random_image(16, 16, 3))
    rc, _, err = run_cli(
        ["evaluate", "--model", "bicubic", "--dataset", tmp_path, "--scale", "4"],
        capsys,
    )
    assert rc == 2 and "tiny.png" in err and "too small" in err


def test_unknown_model(capsys):
    rc, _, err = run_cli(
        ["evaluate", "--model", "nonsense", "--dataset", SET5_HR, "--scale", "2"],
        capsys,
    )
    assert rc == 2 and "unknown model 'nonsense'" in err
