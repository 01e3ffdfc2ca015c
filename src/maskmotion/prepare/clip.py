"""One clip to samples: windows -> objects -> tracks -> filters -> prompts -> samples.

`process_clip` is a pure function of the clip and the options (no shared state), so the
local loop and Ray workers run the very same code and write the very same bytes.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data.video import Clip, encode_sample, plan_windows, probe_video, read_frames, read_masklets, write_tar
from ..data.video import filters as checks
from ..data.video.windows import resize_ids, work_size
from ..errors import InputError
from ..plan import ObjectRequest, make_planner, plan_scene
from ..track import MaskTracker
from ..trajectory import MaskTrajectory, TrajectoryObject
from ..video import VideoError
from .latents import add_latents, latents_meta
from .objects import ids_from_masks, masklet_masks, moving_regions, select_masklets
from .options import PrepareOptions

logger = logging.getLogger(__name__)


@dataclass
class ClipResult:
    """What a clip gave: its samples (WebDataset member dicts) and its stats record."""

    key: str
    samples: list[dict[str, Any]] = field(repr=False)
    record: dict[str, Any]

    def tar_bytes(self) -> bytes:
        """The samples as one tar (the clip's part file), byte for byte reproducible."""
        with tempfile.TemporaryDirectory(prefix="maskmotion-part-") as tmp:
            return write_tar(Path(tmp) / "part.tar", self.samples).read_bytes()


def process_clip(clip: Clip, options: PrepareOptions) -> ClipResult:
    """Every kept window of ``clip`` as a sample, and why the others were dropped."""
    dropped: dict[str, int] = {}
    windows_stats: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []

    def drop(reason: str, n: int = 1) -> None:
        dropped[reason] = dropped.get(reason, 0) + n

    try:
        info = probe_video(clip.path)
        masklets = read_masklets(clip.masklets) if clip.masklets else None
        if masklets is not None and masklets.masklet_ids and masklets.size != (info.height, info.width):
            raise InputError(
                f"its masklets ({clip.masklets}) are {masklets.size[1]}x{masklets.size[0]}, the video "
                f"{info.width}x{info.height}; the annotation belongs to another video"
            )
        align = masklets.stride if masklets else 1
        windows = plan_windows(info, options.frames, options.fps, options.stride_seconds, options.max_windows, align)
        if not windows:
            drop("too short")
            return ClipResult(clip.key, [], {"key": clip.key, "windows": [], "dropped": dropped})
        out_hw = (options.height, options.width)
        work_hw = work_size(info, out_hw, options.track_side)
        flat = [i for w in windows for i in w]
        all_frames = read_frames(clip.path, flat, work_hw).reshape(len(windows), options.frames, *work_hw, 3)
    except (VideoError, InputError) as exc:
        logger.warning("skipping %s: %s", clip.path, exc)
        drop("unreadable")
        return ClipResult(clip.key, [], {"key": clip.key, "windows": [], "dropped": dropped, "error": str(exc)})

    planner = make_planner(options.planner, options.llm_url, options.llm_model) if clip.caption else None
    for k, (indices, frames) in enumerate(zip(windows, all_frames)):
        try:
            reason, ids = _track_window(frames, indices, masklets, work_hw, options)
        except InputError as exc:  # a masklet file that does not fit its video
            logger.warning("skipping window %d of %s: %s", k, clip.path, exc)
            reason, ids = "unreadable", None
        if reason is not None:
            drop(reason)
            continue
        stats = {"sizes": list(checks.object_sizes(ids[0]).values()), "motion": list(checks.motion_amounts(ids).values())}
        out_frames = np.stack([cv2.resize(f, (out_hw[1], out_hw[0]), interpolation=cv2.INTER_AREA) for f in frames])
        out_ids = resize_ids(ids, out_hw)
        trajectory, prompts = _prompts(clip, out_ids, frames[0], options, planner)
        meta = {
            **prompts,
            "source": {"clip": clip.key, "path": str(clip.path), "frames": indices, "fps": info.fps,
                       "objects_from": "masklets" if masklets else "flow"},
            "window": k, "fps": options.fps, "size": list(out_ids.shape), "stats": stats,
        }  # fmt: skip
        if options.latents:
            meta["latents"] = latents_meta(options.latents, options.latents_dtype, options.latents_device)
        sample = encode_sample(f"{clip.key}_w{k:03d}", out_frames, trajectory, meta, crf=options.crf)
        if options.latents:
            sample = add_latents(sample, options.latents, options.latents_dtype, options.latents_device)
        samples.append(sample)
        windows_stats.append(stats)
    return ClipResult(clip.key, samples, {"key": clip.key, "windows": windows_stats, "dropped": dropped})


def _track_window(frames, indices, masklets, work_hw, options: PrepareOptions) -> tuple[str | None, np.ndarray | None]:
    """(reason dropped, None) or (None, ids (T, H, W) uint8) at the work size."""
    cfg = options.filters
    if checks.scene_cut(frames, cfg.cut_correlation, cfg.cut_jump) is not None:
        return "scene cut", None
    if masklets is not None:
        if masklets.annotated_index(indices[0]) is None:  # past the last annotated frame
            return "no objects", None
        first = masklet_masks(masklets, indices[0], work_hw)
        keep = select_masklets(first, cfg.min_object_area)
        if len(keep) > cfg.max_objects:
            return "too many objects", None
        first_ids = ids_from_masks(first, keep)
    else:
        first_ids = moving_regions(frames, cfg.max_objects, cfg.min_object_area)
    reason = checks.check_objects(first_ids, cfg)
    if reason is not None:
        return reason, None
    if masklets is not None and all(masklets.annotated_index(i) is not None for i in indices):
        # Every frame of the window is annotated: the masklets are the track.
        ids = np.stack([ids_from_masks(masklet_masks(masklets, i, work_hw), keep) for i in indices])
    else:
        ids = MaskTracker().track(frames, first_ids)
    reason = checks.check_track(ids, cfg)
    return reason, (ids if reason is None else None)


def _prompts(clip: Clip, ids: np.ndarray, image: np.ndarray, options: PrepareOptions, planner) -> tuple[MaskTrajectory, dict[str, Any]]:
    """The trajectory with named, prompted objects, and the prompts for the sample JSON.

    Names and prompts come from the caption list when it lists one object per tracked
    object, and the planner (rules or LLM) writes the motion prompt and whatever local
    prompt the list leaves empty. Objects the list does not name (found by flow, or SA-V
    masklets, which carry no names) are "object N": a rules plan over such names would
    only say that they stay still, so then the caption is the motion prompt and the
    local prompts stay empty, unless the planner is an LLM. A clip with no caption has
    empty prompts (trained as the unconditional text)."""
    present = sorted(int(i) for i in np.unique(ids[0]) if i)
    listed = clip.objects if len(clip.objects) == len(present) else ()
    requests = [ObjectRequest(oid, listed[k].name if listed else f"object {oid}", listed[k].prompt if listed else "")
                for k, oid in enumerate(present)]  # fmt: skip
    warnings: list[str] = []
    if clip.caption and planner is not None and (listed or options.planner == "llm"):
        plan_logger = logging.getLogger("maskmotion.plan")
        level = plan_logger.level
        plan_logger.setLevel(logging.ERROR)  # the plan's warnings go into the sample, not the log
        try:
            plan = plan_scene(clip.caption, ids[0], requests, planner)
        finally:
            plan_logger.setLevel(level)
        names = {o.id: (o.name, o.local_prompt) for o in plan.objects}
        motion = clip.motion_prompt or plan.motion_prompt
        source, warnings = plan.source, list(plan.warnings)
    else:
        names = {r.id: (r.name, r.local_prompt) for r in requests}
        motion = clip.motion_prompt or clip.caption
        source = "caption" if clip.caption else "none"
    objects = [TrajectoryObject(oid, names[oid][0], names[oid][1]) for oid in present]
    trajectory = MaskTrajectory(ids, objects, fps=options.fps)
    prompts = {
        "global_prompt": clip.caption, "motion_prompt": motion, "planner": source, "plan_warnings": warnings,
        "objects": [{"id": o.id, "name": o.name, "prompt": o.prompt} for o in objects],
    }  # fmt: skip
    return trajectory, prompts
