"""The LHSP ablation study of issue 5 under one data and step budget.

Rows (all trained by ``benchmarks/train_lhsp.py``'s loop on the same T91 +
BSD200 crops, same steps, batch, optimiser and seed): bicubic (no training),
SRCNN 9-1-5, LSP only, LSP+HSP without the boundary term, LSP+HSP with the
boundary term (LHSP), LHSP with the placement disabled (every pixel at its
cell centre) or limited to strong edges, and LHSP as the ``lhsp_x*`` presets
build it (plus a global MATLAB-bicubic skip and replicate borders, [DESIGN])
with and without the placement. Set5 and Set14 PSNR/SSIM at the chosen
scale, y-first protocol (exactly ``keras-sr evaluate``). Seed 000 reports
32.79 dB (Set5 x3) for LHSP against 32.56 for SRCNN; those were trained for
far longer than this budget.

Results are written after every row (atomically) to
``benchmarks/results/lhsp_study.json``; ``--resume`` skips the rows already
there, and ``--checkpoint`` saves each row's training state every 200 steps
so that a killed row restarts from its last checkpoint. ``--ship`` also
ships the ``lhsp_residual`` row's weights (the preset configuration) as the
``lhsp_x{s}`` preset weights (with its numbers).

Usage::

    nice -n 10 .venv/bin/python benchmarks/lhsp_study.py --scale 3 --steps 6000 \\
        --decay-at 0.8 --threads 1 --runs-dir runs/lhsp_study6k [--resume] [--ship]

(the run recorded in ``benchmarks/results/lhsp_study.json``; ``--threads 1``
is faster than 2 for these small steps on this machine). The shipped
``lhsp_x3`` weights and the long-budget rows::

    .venv/bin/python benchmarks/lhsp_study.py --scale 3 --steps 50000 \\
        --decay-at 0.8 --threads 2 --runs-dir runs/long50k --checkpoint \\
        --resume --rows lhsp_residual,srcnn,bicubic,lhsp_residual_no_placement \\
        --ship --output benchmarks/results/lhsp_study_50k.json

(``benchmarks/results/lhsp_study_50k.json``; its lhsp_residual and srcnn rows
were started one thread each by ``train_lhsp.py --checkpoint`` with the same
budget and resumed by this command from their checkpoints, the LHSP one at
step 22,400). Both rows were then continued to 150,000 steps::

    mkdir -p runs/long150k/{lhsp_residual,srcnn}/checkpoints
    cp runs/long50k/lhsp_residual/checkpoints/* runs/long150k/lhsp_residual/checkpoints/
    cp runs/long50k/srcnn/checkpoints/* runs/long150k/srcnn/checkpoints/
    .venv/bin/python benchmarks/lhsp_study.py --scale 3 --steps 150000 \\
        --decay-at 0.8 --threads 2 --runs-dir runs/long150k --checkpoint \\
        --resume --rows srcnn,bicubic,lhsp_residual --ship \\
        --output benchmarks/results/lhsp_study_150k.json

(``benchmarks/results/lhsp_study_150k.json``). Both rows restart from their
50,000-step checkpoints, so each saw the 50k schedule (lr 1e-4 from step
40,000) and then lr 1e-3 again from step 50,000 to 120,000 and 1e-4 to
150,000: the same steps and schedule for both. The two rows first ran side by
side, one thread each, with ``train_lhsp.py --checkpoint`` (same arguments,
``--output runs/long150k/ROW``); SRCNN finished there, so the command above
only restored and evaluated it (``final_train_loss`` null), and it resumed
the LHSP row with two threads from step 94,600 (its ``resumed_at_step``).
The 240,000-step rows (the shipped ``lhsp_x3`` weights are this LHSP row
fine-tuned at ``tau = 50.5/255``, then on larger crops:
``benchmarks/train_lhsp.py``'s docstring)
come from continuing both rows once more, from their 150,000-step
checkpoints to 240,000 steps, the same way::

    for row in lhsp_residual srcnn; do mkdir -p runs/long240k/$row
        cp -r runs/long150k/$row/checkpoints runs/long240k/$row/; done
    .venv/bin/python benchmarks/lhsp_study.py --scale 3 --steps 240000 \\
        --decay-at 0.8 --threads 2 --runs-dir runs/long240k --checkpoint \\
        --resume --rows srcnn,bicubic,lhsp_residual --ship \\
        --output benchmarks/results/lhsp_study_240k.json

(``benchmarks/results/lhsp_study_240k.json``): lr 1e-3 from step 150,000 to
192,000 and 1e-4 to 240,000 for both rows. As before, both first ran side by
side at one thread each with ``train_lhsp.py --checkpoint --output
runs/long240k/ROW``; SRCNN finished there and the command above resumed the
LHSP row with two threads from step 189,200.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import train_lhsp  # noqa: E402

ROWS = {  # run order: the most informative rows first
    "bicubic": "bicubic (MATLAB)",
    "lhsp": "LSP+HSP, boundary term (LHSP)",
    "srcnn": "SRCNN 9-1-5",
    "lhsp_no_placement": "LHSP, placement disabled",
    "lhsp_strong_edges": "LHSP, placement at strong edges",
    "lhsp_no_boundary": "LSP+HSP, no boundary term",
    "lsp": "LSP only",
    "lhsp_residual": "LHSP + bicubic skip, replicate borders (the presets)",
    "lhsp_residual_no_placement": "LHSP + bicubic skip, replicate, placement disabled",
}


def print_table(rows: dict) -> None:
    print(f"{'row':34s}{'Set5 PSNR/SSIM':>20s}{'Set14 PSNR/SSIM':>20s}")
    for key, label in ROWS.items():
        if key not in rows:
            continue
        e = rows[key]["eval"]
        print(
            f"{label:34s}{e['Set5']['psnr']:>12.2f} / {e['Set5']['ssim']:.4f}"
            f"{e['Set14']['psnr']:>12.2f} / {e['Set14']['ssim']:.4f}"
        )


FIGURE_IMAGES = [
    ("Set5", "butterfly.png"),
    ("Set14", "zebra.png"),
    ("Set14", "ppt3.png"),
    ("Set14", "foreman.png"),
]


def _edge_crop(hr_y: np.ndarray, bic_y: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` window where bicubic errs most (edges)."""
    err = np.abs(hr_y.astype(np.float64) - bic_y.astype(np.float64))
    ii = np.cumsum(np.cumsum(np.pad(err, ((1, 0), (1, 0))), 0), 1)
    win = ii[size:, size:] - ii[:-size, size:] - ii[size:, :-size] + ii[:-size, :-size]
    i, j = np.unravel_index(np.argmax(win), win.shape)
    return int(i), int(j)


def draw_figure(
    runs_dir: Path,
    scale: int,
    path: Path,
    crop: int = 48,
    zoom: int = 4,
    lhsp_model: Path | None = None,
) -> None:
    """Edge crops, columns bicubic | SRCNN | LHSP | HR (colour: Y by the
    model, CbCr bicubic), each crop enlarged ``zoom`` times (nearest). The
    models are ``runs_dir``'s srcnn and lhsp_residual rows, or ``lhsp_model``
    for the LHSP column."""
    import keras
    from PIL import Image, ImageDraw

    import keras_sr.models  # noqa: F401  (registers the model classes)
    from keras_sr.inference import BicubicUpscaler, KerasUpscaler, upscale_image
    from keras_sr.io import read_image
    from keras_sr.ops import imresize, modcrop, rgb_to_y
    from keras_sr.utils import atomic_path

    ups = {"bicubic": BicubicUpscaler(scale)}
    # LHSP as the lhsp_x* presets build it (with the bicubic skip)
    files = {
        "srcnn": runs_dir / "srcnn" / "model.keras",
        "lhsp": lhsp_model or runs_dir / "lhsp_residual" / "model.keras",
    }
    for key, file in files.items():
        ups[key] = KerasUpscaler(keras.models.load_model(file, compile=False), key)
    labels = ["bicubic", "SRCNN", "LHSP", "HR"]
    side = crop * zoom
    pad, head = 6, 22
    sheet = Image.new(
        "RGB",
        (4 * side + 5 * pad, len(FIGURE_IMAGES) * (side + head) + head + pad),
        "white",
    )
    draw = ImageDraw.Draw(sheet)
    for c, label in enumerate(labels):
        draw.text((pad + c * (side + pad) + 4, 4), label, fill="black")
    for r, (set_name, fname) in enumerate(FIGURE_IMAGES):
        hr = np.asarray(
            modcrop(read_image(train_lhsp.EVAL_SETS[set_name] / fname), scale)
        )
        if hr.shape[-1] == 1:
            hr = np.repeat(hr, 3, -1)
        lr = imresize(hr, scale=1.0 / scale).numpy()
        outs = [upscale_image(ups[k], lr)[0] for k in ("bicubic", "srcnn", "lhsp")]
        hy = np.asarray(rgb_to_y(hr.astype(np.float32) / 255.0))[..., 0]
        by = np.asarray(rgb_to_y(outs[0].astype(np.float32) / 255.0))[..., 0]
        i, j = _edge_crop(hy, by, crop)
        y0 = head + r * (side + head)
        draw.text(
            (pad, y0 + side + 4),
            f"{set_name}/{fname} [{i}:{i + crop}, {j}:{j + crop}]",
            fill="black",
        )
        for c, img in enumerate([*outs, hr]):
            tile = Image.fromarray(img[i : i + crop, j : j + crop]).resize(
                (side, side), Image.NEAREST
            )
            sheet.paste(tile, (pad + c * (side + pad), y0))
    with atomic_path(path, suffix=".png") as tmp:
        sheet.save(tmp)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--patch", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--degradation", choices=["bicubic", "blur"], default="bicubic")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--decay-at",
        type=float,
        default=0.0,
        help="fraction of the steps after which the lr drops 10x (0 = fixed lr)",
    )
    parser.add_argument("--threads", type=int, default=0, help="0 = all cores")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows")
    parser.add_argument("--runs-dir", default="runs/lhsp_study")
    parser.add_argument("--output", default=str(HERE / "results" / "lhsp_study.json"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument(
        "--checkpoint",
        action="store_true",
        help="checkpoint every trained row to RUNS_DIR/ROW/checkpoints every 200 "
        "steps and resume a row from there (a long study survives a kill)",
    )
    parser.add_argument("--ship", action="store_true")
    parser.add_argument(
        "--figure",
        help="only draw the edge-crop figure (bicubic | SRCNN | LHSP | HR; LHSP "
        "= the lhsp_residual row) from the models saved in --runs-dir to this "
        "PNG, e.g. docs/lhsp_x3_edges.png",
    )
    parser.add_argument(
        "--figure-lhsp",
        type=Path,
        default=None,
        help="with --figure: the LHSP column from this saved model instead",
    )
    args = parser.parse_args()
    if args.figure:
        draw_figure(
            Path(args.runs_dir),
            args.scale,
            Path(args.figure),
            lhsp_model=args.figure_lhsp,
        )
        return

    from keras_sr.evaluation import evaluate_dataset
    from keras_sr.inference import BicubicUpscaler
    from keras_sr.utils import atomic_path

    out = Path(args.output)
    budget = {
        "scale": args.scale,
        "steps": args.steps,
        "batch": args.batch,
        "lr_patch": args.patch,
        "learning_rate": args.lr,
        "degradation": args.degradation,
        "seed": args.seed,
    }
    if args.decay_at:
        budget["lr_decay"] = f"x0.1 after {args.decay_at:.0%} of the steps"
    train_lhsp.set_threads(args.threads)
    report = {"benchmark": "lhsp_study", "budget": budget, "rows": {}}
    if args.resume and out.is_file():
        old = json.loads(out.read_text())
        if old.get("budget") == budget:
            report = old
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    for row in wanted:
        if row not in ROWS:
            parser.error(f"unknown row {row!r}; choose from {', '.join(ROWS)}")
    for row in wanted:
        if row in report["rows"]:
            continue
        print(f"=== {row}: {ROWS[row]}", flush=True)
        if row == "bicubic":
            up = BicubicUpscaler(args.scale)
            ev = {}
            for name, folder in train_lhsp.EVAL_SETS.items():
                r = evaluate_dataset(up, folder, args.scale, protocol="y-first")
                ev[name] = {"psnr": round(r["psnr"], 4), "ssim": round(r["ssim"], 5)}
            record = {"variant": "bicubic", "eval": ev}
        else:
            run = train_lhsp.train(
                row,
                args.scale,
                args.steps,
                args.batch,
                args.patch,
                args.lr,
                args.degradation,
                args.seed,
                decay_at=args.decay_at,
                checkpoint_dir=Path(args.runs_dir) / row / "checkpoints"
                if args.checkpoint
                else None,
            )
            record = run["record"]
            record["eval"] = train_lhsp.evaluate(run["model"], args.scale, row)
            folder = Path(args.runs_dir) / row
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(folder / "model.keras", suffix=".keras") as tmp:
                run["model"].save(tmp)
            record["model_file"] = str(folder / "model.keras")
            if row == "lhsp_residual" and args.ship:
                train_lhsp.ship(run["model"], record, args.scale)
        print(json.dumps(record["eval"]), flush=True)
        report["rows"][row] = record
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report["rows"])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
