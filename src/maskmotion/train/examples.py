"""Training and evaluation examples for both TTM stages, built from sprites scenes.

Stage 1 (compact form) learns each object's `MotionTrack`; stage 2 learns the video
from the first frame, the mask trajectory and (our extension) the warp preview.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.motion_features import encode_motion, object_features
from ..render import warp_preview
from ..trajectory import MaskTrajectory, MotionTrack, PALETTE
from ..data.sprites import Scene


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


@dataclass
class Stage1Example:
    features: np.ndarray  # (L, F) first-frame object features
    motion: np.ndarray  # (L, T, 5) raw motion, see encode_motion
    motion_prompt: str
    local_prompts: list[str]
    object_ids: list[int]


@dataclass
class Stage2Example:
    video: np.ndarray  # (T, H, W, 3) uint8
    trajectory: np.ndarray  # (T, H, W, 3) uint8 colour render
    warp: np.ndarray  # (T, H, W, 3) uint8 warp preview
    ids: np.ndarray  # (T, H, W) uint8
    global_prompt: str
    local_prompts: list[str]
    object_ids: list[int]


def stage1_example(scene: Scene) -> Stage1Example:
    object_ids = [o.id for o in scene.objects]
    tracks = tracks_from_sprite_params(scene.params(), scene.first_ids, object_ids)
    return Stage1Example(
        features=object_features(scene.first_frame, scene.first_ids, object_ids),
        motion=encode_motion(tracks, scene.ids.shape[1:]),
        motion_prompt=scene.motion_prompt,
        local_prompts=scene.local_prompts,
        object_ids=object_ids,
    )


def stage2_example(scene: Scene, trajectory: MaskTrajectory | None = None) -> Stage2Example:
    """``trajectory`` defaults to the ground truth (training, teacher-forced evaluation)."""
    traj = trajectory if trajectory is not None else scene.trajectory
    return Stage2Example(
        video=scene.video,
        trajectory=PALETTE[traj.ids],
        warp=warp_preview(scene.first_frame, traj),
        ids=traj.ids,
        global_prompt=scene.global_prompt,
        local_prompts=scene.local_prompts,
        object_ids=[o.id for o in scene.objects],
    )
