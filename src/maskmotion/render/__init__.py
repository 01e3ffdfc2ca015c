"""Model-free rendering from a first frame and per-object motion: the warp preview (the
stage-2 model's condition), the photo renderer (soft cut-outs over a PatchMatch-filled
background) and the optical-flow trajectory."""

from .flow import flow_from_tracks, flow_render, flow_to_colour
from .inpaint import fill_holes, patchmatch_available
from .matting import ObjectLayer, estimate_alpha, matting_available, object_layers, trimap_from_mask
from .photo import photo_render, revealed_region
from .warp import fit_tracks, warp_preview

__all__ = [
    "ObjectLayer",
    "estimate_alpha",
    "fill_holes",
    "fit_tracks",
    "flow_from_tracks",
    "flow_render",
    "flow_to_colour",
    "matting_available",
    "object_layers",
    "patchmatch_available",
    "photo_render",
    "revealed_region",
    "trimap_from_mask",
    "warp_preview",
]
