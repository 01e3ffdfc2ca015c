"""The motion vocabulary: what each motion does to an object's parametric state.

A motion turns a start position into a `Track`: per frame centre (x, y), scale
(sx, sy), angle and colour. Speed words fix the rate exactly (see `RATES`): "slowly"
always means the same number of pixels per frame, so a model can read speed off the
text. Rates are defined at 64x64 and scale with min(H, W).

Conventions: x right, y down, pixel (i, j) has its centre at (j + 0.5, i + 0.5);
angles in radians, positive = clockwise on screen (because y points down); scale is
along the sprite's own axes, so a squash is sy < 1 < sx.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .world import COLOURS, ShapeGeometry

if TYPE_CHECKING:
    from .config import SpritesConfig

SPEEDS: tuple[str, ...] = ("slow", "medium", "fast")

# Unit vectors in image coordinates (y down).
_S = 1.0 / math.sqrt(2.0)
DIRECTIONS: dict[str, tuple[float, float]] = {
    "move_left": (-1.0, 0.0),
    "move_right": (1.0, 0.0),
    "move_up": (0.0, -1.0),
    "move_down": (0.0, 1.0),
    "move_up_left": (-_S, -_S),
    "move_up_right": (_S, -_S),
    "move_down_left": (-_S, _S),
    "move_down_right": (_S, _S),
}

MOTION_KINDS: tuple[str, ...] = (
    *DIRECTIONS,
    "jump",
    "fall",
    "grow",
    "shrink",
    "spin_cw",
    "spin_ccw",
    "shake",
    "stay",
    "approach",
    "follow",
    "bounce",
    "recolour",
)

# Families are sampled uniformly, then a member within the family: eight directions
# of "move" should not drown out the motions a warp cannot render.
FAMILIES: dict[str, tuple[str, ...]] = {
    "move": tuple(DIRECTIONS),
    "jump": ("jump",),
    "fall": ("fall",),
    "grow": ("grow",),
    "shrink": ("shrink",),
    "spin": ("spin_cw", "spin_ccw"),
    "shake": ("shake",),
    "stay": ("stay",),
    "approach": ("approach",),
    "follow": ("follow",),
    "bounce": ("bounce",),
    "recolour": ("recolour",),
}

RELATIVE: frozenset[str] = frozenset({"approach", "follow"})  # need a target object
# Motions whose centre travels: the ones worth following.
TRAVELLING: frozenset[str] = frozenset({*DIRECTIONS, "bounce", "fall", "jump"})
WALLS: tuple[str, ...] = ("left", "right", "top", "bottom")

# What each speed word fixes, per motion family, at 64x64 (multiplied by min(H,W)/64
# where the unit is pixels). One table, so docs, text and simulation cannot drift.
RATES: dict[str, dict[str, float]] = {
    "translate": {"slow": 0.8, "medium": 1.6, "fast": 2.6},  # px / frame
    "fall": {"slow": 0.12, "medium": 0.22, "fast": 0.38},  # px / frame^2 (gravity)
    "hop": {"slow": 12, "medium": 8, "fast": 5},  # frames per hop
    "scale": {"slow": 0.02, "medium": 0.035, "fast": 0.055},  # log-scale / frame
    "spin": {"slow": 6.0, "medium": 12.0, "fast": 22.0},  # degrees / frame
    "shake": {"slow": 0.15, "medium": 0.25, "fast": 0.4},  # cycles / frame
    "recolour": {"slow": 1.0, "medium": 0.5, "fast": 0.2},  # fraction of the clip
}
RATE_UNITS: dict[str, str] = {
    "translate": "px/frame",
    "fall": "px/frame^2",
    "hop": "frames/hop",
    "scale": "log-scale/frame",
    "spin": "deg/frame",
    "shake": "cycles/frame",
    "recolour": "fraction of clip",
}
SHAKE_AMPLITUDE = {"slow": 1.5, "medium": 2.5, "fast": 3.5}  # px at 64x64
JUMP_HEIGHT = 0.2  # of min(H, W)
MAX_SCALE = 2.6
MIN_SCALE = 0.3
# Squash and stretch: how far the sprite deforms on impact and at top speed.
IMPACT_SQUASH = 0.72  # scale along the impact axis on the contact frame (jump, fall)
# Bounces squash harder the faster they hit the wall.
BOUNCE_SQUASH = {"slow": 0.85, "medium": 0.75, "fast": 0.65}
STRETCH_GAIN = 0.25  # extra length along the motion at full speed


def rate_family(kind: str) -> str:
    if kind in DIRECTIONS or kind in ("approach", "follow", "bounce"):
        return "translate"
    if kind == "jump":
        return "hop"
    if kind in ("grow", "shrink"):
        return "scale"
    if kind in ("spin_cw", "spin_ccw"):
        return "spin"
    if kind in ("fall", "shake", "recolour"):
        return kind
    return "none"  # stay


@dataclass(frozen=True)
class MotionSpec:
    """One object's motion: a vocabulary entry plus what it needs."""

    kind: str
    speed: str = "medium"
    target: int | None = None  # approach / follow: the other object's id
    wall: str | None = None  # bounce: left / right / top / bottom
    colour: str | None = None  # recolour: the colour name it turns into

    def __post_init__(self) -> None:
        if self.kind not in MOTION_KINDS:
            raise ValueError(f"unknown motion {self.kind!r}; choose from {MOTION_KINDS}")
        if self.speed not in SPEEDS:
            raise ValueError(f"unknown speed {self.speed!r}; choose from {SPEEDS}")
        if (self.kind in RELATIVE) != (self.target is not None):
            raise ValueError(f"motion {self.kind!r}: a target is needed exactly for {sorted(RELATIVE)}")
        if (self.kind == "bounce") != (self.wall is not None) or (self.wall and self.wall not in WALLS):
            raise ValueError(f"bounce needs a wall from {WALLS}; other motions none (got {self.wall!r})")
        if (self.kind == "recolour") != (self.colour is not None) or (
            self.colour is not None and self.colour not in COLOURS
        ):
            raise ValueError(f"recolour needs a colour from {tuple(COLOURS)}; others none")

    def rate(self, unit: float = 1.0) -> tuple[float, str]:
        """(value, unit) that the speed word fixes; pixel rates scaled by ``unit``."""
        family = rate_family(self.kind)
        if family == "none":
            return 0.0, ""
        value = float(RATES[family][self.speed])
        if family in ("translate", "fall"):
            value *= unit
        return value, RATE_UNITS[family]

    def to_dict(self, unit: float = 1.0) -> dict[str, Any]:
        out = asdict(self)
        out["rate"], out["rate_unit"] = self.rate(unit)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MotionSpec":
        return cls(**{k: data.get(k) for k in ("kind", "speed", "target", "wall", "colour")})


@dataclass(frozen=True)
class Body:
    """What simulation needs to know about an object's shape and look."""

    radius: float  # px at scale 1
    geometry: ShapeGeometry
    rgb: tuple[int, int, int]


@dataclass
class Track:
    """Per-frame parametric state of one object. All arrays have T rows."""

    center: np.ndarray  # (T, 2) float64 (x, y) px
    scale: np.ndarray  # (T, 2) float64 (sx, sy)
    angle: np.ndarray  # (T,) float64 radians, clockwise
    colour: np.ndarray  # (T, 3) float64 RGB in [0, 255]
    visibility: np.ndarray | None = None  # (T,) float64 in [0, 1], set by rendering

    PARAM_NAMES = ("x", "y", "sx", "sy", "angle", "visibility")

    def params(self) -> np.ndarray:
        """(T, 6) float32: x, y, sx, sy, angle, visibility (see PARAM_NAMES)."""
        vis = self.visibility if self.visibility is not None else np.ones(len(self.angle))
        return np.concatenate(
            [self.center, self.scale, self.angle[:, None], vis[:, None]], axis=1
        ).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        def r(a: np.ndarray, nd: int = 4) -> list:
            return np.round(a, nd).tolist()

        return {
            "center": r(self.center),
            "scale": r(self.scale),
            "angle": r(self.angle),
            "colour": r(self.colour, 2),
            "visibility": r(self.visibility) if self.visibility is not None else None,
        }


def _still(start: tuple[float, float], body: Body, t: int) -> Track:
    return Track(
        center=np.tile(np.asarray(start, dtype=np.float64), (t, 1)),
        scale=np.ones((t, 2)),
        angle=np.zeros(t),
        colour=np.tile(np.asarray(body.rgb, dtype=np.float64), (t, 1)),
    )


def simulate(
    spec: MotionSpec,
    start: tuple[float, float],
    body: Body,
    config: "SpritesConfig",
    target: tuple[Track, Body] | None = None,
) -> Track:
    """The object's track over ``config.num_frames`` frames, starting at ``start``."""
    n = config.num_frames
    unit = config.unit
    t = np.arange(n, dtype=np.float64)
    track = _still(start, body, n)
    kind, speed = spec.kind, spec.speed
    r, geo = body.radius, body.geometry

    if kind in DIRECTIONS:
        v = RATES["translate"][speed] * unit
        track.center += np.outer(t, DIRECTIONS[kind]) * v
    elif kind in ("grow", "shrink"):
        rate = RATES["scale"][speed] * (1.0 if kind == "grow" else -1.0)
        # Cap growth so a large sprite never fills the frame.
        cap = max(1.0, min(MAX_SCALE, 0.45 * config.size_px / (r * geo.reach)))
        track.scale[:] = np.clip(np.exp(rate * t), MIN_SCALE, cap)[:, None]
    elif kind in ("spin_cw", "spin_ccw"):
        sign = 1.0 if kind == "spin_cw" else -1.0
        track.angle = sign * np.deg2rad(RATES["spin"][speed]) * t
    elif kind == "shake":
        amp = SHAKE_AMPLITUDE[speed] * unit
        track.center[:, 0] += amp * np.sin(2.0 * math.pi * RATES["shake"][speed] * t)
    elif kind == "recolour":
        assert spec.colour is not None
        span = max(1, round(RATES["recolour"][speed] * (n - 1)))
        begin = (n - 1 - span) // 2
        w = np.clip((t - begin) / span, 0.0, 1.0)[:, None]
        track.colour = (1.0 - w) * np.asarray(body.rgb, float) + w * np.asarray(COLOURS[spec.colour], float)
    elif kind == "jump":
        _jump(track, body, config, speed)
    elif kind == "fall":
        _fall(track, body, config, speed)
    elif kind == "bounce":
        assert spec.wall is not None
        _bounce(track, body, config, speed, spec.wall)
    elif kind in RELATIVE:
        if target is None:
            raise ValueError(f"{kind} needs the target's track")
        _pursue(track, body, config, speed, target, follow=kind == "follow")
    elif kind != "stay":
        raise AssertionError(kind)
    return track


def _squash(track: Track, f: int, along_y: bool, amount: float) -> None:
    """Area-preserving squash on frame ``f``: ``amount`` < 1 along the impact axis."""
    if along_y:
        track.scale[f] = (1.0 / amount, amount)
    else:
        track.scale[f] = (amount, 1.0 / amount)


def _stretch(track: Track, f: int, along_y: bool, speed_fraction: float) -> None:
    k = 1.0 + STRETCH_GAIN * min(1.0, abs(speed_fraction))
    track.scale[f] = (1.0 / k, k) if along_y else (k, 1.0 / k)


def _jump(track: Track, body: Body, config: "SpritesConfig", speed: str) -> None:
    # Frame 0 rests; then hops of D frames, each starting with a squashed take-off
    # frame (which is also the previous hop's landing) and D-1 frames in the air on
    # a parabola. The bottom stays on the ground while squashed.
    hop = int(RATES["hop"][speed])
    height = JUMP_HEIGHT * config.size_px
    ground = track.center[0, 1]
    base = body.radius * body.geometry.bottom
    for f in range(1, config.num_frames):
        k = (f - 1) % hop
        if k == 0:
            _squash(track, f, True, IMPACT_SQUASH)
            track.center[f, 1] = ground + base * (1.0 - track.scale[f, 1])
        else:
            s = k / hop
            track.center[f, 1] = ground - 4.0 * height * s * (1.0 - s)
            _stretch(track, f, True, 1.0 - 2.0 * s)


def _fall(track: Track, body: Body, config: "SpritesConfig", speed: str) -> None:
    # Free fall from rest, stretched by speed; on reaching the floor one squashed
    # impact frame, one frame recovering, then rest.
    g = RATES["fall"][speed] * config.unit
    floor = float(config.height)
    base = body.radius * body.geometry.bottom
    y0 = track.center[0, 1]
    landed = -1
    for f in range(1, config.num_frames):
        if landed < 0:
            vel = g * f
            _stretch(track, f, True, vel / (8.0 * config.unit))
            y = y0 + 0.5 * g * f * f
            if y + base * track.scale[f, 1] >= floor:
                landed = f
            else:
                track.center[f, 1] = y
                continue
        after = f - landed
        amount = IMPACT_SQUASH if after == 0 else (0.9 if after == 1 else 1.0)
        _squash(track, f, True, amount)
        track.center[f, 1] = floor - base * track.scale[f, 1]


def _bounce(track: Track, body: Body, config: "SpritesConfig", speed: str, wall: str) -> None:
    # Uniform motion towards the wall, mirrored at the contact position; the frame
    # nearest contact is squashed against the wall.
    v = RATES["translate"][speed] * config.unit
    geo, r = body.geometry, body.radius
    axis = 0 if wall in ("left", "right") else 1
    sign = -1.0 if wall in ("left", "top") else 1.0
    near = {"left": geo.half_width, "right": geo.half_width, "top": geo.top, "bottom": geo.bottom}[wall] * r
    limit = near if sign < 0 else (config.width if axis == 0 else config.height) - near
    p0 = track.center[0, axis]
    raw = p0 + sign * v * np.arange(config.num_frames)
    beyond = (raw - limit) * sign  # > 0 once past the wall
    pos = np.where(beyond > 0, limit - sign * beyond, raw)
    track.center[:, axis] = pos
    if (beyond > 0).any():
        f = int(np.argmin(np.abs(beyond)))
        if f > 0:
            _squash(track, f, axis == 1, BOUNCE_SQUASH[speed])
            # Touching the wall with the squashed extent: wall + near * scale.
            track.center[f, axis] = limit - sign * near * (track.scale[f, axis] - 1.0)


def _pursue(
    track: Track, body: Body, config: "SpritesConfig", speed: str, target: tuple[Track, Body], follow: bool
) -> None:
    # Step towards the target's current centre at a fixed speed; approach stops once
    # the two overlap a little (so it occludes or is occluded), follow keeps a gap.
    v = RATES["translate"][speed] * config.unit
    other, other_body = target
    reach = body.radius + other_body.radius
    stop = 1.15 * reach if follow else 0.6 * reach
    pos = track.center[0].copy()
    for f in range(1, config.num_frames):
        d = other.center[f] - pos
        dist = float(np.hypot(*d))
        if dist > stop:
            pos = pos + d / dist * min(v, dist - stop)
        track.center[f] = pos


def start_box(
    spec: MotionSpec, body: Body, config: "SpritesConfig", rng: np.random.Generator
) -> tuple[float, float, float, float]:
    """(x_lo, x_hi, y_lo, y_hi) for the start of a non-relative motion.

    The first frame shows the whole object; afterwards the centre stays in the frame,
    so an object may leave the picture by up to about half (border clipping happens,
    and is recorded in visibility) but never vanishes.
    """
    if spec.kind in RELATIVE:
        raise ValueError("relative motions start near their target; see scene.py")
    geo, r = body.geometry, body.radius
    w, h = float(config.width), float(config.height)
    x_lo, x_hi = r * geo.half_width, w - r * geo.half_width
    y_lo, y_hi = r * geo.top, h - r * geo.bottom
    if spec.kind == "jump":
        # Leave headroom for the hop; big sprites may poke out of the top.
        y_lo = min(max(y_lo, JUMP_HEIGHT * config.size_px + r * geo.top * 0.6), y_hi)
        y_lo = max(y_lo, y_hi - 0.35 * h)  # stand in the lower part of the frame
    elif spec.kind == "fall":
        y_hi = max(y_lo, min(y_hi, 0.45 * h))
    elif spec.kind == "bounce":
        assert spec.wall is not None
        # Put the wall contact between 30% and 65% of the clip.
        v = RATES["translate"][spec.speed] * config.unit
        dist = v * (config.num_frames - 1) * float(rng.uniform(0.3, 0.65))
        if spec.wall == "left":
            x_lo = x_hi = min(x_lo + dist, x_hi)
        elif spec.wall == "right":
            x_lo = x_hi = max(x_hi - dist, x_lo)
        elif spec.wall == "top":
            y_lo = y_hi = min(y_lo + dist, y_hi)
        else:
            y_lo = y_hi = max(y_hi - dist, y_lo)
    else:
        offsets = simulate(spec, (0.0, 0.0), body, config).center  # (T, 2)
        x_lo, x_hi = _intersect(x_lo, x_hi, -offsets[:, 0].min(), w - offsets[:, 0].max())
        y_lo, y_hi = _intersect(y_lo, y_hi, -offsets[:, 1].min(), h - offsets[:, 1].max())
    return x_lo, x_hi, y_lo, y_hi


def _intersect(a_lo: float, a_hi: float, b_lo: float, b_hi: float) -> tuple[float, float]:
    lo, hi = max(a_lo, b_lo), min(a_hi, b_hi)
    if lo <= hi:
        return lo, hi
    # A motion longer than the frame: centre it on what the whole-object rule allows.
    mid = 0.5 * (b_lo + b_hi)
    mid = min(max(mid, a_lo), a_hi)
    return mid, mid
