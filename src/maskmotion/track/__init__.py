"""Mask tracking: carry first-frame object masks through a video (DIS flow + appearance), and
read how far each object turns from the pixels inside its masks."""

from .tracker import MaskTracker, TrackerConfig, TrackerError, optical_flow
from .turns import read_turns

__all__ = ["MaskTracker", "TrackerConfig", "TrackerError", "optical_flow", "read_turns"]
