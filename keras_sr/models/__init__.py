"""The model zoo: SRCNN, FSRCNN, ESPCN, VDSR, SRResNet, EDSR, RRDBNet, GLRL.

Every model maps LR ``[B, h, w, C]`` float32 in ``[0, 1]`` (NHWC) to SR
``[B, h*s, w*s, C]`` and has ``scale`` and ``channels`` (1 = Y channel,
3 = RGB) attributes.

Example:
    >>> import numpy as np
    >>> from keras_sr import models
    >>> "srcnn_x3" in models.list()
    True
    >>> m = models.get("edsr_baseline_x4", pretrained=False)
    >>> m(np.zeros((1, 7, 9, 3), "float32")).shape
    TensorShape([1, 28, 36, 3])
"""

from __future__ import annotations

import builtins

from keras_sr.models.base import SRBackbone
from keras_sr.models.edsr import EDSR
from keras_sr.models.espcn import ESPCN
from keras_sr.models.fsrcnn import FSRCNN
from keras_sr.models.glrl import GLRL
from keras_sr.models.presets import (
    Preset,
    build,
    get_preset,
    has_weights,
    list_presets,
    register_preset,
)
from keras_sr.models.rrdbnet import RRDBNet
from keras_sr.models.srcnn import SRCNN
from keras_sr.models.srresnet import SRResNet
from keras_sr.models.vdsr import VDSR

# isort: split
# --- Model families added by other modules (one import line each) ----------
from keras_sr.models.lhsp import LHSP, LHSPTrainer  # noqa: E402,F401
from keras_sr.models.spsr import SPSRNet  # noqa: E402,F401  (issue 6: GAN presets)

# isort: split
# --- end of model families -------------------------------------------------


def get(name: str, pretrained: bool | str = True, **overrides):
    """Build the preset ``name``.

    Args:
        name: a preset name from :func:`list`.
        pretrained: load the shipped weights. A preset without shipped weights
            raises ValueError (use ``pretrained=False``). ``"int8"`` loads the
            int8-aware weights (fine-tuned through a simulation of full-int8
            TFLite, ``export/qat.py``) of the presets that ship them: use
            these for an int8 deployment, the float ones otherwise.
        **overrides: constructor arguments replacing the preset's.

    Returns:
        A ``keras.Model`` with ``scale`` and ``channels`` attributes.
    """
    return build(name, pretrained=pretrained, **overrides)


def list() -> builtins.list[str]:  # noqa: A001 - public API name
    """Sorted names of all registered presets."""
    return list_presets()


__all__ = [
    "EDSR",
    "ESPCN",
    "FSRCNN",
    "GLRL",
    "RRDBNet",
    "SRBackbone",
    "SRCNN",
    "SRResNet",
    "VDSR",
    "Preset",
    "get",
    "get_preset",
    "has_weights",
    "list",
    "list_presets",
    "register_preset",
]
