"""Learning-rate schedules of the SR papers (step and multistep decay).

Both are ``keras.optimizers.schedules.LearningRateSchedule`` objects of the
optimizer step (``optimizer.iterations``), serializable by Keras.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_sr.utils.registry import keras_sr_export


@keras_sr_export("keras_sr.training.StepDecay")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``lr = initial * gamma ** floor(step / step_size)`` (Caffe "step",
    PyTorch ``StepLR``): e.g. VDSR 0.1 / 10 every 20 epochs, DRRN/GLRL halved
    every 10 epochs, EDSR halved every 200k iterations.

    Args:
        initial_learning_rate: float.
        step_size: int. Steps between decays.
        gamma: float. Multiplicative factor. Defaults to 0.1.

    Example:
        >>> s = StepDecay(0.1, step_size=10, gamma=0.5)
        >>> [round(float(s(i)), 4) for i in (0, 9, 10, 25)]
        [0.1, 0.1, 0.05, 0.025]
    """

    def __init__(
        self,
        initial_learning_rate: float,
        step_size: int,
        gamma: float = 0.1,
        name: str = "StepDecay",
    ):
        if int(step_size) < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        k = ops.floor(step / float(self.step_size))
        return self.initial_learning_rate * ops.power(self.gamma, k)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "step_size": self.step_size,
            "gamma": self.gamma,
            "name": self.name,
        }


@keras_sr_export("keras_sr.training.MultiStepDecay")
class MultiStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``lr = initial * gamma ** (number of milestones <= step)`` (PyTorch
    ``MultiStepLR``): e.g. ESRGAN stage 1, 2e-4 halved at [200k, 400k, 600k,
    800k].

    Args:
        initial_learning_rate: float.
        milestones: increasing sequence of ints.
        gamma: float. Defaults to 0.5.

    Example:
        >>> s = MultiStepDecay(2e-4, milestones=[10, 20], gamma=0.5)
        >>> [round(float(s(i)), 8) for i in (0, 10, 19, 20)]
        [0.0002, 0.0001, 0.0001, 5e-05]
    """

    def __init__(
        self,
        initial_learning_rate: float,
        milestones: Sequence[int],
        gamma: float = 0.5,
        name: str = "MultiStepDecay",
    ):
        milestones = [int(m) for m in milestones]
        if milestones != sorted(milestones) or len(set(milestones)) != len(milestones):
            raise ValueError(
                f"milestones must be strictly increasing, got {milestones}"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.milestones = milestones
        self.gamma = float(gamma)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if not self.milestones:
            return ops.cast(self.initial_learning_rate, "float32") + 0.0 * step
        passed = ops.sum(
            ops.cast(
                step >= ops.convert_to_tensor(self.milestones, "float32"), "float32"
            )
        )
        return self.initial_learning_rate * ops.power(self.gamma, passed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "milestones": list(self.milestones),
            "gamma": self.gamma,
            "name": self.name,
        }
