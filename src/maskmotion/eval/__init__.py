"""Measuring trajectories and videos: IoU, motion adherence, PSNR on object pixels."""

from .adherence import MotionCurves, adherent, curves_from_masks, curves_from_track
from .metrics import PooledPSNR, mask_iou_per_object, psnr

__all__ = [
    "MotionCurves",
    "PooledPSNR",
    "adherent",
    "curves_from_masks",
    "curves_from_track",
    "mask_iou_per_object",
    "psnr",
]
