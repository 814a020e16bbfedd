"""Print the README's "All presets" table from the measured JSON files.

Sources: ``benchmarks/results/inference.json`` (params, latency, MP/s from
``benchmarks/inference.py``) and the numbers recorded next to the shipped
weights (``keras_sr/pretrained/pretrained.json`` and ``lhsp_x3.json``, each
measured with the y-first protocol of ``keras-sr evaluate``). Nothing is
measured here; the script only joins the files, so the README cannot drift
from them.

Usage::

    .venv/bin/python benchmarks/readme_table.py > /tmp/table.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PRETRAINED = REPO / "keras_sr" / "pretrained"


def quality() -> dict[str, dict[str, str]]:
    """``{preset: {"Set5": "psnr / ssim", "Set14": ...}}`` of shipped weights."""
    out: dict[str, dict[str, str]] = {}
    table = json.loads((PRETRAINED / "pretrained.json").read_text())
    for name, entry in table.items():
        scale = name.rsplit("_x", 1)[-1]
        out[name] = {
            s: f"{entry[f'{s}_x{scale}']['psnr']:.2f} / "
            f"{entry[f'{s}_x{scale}']['ssim']:.4f}"
            for s in ("Set5", "Set14")
            if f"{s}_x{scale}" in entry
        }
    for path in PRETRAINED.glob("lhsp_x*.json"):
        entry = json.loads(path.read_text())
        out[path.stem] = {
            s: f"{v['psnr']:.2f} / {v['ssim']:.4f}" for s, v in entry["eval"].items()
        }
    return out


def latency(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def main() -> int:
    inference = json.loads((RESULTS / "inference.json").read_text())
    env = inference.get("environment", {})
    measured = quality()
    rows = sorted(inference["results"], key=lambda r: r["preset"])
    load = env.get("load_average_at_start")
    load = "?" if load is None else f"{load:.1f}"
    print(
        f"<!-- benchmarks/readme_table.py; inference.json: "
        f"load average {load} at start, "
        f"TF {env.get('tensorflow', '?')} -->"
    )
    print(
        "| preset | C | params | Set5 PSNR / SSIM | Set14 PSNR / SSIM | "
        "latency, 256x256 LR | output MP/s |"
    )
    print("|---|---:|---:|---|---|---:|---:|")
    for r in rows:
        q = measured.get(r["preset"], {})
        print(
            f"| `{r['preset']}` | {r['channels']} | {r['params']:,} | "
            f"{q.get('Set5', 'no weights')} | {q.get('Set14', 'no weights')} | "
            f"{latency(r['latency_ms'])} | {r['output_mp_per_s']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
