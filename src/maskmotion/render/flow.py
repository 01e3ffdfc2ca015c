"""The optical-flow trajectory: the paper's alternative to the mask trajectory.

Instead of saying which object is where, a flow trajectory says how every pixel moved
since the previous frame. Here it is rendered from the same per-object `MotionTrack`s
that make the mask trajectory (stage 1's output, or the sprites' ground truth), so the
two representations carry the same motion and differ only in form: the benchmark's
"flow" variant swaps one for the other in stage 2.

Colour coding (the usual flow wheel): hue = direction, saturation = speed relative to
``max_speed``, value 255, so a still pixel is white.
"""

from __future__ import annotations

from typing import Mapping

import cv2
import numpy as np

from ..trajectory import MotionTrack

#: Speed (px per frame) that saturates the colour; sprites move at most a few px a frame.
DEFAULT_MAX_SPEED = 4.0


def flow_from_tracks(ids: np.ndarray, tracks: Mapping[int, MotionTrack]) -> np.ndarray:
    """Per-frame flow (T, H, W, 2) float32: at frame t, each object pixel p holds
    p - q, where q is where that point of the object was at frame t-1. Frame 0, the
    background and objects without a track are zero.

    ``ids`` (T, H, W) uint8 is the mask trajectory the tracks were rendered into (its
    frame 0 fixes each object's turning centre, as in `warp_masks`).
    """
    ids = np.asarray(ids)
    if ids.ndim != 3:
        raise ValueError(f"ids must be (T, H, W), got {ids.shape}")
    t_len, h, w = ids.shape
    flow = np.zeros((t_len, h, w, 2), np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    for oid, track in tracks.items():
        ys0, xs0 = np.nonzero(ids[0] == oid)
        if len(xs0) == 0:
            continue
        if track.num_frames != t_len:
            raise ValueError(f"track of object {oid} has {track.num_frames} frames, ids have {t_len}")
        mats = track.matrices((float(xs0.mean()), float(ys0.mean())))  # (T, 2, 3): frame 0 -> t
        for t in range(1, t_len):
            here = ids[t] == oid
            if not here.any():
                continue
            # q = M_{t-1} M_t^{-1} p, with the 2x3 maps lifted to 3x3.
            inv = cv2.invertAffineTransform(mats[t])
            step = _compose(mats[t - 1], inv)
            px, py = xs[here], ys[here]
            qx = step[0, 0] * px + step[0, 1] * py + step[0, 2]
            qy = step[1, 0] * px + step[1, 1] * py + step[1, 2]
            flow[t][here] = np.stack([px - qx, py - qy], axis=1)
    return flow


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 affine map x -> a(b(x))."""
    return np.concatenate([a[:, :2] @ b[:, :2], (a[:, :2] @ b[:, 2] + a[:, 2])[:, None]], axis=1)


def flow_to_colour(flow: np.ndarray, max_speed: float = DEFAULT_MAX_SPEED) -> np.ndarray:
    """(..., H, W, 2) flow -> (..., H, W, 3) uint8 RGB on the flow wheel (still = white)."""
    flow = np.asarray(flow, np.float32)
    if flow.shape[-1] != 2:
        raise ValueError(f"flow must end in 2 channels (dx, dy), got {flow.shape}")
    if max_speed <= 0:
        raise ValueError(f"max_speed must be positive, got {max_speed}")
    lead = flow.shape[:-3]
    planes = flow.reshape(-1, *flow.shape[-3:])
    out = np.empty((*planes.shape[:-1], 3), np.uint8)
    for i, f in enumerate(planes):
        speed, angle = cv2.cartToPolar(np.ascontiguousarray(f[..., 0]), np.ascontiguousarray(f[..., 1]), angleInDegrees=True)
        hsv = np.empty((*f.shape[:2], 3), np.uint8)
        hsv[..., 0] = np.round(angle / 2).astype(np.int32) % 180  # OpenCV hue is 0..179
        hsv[..., 1] = np.clip(speed / max_speed * 255, 0, 255).round().astype(np.uint8)
        hsv[..., 2] = 255
        out[i] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out.reshape(*lead, *out.shape[1:])


def flow_render(ids: np.ndarray, tracks: Mapping[int, MotionTrack], max_speed: float = DEFAULT_MAX_SPEED) -> np.ndarray:
    """The flow trajectory as a (T, H, W, 3) uint8 colour video."""
    return flow_to_colour(flow_from_tracks(ids, tracks), max_speed)
