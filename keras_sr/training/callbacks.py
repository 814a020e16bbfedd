"""Keras callbacks for SR training: resumable checkpoints, validation
PSNR/SSIM with TensorBoard image summaries, NaN guard.

Use them with plain ``model.fit``::

    ckpt = CheckpointCallback("runs/x/ckpt")
    initial_epoch = ckpt.restore(model)          # 0 on a fresh run
    model.fit(ds, epochs=10, steps_per_epoch=1000, initial_epoch=initial_epoch,
              callbacks=[StopOnNaN(), ValidationCallback("val/"), ckpt])
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf


def tensorboard_available() -> bool:
    """True if the ``tensorboard`` package (needed by ``tf.summary``) is
    installed; TensorFlow 2.21 does not depend on it."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


class NonFiniteLossError(RuntimeError):
    """Raised by :class:`StopOnNaN` (when ``raise_error``) after stopping."""


class StopOnNaN(keras.callbacks.Callback):
    """Stop training at the first NaN/inf batch loss with a clear message.

    Sets ``model.stop_training`` and ``self.stopped_step``; the weights of that
    step are *not* checkpointed (:class:`CheckpointCallback` checks
    ``model.non_finite_loss``), so the last good checkpoint stays the latest.
    """

    def __init__(self, verbose: bool = True):
        super().__init__()
        self.verbose = verbose
        self.stopped_step: int | None = None
        self.message: str | None = None

    def on_train_begin(self, logs=None):
        self.model.non_finite_loss = False

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if not math.isfinite(loss):
            step = int(self.model.optimizer.iterations.numpy())
            self.stopped_step = step
            self.message = (
                f"loss became {loss} at step {step}; training stopped and the "
                f"last good checkpoint was kept (lower the learning rate or enable "
                f"gradient clipping)"
            )
            self.model.non_finite_loss = True
            self.model.stop_training = True
            if self.verbose:
                print(f"\nkeras-sr: {self.message}", flush=True)


class CheckpointCallback(keras.callbacks.Callback):
    """Save model + optimizer state (and the epoch) with
    ``tf.train.CheckpointManager`` at the end of every epoch.

    TensorFlow writes each checkpoint under temporary names and only then
    updates the ``checkpoint`` index file (atomically), so a run killed with
    SIGKILL at any point resumes from the last complete checkpoint.

    Args:
        directory: checkpoint folder.
        max_to_keep: int. Defaults to 3.
    """

    def __init__(self, directory: str | os.PathLike, max_to_keep: int = 3):
        super().__init__()
        self.directory = Path(directory)
        self.max_to_keep = max_to_keep
        self._manager = None
        self._epoch = None

    def _checkpoint(self, model):
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        ckpt = tf.train.Checkpoint(
            model=model, optimizer=model.optimizer, epoch=self._epoch
        )
        self._manager = tf.train.CheckpointManager(
            ckpt, str(self.directory), max_to_keep=self.max_to_keep
        )
        return ckpt

    def restore(self, model: keras.Model) -> int:
        """Restore the latest checkpoint into ``model`` (compiled) and return the
        epoch to resume from (0 if there is none). Builds the optimizer."""
        ckpt = self._checkpoint(model)
        latest = self._manager.latest_checkpoint
        if latest is None:
            return 0
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        ckpt.restore(latest).assert_existing_objects_matched()
        return int(self._epoch.numpy())

    @property
    def latest(self) -> str | None:
        return None if self._manager is None else self._manager.latest_checkpoint

    def on_train_begin(self, logs=None):
        if self._manager is None:
            self._checkpoint(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if getattr(self.model, "non_finite_loss", False):
            return
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return
        self._epoch.assign(epoch + 1)
        step = int(self.model.optimizer.iterations.numpy())
        self._manager.save(checkpoint_number=step)


class ValidationCallback(keras.callbacks.Callback):
    """PSNR/SSIM on a folder of HR images after every epoch, with the
    evaluation protocol of :mod:`keras_sr.evaluation` (``y-first`` for Y
    models, ``rgb`` for RGB models). Adds ``val_psnr`` and ``val_ssim`` to the
    epoch logs (so a later ``keras.callbacks.TensorBoard`` records them) and,
    with ``log_dir``, writes scalars and the first ``num_images`` SR images as
    TensorBoard image summaries (without the ``tensorboard`` package the
    images are written as PNG files to ``log_dir/validation/`` and the scalars
    to ``log_dir/validation.csv``).

    Args:
        directory: folder of HR images.
        scale: int. Defaults to the model's ``scale``.
        protocol: ``"y-first"``, ``"rgb"`` or None (from ``model.channels``).
        log_dir: TensorBoard folder for the image summaries, or None.
        num_images: int. Images written per epoch. Defaults to 2.
        max_images: int or None. Evaluate only the first N images.
    """

    def __init__(
        self,
        directory,
        scale: int | None = None,
        protocol: str | None = None,
        log_dir=None,
        num_images: int = 2,
        max_images: int | None = None,
    ):
        super().__init__()
        self.directory = Path(directory)
        self.scale = scale
        self.protocol = protocol
        self.log_dir = None if log_dir is None else Path(log_dir)
        self.num_images = num_images
        self.max_images = max_images
        self.history: list[dict] = []
        self._writer = None

    def evaluate(self) -> dict:
        from keras_sr.evaluation import evaluate_image
        from keras_sr.inference import KerasUpscaler
        from keras_sr.io import list_images, read_image

        model = self.model
        scale = int(self.scale or model.scale)
        protocol = self.protocol or ("y-first" if model.channels == 1 else "rgb")
        upscaler = KerasUpscaler(model)
        files = list_images(self.directory)[: self.max_images]
        psnrs, ssims, images = [], [], []
        for path in files:
            result, sr = evaluate_image(
                upscaler, read_image(path), scale, protocol, name=path.name
            )
            psnrs.append(result.psnr)
            ssims.append(result.ssim)
            if len(images) < self.num_images:
                images.append((path.stem, sr))
        return {
            "val_psnr": float(np.mean(psnrs)),
            "val_ssim": float(np.mean(ssims)),
            "images": images,
        }

    def on_epoch_end(self, epoch, logs=None):
        if getattr(self.model, "non_finite_loss", False):
            return
        result = self.evaluate()
        if logs is not None:
            logs["val_psnr"] = result["val_psnr"]
            logs["val_ssim"] = result["val_ssim"]
        step = int(self.model.optimizer.iterations.numpy())
        self.history.append(
            {
                "epoch": epoch + 1,
                "step": step,
                "psnr": result["val_psnr"],
                "ssim": result["val_ssim"],
            }
        )
        if self.log_dir is not None:
            self._log(step, result)

    def _log(self, step: int, result: dict) -> None:
        if not tensorboard_available():
            from keras_sr.io import write_image

            folder = self.log_dir / "validation"
            folder.mkdir(parents=True, exist_ok=True)
            csv = self.log_dir / "validation.csv"
            if not csv.is_file():
                csv.write_text("step,val_psnr,val_ssim\n")
            with open(csv, "a") as f:
                f.write(f"{step},{result['val_psnr']:.6f},{result['val_ssim']:.6f}\n")
            for name, sr in result["images"]:
                write_image(folder / f"{name}_step{step:08d}.png", sr)
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(
                str(self.log_dir / "validation")
            )
        with self._writer.as_default(step=step):
            tf.summary.scalar("val_psnr", result["val_psnr"])
            tf.summary.scalar("val_ssim", result["val_ssim"])
            for name, sr in result["images"]:
                tf.summary.image(f"sr/{name}", sr[None], max_outputs=1)
        self._writer.flush()
