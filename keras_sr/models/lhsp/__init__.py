"""LHSP, the local- and holistic-structure preserving network of seed 000.

``LHSP`` (inference: LR Y -> SR Y), ``LHSPTrainer`` (SR + boundary loss),
``lhsp_loss``, ``grow_lhsp_weights`` (warm start of a larger LHSP); presets
``lhsp_x2``, ``lhsp_x3``, ``lhsp_x4``.
"""

from keras_sr.models.lhsp import lhsp_presets  # noqa: F401  (registers presets)
from keras_sr.models.lhsp.lhsp_model import LHSP, MapsConv2D, grow_lhsp_weights
from keras_sr.models.lhsp.lhsp_trainer import LHSPTrainer, lhsp_loss

__all__ = ["LHSP", "LHSPTrainer", "MapsConv2D", "grow_lhsp_weights", "lhsp_loss"]
