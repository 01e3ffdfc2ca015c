"""Quality of both stages on sprites scenes, beside the trivial baselines.

- Stage 1: per object, IoU of the generated trajectory against the ground truth (and of
  repeating the first-frame mask), and motion adherence.
- Stage 2 given the ground-truth trajectory: pooled PSNR on object pixels (ground-truth
  masks, frames after the first) and on whole frames, for the model, for copying the
  first frame, and for the warp preview; also on the objects whose motion a warp cannot
  render (spins of textured sprites, squash and stretch, colour changes).

Results are per-object records, so every figure can be split by object count or motion.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

from ..data.sprites import SpritesConfig, generate_scene, tracks_from_sprite_params
from ..models import MotionDiT, VideoConditions, VideoDiT, decode_motion, euler_sample
from ..models.examples import stage1_example
from ..models.inputs import to_uint8, video_condition
from ..pipelines import MotionInputs, MotionPipeline, VideoInputs, VideoPipeline
from ..render import warp_preview
from ..text import TextEncoder
from ..track import MaskTracker
from ..trajectory import PALETTE, MaskTrajectory, warp_masks
from .adherence import adherent, curves_from_outlines, curves_from_track, curves_from_video
from .metrics import PooledPSNR, mask_iou_per_object

#: Motions whose pixels a first-frame warp cannot produce (see docs/sprites.md).
WARP_HARD = frozenset({"spin_cw", "spin_ccw", "recolour", "jump", "fall", "bounce"})


@dataclass
class ObjectResult:
    seed: int
    num_objects: int
    kind: str
    iou: float
    iou_still: float
    adherent: bool


def _ground_truth_tracks(scene):
    return tracks_from_sprite_params(scene.params(), scene.first_ids, [o.id for o in scene.objects])


def summarise_objects(rows: Sequence[ObjectResult]) -> dict:
    """Means over all objects, split by the scene's object count and by motion kind."""

    def means(rs):
        return {
            "objects": len(rs),
            "iou": float(np.mean([r.iou for r in rs])),
            "iou_still": float(np.mean([r.iou_still for r in rs])),
            "adherence": float(np.mean([r.adherent for r in rs])),
        }

    by_count, by_kind = defaultdict(list), defaultdict(list)
    for r in rows:
        by_count[r.num_objects].append(r)
        by_kind[r.kind].append(r)
    return {
        "all": means(rows),
        "by_object_count": {k: means(v) for k, v in sorted(by_count.items())},
        "by_motion": {k: means(v) for k, v in sorted(by_kind.items())},
    }


@torch.no_grad()
def evaluate_motion_model(
    model: MotionDiT, text: TextEncoder, seeds: Iterable[int], sprites: SpritesConfig, steps: int,
    generator_seed: int = 0, batch_size: int = 32, **guidance,
) -> list[ObjectResult]:
    """Sample stage 1 (compact form) on each scene; adherence is read from the sampled tracks."""
    pipe = MotionPipeline(model, text, device=next(model.parameters()).device)
    seeds = list(seeds)
    rows: list[ObjectResult] = []
    gen = torch.Generator().manual_seed(generator_seed)
    for start in range(0, len(seeds), batch_size):
        scenes = [generate_scene(s, sprites) for s in seeds[start : start + batch_size]]
        examples = [stage1_example(sc) for sc in scenes]
        inputs = [MotionInputs(ex.features, ex.motion_prompt, ex.local_prompts) for ex in examples]
        raws = pipe.sample(inputs, steps, generator=gen, **guidance)
        for sc, ex, raw in zip(scenes, examples, raws):
            tracks = dict(zip(ex.object_ids, decode_motion(raw, sc.ids.shape[1:])))
            ids = warp_masks(sc.first_ids, tracks, sc.ids.shape[0])
            rows += _object_rows(sc, ids, {oid: curves_from_track(tr) for oid, tr in tracks.items()})
    return rows


def _object_rows(scene, ids: np.ndarray, curves: dict) -> list[ObjectResult]:
    oids = [o.id for o in scene.objects]
    ious = mask_iou_per_object(ids, scene.ids, oids)
    still = mask_iou_per_object(np.repeat(scene.first_ids[None], scene.ids.shape[0], axis=0), scene.ids, oids)
    rows = []
    for o, ref in zip(scene.objects, _ground_truth_tracks(scene)):
        kind = o.spec.motion.kind
        rows.append(ObjectResult(scene.seed, len(oids), kind, ious[o.id], still[o.id], adherent(kind, curves[o.id], curves_from_track(ref))))
    return rows


@torch.no_grad()
def evaluate_mask_video_model(
    model: VideoDiT, text: TextEncoder, seeds: Iterable[int], sprites: SpritesConfig, steps: int,
    generator_seed: int = 0, batch_size: int = 8,
) -> list[ObjectResult]:
    """The paper's pixel-level stage 1: decode the generated colour video; positions and
    areas come from the masks, angles from a similarity fit."""
    dev = next(model.parameters()).device
    cfg = model.cfg
    seeds = list(seeds)
    rows: list[ObjectResult] = []
    gen = torch.Generator().manual_seed(generator_seed)
    for start in range(0, len(seeds), batch_size):
        scenes = [generate_scene(s, sprites) for s in seeds[start : start + batch_size]]
        cond = torch.stack([
            video_condition({"first_frame": sc.first_frame, "first_mask": PALETTE[sc.first_ids]}, cfg.cond_names, cfg.frames)
            for sc in scenes
        ]).to(dev)
        states, mask = text([sc.motion_prompt for sc in scenes])
        states, mask = states.to(dev), mask.to(dev)
        noise = torch.randn(len(scenes), 3, cfg.frames, cfg.height, cfg.width, generator=gen).to(dev)
        conditions = VideoConditions(images=cond, text_states=states, text_mask=mask)
        out = euler_sample(lambda x, t: model(x, t, conditions), noise, steps)
        for sc, video in zip(scenes, to_uint8(out.movedim(1, 2))):
            decoded = MaskTrajectory.from_render(video, sc.trajectory.objects)
            rows += _object_rows(sc, decoded.ids, curves_from_outlines(decoded))
    return rows


@torch.no_grad()
def evaluate_video_model(
    model: VideoDiT, text: TextEncoder, seeds: Iterable[int], sprites: SpritesConfig, steps: int,
    generator_seed: int = 0, batch_size: int = 8, **guidance,
) -> dict[str, float]:
    """Stage 2 given the ground-truth trajectory; pooled PSNR in dB."""
    pipe = VideoPipeline(model, text, device=next(model.parameters()).device)
    meters: dict[str, PooledPSNR] = defaultdict(PooledPSNR)
    seeds = list(seeds)
    gen = torch.Generator().manual_seed(generator_seed)
    for start in range(0, len(seeds), batch_size):
        scenes = [generate_scene(s, sprites) for s in seeds[start : start + batch_size]]
        inputs = [VideoInputs(sc.first_frame, sc.trajectory, sc.global_prompt, warp_preview(sc.first_frame, sc.trajectory)) for sc in scenes]
        videos = to_uint8(pipe.sample(inputs, steps, generator=gen, **guidance).movedim(1, 2))
        for sc, inp, video in zip(scenes, inputs, videos):
            gt, ids = sc.video[1:], sc.ids[1:]
            preds = {"": video[1:], "_copy": np.repeat(sc.first_frame[None], len(gt), axis=0), "_warp": inp.warp[1:]}
            hard = np.zeros_like(ids, dtype=bool)
            recolour = np.zeros_like(ids, dtype=bool)
            for o in sc.objects:
                if o.spec.motion.kind in WARP_HARD:
                    hard |= ids == o.id
                if o.spec.motion.kind == "recolour":  # text alone says what changes
                    recolour |= ids == o.id
            # Background split: pixels background in this frame and the first (static),
            # and pixels an object has left (revealed: no frame so far showed them).
            first_bg = sc.ids[:1] == 0
            regions = (
                ("psnr_hard", hard), ("psnr_recolour", recolour), ("psnr_rest", (ids > 0) & ~recolour),
                ("psnr_static", (ids == 0) & first_bg), ("psnr_revealed", (ids == 0) & ~first_bg),
            )
            for tag, pred in preds.items():
                meters["psnr_obj" + tag].add(pred, gt, ids > 0)
                meters["psnr_full" + tag].add(pred, gt)
                for name, mask in regions:
                    if mask.any():
                        meters[name + tag].add(pred, gt, mask)
    return {k: m.value for k, m in sorted(meters.items())}


def rows_to_json(rows: Sequence[ObjectResult]) -> list[dict]:
    return [asdict(r) for r in rows]


@torch.no_grad()
def evaluate_end_to_end(
    motion_model: MotionDiT, video_model: VideoDiT | None, text: TextEncoder, seeds: Iterable[int],
    sprites: SpritesConfig, motion_steps: int | None = None, video_steps: int | None = None, generator_seed: int = 0,
    batch_size: int = 8,
) -> list[ObjectResult]:
    """Stage 1 then stage 2, then read the motion back out of the generated video with
    the tracker (from the first-frame masks): adherence of what the viewer sees. IoU is
    the tracked masks against the ground-truth trajectory. ``video_model=None`` renders
    with the model-free warp preview instead (the baseline stage 2 must beat)."""
    dev = next(motion_model.parameters()).device
    motion_pipe = MotionPipeline(motion_model, text, device=dev)
    video_pipe = None if video_model is None else VideoPipeline(video_model, text, device=dev)
    tracker = MaskTracker()
    seeds = list(seeds)
    rows: list[ObjectResult] = []
    # Separate streams, so every renderer (a model or the warp preview) gets the same
    # stage-1 trajectories.
    motion_gen = torch.Generator().manual_seed(generator_seed)
    video_gen = torch.Generator().manual_seed(generator_seed + 1)
    for start in range(0, len(seeds), batch_size):
        scenes = [generate_scene(s, sprites) for s in seeds[start : start + batch_size]]
        examples = [stage1_example(sc) for sc in scenes]
        raws = motion_pipe.sample(
            [MotionInputs(ex.features, ex.motion_prompt, ex.local_prompts) for ex in examples], motion_steps, generator=motion_gen
        )
        inputs = []
        for sc, ex, raw in zip(scenes, examples, raws):
            tracks = dict(zip(ex.object_ids, decode_motion(raw, sc.ids.shape[1:])))
            traj = MaskTrajectory(warp_masks(sc.first_ids, tracks, sc.ids.shape[0]), sc.trajectory.objects)
            inputs.append(VideoInputs(sc.first_frame, traj, sc.global_prompt, warp_preview(sc.first_frame, traj, tracks)))
        if video_pipe is None:
            videos = [inp.warp for inp in inputs]
        else:
            videos = to_uint8(video_pipe.sample(inputs, video_steps, generator=video_gen).movedim(1, 2))
        for sc, video in zip(scenes, videos):
            rows += _read_back(sc, video, tracker)
    return rows


def evaluate_read_back_ceiling(seeds: Iterable[int], sprites: SpritesConfig) -> list[ObjectResult]:
    """The end-to-end measure on the scenes' true videos: how much adherence the tracker
    read-back itself loses (the ceiling of `evaluate_end_to_end`)."""
    tracker = MaskTracker()
    rows: list[ObjectResult] = []
    for seed in seeds:
        sc = generate_scene(seed, sprites)
        rows += _read_back(sc, sc.video, tracker)
    return rows


def _read_back(sc, video: np.ndarray, tracker) -> list[ObjectResult]:
    """Track ``video`` (T, H, W, 3) from the scene's first-frame masks and score each
    object's read-back motion (`curves_from_video`: turns from the pixels inside the
    tracked masks) against its words and its true masks."""
    tracked = MaskTrajectory(tracker.track(video, sc.first_ids), sc.trajectory.objects)
    return _object_rows(sc, tracked.ids, curves_from_video(video, tracked))
