"""An SA-V-style folder (SA-V-128, or any videos with SA-V masklet files) as a benchmark
suite: the JSONL manifest `load_manifest` reads, with each case's first frame, its
first-frame masklets as the masks, and the clip and its masklet trajectory as references.

Prompts come from a list (``.jsonl`` or ``.csv``; ``id`` = the SA-V video id,
``prompt``, and optionally ``motion_prompt`` and ``objects`` [{"name", "prompt"}] in
masklet order); videos the list does not name are left out, so a list of the 128
benchmark ids turns a local copy of SA-V's test set into SA-V-128.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.video import find_sav_videos, plan_windows, probe_video, read_frames, read_masklets
from ..errors import InputError
from ..files import atomic_path, parse_json
from ..prepare.objects import ids_from_masks, masklet_masks, select_masklets
from ..trajectory import MAX_OBJECTS, MaskTrajectory, save_id_png
from ..trajectory.core import default_objects
from ..video import write_png, write_video

logger = logging.getLogger(__name__)


def read_prompt_list(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """``{video id: {"prompt", "motion_prompt", "objects"}}`` from a .jsonl or .csv list."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"prompt list {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".jsonl":
        rows = [(f"{path}:{n}", parse_json(line, f"{path}:{n}", InputError)) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    elif path.suffix.lower() == ".csv":
        rows = [(f"{path}:{n}", dict(r)) for n, r in enumerate(csv.DictReader(text.splitlines()), 2)]
    else:
        raise InputError(f"prompt list {path} must end in .jsonl or .csv")
    out: dict[str, dict[str, Any]] = {}
    for where, row in rows:
        if not isinstance(row, dict) or not row.get("id") or not str(row.get("prompt") or "").strip():
            raise InputError(f"{where}: each entry needs an 'id' (the SA-V video id) and a non-empty 'prompt'")
        objects = row.get("objects") or []
        if isinstance(objects, str):
            objects = parse_json(objects, f"{where}: objects", InputError) if objects.strip() else []
        out[str(row["id"])] = {"prompt": str(row["prompt"]), "motion_prompt": str(row.get("motion_prompt") or ""),
                               "objects": list(objects)}  # fmt: skip
    return out


def sav_suite(
    root: str | os.PathLike, prompts: str | os.PathLike, out: str | os.PathLike, frames: int = 16, fps: float = 6.0,
    max_side: int = 512, min_object_area: float = 0.002, annotations: str = "manual",
) -> Path:
    """Write ``out/suite.jsonl`` and its files for every listed video; returns the manifest.

    Each case starts at the video's first annotated frame and runs ``frames`` frames at
    ``fps`` (SA-V's 6 fps by default, where every frame has masklets); the masklets
    present in the first frame (at least ``min_object_area`` of it, the first
    `MAX_OBJECTS`) are the objects, in masklet order. Frames keep the video's aspect,
    the long side at most ``max_side`` (sizes even, as H.264 wants).
    """
    out = Path(out)
    listed = read_prompt_list(prompts)
    entries = [e for e in find_sav_videos(root, annotations) if e.video_id in listed]
    if not entries:
        raise InputError(f"none of the {len(listed)} ids in {prompts} has a video and masklets under {root}")
    for sub in ("images", "masks", "videos", "traj"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    lines = []
    for entry in entries:
        case = listed[entry.video_id]
        info = probe_video(entry.video)
        masklets = read_masklets(entry.annotation)
        if masklets.masklet_ids and masklets.size != (info.height, info.width):
            raise InputError(f"{entry.annotation}: masklets are {masklets.size[1]}x{masklets.size[0]}, {entry.video} is "
                             f"{info.width}x{info.height}; the annotation belongs to another video")  # fmt: skip
        windows = plan_windows(info, frames, fps, max_windows=1, align=masklets.stride)
        if not windows:
            logger.warning("%s: shorter than %d frames at %g fps; left out", entry.video_id, frames, fps)
            continue
        indices = windows[0]
        scale = min(1.0, max_side / max(info.height, info.width))
        size = (max(2, round(info.height * scale / 2) * 2), max(2, round(info.width * scale / 2) * 2))
        video = read_frames(entry.video, indices, size)
        first = masklet_masks(masklets, indices[0], size)
        keep = select_masklets(first, min_object_area)[:MAX_OBJECTS]
        first_ids = ids_from_masks(first, keep)
        if not first_ids.any():
            logger.warning("%s: no masklet in the first frame covers %g of it; left out", entry.video_id, min_object_area)
            continue
        cid = entry.video_id
        write_png(out / "images" / f"{cid}.png", video[0])
        save_id_png(out / "masks" / f"{cid}.png", first_ids)
        write_video(out / "videos" / f"{cid}.mp4", video, fps=fps)
        line: dict[str, Any] = {"id": cid, "image": f"images/{cid}.png", "prompt": case["prompt"], "masks": f"masks/{cid}.png",
                                "video": f"videos/{cid}.mp4"}  # fmt: skip
        if all(masklets.annotated_index(i) is not None for i in indices):
            ids = np.stack([ids_from_masks(masklet_masks(masklets, i, size), keep) for i in indices])
            present = sorted(int(i) for i in np.unique(first_ids) if i)
            ids = np.where(np.isin(ids, present), ids, 0).astype(np.uint8)
            MaskTrajectory(ids, default_objects(present), fps=fps).save(out / "traj" / f"{cid}.npz")
            line["trajectory"] = f"traj/{cid}.npz"
        count = len(np.unique(first_ids)) - 1
        if case["objects"]:
            if len(case["objects"]) != count:
                raise InputError(f"{prompts}: {cid} lists {len(case['objects'])} objects but {count} masklets are kept; "
                                 "list one per kept masklet or none")  # fmt: skip
            line["objects"] = [{"name": str(o.get("name", "")), "prompt": str(o.get("prompt", ""))} for o in case["objects"]]
        if case["motion_prompt"]:
            line["motion_prompt"] = case["motion_prompt"]
        lines.append(json.dumps(line))
    manifest = out / "suite.jsonl"
    with atomic_path(manifest) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    logger.info("%d of %d listed videos written to %s", len(lines), len(listed), manifest)
    return manifest
