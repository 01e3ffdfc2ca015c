"""Backbones with TTM conditioning: the small video DiT (both stages) and the compact
stage-1 motion model, with flow-matching helpers and named presets."""

from .flow_matching import combine_guidance, euler_sample, interpolate, sample_times, time_grid, x0_from_velocity
from .motion_dit import MotionConditions, MotionDiT, MotionDiTConfig
from .motion_features import decode_motion, encode_motion, object_feature_dim, object_features
from .presets import MOTION_PRESETS, VIDEO_PRESETS, motion_config, video_config
from .video_dit import VideoConditions, VideoDiT, VideoDiTConfig

__all__ = [
    "MOTION_PRESETS",
    "MotionConditions",
    "MotionDiT",
    "MotionDiTConfig",
    "VIDEO_PRESETS",
    "VideoConditions",
    "VideoDiT",
    "VideoDiTConfig",
    "combine_guidance",
    "decode_motion",
    "encode_motion",
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
