"""The mask trajectory: the ground floor every other part of maskmotion stands on."""

from .canvas import (
    DEFAULT_MAX_SIZE,
    CanvasMap,
    FitMap,
    fit_aspect,
    fit_to_model,
    output_size,
    resize_frames,
    shift_canvas,
    trajectory_from_canvas,
    trajectory_to_canvas,
)
from .core import MaskTrajectory, TrajectoryError, TrajectoryObject, default_objects
from .drag import DragPath, overlay_tracks, trajectory_from_drag, warp_masks
from .palette import MAX_OBJECTS, PALETTE, decode_palette, palette_colour
from .tracks import MotionTrack
from .storage import FORMAT_VERSION, load_id_png, save_id_png

__all__ = [
    "CanvasMap",
    "DEFAULT_MAX_SIZE",
    "FitMap",
    "DragPath",
    "FORMAT_VERSION",
    "MAX_OBJECTS",
    "MaskTrajectory",
    "MotionTrack",
    "PALETTE",
    "TrajectoryError",
    "TrajectoryObject",
    "decode_palette",
    "default_objects",
    "fit_aspect",
    "fit_to_model",
    "output_size",
    "overlay_tracks",
    "resize_frames",
    "load_id_png",
    "palette_colour",
    "save_id_png",
    "shift_canvas",
    "trajectory_from_canvas",
    "trajectory_to_canvas",
    "trajectory_from_drag",
    "warp_masks",
]
