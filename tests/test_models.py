"""Model zoo: every preset's shape on odd sizes, parameter counts (papers),
config / ``.keras`` round trips, ``get`` / ``list``."""

from __future__ import annotations

import numpy as np
import pytest

from keras_sr import models
from tests.helpers import assert_config_roundtrip, assert_keras_file_roundtrip

# Tiny constructor overrides per family so every preset runs fast.
TINY = {
    "srcnn": {"n1": 8, "n2": 4},
    "fsrcnn": {"d": 8, "s": 4, "m": 1},
    "espcn": {"filters": [8, 4]},
    "vdsr": {"depth": 4, "filters": 8},
    "srresnet": {"num_blocks": 1, "filters": 8},
    "edsr": {"num_blocks": 1, "filters": 8},
    "rrdbnet": {"num_blocks": 1, "filters": 8, "growth": 4},
    "glrl": {"filters": 8},
}


def family(name: str) -> str:
    return next(f for f in sorted(TINY, key=len, reverse=True) if name.startswith(f))


ZOO = [n for n in models.list() if any(n.startswith(f) for f in TINY)]


def _conv(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


# Parameter counts from the papers' architectures (computed layer by layer).
EXPECTED_PARAMS = {
    "srcnn_x3": 8129,  # 9-1-5
    "srcnn_955_x3": _conv(9, 1, 64) + _conv(5, 64, 32) + _conv(5, 32, 1),
    "fsrcnn_x3": _conv(5, 1, 56)
    + 56
    + _conv(1, 56, 12)
    + 12
    + 4 * (_conv(3, 12, 12) + 12)
    + _conv(1, 12, 56)
    + 56
    + _conv(9, 56, 1),
    "espcn_x3": _conv(5, 1, 64) + _conv(3, 64, 32) + _conv(3, 32, 9),
    "vdsr_x3": 664704,
    "edsr_baseline_x4": 1517571,
    "edsr_x4": _conv(3, 3, 256)
    + 32 * 2 * _conv(3, 256, 256)
    + _conv(3, 256, 256)
    + 2 * _conv(3, 256, 1024)
    + _conv(3, 256, 3),
    "rrdbnet_x4": 16697987,
    "rrdbnet_x2": 16697987 - _conv(3, 64, 64),  # one nearest-x2 upconv stage
    "rrdbnet_x3": 16697987 - _conv(3, 64, 64),  # one nearest-x3 upconv stage
    "edsr_baseline_x2": 1369859,  # EDSR paper: 1.37M
    "edsr_baseline_x3": 1554499,  # EDSR paper: 1.55M
    "espcn_x2": _conv(5, 1, 64) + _conv(3, 64, 32) + _conv(3, 32, 4),
    "espcn_x4": _conv(5, 1, 64) + _conv(3, 64, 32) + _conv(3, 32, 16),
    "glrl_x3": _conv(3, 1, 64)
    + _conv(3, 64, 64)
    + 64
    + 3 * (3 * _conv(3, 64, 64) + 3 * 64)
    + _conv(3, 64, 64)
    + _conv(3, 64, 1)
    + 2 * 64
    + 4,
    # SRResNet: trainable (BN moving statistics excluded)
    "srresnet_x4": _conv(9, 3, 64)
    + 64
    + 16 * (2 * _conv(3, 64, 64) + 2 * 128 + 64)
    + _conv(3, 64, 64)
    + 128
    + 2 * (_conv(3, 64, 256) + 64)
    + _conv(9, 64, 3),
}


def test_list_is_sorted_and_has_required_presets():
    names = models.list()
    assert names == sorted(names)
    for required in [
        "srcnn_x3",
        "fsrcnn_x3",
        "espcn_x3",
        "vdsr_x3",
        "srresnet_x4",
        "edsr_baseline_x4",
        "edsr_x4",
        "rrdbnet_x4",
        "glrl_x3",
    ]:
        assert required in names


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_param_counts_match_papers(name):
    model = models.get(name, pretrained=False)
    count = model.count_params()
    if name.startswith("srresnet"):
        count = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert count == EXPECTED_PARAMS[name]


@pytest.mark.parametrize("name", ZOO)
def test_preset_shapes_on_odd_sizes(name):
    model = models.get(name, pretrained=False, **TINY[family(name)])
    s, c = model.scale, model.channels
    assert c == (3 if family(name) in ("srresnet", "edsr", "rrdbnet") else 1)
    assert s == int(name.split("_x")[-1])
    for h, w in [(7, 9), (5, 13)]:
        x = np.random.default_rng(0).random((2, h, w, c)).astype("float32")
        y = model(x)
        assert tuple(y.shape) == (2, h * s, w * s, c)
        assert np.all(np.isfinite(np.asarray(y)))


@pytest.mark.parametrize(
    "name",
    [
        "srcnn_x3",
        "fsrcnn_x3",
        "espcn_x3",
        "vdsr_x2",
        "srresnet_x4",
        "edsr_baseline_x3",
        "rrdbnet_x4",
        "glrl_x4",
    ],
)
def test_config_and_keras_file_roundtrip(name, tmp_path):
    model = models.get(name, pretrained=False, **TINY[family(name)])
    assert_config_roundtrip(model)
    x = np.random.default_rng(1).random((1, 6, 7, model.channels)).astype("float32")
    assert_keras_file_roundtrip(model, x, tmp_path)
    import keras

    reloaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    assert (reloaded.scale, reloaded.channels) == (model.scale, model.channels)
    assert type(reloaded) is type(model)


def test_get_errors_clearly():
    with pytest.raises(ValueError, match="no pretrained weights.*pretrained=False"):
        models.get("vdsr_x3")
    with pytest.raises(ValueError, match="unknown model preset 'nope'"):
        models.get("nope")


def test_srcnn_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd"):
        models.SRCNN(f2=2)


def test_pre_upsampling_models_start_from_bicubic():
    # VDSR with its residual branch zeroed is exactly MATLAB bicubic.
    from keras_sr.ops import imresize

    model = models.get("vdsr_x3", pretrained=False, depth=3, filters=4)
    last = model.get_layer("conv3")
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    x = np.random.default_rng(2).random((1, 8, 9, 1)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(model(x)), imresize(x, scale=3).numpy(), atol=1e-6
    )
