"""``sr-tfrecords inspect``: a text summary and a PNG contact sheet.

The contact sheet shows sample examples spread over the shards, each as a
row of tiles: HR, then (when present) the boundary map and the stored LR
images (nearest-neighbour enlarged to the HR size), with the source id above.
Records are decoded with :func:`keras_sr.data.parse_example`, the reader's own
decoder, so what you see is what training sees.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from keras_sr.data.manifest import read_manifest
from keras_sr.io import write_image

__all__ = ["contact_sheet", "sample_examples", "summary"]

_CELL = 128
_LABEL = 12


def summary(directory: str | os.PathLike) -> str:
    """Human-readable summary of a dataset folder (from its manifest)."""
    directory = Path(directory)
    m = read_manifest(directory)
    p, s = m["params"], m.get("stats") or {}
    size = sum(
        (directory / sh["file"]).stat().st_size
        for sh in m["shards"]
        if (directory / sh["file"]).is_file()
    )
    lines = [
        f"dataset:   {directory}",
        f"schema:    v{m['schema_version']}  encoding={p.get('encoding')}  "
        f"compression={p.get('compression') or 'none'}  color={p.get('color')}",
        f"inputs:    {m['inputs']}  written={m['written']}  "
        f"skipped={len(m['skipped'])}",
        f"examples:  {m['examples']} in {len(m['shards'])} shard(s), "
        f"{size / 2**20:.1f} MiB on disk",
        "layout:    "
        + (
            f"sub-images {p['patch_size']}x{p['patch_size']} stride {p['stride']}"
            if p.get("patch_size")
            else "full images"
        )
        + (
            f", stored LR x{', x'.join(map(str, p['scales']))}"
            if p.get("scales")
            else ""
        )
        + (
            f", boundary maps from {p['boundary_dir']}" if p.get("boundary_dir") else ""
        ),
    ]
    if s.get("min_height") is not None:
        lines.append(
            f"sizes:     {s['min_height']}..{s['max_height']} x "
            f"{s['min_width']}..{s['max_width']}  channels={s.get('channels')}  "
            f"with boundary={s.get('with_boundary', 0)}"
        )
    lines.append(f"source:    {p.get('hr_dir')}")
    for item in m["skipped"][:10]:
        lines.append(f"skipped:   {item['path']}: {item['reason']}")
    if len(m["skipped"]) > 10:
        lines.append(f"skipped:   ... and {len(m['skipped']) - 10} more")
    return "\n".join(lines)


def sample_examples(directory: str | os.PathLike, n: int = 16) -> list[dict]:
    """Decode up to ``n`` examples spread over the shards (numpy dicts with
    ``source_id``, ``hr``, optional ``boundary`` and ``lr`` ``{scale: img}``)."""
    import tensorflow as tf

    from keras_sr.data import schema
    from keras_sr.data.reader import decode_pixels

    directory = Path(directory)
    m = read_manifest(directory)
    params = m["params"]
    compression = params.get("compression") or ""
    shards = [sh for sh in m["shards"] if sh["examples"] > 0]
    if not shards or n <= 0:
        return []
    picks = shards[:: max(1, len(shards) // n)] if len(shards) > n else shards
    per_shard = math.ceil(n / len(picks))
    fixed = tf.io.FixedLenFeature
    spec = {
        schema.KEY_HR: fixed([], tf.string),
        schema.KEY_HEIGHT: fixed([], tf.int64),
        schema.KEY_WIDTH: fixed([], tf.int64),
        schema.KEY_CHANNELS: fixed([], tf.int64),
        schema.KEY_FORMAT: fixed([], tf.string, default_value=schema.FORMAT_RAW),
        schema.KEY_SOURCE_ID: fixed([], tf.string, default_value=""),
        schema.KEY_HAS_BOUNDARY: fixed([], tf.int64, default_value=0),
        schema.KEY_BOUNDARY: fixed([], tf.string, default_value=""),
    }
    scales = [int(s) for s in params.get("scales") or []]
    for s in scales:
        spec[schema.lr_key(s)] = fixed([], tf.string, default_value="")
    out: list[dict] = []
    for sh in picks:
        ds = tf.data.TFRecordDataset(
            str(directory / sh["file"]), compression_type=compression
        )
        for serialized in ds.take(per_shard):
            e = tf.io.parse_single_example(serialized, spec)
            h, w, c = (
                int(e[k])
                for k in (schema.KEY_HEIGHT, schema.KEY_WIDTH, schema.KEY_CHANNELS)
            )
            fmt = e[schema.KEY_FORMAT]
            item = {
                "source_id": e[schema.KEY_SOURCE_ID].numpy().decode("utf-8", "replace"),
                "hr": decode_pixels(e[schema.KEY_HR], fmt, h, w, c).numpy(),
                "lr": {},
            }
            if int(e[schema.KEY_HAS_BOUNDARY]):
                item["boundary"] = decode_pixels(
                    e[schema.KEY_BOUNDARY], fmt, h, w, 1
                ).numpy()
            for s in scales:
                item["lr"][s] = decode_pixels(
                    e[schema.lr_key(s)], fmt, h // s, w // s, c
                ).numpy()
            out.append(item)
            if len(out) >= n:
                return out
    return out


def _fit(img: np.ndarray, cell: int, nearest: bool = False) -> Image.Image:
    arr = np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img
    pil = Image.fromarray(arr)
    scale = cell / max(pil.width, pil.height)
    size = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
    return pil.resize(
        size, Image.Resampling.NEAREST if nearest else Image.Resampling.BICUBIC
    )


def contact_sheet(
    directory: str | os.PathLike,
    output: str | os.PathLike | None = None,
    samples: int = 16,
    cell: int = _CELL,
) -> Path:
    """Write a PNG contact sheet (atomically) and return its path
    (default ``DIR/contact_sheet.png``)."""
    directory = Path(directory)
    output = Path(output) if output is not None else directory / "contact_sheet.png"
    items = sample_examples(directory, samples)
    if not items:
        raise ValueError(f"{directory}: the dataset has no examples to show")
    rows = []
    for it in items:
        tiles = [_fit(it["hr"], cell)]
        if "boundary" in it:
            tiles.append(_fit(it["boundary"], cell))
        for s in sorted(it["lr"]):
            tiles.append(_fit(it["lr"][s], cell, nearest=True))
        rows.append((it["source_id"], tiles))
    cols = max(len(t) for _, t in rows)
    per_row = max(1, 4 // cols) if cols < 4 else 1
    grid_rows = math.ceil(len(rows) / per_row)
    block_w = cols * (cell + 4)
    sheet = Image.new(
        "RGB", (per_row * block_w + 4, grid_rows * (cell + _LABEL + 8) + 4), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for i, (sid, tiles) in enumerate(rows):
        r, c = divmod(i, per_row)
        x0, y0 = 4 + c * block_w, 4 + r * (cell + _LABEL + 8)
        draw.text((x0, y0), sid[:40], fill="black")
        for j, tile in enumerate(tiles):
            sheet.paste(tile, (x0 + j * (cell + 4), y0 + _LABEL + 2))
    write_image(output, np.asarray(sheet))
    return output
