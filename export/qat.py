"""Int8-aware fine-tuning: TFLite's full-int8 arithmetic simulated in Keras.

Post-training int8 rounds every activation of a network to 256 levels. For
the small Y-channel networks this costs about 0.5 dB Set5 PSNR (ESPCN, FSRCNN;
``benchmarks/export_matrix.py``): TFLite fixes the output of ``TANH`` at a
step of 1/128, and a conv layer's output range is set by its rare extremes.
Fine-tuning the float weights for a few thousand steps *through a simulation
of that arithmetic* (fake quantisation with straight-through gradients, i.e.
quantisation-aware training) makes them robust to it, while the float model
keeps its accuracy. The exported artifact is then an ordinary post-training
int8 conversion of the fine-tuned float weights.

The simulation follows what the TFLite converter does with
``Optimize.DEFAULT`` + ``TFLITE_BUILTINS_INT8`` and a representative dataset:

* weights: int8 per output channel, symmetric, narrow range
  (``scale = max|w| / 127``);
* activations: int8 per tensor, asymmetric, with the min/max seen on the
  calibration data (extended to include 0): the model input, every conv
  output (before ``tanh``; after a fused ``relu``) and every ``PReLU``
  output;
* ``tanh`` outputs: the fixed TFLite grid ``k / 128``, ``k`` in [-128, 127];
* ``PReLU`` slopes: int8 with one symmetric scale per tensor (as the
  converter stores them; a slope of 0.1 beside one of 6 is off by up to 20%);
* biases (int32) are left in float: their rounding is orders of magnitude
  below the activations'.

With ``split_prelu=True`` every ``Conv2D -> PReLU`` pair is simulated as the
int8 export converts it (:func:`split_prelu_model`): one conv whose output
``[relu(y), relu(-y)]`` is rounded once into ``[0, max|y|]``, the slopes
folded into the next conv's int8 kernel, no ``PRELU`` op.

Supported are chains of ``Conv2D`` (linear, ``relu`` or ``tanh``),
``Conv2DTranspose``, ``PReLU`` and :class:`keras_sr.layers.PixelShuffle`, as
the SRCNN, FSRCNN and ESPCN presets are. Anything else raises ``ValueError``.

Example:
    >>> import keras_sr.models  # doctest: +SKIP
    >>> from export.qat import Int8Simulator  # doctest: +SKIP
    >>> model = keras_sr.models.get("espcn_x3", pretrained=True)  # doctest: +SKIP
    >>> sim = Int8Simulator(model)  # doctest: +SKIP
    >>> sim.calibrate(calibration_crops)  # doctest: +SKIP
    >>> sr = sim(lr)  # doctest: +SKIP

``sr`` is what the int8 ``.tflite`` would return, approximately.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np
import tensorflow as tf

#: The fixed int8 output grid of TFLite's TANH: scale 1/128, zero point 0.
TANH_RANGE = (-1.0, 127.0 / 128.0)
#: Beyond +-this, tanh is within one output step (1/128) of +-1: clipping a
#: tanh input there costs at most one step, on any image.
TANH_SATURATION = float(np.arctanh(1.0 - 1.0 / 128.0))

_ACTIVATIONS = ("linear", "relu", "tanh")


def _activation_name(layer) -> str:
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", "linear") if fn is not None else "linear"


def fake_quant_activation(x: tf.Tensor, lo, hi) -> tf.Tensor:
    """Per-tensor asymmetric int8 rounding of ``x`` to ``[lo, hi]`` (extended
    to include 0, which stays exactly representable); straight-through
    gradient inside the range. ``lo``/``hi`` may be tensors (no retracing
    when a calibration moves them)."""
    lo = tf.minimum(tf.cast(lo, tf.float32), 0.0)
    hi = tf.maximum(tf.cast(hi, tf.float32), lo + 1e-6)
    hi = tf.maximum(hi, 0.0)
    return tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8)


def fake_quant_activation_learned(x: tf.Tensor, lo, hi) -> tf.Tensor:
    """:func:`fake_quant_activation` with gradients for the range too
    (learned step size, Esser et al. 2020, "LSQ"): the rounding is a
    straight-through estimator, so ``lo``/``hi`` get the gradient of the
    rounding error through the step ``(hi - lo) / 255`` and that of the
    clipped values through the clip. Same forward values as the TFLite
    int8 grid: the zero point is an integer, 0 stays exact."""
    lo = tf.minimum(tf.cast(lo, tf.float32), 0.0)
    hi = tf.maximum(tf.maximum(tf.cast(hi, tf.float32), lo + 1e-6), 0.0)
    step = (hi - lo) / 255.0
    zero = tf.stop_gradient(tf.clip_by_value(tf.round(-lo / step), 0.0, 255.0))
    v = x / step + zero
    v = v + tf.stop_gradient(tf.round(v) - v)
    return (tf.clip_by_value(v, 0.0, 255.0) - zero) * step


def fake_quant_weights(kernel: tf.Tensor, channel_axis: int = -1) -> tf.Tensor:
    """Per-channel symmetric narrow-range int8 rounding of a kernel."""
    perm = None
    rank = len(kernel.shape)
    axis = channel_axis % rank
    if axis != rank - 1:
        perm = [i for i in range(rank) if i != axis] + [axis]
        kernel = tf.transpose(kernel, perm)
    reduce = list(range(rank - 1))
    m = tf.stop_gradient(tf.maximum(tf.reduce_max(tf.abs(kernel), reduce), 1e-8))
    q = tf.quantization.fake_quant_with_min_max_vars_per_channel(
        kernel, -m, m, num_bits=8, narrow_range=True
    )
    if perm is not None:
        q = tf.transpose(q, np.argsort(perm).tolist())
    return q


def fake_quant_alpha(alpha: tf.Tensor) -> tf.Tensor:
    """PReLU slopes as the int8 TFLite ``PRELU`` stores them: one symmetric
    scale ``max|alpha| / 127`` for the whole tensor (straight-through)."""
    step = tf.maximum(tf.reduce_max(tf.abs(alpha)), 1e-12) / 127.0
    return alpha + tf.stop_gradient(tf.round(alpha / step) * step - alpha)


def _feeds_prelu(layers: list, i: int) -> bool:
    """Whether ``layers[i]`` is followed by a ``PReLU`` in the chain."""
    return i + 1 < len(layers) and isinstance(layers[i + 1], keras.layers.PReLU)


def _split_input_kernel(kernel: tf.Tensor, slopes: tf.Tensor, transposed: bool):
    """The kernel of a conv whose input ``prelu(y)`` is given as
    ``[relu(y), relu(-y)]``: ``[W; -a W]`` on the input-channel axis (axis 2
    of a ``Conv2D`` kernel, 3 of a ``Conv2DTranspose`` one), since
    ``prelu(y) = relu(y) - a relu(-y)``."""
    a = tf.reshape(tf.cast(slopes, kernel.dtype), [-1])
    a = a[None, None, None, :] if transposed else a[None, None, :, None]
    return tf.concat([kernel, -a * kernel], axis=3 if transposed else 2)


def _check_split_prelu(layers: list) -> None:
    """``split_prelu`` needs every ``PReLU`` to follow a linear conv, have
    one slope per channel and feed a conv."""
    for i, layer in enumerate(layers):
        if not isinstance(layer, keras.layers.PReLU):
            continue
        prev = layers[i - 1] if i else None
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        conv = (keras.layers.Conv2D, keras.layers.Conv2DTranspose)
        if (
            not isinstance(prev, keras.layers.Conv2D)
            or isinstance(prev, keras.layers.Conv2DTranspose)
            or _activation_name(prev) != "linear"
        ):
            raise ValueError(
                f"split_prelu: PReLU {layer.name!r} does not follow a linear Conv2D"
            )
        if not isinstance(nxt, conv):
            raise ValueError(f"split_prelu: PReLU {layer.name!r} does not feed a conv")
        channels = prev.filters
        if int(np.prod(layer.weights[0].shape)) != channels:
            raise ValueError(
                f"split_prelu: PReLU {layer.name!r} needs one slope per channel "
                f"(shared_axes=[1, 2]), has shape {tuple(layer.weights[0].shape)}"
            )


def split_prelu_model(model: keras.Model) -> keras.Model:
    """A float twin of a conv / PReLU chain with every ``Conv2D -> PReLU``
    pair rewritten as one ``Conv2D`` with fused ReLU and twice the filters.

    ``prelu(y) = relu(y) - a * relu(-y)``: the conv gets the kernel
    ``[W, -W]`` and bias ``[b, -b]`` (output ``[relu(y), relu(-y)]``) and the
    next conv the input kernel ``[V; -a V]``. The float outputs are the same
    (up to float rounding); the point is int8: TFLite rounds a conv output
    and then the PReLU output, two roundings per layer, where the rewritten
    chain rounds once, into a ``[0, max|y|]`` grid. ``Int8Simulator(model,
    split_prelu=True)`` simulates the int8 arithmetic of this twin.

    Args:
        model: keras.Model. A chain accepted by :class:`Int8Simulator`
            (``split_prelu=True``), e.g. FSRCNN; NHWC float32.

    Returns:
        A functional keras.Model with the same input and output, whose layers
        keep the original conv names.

    Example:
        >>> from keras_sr.models import FSRCNN
        >>> m = FSRCNN(scale=2, d=8, s=4, m=1)
        >>> twin = split_prelu_model(m)
        >>> [type(layer).__name__ for layer in twin.layers[1:]]
        ['Conv2D', 'Conv2D', 'Conv2D', 'Conv2D', 'Conv2DTranspose']
    """
    layers = Int8Simulator(model, split_prelu=True).layers
    inputs = keras.Input(model.inputs[0].shape[1:], name="lr")
    h = inputs
    slopes = None
    for i, layer in enumerate(layers):
        if isinstance(layer, keras.layers.PReLU):
            continue
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            h = layer.__class__.from_config(layer.get_config())(h)
            continue
        transposed = isinstance(layer, keras.layers.Conv2DTranspose)
        kernel = layer.weights[0]
        bias = layer.weights[1] if layer.use_bias else None
        if slopes is not None:
            kernel = _split_input_kernel(kernel, slopes, transposed)
        slopes = None
        config = layer.get_config()
        if _feeds_prelu(layers, i):
            slopes = layers[i + 1].weights[0]
            kernel = tf.concat([kernel, -kernel], axis=-1)
            bias = None if bias is None else tf.concat([bias, -bias], axis=0)
            config.update(filters=2 * layer.filters, activation="relu")
        config.pop("dtype", None)
        new = layer.__class__.from_config(config)
        h = new(h)
        new.set_weights(
            [np.asarray(kernel)] + ([] if bias is None else [np.asarray(bias)])
        )
    return keras.Model(inputs, h, name=f"{model.name}_split_prelu")


def _batches(samples: list[np.ndarray]) -> list[np.ndarray]:
    """Stack same-shape samples into batches (calibration crops vary)."""
    groups: dict[tuple, list[np.ndarray]] = {}
    for x in samples:
        x = np.asarray(x, np.float32)
        groups.setdefault(x.shape[1:], []).append(x)
    return [np.concatenate(g) for g in groups.values()]


class Int8Simulator:
    """Float model -> a differentiable simulation of its int8 TFLite twin.

    Args:
        model: keras.Model. A chain of supported layers (see the module
            docstring); input ``[B,h,w,C]`` float32 in [0, 1].
        split_prelu: bool. Simulate the graph of :func:`split_prelu_model`
            (what the int8 export converts for conv + PReLU chains); every
            ``PReLU`` must follow a linear ``Conv2D``, feed a conv and have
            one slope per channel. Defaults to False (``PRELU`` ops).

    Call :meth:`calibrate` on representative LR inputs (the same ones the
    int8 export will use) before the first call, and again when the weights
    have moved.
    """

    def __init__(self, model: keras.Model, split_prelu: bool = False):
        self.model = model
        self.split_prelu = bool(split_prelu)
        self.layers = []
        try:
            previous = model.inputs[0]
        except (AttributeError, IndexError, TypeError):
            raise ValueError(
                f"Int8Simulator: {model.name!r} is not a functional model (a chain "
                "of layers with one input is needed)"
            ) from None
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            supported = (
                isinstance(
                    layer,
                    (
                        keras.layers.Conv2D,
                        keras.layers.Conv2DTranspose,
                        keras.layers.PReLU,
                    ),
                )
                or type(layer).__name__ == "PixelShuffle"
            )
            if not supported:
                raise ValueError(
                    f"Int8Simulator: layer {layer.name!r} ({type(layer).__name__}) "
                    "is not supported; supported are Conv2D, Conv2DTranspose, "
                    "PReLU and PixelShuffle chains"
                )
            if layer.input is not previous:
                raise ValueError(
                    f"Int8Simulator: {model.name!r} is not a chain (layer "
                    f"{layer.name!r} does not take the previous layer's output)"
                )
            if isinstance(layer, keras.layers.Conv2D):
                act = _activation_name(layer)
                if act not in _ACTIVATIONS:
                    raise ValueError(
                        f"Int8Simulator: layer {layer.name!r} has activation "
                        f"{act!r}; supported are {_ACTIVATIONS}"
                    )
            previous = layer.output
            self.layers.append(layer)
        if self.split_prelu:
            _check_split_prelu(self.layers)
        self.pre_tanh = {
            layer.name
            for layer in self.layers
            if isinstance(layer, keras.layers.Conv2D)
            and not isinstance(layer, keras.layers.Conv2DTranspose)
            and _activation_name(layer) == "tanh"
        }
        # key -> tf.Variable [lo, hi]; variables so that a tf.function
        # training step sees recalibrations without retracing.
        self.ranges: dict[str, tf.Variable] = {}
        # Keys whose ranges are trained (see learn_ranges).
        self.learned: set[str] = set()

    # ------------------------------------------------------------------
    def _forward(
        self,
        x: tf.Tensor,
        observe=None,
        quantize: bool = True,
    ):
        """The chain, with fake quantisation where TFLite rounds.

        Args:
            observe: ``observe(key, tensor)`` on every quantised tensor (for
                calibration, with ``quantize=False``).
            quantize: round the weights, the activations and the tanh outputs.
        """

        def point(key: str, t: tf.Tensor) -> tf.Tensor:
            if observe is not None:
                observe(key, t)
            if quantize:
                bounds = self.ranges[key]
                if key in self.learned:
                    return fake_quant_activation_learned(t, bounds[0], bounds[1])
                return fake_quant_activation(t, bounds[0], bounds[1])
            return t

        h = point("input", tf.convert_to_tensor(x, tf.float32))
        slopes = None  # split_prelu: the slopes of the PReLU before this conv
        for i, layer in enumerate(self.layers):
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
                k = layer.weights[0]
                transposed = isinstance(layer, keras.layers.Conv2DTranspose)
                if slopes is not None:  # h is [relu(y), relu(-y)]: [W; -a W]
                    k = _split_input_kernel(k, slopes, transposed)
                if quantize:
                    k = fake_quant_weights(k, channel_axis=2 if transposed else -1)
                if transposed:
                    y = keras.ops.conv_transpose(
                        h,
                        k,
                        strides=layer.strides,
                        padding=layer.padding,
                        output_padding=layer.output_padding,
                        dilation_rate=layer.dilation_rate,
                    )
                else:
                    y = keras.ops.conv(
                        h,
                        k,
                        strides=layer.strides,
                        padding=layer.padding,
                        dilation_rate=layer.dilation_rate,
                    )
                if layer.use_bias:
                    y = tf.nn.bias_add(y, layer.weights[1])
                act = "linear" if transposed else _activation_name(layer)
                if act == "relu":
                    y = tf.nn.relu(y)
                slopes = None
                if self.split_prelu and _feeds_prelu(self.layers, i):
                    # One conv with [W, -W], fused ReLU: one rounding.
                    y = tf.concat([tf.nn.relu(y), tf.nn.relu(-y)], axis=-1)
                    slopes = self.layers[i + 1].weights[0]
                h = point(layer.name, y)
                if act == "tanh":
                    h = tf.tanh(h)
                    if quantize:
                        h = fake_quant_activation(h, *TANH_RANGE)
            elif isinstance(layer, keras.layers.PReLU) and self.split_prelu:
                continue  # folded into the next conv's kernel (see above)
            elif isinstance(layer, keras.layers.PReLU):
                # As keras.layers.PReLU computes it (the form the TFLite
                # converter fuses into one PRELU op).
                alpha = layer.weights[0]
                if quantize:  # TFLite: int8, one symmetric scale per tensor
                    alpha = fake_quant_alpha(alpha)
                h = point(layer.name, tf.nn.relu(h) + (-alpha) * tf.nn.relu(-h))
            else:  # PixelShuffle: a permutation, no rounding of its own
                h = layer(h)
        return h

    def calibrate(
        self, samples: Iterable[np.ndarray]
    ) -> dict[str, tuple[float, float]]:
        """Record each quantised tensor's min/max over ``samples`` (LR batches
        ``[B,h,w,C]`` float32 in [0, 1]), as the TFLite converter does."""
        ranges: dict[str, list[float]] = {}

        def observe(key, t):
            lo, hi = float(tf.reduce_min(t)), float(tf.reduce_max(t))
            if key in ranges:
                ranges[key] = [min(ranges[key][0], lo), max(ranges[key][1], hi)]
            else:
                ranges[key] = [lo, hi]

        count = 0
        for sample in samples:
            self._forward(sample, observe=observe, quantize=False)
            count += 1
        if not count:
            raise ValueError("Int8Simulator.calibrate: no calibration samples")
        for key, (lo, hi) in ranges.items():
            if key in self.learned:
                continue
            if key in self.ranges:
                self.ranges[key].assign([lo, hi])
            else:
                self.ranges[key] = tf.Variable(
                    [lo, hi], trainable=False, dtype=tf.float32, name=f"range_{key}"
                )
        return {k: (v[0], v[1]) for k, v in ranges.items()}

    def search_ranges(
        self,
        samples: list[np.ndarray],
        factors: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3),
        passes: int = 2,
        scope: str = "tanh",
    ) -> dict[str, tuple[float, float]]:
        """Narrow the calibrated ranges where that lowers the end-to-end error.

        Min/max calibration lets a few extreme values set a tensor's step;
        clipping them costs less than the coarser rounding of everything
        else, above all before a ``tanh`` (whose far tails are flat). For
        each quantised tensor inside the network in turn (not the input and
        output images; ``passes`` sweeps), its calibrated
        ``[lo, hi]`` is scaled by each of ``factors``; a factor is kept when
        it lowers the squared error between the simulated int8 output and the
        float output on both halves of ``samples`` (even and odd ones), the
        largest such decrease winning. Call :meth:`calibrate` first.

        ``scope="tanh"`` (default) narrows only the inputs of ``tanh``, and
        never inside ``+-TANH_SATURATION``: a clipped value is then off by at
        most one tanh output step, whatever the image. ``"inner"`` narrows
        every tensor inside the network without that bound, which fits the
        calibration crops more (on random-weight test models it was worse
        than min/max on other images).

        Returns the chosen ranges (``export.tflite`` writes them into the
        calibration statistics before the int8 quantisation).
        """
        if not self.ranges:
            raise RuntimeError("Int8Simulator: call calibrate() first")
        # Two halves of the samples: a narrower range is kept only if it
        # lowers the error on both (a guard against fitting the crops).
        halves = [_batches(samples[0::2]), _batches(samples[1::2])]
        halves = [h for h in halves if h]
        refs = [[self._forward(x, quantize=False) for x in h] for h in halves]

        def errors() -> list[float]:
            return [
                float(
                    sum(
                        tf.reduce_sum(tf.square(self._forward(x) - r))
                        for x, r in zip(h, rs, strict=True)
                    )
                )
                for h, rs in zip(halves, refs, strict=True)
            ]

        base = {k: v.numpy().copy() for k, v in self.ranges.items()}
        if scope not in ("tanh", "inner"):
            raise ValueError(f"scope must be 'tanh' or 'inner', got {scope!r}")
        keys = [k for k in self.inner_keys() if scope == "inner" or k in self.pre_tanh]
        best = errors()
        for _ in range(passes):
            for key in keys:
                best_f = None
                for f in factors:
                    self.ranges[key].assign(self._narrowed(key, base[key], f))
                    errs = errors()
                    if all(e < b for e, b in zip(errs, best, strict=True)):
                        best, best_f = errs, f
                if best_f is not None:
                    base[key] = self._narrowed(key, base[key], best_f)
                self.ranges[key].assign(base[key])
        return {k: (float(v[0]), float(v[1])) for k, v in base.items()}

    def _narrowed(self, key: str, bounds: np.ndarray, factor: float) -> np.ndarray:
        """``bounds * factor``; a tanh input is not narrowed inside the
        saturation bound (and a bound already inside it stays)."""
        out = np.asarray(bounds, np.float32) * factor
        if key in self.pre_tanh:
            keep = np.minimum(np.abs(bounds), TANH_SATURATION)
            out = np.sign(bounds) * np.maximum(np.abs(out), keep)
        return out.astype(np.float32)

    def learn_ranges(self) -> list[tf.Variable]:
        """Make the ranges of the tensors inside the network trainable (the
        input and output images keep their calibrated ranges) and return
        them, for an optimiser. From then on those tensors are rounded by
        :func:`fake_quant_activation_learned`; :meth:`calibrate` leaves them
        alone. Call :meth:`calibrate` (and, to start narrow,
        :meth:`search_ranges`) first."""
        if not self.ranges:
            raise RuntimeError("Int8Simulator: call calibrate() first")
        out = []
        for key in self.inner_keys():
            old = self.ranges[key]
            if key not in self.learned:
                self.ranges[key] = tf.Variable(
                    old.numpy(), trainable=True, dtype=tf.float32, name=f"range_{key}"
                )
                self.learned.add(key)
            out.append(self.ranges[key])
        return out

    def get_ranges(self) -> dict[str, list[float]]:
        """``{tensor: [lo, hi]}`` as plain floats (JSON-ready)."""
        return {k: [float(v) for v in var.numpy()] for k, var in self.ranges.items()}

    def set_ranges(self, ranges: dict) -> None:
        """Assign ``{tensor: [lo, hi]}`` (e.g. from :meth:`get_ranges`)."""
        for key, bounds in ranges.items():
            if key not in self.ranges:
                raise KeyError(f"Int8Simulator: no quantised tensor {key!r}")
            self.ranges[key].assign(np.asarray(bounds, np.float32))

    def inner_keys(self) -> list[str]:
        """The quantised tensors inside the network: all but the input and
        output images (clipping those shows directly on any image brighter or
        darker than the calibration crops)."""
        last = [layer.name for layer in self.layers if layer.name in self.ranges][-1]
        return [k for k in self.ranges if k not in ("input", last)]

    def __call__(self, x) -> tf.Tensor:
        """Simulated int8 output ``[B, h*s, w*s, C]`` (float32)."""
        if not self.ranges:
            raise RuntimeError("Int8Simulator: call calibrate() first")
        return self._forward(x)
