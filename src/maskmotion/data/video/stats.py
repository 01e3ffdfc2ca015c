"""The stats report of a prepared set: JSON and an HTML page of histograms (objects per
window, object sizes, motion amounts, filter reasons), both written atomically."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ...files import write_text_atomic
from .filters import REASONS

#: Histogram bins of the report (fractions of the frame, and of its diagonal).
SIZE_BINS = [0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
MOTION_BINS = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.5]


def summarise(records: Iterable[dict[str, Any]], seconds: float | None = None) -> dict[str, Any]:
    """Stats over per-clip records (``{"windows": [...kept window stats], "dropped":
    {reason: n}}``, as `maskmotion.prepare` writes them)."""
    records = list(records)
    kept = [w for r in records for w in r["windows"]]
    dropped = {reason: 0 for reason in REASONS}
    for r in records:
        for reason, n in r["dropped"].items():
            dropped[reason] = dropped.get(reason, 0) + n
    objects = [len(w["sizes"]) for w in kept]
    sizes = [s for w in kept for s in w["sizes"]]
    motion = [m for w in kept for m in w["motion"]]
    out: dict[str, Any] = {
        "clips": len(records),
        "clips_with_samples": sum(1 for r in records if r["windows"]),
        "samples": len(kept),
        "windows_dropped": sum(dropped.values()),
        "dropped": dropped,
        "objects_per_sample": _hist(objects, list(range(0, max(objects, default=1) + 2))),
        "object_sizes": _hist(sizes, SIZE_BINS),
        "motion_amounts": _hist(motion, MOTION_BINS),
    }
    if seconds is not None:
        out["seconds"] = round(seconds, 3)
    return out


def _hist(values: list[float], edges: list[float]) -> dict[str, Any]:
    counts, _ = np.histogram(np.asarray(values, dtype=np.float64), bins=edges)
    return {"edges": edges, "counts": [int(c) for c in counts], "mean": float(np.mean(values)) if values else None}


def write_report(stats: dict[str, Any], folder: str | os.PathLike) -> tuple[Path, Path]:
    """``stats.json`` and ``stats.html`` in ``folder``."""
    folder = Path(folder)
    write_text_atomic(folder / "stats.json", json.dumps(stats, indent=2) + "\n")
    write_text_atomic(folder / "stats.html", render_html(stats))
    return folder / "stats.json", folder / "stats.html"


def _bars(title: str, labels: list[str], counts: list[int]) -> str:
    """One histogram as an inline SVG bar chart."""
    width, height, pad = 520, 180, 30
    top = max(counts, default=0) or 1
    bar = (width - 2 * pad) / max(1, len(counts))
    parts = [f'<svg width="{width}" height="{height + 40}" role="img" aria-label="{html.escape(title)}">']
    for k, (label, n) in enumerate(zip(labels, counts)):
        h = (height - pad) * n / top
        x = pad + k * bar
        parts.append(f'<rect x="{x + 2:.1f}" y="{height - h:.1f}" width="{bar - 4:.1f}" height="{h:.1f}" fill="#4a7bd0"/>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - h - 4:.1f}" font-size="11" text-anchor="middle">{n}</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{height + 16}" font-size="10" text-anchor="middle">{html.escape(label)}</text>')
    parts.append("</svg>")
    return f"<h2>{html.escape(title)}</h2>\n" + "".join(parts)


def _edge_labels(edges: list[float]) -> list[str]:
    return [f"{a:g}–{b:g}" for a, b in zip(edges[:-1], edges[1:])]


def render_html(stats: dict[str, Any]) -> str:
    objects = stats["objects_per_sample"]
    sections = [
        _bars("Objects per sample", [str(int(e)) for e in objects["edges"][:-1]], objects["counts"]),
        _bars("Object sizes (share of the first frame)", _edge_labels(stats["object_sizes"]["edges"]), stats["object_sizes"]["counts"]),
        _bars("Motion (farthest centroid travel / frame diagonal)", _edge_labels(stats["motion_amounts"]["edges"]), stats["motion_amounts"]["counts"]),
        _bars("Windows dropped, by reason", list(stats["dropped"]), list(stats["dropped"].values())),
    ]
    summary = (
        f"<p>{stats['clips']} clips, {stats['clips_with_samples']} with samples; {stats['samples']} samples kept, "
        f"{stats['windows_dropped']} windows dropped.</p>"
    )
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>maskmotion prepare: stats</title>"
        "<style>body{font-family:sans-serif;margin:2em}h2{font-size:1.05em;margin-top:1.5em}</style></head>\n"
        f"<body><h1>Prepared data</h1>{summary}\n" + "\n".join(sections) + "\n</body></html>\n"
    )
