"""LHSP presets: one model per scale, as in seed 000 (Y channel)."""

from __future__ import annotations

from keras_sr.models.lhsp.lhsp_model import LHSP
from keras_sr.models.presets import register_preset

# Shipped weights (trained by benchmarks/train_lhsp.py); None = not shipped.
LHSP_WEIGHTS: dict[int, str | None] = {2: None, 3: "lhsp_x3.weights.h5", 4: None}

#: What the presets add to seed 000's network [DESIGN]: a global MATLAB-bicubic
#: skip and replicate borders. Under the study budget of
#: ``benchmarks/lhsp_study.py`` they lift LHSP from 30.51 to 31.44 dB (Set5 x3),
#: above SRCNN's 31.38 (``benchmarks/results/lhsp_study.json``); ``LHSP()``
#: itself keeps the seed's form.
PRESET_CONFIG = {"residual": True, "padding": "replicate"}

#: The presets' placement threshold [DESIGN]: at x3 a pixel moves only where an
#: LR central difference reaches 50.5 levels (``tau = 50.5/255``, about 0.198;
#: METHODS guesses 0.1, i.e. 25.5 levels). Selected on training images (every
#: 5th of BSD200) by ``benchmarks/lhsp_tau_sweep.py`` on weights trained at
#: 0.1: moving pixels at weak gradients costs PSNR. Half a level, not 0.2 (51
#: levels), so that no 8-bit edge sits on the offsets' rounding boundary (there
#: float16 and uint8 exports disagree with float32). The shipped ``lhsp_x3``
#: weights were fine-tuned with it (``lhsp_x3.json``).
PRESET_PLACEMENT = {"tau": 50.5 / 255}

#: The presets' layer sizes [GUESS in METHODS §8.2: conv1 5x5, 32 Shepard
#: channels, HSP 5x5]: a 9x9 ``conv1``, 48 Shepard channels and a 7x7 HSP conv
#: (16,210 parameters at x3 instead of 8,482). The shipped ``lhsp_x3`` was grown
#: to these sizes from the 5/32/5 network (``grow_lhsp_weights``, which keeps
#: its output) and trained 26,000 more steps: Set5 x3 32.44 -> 32.58 dB, where
#: the same restart at the old sizes gained 0.02 dB and then nothing.
PRESET_SIZES = {"conv1_kernel": 9, "shepard_filters": 48, "hsp_kernel": 7}

for _s in (2, 3, 4):
    _k = PRESET_SIZES["conv1_kernel"]
    _h = PRESET_SIZES["hsp_kernel"]
    register_preset(
        f"lhsp_x{_s}",
        LHSP,
        {"scale": _s, **PRESET_SIZES, **PRESET_CONFIG, **PRESET_PLACEMENT},
        weights=LHSP_WEIGHTS[_s],
        description=(
            f"LHSP (seed 000) x{_s}: conv {_k}x{_k}/64, pixel placement, Shepard "
            f"{2 * _s + 1}x{2 * _s + 1} deconvolution to "
            f"{PRESET_SIZES['shepard_filters']}, HSP conv {_h}x{_h} "
            "(SR + boundary map), plus a bicubic skip, Y channel"
        ),
    )
