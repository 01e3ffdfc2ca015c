"""Rasterise sprites from their parametric state: RGB frames and the id map together.

Each object is evaluated on a box around its centre for all frames at once: pixel
centres are mapped into the sprite's canonical frame and tested against the shape. No
antialiasing, so an object's RGB pixels are exactly its id pixels; objects are drawn in
id order, a later (higher) id covering an earlier one, which is the occlusion order.
"""

from __future__ import annotations

import math

import numpy as np

from .motions import Track
from .world import SHAPE_GEOMETRY, SHAPES, TextureParams, secondary_colour, texture_weight


def rasterise(
    canvas: np.ndarray,
    ids: np.ndarray,
    object_id: int,
    shape: str,
    texture: TextureParams,
    radius: float,
    track: Track,
) -> np.ndarray:
    """Draw one object over ``canvas`` (T, H, W, 3) float32 and ``ids`` (T, H, W) uint8.

    Returns (T,) int: the pixels the object covers in each frame on an unbounded
    canvas, before occlusion and before clipping at the border (the denominator of
    its visibility).
    """
    n, height, width = ids.shape
    cx, cy = track.center[:, 0], track.center[:, 1]  # (T,)
    sx, sy = track.scale[:, 0], track.scale[:, 1]
    reach = radius * SHAPE_GEOMETRY[shape].reach * float(track.scale.max()) + 1.0
    half = int(math.ceil(reach))
    offsets = np.arange(-half, half + 1)  # (B,)
    px = np.floor(cx).astype(np.int64)[:, None] + offsets  # (T, B) pixel columns
    py = np.floor(cy).astype(np.int64)[:, None] + offsets  # (T, B) pixel rows
    dx = (px + 0.5 - cx[:, None])[:, None, :]  # (T, 1, B)
    dy = (py + 0.5 - cy[:, None])[:, :, None]  # (T, B, 1)
    cos = np.cos(track.angle)[:, None, None]
    sin = np.sin(track.angle)[:, None, None]
    # Undo the rotation (clockwise by angle), then the per-axis scale.
    u = (cos * dx + sin * dy) / (radius * sx[:, None, None])  # (T, B, B)
    v = (cos * dy - sin * dx) / (radius * sy[:, None, None])
    inside = SHAPES[shape](u, v)  # (T, B, B)
    full_area = inside.sum(axis=(1, 2))
    inside &= ((py >= 0) & (py < height))[:, :, None]
    inside &= ((px >= 0) & (px < width))[:, None, :]
    t_idx, i_idx, j_idx = np.nonzero(inside)
    rows, cols = py[t_idx, i_idx], px[t_idx, j_idx]
    base = track.colour[t_idx]  # (P, 3)
    weight = texture_weight(texture, u[t_idx, i_idx, j_idx], v[t_idx, i_idx, j_idx], radius)
    colour = base if weight is None else base + weight[:, None] * (secondary_colour(base) - base)
    canvas[t_idx, rows, cols] = colour
    ids[t_idx, rows, cols] = object_id
    return full_area


def render_frames(
    background: np.ndarray,
    sprites: list[tuple[int, str, TextureParams, float, Track]],
    num_frames: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``sprites`` (id, shape, texture, radius, track) in the given order.

    ``background`` is (H, W, 3) uint8. Returns the video (T, H, W, 3) uint8 and the ids
    (T, H, W) uint8, and fills each track's ``visibility`` (T,): the fraction of its
    unclipped, unoccluded pixels that show.
    """
    height, width = background.shape[:2]
    canvas = np.broadcast_to(background.astype(np.float32), (num_frames, height, width, 3)).copy()
    ids = np.zeros((num_frames, height, width), dtype=np.uint8)
    areas = []
    for object_id, shape, texture, radius, track in sprites:
        areas.append(rasterise(canvas, ids, object_id, shape, texture, radius, track))
    for (object_id, *_, track), area in zip(sprites, areas):
        shown = (ids == object_id).sum(axis=(1, 2))
        track.visibility = np.where(area > 0, shown / np.maximum(area, 1), 0.0)
    video = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    return video, ids
