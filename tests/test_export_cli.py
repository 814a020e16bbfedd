"""``keras-sr export`` and ``keras-sr evaluate`` on exported artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keras_sr.io import read_image, write_image
from tests.helpers import SET5_HR, run_cli
from tests.test_export import tiny

pytest.importorskip("ai_edge_litert.interpreter")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny_x2.keras"
    tiny(scale=2, channels=1).save(path)
    return path


@pytest.fixture(scope="module")
def hr_dir(tmp_path_factory):
    """Three small real HR images (crops of Set5) for a quick evaluate."""
    d = tmp_path_factory.mktemp("hr")
    for name in ("baby", "bird", "butterfly"):
        write_image(d / f"{name}.png", read_image(SET5_HR / f"{name}.png")[:96, :80])
    return d


def evaluate_json(capsys, model, hr_dir, tmp_path, name) -> dict:
    out = tmp_path / f"{name}.json"
    rc, _, err = run_cli(
        ["evaluate", "--model", model, "--dataset", hr_dir, "--scale", "2",
         "--output", out, "--quiet"],
        capsys,
    )  # fmt: skip
    assert rc == 0, err
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    ("fmt", "output"),
    [("tflite", "m.tflite"), ("onnx", "m.onnx"), ("saved_model", "m_sm")],
)
def test_export_then_evaluate_artifact(
    capsys, tmp_path, keras_file, hr_dir, fmt, output
):
    target = tmp_path / output
    rc, out, err = run_cli(
        ["export", "--model", keras_file, "--format", fmt, "--output", target], capsys
    )
    assert rc == 0, err
    assert "max abs diff vs Keras" in out and "parity report" in out
    assert target.exists()
    reference = evaluate_json(capsys, keras_file, hr_dir, tmp_path, "keras")
    got = evaluate_json(capsys, target, hr_dir, tmp_path, fmt)
    assert len(got["images"]) == 3
    # The deployed artifact measures what the Keras model measures.
    assert abs(got["psnr"] - reference["psnr"]) < 0.01
    assert abs(got["ssim"] - reference["ssim"]) < 1e-4


def test_export_tpu_then_evaluate(capsys, tmp_path, keras_file, hr_dir):
    target = tmp_path / "tpu"
    rc, out, err = run_cli(
        ["export", "--model", keras_file, "--format", "tpu", "--output", target,
         "--tile", "24x24", "--batch", "2"],
        capsys,
    )  # fmt: skip
    assert rc == 0, err
    assert "tiled run" in out
    report = json.loads((target / "parity.json").read_text())
    assert report["input"]["shape"] == [2, 24, 24, 1]
    reference = evaluate_json(capsys, keras_file, hr_dir, tmp_path, "keras")
    got = evaluate_json(capsys, target, hr_dir, tmp_path, "tpu")
    assert abs(got["psnr"] - reference["psnr"]) < 0.01


def test_parity_failure_exits_nonzero_and_writes_nothing(capsys, tmp_path, keras_file):
    target = tmp_path / "strict.tflite"
    rc, _, err = run_cli(
        ["export", "--model", keras_file, "--format", "tflite", "--output", target,
         "--quantize", "float16", "--max-abs-diff", "1e-9"],
        capsys,
    )  # fmt: skip
    assert rc == 1
    assert "failed parity" in err and "nothing was written" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "output", "message"),
    [
        (["--format", "onnx", "--quantize", "int8"], "m.onnx", "--quantize applies to"),
        (["--format", "tflite", "--bfloat16"], "m.tflite", "--bfloat16 applies to"),
        (["--format", "tpu", "--tile", "axb"], "tpu", "tile must look like HxW"),
        (["--format", "tflite"], "folder", "must end with .tflite"),
    ],
)
def test_bad_arguments(capsys, tmp_path, keras_file, argv, output, message):
    rc, _, err = run_cli(
        ["export", "--model", keras_file, "--output", tmp_path / output, *argv], capsys
    )
    assert rc == 2
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_unknown_model(capsys, tmp_path):
    rc, _, err = run_cli(
        ["export", "--model", tmp_path / "missing.keras", "--format", "onnx",
         "--output", tmp_path / "m.onnx"],
        capsys,
    )  # fmt: skip
    assert rc == 2 and "no such model file" in err


def test_preset_export_cli(capsys, tmp_path):
    pytest.importorskip("keras_sr.models")
    target = tmp_path / "espcn.onnx"
    rc, out, err = run_cli(
        ["export", "--model", "espcn_x3", "--format", "onnx", "--output", target,
         "--no-pretrained", "--json"],
        capsys,
    )  # fmt: skip
    assert rc == 0, err
    report = json.loads(out)
    assert report["model"] == "espcn_x3" and report["scale"] == 3
    assert report["max_abs_diff"] <= 1e-4
    lr = np.random.default_rng(0).random((1, 10, 12, 1), dtype=np.float32)
    from export import load_artifact

    assert load_artifact(str(target))(lr).shape == (1, 30, 36, 1)
