"""Is stage 1's motion smooth where it should be?

    python benchmarks/motion_smoothness.py --scenes 40 --seeds 3 --out runs/smoothness.json

For objects whose motion is a constant-speed translation (the eight sprites `move_*`
kinds, and photo objects asked to slide/drift at a steady pace), every frame's step
(the object's displacement between consecutive frames) should equal the mean step:
the table gives, per frame, the range of step / mean step over all sampled objects
(goal: within 0.7-1.3 in every frame). For objects that should stay still it gives the
per-frame jitter (step as % of the width; goal <= 0.3%).

Sources:
- sprites: the first ``--scenes`` test scenes holding a constant-speed or still object,
  sampled with the default stage-1 model over ``--seeds`` generator seeds; the same
  figures for their ground-truth tracks are the reference row.
- photos: scikit-image's bundled pictures (no download), one object each, marked by an
  ellipse in a hand-set box, with a prompt of the kind a user writes ("the cat slides to
  the left at a steady pace"). Stage 1 runs on the 64x64 canvas; the track is then
  scaled to output pixels and resampled to ``--frames`` frames, and the masks are drawn
  with `warp_masks`, so each step of the chain is measured on its own: the track on the
  canvas, the track after scaling and resampling, and the centroid of the drawn masks.

Steps are measured on the tracks' translation (dx, dy); mask centroids only for the
drawn-mask row, and there only between frames where the whole mask is inside the picture
(a mask cut by the frame's edge has a centroid that lags the object).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from maskmotion.data.sprites import SpritesConfig, generate_scene, tracks_from_sprite_params
from maskmotion.data.sprites.motions import DIRECTIONS
from maskmotion.data.sprites.splits import seeds_for
from maskmotion.pipelines import MotionPipeline
from maskmotion.trajectory import MotionTrack, TrajectoryObject, warp_masks

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "src" / "maskmotion" / "weights" / "default" / "motion"
CONSTANT_SPEED = frozenset(DIRECTIONS)  # uniform translation at a fixed rate (motions.py)
STILL = frozenset({"stay"})
RATIO_BOUNDS = (0.7, 1.3)
JITTER_LIMIT = 0.3  # % of the width per frame
CANVAS = 64


@dataclass
class Photo:
    name: str
    loader: str  # skimage.data function
    noun: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the photo's pixels
    moves: tuple[str, ...]  # verb phrases with a constant speed
    still: str = "stays still"


PHOTOS = [
    Photo("chelsea", "chelsea", "cat", (60, 20, 380, 290), ("slides to the left at a steady pace", "drifts right steadily")),
    Photo("astronaut", "astronaut", "astronaut", (130, 20, 400, 500), ("slides to the right at a steady pace", "moves left")),
    Photo("coffee", "coffee", "cup", (170, 20, 460, 260), ("drifts left steadily", "slides up at a steady pace")),
    Photo("rocket", "rocket", "rocket", (200, 40, 290, 400), ("moves up at a steady pace", "slides to the left")),
]


@dataclass
class Rows:
    """Per-sample step series of one row of the table."""

    ratios: list[np.ndarray] = field(default_factory=list)  # (T-1,) step / mean step
    jitter: list[np.ndarray] = field(default_factory=list)  # (T-1,) step in % of the width

    def add_moving(self, xy: np.ndarray, counted: np.ndarray | None = None) -> None:
        """``counted`` (T-1,) bool leaves steps out (NaN in the table), e.g. where the drawn
        mask is cut by the frame's edge."""
        steps = np.linalg.norm(np.diff(xy, axis=0), axis=1)
        if counted is not None:
            steps = np.where(counted, steps, np.nan)
        if np.isfinite(steps).sum() >= 2 and np.nanmean(steps) > 1e-6:
            self.ratios.append(steps / np.nanmean(steps))

    def add_still(self, xy: np.ndarray, width: float) -> None:
        self.jitter.append(np.linalg.norm(np.diff(xy, axis=0), axis=1) / width * 100.0)

    def summary(self) -> dict:
        out: dict = {}
        if self.ratios:
            r = np.stack(self.ratios)
            lo, hi = RATIO_BOUNDS
            counted = np.isfinite(r)
            inside = ~counted | ((r >= lo) & (r <= hi))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # frames no sample counted
                out["moving"] = {
                    "samples": len(r),
                    "steps_counted": round(float(counted.mean()), 3),
                    "ratio_min": np.nanmin(r, 0).round(3).tolist(),
                    "ratio_median": np.nanmedian(r, 0).round(3).tolist(),
                    "ratio_max": np.nanmax(r, 0).round(3).tolist(),
                    "range": [round(float(np.nanmin(r)), 3), round(float(np.nanmax(r)), 3)],
                    "within_bounds": round(float(inside.all(1).mean()), 3),
                }
        if self.jitter:
            j = np.stack(self.jitter)
            out["still"] = {
                "samples": len(j),
                "jitter_mean_pct": j.mean(0).round(3).tolist(),
                "jitter_max_pct": j.max(0).round(3).tolist(),
                "max": round(float(j.max()), 3),
                "within_limit": round(float((j <= JITTER_LIMIT).all(1).mean()), 3),
            }
        return out


def _xy(track: MotionTrack) -> np.ndarray:
    return np.stack([track.dx, track.dy], axis=1)


def _centroids(ids: np.ndarray, oid: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) centroid of each drawn mask, and (T-1,) whether a step is measurable: both
    of its frames show the whole mask (one cut by the frame's edge moves the visible
    centroid less than the object, so those steps are left out)."""
    out, whole = [], []
    for frame in ids:
        m = frame == oid
        ys, xs = np.nonzero(m)
        out.append((xs.mean(), ys.mean()) if len(xs) else (np.nan, np.nan))
        whole.append(len(xs) > 0 and not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()))
    whole = np.asarray(whole)
    return np.asarray(out), whole[1:] & whole[:-1]


def _resampled(track: MotionTrack, frames: int) -> MotionTrack:
    if hasattr(track, "resampled"):
        return track.resampled(frames)
    src, dst = np.linspace(0, 1, track.num_frames), np.linspace(0, 1, frames)
    return MotionTrack.from_array(np.stack([np.interp(dst, src, c) for c in track.as_array().T], axis=1))


def _scaled(track: MotionTrack, fx: float, fy: float) -> MotionTrack:
    if hasattr(track, "scaled"):
        return track.scaled(fx, fy)
    return MotionTrack(track.dx * fx, track.dy * fy, track.sx, track.sy, track.angle)


def _fit(image: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Letterbox onto the square model canvas (edge-padded image, background-padded ids);
    returns the canvas image, ids and the canvas-to-photo scale."""
    try:
        from maskmotion.trajectory import fit_to_model
    except ImportError:  # older layout
        from maskmotion.plan import fit_to_model
    ci, cids, fmap = fit_to_model(image, ids, CANVAS)
    return ci, cids, fmap.src_width / fmap.scaled_width


def sprites_rows(
    pipe: MotionPipeline, n_scenes: int, seeds: int, steps, guidance, wording: str = "classic"
) -> tuple[Rows, Rows]:
    config = SpritesConfig(wording=wording)
    model, truth = Rows(), Rows()
    found = 0
    for scene_seed in seeds_for("test", 4000):
        if found >= n_scenes:
            break
        scene = generate_scene(scene_seed, config)
        wanted = [o for o in scene.objects if o.spec.motion.kind in CONSTANT_SPEED | STILL]
        if not wanted:
            continue
        found += 1
        objects = [TrajectoryObject(id=o.id, name=o.name, prompt=o.local_prompt) for o in scene.objects]
        gt = dict(zip([o.id for o in scene.objects], tracks_from_sprite_params(scene.params(), scene.first_ids, [o.id for o in scene.objects])))
        samples = [
            pipe(scene.first_frame, scene.first_ids, objects, scene.motion_prompt, num_inference_steps=steps,
                 generator=torch.Generator().manual_seed(s), **guidance).tracks
            for s in range(seeds)
        ]  # fmt: skip
        for o in wanted:
            still = o.spec.motion.kind in STILL
            for rows, tracks in [(truth, [gt])] + [(model, samples)]:
                for tr in tracks:
                    xy = _xy(tr[o.id])
                    rows.add_still(xy, config.width) if still else rows.add_moving(xy)
    return model, truth


def photo_rows(pipe: MotionPipeline, seeds: int, frames: int, max_size: int, steps, guidance) -> dict[str, Rows]:
    from skimage import data

    rows = {"canvas track": Rows(), "scaled + resampled": Rows(), "drawn masks": Rows()}
    for photo in PHOTOS:
        image = getattr(data, photo.loader)()
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
        h, w = image.shape[:2]
        ids = np.zeros((h, w), np.uint8)
        x0, y0, x1, y1 = photo.box
        cv2.ellipse(ids, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360, 1, -1)
        ci, cids, to_photo = _fit(image, ids)
        scale = min(1.0, max_size / max(h, w))
        h_out, w_out = max(1, round(h * scale)), max(1, round(w * scale))
        ids_out = cv2.resize(ids, (w_out, h_out), interpolation=cv2.INTER_NEAREST)
        to_out = to_photo * w_out / w
        for verb in (*photo.moves, photo.still):
            still = verb == photo.still
            obj = TrajectoryObject(id=1, name=photo.noun, prompt=f"the {photo.noun} {verb}")
            prompt = f"The {photo.noun} {verb}."
            for s in range(seeds):
                track = pipe(ci, cids, [obj], prompt, num_inference_steps=steps,
                             generator=torch.Generator().manual_seed(s), **guidance).tracks[1]  # fmt: skip
                out = _resampled(_scaled(track, to_out, to_out), frames)
                drawn, whole = _centroids(warp_masks(ids_out, {1: out}, frames), 1)
                for name, xy, width, counted in [("canvas track", _xy(track), CANVAS, None),
                                                 ("scaled + resampled", _xy(out), w_out, None),
                                                 ("drawn masks", drawn, w_out, whole)]:  # fmt: skip
                    rows[name].add_still(xy, width) if still else rows[name].add_moving(xy, counted)
    return rows


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:4.2f}" for v in values)


def print_table(results: dict) -> None:
    lo, hi = RATIO_BOUNDS
    print(f"\nStep / mean step per frame (goal {lo}-{hi}); min / median / max over samples")
    for name, summary in results.items():
        m = summary.get("moving")
        if m:
            counted = f"; {m['steps_counted']:.0%} of steps measurable" if m["steps_counted"] < 1 else ""
            print(f"\n{name}  ({m['samples']} samples; all frames within bounds: {m['within_bounds']:.0%}; range {m['range'][0]:.2f}-{m['range'][1]:.2f}{counted})")
            print(f"  frame  {' '.join(f'{t:4d}' for t in range(1, len(m['ratio_min']) + 1))}")
            for key in ("ratio_min", "ratio_median", "ratio_max"):
                print(f"  {key[6:]:6s} {_fmt(m[key])}")
    print(f"\nStill objects: per-frame jitter, % of the width (goal <= {JITTER_LIMIT})")
    for name, summary in results.items():
        s = summary.get("still")
        if s:
            print(f"\n{name}  ({s['samples']} samples; all frames within limit: {s['within_limit']:.0%}; max {s['max']:.2f}%)")
            print(f"  mean   {_fmt(s['jitter_mean_pct'])}")
            print(f"  max    {_fmt(s['jitter_max_pct'])}")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motion", type=Path, default=DEFAULT_MODEL, help="stage-1 model folder (default: the bundled one)")
    p.add_argument("--scenes", type=int, default=40, help="sprites test scenes with a constant-speed or still object")
    p.add_argument("--seeds", type=int, default=3, help="generator seeds per scene / photo prompt")
    p.add_argument("--frames", type=int, default=24, help="output frames on the photo path (resampled from the model's)")
    p.add_argument("--max-size", type=int, default=512, help="long side of the photo output")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the pipeline's)")
    p.add_argument("--text-guidance", type=float, default=None)
    p.add_argument("--visual-guidance", type=float, default=None)
    p.add_argument("--noise-scale", type=float, default=None, help="stage 1's starting noise scale (temperature; default: the pipeline's)")
    p.add_argument("--smoothing", type=float, default=None, help="stage 1's trend-filter strength (default: the pipeline's)")
    p.add_argument("--wording", default="classic", choices=["classic", "seen", "heldout"],
                   help="how the sprites scenes' prompts are worded (data/sprites/text.py; classic: the v1-v3 language, "
                        "the default so figures compare with earlier runs)")
    p.add_argument("--no-photos", action="store_true")
    p.add_argument("--no-sprites", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = MotionPipeline.from_pretrained(args.motion)
    guidance = {"text_guidance_scale": args.text_guidance, "visual_guidance_scale": args.visual_guidance,
                "noise_scale": args.noise_scale, "smoothing": args.smoothing}
    started = time.time()
    results: dict = {}
    if not args.no_sprites:
        model, truth = sprites_rows(pipe, args.scenes, args.seeds, args.steps, guidance, args.wording)
        results["sprites: ground truth"] = truth.summary()
        results["sprites: stage 1"] = model.summary()
    if not args.no_photos:
        for name, rows in photo_rows(pipe, args.seeds, args.frames, args.max_size, args.steps, guidance).items():
            results[f"photos: {name}"] = rows.summary()
    print_table(results)
    record = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "bounds": {"ratio": list(RATIO_BOUNDS), "jitter_pct": JITTER_LIMIT},
        "results": results,
        "seconds": round(time.time() - started, 1),
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2))
        print(f"\nwrote {args.out}", file=sys.stderr)
    return record


if __name__ == "__main__":
    main()
