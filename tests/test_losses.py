"""Losses: hand-computed values, (y_true, y_pred) order, reductions, configs."""

from __future__ import annotations

import numpy as np
import pytest

from keras_sr import losses


def _pair():
    y_true = np.zeros((2, 2, 2, 1), "float32")
    y_pred = np.array([0.1, -0.3, 0.2, 0.0, 1.0, 0.5, -0.5, 0.0], "float32").reshape(
        2, 2, 2, 1
    )
    return y_true, y_pred


def test_functions_per_image_values():
    t, p = _pair()
    np.testing.assert_allclose(losses.l1(t, p), [0.15, 0.5], rtol=1e-6)
    np.testing.assert_allclose(losses.mse(t, p), [0.035, 0.375], rtol=1e-6)
    np.testing.assert_allclose(losses.euclidean(t, p), [0.07, 0.75], rtol=1e-6)
    eps = 0.1
    want = [np.mean(np.sqrt(p[i] ** 2 + eps**2)) for i in range(2)]
    np.testing.assert_allclose(losses.charbonnier(t, p, epsilon=eps), want, rtol=1e-6)


def test_classes_reduce_and_weight():
    t, p = _pair()
    assert float(losses.L1Loss()(t, p)) == pytest.approx(0.325)
    assert float(losses.MSELoss()(t, p)) == pytest.approx(0.205)
    assert float(losses.L1Loss(reduction="sum")(t, p)) == pytest.approx(0.65)
    assert float(losses.MSELoss()(t, p, sample_weight=np.array([1.0, 0.0]))) == (
        pytest.approx(0.035 / 2)
    )
    # all-correct -> 0 (Charbonnier -> epsilon)
    assert float(losses.L1Loss()(t, t)) == 0.0
    assert float(losses.CharbonnierLoss(epsilon=1e-3)(t, t)) == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "cls", [losses.L1Loss, losses.MSELoss, losses.CharbonnierLoss, losses.EuclideanLoss]
)
def test_config_roundtrip_keeps_every_argument(cls):
    import inspect

    obj = cls(reduction="sum", name="x")
    config = obj.get_config()
    assert set(inspect.signature(cls).parameters) <= set(config)
    clone = cls.from_config(config)
    assert clone.get_config() == config


def test_get_by_name():
    assert isinstance(losses.get("charbonnier", epsilon=0.01), losses.CharbonnierLoss)
    with pytest.raises(ValueError, match="unknown loss 'l3'"):
        losses.get("l3")
