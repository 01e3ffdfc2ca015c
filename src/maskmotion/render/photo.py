"""The photo renderer: soft cut-outs moved along their tracks over a background filled
once, composited back to front.

This is what `WarpVideo` (``--renderer warp``, and ``auto`` on a photo) draws. It differs
from `warp_preview` (which stays as it is: the bundled stage-2 model is trained with it as
a condition) in three ways:

- each object is a layer with a real alpha (`object_layers`: a trimap around its
  first-frame mask, closed-form matting, and its colour with the old background taken out
  of the soft edge), composited with premultiplied alpha, so it carries no halo of the
  place it left;
- the background is filled once, by PatchMatch (`fill_holes`), over exactly the pixels
  that some frame uncovers (the union over frames, from the tracks), and that one plate is
  used in every frame: nothing flickers or smears frame to frame;
- layers are composited in id order, back to front (a higher id is nearer, as in the
  plan's box order), and each is limited to its own trajectory mask (grown by the soft
  edge's width), so the trajectory decides who hides whom and where an object is gone
  (left the frame, or hidden).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..trajectory import MaskTrajectory, MotionTrack
from .inpaint import DETAIL, fill_holes
from .matting import ObjectLayer, edge_band, object_layers
from .warp import checked_first_frame, fit_tracks

#: Coverage at or above this counts as hiding the background completely.
_OPAQUE = 0.996
#: Alpha above this belongs to an object's footprint in the first frame.
_PRESENT = 0.004
#: Behind first-frame alpha below this, the background comes from the matte (the pixel
#: minus the object's share); at or above it, from the fill.
SOLID = 0.7


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _warp_crop(
    src: np.ndarray, src_box: tuple[int, int, int, int], mat: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """Warp the ``src_box`` crop of ``src`` by the full-frame 2x3 ``mat``: the warped
    crop and where it lies in the (H, W) frame, or None when it falls outside."""
    h, w = size
    x0, y0, x1, y1 = src_box
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
    moved = corners @ mat[:, :2].T + mat[:, 2]
    dx0, dy0 = max(int(np.floor(moved[:, 0].min())) - 1, 0), max(int(np.floor(moved[:, 1].min())) - 1, 0)
    dx1, dy1 = min(int(np.ceil(moved[:, 0].max())) + 2, w), min(int(np.ceil(moved[:, 1].max())) + 2, h)
    if dx1 <= dx0 or dy1 <= dy0:
        return None
    local = mat.astype(np.float64).copy()
    local[:, 2] = mat[:, 2] + mat[:, :2] @ np.array([x0, y0], np.float64) - np.array([dx0, dy0], np.float64)
    out = cv2.warpAffine(
        np.ascontiguousarray(src[y0:y1, x0:x1]), local, (dx1 - dx0, dy1 - dy0), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )  # fmt: skip
    return out, (dx0, dy0, dx1, dy1)


class _Placed:
    """One layer's premultiplied RGBA crop, its first-frame box and its per-frame maps."""

    def __init__(self, layer: ObjectLayer, track: MotionTrack, frames: int) -> None:
        self.id = layer.id
        box = _bbox(layer.alpha > _PRESENT)
        assert box is not None
        self.box = box
        ys, xs = np.nonzero(layer.hard)
        self.mats = track.matrices((float(xs.mean()), float(ys.mean())))
        self.rgba = layer.premultiplied()
        self.frames = frames


def _gate(ids_t: np.ndarray, oid: int, box: tuple[int, int, int, int], grow: np.ndarray) -> np.ndarray:
    """The object's trajectory mask in frame t, grown by the soft edge, within ``box``."""
    x0, y0, x1, y1 = box
    m = (ids_t[y0:y1, x0:x1] == oid).astype(np.uint8)
    return cv2.dilate(m, grow).astype(np.float32)


def _frame_layers(placed: list[_Placed], traj: MaskTrajectory, t: int, grow: np.ndarray):
    """Each visible layer of frame t: (premultiplied RGBA crop, gated, and its box)."""
    ids_t = traj.ids[t]
    for p in placed:
        if not (ids_t == p.id).any():
            continue  # gone: out of the frame or hidden
        warped = _warp_crop(p.rgba, p.box, p.mats[t], traj.size)
        if warped is None:
            continue
        crop, box = warped
        crop *= _gate(ids_t, p.id, box, grow)[..., None]
        yield crop, box


def revealed_region(first_alpha: np.ndarray, placed: list[_Placed], traj: MaskTrajectory, grow: np.ndarray) -> np.ndarray:
    """(H, W) bool: first-frame object pixels (``first_alpha`` > 0) that any frame shows
    at least partly, i.e. the background that must be filled."""
    footprint = first_alpha > _PRESENT
    hidden_always = footprint.copy()
    for t in range(traj.num_frames):
        cover = np.zeros(traj.size, np.float32)  # 1 - product of (1 - alpha)
        for crop, (x0, y0, x1, y1) in _frame_layers(placed, traj, t, grow):
            a = crop[..., 3]
            cover[y0:y1, x0:x1] = 1.0 - (1.0 - cover[y0:y1, x0:x1]) * (1.0 - a)
        hidden_always &= cover >= _OPAQUE
    return footprint & ~hidden_always


def fill_region(hole: np.ndarray, solids: list[np.ndarray]) -> np.ndarray:
    """The pixels to fill: the whole mostly-opaque first-frame footprint of every object
    that uncovers some of the ``hole``, so that no patch next to the hole is matched
    against the object that stood there (objects that never move are left out)."""
    region = hole.copy()
    for solid in solids:
        if (solid & hole).any():
            region |= solid
    return region


def _unmixed(first_frame: np.ndarray, layers: list[ObjectLayer]) -> tuple[np.ndarray, np.ndarray]:
    """The first frame with each soft edge replaced by the background the matte found
    behind it (uint8), and the objects' joint first-frame alpha (max over layers)."""
    first_alpha = np.zeros(first_frame.shape[:2], np.float32)
    plate = first_frame.astype(np.float32)
    for layer in layers:
        if layer.background is not None:
            take = (layer.alpha > first_alpha) & (layer.alpha > _PRESENT) & (layer.alpha < SOLID)
            plate[take] = layer.background[take]
        first_alpha = np.maximum(first_alpha, layer.alpha)
    return np.clip(plate + 0.5, 0, 255).astype(np.uint8), first_alpha


def photo_render(
    first_frame: np.ndarray,
    traj: MaskTrajectory,
    tracks: dict[int, MotionTrack] | None = None,
    layers: list[ObjectLayer] | None = None,
    seed: int = 0,
    detail: float = DETAIL,
) -> np.ndarray:
    """Render (T, H, W, 3) uint8 from a photo's first frame and a trajectory.

    ``tracks`` default to `fit_tracks(traj)` (an object without one stays still);
    ``layers`` default to `object_layers` of the first frame's ids. ``seed`` fixes the
    background fill (the output is deterministic for a given seed); ``detail`` is the
    share of copied texture in it (`fill_holes`).
    """
    first_frame = checked_first_frame(first_frame, traj)
    h, w = traj.size
    tracks = fit_tracks(traj) if tracks is None else tracks
    layers = object_layers(first_frame, traj.ids[0], traj.object_ids) if layers is None else layers
    band = edge_band((h, w))
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 3, 2 * band + 3))
    placed = [
        _Placed(layer, tracks.get(layer.id) or MotionTrack.still(traj.num_frames), traj.num_frames)
        for layer in layers
        if (layer.alpha > _PRESENT).any()
    ]
    plate, first_alpha = _unmixed(first_frame, layers)
    revealed = revealed_region(first_alpha, placed, traj, grow)
    # Behind a thin soft edge the matte already tells the background: only what lies
    # behind the mostly-opaque part is filled. Object pixels never shown again are kept
    # out of the fill's sources.
    opaque = first_alpha >= SOLID
    region = fill_region(revealed & opaque, [layer.alpha >= SOLID for layer in layers])
    plate = fill_holes(plate, region, avoid=opaque, seed=seed, detail=detail)
    video = np.empty((traj.num_frames, h, w, 3), np.uint8)
    base = plate.astype(np.float32)
    for t in range(traj.num_frames):
        frame = base.copy()
        for crop, (x0, y0, x1, y1) in _frame_layers(placed, traj, t, grow):
            region = frame[y0:y1, x0:x1]
            region *= 1.0 - crop[..., 3:]
            region += crop[..., :3]
        video[t] = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
    return video


__all__ = ["photo_render", "revealed_region"]
