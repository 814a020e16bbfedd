"""Float-exact per-channel rescaling of LHSP for full-int8 export.

Full-int8 TFLite gives every activation tensor one scale (per tensor), so a
channel whose values span a tenth of the tensor's range keeps only a tenth of
the 256 levels. In LHSP (seed 000) three tensors suffer from it:

* ``X = ReLU(conv1(y))``: channel maxima range over 3x;
* the Shepard numerator ``w_c * P_c`` and denominator ``w_c * M``: their
  channel maxima range over 7x, and the numerator's rounding is divided by
  the (often small) denominator;
* ``U``, the 32-channel ReLU output of the Shepard block's 1x1 mixing.

Each can be rescaled per channel without changing the float function
(cross-layer equalization, Nagel et al. 2019, applied by hand to this graph):

* ``w_c -> a_c w_c`` scales numerator and denominator alike, so the ratio
  ``I_c`` is unchanged; ``a_c`` makes every channel's calibration maximum of
  the denominator the same.
* ``conv1`` channel ``c`` (kernel and bias) ``-> b_c *`` (ReLU is positively
  homogeneous, placement and the Shepard ratio are linear in ``X``) and the
  mixing kernel's input row ``c -> / b_c``; ``b_c`` equalizes the maxima of
  ``X`` (dead channels, all zero on the calibration crops, keep ``b_c = 1``).
* mixing column ``j`` and the Shepard bias ``j -> t_j *`` and the HSP
  kernel's input ``j -> / t_j``; ``t_j`` equalizes the maxima of ``U``.

:func:`equalized_lhsp` applies the three to a model for the duration of a
conversion, checks on the calibration crops that the float output did not
move, and restores the weights on exit. ``export.tflite.convert`` uses it for
``int8`` only. Measured on the shipped ``lhsp_x3`` (Set5 x3, full int8):
32.45 dB with it, 32.22 without, 32.58 in float
(``benchmarks/lhsp_placement_inference.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

# the float output may move by rounding only (float32 arithmetic, [0,1] range)
EXACTNESS_TOLERANCE = 1e-4
# a channel whose calibration maximum is below this fraction of the largest is
# dead (ReLU never fires): it is left unscaled
DEAD_FRACTION = 1e-6


def _softplus_inverse(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return np.where(v > 30.0, v, np.log(np.expm1(np.minimum(v, 30.0))))


def _is_relu(layer) -> bool:
    return keras.activations.serialize(layer.activation) == "relu"


def _lhsp_layers(model) -> dict | None:
    """The equalizable layers of an LHSP model, or None (other models, or an
    LHSP variant these rescalings are not exact for)."""
    from keras_sr.layers import ShepardUpsampling
    from keras_sr.models.lhsp import LHSP

    if not isinstance(model, LHSP):
        return None
    names = {layer.name: layer for layer in model.layers}
    conv1, shepard = names.get("conv1"), names.get("shepard")
    if not (
        isinstance(conv1, keras.layers.Conv2D)
        and _is_relu(conv1)
        and conv1.use_bias
        and isinstance(shepard, ShepardUpsampling)
        and shepard.mode == "depthwise"
        and shepard.filters is not None
    ):
        return None
    hsp = names.get("hsp")
    with_u = hsp is not None and _is_relu(shepard) and hsp.kernel.shape[2] == (
        shepard.filters
    )
    return {"conv1": conv1, "shepard": shepard, "hsp": hsp if with_u else None}


def _channel_maxima(model, layers: dict, calibration: Sequence[np.ndarray]):
    """Per-channel maxima over the calibration crops of ``X``, the Shepard
    denominator and ``U``."""
    shepard = layers["shepard"]
    outputs = [layers["conv1"].output, model.get_layer("placement").output[1]]
    outputs.append(shepard.output)
    probe = keras.Model(model.input, outputs)
    k = shepard.kernel_size
    weights = tf.nn.softplus(shepard.shepard_kernel)
    den_kernel = tf.reshape(weights, [k, k, 1, -1])
    x_max = den_max = u_max = 0.0
    for sample in calibration:
        x, mask, u = probe(np.asarray(sample, np.float32), training=False)
        den = tf.nn.conv2d(mask, den_kernel, [1, 1, 1, 1], "SAME")
        x_max = np.maximum(x_max, tf.reduce_max(x, axis=[0, 1, 2]).numpy())
        den_max = np.maximum(den_max, tf.reduce_max(den, axis=[0, 1, 2]).numpy())
        u_max = np.maximum(u_max, tf.reduce_max(u, axis=[0, 1, 2]).numpy())
    return x_max, den_max, u_max


def _equalizer(maxima: np.ndarray) -> np.ndarray:
    """Per-channel factors bringing every live channel's maximum to the
    largest one."""
    top = float(np.max(maxima))
    live = maxima > DEAD_FRACTION * top
    return np.where(live, top / np.where(live, maxima, 1.0), 1.0)


def _rescale(layers: dict, a: np.ndarray, b: np.ndarray, t: np.ndarray | None):
    conv1, shepard, hsp = layers["conv1"], layers["shepard"], layers["hsp"]
    w = tf.nn.softplus(shepard.shepard_kernel).numpy().astype(np.float64)
    shepard.shepard_kernel.assign(_softplus_inverse(w * a[None, None, :, None]))
    kernel, bias = conv1.get_weights()
    conv1.set_weights([kernel * b, bias * b])
    mixing = shepard.mixing_kernel.numpy() / b[None, None, :, None]
    if t is not None:
        mixing = mixing * t[None, None, None, :]
        shepard.bias.assign(shepard.bias.numpy() * t)
        hsp_weights = hsp.get_weights()
        hsp.set_weights([hsp_weights[0] / t[None, None, :, None], *hsp_weights[1:]])
    shepard.mixing_kernel.assign(mixing)


def _restore(layers: list, weights: list) -> None:
    for layer, values in zip(layers, weights, strict=True):
        layer.set_weights(values)


@contextlib.contextmanager
def equalized_lhsp(
    model: keras.Model, calibration: Sequence[np.ndarray]
) -> Iterator[list[str]]:
    """Within the block an LHSP ``model`` computes the same float function with
    per-channel ranges equalized for int8 (see the module docstring); yields a
    list with one line describing the rewrite (empty when the model is not an
    LHSP or the rewrite would not be exact), and restores the weights on exit.

    Example:
        >>> from export.equalize import equalized_lhsp  # doctest: +SKIP
        >>> with equalized_lhsp(model, crops) as notes:  # doctest: +SKIP
        ...     tflite = convert_int8(model, crops)
    """
    layers = _lhsp_layers(model)
    if layers is None or not calibration:
        yield []
        return
    touched = [layer for layer in layers.values() if layer is not None]
    saved = [layer.get_weights() for layer in touched]
    probe = [np.asarray(s, np.float32) for s in list(calibration)[:2]]
    try:
        reference = [model(x, training=False).numpy() for x in probe]
        x_max, den_max, u_max = _channel_maxima(model, layers, calibration)
        a, b = _equalizer(den_max), _equalizer(x_max)
        # U is the same under a and b (exact), so its maxima still apply
        t = None if layers["hsp"] is None else _equalizer(u_max)
        _rescale(layers, a, b, t)
        moved = max(
            float(np.max(np.abs(model(x, training=False).numpy() - r)))
            for x, r in zip(probe, reference, strict=True)
        )
        if not moved <= EXACTNESS_TOLERANCE:
            _restore(touched, saved)
            yield []
            return
        spread = [
            float(np.max(v) / np.min(v[v > DEAD_FRACTION * np.max(v)]))
            for v in (x_max, den_max, u_max)
        ]
        yield [
            "LHSP per-channel int8 range equalization (export/equalize.py, float "
            f"output moved by {moved:.1e}): channel maxima spread of X "
            f"{spread[0]:.1f}x, Shepard denominator {spread[1]:.1f}x"
            + (f", U {spread[2]:.1f}x" if t is not None else "")
            + " -> 1x"
        ]
    finally:
        _restore(touched, saved)
