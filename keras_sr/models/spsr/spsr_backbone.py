"""SPSRNet, the generator of SPSR (Ma et al., CVPR 2020 / TPAMI; seed 001),
METHODS.md §6.2: an ESRGAN trunk whose RRDB features feed a gradient branch,
and a fusion block that merges both into the SR image."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_sr.gan.gradient import GradientMap
from keras_sr.layers import RRDB, UpConv
from keras_sr.layers.blocks import ESRGAN_INIT
from keras_sr.models.base import SRBackbone, image_input
from keras_sr.models.rrdbnet import apply_rrdb_trunk, upconv_factors
from keras_sr.utils.registry import keras_sr_export

__all__ = ["SPSRNet", "default_branch_taps", "load_trunk_weights", "TRUNK_PREFIXES"]

# Layers shared by name with RRDBNet (the "trunk" a PSNR model initialises).
TRUNK_PREFIXES = ("conv_first", "rrdb", "trunk_conv", "upconv", "hr_conv")
# Layers trained during the fusion-only warm-up (SPSR's parameters with 'f_').
FUSION_PREFIX = "f_"


def default_branch_taps(num_blocks: int, num_taps: int = 4) -> list[int]:
    """RRDB indices (1-based) feeding the gradient branch: 5/10/15/20 for 23
    blocks, spread proportionally (``round(k * nb / 4.6)``) for other depths."""
    if num_blocks == 23 and num_taps == 4:
        return [5, 10, 15, 20]
    step = num_blocks / (num_taps + 0.6)
    return [min(num_blocks, max(1, round(k * step))) for k in range(1, num_taps + 1)]


@keras_sr_export("keras_sr.models.SPSRNet")
class SPSRNet(SRBackbone):
    """SPSR generator (METHODS.md §6.2).

    SR branch: ``conv_first -> RRDB x nb (features tapped after the blocks in
    branch_taps) -> trunk_conv + skip -> UpConv stages -> hr_conv + LReLU ->
    hr_conv1`` (64-ch HR features). Gradient branch: the LR gradient map
    (``Get_gradient_nopadding``) -> conv, then for each tap ``concat(c, feat)
    -> RRDB(2nf) -> conv(2nf->nf)``, conv + skip, its own UpConv stages, two
    convs -> 64-ch HR gradient features, and a 1x1 conv to the predicted HR
    gradient map. Fusion: ``concat(branch, sr) -> RRDB(2nf) -> conv -> conv +
    LReLU -> conv`` -> SR image. Layers of the fusion block are named ``f_*``
    (the fusion-only warm-up trains exactly these).

    Input: LR RGB ``[B, h, w, 3]`` float32 in [0, 1]. Output: SR RGB ``[B, s*h,
    s*w, 3]`` (not clipped); with ``return_branch=True`` a list ``[sr,
    branch_gradient]`` (the trainer's view; the same weights plus ``conv_w``).

    Args:
        scale: int. 2, 3, 4 or 8. Defaults to 4.
        filters: int. ``nf``. Defaults to 64.
        num_blocks: int. ``nb`` trunk RRDBs. Defaults to 23.
        growth: int. ``gc``. Defaults to 32.
        branch_taps: list of 1-based RRDB indices feeding the branch. Defaults
            to ``[5, 10, 15, 20]`` for 23 blocks (proportional otherwise).
        channels: int. Defaults to 3.
        return_branch: bool. Also return the branch gradient map. Defaults to
            False.

    Example:
        >>> import numpy as np
        >>> m = SPSRNet(filters=8, num_blocks=2, growth=4)
        >>> m(np.zeros((1, 6, 5, 3), "float32")).shape
        TensorShape([1, 24, 20, 3])

    Reference: https://arxiv.org/abs/2109.12530
    """

    def __init__(
        self,
        scale: int = 4,
        filters: int = 64,
        num_blocks: int = 23,
        growth: int = 32,
        branch_taps: Sequence[int] | None = None,
        channels: int = 3,
        return_branch: bool = False,
        **kwargs,
    ):
        taps = list(branch_taps) if branch_taps else default_branch_taps(num_blocks)
        if any(not 1 <= t <= num_blocks for t in taps):
            raise ValueError(f"branch_taps {taps} must lie in 1..{num_blocks}.")
        config = dict(
            scale=scale,
            filters=filters,
            num_blocks=num_blocks,
            growth=growth,
            branch_taps=taps,
            channels=channels,
            return_branch=bool(return_branch),
        )
        nf, gc = int(filters), int(growth)
        init = keras.initializers.get(ESRGAN_INIT)

        def conv(n, name, k=3):
            return keras.layers.Conv2D(
                n, k, padding="same", kernel_initializer=init, name=name
            )

        def lrelu(name):
            return keras.layers.LeakyReLU(negative_slope=0.2, name=name)

        inputs = image_input(channels)
        g_lr = GradientMap(padding=1, name="lr_gradient")(inputs)
        # --- SR branch (ESRGAN trunk) ---
        x, block_outputs = apply_rrdb_trunk(inputs, nf, gc, num_blocks, scale)
        tapped = [block_outputs[t - 1] for t in taps]
        sr_features = conv(nf, "hr_conv1")(x)
        # --- gradient branch ---
        b0 = conv(nf, "b_fea_conv")(g_lr)
        c = b0
        for k, feat in enumerate(tapped, start=1):
            c = keras.layers.Concatenate(name=f"b_cat{k}")([c, feat])
            c = RRDB(2 * nf, gc, name=f"b_rrdb{k}")(c)
            c = conv(nf, f"b_concat{k}")(c)
        c = conv(nf, "b_lr_conv")(c)
        c = keras.layers.Add(name="b_skip")([c, b0])
        for i, f in enumerate(upconv_factors(scale)):
            c = UpConv(nf, f, name=f"b_upconv{i + 1}")(c)
        c = lrelu("b_hr_lrelu")(conv(nf, "b_hr_conv0")(c))
        branch_features = conv(nf, "b_hr_conv1")(c)
        # --- fusion block ---
        f = keras.layers.Concatenate(name="f_cat")([branch_features, sr_features])
        f = RRDB(2 * nf, gc, name="f_rrdb")(f)
        f = conv(nf, "f_concat")(f)
        f = lrelu("f_hr_lrelu")(conv(nf, "f_hr_conv0")(f))
        sr = keras.layers.Activation("linear", dtype="float32", name="sr")(
            conv(channels, "f_hr_conv1")(f)
        )
        outputs = sr
        if return_branch:
            grad = keras.layers.Activation("linear", dtype="float32", name="branch")(
                conv(channels, "conv_w", k=1)(branch_features)
            )
            outputs = [sr, grad]
        super().__init__(
            inputs, outputs, scale=scale, channels=channels, config=config, **kwargs
        )
        self.return_branch = bool(return_branch)

    def inference_model(self) -> SPSRNet:
        """An ``SPSRNet`` with ``return_branch=False`` sharing nothing but
        holding a copy of these weights (for export / the zoo)."""
        config = {**self._sr_config, "return_branch": False}
        config.pop("name", None)
        model = SPSRNet(**config)
        copy_weights_by_name(self, model)
        return model


def copy_weights_by_name(
    source: keras.Model, target: keras.Model, prefixes: Sequence[str] | None = None
) -> list[str]:
    """Copy weights of equally named layers (optionally only names starting
    with one of ``prefixes``) from ``source`` to ``target``; returns the
    copied layer names. Shapes must match."""
    names = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in target.layers:
        if not layer.weights or layer.name not in names:
            continue
        if prefixes and not layer.name.startswith(tuple(prefixes)):
            continue
        weights = names[layer.name].get_weights()
        if [w.shape for w in weights] != [tuple(w.shape) for w in layer.weights]:
            raise ValueError(
                f"layer {layer.name!r}: shapes {[w.shape for w in weights]} do not "
                f"match {[tuple(w.shape) for w in layer.weights]}."
            )
        layer.set_weights(weights)
        copied.append(layer.name)
    return copied


def load_trunk_weights(spsr: keras.Model, rrdbnet: keras.Model) -> list[str]:
    """Initialise SPSR's SR trunk from a PSNR-trained RRDBNet (METHODS.md §6.2
    step 2, the non-strict load): ``conv_first``, every ``rrdbN``,
    ``trunk_conv``, the ``upconvN`` stages and ``hr_conv``. ``hr_conv1``, the
    gradient branch and the fusion block keep their init. Returns the copied
    layer names; raises ValueError on a depth / width mismatch."""
    copied = copy_weights_by_name(rrdbnet, spsr, TRUNK_PREFIXES)
    expected = [
        layer.name
        for layer in spsr.layers
        if layer.weights
        and layer.name.startswith(TRUNK_PREFIXES)
        and layer.name != "hr_conv1"
    ]
    missing = sorted(set(expected) - set(copied))
    if missing:
        raise ValueError(
            f"the PSNR model lacks trunk layers {missing}; it must be an RRDBNet "
            f"with the same scale, filters and at least as many blocks."
        )
    return copied
