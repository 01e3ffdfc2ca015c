"""Benchmark suites: the cases a benchmark samples, from the sprites world or a JSONL
manifest (the form a real benchmark such as SA-V-128 takes from a local copy).

Manifest: one JSON object per line; paths are relative to the manifest's folder.

    {"id": "dog-0001",                      # unique; names the outputs
     "image": "images/dog-0001.png",        # first frame x0
     "prompt": "the black dog jumps ...",   # global prompt c
     "masks": "masks/dog-0001.png",         # first-frame ids (id or palette PNG)
     "objects": [{"name": "dog", "prompt": "the black dog jumps"}],  # optional; k-th names id k
     "motion_prompt": "the dog jumps",      # optional; the planner writes one otherwise
     "video": "videos/dog-0001.mp4",        # optional reference video: PSNR, SSIM, FVD
     "trajectory": "traj/dog-0001.npz",     # optional reference trajectory: IoU, centroids
     "kinds": {"1": "jump"}}                # optional sprites motion kinds: adherence

``maskmotion sprites --manifest`` style export: `write_sprites_manifest`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from ..data.sprites import SpritesConfig, generate_scene, tracks_from_sprite_params
from ..data.sprites.splits import seeds_for
from ..errors import InputError
from ..eval.adherence import MotionCurves, curves_from_track
from ..files import atomic_path, parse_json
from ..plan import ObjectRequest, PlannedObject, ScenePlan, load_image, mask_from_png, plan_scene
from ..trajectory import MaskTrajectory, save_id_png
from ..trajectory.core import default_objects
from ..video import read_video, write_video

SPRITES_SUITES = {"sprites-test": "test", "sprites-val": "val"}
DEFAULT_SPRITES_CASES = 48


@dataclass
class BenchCase:
    """One input of a benchmark and what it is judged against."""

    case_id: str
    image: np.ndarray = field(repr=False)  # (H, W, 3) uint8
    prompt: str
    first_ids: np.ndarray = field(repr=False)  # (H, W) uint8
    objects: list[tuple[int, str, str]]  # (id, name, local prompt or "")
    motion_prompt: str = ""
    reference_video: np.ndarray | None = field(default=None, repr=False)  # (T, H, W, 3)
    reference_ids: np.ndarray | None = field(default=None, repr=False)  # (T, H, W)
    kinds: dict[int, str] = field(default_factory=dict)
    reference_curves: dict[int, MotionCurves] = field(default_factory=dict, repr=False)

    @property
    def num_objects(self) -> int:
        return len(self.objects)

    def plan(self):
        """The `ScenePlan`: the case's own prompts where it has them, else the rule planner's."""
        if self.motion_prompt and all(p for _, _, p in self.objects):
            objects = tuple(PlannedObject(i, n, p) for i, n, p in self.objects)
            return ScenePlan(self.prompt, self.motion_prompt, objects, self.first_ids.copy(), source="suite")
        plan = plan_scene(self.prompt, self.first_ids, [ObjectRequest(i, n, p) for i, n, p in self.objects])
        return plan.replace(motion_prompt=self.motion_prompt) if self.motion_prompt else plan


def parse_suite_name(suite: str) -> tuple[str, int | None]:
    """``"sprites-test:100"`` -> ("sprites-test", 100); a path keeps its whole name."""
    name, _, count = suite.partition(":")
    if name in SPRITES_SUITES:
        if count and not count.isdigit():
            raise InputError(f"suite {suite!r}: the part after ':' must be a number of scenes")
        return name, int(count) if count else None
    return suite, None


def load_suite(suite: str, limit: int | None = None) -> list[BenchCase]:
    """Cases of a named sprites suite (``sprites-test[:N]``, ``sprites-val[:N]``) or of a
    JSONL manifest path; ``limit`` keeps the first N."""
    name, count = parse_suite_name(suite)
    if name in SPRITES_SUITES:
        n = limit or count or DEFAULT_SPRITES_CASES
        return list(sprites_cases(SPRITES_SUITES[name], n))
    path = Path(suite)
    if not path.is_file():
        raise InputError(
            f"no suite {suite!r}: give sprites-test[:N], sprites-val[:N] or a JSONL manifest file"
        )
    cases = load_manifest(path)
    return cases[:limit] if limit else cases


def sprites_cases(split: str, n: int) -> Iterator[BenchCase]:
    """The first ``n`` scenes of a sprites split, with their ground truth."""
    config = SpritesConfig()
    for seed in seeds_for(split, n):
        sc = generate_scene(seed, config)
        oids = [o.id for o in sc.objects]
        tracks = tracks_from_sprite_params(sc.params(), sc.first_ids, oids)
        yield BenchCase(
            case_id=f"{split}-{seed:05d}",
            image=sc.first_frame,
            prompt=sc.global_prompt,
            first_ids=sc.first_ids,
            objects=[(o.id, o.name, o.local_prompt) for o in sc.objects],
            motion_prompt=sc.motion_prompt,
            reference_video=sc.video,
            reference_ids=sc.ids,
            kinds={o.id: o.spec.motion.kind for o in sc.objects},
            reference_curves={oid: curves_from_track(tr) for oid, tr in zip(oids, tracks)},
        )


def load_manifest(path: str | Path) -> list[BenchCase]:
    """Read a JSONL manifest (see the module docstring); errors name the line and field."""
    path = Path(path)
    root = path.parent
    cases, seen = [], set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        entry = parse_json(line, where, InputError)
        if not isinstance(entry, dict):
            raise InputError(f"{where}: each line must be a JSON object")
        missing = [k for k in ("id", "image", "prompt", "masks") if not entry.get(k)]
        if missing:
            raise InputError(f"{where}: missing field(s) {missing}; every case needs id, image, prompt and masks")
        known = {"id", "image", "prompt", "masks", "objects", "motion_prompt", "video", "trajectory", "kinds"}
        unknown = sorted(set(entry) - known)
        if unknown:
            raise InputError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
        case_id = str(entry["id"])
        if case_id in seen:
            raise InputError(f"{where}: id {case_id!r} appears twice; ids name the outputs and must be unique")
        if not all(c.isalnum() or c in "-_." for c in case_id):
            raise InputError(f"{where}: id {case_id!r} may hold only letters, digits, '-', '_' and '.'")
        seen.add(case_id)
        image = load_image(root / entry["image"])
        ids = mask_from_png(root / entry["masks"], image.shape[:2])
        present = [int(i) for i in np.unique(ids) if i]
        if not present:
            raise InputError(f"{where}: the mask {entry['masks']} marks no object")
        specs = entry.get("objects") or []
        if specs and len(specs) != len(present):
            raise InputError(f"{where}: {len(specs)} objects listed but the mask holds {len(present)} (ids {present})")
        objects = [
            (oid, str(specs[k].get("name") or f"object_{oid}") if specs else f"object_{oid}",
             str(specs[k].get("prompt", "")) if specs else "")
            for k, oid in enumerate(present)
        ]
        video = read_video(root / entry["video"]) if entry.get("video") else None
        ref_ids = None
        if entry.get("trajectory"):
            ref_ids = MaskTrajectory.load(root / entry["trajectory"]).ids
        for what, arr in (("video", video), ("trajectory", ref_ids)):
            if arr is not None and arr.shape[1:3] != image.shape[:2]:
                raise InputError(f"{where}: the reference {what} is {arr.shape[2]}x{arr.shape[1]}, the image {image.shape[1]}x{image.shape[0]}")
        kinds = {int(k): str(v) for k, v in (entry.get("kinds") or {}).items()}
        cases.append(BenchCase(case_id, image, str(entry["prompt"]), ids, objects, str(entry.get("motion_prompt", "")),
                               video, ref_ids, kinds))
    if not cases:
        raise InputError(f"{path} holds no cases")
    return cases


def write_sprites_manifest(out_dir: str | Path, split: str = "test", n: int = DEFAULT_SPRITES_CASES) -> Path:
    """Write ``n`` sprites scenes as files plus ``suite.jsonl`` (the generic format), so
    the same runner can be checked on files; returns the manifest path."""
    out = Path(out_dir)
    for sub in ("images", "masks", "videos", "traj"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    lines = []
    for case in sprites_cases(split, n):
        cid = case.case_id
        Image.fromarray(case.image).save(out / "images" / f"{cid}.png")
        save_id_png(out / "masks" / f"{cid}.png", case.first_ids)
        write_video(out / "videos" / f"{cid}.mp4", case.reference_video)
        MaskTrajectory(case.reference_ids, default_objects(i for i in np.unique(case.reference_ids) if i)).save(out / "traj" / f"{cid}.npz")
        lines.append(json.dumps({
            "id": cid, "image": f"images/{cid}.png", "prompt": case.prompt, "masks": f"masks/{cid}.png",
            "objects": [{"name": n_, "prompt": p} for _, n_, p in case.objects], "motion_prompt": case.motion_prompt,
            "video": f"videos/{cid}.mp4", "trajectory": f"traj/{cid}.npz",
            "kinds": {str(k): v for k, v in case.kinds.items()},
        }))
    manifest = out / "suite.jsonl"
    with atomic_path(manifest) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest
