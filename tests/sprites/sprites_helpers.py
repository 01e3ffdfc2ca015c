"""Helpers for the sprites tests: hand-built scenes with one chosen motion."""

from __future__ import annotations

import numpy as np

from maskmotion.data.sprites import (
    BackgroundSpec,
    MotionSpec,
    ObjectSpec,
    Scene,
    SpritesConfig,
    TextureParams,
    build_scene,
)

FLAT_BG = BackgroundSpec(kind="flat", colour="black")


def make_object(
    id: int = 1,
    kind: str = "stay",
    speed: str = "medium",
    start: tuple[float, float] = (32.0, 32.0),
    shape: str = "circle",
    colour: str = "red",
    texture: str = "flat",
    radius: float = 6.0,
    new_colour: str | None = None,
    **motion: object,
) -> ObjectSpec:
    """An object with one motion; ``motion`` holds MotionSpec's target / wall."""
    return ObjectSpec(
        id=id,
        colour=colour,
        shape=shape,
        size="medium",
        radius=radius,
        texture=TextureParams(kind=texture, period_px=5.0, orientation=0.3),
        motion=MotionSpec(kind=kind, speed=speed, colour=new_colour, **motion),  # type: ignore[arg-type]
        start=start,
    )


def make_scene(*objects: ObjectSpec, config: SpritesConfig | None = None, background: BackgroundSpec = FLAT_BG) -> Scene:
    # Classic wording: tests read the motion words against its small vocabulary.
    return build_scene(background, list(objects), config or SpritesConfig(wording="classic"))


def mask_centroids(ids: np.ndarray, object_id: int) -> np.ndarray:
    """(T, 2) centroid (x, y) of the object's pixels, pixel centres at +0.5; NaN if absent."""
    m = ids == object_id
    ys, xs = np.mgrid[0 : ids.shape[1], 0 : ids.shape[2]] + 0.5
    n = m.sum(axis=(1, 2))
    with np.errstate(invalid="ignore"):
        return np.stack([(m * xs).sum(axis=(1, 2)) / n, (m * ys).sum(axis=(1, 2)) / n], axis=1)
