"""Training with plain ``model.fit``: typed configs, schedules, adjustable
gradient clipping, checkpoint/validation/NaN callbacks.

Example:
    >>> import keras
    >>> from keras_sr import losses, models, training
    >>> from keras_sr.metrics import PSNR
    >>> model = models.get("espcn_x3", pretrained=False)
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3),
    ...               loss=losses.MSELoss(), metrics=[PSNR()])
    >>> # model.fit(make_dataset(...), epochs=..., callbacks=[
    >>> #     training.StopOnNaN(), training.CheckpointCallback("runs/x/ckpt")])
"""

from keras_sr.training.callbacks import (
    CheckpointCallback,
    NonFiniteLossError,
    StopOnNaN,
    ValidationCallback,
)
from keras_sr.training.clipping import (
    AdjustableGradientClipping,
    ClippedAdam,
    ClippedSGD,
    adjustable_clipping,
)
from keras_sr.training.config import (
    DataConfig,
    OptimizerConfig,
    TrainConfig,
    apply_overrides,
    default_config,
    load_yaml,
)
from keras_sr.training.schedules import MultiStepDecay, StepDecay
from keras_sr.training.trainer import build_optimizer, compile_model, fit

__all__ = [
    "AdjustableGradientClipping",
    "CheckpointCallback",
    "ClippedAdam",
    "ClippedSGD",
    "DataConfig",
    "MultiStepDecay",
    "NonFiniteLossError",
    "OptimizerConfig",
    "StepDecay",
    "StopOnNaN",
    "TrainConfig",
    "ValidationCallback",
    "adjustable_clipping",
    "apply_overrides",
    "build_optimizer",
    "compile_model",
    "default_config",
    "fit",
    "load_yaml",
]
