"""Mask tracking: carry first-frame object masks through a video (DIS flow + appearance)."""

from .tracker import MaskTracker, TrackerConfig, TrackerError, optical_flow

__all__ = ["MaskTracker", "TrackerConfig", "TrackerError", "optical_flow"]
