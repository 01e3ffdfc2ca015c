"""The dual-clock table of docs/benchmark.md from a `maskmotion bench` output folder:
each variant's pooled figures (results.json) beside its motion adherence on the objects a
warp cannot render (spins, recolouring, jumps, falls, bounces) and on the recolouring
objects alone, read from the per-sample records.

    python benchmarks/dualclock_table.py runs/dualclock/bench
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from maskmotion.eval.sprites import WARP_HARD

COLUMNS = ("adherence", "adh. warp-hard", "adh. recolour", "IoU vs GT", "PSNR obj (dB)", "PSNR (dB)", "SSIM", "FVD*")


def table(out: Path) -> str:
    results = json.loads((out / "results.json").read_text())
    rows = [f"| variant | samples | {' | '.join(COLUMNS)} |", "| --- " * (len(COLUMNS) + 2) + "|"]
    for name, figures in results["variants"].items():
        hits: dict[str, list[bool]] = defaultdict(list)
        for record in sorted((out / "records" / name).glob("*.json")):
            for obj in json.loads(record.read_text())["objects"]:
                if obj["kind"] in WARP_HARD:
                    hits["hard"].append(obj["adherent"])
                if obj["kind"] == "recolour":
                    hits["recolour"].append(obj["adherent"])

        def rate(key: str) -> str:
            got = hits[key]
            return f"{sum(got) / len(got):.3f} ({len(got)})" if got else "–"

        a = figures["all"]
        fvd = figures.get("fvd")
        cells = [f"{a['adherent']:.3f}", rate("hard"), rate("recolour"), f"{a['gt_iou']:.3f}", f"{a['psnr_obj']:.2f}",
                 f"{a['psnr']:.2f}", f"{a['ssim']:.3f}", f"{fvd:.2f}" if isinstance(fvd, (int, float)) else "–"]  # fmt: skip
        rows.append(f"| {name} | {a['samples']} | {' | '.join(cells)} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the bench --out folder")
    print(table(parser.parse_args().out))


if __name__ == "__main__":
    main()
