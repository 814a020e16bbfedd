"""keras_sr.data: LR/HR alignment, Y protocol, determinism, sharding by
InputContext, eval mode, boundaries, stored LR, the folder reader, and the
degradations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tensorflow as tf

from keras_sr.data import (
    add_gaussian_noise,
    blur_downscale,
    degradations,
    gaussian_blur,
    jpeg_compress,
    make_dataset,
    make_folder_dataset,
)
from keras_sr.io import read_image, write_image
from keras_sr.ops import imresize, rgb_to_y
from tests.helpers import SET5_HR, SET5_LR_MATLAB, T91, random_image
from tfrecords_tools.build import build

SCALE, P = 3, 6  # LR patch 6 -> HR patch 18


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    src = tmp_path_factory.mktemp("hr")
    for i in range(8):
        c = 1 if i == 5 else 3
        write_image(src / f"im{i}.png", random_image(30 + i, 36 + 2 * i, c=c, seed=i))
    return src


@pytest.fixture(scope="module")
def records(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "raw"
    build(folder, out, num_shards=4, scales=[SCALE], workers=1, progress=False)
    return out


def _sources(folder):
    return {p.name: read_image(p) for p in sorted(folder.iterdir())}


def _dihedral_np(img, k):
    out = img.transpose(1, 0, 2) if k % 2 else img
    if (k // 2) % 2:
        out = out[::-1]
    if k >= 4:
        out = out[:, ::-1]
    return out


def _locate(hr_u8, sources, scale, color="rgb"):
    """Find (name, y, x, k) with hr == dihedral_k(source[y:y+P, x:x+P]);
    y and x must lie on the LR grid."""
    size = hr_u8.shape[0]
    for name, src in sources.items():
        if color == "y":
            src = src if src.shape[-1] == 1 else rgb_to_y(src).numpy()
        elif src.shape[-1] == 1:
            src = np.repeat(src, 3, axis=-1)
        for y in range(0, src.shape[0] - size + 1):
            for x in range(0, src.shape[1] - size + 1):
                crop = src[y : y + size, x : x + size]
                for k in range(8):
                    if np.array_equal(_dihedral_np(crop, k), hr_u8):
                        return name, y, x, k
    raise AssertionError("HR patch is not a crop of any source image")


def _u8(x):
    return np.round(np.asarray(x) * 255).astype(np.uint8)


def test_training_pairs_are_aligned_crops_with_exact_matlab_lr(records, folder):
    ds = make_dataset(records, SCALE, P, 4, seed=0)
    assert ds.element_spec[0].shape == (4, P, P, 3)
    assert ds.element_spec[1].shape == (4, P * SCALE, P * SCALE, 3)
    sources = _sources(folder)
    for lr, hr in ds.take(2):
        assert lr.dtype == hr.dtype == tf.float32
        for i in range(4):
            hr_u8 = _u8(hr[i])
            np.testing.assert_allclose(hr[i].numpy(), hr_u8 / 255.0, atol=1e-7)
            _, y, x, _ = _locate(hr_u8, sources, SCALE)
            assert y % SCALE == 0 and x % SCALE == 0  # crop on the LR grid
            # LR == MATLAB bicubic of the HR crop, bit for bit (uint8 path).
            want = imresize(hr_u8, scale=1 / SCALE).numpy()
            np.testing.assert_array_equal(_u8(lr[i]), want)
            np.testing.assert_allclose(lr[i].numpy(), want / 255.0, atol=1e-7)


def test_color_y_follows_the_y_first_protocol(records, folder):
    ds = make_dataset(records, SCALE, P, 4, color="y", seed=1)
    assert ds.element_spec[0].shape == (4, P, P, 1)
    sources = _sources(folder)
    lr, hr = next(iter(ds))
    for i in range(4):
        hr_u8 = _u8(hr[i])
        np.testing.assert_allclose(hr[i].numpy(), hr_u8 / 255.0, atol=1e-7)
        _locate(hr_u8, sources, SCALE, color="y")
        # y-first: the LR is computed in floating point on the rounded Y.
        want = imresize(hr_u8.astype(np.float64) / 255.0, scale=1 / SCALE).numpy()
        np.testing.assert_allclose(lr[i].numpy(), want, atol=1e-5)


def test_same_seed_same_batches_other_seed_differs(records):
    def first(seed, **kw):
        ds = make_dataset(records, SCALE, P, 4, seed=seed, **kw)
        return [tuple(t.numpy() for t in b) for b in ds.take(2)]

    a, b, c = first(7), first(7), first(8)
    for (la, ha), (lb, hb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(ha, hb)
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))
    # Random degradations are seeded too.
    kw = {"noise_sigma": 0.05, "jpeg_quality": (40, 90), "degradation": "blur"}
    d, e = first(3, **kw), first(3, **kw)
    for (ld, _), (le, _) in zip(d, e, strict=True):
        np.testing.assert_array_equal(ld, le)


def test_sharding_by_input_context_splits_files_before_interleave(records):
    def images(ctx, training):
        ds = make_dataset(
            records, SCALE, P, 4, training=training, input_context=ctx, seed=0
        )
        return ds

    whole = {
        _u8(hr[0]).tobytes()
        for _, hr in make_dataset(records, SCALE, None, 1, training=False)
    }
    assert len(whole) == 8
    parts = []
    for pid in (0, 1):
        ctx = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=pid, num_replicas_in_sync=2
        )
        got = {_u8(hr[0]).tobytes() for _, hr in images(ctx, False)}
        parts.append(got)
        # Training: per-replica batch = global 4 / 2 replicas, static shapes.
        lr, hr = next(iter(images(ctx, True)))
        assert tuple(lr.shape) == (2, P, P, 3)
        assert tuple(hr.shape) == (2, P * SCALE, P * SCALE, 3)
    assert parts[0] and parts[1] and not parts[0] & parts[1]
    assert parts[0] | parts[1] == whole
    too_many = tf.distribute.InputContext(num_input_pipelines=5, input_pipeline_id=0)
    with pytest.raises(ValueError, match="cannot be sharded over 5 input pipelines"):
        make_dataset(records, SCALE, P, 4, input_context=too_many)


def test_eval_mode_yields_whole_modcropped_images_in_order(records, folder):
    expected = []
    for src in _sources(folder).values():
        h, w = src.shape[0] // SCALE * SCALE, src.shape[1] // SCALE * SCALE
        src = src if src.shape[-1] == 3 else np.repeat(src, 3, axis=-1)
        expected.append(src[:h, :w].tobytes())
    got = list(make_dataset(records, SCALE, None, 4, training=False))
    assert len(got) == 8
    for lr, hr in got:
        assert lr.shape[0] == 1  # sizes differ -> batch 1
        hr_u8 = _u8(hr[0])
        assert hr_u8.shape[0] % SCALE == 0 and hr_u8.shape[1] % SCALE == 0
        expected.remove(hr_u8.tobytes())  # each source exactly once
        np.testing.assert_array_equal(
            _u8(lr[0]), imresize(hr_u8, scale=1 / SCALE).numpy()
        )
    assert not expected


def test_stored_lr_matches_the_hr_crop(records, folder):
    ds = make_dataset(records, SCALE, P, 4, lr_source="stored", seed=2)
    sources = _sources(folder)
    lr, hr = next(iter(ds))
    for i in range(4):
        name, y, x, k = _locate(_u8(hr[i]), sources, SCALE)
        assert y % SCALE == 0 and x % SCALE == 0
        src = sources[name]
        src = src if src.shape[-1] == 3 else np.repeat(src, 3, axis=-1)
        h, w = src.shape[0] // SCALE * SCALE, src.shape[1] // SCALE * SCALE
        full_lr = imresize(src[:h, :w], scale=1 / SCALE).numpy()
        ly, lx = y // SCALE, x // SCALE
        want = _dihedral_np(full_lr[ly : ly + P, lx : lx + P], k)
        np.testing.assert_array_equal(_u8(lr[i]), want)
    with pytest.raises(ValueError, match="stores LR for scales"):
        make_dataset(records, 2, P, 4, lr_source="stored")


def test_boundaries_and_mask(tmp_path):
    src, bdir = tmp_path / "hr", tmp_path / "bd"
    src.mkdir()
    bdir.mkdir()
    for i in range(4):
        write_image(src / f"b{i}.png", random_image(24, 24, seed=i))
        if i % 2 == 0:  # b0 and b2 have maps equal to their red channel
            write_image(bdir / f"b{i}.png", random_image(24, 24, seed=i)[..., :1])
    out = tmp_path / "ds"
    build(src, out, boundary_dir=bdir, num_shards=2, workers=1, progress=False)
    ds = make_dataset(out, 2, 6, 4, with_boundary=True, seed=0)
    lr, target = next(iter(ds))
    assert set(target) == {"sr", "boundary", "boundary_mask"}
    assert tuple(target["boundary"].shape) == (4, 12, 12, 1)
    assert tuple(target["boundary_mask"].shape) == (4,)
    for i in range(4):
        hr, b = _u8(target["sr"][i]), _u8(target["boundary"][i])
        if target["boundary_mask"][i] == 1.0:
            # Same crop and same flip/rotation as the HR: b == HR red channel.
            np.testing.assert_array_equal(b[..., 0], hr[..., 0])
        else:
            assert not b.any()
    masks = [m for _, t in ds.take(6) for m in t["boundary_mask"].numpy()]
    assert set(masks) == {0.0, 1.0}
    # The folder reader pairs maps by stem the same way.
    fds = make_folder_dataset(
        src, 2, 6, 4, with_boundary=True, boundary_dir=bdir, seed=0, cache=True
    )
    _, t = next(iter(fds))
    for i in range(4):
        hr, b = _u8(t["sr"][i]), _u8(t["boundary"][i])
        if t["boundary_mask"][i] == 1.0:
            np.testing.assert_array_equal(b[..., 0], hr[..., 0])
        else:
            assert not b.any()
    write_image(bdir / "b1.png", random_image(20, 24, c=1))
    with pytest.raises(ValueError, match="b1.png: boundary map is"):
        make_folder_dataset(src, 2, 6, 4, with_boundary=True, boundary_dir=bdir)


def test_folder_reader_matches_the_record_reader_in_eval(records, folder):
    a = [hr.numpy() for _, hr in make_dataset(records, SCALE, None, 1, training=False)]
    b = [
        hr.numpy()
        for _, hr in make_folder_dataset(folder, SCALE, None, 1, training=False)
    ]
    assert sorted(x.tobytes() for x in a) == sorted(x.tobytes() for x in b)


def test_folder_reader_cached_y_on_t91():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # t20.bmp is smaller than 33 px
        ds = make_folder_dataset(
            T91, 3, 11, 16, color="y", cache=True, seed=0, shuffle_buffer=16
        )
    lr, hr = next(iter(ds))
    assert tuple(lr.shape) == (16, 11, 11, 1) and tuple(hr.shape) == (16, 33, 33, 1)
    # Y of uint8 RGB rounded to uint8 (MATLAB rgb2ycbcr): 16..235 levels.
    y = hr.numpy() * 255
    np.testing.assert_allclose(y, np.round(y), atol=1e-3)
    assert y.min() >= 16 - 1e-3 and y.max() <= 235 + 1e-3


def test_bicubic_degradation_reproduces_matlab_lr_on_set5():
    hr = read_image(SET5_HR / "butterfly.png")
    lr = degradations.bicubic_downscale(hr, 4).numpy()
    ref = read_image(SET5_LR_MATLAB / "X4" / "butterflyx4.png")
    np.testing.assert_array_equal(lr, ref)


def test_blur_noise_and_jpeg_degradations():
    flat = np.full((12, 12, 3), 0.5, np.float32)
    np.testing.assert_allclose(gaussian_blur(flat, 1.2).numpy(), flat, atol=1e-6)
    img = random_image(12, 12, seed=0)
    out = blur_downscale(img, 3).numpy()
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    # Subsampling keeps the blurred pixel at the LR cell centre (offset 1).
    blurred = gaussian_blur(img, 1.2).numpy()
    np.testing.assert_array_equal(out, blurred[1::3, 1::3])
    # sigma -> 0 limit: a tiny blur is the identity.
    np.testing.assert_array_equal(gaussian_blur(img, 0.1).numpy(), img)
    seed = tf.constant([1, 2], tf.int64)
    n1 = add_gaussian_noise(flat, 0.1, seed).numpy()
    n2 = add_gaussian_noise(flat, 0.1, seed).numpy()
    np.testing.assert_array_equal(n1, n2)
    assert 0.07 < np.std(n1 - flat) < 0.13
    j = jpeg_compress(tf.constant(img[None]), (10, 20), seed=seed).numpy()
    assert j.shape == (1, 12, 12, 3) and j.dtype == np.uint8
    assert not np.array_equal(j[0], img)
    with pytest.raises(ValueError, match="jpeg quality"):
        jpeg_compress(img, 0)


def test_callable_degradation_and_bad_arguments(records):
    def nearest(hr, scale):
        return hr[:, ::scale, ::scale, :]

    lr, hr = next(iter(make_dataset(records, SCALE, P, 2, degradation=nearest, seed=0)))
    np.testing.assert_allclose(lr.numpy(), hr.numpy()[:, ::SCALE, ::SCALE, :])
    with pytest.raises(ValueError, match="scale must be an integer >= 2"):
        make_dataset(records, 1, P, 2)
    with pytest.raises(ValueError, match="color must be one of"):
        make_dataset(records, SCALE, P, 2, color="lab")
    with pytest.raises(ValueError, match="degradation must be one of"):
        make_dataset(records, SCALE, P, 2, degradation="box")
    with pytest.raises(FileNotFoundError, match="no files match"):
        make_dataset(str(records / "nothing-*.tfrecord"), SCALE, P, 2)
    with pytest.raises(ValueError, match="smaller than the HR patch"):
        make_dataset(records, SCALE, 40, 2)


def test_png_gzip_shards_without_manifest_and_cached_records(folder, tmp_path):
    out = tmp_path / "png"
    build(
        folder,
        out,
        num_shards=2,
        encoding="png",
        compression="GZIP",
        workers=1,
        progress=False,
    )
    bare = tmp_path / "bare"
    bare.mkdir()
    for p in out.glob("data-*"):  # shards alone: format and compression per file
        (bare / p.name).write_bytes(p.read_bytes())
    sources = _sources(folder)
    for ds in (
        make_dataset(str(bare / "data-*.tfrecord.gz"), SCALE, P, 4, seed=0),
        make_dataset(out, SCALE, P, 4, seed=0, cache=True, color="y"),
    ):
        lr, hr = next(iter(ds))
        color = "y" if hr.shape[-1] == 1 else "rgb"
        for i in range(2):
            hr_u8 = _u8(hr[i])
            _, y, x, _ = _locate(hr_u8, sources, SCALE, color=color)
            assert y % SCALE == 0 and x % SCALE == 0
            if color == "rgb":
                want = imresize(hr_u8, scale=1 / SCALE).numpy() / 255.0
            else:
                want = imresize(hr_u8 / 255.0, scale=1 / SCALE).numpy()
            np.testing.assert_allclose(lr[i].numpy(), want, atol=1e-5)


def test_auto_cache_decision():
    from keras_sr.data import reader

    small = {"stats": {"bytes": 10 * 2**20}, "params": {"encoding": "raw"}}
    huge = {"stats": {"bytes": 64 * 2**30}, "params": {"encoding": "raw"}}
    png = {
        "stats": {"bytes": reader.AUTO_CACHE_BYTES // 2},
        "params": {"encoding": "png"},
    }
    assert reader._auto_cache(small, True, None, None)
    assert not reader._auto_cache(small, False, None, None)  # eval: one pass
    assert not reader._auto_cache(small, True, 1, None)  # one epoch: no reuse
    assert not reader._auto_cache(huge, True, None, None)
    assert not reader._auto_cache(png, True, None, None)  # PNG decodes larger
    assert not reader._auto_cache(None, True, None, None)  # no manifest
    assert reader._auto_cache(100 * 2**20, True, None, None)  # folder: bytes known
    assert not reader._auto_cache(64 * 2**30, True, 5, None)
