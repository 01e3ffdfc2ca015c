"""Model-free rendering of a video from a first frame and a mask trajectory."""

from .warp import fit_tracks, warp_preview

__all__ = ["fit_tracks", "warp_preview"]
