"""Saved tiny weights folders of both backbones, and a small two-object scene."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from backbone_testing import tiny_ttm  # noqa: E402


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> dict[str, Path]:
    """backbone -> a saved weights folder (tiny random components, both stages)."""
    root = tmp_path_factory.mktemp("backbone-weights")
    return {name: tiny_ttm(name).save_pretrained(root / name) for name in ("wan", "animatediff")}


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # (24, 40, 3) uint8: not the models' canvas, another aspect ratio
    ids: np.ndarray  # (24, 40) uint8, objects 1 and 2
    image_path: Path
    masks_path: Path


@pytest.fixture(scope="session")
def scene(tmp_path_factory) -> Scene:
    from maskmotion.trajectory import save_id_png
    from maskmotion.video import write_png

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)
    ids = np.zeros((24, 40), np.uint8)
    ids[4:12, 4:14] = 1
    ids[12:20, 24:36] = 2
    root = tmp_path_factory.mktemp("backbone-scene")
    write_png(root / "image.png", image)
    save_id_png(root / "masks.png", ids)
    return Scene(image, ids, root / "image.png", root / "masks.png")
