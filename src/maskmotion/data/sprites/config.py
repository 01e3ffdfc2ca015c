"""`SpritesConfig`: the one typed description of a sprites world.

Saved into every ``scene.json`` and hashed into dataset cache paths, so a scene can be
regenerated bit for bit from (seed, config) and a cache is never reused across configs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ...trajectory import MAX_OBJECTS
from .motions import MOTION_KINDS, SPEEDS
from .text import WORDINGS
from .world import BACKGROUNDS, COLOURS, SHAPES, TEXTURES

SIZES: dict[str, float] = {
    # Sprite radius as a fraction of min(H, W): ~6, ~8 and ~11 px at 64x64.
    "small": 0.09,
    "medium": 0.13,
    "large": 0.175,
}


@dataclass(frozen=True)
class SpritesConfig:
    """A sprites world. Every field is plain data, so the config round-trips through JSON."""

    height: int = 64
    width: int = 64
    num_frames: int = 16
    fps: int = 8
    min_objects: int = 1
    max_objects: int = 4
    shapes: tuple[str, ...] = tuple(SHAPES)
    colours: tuple[str, ...] = tuple(COLOURS)
    textures: tuple[str, ...] = TEXTURES
    # Chance that an object is flat rather than textured (textured ones are drawn
    # uniformly from the non-flat entries of `textures`).
    flat_probability: float = 0.3
    sizes: tuple[str, ...] = tuple(SIZES)
    backgrounds: tuple[str, ...] = BACKGROUNDS
    motions: tuple[str, ...] = MOTION_KINDS
    speeds: tuple[str, ...] = SPEEDS
    # The least fraction of each object that must show in the first frame (the rest
    # hidden by occluders); a layout below it is redrawn, so s0 always shows everyone.
    min_first_visibility: float = 0.5
    # How prompts are worded (data/sprites/text.py): "classic" is the language every
    # shipped model was trained on (and every published figure uses), "seen" the wide
    # everyday language for training towards free text, "heldout" its evaluation-only words.
    # The default follows the shipped models: it moves to "seen" with a default trained on it.
    wording: str = "classic"

    def __post_init__(self) -> None:
        if self.height < 16 or self.width < 16:
            raise ValueError(f"frames must be at least 16x16, got {self.height}x{self.width}")
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be >= 2, got {self.num_frames}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(
                f"need 1 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}"
            )
        for name, chosen, known in (
            ("shapes", self.shapes, SHAPES),
            ("colours", self.colours, COLOURS),
            ("textures", self.textures, TEXTURES),
            ("sizes", self.sizes, SIZES),
            ("backgrounds", self.backgrounds, BACKGROUNDS),
            ("motions", self.motions, MOTION_KINDS),
            ("speeds", self.speeds, SPEEDS),
        ):
            if not chosen:
                raise ValueError(f"{name} must not be empty")
            unknown = [c for c in chosen if c not in known]
            if unknown:
                raise ValueError(f"unknown {name} {unknown}; choose from {list(known)}")
        if self.max_objects > MAX_OBJECTS:
            raise ValueError(f"max_objects={self.max_objects} exceeds the trajectory palette's {MAX_OBJECTS}")
        if self.max_objects > len(self.shapes) * len(self.colours):
            raise ValueError("max_objects exceeds the number of distinct colour+shape names")
        if self.wording not in WORDINGS:
            raise ValueError(f"unknown wording {self.wording!r}; choose from {list(WORDINGS)}")
        if not 0.0 <= self.flat_probability <= 1.0:
            raise ValueError(f"flat_probability must be in [0, 1], got {self.flat_probability}")

    @property
    def size_px(self) -> int:
        return min(self.height, self.width)

    @property
    def unit(self) -> float:
        """Pixels per reference pixel: speeds and sizes are defined at 64x64."""
        return self.size_px / 64.0

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SpritesConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown SpritesConfig fields {sorted(unknown)}")
        tuple_fields = {f.name for f in dataclasses.fields(cls) if str(f.type).startswith("tuple")}
        kwargs = {k: tuple(v) if k in tuple_fields else v for k, v in data.items()}
        # Configs saved before wordings existed described scenes in the classic language.
        kwargs.setdefault("wording", "classic")
        return cls(**kwargs)

    def fingerprint(self) -> str:
        """A short stable hash of the config (cache folder names)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
