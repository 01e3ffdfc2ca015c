"""The benchmark runner: every variant on the same cases and seeds.

For each (case, seed) job, stage 1 runs once (the same motion model and seed for every
variant, so variants differ only in stage 2), then each variant renders its video, which
is scored and written as one record file. A record on disk means that sample is done:
a rerun skips it (resume). Jobs are dealt round-robin to ``workers`` local processes, or
to the processes of ``accelerate launch`` / ``torchrun`` (one shard per rank, rank 0
writes the report when all are done).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from tqdm.auto import tqdm

from ..errors import InputError
from ..eval import average_displacement, frame_consistency, ssim
from ..eval.adherence import adherent, curves_from_outlines, curves_from_video
from ..eval.clip import clip_scorer_or_none
from ..eval.fvd import RandomConv3DFeatures
from ..eval.metrics import centroid_error, identity_swaps, mask_iou_per_object, psnr
from ..files import atomic_path, sha256_file
from ..models.io import load_model
from ..pipelines import AnimatePipeline, CompactVideo, MotionPipeline, MotionResult, Scene, VideoPipeline
from ..text import TextEncoder
from ..track import MaskTracker
from ..trajectory import MaskTrajectory
from ..video import write_video
from ..weights import resolve_model_folder
from .report import record_path, write_report
from .suite import BenchCase, load_suite
from .variants import MOTION_CONDITIONS, Variant, resolve_variant

logger = logging.getLogger(__name__)

RECORD_VERSION = 1


@dataclass
class BenchConfig:
    suite: str
    variants: list[str]
    out: str
    seeds: list[int] = field(default_factory=lambda: [0])
    limit: int | None = None
    weights: str | None = None
    """Folder of variant model folders; None = the bundled ablation weights."""
    motion: str = "default"
    """Stage-1 model: a bundled name or a folder (with motion/ or itself a model folder)."""
    steps: int | None = None
    """Sampler steps for both stages; None keeps each pipeline's default."""
    workers: int = 1
    device: str = "cpu"
    save_videos: bool = True
    clip: str | None = None
    """Local CLIP model folder for clip_t / clip_i / clip_cf; None (and no $MASKMOTION_CLIP) skips them."""

    def check(self) -> None:
        if not self.variants:
            raise InputError("no variants given; e.g. --variants ttm-paper,ti2v")
        if len(set(self.variants)) != len(self.variants):
            raise InputError(f"a variant is named twice in {self.variants}")
        if not self.seeds:
            raise InputError("no seeds given; e.g. --seeds 0 or --seeds 0,1,2")
        if self.workers < 1:
            raise InputError(f"workers must be at least 1, got {self.workers}")
        if self.steps is not None and self.steps < 1:
            raise InputError(f"steps must be at least 1, got {self.steps}")


def run_bench(config: BenchConfig, progress: bool = True) -> dict[str, Any]:
    """Run (or finish) a benchmark and write its report; returns the results."""
    config.check()
    variants = [resolve_variant(v, config.weights) for v in config.variants]
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    _write_config(out, config, variants)
    rank, world = _distributed_rank()
    if world > 1:
        # Launched by accelerate/torchrun: this process is one shard.
        run_shard(config, variants, rank, world, progress=progress and rank == 0)
        _barrier()
        if rank != 0:
            return {}
    elif config.workers > 1:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(config.workers, mp_context=ctx) as pool:
            futures = [pool.submit(_shard_worker, config, r, config.workers) for r in range(config.workers)]
            for f in futures:
                f.result()  # re-raises a worker's error here
    else:
        run_shard(config, variants, 0, 1, progress=progress)
    cases = load_suite(config.suite, config.limit)
    return write_report(out, config, variants, cases)


def _shard_worker(config: BenchConfig, rank: int, world: int) -> None:
    from transformers.utils import logging as hf_logging  # lazy: transformers is heavy; only workers need it

    torch.set_num_threads(1)  # one core per worker
    logging.basicConfig(level=logging.WARNING)
    hf_logging.disable_progress_bar()
    variants = [resolve_variant(v, config.weights) for v in config.variants]
    run_shard(config, variants, rank, world, progress=rank == 0)


def run_shard(config: BenchConfig, variants: list[Variant], rank: int, world: int, progress: bool = True) -> int:
    """Run this shard's unfinished samples; returns how many records it wrote."""
    out = Path(config.out)
    cases = load_suite(config.suite, config.limit)
    jobs = [(c, s) for c in cases for s in config.seeds][rank::world]
    todo = [(c, s, [v for v in variants if not record_path(out, v.name, c.case_id, s).is_file()]) for c, s in jobs]
    todo = [t for t in todo if t[2]]
    if not todo:
        return 0
    pipes = _Pipelines(config, variants)
    written = 0
    bar = tqdm(total=sum(len(v) for _, _, v in todo), desc=f"bench shard {rank + 1}/{world}", disable=not progress)
    for case, seed, pending in todo:
        planned = pipes.stage1(case, seed)
        if config.save_videos:
            _save_inputs(out, case)
            _save_trajectory(out, case.case_id, seed, planned.trajectory)
        for variant in pending:
            start = time.perf_counter()
            video = pipes.render(variant, case, planned, seed)
            rec = score_sample(case, planned.trajectory, video, variant, pipes.conditions(variant), pipes.clip)
            rec.update(variant=variant.name, case=case.case_id, seed=seed, num_objects=case.num_objects,
                       seconds=round(time.perf_counter() - start, 3), version=RECORD_VERSION)
            if config.save_videos:
                rec["video_file"] = _save_video(out, variant.name, case.case_id, seed, video)
            path = record_path(out, variant.name, case.case_id, seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(rec), encoding="utf-8")
            written += 1
            bar.update(1)
    bar.close()
    return written


class _Pipelines:
    """The models of one shard, loaded once: stage 1 and each variant's stage 2."""

    def __init__(self, config: BenchConfig, variants: list[Variant]):

        self.steps = config.steps
        dev = config.device
        self.clip = clip_scorer_or_none(config.clip, dev)
        self.text = TextEncoder(device=dev)
        motion = MotionPipeline(load_model(resolve_model_folder(config.motion, "motion"), dev), self.text, dev)
        self.planner = AnimatePipeline(motion, None)
        self.planner.set_progress_bar_config(disable=True)
        self.render_pipes: dict[str, AnimatePipeline] = {}
        for v in variants:
            if v.renderer == "reference":
                continue
            video = VideoPipeline(load_model(v.folder, dev), self.text, dev) if v.folder is not None else None
            stage = CompactVideo(video, dual_clock=v.dual_clock) if video is not None else None
            pipe = AnimatePipeline(None, stage)
            pipe.set_progress_bar_config(disable=True)
            self.render_pipes[v.name] = pipe

    def conditions(self, variant: Variant) -> list[str]:
        if variant.renderer == "reference":
            return []  # not conditioned on stage 1's trajectory
        stage = self.render_pipes[variant.name].video_stage
        return list(stage.pipe.model.cfg.cond_names) if stage is not None else ["first_frame", "warp"]

    def stage1(self, case: BenchCase, seed: int) -> MotionResult:
        return self.planner.motion(Scene(case.image, case.plan()), num_inference_steps=self.steps, seed=seed)

    def render(self, variant: Variant, case: BenchCase, planned: MotionResult, seed: int) -> np.ndarray:
        if variant.renderer == "reference":
            if case.reference_video is None:
                raise InputError(f"case {case.case_id} has no reference video; drop the 'reference' variant")
            t, h, w = planned.trajectory.ids.shape
            return _match_video(case.reference_video, t, h, w)
        # Every variant renders the scene it was given, whatever its size: no "auto" here.
        result = self.render_pipes[variant.name].render(
            planned.scene, planned, renderer=variant.renderer, num_inference_steps=variant.steps or self.steps, seed=seed
        )
        return result.video


# ---- scoring ------------------------------------------------------------------------------
def score_sample(
    case: BenchCase, trajectory, video: np.ndarray, variant: Variant, conditions: list[str], clip=None
) -> dict[str, Any]:
    """Every metric of one generated video: per object (IoU against the trajectory it was
    conditioned on and against the reference, centroid error, identity swaps, adherence)
    and per video (PSNR/SSIM against the reference, AD, frame consistency, FVD features)."""
    t, h, w = video.shape[:3]
    tracked = MaskTracker().track(video, trajectory.ids[0])
    oids = [o.id for o in trajectory.objects]
    conditioned = any(c in conditions for c in MOTION_CONDITIONS)
    cond_iou = mask_iou_per_object(tracked, trajectory.ids, oids) if conditioned else {}
    ref_ids = _match_ids(case.reference_ids, t, h, w)
    ref_video = _match_video(case.reference_video, t, h, w)
    gt_iou = mask_iou_per_object(tracked, ref_ids, oids) if ref_ids is not None else {}
    cerr = centroid_error(tracked, ref_ids, oids) if ref_ids is not None else {}
    swaps = identity_swaps(tracked, ref_ids, oids) if ref_ids is not None else {}
    # Motion as the viewer sees it: turns come from the pixels inside the tracked masks.
    seen = curves_from_video(video, MaskTrajectory(tracked, trajectory.objects)) if case.kinds else {}
    ref_read: dict = {}  # the reference's curves, read once if some object needs them
    objects = []
    for oid in oids:
        row: dict[str, Any] = {"id": oid, "kind": case.kinds.get(oid, "")}
        if conditioned:
            row["cond_iou"] = cond_iou[oid]
        if ref_ids is not None:
            row.update(gt_iou=gt_iou[oid], centroid_err=_finite(cerr[oid]), id_swaps=swaps[oid])
        if oid in case.kinds:
            ref_curves = case.reference_curves.get(oid)
            if ref_curves is None and ref_ids is not None:
                ref_read = ref_read or _reference_curves(ref_ids, ref_video, trajectory.objects)
                ref_curves = ref_read.get(oid)
            if ref_curves is not None and len(ref_curves.disp) == t:
                row["adherent"] = bool(adherent(case.kinds[oid], seen[oid], ref_curves))
        objects.append(row)
    vid: dict[str, Any] = {"ad": average_displacement(video), "cf": frame_consistency(video)}
    if ref_video is not None and variant.renderer != "reference":  # the reference against itself: no figure
        vid["psnr"] = psnr(video[1:], ref_video[1:])
        vid["ssim"] = ssim(video[1:], ref_video[1:])
        if ref_ids is not None and (ref_ids[1:] > 0).any():
            vid["psnr_obj"] = psnr(video[1:], ref_video[1:], ref_ids[1:] > 0)
    if clip is not None:
        # ViCLIP-V's idea: similarity to the input image held still.
        vid.update(clip.scores(video, case.prompt, _match_video(case.image[None], 1, h, w)[0]))
    features = RandomConv3DFeatures()(video[None])[0]
    return {"objects": objects, "video": vid, "fvd_features": [round(float(x), 6) for x in features]}


def _reference_curves(ref_ids: np.ndarray, ref_video: np.ndarray | None, objects) -> dict:
    """The reference's curves per object: read like the generated video's where the
    reference video is there, else from its masks alone (turns from the outlines)."""
    traj = MaskTrajectory(ref_ids, objects)
    return curves_from_video(ref_video, traj) if ref_video is not None else curves_from_outlines(traj)


def _finite(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _match_ids(ids: np.ndarray | None, t: int, h: int, w: int) -> np.ndarray | None:
    """Reference ids at the generated video's frames and size (nearest in both)."""
    if ids is None:
        return None
    ids = ids[np.round(np.linspace(0, len(ids) - 1, t)).astype(int)]
    if ids.shape[1:] != (h, w):
        ids = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_NEAREST) for f in ids])
    return ids


def _match_video(video: np.ndarray | None, t: int, h: int, w: int) -> np.ndarray | None:
    if video is None:
        return None
    video = video[np.round(np.linspace(0, len(video) - 1, t)).astype(int)]
    if video.shape[1:3] != (h, w):
        video = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in video])
    return video


# ---- files --------------------------------------------------------------------------------
def _save_inputs(out: Path, case: BenchCase) -> None:

    folder = out / "videos" / case.case_id
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "input.png").is_file():
        with atomic_path(folder / "input.png") as tmp:
            Image.fromarray(case.image).save(tmp, format="PNG")
    if case.reference_video is not None and not (folder / "reference.gif").is_file():
        write_video(folder / "reference.gif", case.reference_video)


def _save_video(out: Path, variant: str, case_id: str, seed: int, video: np.ndarray) -> str:
    rel = Path("videos") / case_id / f"{variant}_s{seed}.gif"
    write_video(out / rel, video)
    return rel.as_posix()


def _save_trajectory(out: Path, case_id: str, seed: int, trajectory) -> str:
    rel = Path("videos") / case_id / f"trajectory_s{seed}.gif"
    if not (out / rel).is_file():
        write_video(out / rel, trajectory.render())
    return rel.as_posix()


def _weights_fingerprints(config: BenchConfig, variants: list[Variant]) -> dict[str, str]:
    """SHA-256 of every model file the samples depend on (stage 1 and each variant)."""
    prints = {"stage1": sha256_file(resolve_model_folder(config.motion, "motion") / "model.safetensors")}
    for v in variants:
        if v.folder is not None:
            prints[v.name] = sha256_file(v.folder / "model.safetensors")
    return prints


def _write_config(out: Path, config: BenchConfig, variants: list[Variant]) -> None:
    """bench.json: the run's settings and weights. A resumed run must ask for the same
    samples: other settings, or other weights under a name already sampled, are refused."""
    path = out / "bench.json"
    data = asdict(config)
    same = {k: data[k] for k in ("suite", "limit", "weights", "motion", "steps", "clip")}
    prints = _weights_fingerprints(config, variants)
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        changed = [k for k, v in same.items() if old.get(k) != v]
        old_prints = old.get("fingerprints", {})
        changed += [f"the weights of {k}" for k, v in prints.items() if k in old_prints and old_prints[k] != v]
        if changed:
            raise InputError(
                f"{out} holds a benchmark run with other settings ({', '.join(changed)}); "
                "use another --out, or the same settings to resume it"
            )
        prints = {**old_prints, **prints}
    data["fingerprints"] = prints
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _distributed_rank() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _barrier() -> None:
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    dist.barrier()
