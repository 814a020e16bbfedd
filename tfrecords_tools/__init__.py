"""Offline TFRecord writer tools for keras_sr (CLI: ``sr-tfrecords``).

* :func:`build` - image folder -> sharded TFRecords + ``manifest.json``
  (multiprocess, atomic shards, ``resume``, every input accounted for);
* :func:`verify` - CRC, schema, counts and sha256 of every shard;
* :func:`contact_sheet` / :func:`summary` - a visual and textual check.

Record keys come from :mod:`keras_sr.data.schema`, shared with the reader.
Names are imported lazily so ``import tfrecords_tools`` (and the worker
processes it spawns) do not load TensorFlow before they need it.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "BuildError": "tfrecords_tools.build",
    "BuildParams": "tfrecords_tools.build",
    "build": "tfrecords_tools.build",
    "list_inputs": "tfrecords_tools.build",
    "contact_sheet": "tfrecords_tools.inspect_records",
    "summary": "tfrecords_tools.inspect_records",
    "VerifyReport": "tfrecords_tools.verify",
    "verify": "tfrecords_tools.verify",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tfrecords_tools' has no attribute {name!r}")
