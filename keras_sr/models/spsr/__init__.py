"""SPSR generator and the GAN presets of the zoo (``srgan_x4``, ``esrgan_x4``,
``spsr_x4``); the trainers live in :mod:`keras_sr.gan`."""

from keras_sr.models.presets import register_preset
from keras_sr.models.rrdbnet import RRDBNet
from keras_sr.models.spsr.spsr_backbone import (
    SPSRNet,
    copy_weights_by_name,
    default_branch_taps,
    load_trunk_weights,
)
from keras_sr.models.srresnet import SRResNet

__all__ = [
    "SPSRNet",
    "copy_weights_by_name",
    "default_branch_taps",
    "load_trunk_weights",
]

register_preset(
    "srgan_x4",
    SRResNet,
    {"scale": 4},
    description="SRGAN generator (SRResNet, 16 blocks), RGB, x4; "
    "train with `keras-sr train --model srgan`",
)
register_preset(
    "esrgan_x4",
    RRDBNet,
    {"scale": 4},
    description="ESRGAN generator (RRDBNet, 23 RRDB), RGB, x4; "
    "train with `keras-sr train --model esrgan`",
)
register_preset(
    "spsr_x4",
    SPSRNet,
    {"scale": 4},
    description="SPSR generator (RRDB trunk + gradient branch + "
    "fusion), RGB, x4; train with `keras-sr train "
    "--model spsr_g|spsr_p|spsr_j`",
)
