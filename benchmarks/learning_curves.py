"""Plot a training run's learning curves from its metrics.jsonl (loss and evaluations).

    python benchmarks/learning_curves.py runs/stage1-motion runs/stage2 --out curves.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_metrics(run_dir: Path) -> list[dict]:
    rows = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    fig, axes = plt.subplots(len(args.runs), 2, figsize=(10, 3.2 * len(args.runs)), squeeze=False)
    for row, run in zip(axes, args.runs):
        metrics = read_metrics(run)
        train = [m for m in metrics if "loss" in m]
        evals = [m for m in metrics if any(k.startswith("eval/") for k in m)]
        row[0].plot([m["step"] for m in train], [m["loss"] for m in train], lw=0.8)
        row[0].set_yscale("log")
        row[0].set_title(f"{run.name}: training loss")
        row[0].set_xlabel("step")
        # Counts (e.g. eval/objects) are not curves.
        keys = sorted({k for m in evals for k in m if k.startswith("eval/") and not k.endswith("objects")})
        for key in keys:
            pts = [(m["step"], m[key]) for m in evals if key in m]
            row[1].plot(*zip(*pts), marker="o", label=key[5:])
        row[1].set_title(f"{run.name}: evaluation (validation split)")
        row[1].set_xlabel("step")
        if keys:
            row[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(args.out)


if __name__ == "__main__":
    main()
