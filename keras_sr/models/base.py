"""Common base of the model zoo: a functional ``keras.Model`` whose
``get_config`` returns its constructor arguments.

Every zoo model maps LR ``[B, h, w, C]`` float32 in ``[0, 1]`` (NHWC; ``C`` =
1 for Y-channel models, 3 for RGB models) to SR ``[B, h*s, w*s, C]`` (float,
not clipped) for any ``h, w``, and exposes ``scale`` and ``channels``.
"""

from __future__ import annotations

import keras


class SRBackbone(keras.Model):
    """Base class; subclasses build their graph in ``__init__`` and call
    ``super().__init__(inputs, outputs, scale=..., channels=..., config=...)``.
    """

    def __init__(
        self, inputs, outputs, *, scale: int, channels: int, config: dict, **kwargs
    ):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.scale = int(scale)
        self.channels = int(channels)
        self._sr_config = dict(config)

    def get_config(self) -> dict:
        # Constructor arguments only (keras-hub style); no functional graph.
        return {"name": self.name, "trainable": self.trainable, **self._sr_config}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def image_input(channels: int) -> keras.KerasTensor:
    """``keras.Input((None, None, channels))`` named ``lr``."""
    return keras.Input(shape=(None, None, channels), name="lr")
