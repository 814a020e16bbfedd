"""GAN training for super-resolution: SRGAN, ESRGAN, SPSR-G, SPSR-P / SPSR-J.

* discriminators: :class:`VGGStyleDiscriminator` (128 and 130 inputs,
  PyTorch-exact padding), :class:`StructureDiscriminator` (``D_SF``);
* losses: RaGAN (code form) and standard GAN losses, :func:`gradient_map` /
  :class:`GradientMap`, gradient pixel loss, structure pixel loss, VGG19
  perceptual loss from a local weights file, :class:`LPIPS` from a local file;
* NSE: :class:`NeuralStructureExtractor` with contrastive / jigsaw trainers;
* trainers: :class:`SRGANTrainer`, :class:`ESRGANTrainer`,
  :class:`SPSRTrainer`, :class:`SPSRStructureTrainer`;
* ``keras_sr.gan.cli.run_train`` behind ``keras-sr train --model srgan|...``.

Images are NHWC RGB float32 in [0, 1].
"""

from keras_sr.gan.discriminators import StructureDiscriminator, VGGStyleDiscriminator
from keras_sr.gan.gradient import GradientMap, gradient_map
from keras_sr.gan.losses import (
    GradientPixelLoss,
    bce_with_logits,
    gan_discriminator_loss,
    gan_generator_loss,
    gradient_pixel_loss,
    ragan_discriminator_loss,
    ragan_generator_loss,
    structure_pixel_loss,
)
from keras_sr.gan.lpips import LPIPS
from keras_sr.gan.nse import (
    ContrastivePredictor,
    JigsawClassifier,
    NeuralStructureExtractor,
    NSEContrastiveTrainer,
    NSEJigsawTrainer,
)
from keras_sr.gan.perceptual import VGGFeatureExtractor, VGGPerceptualLoss
from keras_sr.gan.trainers import (
    ESRGANTrainer,
    GANTrainer,
    SPSRStructureTrainer,
    SPSRTrainer,
    SRGANTrainer,
    default_discriminators,
    init_generator_from,
)

__all__ = [
    "LPIPS",
    "ContrastivePredictor",
    "ESRGANTrainer",
    "GANTrainer",
    "GradientMap",
    "GradientPixelLoss",
    "JigsawClassifier",
    "NSEContrastiveTrainer",
    "NSEJigsawTrainer",
    "NeuralStructureExtractor",
    "SPSRStructureTrainer",
    "SPSRTrainer",
    "SRGANTrainer",
    "StructureDiscriminator",
    "VGGFeatureExtractor",
    "VGGPerceptualLoss",
    "VGGStyleDiscriminator",
    "bce_with_logits",
    "default_discriminators",
    "gan_discriminator_loss",
    "gan_generator_loss",
    "gradient_map",
    "gradient_pixel_loss",
    "init_generator_from",
    "ragan_discriminator_loss",
    "ragan_generator_loss",
    "structure_pixel_loss",
]
