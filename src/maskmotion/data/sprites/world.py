"""What the sprites world is made of: shapes, colours, textures and backgrounds.

Every shape is an implicit function on canonical sprite coordinates ``(u, v)``: the
sprite's own frame, ``u`` to its right, ``v`` down, one unit = the sprite's radius.
Rendering maps each pixel centre into that frame (undoing centre, rotation and the
per-axis scale) and asks the shape whether it is inside. Textures are functions of the
same ``(u, v)``, so a spinning sprite's stripes turn with it and a squashed sprite's
dots squash with it: the appearance follows the parametric state, not a warp of the
first frame. There is no antialiasing: a pixel is either the object's or not, so the
RGB object pixels and the id mask are the same set by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import cv2

# ---------------------------------------------------------------------------- colours

# Vivid object colours; the backgrounds below are all dark and muted so that every
# object reads against every background.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (240, 220, 40),
    "green": (50, 190, 70),
    "cyan": (40, 210, 220),
    "blue": (50, 90, 235),
    "purple": (150, 70, 210),
    "pink": (245, 120, 190),
    "white": (235, 235, 235),
    "brown": (160, 100, 50),
}

BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "grey": (70, 70, 75),
    "navy": (25, 35, 80),
    "dark green": (30, 70, 40),
    "maroon": (80, 30, 35),
    "teal": (25, 75, 80),
    "plum": (65, 35, 75),
    "olive": (75, 75, 35),
    "black": (18, 18, 20),
}


def secondary_colour(rgb: np.ndarray) -> np.ndarray:
    """The texture's second tone: the base pulled towards white, or darkened.

    Pulling towards the far end of the luminance range keeps the pattern visible for
    dark colours (blue gets pale stripes) and for light ones (yellow gets dark ones),
    while the sprite still reads as its named colour. ``rgb`` is ``(..., 3)`` float.
    """
    luma = rgb @ np.array([0.299, 0.587, 0.114]) / 255.0
    dark = luma[..., None] < 0.55
    # Light colours are only darkened by 40%: darker would melt into the dark
    # backgrounds and make the silhouette look broken.
    return np.where(dark, rgb + 0.55 * (255.0 - rgb), 0.6 * rgb)


# ----------------------------------------------------------------------------- shapes

ShapeFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _circle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u * u + v * v <= 1.0


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 0.8


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Equilateral, apex up (v points down), centroid at the origin.
    return (v <= 0.5) & (np.abs(u) * math.sqrt(3.0) <= v + 1.0)


def _diamond(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Narrower than tall, so it is never a square rotated by 45 degrees.
    return np.abs(u) / 0.7 + np.abs(v) <= 1.0


_STAR_POINTS = 5
_STAR_INNER = 0.45
_SECTOR = 2.0 * math.pi / _STAR_POINTS
# Edge from the tip (1, 0) to the inner corner, in (radial, tangential) coordinates of
# the folded sector; a point is inside when it lies on the origin's side of that edge.
_STAR_P2 = (_STAR_INNER * math.cos(_SECTOR / 2), _STAR_INNER * math.sin(_SECTOR / 2))


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    radius = np.sqrt(u * u + v * v)
    alpha = np.arctan2(u, -v)  # 0 = straight up, so one tip points up
    folded = np.abs(np.mod(alpha + _SECTOR / 2, _SECTOR) - _SECTOR / 2)
    a = radius * np.cos(folded) - 1.0
    b = radius * np.sin(folded)
    ex, ey = _STAR_P2[0] - 1.0, _STAR_P2[1]
    # Cross product sign: the origin (a=-1, b=0) gives ex*0 - ey*(-1) = ey > 0.
    return ex * b - ey * a >= 0.0


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    x = 1.1 * u
    y = -1.1 * v + 0.12  # the classic curve has y up and sits slightly high
    s = x * x + y * y - 1.0
    return s * s * s - x * x * y * y * y <= 0.0


def _ring(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r2 = u * u + v * v
    return (r2 <= 1.0) & (r2 >= 0.55**2)


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    return (np.maximum(au, av) <= 0.92) & (np.minimum(au, av) <= 0.32)


def _crescent(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (u * u + v * v <= 1.0) & ((u - 0.45) ** 2 + v * v >= 0.8**2)


SHAPES: dict[str, ShapeFn] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "diamond": _diamond,
    "star": _star,
    "heart": _heart,
    "ring": _ring,
    "cross": _cross,
    "crescent": _crescent,
}


@dataclass(frozen=True)
class ShapeGeometry:
    """Measured extents of a shape in canonical units (for walls, floors and boxes)."""

    half_width: float  # max |u| inside the shape
    top: float  # max -v inside (how far the shape reaches up)
    bottom: float  # max v inside (how far it reaches down: what rests on the floor)
    reach: float  # max sqrt(u^2 + v^2): the bounding radius under any rotation
    area: float  # area in canonical units^2


def _measure(fn: ShapeFn, n: int = 401) -> ShapeGeometry:
    axis = np.linspace(-1.5, 1.5, n)
    v, u = np.meshgrid(axis, axis, indexing="ij")
    inside = fn(u, v)
    step = axis[1] - axis[0]
    return ShapeGeometry(
        half_width=float(np.abs(u[inside]).max() + step),
        top=float((-v[inside]).max() + step),
        bottom=float(v[inside].max() + step),
        reach=float(np.sqrt(u[inside] ** 2 + v[inside] ** 2).max() + step),
        area=float(inside.sum() * step * step),
    )


SHAPE_GEOMETRY: dict[str, ShapeGeometry] = {name: _measure(fn) for name, fn in SHAPES.items()}

# ---------------------------------------------------------------------------- textures

TEXTURES: tuple[str, ...] = ("flat", "stripes", "checker", "dots", "gradient")

# The word each texture contributes to an object's appearance ("" for flat).
TEXTURE_WORDS: dict[str, tuple[str, ...]] = {
    "flat": ("",),
    "stripes": ("striped",),
    "checker": ("checkered", "chequered"),
    "dots": ("dotted", "spotted", "polka-dot"),
    "gradient": ("shaded", "gradient"),
}


@dataclass(frozen=True)
class TextureParams:
    """A texture fixed in the sprite's frame. ``period_px`` is at scale 1."""

    kind: str = "flat"
    period_px: float = 5.0
    orientation: float = 0.0  # radians, direction of stripes' and gradient's variation
    phase_u: float = 0.0
    phase_v: float = 0.0


def texture_weight(tex: TextureParams, u: np.ndarray, v: np.ndarray, radius: float) -> np.ndarray | None:
    """Blend weight in [0, 1] towards the secondary tone at canonical ``(u, v)``.

    ``None`` for a flat texture (every pixel is the base colour). ``radius`` converts the
    pixel period into canonical units, so pattern size is in pixels at scale 1.
    """
    if tex.kind == "flat":
        return None
    freq = radius / tex.period_px  # cycles per canonical unit
    c, s = math.cos(tex.orientation), math.sin(tex.orientation)
    along = u * c + v * s
    if tex.kind == "stripes":
        return (np.floor(along * freq + tex.phase_u) % 2).astype(np.float32)
    if tex.kind == "checker":
        across = -u * s + v * c
        cells = np.floor(along * freq + tex.phase_u) + np.floor(across * freq + tex.phase_v)
        return (cells % 2).astype(np.float32)
    if tex.kind == "dots":
        du = np.mod(u * freq + tex.phase_u, 1.0) - 0.5
        dv = np.mod(v * freq + tex.phase_v, 1.0) - 0.5
        return (du * du + dv * dv <= 0.3**2).astype(np.float32)
    if tex.kind == "gradient":
        return np.clip((along + 1.0) * 0.5, 0.0, 1.0).astype(np.float32)
    raise ValueError(f"unknown texture {tex.kind!r}; choose from {TEXTURES}")


# ------------------------------------------------------------------------- backgrounds

BACKGROUNDS: tuple[str, ...] = ("flat", "gradient", "noise", "texture")
BACKGROUND_PATTERNS: tuple[str, ...] = ("checker", "stripes", "tiles", "dots")
BACKGROUND_PATTERN_WORDS: dict[str, str] = {
    "checker": "checkered",
    "stripes": "striped",
    "tiles": "tiled",
    "dots": "dotted",
}


@dataclass(frozen=True)
class BackgroundSpec:
    """A static backdrop. The camera never moves, so it is the same in every frame."""

    kind: str  # one of BACKGROUNDS
    colour: str  # a BACKGROUND_COLOURS name
    colour2: str | None = None  # gradient end colour
    pattern: str | None = None  # texture backgrounds: one of BACKGROUND_PATTERNS
    period_px: float = 8.0
    orientation: float = 0.0  # radians
    noise_seed: int = 0

    def describe(self) -> str:
        """A noun phrase: 'a grey checkered background'."""
        if self.kind == "flat":
            return f"a plain {self.colour} background"
        if self.kind == "noise":
            return f"a mottled {self.colour} background"
        if self.kind == "gradient":
            phrase = f"{self.colour} to {self.colour2} gradient background"
        else:
            assert self.pattern is not None
            phrase = f"{self.colour} {BACKGROUND_PATTERN_WORDS[self.pattern]} background"
        return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def sample_background(rng: np.random.Generator, kinds: tuple[str, ...], size_px: int) -> BackgroundSpec:
    names = list(BACKGROUND_COLOURS)
    kind = str(rng.choice(kinds))
    colour = str(rng.choice(names))
    colour2 = None
    pattern = None
    if kind == "gradient":
        colour2 = str(rng.choice([n for n in names if n != colour]))
    if kind == "texture":
        pattern = str(rng.choice(BACKGROUND_PATTERNS))
    unit = size_px / 64.0
    return BackgroundSpec(
        kind=kind,
        colour=colour,
        colour2=colour2,
        pattern=pattern,
        period_px=float(rng.uniform(6.0, 12.0) * unit),
        orientation=float(rng.uniform(0.0, math.pi)),
        noise_seed=int(rng.integers(0, 2**31 - 1)),
    )


def render_background(spec: BackgroundSpec, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8."""
    base = np.array(BACKGROUND_COLOURS[spec.colour], dtype=np.float32)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    c, s = math.cos(spec.orientation), math.sin(spec.orientation)
    if spec.kind == "flat":
        img = np.broadcast_to(base, (height, width, 3)).copy()
    elif spec.kind == "gradient":
        assert spec.colour2 is not None
        end = np.array(BACKGROUND_COLOURS[spec.colour2], dtype=np.float32)
        along = x * c + y * s
        t = (along - along.min()) / max(float(np.ptp(along)), 1e-6)
        img = base + t[..., None] * (end - base)
    elif spec.kind == "noise":
        # Smooth blotches (coarse random grid, bilinear upsampling) plus fine grain:
        # the blotches make revealed background hard to guess from neighbours.
        noise_rng = np.random.default_rng(spec.noise_seed)
        coarse = noise_rng.normal(0.0, 1.0, (max(2, height // 8), max(2, width // 8))).astype(np.float32)
        blotch = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
        grain = noise_rng.normal(0.0, 0.35, (height, width)).astype(np.float32)
        img = base * (1.0 + 0.35 * np.tanh(blotch + grain))[..., None]
    elif spec.kind == "texture":
        along = (x * c + y * s) / spec.period_px
        across = (-x * s + y * c) / spec.period_px
        if spec.pattern == "checker":
            mark = (np.floor(along) + np.floor(across)) % 2 == 1
        elif spec.pattern == "stripes":
            mark = np.floor(along) % 2 == 1
        elif spec.pattern == "tiles":
            # Thin grout lines on an axis-aligned grid.
            px = np.mod(x / spec.period_px, 1.0)
            py = np.mod(y / spec.period_px, 1.0)
            mark = (px < 0.18) | (py < 0.18)
        elif spec.pattern == "dots":
            du = np.mod(along, 1.0) - 0.5
            dv = np.mod(across, 1.0) - 0.5
            mark = du * du + dv * dv < 0.25**2
        else:
            raise ValueError(f"unknown background pattern {spec.pattern!r}")
        light = np.minimum(base * 1.7 + 15.0, 255.0)
        img = np.where(mark[..., None], light, base)
    else:
        raise ValueError(f"unknown background kind {spec.kind!r}; choose from {BACKGROUNDS}")
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
