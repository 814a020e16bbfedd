"""GAN trainers: SRGAN, ESRGAN, SPSR-G and SPSR-P / SPSR-J.

Each trainer is a ``keras.Model`` with a custom ``train_step`` and trains with
``model.fit`` on ``(lr, hr)`` batches (NHWC RGB float32 in [0, 1], static
shapes; e.g. from :func:`keras_sr.data.make_dataset`). ``call()`` runs the
generator and returns the SR image, so ``trainer.generator`` (or
:meth:`GANTrainer.export_generator`) exports alone.

One iteration (METHODS.md §5.3 and §6.4):

1. generator step with every discriminator frozen (their BatchNorm still in
   training mode, as in the PyTorch code): the weighted sum of the loss terms;
2. one step per discriminator (image ``D_I``, gradient ``D_G``, structure
   ``D_SF``), each on ``stop_gradient(SR)`` with its own optimizer.

Loss terms (weights via ``compile(loss_weights=...)``; a zero weight skips a
term): ``pixel`` (L1 or L2 of SR vs HR), ``perceptual`` (VGG19 features),
``gan`` (image adversarial), ``gradient_pixel`` (MSE of padded gradient
maps), ``gradient_gan``, ``branch_pixel`` (L1 of SPSR's branch output vs the
HR gradient map), ``structure_pixel`` (L1 of NSE features) and
``structure_gan``.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf
from keras import ops

from keras_sr.gan.discriminators import StructureDiscriminator, VGGStyleDiscriminator
from keras_sr.gan.gradient import gradient_map
from keras_sr.gan.losses import (
    gan_discriminator_loss,
    gan_generator_loss,
    gradient_pixel_loss,
    ragan_discriminator_loss,
    ragan_generator_loss,
)
from keras_sr.utils import keras_sr_export

__all__ = [
    "ESRGANTrainer",
    "GANTrainer",
    "SPSRStructureTrainer",
    "SPSRTrainer",
    "SRGANTrainer",
    "default_discriminators",
    "init_generator_from",
]

LOSS_TERMS = (
    "pixel",
    "perceptual",
    "gan",
    "gradient_pixel",
    "gradient_gan",
    "branch_pixel",
    "structure_pixel",
    "structure_gan",
)
# adversary key -> (input transform, generator loss-weight key, metric prefix)
_ADVERSARIES = {
    "discriminator": ("image", "gan", "d"),
    "gradient_discriminator": ("gradient", "gradient_gan", "d_grad"),
    "structure_discriminator": ("structure", "structure_gan", "d_sf"),
}


def _clone_optimizer(optimizer: keras.optimizers.Optimizer, name: str):
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer
    config = dict(optimizer.get_config())
    config["name"] = name
    return optimizer.__class__.from_config(config)


class GANTrainer(keras.Model):
    """Base class of the GAN trainers (see the module docstring).

    Args:
        generator: the generator ``keras.Model`` (LR -> SR, or ``[SR,
            branch]`` when ``generator_has_branch``).
        discriminator: image discriminator or None.
        gradient_discriminator: discriminator on ``Get_gradient(img)`` (pad 2)
            or None.
        structure_extractor: frozen NSE for the structure losses, or None.
        structure_discriminator: discriminator on NSE features, or None.
        perceptual_loss: a :class:`~keras_sr.gan.perceptual.VGGPerceptualLoss`
            (or any callable ``(hr, sr) -> scalar``) or None.
        gan_type: ``"ragan"`` (ESRGAN/SPSR code form) or ``"standard"``.
        pixel_criterion: ``"l1"`` or ``"l2"``.
        default_loss_weights: the class's default weights.
        warmup_steps: fusion-only warm-up length (SPSR ``Branch_init_iters``);
            0 disables it.
        ema_decay: float or None. Keep an EMA copy of the generator
            (``ema_generator``).
        seed: int or None (reserved for stochastic parts).
    """

    generator_has_branch = False

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model | None = None,
        gradient_discriminator: keras.Model | None = None,
        structure_extractor: keras.Model | None = None,
        structure_discriminator: keras.Model | None = None,
        perceptual_loss=None,
        gan_type: str = "ragan",
        pixel_criterion: str = "l1",
        default_loss_weights: Mapping[str, float] | None = None,
        warmup_steps: int = 0,
        ema_decay: float | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if gan_type not in ("ragan", "standard"):
            raise ValueError(
                f"gan_type must be 'ragan' or 'standard', got {gan_type!r}."
            )
        if pixel_criterion not in ("l1", "l2"):
            raise ValueError(
                f"pixel_criterion must be 'l1' or 'l2', got {pixel_criterion!r}."
            )
        if ema_decay is not None and not 0.0 < float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {ema_decay}.")
        self.generator = generator
        self.discriminator = discriminator
        self.gradient_discriminator = gradient_discriminator
        self.structure_extractor = structure_extractor
        self.structure_discriminator = structure_discriminator
        if structure_extractor is not None:
            structure_extractor.trainable = False
        self.perceptual_loss = perceptual_loss
        if perceptual_loss is not None and hasattr(perceptual_loss, "extractor"):
            self.perceptual_extractor = perceptual_loss.extractor  # tracked, frozen
        self.gan_type = gan_type
        self.pixel_criterion = pixel_criterion
        self.default_loss_weights = dict(default_loss_weights or {})
        self.warmup_steps = int(warmup_steps)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.train_step_counter = keras.Variable(
            0, dtype="int64", trainable=False, name="train_step_counter"
        )
        self.ema_generator = None
        if self.ema_decay is not None:
            self.ema_generator = generator.__class__.from_config(generator.get_config())
            self.ema_generator.set_weights(generator.get_weights())
            self.ema_generator.trainable = False
        self._compiled_gan = False

    # ------------------------------------------------------------------ API
    @property
    def adversaries(self) -> dict[str, keras.Model]:
        """``{key: discriminator}`` for every discriminator present."""
        return {
            key: getattr(self, key)
            for key in _ADVERSARIES
            if getattr(self, key) is not None
        }

    def compile(
        self,
        generator_optimizer: keras.optimizers.Optimizer | None = None,
        discriminator_optimizer: keras.optimizers.Optimizer | None = None,
        gradient_discriminator_optimizer: keras.optimizers.Optimizer | None = None,
        structure_discriminator_optimizer: keras.optimizers.Optimizer | None = None,
        loss_weights: Mapping[str, float] | None = None,
        mixed_precision: bool | None = None,
        jit_compile: bool = False,
        **kwargs,
    ):
        """Set the optimizers and loss weights and build every optimizer.

        Args:
            generator_optimizer: required.
            discriminator_optimizer: required when any discriminator exists;
                other discriminators without their own optimizer get a fresh
                copy of its configuration (separate state, as in SPSR).
            gradient_discriminator_optimizer / structure_discriminator_optimizer:
                optional dedicated optimizers.
            loss_weights: overrides of the class defaults (keys in
                ``LOSS_TERMS``).
            mixed_precision: wrap every optimizer in ``LossScaleOptimizer``.
                Defaults to True when the global dtype policy is
                ``mixed_float16``.
            jit_compile: defaults to False (XLA convolutions are slow on CPU).

        Raises:
            ValueError: a bare ``loss=`` / ``optimizer=`` (ambiguous for a
                two-player model), a missing optimizer or an unknown weight.
        """
        for bad in ("loss", "optimizer"):
            if bad in kwargs:
                raise ValueError(
                    f"{type(self).__name__}.compile() does not take `{bad}=`: a GAN "
                    f"trainer has several optimizers and loss terms. Pass "
                    f"generator_optimizer=..., discriminator_optimizer=... and "
                    f"loss_weights={{...}} instead."
                )
        if generator_optimizer is None:
            raise ValueError(
                f"{type(self).__name__}.compile() needs generator_optimizer."
            )
        if self.adversaries and discriminator_optimizer is None:
            raise ValueError(
                f"{type(self).__name__}.compile() needs discriminator_optimizer "
                f"(discriminators: {', '.join(self.adversaries)})."
            )
        weights = dict(self.default_loss_weights)
        for key, value in dict(loss_weights or {}).items():
            if key not in LOSS_TERMS:
                raise ValueError(
                    f"unknown loss weight {key!r}; known terms: "
                    f"{', '.join(LOSS_TERMS)}."
                )
            weights[key] = float(value)
        self._check_weights(weights)
        self.loss_weights_ = {
            k: float(v) for k, v in weights.items() if float(v) != 0.0
        }
        super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
        if mixed_precision is None:
            mixed_precision = (
                keras.mixed_precision.global_policy().name == "mixed_float16"
            )

        def wrap(opt):
            if mixed_precision and not isinstance(
                opt, keras.optimizers.LossScaleOptimizer
            ):
                return keras.optimizers.LossScaleOptimizer(opt)
            return opt

        self.generator_optimizer = wrap(generator_optimizer)
        self.generator_optimizer.build(self.generator.trainable_variables)
        dedicated = {
            "discriminator": discriminator_optimizer,
            "gradient_discriminator": gradient_discriminator_optimizer,
            "structure_discriminator": structure_discriminator_optimizer,
        }
        self.discriminator_optimizers = {}
        for key, model in self.adversaries.items():
            opt = dedicated[key]
            if opt is None or (
                key != "discriminator" and opt is discriminator_optimizer
            ):
                opt = (
                    discriminator_optimizer
                    if key == "discriminator"
                    else _clone_optimizer(discriminator_optimizer, f"{key}_optimizer")
                )
            opt = wrap(opt)
            opt.build(model.trainable_variables)
            self.discriminator_optimizers[key] = opt
        # Attributes so that tracking / checkpoints see every optimizer.
        self.discriminator_optimizer = self.discriminator_optimizers.get(
            "discriminator"
        )
        self.gradient_discriminator_optimizer = self.discriminator_optimizers.get(
            "gradient_discriminator"
        )
        self.structure_discriminator_optimizer = self.discriminator_optimizers.get(
            "structure_discriminator"
        )
        self.warmup_optimizer = None
        if self.warmup_steps > 0:
            fusion = self.warmup_variables()
            if not fusion:
                raise ValueError(
                    "warmup_steps > 0 but the generator has no fusion layers (names "
                    "starting with 'f_')."
                )
            self.warmup_optimizer = wrap(
                _clone_optimizer(generator_optimizer, "warmup_optimizer")
            )
            self.warmup_optimizer.build(fusion)
        self._build_trackers()
        self._compiled_gan = True

    def warmup_variables(self) -> list:
        """Generator variables trained during the fusion-only warm-up."""
        return [
            w
            for layer in self.generator.layers
            if layer.name.startswith("f_")
            for w in layer.trainable_weights
        ]

    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """Every optimizer, by role (for checkpoints)."""
        out = {"generator_optimizer": self.generator_optimizer}
        for key, opt in self.discriminator_optimizers.items():
            out[f"{key}_optimizer"] = opt
        if self.warmup_optimizer is not None:
            out["warmup_optimizer"] = self.warmup_optimizer
        return out

    def call(self, inputs, training=False):
        out = self.generator(inputs, training=training)
        return out[0] if isinstance(out, (list, tuple)) else out

    def export_generator(self, ema: bool | None = None) -> keras.Model:
        """The generator alone, ready for ``.save`` / the zoo (the EMA copy
        when ``ema`` is True, or by default when EMA is enabled). SPSR
        generators are returned without their branch output."""
        use_ema = self.ema_generator is not None if ema is None else ema
        if use_ema and self.ema_generator is None:
            raise ValueError("this trainer has no EMA generator (ema_decay=None).")
        model = self.ema_generator if use_ema else self.generator
        if hasattr(model, "inference_model") and getattr(model, "return_branch", False):
            return model.inference_model()
        return model

    # ------------------------------------------------------------ internals
    def _check_weights(self, weights):
        needs = {
            "perceptual": self.perceptual_loss is not None,
            "gan": self.discriminator is not None,
            "gradient_gan": self.gradient_discriminator is not None,
            "structure_gan": self.structure_discriminator is not None,
            "structure_pixel": self.structure_extractor is not None,
            "branch_pixel": self.generator_has_branch,
        }
        for key, available in needs.items():
            if weights.get(key, 0.0) and not available:
                raise ValueError(
                    f"loss weight {key!r} is {weights[key]} but the component it "
                    f"needs is missing from {type(self).__name__}."
                )
        if (
            self.structure_discriminator is not None
            and self.structure_extractor is None
        ):
            raise ValueError("structure_discriminator needs a structure_extractor.")

    def _build_trackers(self):
        names = [f"g_{k}" for k in LOSS_TERMS if k in self.loss_weights_] + ["g_total"]
        for key in self.adversaries:
            prefix = _ADVERSARIES[key][2]
            names += [f"{prefix}_loss", f"{prefix}_real", f"{prefix}_fake"]
        self._trackers = {n: keras.metrics.Mean(name=n) for n in names}

    @property
    def metrics(self):
        return list(getattr(self, "_trackers", {}).values())

    def _transform(self, kind, images):
        if kind == "image":
            return images
        if kind == "gradient":
            return gradient_map(images, padding=2)
        return self.structure_extractor(images, training=False)

    def _adv_g_loss(self, real_logits, fake_logits):
        if self.gan_type == "ragan":
            return ragan_generator_loss(real_logits, fake_logits)
        return gan_generator_loss(fake_logits)

    def _adv_d_loss(self, real_logits, fake_logits):
        if self.gan_type == "ragan":
            return ragan_discriminator_loss(real_logits, fake_logits)
        return gan_discriminator_loss(real_logits, fake_logits)

    def _generator_terms(self, hr, sr, branch):
        w = self.loss_weights_
        terms = {}
        if "pixel" in w:
            diff = sr - hr
            terms["pixel"] = ops.mean(
                ops.abs(diff) if self.pixel_criterion == "l1" else diff * diff
            )
        if "perceptual" in w:
            terms["perceptual"] = self.perceptual_loss(hr, sr)
        if "gradient_pixel" in w:
            terms["gradient_pixel"] = gradient_pixel_loss(hr, sr)
        if "branch_pixel" in w:
            target = ops.stop_gradient(gradient_map(hr, padding=1))
            terms["branch_pixel"] = ops.mean(ops.abs(branch - target))
        if "structure_pixel" in w:
            f_hr = ops.stop_gradient(self.structure_extractor(hr, training=False))
            f_sr = self.structure_extractor(sr, training=False)
            terms["structure_pixel"] = ops.mean(ops.abs(f_sr - f_hr))
        for key, model in self.adversaries.items():
            kind, weight_key, _ = _ADVERSARIES[key]
            if weight_key not in w:
                continue
            real = ops.stop_gradient(model(self._transform(kind, hr), training=True))
            fake = model(self._transform(kind, sr), training=True)
            terms[weight_key] = self._adv_g_loss(real, fake)
        return terms

    def _apply_generator(self, grads, variables):
        if self.warmup_optimizer is None:
            self.generator_optimizer.apply(grads, variables)
            return
        fusion_ids = {id(v) for v in self.warmup_variables()}
        pairs = [
            (g, v) for g, v in zip(grads, variables, strict=True) if id(v) in fusion_ids
        ]

        def warm():
            self.warmup_optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
            return tf.constant(True)

        def full():
            self.generator_optimizer.apply(grads, variables)
            return tf.constant(False)

        tf.cond(self.train_step_counter < self.warmup_steps, warm, full)

    def train_step(self, data):
        if not self._compiled_gan:
            raise ValueError(
                "call compile(generator_optimizer=..., discriminator_optimizer=...) "
                "before fit."
            )
        lr, hr = data[0], data[1]
        hr = ops.cast(hr, "float32")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            out = self.generator(lr, training=True)
            if isinstance(out, (list, tuple)):
                sr, branch = ops.cast(out[0], "float32"), ops.cast(out[1], "float32")
            else:
                sr, branch = ops.cast(out, "float32"), None
            terms = self._generator_terms(hr, sr, branch)
            total = 0.0
            for key, value in terms.items():
                total = total + self.loss_weights_[key] * ops.cast(value, "float32")
            scaled = self.generator_optimizer.scale_loss(total / replicas)
        grads = tape.gradient(scaled, g_vars)
        self._apply_generator(grads, g_vars)

        sr_fixed = ops.stop_gradient(sr)
        for key, model in self.adversaries.items():
            kind, _, prefix = _ADVERSARIES[key]
            opt = self.discriminator_optimizers[key]
            real_in = self._transform(kind, hr)
            fake_in = ops.stop_gradient(self._transform(kind, sr_fixed))
            with tf.GradientTape() as tape:
                real = ops.cast(model(real_in, training=True), "float32")
                fake = ops.cast(model(fake_in, training=True), "float32")
                d_loss = self._adv_d_loss(real, fake)
                scaled = opt.scale_loss(d_loss / replicas)
            d_grads = tape.gradient(scaled, model.trainable_variables)
            opt.apply(d_grads, model.trainable_variables)
            self._trackers[f"{prefix}_loss"].update_state(d_loss)
            self._trackers[f"{prefix}_real"].update_state(ops.mean(real))
            self._trackers[f"{prefix}_fake"].update_state(ops.mean(fake))

        self.train_step_counter.assign_add(1)
        if self.ema_generator is not None:
            decay = self.ema_decay
            for e, v in zip(
                self.ema_generator.weights, self.generator.weights, strict=True
            ):
                e.assign(decay * e + (1.0 - decay) * ops.cast(v, e.dtype))
        for key, value in terms.items():
            self._trackers[f"g_{key}"].update_state(value)
        self._trackers["g_total"].update_state(total)
        return {name: m.result() for name, m in self._trackers.items()}

    def test_step(self, data):
        lr, hr = data[0], data[1]
        sr = ops.cast(self(lr, training=False), "float32")
        hr = ops.cast(hr, "float32")
        return {"l1": ops.mean(ops.abs(sr - hr))}


@keras_sr_export("keras_sr.gan.SRGANTrainer")
class SRGANTrainer(GANTrainer):
    """SRGAN (Ledig et al. 2017): SRResNet generator, standard GAN (BCE)
    loss, VGG content loss.

    Defaults: ``loss_weights = {"perceptual": 1.0, "gan": 1e-3}`` with the
    perceptual loss the caller passes (SRGAN: ``VGGPerceptualLoss({"relu5_4":
    1 / 12.75}, criterion="l2")``). The paper has no pixel term (weight 0).

    Example:
        >>> import keras
        >>> from keras_sr.models import SRResNet
        >>> from keras_sr.gan import VGGStyleDiscriminator, VGGPerceptualLoss
        >>> t = SRGANTrainer(SRResNet(num_blocks=1, filters=8),
        ...                  VGGStyleDiscriminator(32, base_filters=4),
        ...                  VGGPerceptualLoss({"relu2_2": 1.0}, "l2"))
        >>> t.compile(generator_optimizer=keras.optimizers.Adam(1e-4),
        ...           discriminator_optimizer=keras.optimizers.Adam(1e-4))
    """

    def __init__(
        self,
        generator,
        discriminator,
        perceptual_loss=None,
        ema_decay=None,
        seed=None,
        **kwargs,
    ):
        weights = {
            "perceptual": 1.0 if perceptual_loss is not None else 0.0,
            "gan": 1e-3,
        }
        if perceptual_loss is None:
            weights["pixel"] = 1.0  # without VGG, fall back to the MSE content loss
        super().__init__(
            generator,
            discriminator,
            perceptual_loss=perceptual_loss,
            gan_type="standard",
            pixel_criterion="l2",
            default_loss_weights=weights,
            ema_decay=ema_decay,
            seed=seed,
            **kwargs,
        )


@keras_sr_export("keras_sr.gan.ESRGANTrainer")
class ESRGANTrainer(GANTrainer):
    """ESRGAN (Wang et al. 2018): RRDBNet generator, VGG-128 discriminator,
    RaGAN in the code form, perceptual (conv5_4 before ReLU, L1) and L1 pixel
    losses. Defaults ``{"perceptual": 1, "gan": 5e-3, "pixel": 1e-2}``
    (METHODS.md §5.3).
    """

    def __init__(
        self,
        generator,
        discriminator,
        perceptual_loss=None,
        ema_decay=None,
        seed=None,
        **kwargs,
    ):
        weights = {
            "perceptual": 1.0 if perceptual_loss is not None else 0.0,
            "gan": 5e-3,
            "pixel": 1e-2,
        }
        super().__init__(
            generator,
            discriminator,
            perceptual_loss=perceptual_loss,
            gan_type="ragan",
            pixel_criterion="l1",
            default_loss_weights=weights,
            ema_decay=ema_decay,
            seed=seed,
            **kwargs,
        )


@keras_sr_export("keras_sr.gan.SPSRTrainer")
class SPSRTrainer(GANTrainer):
    """SPSR-G (Ma et al. 2020; seed 001): an :class:`~keras_sr.models.SPSRNet`
    built with ``return_branch=True``, an image discriminator on 128x128 SR/HR
    and a gradient discriminator on the 130x130 ``Get_gradient`` maps.

    The six terms and official weights (METHODS.md §6.4): pixel L1 1e-2,
    perceptual 1, image RaGAN 5e-3, gradient pixel MSE 1e-2, gradient RaGAN
    5e-3, branch pixel L1 0.5. ``warmup_steps`` (``Branch_init_iters``,
    official 5000) trains only the fusion block (``f_*`` layers) with a
    separate warm-up optimizer; both discriminators train from step 1.
    """

    generator_has_branch = True

    def __init__(
        self,
        generator,
        discriminator,
        gradient_discriminator,
        perceptual_loss=None,
        warmup_steps: int = 5000,
        ema_decay=None,
        seed=None,
        **kwargs,
    ):
        _check_branch(generator)
        weights = {
            "pixel": 1e-2,
            "perceptual": 1.0 if perceptual_loss else 0.0,
            "gan": 5e-3,
            "gradient_pixel": 1e-2,
            "gradient_gan": 5e-3,
            "branch_pixel": 0.5,
        }
        super().__init__(
            generator,
            discriminator,
            gradient_discriminator,
            perceptual_loss=perceptual_loss,
            gan_type="ragan",
            default_loss_weights=weights,
            warmup_steps=warmup_steps,
            ema_decay=ema_decay,
            seed=seed,
            **kwargs,
        )


@keras_sr_export("keras_sr.gan.SPSRStructureTrainer")
class SPSRStructureTrainer(GANTrainer):
    """SPSR-P / SPSR-J (seed 001 Eq. 17): the structure losses on a frozen,
    pretrained NSE replace the image adversarial and both gradient losses.

    ``L_G = 1e-2 L_pix + 1 L_percep + 0.5 L_branch + 1e-2 L_SF_pix + 5e-3
    L_SF_adv`` (the two structure weights are [GUESS] defaults). SPSR-P and
    SPSR-J differ only in the NSE passed (contrastive vs jigsaw). For the
    ablations, pass ``discriminator`` / ``gradient_discriminator`` and set
    their weights (``gan``, ``gradient_pixel``, ``gradient_gan``) in
    ``compile(loss_weights=...)``; they are off by default.
    """

    generator_has_branch = True

    def __init__(
        self,
        generator,
        structure_extractor,
        structure_discriminator,
        perceptual_loss=None,
        discriminator=None,
        gradient_discriminator=None,
        warmup_steps: int = 5000,
        ema_decay=None,
        seed=None,
        **kwargs,
    ):
        _check_branch(generator)
        weights = {
            "pixel": 1e-2,
            "perceptual": 1.0 if perceptual_loss else 0.0,
            "branch_pixel": 0.5,
            "structure_pixel": 1e-2,
            "structure_gan": 5e-3,
        }
        super().__init__(
            generator,
            discriminator,
            gradient_discriminator,
            structure_extractor=structure_extractor,
            structure_discriminator=structure_discriminator,
            perceptual_loss=perceptual_loss,
            gan_type="ragan",
            default_loss_weights=weights,
            warmup_steps=warmup_steps,
            ema_decay=ema_decay,
            seed=seed,
            **kwargs,
        )


def _check_branch(generator):
    outputs = generator.outputs if hasattr(generator, "outputs") else None
    if not outputs or len(outputs) != 2:
        raise ValueError(
            "SPSR trainers need a generator returning [sr, branch_gradient]; build "
            "it with SPSRNet(..., return_branch=True)."
        )


def default_discriminators(
    hr_size: int, base_filters: int = 64, structure_channels: int = 32
):
    """The SPSR discriminators for an HR patch side ``hr_size``: image (``hr``),
    gradient (``hr + 2``) and structure (``hr / 4``)."""
    return {
        "discriminator": VGGStyleDiscriminator(
            hr_size, 3, base_filters, name="discriminator"
        ),
        "gradient_discriminator": VGGStyleDiscriminator(
            hr_size + 2, 3, base_filters, name="gradient_discriminator"
        ),
        "structure_discriminator": StructureDiscriminator(
            -(-hr_size // 4),
            structure_channels,
            base_filters,
            name="structure_discriminator",
        ),
    }


def init_generator_from(generator: keras.Model, source) -> list[str]:
    """Initialise ``generator`` from a PSNR-trained model (a ``keras.Model`` or
    a ``.keras`` path). An SPSR generator takes the RRDBNet trunk
    (non-strict, by layer name); other generators copy every equally named
    layer and must match completely. Returns the copied layer names."""
    from keras_sr.models.spsr import copy_weights_by_name, load_trunk_weights

    if not isinstance(source, keras.Model):
        import os

        path = os.fspath(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f"PSNR generator file not found: {path}")
        source = keras.models.load_model(path, compile=False)
    if any(layer.name == "f_rrdb" for layer in generator.layers):
        return load_trunk_weights(generator, source)
    copied = copy_weights_by_name(source, generator)
    expected = [layer.name for layer in generator.layers if layer.weights]
    missing = sorted(set(expected) - set(copied))
    if missing:
        raise ValueError(f"the PSNR model lacks layers {missing} of the generator.")
    return copied
