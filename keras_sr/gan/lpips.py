"""LPIPS (Zhang et al., CVPR 2018), AlexNet-lin v0.1, from a local weights file.

The SPSR tables use ``PerceptualLoss(model="net-lin", net="alex")`` v0.1
(METHODS.md §9). Its weights cannot be downloaded here, so :class:`LPIPS`
reads a local ``.npz`` holding the PyTorch tensors under their PyTorch names:

* torchvision AlexNet ``features.{0,3,6,8,10}.weight`` (OIHW) and ``.bias``;
* the LPIPS linear layers ``lin{0..4}.model.1.weight`` (shape ``(1, C, 1, 1)``).

A user with PyTorch converts once::

    import lpips, numpy as np
    sd = lpips.LPIPS(net="alex", version="0.1").state_dict()
    out = {}
    for k, v in sd.items():
        if k.startswith("net.slice"):      # net.slice1.0.weight -> features.0.weight
            out["features." + k.split(".", 2)[2]] = v.numpy()
        elif k.startswith("lin"):
            out[k] = v.numpy()
    np.savez("lpips_alex_v0.1.npz", **out)

(``lpips``' slices keep torchvision's layer indices, so the renaming gives
``features.N.*``.) Without a file (``weights=None``) the network is randomly
initialised: the structure runs, but the numbers are not LPIPS.

Inputs: NHWC RGB float in [0, 1] (mapped to [-1, 1] internally, as SPSR's
``img / 127.5 - 1``); output: one distance per image, float32 ``[B]``.
"""

from __future__ import annotations

import os

import keras
import numpy as np
from keras import ops

__all__ = ["LPIPS"]

# (torchvision index, filters, kernel, stride, padding, maxpool before)
_ALEX = (
    (0, 64, 11, 4, 2, False),
    (3, 192, 5, 1, 2, True),
    (6, 384, 3, 1, 1, True),
    (8, 256, 3, 1, 1, False),
    (10, 256, 3, 1, 1, False),
)
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


class LPIPS:
    """LPIPS AlexNet-lin distance from a local weights file.

    Args:
        weights: path to the ``.npz`` described in the module docstring, or
            None for random weights (structure only; not a calibrated metric).
        seed: int. Seed of the random init when ``weights`` is None.

    Example:
        >>> import numpy as np
        >>> lp = LPIPS(weights=None)
        >>> x = np.random.rand(2, 64, 64, 3).astype("float32")
        >>> [float(v) for v in lp(x, x)]
        [0.0, 0.0]
    """

    def __init__(self, weights: str | os.PathLike | None = None, seed: int = 0):
        inputs = keras.Input((None, None, 3))
        x = keras.layers.Rescaling(
            [1.0 / s for s in _SCALE],
            offset=[-m / s for m, s in zip(_SHIFT, _SCALE, strict=True)],
            name="scaling",
        )(inputs)
        taps = []
        init = keras.initializers.HeNormal(seed=seed)
        self._convs = []
        for index, filters, kernel, stride, pad, pool in _ALEX:
            if pool:
                x = keras.layers.MaxPooling2D(3, 2, name=f"pool{index}")(x)
            x = keras.layers.ZeroPadding2D(pad, name=f"pad{index}")(x)
            conv = keras.layers.Conv2D(
                filters,
                kernel,
                strides=stride,
                padding="valid",
                kernel_initializer=init,
                name=f"features_{index}",
            )
            x = keras.layers.ReLU(name=f"relu{index}")(conv(x))
            self._convs.append((index, conv))
            taps.append(x)
        self.features = keras.Model(inputs, taps, name="lpips_alexnet")
        self.features.trainable = False
        rng = np.random.default_rng(seed)
        self.lin = [
            np.abs(rng.normal(size=(f,))).astype("float32") / f for _, f, *_ in _ALEX
        ]
        self.weights_path = None if weights is None else os.fspath(weights)
        if weights is not None:
            self.load(weights)

    def load(self, path: str | os.PathLike) -> None:
        """Load AlexNet + lin weights from a ``.npz`` (PyTorch names)."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"LPIPS weights file not found: {path}")
        try:
            data = np.load(path)
        except Exception as err:
            raise ValueError(f"{path}: not a readable .npz file ({err})") from err
        with data:
            keys = set(data.files)
            for index, conv in self._convs:
                wk, bk = f"features.{index}.weight", f"features.{index}.bias"
                if wk not in keys or bk not in keys:
                    raise ValueError(f"{path}: missing {wk!r} / {bk!r}.")
                kernel = np.transpose(data[wk], (2, 3, 1, 0))
                if tuple(kernel.shape) != tuple(conv.kernel.shape):
                    raise ValueError(
                        f"{path}: {wk} has shape {data[wk].shape}, expected OIHW for "
                        f"{tuple(conv.kernel.shape)} (HWIO)."
                    )
                conv.set_weights([kernel.astype("float32"), data[bk].astype("float32")])
            for k in range(len(_ALEX)):
                key = f"lin{k}.model.1.weight"
                if key not in keys:
                    raise ValueError(f"{path}: missing {key!r}.")
                self.lin[k] = np.asarray(data[key], "float32").reshape(-1)
        self.weights_path = path

    def __call__(self, y_true, y_pred):
        a = ops.cast(y_true, "float32") * 2.0 - 1.0
        b = ops.cast(y_pred, "float32") * 2.0 - 1.0
        fa = self.features(a, training=False)
        fb = self.features(b, training=False)
        total = 0.0
        for xa, xb, w in zip(fa, fb, self.lin, strict=True):
            na = xa / (ops.sqrt(ops.sum(xa * xa, axis=-1, keepdims=True)) + 1e-10)
            nb = xb / (ops.sqrt(ops.sum(xb * xb, axis=-1, keepdims=True)) + 1e-10)
            d = ops.sum(ops.square(na - nb) * ops.convert_to_tensor(w), axis=-1)
            total = total + ops.mean(d, axis=(1, 2))
        return total
