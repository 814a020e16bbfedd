"""``fit`` helpers: build the model, optimizer, loss, dataset and callbacks of
a :class:`~keras_sr.training.config.TrainConfig` and run plain ``model.fit``.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path

import keras

from keras_sr.training.callbacks import (
    CheckpointCallback,
    StopOnNaN,
    ValidationCallback,
    tensorboard_available,
)
from keras_sr.training.clipping import ClippedAdam, ClippedSGD
from keras_sr.training.config import OptimizerConfig, TrainConfig
from keras_sr.training.schedules import MultiStepDecay, StepDecay


def build_schedule(config: OptimizerConfig):
    """The learning rate (float) or schedule of ``config``."""
    if config.schedule == "step":
        return StepDecay(config.learning_rate, config.step_size, config.gamma)
    if config.schedule == "multistep":
        return MultiStepDecay(config.learning_rate, config.milestones, config.gamma)
    return config.learning_rate


def build_optimizer(config: OptimizerConfig) -> keras.optimizers.Optimizer:
    """Adam or SGD with the schedule, weight decay, adjustable clipping
    (``clip_theta``) and EMA (``ema``) of ``config``."""
    common = {"learning_rate": build_schedule(config)}
    if config.weight_decay:
        common["weight_decay"] = config.weight_decay
    if config.ema is not None:
        common.update(use_ema=True, ema_momentum=config.ema)
    if config.name == "sgd":
        cls, extra = keras.optimizers.SGD, {"momentum": config.momentum}
        clipped = ClippedSGD
    else:
        cls = keras.optimizers.Adam
        extra = {
            "beta_1": config.beta_1,
            "beta_2": config.beta_2,
            "epsilon": config.epsilon,
        }
        clipped = ClippedAdam
    if config.clip_theta is not None:
        return clipped(
            theta=config.clip_theta, clip_mode=config.clip_mode, **common, **extra
        )
    return cls(**common, **extra)


def build_model(config: TrainConfig) -> keras.Model:
    """The preset (or ``<family>_x<scale>``) at ``config.data.scale``."""
    from keras_sr import models

    name = config.model
    scale = config.data.scale
    if name not in models.list() and f"{name}_x{scale}" in models.list():
        name = f"{name}_x{scale}"
    preset = models.get_preset(name)
    overrides = dict(config.model_overrides)
    if preset.config.get("scale") != scale:
        overrides["scale"] = scale
    return models.get(name, pretrained=config.pretrained, **overrides)


def _make_dataset(config: TrainConfig, channels: int, repeat: int | None):
    d = config.data
    color = d.color if d.color != "auto" else ("y" if channels == 1 else "rgb")
    try:
        from keras_sr import data as srdata

        make_dataset = srdata.make_dataset
        make_folder_dataset = getattr(srdata, "make_folder_dataset", None)
    except (ImportError, AttributeError):
        from keras_sr.data.reader import make_dataset

        make_folder_dataset = None
    kwargs = dict(
        scale=d.scale,
        lr_patch_size=d.lr_patch_size,
        batch_size=d.batch_size,
        training=True,
        color=color,
        seed=d.seed,
        degradation=d.degradation,
        repeat=repeat,
    )
    path = Path(d.data)
    is_image_folder = path.is_dir() and not (path / "manifest.json").is_file()
    if is_image_folder or (
        not path.exists()
        and make_folder_dataset is not None
        and not any(
            d.data.endswith(x) for x in (".tfrecord", ".tfrecords", ".gz", ".zlib")
        )
    ):
        if make_folder_dataset is None:
            raise ValueError(
                f"{d.data}: training from an image folder needs "
                f"keras_sr.data.make_folder_dataset; convert it with `sr-tfrecords` "
                f"or pass a TFRecord glob"
            )
        return make_folder_dataset(d.data, **kwargs)
    return make_dataset(d.data, **kwargs)


def compile_model(model: keras.Model, config: TrainConfig) -> keras.Model:
    from keras_sr import losses
    from keras_sr.metrics import PSNR, SSIM

    model.compile(
        optimizer=build_optimizer(config.optimizer),
        loss=losses.get(config.loss),
        metrics=[PSNR(name="psnr"), SSIM(name="ssim")],
    )
    return model


def fit(config: TrainConfig, dataset=None, callbacks=None) -> dict:
    """Train according to ``config``; returns the run summary (also written to
    ``<output>/summary.json``).

    ``--steps`` mode: an endless dataset, ``steps_per_epoch`` steps between
    checkpoints/validation (the step total is rounded up to whole intervals).
    ``--epochs`` mode: one pass over the dataset per epoch.

    The output folder gets ``ckpt/`` (resumable ``tf.train`` checkpoints with
    optimizer state), ``logs/`` (TensorBoard), ``model.keras`` and
    ``model.weights.h5`` (final, written atomically) and ``summary.json``.
    """
    from keras_sr.utils.atomic import atomic_path

    config.validate()
    out = Path(config.output)
    ckpt_dir = out / "ckpt"
    if (ckpt_dir / "checkpoint").is_file() and not config.resume:
        raise FileExistsError(
            f"{out} already holds a training run; pass --resume to continue it or "
            f"choose another --output"
        )
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(config)
    compile_model(model, config)
    checkpoint = CheckpointCallback(ckpt_dir, max_to_keep=config.max_checkpoints)
    initial_epoch = checkpoint.restore(model) if config.resume else 0
    start_step = int(model.optimizer.iterations.numpy())
    if config.steps is not None:
        spe = min(config.steps_per_epoch, config.steps)
        epochs = math.ceil(config.steps / spe)
        repeat = None
    else:
        spe, epochs, repeat = None, config.epochs, 1
    if dataset is None:
        dataset = _make_dataset(config, model.channels, repeat)
    nan_guard = StopOnNaN(verbose=config.verbose > 0)
    cbs = [nan_guard]
    validation = None
    if config.data.eval_dir:
        validation = ValidationCallback(
            config.data.eval_dir,
            scale=config.data.scale,
            log_dir=out / "logs",
            max_images=config.data.eval_max_images,
        )
        cbs.append(validation)
    cbs.append(checkpoint)
    if tensorboard_available():
        cbs.append(
            keras.callbacks.TensorBoard(
                str(out / "logs"), update_freq="epoch", write_graph=False
            )
        )
    else:  # tf.summary needs the tensorboard package: log to CSV instead
        (out / "logs").mkdir(parents=True, exist_ok=True)
        cbs.append(
            keras.callbacks.CSVLogger(str(out / "logs" / "train.csv"), append=True)
        )
    cbs += list(callbacks or [])
    (out / "config.json").write_text(
        json.dumps(config.to_dict(), indent=2, default=list) + "\n"
    )
    t0 = time.time()
    history = {}
    if initial_epoch < epochs:
        with warnings.catch_warnings():
            # --epochs mode: the dataset's length is only known after one pass
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            hist = model.fit(
                dataset,
                shuffle=False,
                epochs=epochs,
                steps_per_epoch=spe,
                initial_epoch=initial_epoch,
                callbacks=cbs,
                verbose=config.verbose,
            )
        history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    elapsed = time.time() - t0
    end_step = int(model.optimizer.iterations.numpy())
    summary = {
        "model": config.model,
        "scale": model.scale,
        "channels": model.channels,
        "params": int(model.count_params()),
        "start_step": start_step,
        "steps": end_step,
        "epochs_done": initial_epoch + len(history.get("loss", [])),
        "seconds": round(elapsed, 2),
        "history": history,
        "validation": validation.history if validation else [],
        "stopped_on_nan": nan_guard.message,
        "checkpoint": checkpoint.latest,
    }
    if nan_guard.message is None:
        if model.optimizer.use_ema:
            model.optimizer.finalize_variable_values(model.trainable_variables)
        with atomic_path(out / "model.keras", suffix=".keras") as tmp:
            model.save(tmp)
        with atomic_path(out / "model.weights.h5", suffix=".weights.h5") as tmp:
            model.save_weights(tmp)
        summary["model_file"] = os.fspath(out / "model.keras")
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary
