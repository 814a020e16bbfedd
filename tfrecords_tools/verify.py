"""``sr-tfrecords verify``: check every shard against ``manifest.json``.

For each shard listed in the manifest: the file exists, its sha256 matches,
every record reads back with a valid CRC, every record parses with the
keras_sr schema (raw pixel buffers have ``H * W * C`` bytes), and the record
count matches. Any failure marks the shard damaged.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from keras_sr.data import schema
from keras_sr.data.manifest import read_manifest
from tfrecords_tools.build import sha256_file

__all__ = ["ShardProblem", "VerifyReport", "verify"]


@dataclasses.dataclass
class ShardProblem:
    file: str
    reason: str


@dataclasses.dataclass
class VerifyReport:
    directory: str
    shards: int
    examples: int
    problems: list[ShardProblem]
    extra_files: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_records(path: Path, compression: str) -> tuple[int, str | None]:
    """Read every record; return ``(count, problem or None)``."""
    import tensorflow as tf

    spec = {
        schema.KEY_HR: tf.io.FixedLenFeature([], tf.string),
        schema.KEY_HEIGHT: tf.io.FixedLenFeature([], tf.int64),
        schema.KEY_WIDTH: tf.io.FixedLenFeature([], tf.int64),
        schema.KEY_CHANNELS: tf.io.FixedLenFeature([], tf.int64),
        schema.KEY_FORMAT: tf.io.FixedLenFeature(
            [], tf.string, default_value=schema.FORMAT_RAW
        ),
    }

    def check(batch):
        p = tf.io.parse_example(batch, spec)
        size = p[schema.KEY_HEIGHT] * p[schema.KEY_WIDTH] * p[schema.KEY_CHANNELS]
        raw = tf.equal(p[schema.KEY_FORMAT], schema.FORMAT_RAW)
        length = tf.cast(tf.strings.length(p[schema.KEY_HR]), tf.int64)
        bad = tf.logical_or(tf.logical_and(raw, tf.not_equal(length, size)), size <= 0)
        return tf.shape(batch)[0], tf.reduce_sum(tf.cast(bad, tf.int32))

    ds = tf.data.TFRecordDataset(str(path), compression_type=compression)
    ds = ds.batch(256).map(check)
    count = 0
    try:
        for n, bad in ds:
            if int(bad):
                return count, f"{int(bad)} record(s) with a wrong pixel-buffer size"
            count += int(n)
    except tf.errors.DataLossError as err:
        msg = str(err).splitlines()[0] if str(err) else "corrupt record"
        return count, f"corrupt or truncated after {count} good record(s) ({msg})"
    except tf.errors.InvalidArgumentError as err:
        msg = str(err).splitlines()[0]
        return count, f"a record does not follow the keras_sr schema ({msg})"
    return count, None


def verify(directory: str | os.PathLike) -> VerifyReport:
    """Check a dataset folder; see the module docstring."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    compression = manifest["params"].get("compression") or ""
    problems: list[ShardProblem] = []
    total = 0
    for shard in manifest["shards"]:
        path = directory / shard["file"]
        if not path.is_file():
            problems.append(ShardProblem(shard["file"], "missing"))
            continue
        count, problem = _check_records(path, compression)
        total += count
        if problem is not None:
            problems.append(ShardProblem(shard["file"], problem))
            continue
        if count != shard["examples"]:
            problems.append(
                ShardProblem(
                    shard["file"],
                    f"holds {count} examples, the manifest says {shard['examples']}",
                )
            )
            continue
        if sha256_file(path) != shard["sha256"]:
            problems.append(
                ShardProblem(shard["file"], "sha256 differs from the manifest")
            )
    listed = {s["file"] for s in manifest["shards"]}
    extra = sorted(
        p.name
        for p in directory.iterdir()
        if p.is_file() and p.name.startswith("data-") and p.name not in listed
    )
    return VerifyReport(
        directory=str(directory),
        shards=len(manifest["shards"]),
        examples=total,
        problems=problems,
        extra_files=extra,
    )
