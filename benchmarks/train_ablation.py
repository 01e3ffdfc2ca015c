"""Train the stage-2 ablation variants one after another, each on configs/ablation.toml's
budget, resumably: a finished variant is skipped, a half-trained one resumes.

    python benchmarks/train_ablation.py --variants ttm-paper,ti2v,no-masked
    python benchmarks/train_ablation.py --export   # model folders for `maskmotion bench`

Runs land in runs/ablation/<variant>; `--export` writes float16 model folders to
weights/ablation/<variant> at the repository root (what `maskmotion bench` loads by name
from a checkout; not part of the installed package).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALL = ["ttm-paper", "no-masked", "cross-only", "self-only", "ti2v", "flow", "ttm-pixel", "ttm"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(ALL), help="comma-separated, in order")
    # Paths relative to the project root (commands run there), so records name no machine.
    parser.add_argument("--config", type=Path, default=Path("configs") / "ablation.toml")
    parser.add_argument("--runs", type=Path, default=Path("runs") / "ablation")
    parser.add_argument("--export", action="store_true", help="export finished runs instead of training")
    parser.add_argument("--weights", type=Path, default=Path("weights") / "ablation")
    args = parser.parse_args()
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        run = args.runs / variant
        if args.export:
            if not (ROOT / run / "final").is_dir():
                print(f"{variant}: not finished, skipped", flush=True)
                continue
            cmd = ["maskmotion", "export", str(run), "--out", str(args.weights / variant), "--dtype", "float16"]
        elif (ROOT / run / "final").is_dir():
            print(f"{variant}: finished, skipped", flush=True)
            continue
        else:
            cmd = [
                "maskmotion", "train", "--config", str(args.config), "--set", f"task_options.variant={variant}",
                "--out", str(run), "--resume", "--no-progress",
            ]
        print("$", " ".join(cmd), flush=True)
        rc = subprocess.call(cmd, cwd=ROOT)
        if rc != 0:
            print(f"{variant}: exit status {rc}; stopping the queue", flush=True)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
