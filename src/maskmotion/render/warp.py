"""The warp preview: each object's first-frame pixels moved along its trajectory.

No model: per object and frame, a similarity transform (translation, uniform scale,
rotation) is fitted to the masks, the object's pixels are warped by it, and the
background uncovered by movers is filled by OpenCV inpainting. It renders rigid motion
well and cannot render what the masks do not say (a symmetric sprite spinning, a
colour change, the true texture behind a mover); stage 2 learns that residual.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..trajectory import MaskTrajectory, MotionTrack

_COARSE_ANGLES = np.arange(-180.0, 180.0, 10.0)
_FINE_OFFSETS = np.arange(-12.0, 12.5, 3.0)
_TIE = 0.01  # IoU differences below this are ties, settled by the smaller turn


def _warp_mask(mask: np.ndarray, m0: np.ndarray, mt: np.ndarray, scale: float, angle: float) -> np.ndarray:
    h, w = mask.shape
    mat = cv2.getRotationMatrix2D((float(m0[0]), float(m0[1])), float(angle), float(scale))
    mat[:, 2] += mt - m0
    return cv2.warpAffine(mask, mat, (w, h), flags=cv2.INTER_LINEAR) >= 0.5


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _best_angle(
    src: np.ndarray, target: np.ndarray, m0: np.ndarray, mt: np.ndarray, scale: float, prev: float, angles
) -> tuple[float, float]:
    scores = np.array([_iou(_warp_mask(src, m0, mt, scale, a), target) for a in angles])
    close = scores >= scores.max() - _TIE
    # Among near-ties (symmetric shapes), keep the turn closest to the last frame's.
    cand = np.asarray(angles)[close]
    best = cand[np.argmin(np.abs(cand - prev))]
    return float(best), float(scores.max())


def fit_tracks(traj: MaskTrajectory) -> dict[int, MotionTrack]:
    """Per object present in frame 0, the similarity `MotionTrack` that best maps its
    first-frame mask onto each frame's mask (angles in degrees, counter-clockwise).

    Frames where the object is absent repeat the last fitted transform.
    """
    tracks = {}
    for obj in traj.objects:
        masks = traj.ids == obj.id  # (T, H, W)
        if not masks[0].any():
            continue
        src = masks[0].astype(np.float32)
        ys, xs = np.nonzero(masks[0])
        m0, area0 = np.array([xs.mean(), ys.mean()]), len(xs)
        rows = np.zeros((traj.num_frames, 5))
        rows[0] = (0, 0, 1, 1, 0)
        for t in range(1, traj.num_frames):
            ys, xs = np.nonzero(masks[t])
            if len(xs) == 0:
                rows[t] = rows[t - 1]
                continue
            mt = np.array([xs.mean(), ys.mean()])
            scale = float(np.sqrt(len(xs) / area0))
            prev = rows[t - 1, 4]
            angle, score = _best_angle(src, masks[t], m0, mt, scale, prev, prev + _FINE_OFFSETS)
            if score < 0.9:  # a big turn since the last frame: search the whole circle
                coarse, _ = _best_angle(src, masks[t], m0, mt, scale, prev, _COARSE_ANGLES)
                angle, _ = _best_angle(src, masks[t], m0, mt, scale, coarse, coarse + _FINE_OFFSETS)
            rows[t] = (mt[0] - m0[0], mt[1] - m0[1], scale, scale, angle)
        tracks[obj.id] = MotionTrack.from_array(rows)
    return tracks


def background_plate(first_frame: np.ndarray, first_ids: np.ndarray, radius: int = 5) -> np.ndarray:
    """The first frame with every object removed and the holes inpainted (H, W, 3)."""
    holes = (first_ids > 0).astype(np.uint8)
    if not holes.any():
        return first_frame.copy()
    holes = cv2.dilate(holes, np.ones((3, 3), np.uint8))  # also cover antialiased edges
    return cv2.inpaint(np.ascontiguousarray(first_frame), holes, radius, cv2.INPAINT_TELEA)


def warp_preview(
    first_frame: np.ndarray,
    traj: MaskTrajectory,
    tracks: dict[int, MotionTrack] | None = None,
) -> np.ndarray:
    """Render (T, H, W, 3) uint8 from a first frame and a trajectory.

    Each pixel of object k in frame t takes the first-frame colour that the object's
    track brings there (its mean colour where the warp reaches no object pixel);
    every other pixel shows the inpainted background plate. ``tracks`` defaults to
    `fit_tracks(traj)`; an object without a track keeps its first-frame pixels still.
    """
    first_frame = np.asarray(first_frame)
    h, w = traj.size
    if first_frame.shape != (h, w, 3) or first_frame.dtype != np.uint8:
        raise ValueError(
            f"first frame must be ({h}, {w}, 3) uint8 to match the trajectory, got "
            f"{first_frame.shape} {first_frame.dtype}"
        )
    tracks = fit_tracks(traj) if tracks is None else tracks
    plate = background_plate(first_frame, traj.ids[0])
    out = np.repeat(plate[None], traj.num_frames, axis=0)
    src = first_frame.astype(np.float32)
    for obj in traj.objects:
        mask0 = traj.ids[0] == obj.id
        if not mask0.any():
            continue
        ys, xs = np.nonzero(mask0)
        centre = (float(xs.mean()), float(ys.mean()))
        mean_colour = src[mask0].mean(axis=0)
        # Premultiplied colour + alpha warp together, so edges do not bleed background.
        rgba = np.concatenate([src * mask0[..., None], mask0[..., None].astype(np.float32)], axis=2)
        track = tracks.get(obj.id) or MotionTrack.still(traj.num_frames)
        mats = track.matrices(centre)
        for t in range(traj.num_frames):
            target = traj.ids[t] == obj.id
            if not target.any():
                continue
            moved = cv2.warpAffine(rgba, mats[t], (w, h), flags=cv2.INTER_LINEAR)
            alpha = moved[..., 3:]
            colour = np.where(alpha > 0.05, moved[..., :3] / np.maximum(alpha, 1e-6), mean_colour)
            out[t][target] = np.clip(colour[target], 0, 255).round().astype(np.uint8)
    return out
