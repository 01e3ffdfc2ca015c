"""Wall time of `maskmotion animate` as a user runs it, and training samples/s.

    python benchmarks/animate_speed.py [--repeats 3] [--train-steps 6] [--threads 0]

Animate: the README's quick-start command on the bundled example (64x64 x 16 frames,
bundled default model, default steps), run as a fresh process each time, so the figure
includes Python start-up, imports, model and text-encoder load, both stages and the
video files. The goal for the bundled default is at most 20 s on a 2-core CPU.

Training: `maskmotion train` on each default stage config for a few steps in a scratch
folder; samples/s comes from the run's own ``metrics.jsonl`` (the first logged step,
which warms up, is left out). Prompt states go to the run's own cache folder
(``<out_dir>/cache`` in the scratch folder, so it starts empty): prompts are encoded on
the way, which is what a short probe of stage 1 (a pool of 16,384 scenes, 32 per step)
mostly measures until one epoch has filled the cache.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_animate() -> list[str]:
    """The README quick start's `maskmotion animate` arguments (without --out), read from
    the README itself so the benchmark times exactly what a new user runs."""
    import re

    block = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)[0]
    args = shlex.split(block.split("&&")[-1])
    if args[:2] != ["maskmotion", "animate"]:
        raise SystemExit("README.md: the quick start no longer ends in `maskmotion animate`")
    out = args.index("--out")
    args = args[1:out] + args[out + 2:]
    return [str(ROOT / a) if a.startswith("examples/") else a for a in args]


ANIMATE = _quick_start_animate()
STAGE_CONFIGS = {"stage 1": ROOT / "configs" / "stage1-motion.toml", "stage 2": ROOT / "configs" / "stage2.toml"}


def _maskmotion(*args: str) -> list[str]:
    return [sys.executable, "-m", "maskmotion.cli", *args]


def time_animate(out_dir: Path, repeats: int) -> list[float]:
    times = []
    for i in range(repeats):
        cmd = _maskmotion(*ANIMATE, "--out", str(out_dir / f"run{i}.mp4"))
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        print(f"animate run {i + 1}: {times[-1]:.2f} s", flush=True)
    return times


def training_rate(config: Path, out_dir: Path, steps: int, threads: int, workers: int) -> float:
    args = ["train", "--config", str(config), "--steps", str(steps), "--no-progress",
            "--set", f"out_dir={json.dumps(str(out_dir))}", "--set", "log_every=1", "--set", f"data_workers={workers}"]
    if threads:
        args += ["--threads", str(threads)]
    subprocess.run(_maskmotion(*args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rates = [r["samples_per_s"] for r in rows if "samples_per_s" in r][1:]
    if not rates:
        raise SystemExit(f"{out_dir}: no samples/s logged after the first step; raise --train-steps")
    return statistics.median(rates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="animate runs (default 3)")
    p.add_argument("--train-steps", type=int, default=6, help="steps per training probe; 0 skips training")
    p.add_argument("--threads", type=int, default=0, help="torch threads for the training probes (0: torch's default)")
    p.add_argument("--data-workers", type=int, default=1, help="batch workers for the training probes (default 1)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("command: maskmotion " + " ".join(shlex.quote(a) for a in ANIMATE) + " --out OUT.mp4")
        times = time_animate(tmp, args.repeats)
        print(f"animate wall time, model load included: median {statistics.median(times):.2f} s, "
              f"min {min(times):.2f} s, max {max(times):.2f} s over {len(times)} runs (goal <= 20 s)")
        if args.train_steps:
            for name, config in STAGE_CONFIGS.items():
                rate = training_rate(config, tmp / name.replace(" ", ""), args.train_steps, args.threads, args.data_workers)
                print(f"training {name} ({config.name}): {rate:.2f} samples/s (median over steps 2..{args.train_steps})")


if __name__ == "__main__":
    main()
