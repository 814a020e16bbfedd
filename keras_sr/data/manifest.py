"""``manifest.json``: the record of one TFRecord dataset written by
``sr-tfrecords build``.

Fields (all always present)::

    {
      "schema_version": 1,            # keras_sr.data.schema.SCHEMA_VERSION
      "inputs": 291,                  # input images found
      "written": 289,                 # input images that produced examples
      "examples": 289,                # tf.train.Examples in all shards
      "skipped": [{"path": "...", "reason": "..."}],   # inputs == written + len
      "params": {...},                # the build arguments (see tfrecords_tools)
      "shards": [{"file": "data-00000-of-00008.tfrecord", "examples": 37,
                  "sha256": "..."}],
      "stats": {"min_height", "min_width", "max_height", "max_width",
                "channels": [1, 3], "with_boundary": 12, "bytes": 123456}
    }

Shard file names are relative to the manifest's folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keras_sr.data.schema import MANIFEST_NAME, SCHEMA_VERSION

__all__ = ["MANIFEST_FIELDS", "ManifestError", "manifest_path", "read_manifest"]

MANIFEST_FIELDS = (
    "schema_version",
    "inputs",
    "written",
    "examples",
    "skipped",
    "params",
    "shards",
)


class ManifestError(ValueError):
    """A missing, unreadable or inconsistent ``manifest.json`` (names the file)."""


def manifest_path(directory: str | os.PathLike) -> Path:
    return Path(directory) / MANIFEST_NAME


def read_manifest(directory: str | os.PathLike) -> dict:
    """Load and sanity-check ``DIR/manifest.json``.

    Raises:
        FileNotFoundError: no manifest in ``directory``.
        ManifestError: not JSON, a field is missing, the counts do not add up,
            or the schema is newer than this reader.
    """
    path = manifest_path(directory)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (not a sr-tfrecords dataset?)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"{path}: unreadable manifest ({err})") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: expected a JSON object")
    missing = [k for k in MANIFEST_FIELDS if k not in manifest]
    if missing:
        raise ManifestError(f"{path}: missing field(s) {', '.join(missing)}")
    version = manifest["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ManifestError(
            f"{path}: schema_version {version!r} is newer than this keras_sr "
            f"(supports <= {SCHEMA_VERSION}); upgrade keras-sr"
        )
    if manifest["inputs"] != manifest["written"] + len(manifest["skipped"]):
        raise ManifestError(
            f"{path}: inputs ({manifest['inputs']}) != written "
            f"({manifest['written']}) + skipped ({len(manifest['skipped'])})"
        )
    total = sum(int(s["examples"]) for s in manifest["shards"])
    if total != manifest["examples"]:
        raise ManifestError(
            f"{path}: shards hold {total} examples but the manifest says "
            f"{manifest['examples']}"
        )
    return manifest
