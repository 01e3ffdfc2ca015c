"""Filling the background that moving objects uncover, by copying patches of the photo.

PatchMatch (Barnes et al. 2009, via the pypatchmatch package) fills a hole with patches
found elsewhere in the image, coarse to fine, so a large hole gets texture (grass, wall,
fur) instead of the smooth smear that diffusion inpainting (OpenCV Telea) draws from the
hole's border toward its centre. Where pypatchmatch is missing at run time, the fill
falls back to OpenCV Telea and a log line says so once.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

logger = logging.getLogger(__name__)

#: Patch radius: 7x7 patches (pypatchmatch's default of 15 is 31x31, far slower and
#: coarser on thin structures).
PATCH_RADIUS = 3
#: Default share of copied texture in a fill (see `fill_holes`).
DETAIL = 1.0
_warned: set[str] = set()


def _patchmatch():
    try:
        from patchmatch import patch_match  # may be missing: Telea then
    except ImportError:
        return None
    return patch_match if patch_match.patchmatch_available else None


def patchmatch_available() -> bool:
    """Whether pypatchmatch imports and its native library loads."""
    return _patchmatch() is not None


def fill_holes(
    image: np.ndarray,
    hole: np.ndarray,
    avoid: np.ndarray | None = None,
    seed: int = 0,
    patch_radius: int = PATCH_RADIUS,
    detail: float = 1.0,
) -> np.ndarray:
    """(H, W, 3) uint8: ``image`` with the ``hole`` pixels (H, W bool) filled from
    patches of the rest, never copying from ``avoid`` (e.g. the objects' own pixels).
    Deterministic for a given ``seed``.

    ``detail`` in [0, 1] mixes the PatchMatch fill (1: texture at full contrast) with a
    smooth diffusion fill (0: OpenCV Telea). Copied texture is sharp but cannot be the
    true texture behind an object, so at full contrast its error is about twice the
    texture's variance, against about once for a smooth fill; half and half keeps half
    the contrast of real texture and most of the smooth fill's accuracy."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    hole = np.asarray(hole, bool)
    if not hole.any():
        return image.copy()
    pm = _patchmatch()
    if pm is None:
        if "pypatchmatch" not in _warned:
            _warned.add("pypatchmatch")
            logger.warning(
                "pypatchmatch is not installed (pip install pypatchmatch): uncovered "
                "background is filled by OpenCV Telea inpainting, which smears large holes"
            )
        return cv2.inpaint(image, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    mask = hole.astype(np.uint8) * 255
    pm.set_random_seed(int(seed))
    if avoid is not None and (avoid := np.asarray(avoid, bool) & ~hole).any():
        out = pm.inpaint(image, mask, global_mask=avoid.astype(np.uint8) * 255, patch_size=patch_radius)
    else:
        out = pm.inpaint(image, mask, patch_size=patch_radius)
    if detail < 1.0:
        smooth = cv2.inpaint(image, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
        out = np.clip(detail * out.astype(np.float32) + (1.0 - detail) * smooth + 0.5, 0, 255).astype(np.uint8)
    # Only the hole changes (the library also leaves ``avoid`` as it was).
    result = image.copy()
    result[hole] = out[hole]
    return result
