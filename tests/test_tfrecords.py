"""sr-tfrecords: round trips, manifest accounting with bad and odd inputs,
verify, resume after an interrupted build, the CLI's error contract."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_sr.data import parse_example, schema
from keras_sr.io import read_image, write_image
from keras_sr.ops import imresize, rgb_to_y
from tests.helpers import REPO, random_image
from tfrecords_tools.build import build
from tfrecords_tools.cli import main as sr_main


def run_sr(argv, capsys) -> tuple[int, str, str]:
    try:
        rc = sr_main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        rc = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return rc, out.out, out.err


def read_records(directory: Path, **kw) -> list[dict]:
    """Every record of a dataset, decoded with the reader's own parser."""
    manifest = json.loads((directory / "manifest.json").read_text())
    comp = manifest["params"]["compression"] or ""
    out = []
    for shard in manifest["shards"]:
        ds = tf.data.TFRecordDataset(str(directory / shard["file"]), comp)
        for s in ds:
            ex = parse_example(s, **kw)
            sid = tf.io.parse_single_example(
                s, {schema.KEY_SOURCE_ID: tf.io.FixedLenFeature([], tf.string)}
            )[schema.KEY_SOURCE_ID]
            item = {k: v.numpy() for k, v in ex.items()}
            item["source_id"] = sid.numpy().decode()
            out.append(item)
    return out


def make_folder(tmp_path: Path, n: int = 6, size=(23, 30)) -> Path:
    src = tmp_path / "hr"
    src.mkdir()
    for i in range(n):
        c = 1 if i == 2 else 3
        write_image(src / f"img{i:02d}.png", random_image(*size, c=c, seed=i))
    return src


@pytest.mark.parametrize("encoding", ["raw", "png"])
def test_round_trip_decoded_hr_equals_source_pixels(tmp_path, encoding):
    src = make_folder(tmp_path)
    out = tmp_path / "ds"
    m = build(src, out, encoding=encoding, num_shards=3, workers=1, progress=False)
    assert (m["inputs"], m["written"], m["examples"], m["skipped"]) == (6, 6, 6, [])
    records = read_records(out)
    assert sorted(r["source_id"] for r in records) == [
        f"img{i:02d}.png" for i in range(6)
    ]
    for r in records:
        source = read_image(src / r["source_id"])
        np.testing.assert_array_equal(r["hr"], source)  # gray stays 1 channel
        assert (r["height"], r["width"], r["channels"]) == source.shape


def test_color_y_and_stored_lr_are_matlab_exact(tmp_path):
    src = make_folder(tmp_path, n=3, size=(25, 31))
    out = tmp_path / "ds"
    build(src, out, color="y", scales=[2, 3], workers=1, progress=False)
    for scale in (2, 3):
        for r in read_records(out, lr_scale=scale):
            rgb = read_image(src / r["source_id"])
            y = rgb if rgb.shape[-1] == 1 else rgb_to_y(rgb).numpy()
            np.testing.assert_array_equal(r["hr"], y)
            h, w = y.shape[0] // scale * scale, y.shape[1] // scale * scale
            want = imresize(y[:h, :w], scale=1 / scale).numpy()
            np.testing.assert_array_equal(r["lr"], want)


def test_sub_images_follow_srcnn_tiling(tmp_path):
    src = tmp_path / "hr"
    src.mkdir()
    img = random_image(40, 50, seed=3)
    write_image(src / "a.png", img)
    out = tmp_path / "ds"
    m = build(src, out, patch_size=16, stride=12, workers=1, progress=False)
    # positions 0, 12, 24 (rows; 36 + 16 > 40) x 0, 12, 24 (cols; 36 + 16 > 50)
    assert m["examples"] == 9 and m["written"] == 1
    assert m["stats"]["min_height"] == m["stats"]["max_height"] == 16
    for r in read_records(out):
        yx = r["source_id"].split("@")[1]
        y, x = (int(v) for v in yx.split(","))
        np.testing.assert_array_equal(r["hr"], img[y : y + 16, x : x + 16])


def test_boundary_maps_are_matched_by_stem(tmp_path):
    src = make_folder(tmp_path, n=3, size=(20, 24))
    bdir = tmp_path / "bd"
    bdir.mkdir()
    bmap = random_image(20, 24, c=1, seed=9)
    write_image(bdir / "img01.png", bmap)  # only img01 has one
    out = tmp_path / "ds"
    m = build(src, out, boundary_dir=bdir, workers=1, progress=False)
    assert m["stats"]["with_boundary"] == 1
    by_id = {r["source_id"]: r for r in read_records(out, with_boundary=True)}
    np.testing.assert_array_equal(by_id["img01.png"]["boundary"], bmap)
    assert by_id["img01.png"]["has_boundary"] == 1.0
    assert by_id["img00.png"]["has_boundary"] == 0.0
    assert not by_id["img00.png"]["boundary"].any()


def _odd_inputs(folder: Path) -> dict[str, str | None]:
    """A folder of bad and odd files -> {name: expected skip-reason fragment
    or None when it must be written}."""
    folder.mkdir()
    rgb = random_image(24, 32, seed=1)
    expected: dict[str, str | None] = {}
    write_image(folder / "good.png", rgb)
    expected["good.png"] = None
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    (folder / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    expected["truncated.png"] = "decode"
    (folder / "fake.png").write_text("this is not an image\n")
    expected["fake.png"] = "not a recognised image"
    (folder / "notes.txt").write_text("readme")
    expected["notes.txt"] = "not a recognised image"
    rgba = np.concatenate([rgb, np.full((24, 32, 1), 128, np.uint8)], axis=-1)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    expected["rgba.png"] = None
    g16 = (np.arange(24 * 32).reshape(24, 32) * 80).astype(np.uint16)
    Image.fromarray(g16).save(folder / "gray16.png")
    expected["gray16.png"] = None
    Image.fromarray(rgb[..., 0]).save(folder / "gray.png")
    expected["gray.png"] = None
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(
        folder / "palette.png"
    )
    expected["palette.png"] = None
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    expected["cmyk.jpg"] = None
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(random_image(20, 36, seed=2)).save(
        folder / "exif.jpg", exif=exif.tobytes(), quality=95
    )
    expected["exif.jpg"] = None
    write_image(folder / "tiny.png", random_image(10, 12, seed=4))
    expected["tiny.png"] = "smaller than the patch size 16"
    return expected


@pytest.mark.slow  # spawns two worker processes (each imports TensorFlow)
def test_manifest_accounts_for_every_bad_and_odd_input(tmp_path):
    src = tmp_path / "odd"
    expected = _odd_inputs(src)
    out = tmp_path / "ds"
    # Two workers: the multiprocess path with a fixed shard assignment.
    m = build(
        src, out, patch_size=16, stride=8, num_shards=3, workers=2, progress=False
    )
    assert m["inputs"] == len(expected) == 11
    assert m["inputs"] == m["written"] + len(m["skipped"])
    skipped = {Path(s["path"]).name: s["reason"] for s in m["skipped"]}
    want_skipped = {k: v for k, v in expected.items() if v is not None}
    assert set(skipped) == set(want_skipped)
    for name, fragment in want_skipped.items():
        assert fragment in skipped[name], (name, skipped[name])
    assert m["written"] == 7
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["inputs"] == 11 and on_disk["skipped"] == m["skipped"]
    assert {"schema_version", "params", "shards", "examples"} <= set(on_disk)
    assert sum(s["examples"] for s in on_disk["shards"]) == on_disk["examples"]
    records = read_records(out)
    assert len(records) == m["examples"]
    by_src: dict[str, list] = {}
    for r in records:
        by_src.setdefault(r["source_id"].split("@")[0], []).append(r)
    assert set(by_src) == {k for k, v in expected.items() if v is None}
    # EXIF orientation 6: the 20x36 JPEG is stored upright as 36x20.
    assert {r["source_id"] for r in by_src["exif.jpg"]} == {
        f"exif.jpg@{y},{x}" for y in (0, 8, 16) for x in (0,)
    }
    # RGBA -> RGB (alpha dropped); 16-bit -> 8-bit; gray and palette kept.
    rgba_tile = next(r for r in by_src["rgba.png"] if r["source_id"].endswith("@0,0"))
    np.testing.assert_array_equal(
        rgba_tile["hr"], random_image(24, 32, seed=1)[:16, :16]
    )
    g16_tile = next(r for r in by_src["gray16.png"] if r["source_id"].endswith("@0,0"))
    g16 = (np.arange(24 * 32).reshape(24, 32) * 80).astype(np.float64)
    np.testing.assert_array_equal(
        g16_tile["hr"][..., 0], np.floor(g16[:16, :16] / 257 + 0.5).astype(np.uint8)
    )
    assert by_src["cmyk.jpg"][0]["channels"] == 3
    assert by_src["gray.png"][0]["channels"] == 1


def test_cli_build_verify_inspect(tmp_path, capsys):
    src = make_folder(tmp_path, n=5)
    out = tmp_path / "ds"
    rc, stdout, _ = run_sr(
        [
            "build",
            "--hr-dir",
            src,
            "--output",
            out,
            "--workers",
            "1",
            "--num-shards",
            "2",
            "--compression",
            "GZIP",
            "--scales",
            "2",
            "--no-progress",
        ],
        capsys,
    )
    assert rc == 0, stdout
    assert "wrote 5 example(s) from 5 of 5 input(s) into 2 shard(s)" in stdout
    assert sorted(p.name for p in out.glob("data-*")) == [
        "data-00000-of-00002.tfrecord.gz",
        "data-00001-of-00002.tfrecord.gz",
    ]
    rc, stdout, _ = run_sr(["verify", out], capsys)
    assert rc == 0 and "OK: 2 shard(s), 5 example(s)" in stdout
    sheet = tmp_path / "sheet.png"
    rc, stdout, _ = run_sr(["inspect", out, "--output", sheet], capsys)
    assert rc == 0
    assert "examples:  5 in 2 shard(s)" in stdout and "stored LR x2" in stdout
    img = read_image(sheet)
    assert img.shape[0] > 100 and img.shape[1] > 100 and img.std() > 5


def test_verify_names_truncated_and_corrupted_shards(tmp_path, capsys):
    src = make_folder(tmp_path, n=6)
    out = tmp_path / "ds"
    build(src, out, num_shards=3, workers=1, progress=False)
    shards = sorted(out.glob("data-*"))
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[:-40])  # truncated (a killed copy)
    data = bytearray(shards[2].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a record
    shards[2].write_bytes(bytes(data))
    rc, stdout, stderr = run_sr(["verify", out], capsys)
    assert rc == 1
    assert f"DAMAGED {shards[1].name}" in stdout
    assert f"DAMAGED {shards[2].name}" in stdout
    assert shards[0].name not in stdout
    assert "2 of 3 shard(s) damaged" in stderr
    shards[1].unlink()
    rc, stdout, _ = run_sr(["verify", out], capsys)
    assert rc == 1 and f"DAMAGED {shards[1].name}: missing" in stdout


def test_resume_reuses_complete_shards_and_redoes_the_rest(tmp_path):
    src = make_folder(tmp_path, n=8)
    ref = build(src, tmp_path / "ref", num_shards=4, workers=1, progress=False)
    out = tmp_path / "ds"
    build(src, out, num_shards=4, workers=1, progress=False)
    shards = sorted(out.glob("data-*"))
    before = shards[0].stat()
    # The state a kill leaves behind: no manifest, a shard never renamed into
    # place, a half-written one, a shard whose sidecar was never written, a
    # stale temporary file.
    (out / "manifest.json").unlink()
    shards[2].unlink()
    shards[3].write_bytes(shards[3].read_bytes()[:100])
    (out / ".build" / f"{shards[1].name}.json").unlink()
    (out / f".{shards[2].name}.abc123.tmp.tmp").write_bytes(b"partial")
    m = build(src, out, num_shards=4, workers=1, resume=True, progress=False)
    assert [s["sha256"] for s in m["shards"]] == [s["sha256"] for s in ref["shards"]]
    assert m["examples"] == ref["examples"] == 8
    after = shards[0].stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert (out / ".build" / f"{shards[1].name}.json").is_file()  # redone
    assert not list(out.glob(".*.tmp*"))
    # Resuming with different parameters is refused instead of mixing shards.
    with pytest.raises(ValueError, match="cannot resume"):
        build(
            src,
            out,
            num_shards=4,
            encoding="png",
            workers=1,
            resume=True,
            progress=False,
        )


@pytest.mark.slow  # a real subprocess build, killed with SIGKILL
def test_resume_after_killing_a_real_build(tmp_path):
    src = tmp_path / "hr"
    src.mkdir()
    for i in range(48):
        write_image(src / f"im{i:02d}.png", random_image(72, 72, seed=i))
    ref = build(
        src,
        tmp_path / "ref",
        num_shards=8,
        scales=[2, 3, 4],
        encoding="png",
        workers=1,
        progress=False,
    )
    out = tmp_path / "ds"
    cmd = [
        sys.executable,
        "-m",
        "tfrecords_tools.cli",
        "build",
        "--hr-dir",
        str(src),
        "--output",
        str(out),
        "--num-shards",
        "8",
        "--scales",
        "2,3,4",
        "--encoding",
        "png",
        "--workers",
        "1",
        "--no-progress",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if list((out / ".build").glob("data-*.json")):
            break
        time.sleep(0.01)
    if proc.poll() is not None:
        pytest.skip("the build finished before it could be killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    done = len(list((out / ".build").glob("data-*.json")))
    assert 1 <= done < 8
    m = build(
        src,
        out,
        num_shards=8,
        scales=[2, 3, 4],
        encoding="png",
        workers=1,
        resume=True,
        progress=False,
    )
    assert [s["sha256"] for s in m["shards"]] == [s["sha256"] for s in ref["shards"]]
    assert m["inputs"] == m["written"] == 48


def test_cli_errors_are_one_line_without_traceback(tmp_path, capsys):
    rc, _, err = run_sr(
        ["build", "--hr-dir", tmp_path / "nope", "--output", tmp_path / "o"], capsys
    )
    assert rc == 2 and err.startswith("sr-tfrecords: error: ") and "no such" in err
    assert "Traceback" not in err and err.count("\n") == 1
    (tmp_path / "empty").mkdir()
    rc, _, err = run_sr(
        ["build", "--hr-dir", tmp_path / "empty", "--output", tmp_path / "o"], capsys
    )
    assert rc == 2 and "no input files" in err and err.count("\n") == 1
    src = make_folder(tmp_path, n=2)
    out = tmp_path / "ds"
    assert (
        run_sr(
            [
                "build",
                "--hr-dir",
                src,
                "--output",
                out,
                "--workers",
                "1",
                "--no-progress",
            ],
            capsys,
        )[0]
        == 0
    )
    rc, _, err = run_sr(
        ["build", "--hr-dir", src, "--output", out, "--workers", "1"], capsys
    )
    assert rc == 2 and "--resume" in err and "--overwrite" in err
    rc, _, err = run_sr(
        ["build", "--hr-dir", src, "--output", tmp_path / "x", "--stride", "4"], capsys
    )
    assert rc == 2 and "--stride needs --patch-size" in err
    rc, _, err = run_sr(["verify", tmp_path / "empty"], capsys)
    assert rc == 2 and "manifest.json: no such file" in err
