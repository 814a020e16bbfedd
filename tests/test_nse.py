"""Neural Structure Extractor, contrastive / jigsaw objectives and trainers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sr.gan import (
    ContrastivePredictor,
    JigsawClassifier,
    NeuralStructureExtractor,
    NSEContrastiveTrainer,
    NSEJigsawTrainer,
)
from keras_sr.gan.nse import (
    JIGSAW_PERMUTATIONS,
    contrastive_offsets,
    contrastive_step,
    evaluate_nse,
    jigsaw_step,
)
from tests.helpers import assert_config_roundtrip, assert_keras_file_roundtrip, run_cli


def test_nse_layout_stride_and_receptive_field(tmp_path):
    nse = NeuralStructureExtractor()
    assert nse(np.zeros((1, 64, 48, 3), "float32")).shape == (1, 16, 12, 32)
    assert (nse.receptive_field, nse.stride, nse.min_offset) == (29, 4, 8)
    convs = [layer for layer in nse.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 6 and [c.strides[0] for c in convs] == [1, 2, 1, 2, 1, 1]
    assert sum(isinstance(layer, keras.layers.Add) for layer in nse.layers) == 2
    # Empirical receptive field: a single-pixel change moves only features
    # whose 29-px window (stride 4) contains it.
    x = np.random.default_rng(0).random((1, 96, 96, 3)).astype("float32")
    y = x.copy()
    y[0, 50, 50] += 1.0
    changed = np.abs(np.asarray(nse(y)) - np.asarray(nse(x))).max(axis=(0, 3)) > 0
    rows = np.nonzero(changed.any(axis=1))[0]
    span = (rows.max() - rows.min() + 1) * 4
    assert span <= 29 + 4
    assert_config_roundtrip(nse)
    assert_keras_file_roundtrip(nse, x[:, :32, :32], tmp_path)


def test_contrastive_offsets():
    assert contrastive_offsets("h", 8) == [(0, -8), (0, 8)]
    assert contrastive_offsets("v", 8) == [(-8, 0), (8, 0)]
    assert len(contrastive_offsets("c", 8)) == 4
    with pytest.raises(ValueError, match="strategy"):
        contrastive_offsets("x", 8)


class EchoPredictor(keras.Model):
    """Predicts the mean of its two inputs (for checking the bookkeeping)."""

    def call(self, x):
        c = x.shape[-1] // 2
        return (x[:, :c] + x[:, c:]) / 2


def test_contrastive_step_negatives_follow_the_chebyshev_rule():
    h = w = 20
    k = 4
    z = tf.random.normal((1, h, w, 5), seed=1)
    out = contrastive_step(
        z, EchoPredictor(), keras.random.SeedGenerator(3), "h", k, num_anchors=1
    )
    # Brute force for every admissible anchor: the count of valid negatives
    # depends on the anchor; the reported mean must be one of these counts.
    counts = set()
    for r in range(h):
        for c in range(k, w - k):
            centres = [(r, c), (r, c - k), (r, c + k)]
            n = sum(
                all(max(abs(qr - a), abs(qc - b)) >= k for a, b in centres)
                for qr in range(h)
                for qc in range(w)
            )
            counts.add(n)
    assert int(round(float(out["negatives"]))) in counts
    assert float(out["loss"]) > 0


def test_contrastive_perfect_predictor_gets_top1():
    # Features that are a linear ramp in x: the mean of the neighbours at -k
    # and +k equals the target exactly, and the target is the best cosine match
    # among positions with the same direction ... use one-hot position codes.
    h, w, k = 12, 24, 3
    idx = np.arange(h * w).reshape(h, w)
    z = np.eye(h * w, dtype="float32")[idx][None]  # [1, h, w, h*w] one-hot

    class Oracle(keras.Model):
        def call(self, x):
            c = x.shape[-1] // 2
            left = tf.argmax(x[:, :c], axis=-1)
            return tf.one_hot(left + k, c)  # target = left input + k columns

    out = contrastive_step(
        tf.constant(z), Oracle(), keras.random.SeedGenerator(0), "h", k, num_anchors=8
    )
    assert float(out["accuracy"]) == 1.0


def test_jigsaw_step_labels_and_permutations():
    assert len({tuple(p) for p in JIGSAW_PERMUTATIONS}) == 24
    z = tf.random.normal((2, 12, 12, 4), seed=2)
    out = jigsaw_step(
        z, JigsawClassifier(4, 8), keras.random.SeedGenerator(1), k=4, num_anchors=5
    )
    assert 0.0 <= float(out["accuracy"]) <= 1.0
    assert float(out["loss"]) == pytest.approx(np.log(24), rel=0.5)
    with pytest.raises(ValueError, match="too small"):
        jigsaw_step(
            tf.zeros((1, 4, 4, 4)),
            JigsawClassifier(4, 8),
            keras.random.SeedGenerator(1),
            k=8,
        )


def _patches(n=4, size=64, seed=0):
    """Smooth ramps with random slopes (> 0) and offsets: position is visible
    in the content, so both pretext tasks are learnable."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        a, b = rng.uniform(0.3, 0.6, 2)
        img = rng.uniform(0, 0.2) + a * xx + b * yy
        phase = rng.uniform(0, 6.28)
        texture = 0.1 * np.sin(9 * xx + phase)[..., None] * rng.uniform(0.5, 1, 3)
        out.append(np.clip(img[..., None] * [1.0, 0.8, 0.6] + texture, 0, 1))
    return np.stack(out).astype("float32")


@pytest.mark.parametrize("kind", ["contrastive", "jigsaw"])
def test_nse_trainers_reduce_their_loss(kind):
    keras.utils.set_random_seed(0)
    nse = NeuralStructureExtractor(filters=8)
    if kind == "contrastive":
        trainer = NSEContrastiveTrainer(
            nse, ContrastivePredictor(2, 8, 32), num_anchors=8, offset=4, seed=0
        )
        lr = 3e-3
    else:
        trainer = NSEJigsawTrainer(
            nse, JigsawClassifier(8, 32), num_anchors=8, offset=4, seed=0
        )
        lr = 3e-3
    trainer.compile(optimizer=keras.optimizers.Adam(lr))
    x = _patches(4, 64)
    data = tf.data.Dataset.from_tensor_slices(x).batch(4).repeat()
    first = trainer.evaluate(data, steps=4, verbose=0, return_dict=True)["loss"]
    trainer.fit(data, steps_per_epoch=80, epochs=1, verbose=0)
    last = trainer.evaluate(data, steps=4, verbose=0, return_dict=True)["loss"]
    assert last < first * 0.9, (first, last)
    assert trainer(x[:1]).shape == (1, 16, 16, 8)


def test_predictor_strategy_mismatch_is_an_error():
    with pytest.raises(ValueError, match="uses 4 inputs"):
        NSEContrastiveTrainer(
            NeuralStructureExtractor(filters=4),
            ContrastivePredictor(2, 4),
            strategy="c",
        )


def test_evaluate_nse_and_cli(tmp_path, capsys):
    from keras_sr.io import write_image
    from tests.helpers import random_image

    nse = NeuralStructureExtractor(filters=4)
    head = ContrastivePredictor(2, 4, 8)
    images = _patches(2, 96)
    r = evaluate_nse(nse, head, images, num_anchors=4)
    assert r["task"] == "contrastive-h" and r["anchors"] == 8
    assert r["negatives"] > 100 and 0 <= r["accuracy"] <= 1
    j = evaluate_nse(nse, JigsawClassifier(4, 8), images, num_anchors=4)
    assert j["task"] == "jigsaw" and j["chance"] == pytest.approx(1 / 24)
    run = tmp_path / "run"
    run.mkdir()
    nse.save(run / "nse.keras")
    head.save(run / "head.keras")
    data = tmp_path / "imgs"
    data.mkdir()
    write_image(data / "a.png", random_image(100, 200, 3, seed=1))
    rc, out, err = run_cli(
        [
            "nse-eval",
            "--run",
            run,
            "--data",
            data,
            "--patch-size",
            "96",
            "--compare-random",
            "--output",
            tmp_path / "r.json",
        ],
        capsys,
    )
    assert rc == 0, err
    assert "2 crops" in out and "trained" in out and "random" in out
    rc, out, err = run_cli(
        ["nse-eval", "--run", tmp_path / "none", "--data", data], capsys
    )
    assert rc == 2 and "not found" in err
