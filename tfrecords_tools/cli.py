"""``sr-tfrecords``: build, verify and inspect keras_sr TFRecord datasets.

Exit status: 0 success; 1 ``verify`` found damaged shards; 2 a usage or input
error, printed as one line ``sr-tfrecords: error: ...`` (no traceback);
130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures.process import BrokenProcessPool

PROG = "sr-tfrecords"

USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    PermissionError,
)


def _scales(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 2,3,4, got {text!r}"
        ) from None
    if not values or any(v < 2 for v in values):
        raise argparse.ArgumentTypeError(f"scales must be integers >= 2, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write, check and preview keras_sr TFRecord datasets.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    b = sub.add_parser(
        "build",
        help="image folder -> TFRecord shards + manifest.json",
        description=(
            "Write one tf.train.Example per image (or sub-image) into sharded "
            "TFRecords. Bad inputs are skipped with a reason in manifest.json."
        ),
    )
    b.add_argument("--hr-dir", required=True, help="folder of HR images")
    b.add_argument("--output", required=True, help="dataset folder to write")
    b.add_argument(
        "--boundary-dir", help="boundary maps matched by file stem (seed 000)"
    )
    b.add_argument(
        "--patch-size", type=int, help="cut sub-images of this size (e.g. 33, 32, 96)"
    )
    b.add_argument(
        "--stride", type=int, help="sub-image stride (default: the patch size)"
    )
    b.add_argument("--num-shards", type=int, help="number of shards (default: auto)")
    b.add_argument(
        "--compression",
        type=str.upper,
        choices=["GZIP", "ZLIB", "NONE"],
        default="NONE",
    )
    b.add_argument("--color", choices=["rgb", "y"], default="rgb")
    b.add_argument(
        "--scales",
        type=_scales,
        default=[],
        help="also store MATLAB-bicubic LR for these scales, e.g. 2,3,4",
    )
    b.add_argument(
        "--encoding",
        choices=["raw", "png"],
        default="raw",
        help="pixel encoding (default raw: faster to read, see docs/data.md)",
    )
    b.add_argument(
        "--workers", type=int, default=None, help="processes (default: CPU count)"
    )
    b.add_argument(
        "--resume", action="store_true", help="reuse complete shards of a killed build"
    )
    b.add_argument(
        "--overwrite", action="store_true", help="replace a dataset in --output"
    )
    b.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    b.set_defaults(func=_run_build)

    v = sub.add_parser("verify", help="check every shard against manifest.json")
    v.add_argument("directory")
    v.set_defaults(func=_run_verify)

    i = sub.add_parser("inspect", help="print a summary and write a contact sheet")
    i.add_argument("directory")
    i.add_argument("--output", help="contact sheet PNG (default DIR/contact_sheet.png)")
    i.add_argument("--samples", type=int, default=16, help="examples to show")
    i.set_defaults(func=_run_inspect)
    return parser


def _run_build(args: argparse.Namespace) -> int:
    from tfrecords_tools.build import build

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    manifest = build(
        args.hr_dir,
        args.output,
        boundary_dir=args.boundary_dir,
        patch_size=args.patch_size,
        stride=args.stride,
        num_shards=args.num_shards,
        compression=None if args.compression == "NONE" else args.compression,
        color=args.color,
        scales=args.scales,
        encoding=args.encoding,
        workers=args.workers,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(
        f"wrote {manifest['examples']} example(s) from {manifest['written']} of "
        f"{manifest['inputs']} input(s) into {len(manifest['shards'])} shard(s); "
        f"skipped {len(manifest['skipped'])}"
    )
    for item in manifest["skipped"]:
        print(f"  skipped {item['path']}: {item['reason']}")
    print(f"manifest: {os.path.join(args.output, 'manifest.json')}")
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    from tfrecords_tools.verify import verify

    report = verify(args.directory)
    for problem in report.problems:
        print(f"DAMAGED {problem.file}: {problem.reason}")
    for name in report.extra_files:
        print(f"note: {name} is not listed in the manifest")
    good = report.shards - len(report.problems)
    if report.ok:
        print(f"OK: {report.shards} shard(s), {report.examples} example(s) verified")
        return 0
    print(
        f"FAILED: {len(report.problems)} of {report.shards} shard(s) damaged "
        f"({good} good); rebuild with `sr-tfrecords build ... --resume`",
        file=sys.stderr,
    )
    return 1


def _run_inspect(args: argparse.Namespace) -> int:
    from tfrecords_tools.inspect_records import contact_sheet, summary

    print(summary(args.directory))
    path = contact_sheet(args.directory, args.output, samples=args.samples)
    print(f"contact sheet: {path}")
    return 0


def _quiet_tensorflow_import() -> None:
    from keras_sr.cli.main import quiet_tensorflow_import

    quiet_tensorflow_import()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _quiet_tensorflow_import()
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except BrokenProcessPool:
        print(
            f"{PROG}: error: a worker process died (out of memory?); complete "
            "shards are kept: run again with --resume",
            file=sys.stderr,
        )
        return 2
    except OSError as err:  # disk full, read-only output, ...
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        import tensorflow as tf

        if isinstance(err, tf.errors.OpError):  # e.g. an unwritable gs:// path
            message = (err.message or str(err)).splitlines()[0]
            print(f"{PROG}: error: {message}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (run again with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
