"""Measuring trajectories and videos: IoU, motion adherence, PSNR/SSIM, AD, FVD."""

from .adherence import MotionCurves, adherent, curves_from_masks, curves_from_outlines, curves_from_track, curves_from_video
from .fvd import (
    I3DFeatures,
    RandomConv3DFeatures,
    VideoFeatureExtractor,
    frechet_distance,
    frechet_from_features,
    fvd,
)
from .metrics import PooledPSNR, centroid_error, identity_swaps, mask_iou_per_object, psnr
from .video_metrics import average_displacement, frame_consistency, ssim, trajectory_consistency

__all__ = [
    "I3DFeatures",
    "MotionCurves",
    "PooledPSNR",
    "RandomConv3DFeatures",
    "VideoFeatureExtractor",
    "adherent",
    "average_displacement",
    "centroid_error",
    "curves_from_masks",
    "curves_from_outlines",
    "curves_from_video",
    "curves_from_track",
    "frame_consistency",
    "frechet_distance",
    "frechet_from_features",
    "fvd",
    "identity_swaps",
    "mask_iou_per_object",
    "psnr",
    "ssim",
    "trajectory_consistency",
]
