"""The ground-truth motion of a scene's objects, as `MotionTrack`s."""

from __future__ import annotations

import numpy as np

from ...trajectory import MotionTrack


def tracks_from_sprite_params(params: np.ndarray, first_ids: np.ndarray, object_ids: list[int]) -> list[MotionTrack]:
    """Ground-truth `MotionTrack`s from sprite parameters (K, T, 6: x, y, sx, sy,
    angle clockwise in radians, visibility).

    A sprite maps a first-frame point p to c_t + A_t (p - c_0) with A_t = R(angle_t)
    S(sx_t, sy_t) (sprites start unrotated at scale 1). A `MotionTrack` turns about the
    first-frame mask centroid m instead, so its shift is d = c_t + A_t (m - c_0) - m.
    Sprite coordinates put pixel centres at +0.5; mask centroids at +0.
    """
    tracks = []
    for k, oid in enumerate(object_ids):
        p = params[k].astype(np.float64)  # (T, 6)
        centre = p[:, :2] - 0.5  # sprite centre in pixel-index coordinates
        ys, xs = np.nonzero(first_ids == oid)
        m = np.array([xs.mean(), ys.mean()]) if len(xs) else centre[0]
        sx, sy, ang_cw = p[:, 2], p[:, 3], p[:, 4]
        cos, sin = np.cos(ang_cw), np.sin(ang_cw)
        rel = m - centre[0]  # (2,)
        # A_t rel: scale along the sprite axes, then turn clockwise on screen (y down).
        ax, ay = sx * rel[0], sy * rel[1]
        d = centre + np.stack([cos * ax - sin * ay, sin * ax + cos * ay], axis=1) - m  # (T, 2)
        tracks.append(MotionTrack(d[:, 0], d[:, 1], sx, sy, -np.rad2deg(ang_cw)))
    return tracks
