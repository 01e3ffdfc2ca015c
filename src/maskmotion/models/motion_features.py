"""What stage 1's `MotionDiT` reads and writes, in numpy: per-object first-frame
features in, per-object motion out.

An object is seen through its first frame only: where it is and how large (geometry),
what it looks like (colour mean and spread), and its shape (a small thumbnail of its
mask). Its motion is a `MotionTrack` (per-frame translation, scale and rotation relative
to frame 0), stored as (T, 5) raw values with the image size divided out, so a model
trained at one resolution reads motion the same way at another.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..trajectory import MotionTrack

MASK_CROP = 8  # side of the object's first-frame mask thumbnail in its features


def object_feature_dim() -> int:
    """Width F of `object_features`' rows: 8 geometry + 3 colour + the thumbnail.

    The row as built holds 3 more values (the colour spread); the width keeps the 75
    the shipped weights were trained with, so the thumbnail's last 3 pixels fall off.
    """
    return 8 + 3 + MASK_CROP * MASK_CROP


def object_features(first_frame: np.ndarray, first_ids: np.ndarray, object_ids: list[int]) -> np.ndarray:
    """(L, F) float32 features of each object in the first frame.

    Geometry (centroid, sqrt area, box size, distances to the walls), mean and spread of
    its colour, and an 8x8 thumbnail of its mask (its shape). An object with no
    first-frame pixels gets zeros.
    """
    h, w = first_ids.shape
    img = first_frame.astype(np.float32) / 255.0  # (H, W, 3)
    out = np.zeros((len(object_ids), object_feature_dim()), np.float32)  # (L, F)
    for i, oid in enumerate(object_ids):
        m = first_ids == oid  # (H, W)
        if not m.any():
            continue
        ys, xs = np.nonzero(m)
        cx, cy = xs.mean() / w, ys.mean() / h
        x0, x1, y0, y1 = xs.min() / w, (xs.max() + 1) / w, ys.min() / h, (ys.max() + 1) / h
        geo = [cx, cy, np.sqrt(m.mean()), x1 - x0, y1 - y0, x0, 1 - x1, 1 - y1]
        col = img[m]  # (P, 3)
        crop = m[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
        thumb = cv2.resize(crop, (MASK_CROP, MASK_CROP), interpolation=cv2.INTER_AREA).ravel()
        out[i] = np.concatenate([geo, col.mean(0), col.std(0), thumb]).astype(np.float32)[: out.shape[1]]
    return out


def encode_motion(tracks: list[MotionTrack], size: tuple[int, int]) -> np.ndarray:
    """Tracks -> (L, T, 5) raw motion: dx/W, dy/H, log sx, log sy, angle (radians,
    counter-clockwise on screen)."""
    h, w = size
    rows = [
        np.stack([tr.dx / w, tr.dy / h, np.log(tr.sx), np.log(tr.sy), np.deg2rad(tr.angle)], axis=1)  # (T, 5)
        for tr in tracks
    ]
    return np.stack(rows).astype(np.float32)


def decode_motion(motion: np.ndarray, size: tuple[int, int]) -> list[MotionTrack]:
    """(L, T, 5) raw motion -> one `MotionTrack` per object (inverse of `encode_motion`)."""
    h, w = size
    motion = np.asarray(motion, dtype=np.float64)
    return [
        MotionTrack(m[:, 0] * w, m[:, 1] * h, np.exp(m[:, 2]), np.exp(m[:, 3]), np.rad2deg(m[:, 4]))
        for m in motion
    ]
