"""Soft object edges: a trimap around a hard mask, alpha matting inside it, and the
foreground colour the old background leaves behind once it is taken out.

A hard mask (GrabCut's, or a trajectory's first frame) is right except near its edge,
where a photo's pixels are a mix of object and background (fur, hair, blur). The trimap
calls the mask eroded by ``band`` pixels "surely object", everything beyond the mask
dilated by ``band`` "surely background", and the ring between "unknown"; closed-form
matting (Levin et al., via pymatting) solves alpha in the ring from the colours around
it. Only the ring's bounding box (plus a margin) is solved, downscaled when large, so
the cost follows the object's outline, not the photo's size.

pymatting is a dependency that may be missing at run time. Without it the
edge is feathered (the hard mask blurred across the ring), which is softer than a cut
but keeps a trace of the old background; a log line says so once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np
import torch

logger = logging.getLogger(__name__)

#: Solve at most this many pixels per matte; a larger ring box is downscaled first.
MAX_MATTE_PIXELS = 360_000
#: Known pixels kept around the unknown ring's bounding box, for context.
_MARGIN = 12
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)


def matting_available() -> bool:
    """Whether pymatting imports (alpha matting; otherwise edges are feathered)."""
    try:
        with _torch_threads_kept():  # importing it starts numba's thread pool
            import pymatting  # noqa: F401  (optional dependency)
    except ImportError:
        return False
    return True


def edge_band(size: tuple[int, int]) -> int:
    """The trimap's half-width for an image of ``size`` = (H, W): about 0.6% of the long
    side (3 pixels at 512), at least 2."""
    return max(2, int(round(max(size) / 160)))


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def trimap_from_mask(
    mask: np.ndarray,
    band: int,
    fg_points: Iterable[tuple[int, int]] = (),
    bg_points: Iterable[tuple[int, int]] = (),
    point_radius: int | None = None,
) -> np.ndarray:
    """(H, W) float64 trimap: 1 inside ``mask`` eroded by ``band``, 0 outside it dilated
    by ``band``, 0.5 between. Points (x, y) pin small disks to object (``fg_points``) or
    background (``bg_points``)."""
    m = np.asarray(mask, bool).astype(np.uint8)
    k = _disk(int(band))
    sure_fg = cv2.erode(m, k, borderType=cv2.BORDER_REPLICATE).astype(bool)
    maybe = cv2.dilate(m, k).astype(bool)
    tri = np.where(sure_fg, 1.0, np.where(maybe, 0.5, 0.0))
    r = int(point_radius if point_radius is not None else band)
    for value, points in ((1.0, fg_points), (0.0, bg_points)):
        for x, y in points:
            disk = np.zeros(m.shape, np.uint8)
            cv2.circle(disk, (int(x), int(y)), r, 1, -1)
            tri[disk.astype(bool)] = value
    return tri


def _ring_box(trimap: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    ys, xs = np.nonzero(trimap == 0.5)
    if len(xs) == 0:
        return None
    h, w = trimap.shape
    y0, y1 = max(int(ys.min()) - margin, 0), min(int(ys.max()) + margin + 1, h)
    x0, x1 = max(int(xs.min()) - margin, 0), min(int(xs.max()) + margin + 1, w)
    return slice(y0, y1), slice(x0, x1)


@contextmanager
def _torch_threads_kept() -> Iterator[None]:
    """Run pymatting without changing torch's thread count. Its numba kernels start an
    OpenMP pool that resets the count torch uses (1 -> 2 on this machine when a user or CI
    asked for 1 thread), and stage 1, which runs right after planning, then ran 18x slower
    on a busy 2-core machine."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def _solve_alpha(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """pymatting's closed-form alpha on one crop (float64 image in [0, 1])."""
    with _torch_threads_kept():
        from pymatting import estimate_alpha_cf  # optional dependency

        return estimate_alpha_cf(image, trimap)


def estimate_alpha(image: np.ndarray, trimap: np.ndarray, max_pixels: int = MAX_MATTE_PIXELS) -> np.ndarray:
    """(H, W) float32 alpha in [0, 1] for an (H, W, 3) uint8 image and a trimap (0 / 0.5
    / 1): closed-form matting in the unknown ring, the trimap elsewhere. Without
    pymatting, the ring is feathered instead."""
    trimap = np.asarray(trimap, np.float64)
    alpha = (trimap > 0.75).astype(np.float32)
    unknown = trimap == 0.5
    if not unknown.any():
        return alpha
    box = _ring_box(trimap, margin=_MARGIN)
    assert box is not None
    crop_tri = trimap[box]
    if not (crop_tri == 1.0).any() or not (crop_tri == 0.0).any() or not matting_available():
        if not matting_available():
            _warn_once(
                "pymatting",
                "pymatting is not installed (pip install pymatting): object edges "
                "are feathered instead of matted, and keep a trace of the old background",
            )
        alpha[box] = _feather(crop_tri)
        return alpha
    crop = image[box].astype(np.float64) / 255.0
    h, w = crop_tri.shape
    scale = min(1.0, float(np.sqrt(max_pixels / (h * w))))
    if scale < 1.0:
        size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        small_tri = cv2.resize(crop_tri, size, interpolation=cv2.INTER_NEAREST)
        solved = cv2.resize(_solve_alpha(small, small_tri), (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        solved = _solve_alpha(crop, crop_tri)
    solved = np.clip(solved, 0.0, 1.0)
    # Known pixels stay known; only the ring takes the solved values.
    solved = np.where(crop_tri == 0.5, solved, (crop_tri > 0.75).astype(np.float64))
    alpha[box] = solved.astype(np.float32)
    return alpha


def _feather(trimap: np.ndarray) -> np.ndarray:
    """The fallback edge: the mid-ring hard mask blurred across the ring."""
    hard = (trimap >= 0.5).astype(np.uint8)
    inner = (trimap > 0.75).astype(np.uint8)
    dist_in = cv2.distanceTransform(hard, cv2.DIST_L2, 3)
    dist_out = cv2.distanceTransform(1 - inner, cv2.DIST_L2, 3)
    soft = dist_in / np.maximum(dist_in + dist_out, 1e-6)
    return np.where(trimap == 0.5, soft, inner).astype(np.float32)


def estimate_layers(image: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(object colour, background colour), each (H, W, 3) float32 in [0, 255]: where alpha
    is partial, the pixel split into the object's colour and the background's
    (pymatting's multilevel estimate, solved only around the soft pixels); elsewhere both
    are the image itself."""
    fg_out = image.astype(np.float32)
    bg_out = fg_out.copy()
    soft = (alpha > 0.002) & (alpha < 0.998)
    if not soft.any() or not matting_available():
        return fg_out, bg_out
    with _torch_threads_kept():
        from pymatting import estimate_foreground_ml  # optional dependency

    ys, xs = np.nonzero(soft)
    h, w = alpha.shape
    pad = 16
    box = np.s_[max(ys.min() - pad, 0) : min(ys.max() + pad + 1, h), max(xs.min() - pad, 0) : min(xs.max() + pad + 1, w)]
    with _torch_threads_kept():
        fg, bg = estimate_foreground_ml(
            image[box].astype(np.float64) / 255.0, alpha[box].astype(np.float64), return_background=True
        )
    for out, est in ((fg_out, fg), (bg_out, bg)):
        crop = out[box]
        crop[soft[box]] = (np.clip(est, 0.0, 1.0) * 255.0).astype(np.float32)[soft[box]]
    return fg_out, bg_out


def estimate_foreground(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 object colour in [0, 255]: where alpha is partial, the pixel's
    colour with the background's share taken out (`estimate_layers`); the image itself
    elsewhere."""
    return estimate_layers(image, alpha)[0]


@dataclass
class ObjectLayer:
    """One object cut out of a photo: straight colour (background share removed at soft
    edges) and alpha; ``hard`` is its trajectory mask (the id's pixels); ``background``
    is the colour behind its soft edge (the image's share that is not the object), the
    image itself elsewhere."""

    id: int
    colour: np.ndarray  # (H, W, 3) float32, 0..255
    alpha: np.ndarray  # (H, W) float32, 0..1
    hard: np.ndarray  # (H, W) bool
    background: np.ndarray | None = None  # (H, W, 3) float32, 0..255

    def premultiplied(self) -> np.ndarray:
        """(H, W, 4) float32: colour times alpha, then alpha."""
        return np.concatenate([self.colour * self.alpha[..., None], self.alpha[..., None]], axis=2)


def object_layers(image: np.ndarray, ids: np.ndarray, object_ids: Sequence[int] | None = None, band: int | None = None) -> list[ObjectLayer]:
    """Matte every object of the (H, W) id map ``ids`` out of ``image``: one `ObjectLayer`
    per id present, in id order (back to front)."""
    image = np.ascontiguousarray(image)
    band = edge_band(ids.shape) if band is None else int(band)
    wanted = sorted(int(i) for i in np.unique(ids) if i) if object_ids is None else [int(i) for i in object_ids]
    layers = []
    for oid in wanted:
        hard = ids == oid
        if not hard.any():
            continue
        tri = trimap_from_mask(hard, band)
        alpha = estimate_alpha(image, tri)
        colour, background = estimate_layers(image, alpha)
        layers.append(ObjectLayer(oid, colour, alpha, hard, background))
    return layers
