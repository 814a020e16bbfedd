"""pixel_placement / placement_offsets and the PixelPlacement, ShepardUpsampling
layers: NumPy references, gradient routing, XLA, serialization."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sr.layers import PixelPlacement, ShepardUpsampling
from keras_sr.layers.placement import shepard_tent_kernel
from keras_sr.ops import pixel_placement, placement_offsets
from keras_sr.ops.placement import _pixel_placement_autodiff
from tests.helpers import assert_config_roundtrip, assert_keras_file_roundtrip


def numpy_placement(features: np.ndarray, offsets: np.ndarray, s: int):
    b, h, w, c = features.shape
    grid = np.zeros((b, h * s, w * s, c), features.dtype)
    mask = np.zeros((b, h * s, w * s, 1), features.dtype)
    for n in range(b):
        for i in range(h):
            for j in range(w):
                dy, dx = offsets[n, i, j]
                grid[n, s * i + dy, s * j + dx] = features[n, i, j]
                mask[n, s * i + dy, s * j + dx] = 1
    return grid, mask


def random_case(s: int, seed: int, shape=(2, 5, 7, 3)):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=shape).astype(np.float32)
    offs = rng.integers(0, s, size=(*shape[:3], 2)).astype(np.int32)
    return feats, offs


@pytest.mark.parametrize("s", [2, 3, 4])
def test_pixel_placement_matches_numpy(s):
    feats, offs = random_case(s, seed=s)
    grid, mask = pixel_placement(feats, offs, s)
    ref_grid, ref_mask = numpy_placement(feats, offs, s)
    np.testing.assert_array_equal(grid.numpy(), ref_grid)
    np.testing.assert_array_equal(mask.numpy(), ref_mask)
    # exactly one placed pixel per s x s cell
    cells = mask.numpy().reshape(2, 5, s, 7, s).sum(axis=(2, 4))
    np.testing.assert_array_equal(cells, 1)


def test_zero_offsets_is_transposed_conv_zero_insertion():
    feats, _ = random_case(3, seed=0)
    zeros = np.zeros((*feats.shape[:3], 2), np.int32)
    grid, _ = pixel_placement(feats, zeros, 3)
    expected = np.zeros((2, 15, 21, 3), np.float32)
    expected[:, ::3, ::3] = feats
    np.testing.assert_array_equal(grid.numpy(), expected)


def test_offsets_are_clipped_into_the_cell_and_inputs_checked():
    feats, offs = random_case(2, seed=1)
    grid, _ = pixel_placement(feats, offs + 5, 2)  # all clipped to (1, 1)
    ref, _ = numpy_placement(feats, np.ones_like(offs), 2)
    np.testing.assert_array_equal(grid.numpy(), ref)
    with pytest.raises(ValueError, match="scale"):
        pixel_placement(feats, offs, 0)
    with pytest.raises(TypeError, match="offsets"):
        pixel_placement(feats, offs.astype(np.float32), 2)
    with pytest.raises(ValueError, match=r"\[B,h,w,2\]"):
        pixel_placement(feats, offs[..., :1], 2)


@pytest.mark.parametrize("s", [2, 3, 4])
def test_custom_gradient_equals_autodiff_and_lands_at_lr_positions(s):
    feats, offs = random_case(s, seed=10 + s)
    x = tf.constant(feats)
    upstream = np.random.default_rng(s).normal(size=(2, 5 * s, 7 * s, 3))
    upstream = tf.constant(upstream.astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        custom = tf.reduce_sum(pixel_placement(x, offs, s)[0] * upstream)
        auto = tf.reduce_sum(_pixel_placement_autodiff(x, offs, s)[0] * upstream)
    g_custom = tape.gradient(custom, x).numpy()
    g_auto = tape.gradient(auto, x).numpy()
    np.testing.assert_allclose(g_custom, g_auto, rtol=0, atol=1e-6)
    # the gradient of LR pixel (i, j) is the upstream gradient at the placed
    # HR position (s*i+dy, s*j+dx): the original location is kept for backprop
    b, i, j = np.meshgrid(range(2), range(5), range(7), indexing="ij")
    rows = s * i + offs[..., 0]
    cols = s * j + offs[..., 1]
    np.testing.assert_array_equal(g_custom, upstream.numpy()[b, rows, cols])


def test_no_gradient_to_mask_or_offsets_source():
    feats, _ = random_case(3, seed=3, shape=(1, 6, 6, 1))
    luma = tf.constant(np.clip(feats, 0, 1))
    with tf.GradientTape() as tape:
        tape.watch(luma)
        _, mask = pixel_placement(luma, placement_offsets(luma, 3), 3)
        total = tf.reduce_sum(mask)
    grad = tape.gradient(total, luma)
    assert grad is None or not np.any(grad.numpy())


@pytest.mark.parametrize("s", [2, 3])
def test_xla_forward_and_gradient(s):
    feats, offs = random_case(s, seed=20 + s, shape=(1, 4, 5, 2))
    luma = np.random.default_rng(s).random((1, 4, 5, 1)).astype(np.float32)

    def fn(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            grid, mask = pixel_placement(x, placement_offsets(y, s), s)
            loss = tf.reduce_sum(grid * grid)
        return grid, mask, tape.gradient(loss, x)

    eager = fn(tf.constant(feats), tf.constant(luma))
    compiled = tf.function(fn, jit_compile=True)(tf.constant(feats), tf.constant(luma))
    for a, b in zip(eager, compiled, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    # make sure XLA really compiled it
    hlo = tf.function(fn, jit_compile=True).experimental_get_compiler_ir(
        tf.constant(feats), tf.constant(luma)
    )(stage="hlo")
    assert "HloModule" in hlo


# ------------------------------------------------------------------- offsets


def edge_image(kind: str, n: int = 12) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n]
    if kind == "vertical":  # dark left, bright right; edge between 5 and 6
        img = (xx >= 6).astype(np.float32)
    elif kind == "horizontal":  # dark top, bright bottom
        img = (yy >= 6).astype(np.float32)
    else:  # diagonal, bright below-right of the anti-diagonal line
        img = (xx + yy >= n).astype(np.float32)
    return (0.2 + 0.6 * img)[None, :, :, None]


def numpy_offsets(y, s, rho=1.0, tau=0.1, min_mag=0.02, ridge=1e-4):
    """METHODS §8.3 literally (n = g/m, dm = grad(m).n, d = -sign(dm) n)."""
    y = y[..., 0].astype(np.float64)

    def diffs(a):
        p = np.pad(a, [(0, 0), (1, 1), (1, 1)], mode="edge")
        return (p[:, 2:, 1:-1] - p[:, :-2, 1:-1]) / 2, (
            p[:, 1:-1, 2:] - p[:, 1:-1, :-2]
        ) / 2

    gy, gx = diffs(y)
    m = np.sqrt(gx**2 + gy**2 + 1e-12)
    ny, nx = gy / m, gx / m
    m_row, m_col = diffs(m)
    dm = m_row * ny + m_col * nx
    d_row, d_col = -np.sign(dm) * ny, -np.sign(dm) * nx
    still = (np.abs(dm) < ridge) | (m < min_mag)
    d_row[still] = d_col[still] = 0
    c = (s - 1) / 2
    delta = rho * np.clip(m / tau, 0, 1) * c
    u = np.clip(np.floor(c + delta * d_row + 0.5), 0, s - 1)
    v = np.clip(np.floor(c + delta * d_col + 0.5), 0, s - 1)
    return np.stack([u, v], -1).astype(np.int32)


@pytest.mark.parametrize("s", [2, 3, 4])
def test_offsets_match_the_literal_definition(s):
    """The op computes §8.3 without dividing by m; the results are the same."""
    rng = np.random.default_rng(s)
    smooth = np.kron(rng.random((1, 6, 6)), np.ones((3, 3)))[..., None]
    for y in (rng.random((2, 9, 11, 1)), smooth + 0.01 * rng.random(smooth.shape)):
        y = y.astype(np.float32)
        got = placement_offsets(y, s).numpy()
        ref = numpy_offsets(y.astype(np.float64), s)
        # float32 vs float64 may flip a value sitting exactly on a rounding edge
        assert (got != ref).any(-1).mean() < 0.01
        assert (ref != s // 2).any()  # something moved


@pytest.mark.parametrize("s", [3, 4])
def test_offsets_move_away_from_a_vertical_edge(s):
    off = placement_offsets(edge_image("vertical"), s).numpy()[0]
    centre = s // 2
    dy, dx = off[..., 0], off[..., 1]
    np.testing.assert_array_equal(dy, centre)  # no vertical component
    assert (dx[:, 5] < centre).all()  # dark side of the edge moves left
    if s > 2:
        assert (dx[:, 6] > centre).all()  # bright side moves right
    # flat regions stay at the cell centre
    np.testing.assert_array_equal(dx[:, :4], centre)
    np.testing.assert_array_equal(dx[:, 8:], centre)


def test_offsets_move_away_from_horizontal_and_diagonal_edges():
    s, c = 3, 1
    off = placement_offsets(edge_image("horizontal"), s).numpy()[0]
    assert (off[5, :, 0] < c).all() and (off[6, :, 0] > c).all()
    np.testing.assert_array_equal(off[..., 1], c)
    off = placement_offsets(edge_image("diagonal"), s).numpy()[0]
    n = 12
    for i in range(1, n - 1):
        dark = (i, n - 1 - i)  # last dark pixel on row i (x + y = n - 1)
        bright = (i, n - i)  # first bright pixel (x + y = n)
        # away from the line x + y = n - 0.5: dark moves up-left, bright down-right
        assert off[dark][0] + off[dark][1] < 2 * c, (i, off[dark])
        assert off[bright][0] + off[bright][1] > 2 * c, (i, off[bright])


def test_offsets_parameters_are_used():
    img = edge_image("vertical") * 0.2 + 0.4  # a weak edge (contrast 0.12)
    weak = placement_offsets(img, 3).numpy()
    assert (weak[0, :, 5, 1] == 0).all()  # m = 0.06 >= min_magnitude: moves
    still = placement_offsets(img, 3, min_magnitude=0.07).numpy()
    np.testing.assert_array_equal(still, 1)
    half = placement_offsets(edge_image("vertical"), 5, rho=0.5).numpy()
    full = placement_offsets(edge_image("vertical"), 5).numpy()
    assert half[0, 0, 5, 1] == 1 and full[0, 0, 5, 1] == 0  # 2 - 1 vs 2 - 2


def _step_edges(noise: float) -> np.ndarray:
    """One vertical step edge of every 8-bit height 1..255 (a batch of 255
    LR images, Y/255), plus ``noise`` (uniform, far below half a level) that
    varies along the rows only: the vertical gradient stays exactly 0, as it
    does on a real 8-bit edge (at even scales the unmoved position itself is a
    rounding boundary, which only an exact 0 keeps)."""
    steps = np.arange(1, 256, dtype=np.float64)[:, None, None, None] / 255.0
    y = np.zeros((255, 6, 8, 1)) + steps * (np.arange(8) >= 4)[None, None, :, None]
    rng = np.random.default_rng(0)
    return (y + rng.uniform(-noise, noise, (255, 1, 8, 1))).astype(np.float32)


@pytest.mark.parametrize("s", [3, 4])
def test_preset_tau_keeps_8bit_edges_off_the_rounding_boundary(s):
    """On 8-bit input a step of exactly ``tau * 255`` levels (x3) sits on the
    rounding boundary of the offsets, where float32 vs float16 or ``x/255`` vs
    ``x*(1/255)`` move the pixel differently (the SavedModel uint8 signature
    and the float16 TFLite then fail parity). The presets' tau keeps every
    step height a margin away: sub-level noise changes no offset."""
    from keras_sr import models

    tau = models.get(f"lhsp_x{s}", pretrained=False).get_config()["tau"]
    clean, noisy = _step_edges(0.0), _step_edges(2e-4)
    assert np.array_equal(
        placement_offsets(clean, s, tau=tau).numpy(),
        placement_offsets(noisy, s, tau=tau).numpy(),
    )
    # a whole-level tau does flip offsets under the same noise (the check bites)
    assert not np.array_equal(
        placement_offsets(clean, s, tau=0.2).numpy(),
        placement_offsets(noisy, s, tau=0.2).numpy(),
    )


# -------------------------------------------------------------------- layers


def test_pixel_placement_layer_and_disabled_displacement():
    y = edge_image("vertical")
    feats = np.random.default_rng(0).random((1, 12, 12, 4)).astype(np.float32)
    layer = PixelPlacement(3)
    grid, mask = layer([feats, y])
    ref, ref_mask = numpy_placement(feats, placement_offsets(y, 3).numpy(), 3)
    np.testing.assert_array_equal(grid.numpy(), ref)
    np.testing.assert_array_equal(mask.numpy(), ref_mask)
    off = PixelPlacement(4, displacement=False).offsets(y).numpy()
    np.testing.assert_array_equal(off, 2)
    assert layer.compute_output_shape(((None, None, 7, 4), (None, None, 7, 1))) == (
        (None, None, 21, 4),
        (None, None, 21, 1),
    )
    assert_config_roundtrip(PixelPlacement(2, rho=0.5, tau=0.2, displacement=False))


def _set_tent(layer: ShepardUpsampling, scale: int, floor: float = 1e-6):
    k = layer.kernel_size
    raw = np.log(np.expm1(shepard_tent_kernel(scale, k, floor)))
    c = layer.shepard_kernel.shape[2]
    layer.shepard_kernel.assign(np.repeat(raw[:, :, None, None], c, 2).astype("f4"))


def numpy_bilinear_at(y: np.ndarray, s: int, pos: int) -> np.ndarray:
    """Separable linear interpolation of ``y [B,h,w,C]`` on the HR grid with
    LR sample i at HR coordinate ``s*i + pos`` (constant beyond the ends)."""
    b, h, w, c = y.shape
    rows = np.arange(h * s)
    cols = np.arange(w * s)
    out = np.empty((b, h * s, w, c))
    for n in range(b):
        for j in range(w):
            for k in range(c):
                out[n, :, j, k] = np.interp(rows, s * np.arange(h) + pos, y[n, :, j, k])
    res = np.empty((b, h * s, w * s, c))
    for n in range(b):
        for i in range(h * s):
            for k in range(c):
                res[n, i, :, k] = np.interp(
                    cols, s * np.arange(w) + pos, out[n, i, :, k]
                )
    return res


@pytest.mark.parametrize("s", [2, 3])
def test_shepard_with_tent_kernel_is_bilinear(s):
    """Unmoved pixels (at ``s//2`` in their cell) + tent kernel = bilinear."""
    rng = np.random.default_rng(s)
    y = rng.random((1, 8, 9, 2)).astype(np.float32)
    grid, mask = PixelPlacement(s, displacement=False)([y, y[..., :1]])
    layer = ShepardUpsampling(s, filters=None, activation=None)
    layer([grid, mask])
    _set_tent(layer, s)
    out = layer([grid, mask]).numpy()
    ref = numpy_bilinear_at(y, s, s // 2)
    np.testing.assert_allclose(out, ref, atol=1e-4)


def test_shepard_normalisation_is_exact_for_constant_images():
    """D(P)/D(M) reproduces a constant image whatever the placement and kernel:
    the defining property of Shepard interpolation (both modes)."""
    rng = np.random.default_rng(0)
    const = np.full((1, 6, 6, 3), 0.7, np.float32)
    offs = rng.integers(0, 3, (1, 6, 6, 2)).astype(np.int32)
    grid, mask = pixel_placement(const, offs, 3)
    for mode in ("depthwise", "shared_full"):
        layer = ShepardUpsampling(3, filters=None, activation=None, mode=mode)
        layer([grid, mask])
        layer.shepard_kernel.assign(
            np.abs(rng.normal(size=layer.shepard_kernel.shape)).astype("f4")
        )
        np.testing.assert_allclose(layer([grid, mask]).numpy(), 0.7, rtol=1e-5)


def test_shepard_denominator_floor_applies():
    grid = np.zeros((1, 6, 6, 1), np.float32)
    mask = np.zeros((1, 6, 6, 1), np.float32)  # a single placed pixel
    grid[0, 0, 0, 0] = mask[0, 0, 0, 0] = 1.0
    layer = ShepardUpsampling(2, filters=None, activation=None, denominator_floor=0.9)
    out = layer([grid, mask]).numpy()
    assert np.isfinite(out).all()
    w = tf.nn.softplus(layer.shepard_kernel[:, :, 0, 0]).numpy()  # 5x5, centre 2,2
    assert w[2, 2] > 0.9 > w[2, 3]
    assert out[0, 0, 0, 0] == pytest.approx(1.0)  # den = w(0,0) above the floor
    # next to the pixel the den w(0,1) is below the floor: out = num / floor
    assert out[0, 0, 1, 0] == pytest.approx(w[2, 3] / 0.9, rel=1e-5)
    # far from it num = den = 0: floored, no NaN, output = bias = 0
    assert out[0, 5, 5, 0] == 0.0


@pytest.mark.parametrize("s", [2, 3])
def test_shepard_denominator_bound_covers_every_placement(s):
    """``denominator_bound`` (what the int8 floor is sized from) is never
    exceeded by ``w_c * M`` for random one-pixel-per-cell masks, is reached
    for equal taps, and is below the naive ``max_c sum(w_c)``."""
    layer = ShepardUpsampling(s, filters=None, activation=None)
    layer.build([(1, 4 * s, 4 * s, 3), (1, 4 * s, 4 * s, 1)])
    rng = np.random.default_rng(s)
    layer.shepard_kernel.assign(rng.normal(size=layer.shepard_kernel.shape) * 2)
    bound = layer.denominator_bound()
    w = tf.nn.softplus(layer.shepard_kernel).numpy()
    k = layer.kernel_size
    dens = []
    for _ in range(300):
        off = rng.integers(0, s, size=(1, 4, 4, 2)).astype(np.int32)
        _, mask = pixel_placement(np.zeros((1, 4, 4, 1), np.float32), off, s)
        den = tf.nn.conv2d(mask, w.reshape(k, k, 1, -1), [1, 1, 1, 1], "SAME")
        dens.append(float(tf.reduce_max(den)))
    assert max(dens) <= bound * (1 + 1e-6)
    assert bound < w.sum(axis=(0, 1)).max()
    # tight: with equal taps the regular grid puts one pixel in each of the
    # 3 x 3 cells a (2s+1)-wide window overlaps, and the bound is 9 taps
    layer.shepard_kernel.assign(np.zeros(layer.shepard_kernel.shape))
    assert layer.denominator_bound() == pytest.approx(9 * np.log(2.0), rel=1e-6)


def test_shepard_validation_and_config():
    with pytest.raises(ValueError, match="mode"):
        ShepardUpsampling(2, mode="full")
    with pytest.raises(ValueError, match="odd"):
        ShepardUpsampling(2, kernel_size=4)
    with pytest.raises(ValueError, match="denominator_floor"):
        ShepardUpsampling(2, denominator_floor=0.0)
    layer = ShepardUpsampling(3, filters=8, denominator_floor=0.05, mode="shared_full")
    assert_config_roundtrip(layer)
    assert layer.get_config()["kernel_size"] is None
    assert ShepardUpsampling(3).kernel_size == 7


def test_layers_in_a_keras_file_roundtrip(tmp_path):
    inp = keras.Input((None, None, 1))
    feats = keras.layers.Conv2D(4, 3, padding="same")(inp)
    grid, mask = PixelPlacement(2)([feats, inp])
    out = ShepardUpsampling(2, filters=3)([grid, mask])
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).random((2, 6, 5, 1)).astype(np.float32)
    assert model(x).shape == (2, 12, 10, 3)
    assert_keras_file_roundtrip(model, x, tmp_path)
