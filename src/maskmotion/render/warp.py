"""The warp preview: each object's first-frame pixels moved along its trajectory.

No model: per object and frame, a transform (translation, scale x/y, rotation) is
fitted to the masks, the object's pixels are warped by it, and the
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
# A more general transform must beat a simpler one by this much IoU to be chosen, per
# unit of the mask's edge share (edge pixels / area: ~0.23 for a 16x16 square, ~0.6 for
# a small cross). Masks are rasterised, so IoU gains of the order of the edge share are
# noise, and a spurious turn or scale costs a textured object far more than a slightly
# looser fit. On 60 test scenes the preview's object pixels reach 19.3 dB pooled PSNR
# with these settings (19.2 dB anywhere in 0.2-0.45), against 17.5 dB for a fit from
# centroids and areas alone and 19.9 dB for the true motion.
_SIMPLER_WINS = 0.25
_TURN_COST = 30.0  # degrees off the expected turn that cost one margin
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 1e-4)
_ECC_MOTIONS = (cv2.MOTION_TRANSLATION, cv2.MOTION_EUCLIDEAN, cv2.MOTION_AFFINE)  # simplest first
_ROI_PAD = 6  # pixels around the object kept for the refinement


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


def _global_guesses(src: np.ndarray, target: np.ndarray, m0: np.ndarray, area0: int, prev_angle: float) -> list[np.ndarray]:
    """(dx, dy, s, s, angle) rows from the centroids and the area ratio, keeping the
    expected turn and then searching turns by IoU: they find big motions in one frame, but
    occluders and the frame border bias them, so they come after the refinements."""
    ys, xs = np.nonzero(target)
    mt = np.array([xs.mean(), ys.mean()])
    scale = float(np.sqrt(len(xs) / area0))
    angle, score = _best_angle(src, target, m0, mt, scale, prev_angle, prev_angle + _FINE_OFFSETS)
    if score < 0.9:  # a big turn since the last frame: search the whole circle
        coarse, _ = _best_angle(src, target, m0, mt, scale, prev_angle, _COARSE_ANGLES)
        angle, _ = _best_angle(src, target, m0, mt, scale, coarse, coarse + _FINE_OFFSETS)
    d = mt - m0
    return [np.array([d[0], d[1], scale, scale, prev_angle]), np.array([d[0], d[1], scale, scale, angle])]


def _track_row(mat: np.ndarray, centre: np.ndarray, prev_angle: float) -> np.ndarray | None:
    """The (dx, dy, sx, sy, angle) closest to a 2x3 affine map (shear dropped), the turn
    unwrapped next to ``prev_angle``; None for a flip or a collapse."""
    a = mat[:, :2]
    if np.linalg.det(a) < 0.05:
        return None
    th = np.arctan2(a[1, 0], a[0, 0])  # A = R(th) [[sx, shear], [0, sy]]
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    upper = rot.T @ a
    sx, sy = float(upper[0, 0]), float(upper[1, 1])
    if min(sx, sy) <= 0.05:
        return None
    d = mat[:, 2] + a @ centre - centre
    angle = -np.rad2deg(th)  # counter-clockwise on screen, as `MotionTrack`
    angle = prev_angle + (angle - prev_angle + 180.0) % 360.0 - 180.0
    return np.array([d[0], d[1], sx, sy, angle])


def _refine(src: np.ndarray, target: np.ndarray, valid: np.ndarray, prev: np.ndarray, motion: int) -> np.ndarray | None:
    """ECC alignment of the first-frame mask, moved by ``prev``, onto ``target`` within
    the pixels that ``valid`` marks (occluders excluded): the 2x3 map from the first
    frame to this one, or None where ECC does not converge."""
    h, w = target.shape
    moved = cv2.warpAffine(src, prev, (w, h), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero((moved > 0.05) | target)
    if len(xs) < 4:
        return None
    x0, y0 = max(int(xs.min()) - _ROI_PAD, 0), max(int(ys.min()) - _ROI_PAD, 0)
    x1, y1 = min(int(xs.max()) + _ROI_PAD + 1, w), min(int(ys.max()) + _ROI_PAD + 1, h)
    crop = np.s_[y0:y1, x0:x1]
    step = np.eye(2, 3, dtype=np.float32)
    try:
        _, step = cv2.findTransformECC(
            np.ascontiguousarray(moved[crop]), np.ascontiguousarray(target[crop], dtype=np.float32), step,
            motion, _ECC_CRITERIA, np.ascontiguousarray(valid[crop], dtype=np.uint8), 3,
        )
    except cv2.error:
        return None
    # The step maps crop coordinates to crop coordinates: shift it to the full frame.
    shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    step_full = shift @ np.vstack([step.astype(np.float64), [0, 0, 1]]) @ np.linalg.inv(shift)
    return (step_full @ np.vstack([prev, [0, 0, 1]]))[:2]


def _masked_iou(src: np.ndarray, target: np.ndarray, valid: np.ndarray, mat: np.ndarray) -> float:
    h, w = target.shape
    moved = cv2.warpAffine(src, mat, (w, h), flags=cv2.INTER_LINEAR) >= 0.5
    return _iou(moved & valid, target & valid)


def _fit_frame(
    src: np.ndarray, centre: np.ndarray, area0: int, target: np.ndarray, frame_ids: np.ndarray,
    prev: np.ndarray, ahead: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One frame of `fit_tracks`: the chosen (dx, dy, sx, sy, angle) row and its 2x3 map,
    from the last frame's map ``prev`` and the constant-velocity row ``ahead``."""
    valid = target | (frame_ids == 0)  # other objects' pixels may hide this one
    ahead_map = MotionTrack.from_array(ahead[None]).matrices(tuple(centre))[0]
    starts = [(ahead_map, cv2.MOTION_TRANSLATION)] + [(prev, m) for m in _ECC_MOTIONS]
    found = [_refine(src, target, valid, start, m) for start, m in starts]
    found = [_track_row(m, centre, ahead[4]) for m in found if m is not None]
    found += _global_guesses(src, target, centre, area0, ahead[4])
    cands = [r for r in found if r is not None]
    mats = [MotionTrack.from_array(r[None]).matrices(tuple(centre))[0] for r in cands]
    edge = target & ~cv2.erode(target.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    margin = _SIMPLER_WINS * edge.sum() / target.sum()
    # Each _TURN_COST degrees off the expected turn cost one margin: small masks
    # rasterise unevenly, and a symmetric one may fit best a quarter-turn off.
    scores = [
        _masked_iou(src, target, valid, m) - margin * abs(r[4] - ahead[4]) / _TURN_COST
        for r, m in zip(cands, mats)
    ]
    k = next(i for i, s in enumerate(scores) if s >= max(scores) - margin)
    return cands[k], mats[k]


def fit_tracks(traj: MaskTrajectory) -> dict[int, MotionTrack]:
    """Per object present in frame 0, the `MotionTrack` (translation, scale x/y, turn;
    angles in degrees, counter-clockwise) that maps its first-frame mask onto each frame's.

    Frame by frame, candidates come from ECC alignment of the masks, ignoring pixels
    that other objects cover (they may hide this one): a translation from the
    constant-velocity guess (position and turn), then translation, rigid and affine maps
    from the last frame's transform; then guesses from centroids and a search over turns.
    The simplest candidate whose IoU (less a cost per degree off the expected turn) is
    within a margin of the best (`_SIMPLER_WINS` times the mask's edge share) is kept.
    Frames where the object is absent repeat the last transform.
    """
    tracks = {}
    for obj in traj.objects:
        masks = traj.ids == obj.id  # (T, H, W)
        if not masks[0].any():
            continue
        src = masks[0].astype(np.float32)
        ys, xs = np.nonzero(masks[0])
        centre = np.array([xs.mean(), ys.mean()])
        rows = np.zeros((traj.num_frames, 5))
        rows[0] = (0, 0, 1, 1, 0)
        prev = np.eye(2, 3)
        for t in range(1, traj.num_frames):
            if not masks[t].any():
                rows[t] = rows[t - 1]
                continue
            # Constant velocity (position and turn) is the prior: where occluders and the
            # border hide the edges that ECC aligns, it is the best guess there is.
            ahead = rows[t - 1].copy()
            if t >= 2:
                ahead[[0, 1, 4]] += rows[t - 1, [0, 1, 4]] - rows[t - 2, [0, 1, 4]]
            rows[t], prev = _fit_frame(src, centre, len(xs), masks[t], traj.ids[t], prev, ahead)
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
    first_frame = checked_first_frame(first_frame, traj)
    h, w = traj.size
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


def checked_first_frame(first_frame: np.ndarray, traj: MaskTrajectory) -> np.ndarray:
    """``first_frame`` as an array, checked to be (H, W, 3) uint8 at the trajectory's size."""
    first_frame = np.asarray(first_frame)
    h, w = traj.size
    if first_frame.shape != (h, w, 3) or first_frame.dtype != np.uint8:
        raise ValueError(
            f"first frame must be ({h}, {w}, 3) uint8 to match the trajectory, got "
            f"{first_frame.shape} {first_frame.dtype}"
        )
    return first_frame
