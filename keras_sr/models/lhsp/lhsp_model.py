"""LHSP (Shi, Wang, Xu, Lin, arXiv 1607.07220; seed 000), METHODS.md §8.

LSP (local structure preserving): ``conv1`` on the LR Y channel, pixel
placement of the feature vectors on the HR grid (moved away from local edges),
Shepard-normalised deconvolution. HSP (holistic structure preserving): one
conv with two output maps, the SR image and a boundary map.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_sr.layers.core import BicubicUpsample, Pad2D
from keras_sr.layers.placement import PixelPlacement, ShepardUpsampling
from keras_sr.models.base import SRBackbone, image_input
from keras_sr.utils.registry import keras_sr_export

__all__ = ["LHSP", "MapsConv2D", "grow_lhsp_weights"]


@keras_sr_export("keras_sr.models.lhsp.MapsConv2D")
class MapsConv2D(keras.layers.Conv2D):
    """A ``Conv2D`` that returns each output channel as its own tensor.

    The weights are those of a ``Conv2D(filters)`` (kernel ``[k, k, C_in,
    filters]``, bias ``[filters]``), but every map is its own convolution. A
    graph that uses only some maps (the LHSP inference model keeps the SR
    map, not the boundary logits) then computes only those, and a full-int8
    export quantises each map with its own range: one joint tensor would
    round the SR image on the grid of the boundary logits (which reach -40).

    Example:
        >>> import numpy as np
        >>> a, b = MapsConv2D(2, 3, padding="same")(np.zeros((1, 4, 4, 3), "float32"))
        >>> a.shape
        TensorShape([1, 4, 4, 1])
    """

    def call(self, inputs):
        kernels = tf.split(self.kernel, self.filters, axis=-1)
        biases = tf.split(self.bias, self.filters) if self.use_bias else None
        maps = []
        for i, kernel in enumerate(kernels):
            y = self.convolution_op(inputs, kernel)
            if biases is not None:
                y = y + biases[i]
            maps.append(self.activation(y))
        return tuple(maps)

    def compute_output_shape(self, input_shape):
        *lead, _ = super().compute_output_shape(input_shape)
        return tuple((*lead, 1) for _ in range(self.filters))


def _conv(filters, kernel, padding, activation, init, name, cls=keras.layers.Conv2D):
    """A conv with the requested border mode (zero = Keras ``same``)."""
    conv = cls(
        filters,
        kernel,
        padding="same" if padding == "zero" else "valid",
        activation=activation,
        kernel_initializer=keras.initializers.get(init),
        name=name,
    )
    if padding == "zero" or kernel == 1:
        return conv
    pad = Pad2D(kernel // 2, padding, name=f"{name}_pad")
    return lambda x: conv(pad(x))


@keras_sr_export("keras_sr.models.LHSP")
class LHSP(SRBackbone):
    """Local- and holistic-structure preserving SR network (seed 000).

    ``X = ReLU(conv1(y))`` (LR) -> ``P, M = PixelPlacement(X, y)`` ->
    ``U = ShepardUpsampling(P, M)`` (normalised depthwise conv, 1x1 mixing,
    ReLU) -> ``O = conv_hsp(U)`` with 2 maps: ``SR = O[..., 0]`` and the
    boundary map ``B = sigmoid(O[..., 1])``. The model's output is ``SR``
    only; :meth:`training_model` exposes ``{"sr", "boundary"}`` and
    :class:`keras_sr.models.lhsp.LHSPTrainer` trains it.

    With ``hsp=False`` (the "LSP only" ablation) the Shepard layer maps
    straight to the image (1 channel, linear) and there is no boundary map.

    Input: LR Y channel ``[B, h, w, 1]`` float32 in ``[0, 1]`` (Y = MATLAB
    ``rgb2ycbcr`` / 255). Output: SR Y ``[B, h*s, w*s, 1]`` (not clipped).

    Args:
        scale: int, upscaling factor (x3 is the primary setting).
        filters: channels of ``conv1`` [GUESS 64].
        conv1_kernel: kernel of ``conv1`` [GUESS 5].
        shepard_filters: channels after the Shepard 1x1 mixing [GUESS 32].
        shepard_kernel: Shepard kernel size, None = ``2*scale + 1`` [GUESS].
        shepard_mode: ``"depthwise"`` (well-posed, default) or
            ``"shared_full"`` (the literal ``D(P)/D(M)``), see
            :class:`keras_sr.layers.ShepardUpsampling`.
        denominator_floor: Shepard denominator floor [DESIGN 1e-6].
        hsp: add the HSP conv with the boundary map.
        hsp_kernel: HSP kernel size [GUESS 5].
        displacement: move pixels away from edges (False = the "placement
            disabled" ablation: every pixel at its cell centre).
        rho, tau, min_magnitude, ridge_epsilon: placement parameters of
            :func:`keras_sr.ops.placement_offsets` [GUESS 1.0, 0.1, 0.02, 1e-4].
        padding: border mode of ``conv1`` and the HSP conv: ``"zero"``
            (Keras ``same``, the spec default) or ``"replicate"``,
            ``"symmetric"``, ``"reflect"``.
        residual: add MATLAB-bicubic upsampling of the input to the SR map
            (a global skip, as VDSR does [DESIGN]; not in seed 000): the
            network then learns the detail bicubic misses.
        kernel_initializer: initializer of the convolutions.

    Example:
        >>> import numpy as np
        >>> m = LHSP(scale=3, filters=8, shepard_filters=4)
        >>> m(np.zeros((1, 5, 7, 1), "float32")).shape
        TensorShape([1, 15, 21, 1])
        >>> sorted(m.training_model()(np.zeros((1, 5, 7, 1), "float32")))
        ['boundary', 'sr']

    Reference: https://arxiv.org/abs/1607.07220
    """

    def __init__(
        self,
        scale: int = 3,
        filters: int = 64,
        conv1_kernel: int = 5,
        shepard_filters: int = 32,
        shepard_kernel: int | None = None,
        shepard_mode: str = "depthwise",
        denominator_floor: float = 1e-6,
        hsp: bool = True,
        hsp_kernel: int = 5,
        displacement: bool = True,
        rho: float = 1.0,
        tau: float = 0.1,
        min_magnitude: float = 0.02,
        ridge_epsilon: float = 1e-4,
        padding: str = "zero",
        residual: bool = False,
        kernel_initializer="he_normal",
        channels: int = 1,
        **kwargs,
    ):
        if channels != 1:
            raise ValueError(
                f"LHSP works on the Y channel only (channels=1), got {channels}"
            )
        for name, k in (("conv1_kernel", conv1_kernel), ("hsp_kernel", hsp_kernel)):
            if k % 2 != 1:
                raise ValueError(f"LHSP {name} must be odd, got {k}")
        config = dict(
            scale=scale,
            filters=filters,
            conv1_kernel=conv1_kernel,
            shepard_filters=shepard_filters,
            shepard_kernel=shepard_kernel,
            shepard_mode=shepard_mode,
            denominator_floor=denominator_floor,
            hsp=hsp,
            hsp_kernel=hsp_kernel,
            displacement=displacement,
            rho=rho,
            tau=tau,
            min_magnitude=min_magnitude,
            ridge_epsilon=ridge_epsilon,
            padding=padding,
            residual=bool(residual),
            kernel_initializer=keras.initializers.serialize(
                keras.initializers.get(kernel_initializer)
            ),
            channels=channels,
        )
        init = config["kernel_initializer"]
        # === Functional Model ===
        lr = image_input(1)
        # --- LSP
        x = _conv(filters, conv1_kernel, padding, "relu", init, "conv1")(lr)
        grid, mask = PixelPlacement(
            scale,
            displacement=displacement,
            rho=rho,
            tau=tau,
            min_magnitude=min_magnitude,
            ridge_epsilon=ridge_epsilon,
            name="placement",
        )([x, lr])
        shepard = ShepardUpsampling(
            scale,
            filters=shepard_filters if hsp else 1,
            kernel_size=shepard_kernel,
            activation="relu" if hsp else None,
            denominator_floor=denominator_floor,
            mode=shepard_mode,
            name="shepard",
        )([grid, mask])
        if hsp:
            # --- HSP: one conv, two maps (SR, boundary logits)
            sr, _ = _conv(2, hsp_kernel, padding, None, init, "hsp", MapsConv2D)(
                shepard
            )
        else:
            sr = shepard
        if residual:
            sr = keras.layers.Add(name="residual")(
                [BicubicUpsample(scale, name="bicubic")(lr), sr]
            )
        sr = keras.layers.Identity(name="sr")(sr)
        super().__init__(lr, sr, scale=scale, channels=1, config=config, **kwargs)
        self.hsp = bool(hsp)

    def training_model(self) -> keras.Model:
        """A model sharing these weights that returns ``{"sr": SR, "boundary":
        B}`` (``B`` = sigmoid of the second HSP map, in [0, 1]); without HSP
        only ``{"sr": SR}``."""
        outputs = {"sr": self.get_layer("sr").output}
        if self.hsp:
            logits = self.get_layer("hsp").output[1]
            outputs["boundary"] = keras.layers.Activation("sigmoid", name="boundary")(
                logits
            )
        return keras.Model(self.input, outputs, name=f"{self.name}_training")


def grow_lhsp_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy ``source``'s weights into ``target``, a model of the same layers
    that may be larger: wider kernels (``conv1_kernel``, ``hsp_kernel``) or
    more channels (``shepard_filters``).

    Function-preserving: a smaller kernel is embedded at the centre of the
    larger one with zeros around it, and a new input channel of a kernel gets
    zero weights, so ``target`` computes what ``source`` did; new output
    channels keep ``target``'s random initialisation (their consumers see them
    through zero weights until training moves those). The Shepard kernel may
    not grow (its zero would be ``softplus(0) = 0.69``, not 0).

    Example:
        >>> small = LHSP(scale=3)
        >>> big = LHSP(scale=3, conv1_kernel=9, hsp_kernel=7, shepard_filters=48)
        >>> grow_lhsp_weights(small, big)  # big(x) == small(x) for any x
    """
    by_path = {w.path: w for w in source.weights}
    missing = [w.path for w in target.weights if w.path not in by_path]
    if missing or len(by_path) != len(target.weights):
        raise ValueError(
            f"grow_lhsp_weights: {source.name} weights {sorted(by_path)} do not match "
            f"{[w.path for w in target.weights]}"
        )
    for w in target.weights:
        small = np.asarray(by_path[w.path].numpy())
        big = np.asarray(w.numpy())
        if small.shape == big.shape:
            w.assign(small)
            continue
        if small.ndim != big.ndim or any(
            a > b for a, b in zip(small.shape, big.shape, strict=True)
        ):
            raise ValueError(
                f"grow_lhsp_weights: {w.path} {small.shape} cannot grow into "
                f"{big.shape}"
            )
        if w.path.endswith("shepard_kernel"):
            raise ValueError("grow_lhsp_weights: the Shepard kernel cannot grow")
        out = big.copy()
        if small.ndim == 4:  # [k, k, C_in, C_out]
            out[..., : small.shape[3]] = 0.0
            r0 = (big.shape[0] - small.shape[0]) // 2
            r1 = (big.shape[1] - small.shape[1]) // 2
            out[
                r0 : r0 + small.shape[0],
                r1 : r1 + small.shape[1],
                : small.shape[2],
                : small.shape[3],
            ] = small
        else:  # bias
            out[: small.shape[0]] = small
        w.assign(out)
