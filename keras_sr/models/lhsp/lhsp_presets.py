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
#: weights were fine-tuned with it (Set5 x3 32.44 dB, ``lhsp_x3.json``).
PRESET_PLACEMENT = {"tau": 50.5 / 255}

for _s in (2, 3, 4):
    register_preset(
        f"lhsp_x{_s}",
        LHSP,
        {"scale": _s, **PRESET_CONFIG, **PRESET_PLACEMENT},
        weights=LHSP_WEIGHTS[_s],
        description=(
            f"LHSP (seed 000) x{_s}: conv 5x5/64, pixel placement, Shepard "
            f"{2 * _s + 1}x{2 * _s + 1} deconvolution to 32, HSP conv 5x5 "
            "(SR + boundary map), plus a bicubic skip, Y channel"
        ),
    )
