"""The page's examples: the bundled crescent-and-star scene, a few scenes of the sprites
world (made on the spot from their seeds), and a real photo from scikit-image when it is
installed. Each comes with a prompt and a box per object, so that picking one shows its
masks at once; the boxes are what a user would draw, and the masks are segmented from
them as for an upload.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.sprites import SpritesConfig, generate_scene, split_seeds
from ..plan import mask_from_png
from ..video import write_png

#: The repository's examples/ folder (present in a source checkout, not in a wheel).
EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples"
CRESCENT = "crescent and star (bundled example)"
CRESCENT_PROMPT = (
    "A big white striped crescent and a large red spotted star on a mottled black background: the white "
    "crescent falls gently while the red star slides to the left at a steady pace."
)
#: Sprites test-split scenes shown as examples (by index into the split).
SPRITES_SCENES = (0, 3)


@dataclass(frozen=True)
class Example:
    """An example image (written to ``path`` by ``write``), its prompt and named boxes."""

    label: str
    prompt: str
    boxes: tuple[tuple[str, tuple[int, int, int, int]], ...]
    write: Callable[[Path], Path]


def _box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The box x0, y0, x1, y1 (exclusive) around a mask, one pixel of margin."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return max(0, int(xs.min()) - 1), max(0, int(ys.min()) - 1), min(w, int(xs.max()) + 2), min(h, int(ys.max()) + 2)


def _bundled() -> Example | None:
    image, masks = EXAMPLES_DIR / "crescent_and_star.png", EXAMPLES_DIR / "crescent_and_star.masks.png"
    if not (image.is_file() and masks.is_file()):
        return None
    ids = mask_from_png(masks, (64, 64))
    boxes = (("white crescent", _box_of(ids == 1)), ("red star", _box_of(ids == 2)))
    return Example(CRESCENT, CRESCENT_PROMPT, boxes, lambda folder: image)


def _sprites(index: int) -> Example:
    seed = split_seeds("test")[index]
    scene = generate_scene(seed, SpritesConfig())
    boxes = tuple((o.name, _box_of(scene.first_ids == o.id)) for o in scene.objects if (scene.first_ids == o.id).any())

    def write(folder: Path) -> Path:
        return write_png(folder / f"sprites-{seed}.png", scene.first_frame)

    return Example(f"sprites scene {seed} ({len(boxes)} objects)", scene.global_prompt, boxes, write)


def _rocket() -> Example | None:
    try:
        from skimage import data  # noqa: PLC0415 - optional: only its bundled photos
    except ImportError:
        return None

    def write(folder: Path) -> Path:
        return write_png(folder / "rocket.png", data.rocket())

    return Example("rocket (photo, scikit-image)", "the white rocket moves up at a steady pace",
                   (("white rocket", (285, 120, 350, 395)),), write)  # fmt: skip


def load_examples() -> list[Example]:
    """The examples available here, the bundled one first."""
    found = [_bundled(), *(_sprites(i) for i in SPRITES_SCENES), _rocket()]
    return [e for e in found if e is not None]
