"""Turning benchmark records into results.json, a Markdown table, plots and an HTML page."""

from __future__ import annotations

import html
import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..eval.fvd import RandomConv3DFeatures, frechet_from_features
from ..files import atomic_path
from .suite import BenchCase

logger = logging.getLogger(__name__)

#: (key, heading, better) for per-object metrics, averaged over objects.
OBJECT_METRICS = [
    ("adherent", "adherence", "higher"),
    ("gt_iou", "IoU vs GT", "higher"),
    ("centroid_err", "centroid err (px)", "lower"),
    ("id_swaps", "id swaps / obj", "lower"),
    ("cond_iou", "IoU vs condition", "higher"),
]
#: Per-video metrics, averaged over videos.
VIDEO_METRICS = [
    ("psnr", "PSNR (dB)", "higher"),
    ("psnr_obj", "PSNR obj (dB)", "higher"),
    ("ssim", "SSIM", "higher"),
    ("ad", "AD (px/frame)", "closer to GT"),
    ("cf", "CF (SSIM)", "higher"),
    ("clip_t", "CLIP-T", "higher"),
    ("clip_i", "CLIP-I", "higher"),
    ("clip_cf", "CLIP-CF", "higher"),
]
CLIP_SKIPPED = "CLIP scores skipped: no local CLIP weights (maskmotion bench --clip DIR, a saved CLIPModel folder)."
FVD_NOTE = (
    "FVD* uses the offline random 3D-conv features (maskmotion.eval.RandomConv3DFeatures), not I3D: "
    "it ranks variants on this suite only and is not comparable with published FVD."
)


def record_path(out: Path, variant: str, case_id: str, seed: int) -> Path:
    """Where the record of one sample (variant, case, seed) lives under the output folder."""
    return out / "records" / variant / f"{case_id}_s{seed}.json"


def load_records(out: Path, variants: Sequence[str], cases: Sequence[BenchCase], seeds: Sequence[int]) -> list[dict]:
    records, missing = [], 0
    for v in variants:
        for c in cases:
            for s in seeds:
                path = record_path(out, v, c.case_id, s)
                if path.is_file():
                    records.append(json.loads(path.read_text(encoding="utf-8")))
                else:
                    missing += 1
    if missing:
        logger.warning("%d samples have no record yet; the report covers the others (rerun to finish)", missing)
    return records


def _mean(values: list) -> float | None:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else None


def summarise(records: Sequence[dict]) -> dict[str, Any]:
    """Means of every metric over all samples and split by object count."""

    def means(recs: Sequence[dict]) -> dict[str, Any]:
        objs = [o for r in recs for o in r["objects"]]
        out: dict[str, Any] = {"samples": len(recs), "objects": len(objs)}
        for key, _, _ in OBJECT_METRICS:
            out[key] = _mean([o.get(key) for o in objs])
        for key, _, _ in VIDEO_METRICS:
            out[key] = _mean([r["video"].get(key) for r in recs])
        return out

    by_count: dict[int, list] = defaultdict(list)
    by_seed: dict[int, list] = defaultdict(list)
    for r in records:
        by_count[r["num_objects"]].append(r)
        by_seed[r["seed"]].append(r)
    return {
        "all": means(records),
        "by_object_count": {str(k): means(v) for k, v in sorted(by_count.items())},
        # Each sampling seed on its own: how much of a difference is sampling noise.
        "by_seed": {str(k): means(v) for k, v in sorted(by_seed.items())},
    }


def _fvd(records: Sequence[dict], reference: np.ndarray | None) -> float | None:
    if reference is None or len(records) < 2 or len(reference) < 2:
        return None
    return frechet_from_features(reference, np.array([r["fvd_features"] for r in records]))


def _reference_features(cases: Sequence[BenchCase]) -> np.ndarray | None:
    videos = [c.reference_video for c in cases if c.reference_video is not None]
    if len(videos) < 2 or len({v.shape for v in videos}) != 1:
        return None
    return RandomConv3DFeatures()(np.stack(videos))


def write_report(out: Path, config, variants, cases: Sequence[BenchCase]) -> dict[str, Any]:
    names = [v.name for v in variants]
    records = load_records(out, names, cases, config.seeds)
    ref = _reference_features(cases)
    results: dict[str, Any] = {"suite": config.suite, "seeds": list(config.seeds), "cases": len(cases),
                               "fvd_features": "random-conv3d (not I3D)", "clip": config.clip or None, "variants": {}}
    for v in names:
        recs = [r for r in records if r["variant"] == v]
        summary = summarise(recs)
        summary["fvd"] = _fvd(recs, ref)
        summary["seconds_per_sample"] = _mean([r["seconds"] for r in recs])
        results["variants"][v] = summary
    if ref is not None:
        # For scale: one half of the references against the other (smaller sets read higher).
        half = len(ref) // 2
        results["fvd_reference_halves"] = _fvd([{"fvd_features": f} for f in ref[half:]], ref[:half]) if half >= 2 else None
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    table = markdown_table(results)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(table, encoding="utf-8")
    plots = write_plots(out, results)
    write_html(out, results, table, plots, cases, config.seeds, names)
    return results


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def markdown_table(results: dict[str, Any]) -> str:
    """The main table (all samples) and the per-object-count table."""
    cols = [(k, h) for k, h, _ in OBJECT_METRICS] + [(k, h) for k, h, _ in VIDEO_METRICS]
    variants = results["variants"]
    present = [(k, h) for k, h in cols if any(v["all"].get(k) is not None for v in variants.values())]
    lines = [
        f"Suite `{results['suite']}`, {results['cases']} cases, seeds {results['seeds']}.",
        "",
        "| variant | samples | " + " | ".join(h for _, h in present) + " | FVD* |",
        "| --- | --- | " + " | ".join("---" for _ in present) + " | --- |",
    ]
    for name, v in variants.items():
        a = v["all"]
        lines.append(
            f"| {name} | {a['samples']} | " + " | ".join(_fmt(a.get(k)) for k, _ in present) + f" | {_fmt(v.get('fvd'), 2)} |"
        )
    seeds = sorted({s for v in variants.values() for s in v.get("by_seed", {})}, key=int)
    if len(seeds) > 1:
        lines += ["", "By sampling seed (adherence / IoU vs GT), to judge small differences:", "",
                  "| variant | " + " | ".join(f"seed {s}" for s in seeds) + " |",
                  "| --- | " + " | ".join("---" for _ in seeds) + " |"]
        for name, v in variants.items():
            row = [f"{_fmt(v['by_seed'].get(s, {}).get('adherent'))} / {_fmt(v['by_seed'].get(s, {}).get('gt_iou'))}" for s in seeds]
            lines.append(f"| {name} | " + " | ".join(row) + " |")
    counts = sorted({c for v in variants.values() for c in v["by_object_count"]}, key=int)
    for key, heading in (("adherent", "adherence"), ("gt_iou", "IoU vs GT"), ("psnr_obj", "PSNR obj (dB)")):
        if not any(v["all"].get(key) is not None for v in variants.values()):
            continue
        lines += ["", f"{heading} by number of objects:", "",
                  "| variant | " + " | ".join(f"{c} obj" for c in counts) + " |",
                  "| --- | " + " | ".join("---" for _ in counts) + " |"]
        for name, v in variants.items():
            row = [_fmt(v["by_object_count"].get(c, {}).get(key)) for c in counts]
            lines.append(f"| {name} | " + " | ".join(row) + " |")
    if results.get("fvd_reference_halves") is not None:
        lines += ["", f"For scale, FVD* between two halves of the reference videos: {results['fvd_reference_halves']:.2f} "
                  "(half as many videos a side, which reads higher than the full sets)."]
    lines += ["", FVD_NOTE]
    if not any(v["all"].get("clip_t") is not None for v in variants.values()):
        lines += ["", CLIP_SKIPPED]
    lines += [""]
    return "\n".join(lines)


def write_plots(out: Path, results: dict[str, Any]) -> list[str]:
    """One PNG per metric: the metric against the number of objects, a line per variant."""
    try:  # lazy: matplotlib is optional (the eval extra)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed (pip install 'maskmotion[eval]'): no plots")
        return []
    (out / "plots").mkdir(exist_ok=True)
    files = []
    for key, heading, better in OBJECT_METRICS + VIDEO_METRICS:
        series = {}
        for name, v in results["variants"].items():
            pts = [(int(c), m.get(key)) for c, m in v["by_object_count"].items() if m.get(key) is not None]
            if pts:
                series[name] = sorted(pts)
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6.2, 3.4), dpi=110)
        for name, pts in series.items():
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
        ax.set_xlabel("objects in the scene")
        ax.set_ylabel(heading)
        ax.set_title(f"{heading} ({better} is better)", fontsize=10)
        ax.set_xticks(sorted({p[0] for pts in series.values() for p in pts}))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside, not over the lines
        fig.tight_layout()
        rel = f"plots/{key}.png"
        with atomic_path(out / rel) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        files.append(rel)
    return files


def write_html(out: Path, results, table: str, plots: list[str], cases: Sequence[BenchCase], seeds, variants) -> Path:
    """report.html: the table, the plots, and per case the input, the trajectory, the
    reference and every variant's video side by side (files relative to the page)."""
    esc = html.escape
    rows = []
    for c in cases:
        for s in seeds:
            folder = Path("videos") / c.case_id
            cells = [("input", folder / "input.png"), ("trajectory", folder / f"trajectory_s{s}.gif")]
            if c.reference_video is not None:
                cells.append(("reference", folder / "reference.gif"))
            cells += [(v, folder / f"{v}_s{s}.gif") for v in variants]
            figs = "".join(
                f'<figure><img src="{esc(p.as_posix())}" alt="{esc(label)}" width="128" height="128">'
                f"<figcaption>{esc(label)}</figcaption></figure>"
                for label, p in cells if (out / p).is_file()
            )
            rows.append(
                f'<section class="case"><h3>{esc(c.case_id)} · seed {s} · {c.num_objects} object(s)</h3>'
                f"<p>{esc(c.prompt)}</p><div class=row>{figs}</div></section>"
            )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>maskmotion bench: {esc(results['suite'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}}
pre{{background:#f4f4f4;padding:1em;overflow-x:auto}} .row{{display:flex;flex-wrap:wrap;gap:6px}}
figure{{margin:0;text-align:center;font-size:12px}} img{{image-rendering:pixelated;border:1px solid #ccc}}
.plots img{{image-rendering:auto;width:420px;height:auto}}</style></head><body>
<h1>maskmotion bench</h1>
<pre>{esc(table)}</pre>
<div class="plots row">{''.join(f'<img src="{esc(p)}" alt="{esc(p)}">' for p in plots)}</div>
<h2>Samples</h2>
{''.join(rows)}
</body></html>
"""
    path = out / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
