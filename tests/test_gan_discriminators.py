"""Discriminators: PyTorch-exact padding so 128 and 130 inputs both reach 4x4."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_sr.gan import StructureDiscriminator, VGGStyleDiscriminator
from tests.helpers import assert_config_roundtrip, assert_keras_file_roundtrip


def spatial_chain(model):
    return [
        layer.output.shape[1]
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and layer.strides == (2, 2)
    ]


@pytest.mark.parametrize(
    "size,chain", [(128, [64, 32, 16, 8, 4]), (130, [65, 32, 16, 8, 4])]
)
def test_vgg_discriminator_shapes_for_128_and_130(size, chain):
    d = VGGStyleDiscriminator(input_size=size, base_filters=2)
    assert spatial_chain(d) == chain  # PyTorch: floor((n + 2 - 4) / 2) + 1
    assert d.get_layer("conv9").output.shape[1:] == (4, 4, 16)
    assert d.get_layer("linear1").kernel.shape == (4 * 4 * 16, 100)
    out = d(np.random.rand(3, size, size, 3).astype("float32"))
    assert out.shape == (3, 1) and out.dtype == "float32"


def test_same_padding_would_break_the_130_chain():
    # The trap this module avoids: TF 'same' gives ceil(n/2): 130 -> 65 -> 33.
    x = keras.Input((130, 130, 3))
    y = keras.layers.Conv2D(1, 4, strides=2, padding="same")(x)
    y = keras.layers.Conv2D(1, 4, strides=2, padding="same")(y)
    assert y.shape[1] == 33
    d = VGGStyleDiscriminator(input_size=130, base_filters=2)
    assert d.get_layer("conv3").output.shape[1] == 32


def test_discriminator_layout_and_bn():
    d = VGGStyleDiscriminator(input_size=128, base_filters=2)
    filters = [d.get_layer(f"conv{i}").filters for i in range(10)]
    assert filters == [2, 2, 4, 4, 8, 8, 16, 16, 16, 16]
    bns = [
        layer.name
        for layer in d.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert "conv0_bn" not in bns and len(bns) == 9
    assert d.get_layer("conv0_bn" if "conv0_bn" in bns else "conv1_bn").momentum == 0.9


def test_structure_discriminator_on_nse_features():
    d = StructureDiscriminator(input_size=32, in_channels=32, base_filters=2)
    assert spatial_chain(d) == [16, 8, 4]
    assert d(np.zeros((2, 32, 32, 32), "float32")).shape == (2, 1)
    assert not any(layer.name == "conv4_bn" for layer in d.layers)


def test_discriminator_serialization(tmp_path):
    d = VGGStyleDiscriminator(input_size=130, base_filters=2, dense_units=8)
    assert_config_roundtrip(d)
    x = np.random.rand(2, 130, 130, 3).astype("float32")
    assert_keras_file_roundtrip(d, x, tmp_path)
    s = StructureDiscriminator(input_size=8, in_channels=4, base_filters=2)
    assert_config_roundtrip(s)


def test_too_small_input_is_rejected():
    with pytest.raises(ValueError, match="input_size >= 32"):
        VGGStyleDiscriminator(input_size=16)
