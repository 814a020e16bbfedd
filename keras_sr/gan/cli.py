"""``keras-sr train --model {srgan,esrgan,spsr_g,spsr_p,spsr_j,nse_contrastive,
nse_jigsaw}``: typed run configurations, resumable GAN / NSE training.

``keras_sr.cli.train`` hands these model names to :func:`run_train` with its
argparse namespace (``model, data, scale, steps, epochs, batch_size,
lr_patch_size, steps_per_epoch, overrides (--set), output, resume``).

Settings live in typed dataclasses (:class:`GANRunConfig`); ``--set
section.key=value`` (or a bare ``key=value`` when the key name is unique)
overrides any field, e.g. ``--set net.num_blocks=2 --set loss.gan=1e-2 --set
optim.milestones=1000,2000 --set train.checkpoint_every=100``.

Each run folder holds ``config.json``, ``ckpt/`` (``tf.train.Checkpoint``:
generator, EMA generator, every discriminator, every optimizer and the step
counter; TF writes checkpoints to temporary files and then renames them, so a
run killed at any point resumes from the last complete checkpoint with
``--resume``), ``generator.keras`` (the generator alone; ``nse.keras`` +
``head.keras`` for NSE runs) and ``summary.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import typing
from pathlib import Path

import keras

GAN_MODELS = ("srgan", "esrgan", "spsr_g", "spsr_p", "spsr_j")
NSE_MODELS = ("nse_contrastive", "nse_jigsaw")

__all__ = [
    "DataConfig",
    "GANRunConfig",
    "LossConfig",
    "NetConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "build_trainer",
    "default_config",
    "run_train",
]


@dataclasses.dataclass
class DataConfig:
    data: str = ""
    scale: int = 4
    lr_patch_size: int = 32  # HR 128x128, the papers' patch
    batch_size: int = 16
    seed: int = 9  # SPSR's manual_seed
    cache: bool = True


@dataclasses.dataclass
class NetConfig:
    filters: int = 64  # nf of the generator
    num_blocks: int = 23  # RRDBs (16 SRResNet blocks for srgan)
    growth: int = 32
    d_filters: int = 64  # base nf of every discriminator
    nse_filters: int = 32
    nse: str = ""  # trained NSE .keras (spsr_p / spsr_j)
    init_generator: str = ""  # PSNR-trained generator .keras
    strategy: str = "h"  # NSE contrastive sampling: h, v or c


@dataclasses.dataclass
class LossConfig:
    # None = the trainer's published default weight; 0 disables a term.
    pixel: float | None = None
    perceptual: float | None = None
    gan: float | None = None
    gradient_pixel: float | None = None
    gradient_gan: float | None = None
    branch_pixel: float | None = None
    structure_pixel: float | None = None
    structure_gan: float | None = None
    vgg_weights: str = ""  # local VGG19 weights; empty -> no perceptual term
    vgg_layer: str = "conv5_4"
    vgg_preprocessing: str = "torch"
    nse_scale: float = 64.0  # cosine scale of InfoNCE
    num_anchors: int = 16


@dataclasses.dataclass
class OptimConfig:
    g_lr: float = 1e-4
    d_lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    milestones: list[int] = dataclasses.field(
        default_factory=lambda: [50000, 100000, 200000, 300000]
    )
    gamma: float = 0.5


@dataclasses.dataclass
class TrainConfig:
    steps: int = 0
    checkpoint_every: int = 500
    log_every: int = 50
    keep_checkpoints: int = 3
    warmup_steps: int = 5000  # SPSR Branch_init_iters
    ema_decay: float = 0.0  # 0 = no EMA
    mixed_precision: bool = False
    run_eagerly: bool = False
    verbose: int = 1


@dataclasses.dataclass
class GANRunConfig:
    model: str = "esrgan"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    net: NetConfig = dataclasses.field(default_factory=NetConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    output: str = ""
    resume: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if self.model not in GAN_MODELS + NSE_MODELS:
            raise ValueError(
                f"unknown GAN/NSE model {self.model!r}; choose from "
                f"{', '.join(GAN_MODELS + NSE_MODELS)}"
            )
        if not self.data.data:
            raise ValueError("--data is required")
        if self.train.steps <= 0:
            raise ValueError(f"steps must be positive, got {self.train.steps}")
        if self.data.batch_size < 2:
            raise ValueError("batch_size must be >= 2 (RaGAN uses batch means)")
        if self.model in ("spsr_p", "spsr_j") and not self.net.nse:
            raise ValueError(
                f"{self.model} needs a trained NSE: --set net.nse=RUN/nse.keras "
                f"(train one with --model "
                f"{'nse_contrastive' if self.model == 'spsr_p' else 'nse_jigsaw'})"
            )
        if self.net.strategy not in ("h", "v", "c"):
            raise ValueError(
                f"net.strategy must be h, v or c, got {self.net.strategy!r}"
            )
        if self.train.checkpoint_every <= 0 or self.train.log_every <= 0:
            raise ValueError("train.checkpoint_every and train.log_every must be > 0")
        if not 0.0 <= self.train.ema_decay < 1.0:
            raise ValueError(
                f"train.ema_decay must be in [0, 1), got {self.train.ema_decay}"
            )


def default_config(model: str) -> GANRunConfig:
    """The published recipe of ``model`` (METHODS.md §4a, §5.4, §6.5, §6.7)."""
    cfg = GANRunConfig(model=model)
    if model == "srgan":
        cfg.net.num_blocks = 16
        cfg.optim.milestones = [100000]
        cfg.optim.gamma = 0.1
        cfg.loss.vgg_layer = "relu5_4"
        cfg.data.lr_patch_size = 24  # 96x96 HR
    elif model in ("spsr_g", "spsr_p", "spsr_j"):
        cfg.data.batch_size = 30
    elif model in NSE_MODELS:
        cfg.data.batch_size = 48
        cfg.optim.g_lr = 1e-3 if model == "nse_contrastive" else 1e-4
        step = 20000 if model == "nse_contrastive" else 30000
        cfg.optim.milestones = [step * k for k in range(1, 5)]
        cfg.optim.gamma = 0.2
    return cfg


def _field_types(obj) -> dict[str, object]:
    return typing.get_type_hints(type(obj))


def _convert(text: str, hint, key: str):
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if text.lower() in ("none", "null", "default", ""):
            return None
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if origin is list:
            inner = typing.get_args(hint)[0]
            return [
                inner(float(v)) if inner is int else inner(v)
                for v in text.replace(" ", "").split(",")
                if v
            ]
        if hint is int:
            value = float(text)
            if value != int(value):
                raise ValueError
            return int(value)
        if hint is float:
            return float(text)
        return str(text)
    except (ValueError, TypeError, StopIteration):
        raise ValueError(f"--set {key}={text}: expected {hint}") from None


def apply_overrides(cfg: GANRunConfig, overrides: list[str]) -> GANRunConfig:
    """Apply ``section.key=value`` (or unique bare ``key=value``) strings."""
    sections = {
        f.name: getattr(cfg, f.name)
        for f in dataclasses.fields(cfg)
        if dataclasses.is_dataclass(getattr(cfg, f.name))
    }
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        if "." in key:
            section, name = key.split(".", 1)
            if section not in sections:
                raise ValueError(
                    f"--set {key}: unknown section {section!r} (sections: "
                    f"{', '.join(sections)})"
                )
            owner = sections[section]
        else:
            owners = [s for s in sections.values() if name_in(s, key)]
            if len(owners) != 1:
                where = [n for n, s in sections.items() if name_in(s, key)]
                raise ValueError(
                    f"--set {key}: "
                    + (
                        "unknown setting"
                        if not owners
                        else "ambiguous, use one of "
                        + ", ".join(f"{w}.{key}" for w in where)
                    )
                )
            owner, name = owners[0], key
        hints = _field_types(owner)
        if name not in hints:
            known = ", ".join(f.name for f in dataclasses.fields(owner))
            raise ValueError(f"--set {key}: unknown setting (known: {known})")
        setattr(owner, name, _convert(text.strip(), hints[name], key))
    return cfg


def name_in(section, key: str) -> bool:
    return key in {f.name for f in dataclasses.fields(section)}


def config_from_args(args: argparse.Namespace) -> GANRunConfig:
    cfg = default_config(args.model)
    cfg.data.data = str(args.data)
    cfg.data.scale = int(args.scale)
    if getattr(args, "batch_size", None):
        cfg.data.batch_size = int(args.batch_size)
    if getattr(args, "lr_patch_size", None):
        cfg.data.lr_patch_size = int(args.lr_patch_size)
    if getattr(args, "steps", None):
        cfg.train.steps = int(args.steps)
    elif getattr(args, "epochs", None):
        # The pipeline repeats forever; an "epoch" is --steps-per-epoch steps.
        per_epoch = int(getattr(args, "steps_per_epoch", None) or 1000)
        cfg.train.steps = int(args.epochs) * per_epoch
    if getattr(args, "steps_per_epoch", None):
        cfg.train.checkpoint_every = int(args.steps_per_epoch)
    if getattr(args, "quiet", False):
        cfg.train.verbose = 0
    cfg.output = str(args.output)
    cfg.resume = bool(getattr(args, "resume", False))
    overrides = list(
        getattr(args, "overrides", None) or getattr(args, "set", None) or []
    )
    apply_overrides(cfg, overrides)
    cfg.validate()
    return cfg


# ---------------------------------------------------------------- building
def _adam(lr: float, cfg: GANRunConfig, offset: int = 0):
    milestones = [m - offset for m in cfg.optim.milestones if m - offset > 0]
    if milestones:
        values = [lr * cfg.optim.gamma**i for i in range(len(milestones) + 1)]
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(milestones, values)
    return keras.optimizers.Adam(lr, beta_1=cfg.optim.beta1, beta_2=cfg.optim.beta2)


def _dataset(cfg: GANRunConfig, seed: int):
    from keras_sr.data import make_dataset, make_folder_dataset

    path = cfg.data.data
    kwargs = dict(
        scale=cfg.data.scale,
        lr_patch_size=cfg.data.lr_patch_size,
        batch_size=cfg.data.batch_size,
        training=True,
        color="rgb",
        seed=seed,
    )
    if os.path.isdir(path) and not os.path.exists(os.path.join(path, "manifest.json")):
        return make_folder_dataset(path, cache=cfg.data.cache, **kwargs)
    if not any(ch in path for ch in "*?[") and not os.path.exists(path):
        raise FileNotFoundError(f"training data not found: {path}")
    return make_dataset(path, **kwargs)


def _perceptual(cfg: GANRunConfig, log):
    from keras_sr.gan.perceptual import VGGPerceptualLoss

    if cfg.loss.perceptual == 0:
        return None
    if not cfg.loss.vgg_weights:
        log(
            "note: perceptual loss off (no --set loss.vgg_weights=FILE; ImageNet VGG19 "
            "weights cannot be downloaded here)"
        )
        return None
    criterion = "l2" if cfg.model == "srgan" else "l1"
    scale = 1.0 / 12.75 if cfg.model == "srgan" else 1.0
    return VGGPerceptualLoss(
        {cfg.loss.vgg_layer: scale},
        criterion=criterion,
        weights=cfg.loss.vgg_weights,
        preprocessing=cfg.loss.vgg_preprocessing,
    )


def _load_nse(path: str):
    from keras_sr.gan.nse import NeuralStructureExtractor

    if not os.path.exists(path):
        raise FileNotFoundError(f"NSE file not found: {path}")
    model = keras.models.load_model(path, compile=False)
    if not isinstance(model, NeuralStructureExtractor):
        raise ValueError(
            f"{path}: not a NeuralStructureExtractor ({type(model).__name__})"
        )
    model.trainable = False
    return model


def build_trainer(cfg: GANRunConfig, log=print):
    """Build and compile the trainer of ``cfg`` (optimizers built)."""
    from keras_sr.gan import discriminators as D
    from keras_sr.gan import nse as N
    from keras_sr.gan import trainers as T

    seed = cfg.data.seed
    hr = cfg.data.lr_patch_size * cfg.data.scale
    n = cfg.net
    if cfg.model in NSE_MODELS:
        extractor = N.NeuralStructureExtractor(filters=n.nse_filters)
        if cfg.model == "nse_contrastive":
            k = len(N.contrastive_offsets(n.strategy, 1))
            trainer = N.NSEContrastiveTrainer(
                extractor,
                N.ContrastivePredictor(k, n.nse_filters),
                strategy=n.strategy,
                num_anchors=cfg.loss.num_anchors,
                scale=cfg.loss.nse_scale,
                seed=seed,
            )
        else:
            trainer = N.NSEJigsawTrainer(
                extractor,
                N.JigsawClassifier(n.nse_filters),
                num_anchors=cfg.loss.num_anchors,
                seed=seed,
            )
        trainer.compile(
            optimizer=_adam(cfg.optim.g_lr, cfg),
            run_eagerly=cfg.train.run_eagerly,
            jit_compile=False,
        )
        trainer.optimizer.build(
            extractor.trainable_variables + trainer.head.trainable_variables
        )
        return trainer

    from keras_sr.models import RRDBNet, SRResNet
    from keras_sr.models.spsr import SPSRNet

    ema = cfg.train.ema_decay or None
    dkw = {"layer_dtype": "float32"} if cfg.train.mixed_precision else {}
    perceptual = _perceptual(cfg, log)
    if cfg.model == "srgan":
        gen = SRResNet(scale=cfg.data.scale, num_blocks=n.num_blocks, filters=n.filters)
        disc = D.VGGStyleDiscriminator(hr, 3, n.d_filters, name="discriminator", **dkw)
        trainer = T.SRGANTrainer(gen, disc, perceptual, ema_decay=ema, seed=seed)
    elif cfg.model == "esrgan":
        gen = RRDBNet(
            scale=cfg.data.scale,
            filters=n.filters,
            num_blocks=n.num_blocks,
            growth=n.growth,
        )
        disc = D.VGGStyleDiscriminator(hr, 3, n.d_filters, name="discriminator", **dkw)
        trainer = T.ESRGANTrainer(gen, disc, perceptual, ema_decay=ema, seed=seed)
    else:
        gen = SPSRNet(
            scale=cfg.data.scale,
            filters=n.filters,
            num_blocks=n.num_blocks,
            growth=n.growth,
            return_branch=True,
        )
        if cfg.model == "spsr_g":
            trainer = T.SPSRTrainer(
                gen,
                D.VGGStyleDiscriminator(
                    hr, 3, n.d_filters, name="discriminator", **dkw
                ),
                D.VGGStyleDiscriminator(
                    hr + 2, 3, n.d_filters, name="gradient_discriminator", **dkw
                ),
                perceptual,
                warmup_steps=cfg.train.warmup_steps,
                ema_decay=ema,
                seed=seed,
            )
        else:
            extractor = _load_nse(n.nse)
            probe = extractor.compute_output_shape((1, hr, hr, 3))
            trainer = T.SPSRStructureTrainer(
                gen,
                extractor,
                D.StructureDiscriminator(
                    probe[1],
                    probe[3],
                    n.d_filters,
                    name="structure_discriminator",
                    **dkw,
                ),
                perceptual,
                warmup_steps=cfg.train.warmup_steps,
                ema_decay=ema,
                seed=seed,
            )
    if n.init_generator:
        copied = T.init_generator_from(gen, n.init_generator)
        if trainer.ema_generator is not None:
            trainer.ema_generator.set_weights(gen.get_weights())
        log(f"initialised {len(copied)} generator layers from {n.init_generator}")
    weights = {
        k: getattr(cfg.loss, k)
        for k in T.LOSS_TERMS
        if getattr(cfg.loss, k) is not None
    }
    if perceptual is None:
        weights["perceptual"] = 0.0
    if cfg.model == "srgan" and perceptual is None and "pixel" not in weights:
        weights["pixel"] = 1.0
    warm_offset = cfg.train.warmup_steps if cfg.model.startswith("spsr") else 0
    trainer.compile(
        generator_optimizer=_adam(cfg.optim.g_lr, cfg, offset=warm_offset),
        discriminator_optimizer=_adam(cfg.optim.d_lr, cfg),
        loss_weights=weights,
        mixed_precision=cfg.train.mixed_precision,
        run_eagerly=cfg.train.run_eagerly,
    )
    return trainer


def _checkpoint_objects(trainer) -> dict:
    from keras_sr.gan.nse import _NSETrainerBase

    if isinstance(trainer, _NSETrainerBase):
        return {
            "extractor": trainer.extractor,
            "head": trainer.head,
            "optimizer": trainer.optimizer,
        }
    objects = {
        "generator": trainer.generator,
        "step": trainer.train_step_counter,
        **trainer.adversaries,
        **trainer.optimizers(),
    }
    if trainer.ema_generator is not None:
        objects["ema_generator"] = trainer.ema_generator
    return objects


def _current_step(trainer) -> int:
    from keras_sr.gan.nse import _NSETrainerBase

    if isinstance(trainer, _NSETrainerBase):
        return int(trainer.optimizer.iterations.numpy())
    return int(trainer.train_step_counter.numpy())


def _write_json(path: Path, payload: dict) -> None:
    from keras_sr.utils import atomic_write_bytes

    atomic_write_bytes(
        path, (json.dumps(payload, indent=2, default=float) + "\n").encode()
    )


def run_train(args: argparse.Namespace) -> int:
    """Run ``keras-sr train`` for a GAN / NSE model; returns the exit code."""
    cfg = config_from_args(args)
    quiet = cfg.train.verbose == 0

    def log(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    out = Path(cfg.output)
    ckpt_dir = out / "ckpt"
    has_ckpt = (ckpt_dir / "checkpoint").exists()
    if has_ckpt and not cfg.resume:
        raise FileExistsError(
            f"{out} already holds a run; pass --resume to continue it or choose "
            f"another --output"
        )
    if cfg.resume and not has_ckpt:
        log(f"note: --resume but no checkpoint in {ckpt_dir}; starting from step 0")
    out.mkdir(parents=True, exist_ok=True)

    import tensorflow as tf

    if cfg.train.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(cfg.data.seed)
    trainer = build_trainer(cfg, log)
    objects = _checkpoint_objects(trainer)
    checkpoint = tf.train.Checkpoint(**objects)
    manager = tf.train.CheckpointManager(
        checkpoint, str(ckpt_dir), max_to_keep=cfg.train.keep_checkpoints
    )
    start = 0
    if has_ckpt and cfg.resume:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        start = _current_step(trainer)
        log(f"resumed from {manager.latest_checkpoint} (step {start})")
    _write_json(out / "config.json", cfg.to_dict())
    total = cfg.train.steps
    remaining = total - start
    history: dict[str, float] = {}
    t0 = time.time()
    if remaining > 0:
        # Reseed per start step so a resumed run does not replay its batches.
        dataset = _dataset(cfg, cfg.data.seed + start)
        per = min(cfg.train.checkpoint_every, remaining)
        callback = _RunCallback(trainer, manager, total, start, cfg.train, log)
        trainer.fit(
            dataset,
            steps_per_epoch=per,
            epochs=math.ceil(remaining / per),
            verbose=0,
            callbacks=[callback],
        )
        history = callback.last_logs
        if manager.latest_checkpoint is None or callback.last_saved != _current_step(
            trainer
        ):
            manager.save(checkpoint_number=_current_step(trainer))
    seconds = time.time() - t0
    files = _save_models(trainer, out)
    summary = {
        "model": cfg.model,
        "start_step": start,
        "steps": _current_step(trainer),
        "seconds": round(seconds, 2),
        "seconds_per_step": round(seconds / max(1, remaining), 4),
        "metrics": {k: float(v) for k, v in history.items()},
        "checkpoint": manager.latest_checkpoint,
        "optimizer_iterations": {
            name: int(opt.iterations.numpy())
            for name, opt in objects.items()
            if isinstance(opt, keras.optimizers.Optimizer)
        },
        "files": files,
    }
    _write_json(out / "summary.json", summary)
    metrics = "  ".join(f"{k}={v:.4g}" for k, v in summary["metrics"].items())
    print(
        f"{cfg.model}: steps {start} -> {summary['steps']} in {seconds:.1f} s"
        + (f"  {metrics}" if metrics else "")
    )
    print(f"saved {', '.join(files)} (checkpoints in {ckpt_dir})")
    return 0


def _save_models(trainer, out: Path) -> list[str]:
    from keras_sr.gan.nse import _NSETrainerBase
    from keras_sr.utils import atomic_path

    saved = []
    if isinstance(trainer, _NSETrainerBase):
        parts = {"nse.keras": trainer.extractor, "head.keras": trainer.head}
    else:
        parts = {"generator.keras": trainer.export_generator(ema=False)}
        if trainer.ema_generator is not None:
            parts["generator_ema.keras"] = trainer.export_generator(ema=True)
    for name, model in parts.items():
        with atomic_path(out / name, suffix=".keras") as tmp:
            model.save(tmp)
        saved.append(str(out / name))
    return saved


class _RunCallback(keras.callbacks.Callback):
    """Checkpoint every ``checkpoint_every`` steps, stop at ``total``, print
    progress every ``log_every`` steps."""

    def __init__(self, trainer, manager, total, start, tcfg, log):
        super().__init__()
        self.trainer_ = trainer
        self.manager = manager
        self.total = total
        self.start = start
        self.tcfg = tcfg
        self.log = log
        self.last_logs: dict = {}
        self.last_saved = -1
        self.t0 = time.time()

    def on_train_batch_end(self, batch, logs=None):
        step = _current_step(self.trainer_)
        self.last_logs = dict(logs or {})
        if step % self.tcfg.checkpoint_every == 0 or step >= self.total:
            self.manager.save(checkpoint_number=step)
            self.last_saved = step
        if step % self.tcfg.log_every == 0 or step >= self.total:
            rate = (time.time() - self.t0) / max(1, step - self.start)
            shown = "  ".join(
                f"{k}={float(v):.4g}" for k, v in sorted(self.last_logs.items())
            )
            self.log(f"step {step}/{self.total}  {rate:.2f} s/step  {shown}")
        if step >= self.total:
            self.model.stop_training = True


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - convenience
    """``python -m keras_sr.gan.cli --model ... --data ... --scale 4 --steps N
    --output DIR [--set k=v ...] [--resume]`` (same as ``keras-sr train``)."""
    p = argparse.ArgumentParser(prog="python -m keras_sr.gan.cli")
    p.add_argument("--model", required=True, choices=GAN_MODELS + NSE_MODELS)
    p.add_argument("--data", required=True)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr-patch-size", type=int)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--output", required=True)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    try:
        return run_train(args)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"keras-sr: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
