"""GLRL: global and local residual learning (Hou, Si, Li, 2018; seed 003),
METHODS.md section 7.3."""

from __future__ import annotations

import keras

from keras_sr.layers import BicubicUpsample, WeightedSum
from keras_sr.layers.blocks import HE_NORMAL_INIT
from keras_sr.models.base import SRBackbone, image_input
from keras_sr.models.presets import register_preset
from keras_sr.utils.registry import keras_sr_export


def _prelu(name):
    return keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(0.25),
        shared_axes=[1, 2],
        name=name,
    )


@keras_sr_export("keras_sr.models.GLRL")
class GLRL(SRBackbone):
    """GLRL: MATLAB bicubic upsampling ``x``; 2-layer feature extraction;
    ``num_lrb`` local residual blocks (a DRRN-style recursive deep branch of
    ``num_units`` units sharing their two convs, plus a one-conv shallow
    branch, merged by addition); a shared 2-layer pre-activated reconstruction
    applied to every tap ``d`` giving ``x + Rec(h_d)``; the output is the
    learned weighted sum of the taps. All convs 3x3, PReLU (init 0.25).

    Input: LR Y ``[B, h, w, 1]`` float32 in ``[0, 1]``; output SR Y. Depth with
    the defaults: 2 + 3 x 4 + 2 = 16 layers. Trained with SGD 0.1 and
    :class:`keras_sr.training.AdjustableGradientClipping` (METHODS 7.4).

    Args:
        scale: int. Defaults to 3.
        filters: int. Defaults to 64.
        num_lrb: int. Local residual blocks. Defaults to 3.
        num_units: int. Recursive residual units per LRB. Defaults to 2.
        include_fe_tap: bool. Also reconstruct from the feature-extraction
            output (4 taps instead of 3). Defaults to True.
        normalize_weights: bool. Divide the weighted sum by the sum of the
            weights. Defaults to False.
        channels: int. Defaults to 1.

    Example:
        >>> import numpy as np
        >>> GLRL(scale=3, filters=8)(np.zeros((1, 5, 7, 1), "float32")).shape
        TensorShape([1, 15, 21, 1])
    """

    def __init__(
        self,
        scale: int = 3,
        filters: int = 64,
        num_lrb: int = 3,
        num_units: int = 2,
        include_fe_tap: bool = True,
        normalize_weights: bool = False,
        channels: int = 1,
        **kwargs,
    ):
        config = dict(
            scale=scale,
            filters=filters,
            num_lrb=num_lrb,
            num_units=num_units,
            include_fe_tap=include_fe_tap,
            normalize_weights=normalize_weights,
            channels=channels,
        )
        init = keras.initializers.get(HE_NORMAL_INIT)

        def conv(n, name):
            return keras.layers.Conv2D(
                n, 3, padding="same", kernel_initializer=init, name=name
            )

        inputs = image_input(channels)
        x = BicubicUpsample(scale, name="bicubic")(inputs)
        # Feature extraction (the first conv sees the raw image).
        h = conv(filters, "fe_conv1")(x)
        h = conv(filters, "fe_conv2")(_prelu("fe_act2")(h))
        taps = [h] if include_fe_tap else []
        for k in range(1, num_lrb + 1):
            u = h
            act_a, conv_a = _prelu(f"lrb{k}_act_a"), conv(filters, f"lrb{k}_conv_a")
            act_b, conv_b = _prelu(f"lrb{k}_act_b"), conv(filters, f"lrb{k}_conv_b")
            r = u
            for t in range(num_units):
                r = keras.layers.Add(name=f"lrb{k}_unit{t + 1}")(
                    [u, conv_b(act_b(conv_a(act_a(r))))]
                )
            s = conv(filters, f"lrb{k}_conv_s")(_prelu(f"lrb{k}_act_s")(u))
            h = keras.layers.Add(name=f"lrb{k}_merge")([r, s])
            taps.append(h)
        # Shared reconstruction network.
        act_r1, conv_r1 = _prelu("rec_act1"), conv(filters, "rec_conv1")
        act_r2, conv_r2 = _prelu("rec_act2"), conv(channels, "rec_conv2")
        preds = [
            keras.layers.Add(name=f"pred{d}")([x, conv_r2(act_r2(conv_r1(act_r1(t))))])
            for d, t in enumerate(taps)
        ]
        out = WeightedSum(len(preds), normalize=normalize_weights, name="ensemble")(
            preds
        )
        super().__init__(
            inputs, out, scale=scale, channels=channels, config=config, **kwargs
        )


for _s in (2, 3, 4):
    register_preset(
        f"glrl_x{_s}",
        GLRL,
        {"scale": _s},
        description=f"GLRL (3 LRBs, 16 layers), Y channel, x{_s}",
    )
