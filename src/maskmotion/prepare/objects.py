"""Objects in a window's first frame: SA-V masklets when the clip has them, else the
regions that move (optical flow against the camera's own motion)."""

from __future__ import annotations

import cv2
import numpy as np

from ..data.video.sav import Masklets
from ..data.video.windows import crop_resize_ids
from ..track import optical_flow
from ..trajectory import MAX_OBJECTS


def moving_regions(
    frames: np.ndarray, max_objects: int = MAX_OBJECTS, min_area: float = 0.002, flow_frames: int = 4,
    min_speed: float = 0.75,
) -> np.ndarray:
    """(H, W) uint8 ids of the regions of frame 0 that move, largest first (id 1).

    Flow over the first ``flow_frames`` steps of (T, H, W, 3) ``frames``, minus its
    median (the camera's pan), averaged in magnitude; pixels faster than ``min_speed``
    px per frame and than a quarter of the 99th percentile are moving. Components
    under ``min_area`` of the frame are dropped, so are all past ``max_objects``.
    """
    h, w = frames.shape[1:3]
    if len(frames) < 2:
        return np.zeros((h, w), np.uint8)
    steps = max(1, min(flow_frames, len(frames) - 1))
    flow = optical_flow(frames[: steps + 1])  # (steps, H, W, 2)
    residual = flow - np.median(flow.reshape(steps, -1, 2), axis=1)[:, None, None, :]
    speed = np.linalg.norm(residual, axis=-1).mean(axis=0)  # (H, W) px per frame
    threshold = max(min_speed, 0.25 * float(np.percentile(speed, 99)))
    moving = (speed > threshold).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    moving = cv2.morphologyEx(cv2.morphologyEx(moving, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]  # (count - 1,) background is label 0
    order = [int(k) + 1 for k in np.argsort(-areas, kind="stable") if areas[k] >= max(1, min_area * h * w)]
    ids = np.zeros((h, w), np.uint8)
    for new, label in enumerate(order[:max_objects], 1):
        ids[labels == label] = new
    return ids


def masklet_masks(masklets: Masklets, video_frame: int, size: tuple[int, int]) -> np.ndarray:
    """(L, H, W) bool: every masklet on ``video_frame`` (an annotated frame), cropped and
    resized like the window's frames."""
    k = masklets.annotated_index(video_frame)
    if k is None:
        raise ValueError(f"frame {video_frame} of {masklets.video_id} has no masklets (every {masklets.stride}th has)")
    masks = masklets.masks(k)
    if not len(masks):
        return np.zeros((0, *size), bool)
    return crop_resize_ids(masks.astype(np.uint8), size).astype(bool)


def select_masklets(first: np.ndarray, min_area: float) -> list[int]:
    """Indices of the masklets of (L, H, W) ``first`` big enough to keep, in order."""
    need = max(1, min_area * first.shape[1] * first.shape[2])
    return [j for j in range(len(first)) if first[j].sum() >= need]


def ids_from_masks(masks: np.ndarray, keep: list[int]) -> np.ndarray:
    """(H, W) uint8: masklet ``keep[i]`` is id i + 1 (later ones win overlaps)."""
    ids = np.zeros(masks.shape[1:], np.uint8)
    for i, j in enumerate(keep):
        ids[masks[j]] = i + 1
    return ids
