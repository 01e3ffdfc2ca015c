"""The mask trajectory: the ground floor every other part of maskmotion stands on."""

from .canvas import CanvasMap, fit_aspect, shift_canvas
from .core import MaskTrajectory, TrajectoryError, TrajectoryObject, default_objects
from .drag import DragPath, trajectory_from_drag, warp_masks
from .palette import MAX_OBJECTS, PALETTE, decode_palette, palette_colour
from .tracks import MotionTrack
from .storage import FORMAT_VERSION, load_id_png, save_id_png

__all__ = [
    "CanvasMap",
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
    "load_id_png",
    "palette_colour",
    "save_id_png",
    "shift_canvas",
    "trajectory_from_drag",
    "warp_masks",
]
