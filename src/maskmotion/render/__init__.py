"""Model-free rendering from a first frame and per-object motion: the warp preview and
the optical-flow trajectory."""

from .flow import flow_from_tracks, flow_render, flow_to_colour
from .warp import fit_tracks, warp_preview

__all__ = ["fit_tracks", "flow_from_tracks", "flow_render", "flow_to_colour", "warp_preview"]
