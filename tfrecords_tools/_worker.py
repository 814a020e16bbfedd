"""Entry points of the ``sr-tfrecords build`` worker processes.

Kept free of heavy imports: a spawned worker unpickles these functions by
reference, and TensorFlow must be imported (quietly, single-threaded) by
:func:`init` before anything else pulls it in.
"""

from __future__ import annotations

import os

_PROGRESS = None


def init(progress_queue) -> None:  # pragma: no cover - runs in workers
    """Pool initializer: quiet single-threaded TensorFlow, progress queue."""
    global _PROGRESS
    _PROGRESS = progress_queue
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from keras_sr.cli.main import quiet_tensorflow_import

    quiet_tensorflow_import()
    import tensorflow as tf

    # One worker per core: keep each worker's TensorFlow single-threaded.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _tick() -> None:
    if _PROGRESS is not None:
        _PROGRESS.put(1)


def run(task: dict) -> dict:  # pragma: no cover - runs in workers
    from tfrecords_tools.build import build_shard

    return build_shard(task, tick=_tick)
