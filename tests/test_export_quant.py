"""Quantized TFLite: full int8 calibrated on a representative dataset of real
LR crops, dynamic-range, and the Set5 PSNR criterion (<= 0.3 dB loss)."""

from __future__ import annotations

import numpy as np
import pytest

from export import ParityError, export_tflite, load_artifact
from export.tflite import representative_dataset
from keras_sr.io import list_images, read_image, write_image
from tests.helpers import T91
from tests.test_export import keras_out, set5_lr, tiny

litert = pytest.importorskip("ai_edge_litert.interpreter")


@pytest.fixture(scope="module")
def calibration_dir(tmp_path_factory):
    """Eight T91 training images (never the Set5 test images)."""
    d = tmp_path_factory.mktemp("calib")
    for f in list_images(T91)[::11][:8]:
        write_image(d / f"{f.stem}.png", read_image(f))
    return d


def test_representative_dataset_is_real_lr_crops(calibration_dir):
    samples, source = representative_dataset(1, 3, calibration_dir, num_samples=6)
    assert len(samples) == 6 and "6 images" in source
    for s in samples:
        assert s.dtype == np.float32 and s.shape[0] == 1 and s.shape[-1] == 1
        assert 0.0 <= s.min() and s.max() <= 1.0
        assert s.std() > 0.01  # real texture, not a constant


def test_int8_with_representative_dataset(tmp_path, calibration_dir):
    model = tiny(scale=2, channels=1)
    path = tmp_path / "q.tflite"
    report = export_tflite(
        model, path, quantize="int8", calibration_data=calibration_dir
    )
    assert report["passed"]
    assert str(calibration_dir) in report["calibration_data"]
    psnr = report["psnr"]
    assert psnr["protocol"] == "y-first" and psnr["drop_db"] <= 0.3
    assert psnr["keras_psnr"] > 25  # a working SR model, measured on Set5
    assert report["ops"]["QUANTIZE"] == 1 and report["ops"]["DEQUANTIZE"] == 1
    # Weights and activations really are int8; the interface stays float32.
    up = load_artifact(str(path))
    details = up.interpreter.get_tensor_details()
    conv_weights = [
        d for d in details if len(d["shape"]) == 4 and d["dtype"] == np.int8
    ]
    assert len(conv_weights) >= 2
    assert up.interpreter.get_input_details()[0]["dtype"] == np.float32
    # Round trip at two sizes: close to Keras at int8 precision.
    for x in (set5_lr(1, 24, 24), set5_lr(1, 15, 33, batch=2, offset=1)):
        got = up(x)
        assert got.shape == keras_out(model, x).shape
        assert np.abs(got - keras_out(model, x)).mean() < 0.01


def test_int8_bad_calibration_fails_psnr_check(tmp_path):
    """Calibrating on black images squeezes the activation ranges to zero;
    the Set5 PSNR check must catch it and write nothing."""
    black = tmp_path / "black"
    for i in range(3):
        write_image(black / f"{i}.png", np.zeros((40, 40, 3), np.uint8))
    model = tiny(scale=2, channels=1)
    path = tmp_path / "out" / "bad.tflite"
    with pytest.raises(ParityError, match="PSNR drop") as info:
        export_tflite(
            model, path, quantize="int8", calibration_data=black, parity_data=None
        )
    assert info.value.report["psnr"]["drop_db"] > 0.3
    assert not path.exists() and list(path.parent.iterdir()) == []


def test_dynamic_range(tmp_path):
    model = tiny(scale=2, channels=3)
    report = export_tflite(model, tmp_path / "d.tflite", quantize="dynamic")
    assert report["passed"] and report["psnr"]["protocol"] == "rgb"
    assert report["psnr"]["drop_db"] <= 0.3
    assert "QUANTIZE" not in report["ops"]  # float activations


def test_int8_needs_images(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_SR_SHARED_DATA", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="--calibration-data"):
        representative_dataset(1, 2, None)


def test_shipped_fsrcnn_int8_export_passes_the_gate(tmp_path, capsys):
    """``keras-sr export --model fsrcnn_x3 --quantize int8``: the int8-aware
    weights, their learned ranges and the conv + PReLU rewrite (no PRELU op)
    keep the full-int8 artifact within 0.3 dB of the *float* weights' Set5
    PSNR (32.93 dB, keras_sr/pretrained/pretrained.json)."""
    import json

    from tests.helpers import run_cli

    path = tmp_path / "fsrcnn_x3_int8.tflite"
    rc, _, err = run_cli(
        ["export", "--model", "fsrcnn_x3", "--format", "tflite",
         "--quantize", "int8", "--output", path],
        capsys,
    )  # fmt: skip
    assert rc == 0, err
    report = json.loads(path.with_name(path.name + ".parity.json").read_text())
    assert report["passed"] and report["weights"].startswith("int8-aware")
    assert "PRELU" not in report["ops"] and report["ops"]["CONV_2D"] == 7
    assert any("fused ReLU" in r for r in report["graph_rewrites"])
    vs_float = report["psnr"]["vs_float_weights"]
    assert vs_float["keras_psnr"] == pytest.approx(32.926, abs=0.01)
    assert 0.0 <= vs_float["drop_db"] <= 0.3
