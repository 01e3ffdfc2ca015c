"""Training and evaluation examples for both TTM stages, built from sprites scenes:
what the models read, and what they should answer, for one scene.

Stage 1 (compact form) learns each object's `MotionTrack`; stage 2 learns the video
from the first frame, the mask trajectory and (our extension) the warp preview.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.sprites import Scene
from ..data.sprites.tracks import tracks_from_sprite_params
from ..render import warp_preview
from ..trajectory import PALETTE, MaskTrajectory
from .motion_features import encode_motion, object_features


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
