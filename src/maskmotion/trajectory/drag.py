"""Building a trajectory from a first-frame mask and a motion per object.

A `MotionTrack` is one object's per-frame similarity transform relative to frame 0
(translation, scale, rotation about its first-frame centroid). A `DragPath` is the
user-facing form: keyframe points, optional scales and angles, interpolated over the
clip. `warp_masks` renders tracks into ids, keeping occlusion order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import cv2
import numpy as np

from ..errors import clip_text
from .core import MaskTrajectory, TrajectoryError, TrajectoryObject
from .tracks import MotionTrack


#: Largest magnitude of a drag coordinate (pixels), scale or angle (degrees): far beyond
#: any image, yet small enough that warping stays exact in float32.
MAX_DRAG_VALUE = 1e6


@dataclass(frozen=True)
class DragPath:
    """A drag: keyframe positions (x, y) in pixels, with optional per-keyframe scale
    and angle (degrees), at keyframe times in [0, 1] (default evenly spaced).

    Positions are relative: the object moves by ``point_k - point_0``.
    """

    points: Sequence[tuple[float, float]]
    times: Sequence[float] | None = None
    scales: Sequence[float] | None = None
    angles: Sequence[float] | None = None

    def __post_init__(self) -> None:
        k = len(self.points)
        if k < 1:
            raise TrajectoryError("a drag path needs at least one point")
        for name in ("points", "times", "scales", "angles"):
            v = getattr(self, name)
            if v is None:
                continue
            try:
                values = np.asarray(v, dtype=float)
            except (TypeError, ValueError):
                raise TrajectoryError(f"drag {name} must be numbers, got {v!r}") from None
            if name == "points" and values.shape != (k, 2):
                raise TrajectoryError("drag points must be (x, y) pairs")
            if not np.isfinite(values).all():
                raise TrajectoryError(f"drag {name} must be finite numbers, got {clip_text(str(list(v)))} (no nan or inf)")
            if np.abs(values).max(initial=0.0) > MAX_DRAG_VALUE:
                raise TrajectoryError(f"drag {name} must lie within +-{MAX_DRAG_VALUE:g}, got {clip_text(str(list(v)))}")
        for name in ("times", "scales", "angles"):
            v = getattr(self, name)
            if v is not None and len(v) != k:
                raise TrajectoryError(f"drag path has {k} points but {len(v)} {name}; give one per point")
        if self.times is not None:
            t = np.asarray(self.times, dtype=float)
            if (np.diff(t) < 0).any() or t.min() < 0 or t.max() > 1:
                raise TrajectoryError("drag times must increase within [0, 1]")
        if self.scales is not None and min(self.scales) <= 0:
            raise TrajectoryError("drag scales must be positive")

    @classmethod
    def parse(cls, text: str) -> "DragPath":
        """Parse ``"x,y x,y ..."``; a point may carry ``@scale`` and ``/angle``,
        e.g. ``"10,20 40,20@1.5/90"``."""
        points, scales, angles = [], [], []
        for token in text.split():
            rest, angle = (token.split("/", 1) + ["0"])[:2] if "/" in token else (token, "0")
            xy, scale = rest.split("@", 1) if "@" in rest else (rest, "1")
            try:
                x, y = (float(v) for v in xy.split(","))
                points.append((x, y))
                scales.append(float(scale))
                angles.append(float(angle))
            except ValueError:
                raise TrajectoryError(
                    f"cannot read drag point {token!r}: write points as x,y (optionally x,y@scale/angle), "
                    "separated by spaces"
                ) from None
        if not points:
            raise TrajectoryError("empty drag path: give points as 'x,y x,y ...'")
        return cls(points, scales=scales, angles=angles)

    def track(self, num_frames: int) -> MotionTrack:
        """Interpolate linearly to a per-frame `MotionTrack`."""
        k = len(self.points)
        key_t = np.asarray(self.times, float) if self.times is not None else np.linspace(0, 1, k)
        t = np.linspace(0, 1, num_frames) if num_frames > 1 else np.zeros(1)
        p = np.asarray(self.points, dtype=float)  # (K, 2)
        dx = np.interp(t, key_t, p[:, 0] - p[0, 0])
        dy = np.interp(t, key_t, p[:, 1] - p[0, 1])
        scales = np.asarray(self.scales if self.scales is not None else [1.0] * k, float)
        # Scale interpolates in log space so growth looks steady.
        s = np.exp(np.interp(t, key_t, np.log(scales) - math.log(scales[0])))
        ang = np.asarray(self.angles if self.angles is not None else [0.0] * k, float)
        angle = np.interp(t, key_t, ang - ang[0])
        return MotionTrack(dx, dy, s, s.copy(), angle)


def mask_centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise TrajectoryError("cannot move an object that has no pixels in the first frame")
    return float(xs.mean()), float(ys.mean())


def warp_masks(
    first_ids: np.ndarray,
    tracks: Mapping[int, MotionTrack],
    num_frames: int,
    depth_order: Sequence[int] | None = None,
) -> np.ndarray:
    """Render per-object tracks into (T, H, W) uint8 ids.

    Each object's first-frame mask is moved by its track (objects without a track
    stay still); pixels that leave the frame are clipped. Objects are painted back to
    front in ``depth_order`` (default: ascending id, so later objects are on top).
    """
    first_ids = np.asarray(first_ids)
    if first_ids.ndim != 2:
        raise TrajectoryError(f"first-frame ids must be (H, W), got {first_ids.shape}")
    h, w = first_ids.shape
    present = [int(i) for i in np.unique(first_ids) if i != 0]
    order = list(depth_order) if depth_order is not None else sorted(present)
    missing = sorted(set(present) - set(order))
    if missing:
        raise TrajectoryError(f"depth_order {order} leaves out object(s) {missing}")
    for oid, tr in tracks.items():
        if tr.num_frames != num_frames:
            raise TrajectoryError(f"track of object {oid} has {tr.num_frames} frames, expected {num_frames}")
    out = np.zeros((num_frames, h, w), dtype=np.uint8)
    for oid in order:
        mask = first_ids == oid
        if not mask.any():
            continue
        track = tracks.get(oid)
        if track is None:
            out[:, mask] = oid
            continue
        for t, moved in enumerate(moved_masks(mask, track)):
            out[t][moved] = oid
    return out


def moved_masks(mask: np.ndarray, track: MotionTrack) -> Iterator[np.ndarray]:
    """A first-frame (H, W) bool mask moved by ``track``: one (H, W) bool mask per frame."""
    h, w = mask.shape
    mats = track.matrices(mask_centroid(mask))
    src = mask.astype(np.float32)
    for t in range(track.num_frames):
        # Bilinear warp then threshold keeps edges smooth under scaling and rotation.
        yield cv2.warpAffine(src, mats[t], (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0) >= 0.5


def overlay_tracks(
    trajectory: MaskTrajectory, first_ids: np.ndarray, tracks: Mapping[int, MotionTrack]
) -> MaskTrajectory:
    """``trajectory`` with the objects of ``tracks`` moved by them instead (a drag over a
    generated trajectory).

    When ``trajectory`` carries a track for every other object, all are drawn again from
    ``first_ids`` as `warp_masks` draws them. Otherwise (generated masks, perhaps not
    rigid) the other objects' masks stay exactly as they are: the moved objects' old
    pixels are cleared and their new masks painted where no object of a higher id (one
    in front, as `warp_masks` layers them) stands.
    """
    frames = trajectory.num_frames
    tracks = {int(k): v for k, v in tracks.items()}
    merged = {**(trajectory.tracks or {}), **tracks}
    if set(merged) >= set(trajectory.object_ids):
        return trajectory.replace(ids=warp_masks(first_ids, merged, frames), tracks=merged)
    ids = trajectory.ids.copy()
    for oid in tracks:
        ids[ids == oid] = 0
    for oid in sorted(tracks):
        for t, moved in enumerate(moved_masks(first_ids == oid, tracks[oid])):
            ids[t][moved & (ids[t] < oid)] = oid  # background is 0, below every id
    return trajectory.replace(ids=ids, tracks=merged)


def trajectory_from_drag(
    first_ids: np.ndarray,
    objects: Sequence[TrajectoryObject],
    paths: Mapping[int | str, DragPath | MotionTrack],
    num_frames: int,
    depth_order: Sequence[int | str] | None = None,
    fps: float = 8.0,
) -> MaskTrajectory:
    """Build a `MaskTrajectory` from first-frame ids and a drag path (or track) per object.

    ``paths`` and ``depth_order`` may name objects by id or name. Objects without a
    path stay still.
    """
    if num_frames < 1:
        raise TrajectoryError(f"num_frames must be >= 1, got {num_frames}")
    first = MaskTrajectory(np.asarray(first_ids, dtype=np.uint8)[None], objects, fps)

    def resolve(key: int | str) -> int:
        try:
            return first.object(key).id
        except KeyError:
            raise TrajectoryError(
                f"drag names {key!r}, which is not an object; objects: {[o.name for o in first.objects]}"
            ) from None

    tracks = {}
    for key, path in paths.items():
        oid = resolve(key)
        tracks[oid] = path.track(num_frames) if isinstance(path, DragPath) else path
    order = [resolve(k) for k in depth_order] if depth_order is not None else None
    ids = warp_masks(first.ids[0], tracks, num_frames, order)
    return MaskTrajectory(ids, objects, fps)
