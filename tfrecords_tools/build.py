"""``sr-tfrecords build``: image folder -> sharded TFRecords + ``manifest.json``.

Design:

* **Deterministic shards.** Inputs (every regular, non-hidden file of
  ``--hr-dir``, sorted by name) are split into ``num_shards`` contiguous
  blocks; shard ``k`` always holds the same inputs in the same order, so a
  rebuilt shard is byte-identical and ``--resume`` is well defined.
* **Atomic, resumable shards.** A worker writes a shard to a temporary file,
  renames it into place, then writes a sidecar ``.build/<shard>.json`` with
  its example count, sha256 and per-input outcome. ``--resume`` reuses every
  shard whose sidecar matches the build fingerprint (parameters + input
  names, sizes and mtimes) and whose file still has the recorded sha256, and
  rebuilds the rest. ``manifest.json`` is written (atomically) last.
* **Every input accounted for.** ``inputs == written + len(skipped)``; bad
  files are skipped with a reason, never fatal.
* **Parallel.** Shards are built by ``workers`` spawned processes (default:
  CPU count), with one tqdm progress bar over the inputs.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import queue as queue_mod
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from keras_sr import __version__
from keras_sr.data import schema
from keras_sr.data.manifest import manifest_path
from keras_sr.utils.atomic import atomic_path, atomic_write_bytes
from tfrecords_tools import _worker

__all__ = ["BuildError", "BuildParams", "build", "default_num_shards", "list_inputs"]

BUILD_DIR = ".build"
COMPRESSIONS = ("GZIP", "ZLIB")


class BuildError(ValueError):
    """A build that cannot start (bad arguments, missing input, wrong output)."""


@dataclasses.dataclass(frozen=True)
class BuildParams:
    """The arguments that decide a dataset's bytes (recorded in the manifest)."""

    hr_dir: str
    boundary_dir: str | None = None
    patch_size: int | None = None
    stride: int | None = None
    num_shards: int = 1
    compression: str | None = None
    color: str = "rgb"
    scales: tuple[int, ...] = ()
    encoding: str = schema.FORMAT_RAW

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["scales"] = list(self.scales)
        return d


def list_inputs(hr_dir: str | os.PathLike) -> list[Path]:
    """Every regular, non-hidden file directly in ``hr_dir``, sorted by name.

    Non-images are inputs too: they are skipped with a reason, so the
    accounting covers everything the user put in the folder.
    """
    d = Path(hr_dir)
    if not d.exists():
        raise BuildError(f"{d}: no such directory")
    if not d.is_dir():
        raise BuildError(f"{d}: not a directory")
    files = sorted(
        (p for p in d.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    if not files:
        raise BuildError(f"{d}: no input files (the folder is empty)")
    return files


def default_num_shards(n_inputs: int) -> int:
    """8 shards (several per host for parallel reads), one more per 512 inputs
    beyond 4096, never more shards than inputs."""
    return max(1, min(n_inputs, max(8, -(-n_inputs // 512))))


def _boundary_map(boundary_dir: str | None) -> dict[str, Path]:
    if boundary_dir is None:
        return {}
    d = Path(boundary_dir)
    if not d.is_dir():
        raise BuildError(f"{d}: no such boundary directory")
    out: dict[str, Path] = {}
    for p in sorted(d.iterdir(), key=lambda p: p.name):
        if p.is_file() and not p.name.startswith("."):
            out.setdefault(p.stem, p)
    return out


def _fingerprint(params: BuildParams, inputs: Sequence[Path]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(params.to_json(), sort_keys=True).encode())
    h.update(str(schema.SCHEMA_VERSION).encode())
    for p in inputs:
        st = p.stat()
        h.update(f"\0{p.name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _split(n: int, k: int) -> list[tuple[int, int]]:
    return [(i * n // k, (i + 1) * n // k) for i in range(k)]


# ------------------------------------------------------------------- workers


def build_shard(task: dict, tick: Callable[[], None] | None = None) -> dict:
    """Write one shard atomically and its sidecar; return the sidecar dict."""
    import tensorflow as tf

    from tfrecords_tools.examples import InputResult, process_input

    tick = tick or (lambda: None)
    params = BuildParams(
        **{**task["params"], "scales": tuple(task["params"]["scales"])}
    )
    out_dir = Path(task["output"])
    shard_path = out_dir / task["file"]
    written: list[str] = []
    skipped: list[dict] = []
    stats = _empty_stats()
    n_examples = 0
    options = tf.io.TFRecordOptions(compression_type=params.compression or "")
    with atomic_path(shard_path, suffix=".tmp") as tmp:
        with tf.io.TFRecordWriter(str(tmp), options=options) as writer:
            for item in task["inputs"]:
                path = Path(item["path"])
                bpath = Path(item["boundary"]) if item["boundary"] else None
                try:
                    result = process_input(
                        path,
                        bpath,
                        patch_size=params.patch_size,
                        stride=params.stride,
                        color=params.color,
                        scales=params.scales,
                        encoding=params.encoding,
                    )
                except Exception as err:  # noqa: BLE001 - bad input never stops a run
                    result = InputResult([], f"{type(err).__name__}: {err}")
                if result.skip_reason is not None:
                    skipped.append({"path": str(path), "reason": result.skip_reason})
                elif not result.examples:
                    skipped.append({"path": str(path), "reason": "no sub-images"})
                else:
                    for record in result.examples:
                        writer.write(record)
                        stats["bytes"] += len(record)
                    n_examples += len(result.examples)
                    written.append(str(path))
                    _update_stats(stats, result)
                tick()
    sidecar = {
        "fingerprint": task["fingerprint"],
        "file": task["file"],
        "examples": n_examples,
        "sha256": sha256_file(shard_path),
        "inputs": [item["path"] for item in task["inputs"]],
        "written": written,
        "skipped": skipped,
        "stats": stats,
    }
    atomic_write_bytes(
        out_dir / BUILD_DIR / f"{task['file']}.json",
        json.dumps(sidecar, indent=1).encode(),
    )
    return sidecar


def _empty_stats() -> dict:
    return {
        "min_height": None,
        "min_width": None,
        "max_height": None,
        "max_width": None,
        "channels": [],
        "with_boundary": 0,
        "bytes": 0,
    }


def _update_stats(stats: dict, result) -> None:
    for h, w in result.sizes:
        for key, v, fn in (
            ("min_height", h, min),
            ("min_width", w, min),
            ("max_height", h, max),
            ("max_width", w, max),
        ):
            stats[key] = v if stats[key] is None else fn(stats[key], v)
    if result.channels not in stats["channels"]:
        stats["channels"] = sorted(stats["channels"] + [result.channels])
    if result.has_boundary:
        stats["with_boundary"] += len(result.examples)


def _merge_stats(all_stats: Sequence[dict]) -> dict:
    out = _empty_stats()
    for s in all_stats:
        for key, fn in (
            ("min_height", min),
            ("min_width", min),
            ("max_height", max),
            ("max_width", max),
        ):
            if s[key] is not None:
                out[key] = s[key] if out[key] is None else fn(out[key], s[key])
        out["channels"] = sorted(set(out["channels"]) | set(s["channels"]))
        out["with_boundary"] += s["with_boundary"]
        out["bytes"] += s["bytes"]
    return out


# --------------------------------------------------------------------- build


def _check_params(
    patch_size, stride, num_shards, compression, color, scales, encoding
) -> tuple:
    if patch_size is not None and int(patch_size) < 1:
        raise BuildError(f"--patch-size must be >= 1, got {patch_size}")
    if stride is not None and patch_size is None:
        raise BuildError("--stride needs --patch-size")
    if stride is not None and int(stride) < 1:
        raise BuildError(f"--stride must be >= 1, got {stride}")
    if patch_size is not None and stride is None:
        stride = patch_size
    if num_shards is not None and int(num_shards) < 1:
        raise BuildError(f"--num-shards must be >= 1, got {num_shards}")
    if compression is not None:
        compression = str(compression).upper()
        if compression in ("", "NONE"):
            compression = None
        elif compression not in COMPRESSIONS:
            raise BuildError(
                f"--compression must be GZIP, ZLIB or NONE, got {compression!r}"
            )
    if color not in ("rgb", "y"):
        raise BuildError(f"--color must be rgb or y, got {color!r}")
    scales = tuple(sorted({int(s) for s in scales}))
    if any(s < 2 for s in scales):
        raise BuildError(f"--scales must be integers >= 2, got {list(scales)}")
    if patch_size is not None and scales and int(patch_size) < max(scales):
        raise BuildError(
            f"--patch-size {patch_size} is smaller than the scale x{max(scales)}"
        )
    if encoding not in schema.FORMATS:
        raise BuildError(
            f"--encoding must be one of {schema.FORMATS}, got {encoding!r}"
        )
    return (
        None if patch_size is None else int(patch_size),
        None if stride is None else int(stride),
        compression,
        scales,
    )


def _existing_dataset_files(out: Path) -> list[Path]:
    return [
        p
        for p in out.iterdir()
        if p.name == schema.MANIFEST_NAME
        or p.name == BUILD_DIR
        or (p.name.startswith("data-") and schema.SHARD_SUFFIX in p.name)
        or (p.name.startswith(".data-") and ".tmp" in p.name)
    ]


def _clean_temps(out: Path) -> None:
    for p in out.glob(".data-*.tmp*"):
        p.unlink(missing_ok=True)
    if (out / BUILD_DIR).is_dir():
        for p in (out / BUILD_DIR).glob(".*.tmp*"):
            p.unlink(missing_ok=True)


def _reusable(out: Path, fingerprint: str, file: str, inputs: list[str]) -> dict | None:
    sidecar_path = out / BUILD_DIR / f"{file}.json"
    shard = out / file
    if not sidecar_path.is_file() or not shard.is_file():
        return None
    try:
        sidecar = json.loads(sidecar_path.read_text())
    except (OSError, ValueError):
        return None
    if sidecar.get("fingerprint") != fingerprint or sidecar.get("inputs") != inputs:
        return None
    if sha256_file(shard) != sidecar.get("sha256"):
        return None
    return sidecar


def build(
    hr_dir: str | os.PathLike,
    output: str | os.PathLike,
    *,
    boundary_dir: str | os.PathLike | None = None,
    patch_size: int | None = None,
    stride: int | None = None,
    num_shards: int | None = None,
    compression: str | None = None,
    color: str = "rgb",
    scales: Sequence[int] = (),
    encoding: str = schema.FORMAT_RAW,
    workers: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Build a TFRecord dataset from the images in ``hr_dir``; return the
    manifest (also written to ``output/manifest.json``).

    Args:
        hr_dir: folder of HR images (not recursive).
        output: dataset folder (created).
        boundary_dir: folder of boundary maps matched to the images by file
            stem; images without one are written with ``image/has_boundary=0``.
        patch_size, stride: cut sub-images (SRCNN 33/14, seed 000 32/12,
            EDSR-style 96/48); full images when ``patch_size`` is None.
        num_shards: shard count (default :func:`default_num_shards`).
        compression: ``None``, ``"GZIP"`` or ``"ZLIB"``.
        color: ``"rgb"`` (as read; gray stays 1 channel) or ``"y"`` (MATLAB Y
            of RGB inputs, rounded to uint8).
        scales: store MATLAB-bicubic LR (uint8) for these scales.
        encoding: ``"raw"`` (default, measured faster to read) or ``"png"``.
        workers: processes (default: CPU count); 1 builds in this process.
        resume: reuse complete shards of an interrupted build.
        overwrite: replace an existing dataset in ``output``.
        progress: show a tqdm bar on stderr.
    """
    say = log or (lambda msg: print(msg, file=sys.stderr))
    patch_size, stride, compression, scales = _check_params(
        patch_size, stride, num_shards, compression, color, scales, encoding
    )
    hr_dir = Path(hr_dir).resolve()
    inputs = list_inputs(hr_dir)
    bmap = _boundary_map(
        None if boundary_dir is None else str(Path(boundary_dir).resolve())
    )
    k = int(num_shards) if num_shards else default_num_shards(len(inputs))
    if k > len(inputs):
        say(f"note: {len(inputs)} inputs, using {len(inputs)} shards instead of {k}")
        k = len(inputs)
    params = BuildParams(
        hr_dir=str(hr_dir),
        boundary_dir=None
        if boundary_dir is None
        else str(Path(boundary_dir).resolve()),
        patch_size=patch_size,
        stride=stride,
        num_shards=k,
        compression=compression,
        color=color,
        scales=scales,
        encoding=encoding,
    )
    fingerprint = _fingerprint(params, inputs)

    out = Path(output)
    if out.exists() and not out.is_dir():
        raise BuildError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() == hr_dir:
        raise BuildError("--output must differ from --hr-dir")
    existing = _existing_dataset_files(out)
    if existing and not resume:
        if not overwrite:
            raise BuildError(
                f"{out}: already holds a dataset ({existing[0].name}); pass --resume "
                "to continue an interrupted build or --overwrite to replace it"
            )
        for p in existing:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    _clean_temps(out)
    if resume:
        state = out / BUILD_DIR / "build.json"
        if state.is_file():
            try:
                previous = json.loads(state.read_text()).get("fingerprint")
            except (OSError, ValueError):
                previous = None
            if previous != fingerprint:
                raise BuildError(
                    f"{out}: cannot resume: the inputs or build parameters differ "
                    "from the interrupted build; use --overwrite to start again"
                )
    atomic_write_bytes(
        out / BUILD_DIR / "build.json",
        json.dumps({"fingerprint": fingerprint, "params": params.to_json()}).encode(),
    )
    manifest_file = manifest_path(out)
    if manifest_file.exists():
        manifest_file.unlink()  # rewritten at the end; a stale one would mislead

    tasks, done = [], {}
    for i, (a, b) in enumerate(_split(len(inputs), k)):
        file = schema.shard_name(i, k, compression)
        block = inputs[a:b]
        names = [str(p) for p in block]
        if resume:
            sidecar = _reusable(out, fingerprint, file, names)
            if sidecar is not None:
                done[i] = sidecar
                continue
        tasks.append(
            {
                "index": i,
                "file": file,
                "output": str(out),
                "fingerprint": fingerprint,
                "params": params.to_json(),
                "inputs": [
                    {
                        "path": str(p),
                        "boundary": str(bmap[p.stem]) if p.stem in bmap else None,
                    }
                    for p in block
                ],
            }
        )
    if resume:
        say(f"resume: reusing {len(done)} complete shard(s), building {len(tasks)}")
    todo_inputs = sum(len(t["inputs"]) for t in tasks)
    n_workers = max(1, min(int(workers or os.cpu_count() or 1), len(tasks) or 1))
    done.update(_run_tasks(tasks, n_workers, todo_inputs, progress))

    sidecars = [done[i] for i in range(k)]
    skipped = sorted(
        (s for sc in sidecars for s in sc["skipped"]), key=lambda s: s["path"]
    )
    written = sum(len(sc["written"]) for sc in sidecars)
    manifest = {
        "schema_version": schema.SCHEMA_VERSION,
        "inputs": len(inputs),
        "written": written,
        "examples": sum(sc["examples"] for sc in sidecars),
        "skipped": skipped,
        "params": params.to_json(),
        "shards": [
            {"file": sc["file"], "examples": sc["examples"], "sha256": sc["sha256"]}
            for sc in sidecars
        ],
        "stats": _merge_stats([sc["stats"] for sc in sidecars]),
        "fingerprint": fingerprint,
        "created_by": f"keras-sr {__version__} sr-tfrecords build",
    }
    if manifest["inputs"] != manifest["written"] + len(manifest["skipped"]):
        raise RuntimeError("internal error: input accounting does not add up")
    atomic_write_bytes(manifest_file, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def _run_tasks(
    tasks: list[dict], n_workers: int, total: int, progress: bool
) -> dict[int, dict]:
    from tqdm import tqdm

    results: dict[int, dict] = {}
    bar = tqdm(total=total, unit="img", desc="sr-tfrecords build", disable=not progress)
    try:
        if n_workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                results[task["index"]] = build_shard(task, tick=lambda: bar.update(1))
            return results
        ctx = mp.get_context("spawn")
        progress_queue = ctx.Queue()
        with cf.ProcessPoolExecutor(
            max_workers=n_workers,
            mp_context=ctx,
            initializer=_worker.init,
            initargs=(progress_queue,),
        ) as pool:
            futures = {pool.submit(_worker.run, t): t["index"] for t in tasks}
            pending = set(futures)
            while pending:
                finished, pending = cf.wait(pending, timeout=0.2)
                _drain(progress_queue, bar)
                for fut in finished:
                    results[futures[fut]] = fut.result()
            _drain(progress_queue, bar)
        return results
    finally:
        bar.close()


def _drain(q, bar) -> None:
    while True:
        try:
            bar.update(q.get_nowait())
        except queue_mod.Empty:
            return
        except (OSError, ValueError):
            return
