"""Backbones with TTM conditioning: the small video DiT (both stages) and the compact
stage-1 motion model, with flow-matching helpers and named presets."""

from .flow_matching import combine_guidance, euler_sample, interpolate, sample_times, time_grid, x0_from_velocity
from .motion_dit import MotionDiT, MotionDiTConfig, object_feature_dim, object_features
from .presets import MOTION_PRESETS, VIDEO_PRESETS, motion_config, video_config
from .video_dit import VideoDiT, VideoDiTConfig

__all__ = [
    "MOTION_PRESETS",
    "MotionDiT",
    "MotionDiTConfig",
    "VIDEO_PRESETS",
    "VideoDiT",
    "VideoDiTConfig",
    "combine_guidance",
    "euler_sample",
    "interpolate",
    "motion_config",
    "object_feature_dim",
    "object_features",
    "sample_times",
    "time_grid",
    "video_config",
    "x0_from_velocity",
]
