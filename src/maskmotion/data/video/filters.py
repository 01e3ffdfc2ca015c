"""Which windows make training examples, and why the others do not.

Each check returns the name of the reason a window is dropped (counted in the stats
report) or None. The names are fixed: `REASONS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...errors import InputError
from ...trajectory import MAX_OBJECTS

#: Every reason a window is dropped, in the order the checks run.
REASONS = (
    "unreadable",  # the video could not be decoded
    "too short",  # no window of T frames at the target fps fits in the clip
    "scene cut",  # two consecutive frames of the window share almost no colours
    "no objects",  # nothing found in the first frame (or all of it too small)
    "too many objects",  # more objects than a trajectory may hold (or than asked)
    "object lost",  # an object shrank to a sliver of its first-frame size
    "identity swap",  # an object's pixels came mostly from another object's
    "static",  # no object moved enough to teach motion
)


@dataclass(frozen=True)
class FilterConfig:
    """Thresholds of the checks; sizes and motion are fractions of the frame."""

    min_object_area: float = 0.002
    """Objects covering less of the first frame are left out (not the window)."""
    max_objects: int = MAX_OBJECTS
    lost_ratio: float = 0.15
    """An object whose area falls below this fraction of its first-frame area is lost."""
    swap_overlap: float = 0.5
    """Share of an object's pixels that came from another object's last-frame pixels
    (and not its own) above which the ids have swapped."""
    min_motion: float = 0.01
    """Least centroid travel (fraction of the frame diagonal) of the most-moving object."""
    cut_correlation: float = 0.5
    """Colour-histogram correlation of consecutive frames below which there is a cut."""
    cut_jump: float = 3.0
    """A change between two frames (mean difference of 16x16 grey thumbnails) this many
    times the window's median change, and over `CUT_MIN_CHANGE`, is a cut too: a cut
    between shots of one colour scheme keeps the histograms alike."""

    def __post_init__(self) -> None:
        for name in ("min_object_area", "lost_ratio", "swap_overlap", "min_motion"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise InputError(f"{name} must lie in [0, 1), got {getattr(self, name)}")
        if not -1.0 <= self.cut_correlation <= 1.0:
            raise InputError(f"cut_correlation must lie in [-1, 1], got {self.cut_correlation}")
        if self.cut_jump <= 1.0:
            raise InputError(f"cut_jump must be more than 1, got {self.cut_jump}")
        if not 1 <= self.max_objects <= MAX_OBJECTS:
            raise InputError(f"max_objects must be from 1 to {MAX_OBJECTS} (a trajectory's limit), got {self.max_objects}")


#: Least thumbnail change (fraction of the grey range) that a jump can call a cut. On
#: the bikes sample clip, shot changes measured 0.17-0.41 and a taxi passing close 0.13.
CUT_MIN_CHANGE = 0.15


def scene_cut(frames: np.ndarray, correlation: float, jump: float = 3.0) -> int | None:
    """The first frame t of (T, H, W, 3) uint8 ``frames`` that starts a new shot, or None.

    A cut is a colour histogram correlating below ``correlation`` with frame t - 1's, or
    a grey-thumbnail change ``jump`` times the window's median change (and at least
    `CUT_MIN_CHANGE`): motion changes every frame a little, a cut one frame a lot."""
    hists, thumbs = [], []
    for frame in frames:
        h = cv2.calcHist([frame], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3)
        hists.append(cv2.normalize(h, h).flatten())
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        thumbs.append(cv2.resize(grey, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0)
    change = [float(np.abs(a - b).mean()) for a, b in zip(thumbs[:-1], thumbs[1:])]  # (T-1,)
    typical = float(np.median(change)) if change else 0.0
    for t in range(1, len(frames)):
        if cv2.compareHist(hists[t - 1], hists[t], cv2.HISTCMP_CORREL) < correlation:
            return t
        if change[t - 1] >= max(CUT_MIN_CHANGE, jump * typical):
            return t
    return None


def drop_small(first_ids: np.ndarray, min_area: float) -> np.ndarray:
    """(H, W) ids with objects under ``min_area`` of the frame cleared and the rest
    renumbered 1..L in their old order."""
    out = np.zeros_like(first_ids)
    total = first_ids.size
    new = 0
    for oid in (int(i) for i in np.unique(first_ids) if i):
        mask = first_ids == oid
        if mask.sum() >= max(1, min_area * total):
            new += 1
            out[mask] = new
    return out


def object_lost(ids: np.ndarray, ratio: float) -> bool:
    """Did any object of (T, H, W) ``ids`` fall below ``ratio`` of its first-frame area?"""
    flat = ids.reshape(len(ids), -1)
    for oid in (int(i) for i in np.unique(ids[0]) if i):
        areas = (flat == oid).sum(axis=1)
        if areas.min() < ratio * areas[0]:
            return True
    return False


def identity_swap(ids: np.ndarray, overlap: float) -> bool:
    """Did an object's mask at t lie mostly on another object's mask at t - 1 rather
    than its own? (T, H, W) ids."""
    for t in range(1, len(ids)):
        prev, cur = ids[t - 1], ids[t]
        for oid in (int(i) for i in np.unique(cur) if i):
            came_from = prev[cur == oid]
            own = (came_from == oid).mean()
            other = ((came_from != oid) & (came_from != 0)).mean()
            if other > overlap and other > own:
                return True
    return False


def motion_amounts(ids: np.ndarray) -> dict[int, float]:
    """Per first-frame object: the farthest its centroid gets from where it starts, as a
    fraction of the frame diagonal (frames it is absent in are skipped)."""
    t, h, w = ids.shape
    ys, xs = np.mgrid[0:h, 0:w]
    diag = float(np.hypot(h, w))
    out = {}
    for oid in (int(i) for i in np.unique(ids[0]) if i):
        masks = ids == oid  # (T, H, W)
        n = masks.sum(axis=(1, 2))
        present = n > 0
        cx = (masks * xs).sum(axis=(1, 2))[present] / n[present]
        cy = (masks * ys).sum(axis=(1, 2))[present] / n[present]
        out[oid] = float(np.hypot(cx - cx[0], cy - cy[0]).max() / diag)
    return out


def object_sizes(first_ids: np.ndarray) -> dict[int, float]:
    """Per object: its share of the first frame."""
    return {int(i): float((first_ids == i).mean()) for i in np.unique(first_ids) if i}


def check_objects(first_ids: np.ndarray, config: FilterConfig) -> str | None:
    count = len([i for i in np.unique(first_ids) if i])
    if count == 0:
        return "no objects"
    if count > config.max_objects:
        return "too many objects"
    return None


def check_track(ids: np.ndarray, config: FilterConfig) -> str | None:
    """The reason a tracked window (T, H, W) is dropped, or None to keep it."""
    if object_lost(ids, config.lost_ratio):
        return "object lost"
    if identity_swap(ids, config.swap_overlap):
        return "identity swap"
    if max(motion_amounts(ids).values(), default=0.0) < config.min_motion:
        return "static"
    return None
