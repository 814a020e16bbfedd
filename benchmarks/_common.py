"""Shared helpers of the benchmark scripts (threads, environment record)."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def setup(threads: int) -> None:
    """Pin TensorFlow to ``threads`` intra-op threads (call before any op)."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # no retracing chatter between presets
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def environment(threads: int) -> dict:
    import keras
    import tensorflow as tf

    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "load_average_at_start": os.getloadavg()[0],
    }


def write_json(name: str, payload: dict) -> Path:
    from keras_sr.utils.atomic import atomic_path

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def merge_previous(name: str, rows: list[dict]) -> list[dict]:
    """``rows`` plus the rows of the previous ``<name>.json`` for presets not
    measured in this run (``--merge``), sorted by preset."""
    path = RESULTS / f"{name}.json"
    if path.is_file():
        done = {r["preset"] for r in rows}
        old = json.loads(path.read_text())["results"]
        rows = [r for r in old if r["preset"] not in done] + rows
    return sorted(rows, key=lambda r: r["preset"])
