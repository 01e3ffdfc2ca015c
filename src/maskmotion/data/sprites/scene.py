"""A sprites scene: sampling its layout from a seed, rendering it, describing it.

``generate_scene(seed, config)`` is a pure function of its arguments: the same seed and
config give identical arrays and identical text on any machine. Layout and text draw
from separate generators spawned from the seed, so rewording a template never moves an
object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ...trajectory import MaskTrajectory, TrajectoryObject
from .config import SIZES, SpritesConfig
from .motions import (
    FAMILIES,
    RATES,
    RELATIVE,
    TRAVELLING,
    WALLS,
    Body,
    MotionSpec,
    Track,
    simulate,
    start_box,
)
from .render import render_frames
from .splits import split_of
from .text import ObjectFacts, reached_edge, scene_text
from .world import (
    COLOURS,
    SHAPE_GEOMETRY,
    BackgroundSpec,
    TextureParams,
    render_background,
    sample_background,
)

FORMAT = "maskmotion.sprites/1"
MAX_ATTEMPTS = 50  # layouts tried before giving up on the first-frame visibility rule
PLACEMENT_TRIES = 24


@dataclass(frozen=True)
class ObjectSpec:
    """Everything that defines one object before simulation. ``id`` is also its depth:
    objects are drawn in id order, so a higher id occludes a lower one."""

    id: int
    colour: str
    shape: str
    size: str
    radius: float  # px at scale 1
    texture: TextureParams
    motion: MotionSpec
    start: tuple[float, float]  # centre (x, y) in the first frame, px

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def body(self) -> Body:
        return Body(self.radius, SHAPE_GEOMETRY[self.shape], COLOURS[self.colour])


@dataclass
class SceneObject:
    spec: ObjectSpec
    track: Track = field(repr=False)
    name: str  # "red circle"
    appearance: str  # "small red striped circle"
    motion_words: str  # "slides to the left slowly"
    local_prompt: str  # "the small red striped circle slides to the left slowly"

    @property
    def id(self) -> int:
        return self.spec.id

    def to_dict(self, unit: float) -> dict[str, Any]:
        s = self.spec
        return {
            "id": s.id,
            "name": self.name,
            "colour": s.colour,
            "rgb": list(COLOURS[s.colour]),
            "shape": s.shape,
            "size": s.size,
            "radius": round(s.radius, 4),
            "texture": vars(s.texture).copy(),
            "appearance": self.appearance,
            "local_prompt": self.local_prompt,
            "motion": {**s.motion.to_dict(unit), "words": self.motion_words},
            "start": [round(c, 4) for c in s.start],
            "track": self.track.to_dict(),
        }


@dataclass
class Scene:
    """One rendered scene with its ground truth.

    video: (T, H, W, 3) uint8 RGB. ids: (T, H, W) uint8, 0 = background, object i = i
    (= its palette index in the mask trajectory).
    """

    seed: int | None
    config: SpritesConfig
    background: BackgroundSpec
    objects: list[SceneObject] = field(repr=False)
    video: np.ndarray = field(repr=False)
    ids: np.ndarray = field(repr=False)
    global_prompt: str
    motion_prompt: str

    @property
    def first_frame(self) -> np.ndarray:
        """(H, W, 3) uint8."""
        return self.video[0]

    @property
    def first_ids(self) -> np.ndarray:
        """(H, W) uint8: the first-frame instance masks s0."""
        return self.ids[0]

    @property
    def local_prompts(self) -> list[str]:
        return [o.local_prompt for o in self.objects]

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objects]

    def params(self) -> np.ndarray:
        """(N, T, 6) float32 per object and frame: x, y, sx, sy, angle, visibility."""
        return np.stack([o.track.params() for o in self.objects])

    def colours(self) -> np.ndarray:
        """(N, T, 3) float32 per-frame object base colour in [0, 255]."""
        return np.stack([o.track.colour for o in self.objects]).astype(np.float32)

    @cached_property
    def trajectory(self) -> "MaskTrajectory":
        """The ground-truth mask trajectory s (object names and local prompts attached)."""
        objects = [TrajectoryObject(id=o.id, name=o.name, prompt=o.local_prompt) for o in self.objects]
        return MaskTrajectory(self.ids, objects)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the pixels: what ``scene.json`` holds."""
        return {
            "format": FORMAT,
            "seed": self.seed,
            "split": split_of(self.seed) if self.seed is not None else None,
            "config": self.config.to_dict(),
            "size": [self.config.height, self.config.width],
            "num_frames": self.config.num_frames,
            "fps": self.config.fps,
            "background": {**vars(self.background), "description": self.background.describe()},
            "global_prompt": self.global_prompt,
            "motion_prompt": self.motion_prompt,
            "param_names": list(Track.PARAM_NAMES),
            "objects": [o.to_dict(self.config.unit) for o in self.objects],
        }


# --------------------------------------------------------------------------- sampling


def _sample_texture(rng: np.random.Generator, config: SpritesConfig, force_pattern: bool) -> TextureParams:
    patterned = [t for t in config.textures if t != "flat"]
    flat_ok = "flat" in config.textures
    if patterned and (force_pattern or not flat_ok or rng.random() >= config.flat_probability):
        kind = str(rng.choice(patterned))
    else:
        kind = "flat"
    return TextureParams(
        kind=kind,
        period_px=float(rng.uniform(4.5, 7.0) * config.unit),
        orientation=float(rng.uniform(0.0, math.pi)),
        phase_u=float(rng.uniform(0.0, 1.0)),
        phase_v=float(rng.uniform(0.0, 1.0)),
    )


def _sample_kinds(rng: np.random.Generator, config: SpritesConfig, n: int) -> list[str]:
    families = [[k for k in members if k in config.motions] for members in FAMILIES.values()]
    families = [f for f in families if f]
    kinds = [str(rng.choice(families[int(rng.integers(len(families)))])) for _ in range(n)]
    # A relative motion needs a non-relative target; the first such object cannot
    # have one if everyone is relative, so it falls back to a motion of its own.
    own = [k for k in config.motions if k not in RELATIVE] or ["stay"]
    if all(k in RELATIVE for k in kinds):
        kinds[0] = str(rng.choice(own))
    return kinds


def _sample_motion(
    rng: np.random.Generator, config: SpritesConfig, kind: str, colour: str, kinds: list[str]
) -> tuple[str, str | None, str | None, int | None]:
    """(kind, wall, new colour, target id) for an object whose drawn kind is ``kind``."""
    wall = new_colour = target = None
    if kind in RELATIVE:
        candidates = [i + 1 for i, k in enumerate(kinds) if k not in RELATIVE]
        if kind == "follow":
            travelling = [i for i in candidates if kinds[i - 1] in TRAVELLING]
            if travelling:
                candidates = travelling
            elif "approach" in config.motions:
                kind = "approach"  # following a still object would just be approaching it
        target = int(rng.choice(candidates))
    elif kind == "bounce":
        wall = str(rng.choice(WALLS))
    elif kind == "recolour":
        options = [c for c in config.colours if c != colour] or [c for c in COLOURS if c != colour]
        new_colour = str(rng.choice(options))
    return kind, wall, new_colour, target


def _place(
    candidates: list[tuple[float, float]],
    radius: float,
    placed: list[tuple[tuple[float, float], float]],
) -> tuple[float, float]:
    """The first candidate that keeps first frames apart, else the least crowded one."""
    best, best_score = candidates[0], -math.inf
    for c in candidates:
        score = min(
            (math.hypot(c[0] - p[0], c[1] - p[1]) / (0.9 * (radius + r)) for p, r in placed),
            default=math.inf,
        )
        if score >= 1.0:
            return c
        if score > best_score:
            best, best_score = c, score
    return best


def _uniform(rng: np.random.Generator, box: tuple[float, float, float, float], n: int) -> list[tuple[float, float]]:
    x_lo, x_hi, y_lo, y_hi = box
    xs = rng.uniform(x_lo, x_hi, n) if x_hi > x_lo else np.full(n, x_lo)
    ys = rng.uniform(y_lo, y_hi, n) if y_hi > y_lo else np.full(n, y_lo)
    return [(float(x), float(y)) for x, y in zip(xs, ys)]


def _relative_candidates(
    rng: np.random.Generator, spec: MotionSpec, body: Body, target: tuple[ObjectSpec, Track], config: SpritesConfig
) -> list[tuple[float, float]]:
    geo, r = body.geometry, body.radius
    box = (r * geo.half_width, config.width - r * geo.half_width, r * geo.top, config.height - r * geo.bottom)
    other, track = target
    v = RATES["translate"][spec.speed] * config.unit
    reach = body.radius + other.radius
    start = np.asarray(other.start)
    if spec.kind == "follow":
        # Behind the target, on the line it travels along, with some jitter.
        travel = track.center[-1] - track.center[0]
        norm = float(np.hypot(*travel))
        direction = travel / norm if norm > 1e-6 else np.array([1.0, 0.0])
        out = []
        for _ in range(PLACEMENT_TRIES):
            gap = 1.25 * reach + rng.uniform(0.0, 6.0) * config.unit
            p = start - direction * gap + rng.normal(0.0, 2.0 * config.unit, 2)
            out.append((float(np.clip(p[0], box[0], box[1])), float(np.clip(p[1], box[2], box[3]))))
        # Behind may be off-screen (clamped onto the target): then anywhere will do.
        return out + _uniform(rng, box, PLACEMENT_TRIES)
    # Approach: far enough that the closing is visible.
    wanted = reach + 0.35 * v * (config.num_frames - 1)
    cands = _uniform(rng, box, PLACEMENT_TRIES * 2)
    far = [c for c in cands if math.hypot(c[0] - start[0], c[1] - start[1]) >= wanted]
    if far:
        return far
    return sorted(cands, key=lambda c: -math.hypot(c[0] - start[0], c[1] - start[1]))[:1]


def sample_specs(rng: np.random.Generator, config: SpritesConfig) -> tuple[BackgroundSpec, list[ObjectSpec]]:
    """Draw a background and objects (appearance, motion and start) for one layout."""
    background = sample_background(rng, config.backgrounds, config.size_px)
    n = int(rng.integers(config.min_objects, config.max_objects + 1))
    # Unique colour+shape pairs give unique names; colours or shapes alone may repeat,
    # so binding text to an object needs both words.
    pairs = [(c, s) for c in config.colours for s in config.shapes]
    chosen = [pairs[i] for i in rng.choice(len(pairs), size=n, replace=False)]
    kinds = _sample_kinds(rng, config, n)
    drafts = []
    for i, ((colour, shape), drawn) in enumerate(zip(chosen, kinds)):
        kind, wall, new_colour, target = _sample_motion(rng, config, drawn, colour, kinds)
        speed = "medium" if kind == "stay" else str(rng.choice(config.speeds))
        motion = MotionSpec(kind=kind, speed=speed, target=target, wall=wall, colour=new_colour)
        size = str(rng.choice(config.sizes))
        radius = SIZES[size] * config.size_px * float(rng.uniform(0.92, 1.08))
        # A spinning sprite gets a pattern, so the rotation shows in its pixels.
        texture = _sample_texture(rng, config, force_pattern=kind.startswith("spin"))
        drafts.append(dict(id=i + 1, colour=colour, shape=shape, size=size, radius=radius, texture=texture, motion=motion))

    # Place objects with their own motion first, then those that move relative to them.
    specs: dict[int, ObjectSpec] = {}
    tracks: dict[int, Track] = {}
    placed: list[tuple[tuple[float, float], float]] = []
    order = sorted(drafts, key=lambda d: d["motion"].kind in RELATIVE)
    for d in order:
        body = Body(d["radius"], SHAPE_GEOMETRY[d["shape"]], COLOURS[d["colour"]])
        motion: MotionSpec = d["motion"]
        if motion.kind in RELATIVE:
            assert motion.target is not None
            target = (specs[motion.target], tracks[motion.target])
            candidates = _relative_candidates(rng, motion, body, target, config)
        else:
            candidates = _uniform(rng, start_box(motion, body, config, rng), PLACEMENT_TRIES)
        start = _place(candidates, d["radius"], placed)
        spec = ObjectSpec(start=start, **d)
        specs[spec.id] = spec
        tracks[spec.id] = simulate_spec(spec, config, specs, tracks)
        placed.append((start, spec.radius))
    return background, [specs[i + 1] for i in range(n)]


def simulate_spec(
    spec: ObjectSpec, config: SpritesConfig, specs: dict[int, ObjectSpec], tracks: dict[int, Track]
) -> Track:
    target = None
    if spec.motion.target is not None:
        target = (tracks[spec.motion.target], specs[spec.motion.target].body)
    return simulate(spec.motion, spec.start, spec.body, config, target)


# -------------------------------------------------------------------------- assembling


def build_scene(
    background: BackgroundSpec,
    specs: list[ObjectSpec],
    config: SpritesConfig,
    text_rng: np.random.Generator | int = 0,
    seed: int | None = None,
) -> Scene:
    """Simulate, render and describe explicit specs (tests and hand-made scenes use this).

    ``specs`` must have ids 1..N in order; relative motions must target an object
    whose own motion is not relative.
    """
    if [s.id for s in specs] != list(range(1, len(specs) + 1)):
        raise ValueError(f"object ids must be 1..N in order, got {[s.id for s in specs]}")
    by_id = {s.id: s for s in specs}
    for s in specs:
        t = s.motion.target
        if t is not None and (t not in by_id or t == s.id or by_id[t].motion.kind in RELATIVE):
            raise ValueError(f"object {s.id}: target {t} must be another object with its own motion")
    tracks: dict[int, Track] = {}
    for s in sorted(specs, key=lambda s: s.motion.kind in RELATIVE):
        tracks[s.id] = simulate_spec(s, config, by_id, tracks)
    bg = render_background(background, config.height, config.width)
    sprites = [(s.id, s.shape, s.texture, s.radius, tracks[s.id]) for s in specs]
    video, ids = render_frames(bg, sprites, config.num_frames)

    rng = np.random.default_rng(text_rng) if isinstance(text_rng, int) else text_rng
    facts = [
        ObjectFacts(s.colour, s.shape, s.texture.kind, s.size, s.motion, _edge_reached(s, tracks[s.id], config))
        for s in specs
    ]
    words, global_prompt, motion_prompt, local = scene_text(facts, background.describe(), rng, config.wording)
    objects = [
        SceneObject(spec=s, track=tracks[s.id], name=w.name, appearance=w.appearance, motion_words=w.motion, local_prompt=lp)
        for s, w, lp in zip(specs, words, local)
    ]
    return Scene(
        seed=seed,
        config=config,
        background=background,
        objects=objects,
        video=video,
        ids=ids,
        global_prompt=global_prompt,
        motion_prompt=motion_prompt,
    )


def _edge_reached(spec: ObjectSpec, track: Track, config: SpritesConfig) -> str | None:
    """The frame edge a straight move ends at (within 2 px at 64x64), for the words."""
    geo, r = SHAPE_GEOMETRY[spec.shape], spec.radius
    extent = {"left": r * geo.half_width, "right": r * geo.half_width, "top": r * geo.top, "bottom": r * geo.bottom}
    end = (float(track.center[-1, 0]), float(track.center[-1, 1]))
    return reached_edge(spec.motion.kind, end, extent, config.width, config.height, 2.0 * config.unit)


def generate_scene(seed: int, config: SpritesConfig | None = None) -> Scene:
    """The scene for ``seed``: deterministic in (seed, config)."""
    config = config or SpritesConfig()
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    layout_seq, text_seq = np.random.SeedSequence(int(seed)).spawn(2)
    layout_rng = np.random.default_rng(layout_seq)
    for _ in range(MAX_ATTEMPTS):
        background, specs = sample_specs(layout_rng, config)
        scene = build_scene(background, specs, config, np.random.default_rng(text_seq), seed=int(seed))
        if min(o.track.visibility[0] for o in scene.objects) >= config.min_first_visibility:
            return scene
    # Crowded configs (many large objects in a small frame) may never pass; keep the
    # last layout rather than fail, as the rule is a preference for clear first frames.
    return scene
