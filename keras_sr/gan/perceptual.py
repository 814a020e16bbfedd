"""VGG19 feature extractor and perceptual loss with weights from a local file.

ImageNet weights cannot be downloaded in this environment, so nothing here
fetches anything: ``weights`` is a local path or ``None`` (random init, for
tests or for a VGG trained here).

Tap names follow BasicSR: ``"conv5_4"`` is the output of the 4th conv of block
5 **before** its ReLU (ESRGAN / SPSR's "VGG19-54 before activation",
torchvision ``features[:35]``); ``"relu5_4"`` is after the ReLU (SRGAN's
phi_5,4); ``"pool4"`` etc. are the max-pool outputs.

Accepted weight files:

* Keras files (``.h5`` such as keras-applications'
  ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``, ``.weights.h5``,
  ``.keras``): loaded into ``keras.applications.VGG19`` and copied by layer
  name (``block5_conv4`` -> ``conv5_4``). These are Caffe weights: use
  ``preprocessing="caffe"``.
* ``.npz`` with either Keras-style keys ``block1_conv1/kernel`` (HWIO) and
  ``block1_conv1/bias``, or torchvision keys ``features.0.weight`` (OIHW) /
  ``features.0.bias`` (convert once with ``np.savez(path, **{k: v.numpy() for
  k, v in torchvision_vgg19.state_dict().items()})``). torchvision weights use
  ``preprocessing="torch"`` (the default).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import keras
import numpy as np
from keras import ops

from keras_sr.utils import keras_sr_export

__all__ = ["VGGFeatureExtractor", "VGGPerceptualLoss", "load_vgg19_weights"]

_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))
# Index of every conv in torchvision's vgg19().features.
_TORCH_CONV_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
_TAP = re.compile(r"^(conv|relu)([1-5])_([1-4])$|^pool([1-5])$")
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _conv_names() -> list[str]:
    return [
        f"conv{b + 1}_{i + 1}" for b, (_, n) in enumerate(_BLOCKS) for i in range(n)
    ]


def _tap_depth(name: str) -> tuple[int, int]:
    """(block, index within the block; 5 for pools)."""
    m = _TAP.match(name)
    if not m:
        raise ValueError(
            f"Unknown VGG19 layer {name!r}; use convB_I (before ReLU), reluB_I or "
            f"poolB with B in 1..5, e.g. 'conv5_4'."
        )
    if m.group(4):
        return int(m.group(4)), 5
    block, index = int(m.group(2)), int(m.group(3))
    if index > _BLOCKS[block - 1][1]:
        raise ValueError(f"VGG19 block {block} has no conv {index} ({name!r}).")
    return block, index


@keras_sr_export("keras_sr.gan.VGGFeatureExtractor")
class VGGFeatureExtractor(keras.Model):
    """VGG19 features at named taps, built only as deep as needed.

    Input: NHWC RGB float images in [0, 1], any size. Output: a dict
    ``{tap name: features}`` (float32). The network is frozen
    (``trainable=False``).

    Args:
        layers: sequence of tap names. Defaults to ``("conv5_4",)`` (before
            ReLU).
        weights: str or None. Local weight file (see module docstring); None
            keeps the random init. Defaults to None.
        preprocessing: ``"torch"`` (ImageNet mean/std on RGB [0,1]),
            ``"caffe"`` (BGR, 0-255, mean subtracted: Keras' own VGG19
            weights) or ``"none"``. Defaults to ``"torch"``.

    Example:
        >>> import numpy as np
        >>> vgg = VGGFeatureExtractor(layers=("conv2_2",))
        >>> vgg(np.zeros((1, 32, 32, 3), "float32"))["conv2_2"].shape
        TensorShape([1, 16, 16, 128])
    """

    def __init__(
        self,
        layers: Sequence[str] = ("conv5_4",),
        weights: str | None = None,
        preprocessing: str = "torch",
        **kwargs,
    ):
        layers = tuple(layers) if not isinstance(layers, str) else (layers,)
        if not layers:
            raise ValueError("VGGFeatureExtractor needs at least one layer name.")
        if preprocessing not in ("torch", "caffe", "none"):
            raise ValueError(
                f"preprocessing must be 'torch', 'caffe' or 'none', got "
                f"{preprocessing!r}."
            )
        depth = max(_tap_depth(name) for name in layers)
        inputs = keras.Input((None, None, 3))
        x = inputs
        taps: dict[str, object] = {}
        if preprocessing == "torch":
            x = keras.layers.Rescaling(
                [1.0 / s for s in _TORCH_STD],
                offset=[-m / s for m, s in zip(_TORCH_MEAN, _TORCH_STD, strict=True)],
                name="normalize",
            )(x)
        elif preprocessing == "caffe":
            x = CaffePreprocess(name="caffe_preprocess")(x)
        for b, (filters, n) in enumerate(_BLOCKS, start=1):
            for i in range(1, n + 1):
                if (b, i) > depth:
                    break
                x = keras.layers.Conv2D(
                    filters, 3, padding="same", name=f"block{b}_conv{i}"
                )(x)
                taps[f"conv{b}_{i}"] = x
                x = keras.layers.ReLU(name=f"block{b}_relu{i}")(x)
                taps[f"relu{b}_{i}"] = x
            if (b, 5) > depth:
                break
            x = keras.layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
            taps[f"pool{b}"] = x
        outputs = {name: taps[name] for name in layers}
        super().__init__(inputs, outputs, **kwargs)
        self.tap_names = layers
        self.weights_path = None if weights is None else str(weights)
        self.preprocessing = preprocessing
        self.trainable = False
        if weights is not None:
            load_vgg19_weights(self, weights)

    def get_config(self) -> dict:
        return {
            "layers": list(self.tap_names),
            "weights": self.weights_path,
            "preprocessing": self.preprocessing,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras_sr_export("keras_sr.gan.CaffePreprocess")
class CaffePreprocess(keras.layers.Layer):
    """RGB [0,1] -> BGR [0,255] minus the ImageNet BGR mean (Keras VGG19
    weights). Input and output NHWC float."""

    def call(self, x):
        bgr = ops.flip(x, axis=-1) * 255.0
        return bgr - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=bgr.dtype)


def _own_convs(model: keras.Model) -> dict[str, keras.layers.Layer]:
    out = {}
    for layer in model.layers:
        m = re.match(r"^block([1-5])_conv([1-4])$", layer.name)
        if m:
            out[f"conv{m.group(1)}_{m.group(2)}"] = layer
    return out


def load_vgg19_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """Load VGG19 conv weights from a local file into ``model``'s
    ``block{B}_conv{I}`` layers (formats in the module docstring).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file lacks a needed layer or has a wrong shape.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"VGG19 weights file not found: {path}")
    convs = _own_convs(model)
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if path.endswith(".npz"):
        with np.load(path) as data:
            keys = set(data.files)
            for index, name in enumerate(_conv_names()):
                if name not in convs:
                    continue
                b, i = name[4:].split("_")
                kk, kb = f"block{b}_conv{i}/kernel", f"block{b}_conv{i}/bias"
                tk = f"features.{_TORCH_CONV_INDEX[index]}.weight"
                tb = f"features.{_TORCH_CONV_INDEX[index]}.bias"
                if kk in keys and kb in keys:
                    arrays[name] = (data[kk], data[kb])
                elif tk in keys and tb in keys:
                    # torchvision OIHW -> HWIO
                    arrays[name] = (np.transpose(data[tk], (2, 3, 1, 0)), data[tb])
                else:
                    raise ValueError(
                        f"{path}: no weights for {name} (expected keys {kk!r} or "
                        f"{tk!r})."
                    )
    else:
        try:
            reference = keras.applications.VGG19(
                weights=path, include_top=False, input_shape=(None, None, 3)
            )
        except Exception as err:  # h5py / keras errors: name the file
            raise ValueError(
                f"{path}: cannot read VGG19 weights ({type(err).__name__}: {err})"
            ) from err
        for name in convs:
            b, i = name[4:].split("_")
            kernel, bias = reference.get_layer(f"block{b}_conv{i}").get_weights()
            arrays[name] = (kernel, bias)
    for name, layer in convs.items():
        kernel, bias = arrays[name]
        want = tuple(layer.kernel.shape)
        if tuple(kernel.shape) != want:
            raise ValueError(
                f"{path}: {name} kernel has shape {kernel.shape}, expected {want}."
            )
        layer.set_weights([np.asarray(kernel, "float32"), np.asarray(bias, "float32")])


class VGGPerceptualLoss:
    """Weighted VGG19 feature distance ``sum_l w_l * crit(F_l(pred), F_l(true))``.

    ``criterion`` is ``"l1"`` (ESRGAN / SPSR, default) or ``"l2"`` (MSE,
    SRGAN). HR features are detached. Inputs: NHWC RGB float in [0, 1].
    Loss weights between terms belong to the trainer; ``layer_weights`` only
    mixes VGG layers (and can carry SRGAN's 1/12.75 rescale).

    Args:
        layer_weights: mapping tap name -> weight. Defaults to
            ``{"conv5_4": 1.0}`` (before ReLU).
        criterion: ``"l1"`` or ``"l2"``. Defaults to ``"l1"``.
        weights: local weight file or None. Defaults to None.
        preprocessing: see :class:`VGGFeatureExtractor`. Defaults to "torch".

    Example:
        >>> import numpy as np
        >>> loss = VGGPerceptualLoss({"conv1_2": 1.0})
        >>> x = np.random.rand(1, 16, 16, 3).astype("float32")
        >>> float(loss(x, x))
        0.0
    """

    def __init__(
        self,
        layer_weights: Mapping[str, float] | None = None,
        criterion: str = "l1",
        weights: str | None = None,
        preprocessing: str = "torch",
    ):
        self.layer_weights = dict(layer_weights or {"conv5_4": 1.0})
        if criterion not in ("l1", "l2"):
            raise ValueError(f"criterion must be 'l1' or 'l2', got {criterion!r}.")
        self.criterion = criterion
        self.extractor = VGGFeatureExtractor(
            layers=tuple(self.layer_weights),
            weights=weights,
            preprocessing=preprocessing,
        )

    def __call__(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        f_true = self.extractor(y_true, training=False)
        f_pred = self.extractor(y_pred, training=False)
        total = 0.0
        for name, weight in self.layer_weights.items():
            diff = ops.cast(f_pred[name], "float32") - ops.stop_gradient(
                ops.cast(f_true[name], "float32")
            )
            dist = ops.mean(ops.abs(diff) if self.criterion == "l1" else diff * diff)
            total = total + float(weight) * dist
        return total
