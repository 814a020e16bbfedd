"""Neural Structure Extractor (NSE) of SPSR-P / SPSR-J and its self-supervised
trainers (seed 001, METHODS.md §6.7).

* :class:`NeuralStructureExtractor`: 6 convs + ReLU, two ResNet-style skips,
  stride 4, 32 channels; receptive field 29 px.
* Contrastive prediction (SPSR-P): a predictor ``g`` (FC-ReLU-FC) reads the
  features at ``n`` input positions around an anchor ``p`` and predicts
  ``z_p``; InfoNCE over scaled cosine similarities (``s = 64``) with negatives
  drawn from the **same** feature map at positions whose receptive fields do
  not overlap those of the target or of the inputs (Chebyshev distance on the
  feature grid ``>= k``, ``k = ceil(R / stride) = 8``). Strategies: ``"h"``
  (inputs at ``p -+ (0, k)``, default), ``"v"`` (``p -+ (k, 0)``), ``"c"``
  (all four).
* Jigsaw (SPSR-J): four features on a 2x2 grid with offset ``k`` are
  concatenated in one of the 4! = 24 orders; a 3-layer MLP predicts which.

Tensor conventions: images NHWC RGB float32 in [0, 1]; NSE features
``[B, H/4, W/4, 32]``. Randomness comes from ``keras.random.SeedGenerator``.
"""

from __future__ import annotations

import itertools
import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_sr.utils import keras_sr_export

__all__ = [
    "ContrastivePredictor",
    "JIGSAW_PERMUTATIONS",
    "JigsawClassifier",
    "NSEContrastiveTrainer",
    "NSEJigsawTrainer",
    "NeuralStructureExtractor",
    "contrastive_offsets",
    "contrastive_step",
    "evaluate_nse",
    "jigsaw_step",
    "nse_patches",
]

JIGSAW_PERMUTATIONS = np.array(list(itertools.permutations(range(4))), dtype="int32")

# (stride, kernel) of the six convs; used to derive the receptive field.
_NSE_LAYOUT = ((1, 3), (2, 3), (1, 3), (2, 3), (1, 3), (1, 3))


def _receptive_field(layout=_NSE_LAYOUT) -> tuple[int, int]:
    rf, jump = 1, 1
    for stride, kernel in layout:
        rf += (kernel - 1) * jump
        jump *= stride
    return rf, jump


@keras_sr_export("keras_sr.gan.NeuralStructureExtractor")
class NeuralStructureExtractor(keras.Model):
    """The NSE: ``[B, H, W, 3]`` RGB [0,1] -> ``[B, ceil(H/4), ceil(W/4), F]``.

    Layout (METHODS.md §6.7, [DESIGN] on seed 001's "6 conv + ReLU, 2 skips,
    stride 4, 32 channels"), all 3x3 'same' convs with He-normal init::

        e1 = relu(conv1(x))            stride 1
        e2 = relu(conv2(e1))           stride 2
        e3 = relu(conv3(e2)) + e2      (skip 1)
        e4 = relu(conv4(e3))           stride 2
        e5 = relu(conv5(e4))
        z  = relu(conv6(e5)) + e4      (skip 2; linear conv6 if final_relu=False)

    ``receptive_field`` is 29, ``stride`` 4 and ``min_offset`` (the smallest
    grid distance with non-overlapping receptive fields) ``ceil(29/4) = 8``.

    Args:
        filters: int. Channels of every conv / of the output. Defaults to 32.
        final_relu: bool. ReLU after conv6. Defaults to True.

    Example:
        >>> import numpy as np
        >>> nse = NeuralStructureExtractor()
        >>> nse(np.zeros((1, 64, 48, 3), "float32")).shape
        TensorShape([1, 16, 12, 32])
    """

    def __init__(self, filters: int = 32, final_relu: bool = True, **kwargs):
        f = int(filters)

        def conv(name, stride):
            return keras.layers.Conv2D(
                f,
                3,
                strides=stride,
                padding="same",
                kernel_initializer="he_normal",
                name=name,
            )

        relu = keras.layers.ReLU
        inputs = keras.Input((None, None, 3))
        e1 = relu(name="relu1")(conv("conv1", 1)(inputs))
        e2 = relu(name="relu2")(conv("conv2", 2)(e1))
        e3 = keras.layers.Add(name="skip1")(
            [relu(name="relu3")(conv("conv3", 1)(e2)), e2]
        )
        e4 = relu(name="relu4")(conv("conv4", 2)(e3))
        e5 = relu(name="relu5")(conv("conv5", 1)(e4))
        y6 = conv("conv6", 1)(e5)
        if final_relu:
            y6 = relu(name="relu6")(y6)
        z = keras.layers.Add(name="skip2", dtype="float32")([y6, e4])
        super().__init__(inputs, z, **kwargs)
        self.filters = f
        self.final_relu = bool(final_relu)
        self.receptive_field, self.stride = _receptive_field()
        self.min_offset = math.ceil(self.receptive_field / self.stride)

    def get_config(self) -> dict:
        return {
            "filters": self.filters,
            "final_relu": self.final_relu,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _mlp(inputs, widths, name_prefix):
    x = inputs
    for i, width in enumerate(widths):
        last = i == len(widths) - 1
        x = keras.layers.Dense(
            width,
            activation=None if last else "relu",
            name=f"{name_prefix}fc{i + 1}",
            dtype="float32" if last else None,
        )(x)
    return x


@keras_sr_export("keras_sr.gan.ContrastivePredictor")
class ContrastivePredictor(keras.Model):
    """The autoregressive predictor ``g`` of SPSR-P: ``FC(n*F -> hidden) ->
    ReLU -> FC(hidden -> F)`` ([GUESS] widths). Input ``[N, n*F]`` (the
    concatenated input features), output ``[N, F]`` float32.

    Args:
        num_inputs: int. 2 for strategies "h"/"v", 4 for "c". Defaults to 2.
        feature_dim: int. NSE channels F. Defaults to 32.
        hidden: int. Defaults to 128.

    Example:
        >>> import numpy as np
        >>> ContrastivePredictor()(np.zeros((5, 64), "float32")).shape
        TensorShape([5, 32])
    """

    def __init__(
        self, num_inputs: int = 2, feature_dim: int = 32, hidden: int = 128, **kwargs
    ):
        inputs = keras.Input((int(num_inputs) * int(feature_dim),))
        outputs = _mlp(inputs, (int(hidden), int(feature_dim)), "")
        super().__init__(inputs, outputs, **kwargs)
        self.num_inputs = int(num_inputs)
        self.feature_dim = int(feature_dim)
        self.hidden = int(hidden)

    def get_config(self) -> dict:
        return {
            "num_inputs": self.num_inputs,
            "feature_dim": self.feature_dim,
            "hidden": self.hidden,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras_sr_export("keras_sr.gan.JigsawClassifier")
class JigsawClassifier(keras.Model):
    """SPSR-J permutation classifier: 3 FC layers ``4F -> hidden -> hidden ->
    24`` with ReLU ([GUESS] widths). Input ``[N, 4*F]``, output logits
    ``[N, 24]`` float32.

    Args:
        feature_dim: int. Defaults to 32.
        hidden: int. Defaults to 256.

    Example:
        >>> import numpy as np
        >>> JigsawClassifier()(np.zeros((3, 128), "float32")).shape
        TensorShape([3, 24])
    """

    def __init__(self, feature_dim: int = 32, hidden: int = 256, **kwargs):
        inputs = keras.Input((4 * int(feature_dim),))
        outputs = _mlp(inputs, (int(hidden), int(hidden), len(JIGSAW_PERMUTATIONS)), "")
        super().__init__(inputs, outputs, **kwargs)
        self.feature_dim = int(feature_dim)
        self.hidden = int(hidden)

    def get_config(self) -> dict:
        return {
            "feature_dim": self.feature_dim,
            "hidden": self.hidden,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def contrastive_offsets(strategy: str, k: int) -> list[tuple[int, int]]:
    """Grid offsets (dy, dx) of the predictor's inputs around the target."""
    if strategy == "h":
        return [(0, -k), (0, k)]
    if strategy == "v":
        return [(-k, 0), (k, 0)]
    if strategy == "c":
        return [(0, -k), (0, k), (-k, 0), (k, 0)]
    raise ValueError(f"strategy must be 'h', 'v' or 'c', got {strategy!r}.")


def _gather(z_flat, rows, cols, width):
    """z_flat [B, P, C]; rows/cols [B, N] -> [B, N, C]."""
    idx = rows * width + cols
    return tf.gather(z_flat, idx, batch_dims=1)


def contrastive_step(
    z,
    predictor,
    seed_generator,
    strategy: str = "h",
    k: int = 8,
    num_anchors: int = 16,
    scale: float = 64.0,
    training: bool = False,
):
    """One InfoNCE evaluation on NSE features ``z`` ``[B, Hf, Wf, C]``.

    Samples ``num_anchors`` targets per image (all inputs inside the map),
    predicts each target from its inputs, scores the prediction against the
    target and all valid negatives of the same image by ``scale * cos``.

    Returns:
        dict with ``loss`` (mean InfoNCE), ``accuracy`` (top-1: the target
        scores highest), ``negatives`` (mean negatives per anchor).
    """
    offsets = contrastive_offsets(strategy, int(k))
    shape = tf.shape(z)
    b, h, w = shape[0], shape[1], shape[2]
    c = z.shape[-1]
    my = max(abs(dy) for dy, _ in offsets)
    mx = max(abs(dx) for _, dx in offsets)
    static_h, static_w = z.shape[1], z.shape[2]
    if static_h is not None and (static_h <= 2 * my or static_w <= 2 * mx):
        raise ValueError(
            f"feature map {static_h}x{static_w} is too small for strategy "
            f"{strategy!r} with offset k={k} (needs > {2 * my}x{2 * mx}); use "
            f"larger patches."
        )
    rows = keras.random.randint((b, num_anchors), my, h - my, seed=seed_generator)
    cols = keras.random.randint((b, num_anchors), mx, w - mx, seed=seed_generator)
    z = ops.cast(z, "float32")
    z_flat = tf.reshape(z, (b, h * w, c))
    inputs = [_gather(z_flat, rows + dy, cols + dx, w) for dy, dx in offsets]
    x = tf.reshape(tf.concat(inputs, axis=-1), (b * num_anchors, len(offsets) * c))
    pred = tf.reshape(
        ops.cast(predictor(x, training=training), "float32"), (b, num_anchors, c)
    )
    pred_n = tf.math.l2_normalize(pred, axis=-1, epsilon=1e-12)
    z_n = tf.math.l2_normalize(z_flat, axis=-1, epsilon=1e-12)
    logits = float(scale) * tf.einsum("bnc,bpc->bnp", pred_n, z_n)
    # Valid negatives: Chebyshev distance >= k from the target and all inputs.
    grid = tf.range(h * w)
    qr = (grid // w)[None, None, :]
    qc = (grid % w)[None, None, :]
    centres = [(0, 0), *offsets]
    valid = tf.ones_like(logits, dtype=tf.bool)
    for dy, dx in centres:
        dist = tf.maximum(
            tf.abs(qr - (rows + dy)[..., None]), tf.abs(qc - (cols + dx)[..., None])
        )
        valid = tf.logical_and(valid, dist >= k)
    labels = rows * w + cols
    positive = tf.equal(grid[None, None, :], labels[..., None])
    logits = tf.where(tf.logical_or(valid, positive), logits, -1e9)
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    )
    hit = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels)
    return {
        "loss": loss,
        "accuracy": tf.reduce_mean(tf.cast(hit, "float32")),
        "negatives": tf.reduce_mean(tf.reduce_sum(tf.cast(valid, "float32"), -1)),
    }


def jigsaw_step(
    z,
    classifier,
    seed_generator,
    k: int = 8,
    num_anchors: int = 16,
    training: bool = False,
):
    """One jigsaw evaluation on NSE features ``z`` ``[B, Hf, Wf, C]``.

    Features at ``p, p+(0,k), p+(k,0), p+(k,k)`` are concatenated in a random
    permutation (uniform over the 24); the classifier predicts its index.

    Returns:
        dict with ``loss`` (cross-entropy) and ``accuracy`` (classification
        rate).
    """
    shape = tf.shape(z)
    b, h, w = shape[0], shape[1], shape[2]
    c = z.shape[-1]
    if z.shape[1] is not None and (z.shape[1] <= k or z.shape[2] <= k):
        raise ValueError(
            f"feature map {z.shape[1]}x{z.shape[2]} is too small for a 2x2 jigsaw "
            f"grid with offset k={k}; use larger patches."
        )
    rows = keras.random.randint((b, num_anchors), 0, h - k, seed=seed_generator)
    cols = keras.random.randint((b, num_anchors), 0, w - k, seed=seed_generator)
    labels = keras.random.randint(
        (b, num_anchors), 0, len(JIGSAW_PERMUTATIONS), seed=seed_generator
    )
    z_flat = tf.reshape(ops.cast(z, "float32"), (b, h * w, c))
    tiles = tf.stack(
        [
            _gather(z_flat, rows + dy, cols + dx, w)
            for dy, dx in ((0, 0), (0, k), (k, 0), (k, k))
        ],
        axis=2,
    )  # [B, N, 4, C]
    perms = tf.gather(tf.constant(JIGSAW_PERMUTATIONS), labels)  # [B, N, 4]
    shuffled = tf.gather(tiles, perms, batch_dims=2)
    x = tf.reshape(shuffled, (b * num_anchors, 4 * c))
    logits = ops.cast(classifier(x, training=training), "float32")
    flat_labels = tf.reshape(labels, (-1,))
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=flat_labels, logits=logits
        )
    )
    hit = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), flat_labels)
    return {"loss": loss, "accuracy": tf.reduce_mean(tf.cast(hit, "float32"))}


def _hr_of(data):
    """Datasets yield ``(lr, hr)`` pairs or HR batches; the NSE uses HR."""
    if isinstance(data, (tuple, list)):
        return data[1] if len(data) > 1 else data[0]
    return data


class _NSETrainerBase(keras.Model):
    head_key = "head"

    def __init__(self, extractor, head, num_anchors, seed, **kwargs):
        super().__init__(**kwargs)
        self.extractor = extractor
        self.head = head
        self.num_anchors = int(num_anchors)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")

    def call(self, inputs, training=False):
        return self.extractor(inputs, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def _evaluate(self, hr, training):  # pragma: no cover - abstract
        raise NotImplementedError

    def _update(self, out):
        self.loss_tracker.update_state(out["loss"])
        self.accuracy_tracker.update_state(out["accuracy"])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        hr = _hr_of(data)
        variables = self.extractor.trainable_variables + self.head.trainable_variables
        with tf.GradientTape() as tape:
            out = self._evaluate(hr, training=True)
            loss = out["loss"]
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        return self._update(out)

    def test_step(self, data):
        return self._update(self._evaluate(_hr_of(data), training=False))


@keras_sr_export("keras_sr.gan.NSEContrastiveTrainer")
class NSEContrastiveTrainer(_NSETrainerBase):
    """Self-supervised contrastive-prediction trainer of the NSE (SPSR-P).

    ``fit`` on batches of HR patches (or ``(lr, hr)`` pairs; HR is used),
    RGB float [0,1]. Metrics: ``loss`` (InfoNCE) and ``accuracy`` (top-1).
    ``call`` runs the extractor.

    Args:
        extractor: a :class:`NeuralStructureExtractor`. Defaults to a new one.
        predictor: a :class:`ContrastivePredictor` (matching the strategy).
        strategy: "h" (default), "v" or "c".
        num_anchors: anchors per image. Defaults to 16.
        scale: cosine scale s. Defaults to 64.
        offset: grid offset k; defaults to ``extractor.min_offset`` (8).
        seed: int or None.

    Example:
        >>> import numpy as np, keras
        >>> t = NSEContrastiveTrainer(NeuralStructureExtractor(filters=8),
        ...                           ContrastivePredictor(2, 8, 16))
        >>> t.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> h = t.fit(np.random.rand(2, 96, 96, 3).astype("float32"),
        ...           batch_size=2, epochs=1, verbose=0)
    """

    def __init__(
        self,
        extractor=None,
        predictor=None,
        strategy: str = "h",
        num_anchors: int = 16,
        scale: float = 64.0,
        offset: int | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        extractor = extractor or NeuralStructureExtractor()
        n = len(contrastive_offsets(strategy, 1))
        predictor = predictor or ContrastivePredictor(n, extractor.filters)
        if predictor.num_inputs != n:
            raise ValueError(
                f"strategy {strategy!r} uses {n} inputs but the predictor takes "
                f"{predictor.num_inputs}."
            )
        super().__init__(extractor, predictor, num_anchors, seed, **kwargs)
        self.strategy = strategy
        self.scale = float(scale)
        self.offset = int(offset if offset is not None else extractor.min_offset)
        self.negatives_tracker = keras.metrics.Mean(name="negatives")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker, self.negatives_tracker]

    def _update(self, out):
        self.negatives_tracker.update_state(out["negatives"])
        return super()._update(out)

    @property
    def predictor(self):
        return self.head

    def _evaluate(self, hr, training):
        z = self.extractor(hr, training=training)
        return contrastive_step(
            z,
            self.head,
            self.seed_generator,
            self.strategy,
            self.offset,
            self.num_anchors,
            self.scale,
            training=training,
        )


@keras_sr_export("keras_sr.gan.NSEJigsawTrainer")
class NSEJigsawTrainer(_NSETrainerBase):
    """Self-supervised jigsaw trainer of the NSE (SPSR-J): 2x2 grid of
    features, 24 permutations, cross-entropy. Metrics ``loss`` and
    ``accuracy`` (classification rate). ``call`` runs the extractor.

    Args:
        extractor: a :class:`NeuralStructureExtractor`.
        classifier: a :class:`JigsawClassifier`.
        num_anchors: grids per image. Defaults to 16.
        offset: grid offset k; defaults to ``extractor.min_offset``.
        seed: int or None.
    """

    def __init__(
        self,
        extractor=None,
        classifier=None,
        num_anchors: int = 16,
        offset: int | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        extractor = extractor or NeuralStructureExtractor()
        classifier = classifier or JigsawClassifier(extractor.filters)
        super().__init__(extractor, classifier, num_anchors, seed, **kwargs)
        self.offset = int(offset if offset is not None else extractor.min_offset)

    @property
    def classifier(self):
        return self.head

    def _evaluate(self, hr, training):
        z = self.extractor(hr, training=training)
        return jigsaw_step(
            z,
            self.head,
            self.seed_generator,
            self.offset,
            self.num_anchors,
            training=training,
        )


def nse_patches(
    directory: str, patch_size: int = 192, max_per_image: int = 4
) -> np.ndarray:
    """Non-overlapping ``patch_size`` RGB crops (float32 [0, 1]) of every image
    in ``directory`` (row-major, at most ``max_per_image`` each); images
    smaller than one patch are skipped. Raises ValueError if none fit."""
    from keras_sr.io import list_images, read_image

    crops = []
    for path in list_images(directory):
        img = read_image(path)
        if img.shape[-1] == 1:
            img = np.repeat(img, 3, axis=-1)
        img = img[..., :3]
        taken = 0
        for y in range(0, img.shape[0] - patch_size + 1, patch_size):
            for x in range(0, img.shape[1] - patch_size + 1, patch_size):
                if taken < max_per_image:
                    crops.append(img[y : y + patch_size, x : x + patch_size])
                    taken += 1
    if not crops:
        raise ValueError(f"{directory}: no image is at least {patch_size}x{patch_size}")
    return np.stack(crops).astype("float32") / 255.0


def evaluate_nse(
    extractor: keras.Model,
    head: keras.Model,
    images: np.ndarray,
    strategy: str | None = None,
    num_anchors: int = 16,
    scale: float = 64.0,
    offset: int | None = None,
    seed: int = 0,
    batch_size: int = 8,
) -> dict:
    """Seed 001's NSE evaluation (METHODS.md §6.7 / issue: top-1 accuracy of
    contrastive prediction against all valid negatives of the same feature map
    (about 2000 for 192x192 patches), or the jigsaw classification rate).

    ``head`` decides the task: a :class:`ContrastivePredictor` (strategy "h"
    by default for 2 inputs, "c" for 4) or a :class:`JigsawClassifier`.

    Returns:
        ``{"task", "accuracy", "loss", "anchors", "negatives" (contrastive),
        "chance"}``.
    """
    offset = int(offset if offset is not None else extractor.min_offset)
    gen = keras.random.SeedGenerator(seed)
    jigsaw = isinstance(head, JigsawClassifier)
    if not jigsaw and strategy is None:
        strategy = "c" if head.num_inputs == 4 else "h"
    sums = {"loss": 0.0, "accuracy": 0.0, "negatives": 0.0}
    count = 0
    for start in range(0, len(images), batch_size):
        batch = tf.convert_to_tensor(images[start : start + batch_size])
        z = extractor(batch, training=False)
        if jigsaw:
            out = jigsaw_step(z, head, gen, offset, num_anchors)
        else:
            out = contrastive_step(z, head, gen, strategy, offset, num_anchors, scale)
        n = int(batch.shape[0]) * num_anchors
        for key in sums:
            if key in out:
                sums[key] += float(out[key]) * n
        count += n
    result = {
        "task": "jigsaw" if jigsaw else f"contrastive-{strategy}",
        "accuracy": sums["accuracy"] / count,
        "loss": sums["loss"] / count,
        "anchors": count,
    }
    if jigsaw:
        result["chance"] = 1.0 / len(JIGSAW_PERMUTATIONS)
    else:
        result["negatives"] = sums["negatives"] / count
        result["chance"] = 1.0 / (1.0 + result["negatives"])
    return result
