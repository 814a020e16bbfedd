"""Geometric self-ensemble: the 8 flips/transposes, mapped back and averaged."""

import json

import numpy as np
import pytest

from keras_sr.inference import (
    BicubicUpscaler,
    SelfEnsembleUpscaler,
    Upscaler,
    load_upscaler,
)
from tests.helpers import SET5_HR, run_cli


class PositionSensitive(Upscaler):
    """Nearest x2 upsampling plus a ramp over the output grid scaled by the
    input's mean: depends on orientation, so not flip-equivariant."""

    name = "positional"
    scale = 2
    channels = 1

    def __init__(self):
        self.calls = []

    def __call__(self, lr):
        lr = np.asarray(lr, np.float64)
        self.calls.append(lr.shape)
        up = lr.repeat(2, axis=1).repeat(2, axis=2)
        h, w = up.shape[1:3]
        ramp = np.arange(h)[:, None] * 10.0 + np.arange(w)[None, :]
        mean = lr.mean(axis=(1, 2, 3))[:, None, None, None]
        return up + ramp[None, :, :, None] * mean


def reference_ensemble(fn, x):
    """The dihedral group written with ``np.rot90``: rotations of x and of
    its mirror image, each rotated back."""
    outs = []
    for mirror in (False, True):
        base = x[:, :, ::-1] if mirror else x
        for k in range(4):
            y = np.rot90(
                fn(np.ascontiguousarray(np.rot90(base, k, axes=(1, 2)))),
                -k,
                axes=(1, 2),
            )
            outs.append(y[:, :, ::-1] if mirror else y)
    return np.mean(outs, axis=0)


def test_eight_transforms_match_the_rot90_reference_on_a_non_square_image():
    rng = np.random.default_rng(0)
    x = rng.random((2, 5, 7, 1))
    inner = PositionSensitive()
    got = SelfEnsembleUpscaler(inner)(x)
    assert got.shape == (2, 10, 14, 1) and got.dtype == np.float32
    # both orientations were fed (7x5 after the transposes)
    assert sorted(set(inner.calls)) == [(2, 5, 7, 1), (2, 7, 5, 1)]
    assert len(inner.calls) == 8
    want = reference_ensemble(PositionSensitive(), x)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # the model is not equivariant, so the ensemble really changes the output
    assert np.abs(got - PositionSensitive()(x)).max() > 0.1


def test_fewer_transforms_use_flips_only():
    x = np.random.default_rng(1).random((1, 4, 6, 1))
    inner = PositionSensitive()
    two = SelfEnsembleUpscaler(inner, transforms=2)(x)
    assert inner.calls == [(1, 4, 6, 1)] * 2
    want = (inner(x) + inner(x[:, ::-1])[:, ::-1]) / 2
    np.testing.assert_allclose(two, want, rtol=1e-6, atol=1e-6)
    one = SelfEnsembleUpscaler(PositionSensitive(), transforms=1)(x)
    np.testing.assert_allclose(one, PositionSensitive()(x), rtol=1e-6)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_matlab_bicubic_is_equivariant_so_the_ensemble_returns_it(scale):
    x = np.random.default_rng(scale).random((1, 9, 13, 1))
    plain = BicubicUpscaler(scale)(x)
    ens = SelfEnsembleUpscaler(BicubicUpscaler(scale))(x)
    np.testing.assert_allclose(ens, plain, atol=1e-6)


def test_uint8_input_and_bad_transform_count():
    x = np.full((1, 6, 6, 1), 128, np.uint8)
    out = SelfEnsembleUpscaler(BicubicUpscaler(2))(x)
    np.testing.assert_allclose(out, 128 / 255, atol=1e-6)
    with pytest.raises(ValueError, match="1, 2, 4 or 8, got 3"):
        SelfEnsembleUpscaler(BicubicUpscaler(2), transforms=3)
    with pytest.raises(ValueError, match="1, 2, 4 or 8, got 6"):
        load_upscaler("bicubic", 2, self_ensemble=6)
    with pytest.raises(ValueError, match=r"NHWC \[B, h, w, C\], got \(6, 6\)"):
        SelfEnsembleUpscaler(BicubicUpscaler(2))(x[0, :, :, 0])


def test_load_upscaler_wraps_a_preset():
    up = load_upscaler("srcnn_x3", self_ensemble=8)
    assert isinstance(up, SelfEnsembleUpscaler)
    assert up.name.endswith("+") and up.scale == 3 and up.channels == 1


def test_cli_evaluate_self_ensemble_improves_shipped_srcnn(tmp_path, capsys):
    """The shipped SRCNN is not flip-equivariant; averaging over the 8
    copies must not lose PSNR on Set5 and is recorded in the report."""
    reports = {}
    for flag in ([], ["--self-ensemble"]):
        out = tmp_path / f"r{len(flag)}.json"
        rc, stdout, _ = run_cli(
            [
                "evaluate",
                "--model",
                "srcnn_x3",
                "--dataset",
                SET5_HR,
                "--scale",
                "3",
                "--output",
                out,
                "--quiet",
                *flag,
            ],
            capsys,
        )
        assert rc == 0, stdout
        reports[len(flag)] = json.loads(out.read_text())
    assert reports[0]["self_ensemble"] == 1 and reports[1]["self_ensemble"] == 8
    assert reports[1]["psnr"] > reports[0]["psnr"]
    assert reports[1]["psnr"] - reports[0]["psnr"] < 0.3


def test_cli_rejects_bad_count(capsys):
    rc, _, err = run_cli(
        [
            "evaluate",
            "--model",
            "bicubic",
            "--dataset",
            SET5_HR,
            "--scale",
            "3",
            "--self-ensemble",
            "5",
        ],
        capsys,
    )
    assert rc != 0 and "1, 2, 4 or 8, got 5" in err


def test_cli_upscale_self_ensemble_writes_the_ensembled_image(tmp_path, capsys):
    from keras_sr.inference import upscale_image
    from keras_sr.io import read_image, write_image
    from tests.helpers import random_image

    rgb = random_image(14, 11, 3, seed=4)
    write_image(tmp_path / "a.png", rgb)
    rc, stdout, _ = run_cli(
        [
            "upscale",
            tmp_path / "a.png",
            "--model",
            "srcnn_x3",
            "--output",
            tmp_path / "out",
            "--self-ensemble",
            "4",
            "--quiet",
        ],
        capsys,
    )
    assert rc == 0 and "srcnn_x3+" in stdout
    got = read_image(tmp_path / "out" / "a_x3.png")
    want, _ = upscale_image(load_upscaler("srcnn_x3", self_ensemble=4), rgb)
    plain, _ = upscale_image(load_upscaler("srcnn_x3"), rgb)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, plain)
