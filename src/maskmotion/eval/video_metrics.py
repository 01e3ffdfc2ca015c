"""Video metrics: SSIM, frame-to-frame consistency, average displacement (AD) and
trajectory consistency (re-segment a video with the tracker, IoU against its trajectory).

AD follows the paper's definition (mean optical-flow magnitude) but uses OpenCV's DIS flow,
not the paper's flow network, so the figures are ours, not comparable with its tables.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from ..track import MaskTracker, optical_flow
from .metrics import mask_iou_per_object, psnr

# Wang et al. 2004 constants; the window is a Gaussian of sigma 1.5 cut at 3.5 sigma
# (11x11), the form scikit-image uses with gaussian_weights=True.
_K1, _K2 = 0.01, 0.03
_TRUNCATE = 3.5


def _ssim_plane(a: np.ndarray, b: np.ndarray, data_range: float, sigma: float) -> float:
    """Mean SSIM of two (H, W) float64 planes, border of half a window excluded."""
    blur = lambda x: gaussian_filter(x, sigma, truncate=_TRUNCATE, mode="reflect")  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    # Border pixels see the reflected padding, not the image; skip them as the reference does.
    pad = int(_TRUNCATE * sigma + 0.5)
    if min(a.shape) <= 2 * pad:
        raise ValueError(f"SSIM needs frames larger than {2 * pad}x{2 * pad}, got {a.shape}")
    return float(s[pad:-pad, pad:-pad].mean())


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0, sigma: float = 1.5) -> float:
    """Mean SSIM of images (H, W) / (H, W, C) or videos (T, H, W, C); channels and frames averaged."""
    if a.shape != b.shape:
        raise ValueError(f"SSIM needs equal shapes, got {a.shape} and {b.shape}")
    x, y = a.astype(np.float64), b.astype(np.float64)
    if x.ndim == 2:
        return _ssim_plane(x, y, data_range, sigma)
    if x.ndim == 3:  # (H, W, C)
        return float(np.mean([_ssim_plane(x[..., c], y[..., c], data_range, sigma) for c in range(x.shape[-1])]))
    if x.ndim == 4:  # (T, H, W, C)
        return float(np.mean([ssim(x[t], y[t], data_range, sigma) for t in range(x.shape[0])]))
    raise ValueError(f"SSIM takes (H, W), (H, W, C) or (T, H, W, C), got {a.shape}")


def frame_consistency(video: np.ndarray, metric: str = "ssim") -> float:
    """Mean similarity of consecutive frames of a (T, H, W, 3) uint8 video ("ssim" or "psnr" in dB).

    The paper's CF uses CLIP similarity of consecutive frames; this is its pixel-space
    stand-in. A frozen video scores the maximum, so read it together with AD.
    """
    _check_video(video, min_frames=2)
    if metric == "ssim":
        return float(np.mean([ssim(video[t], video[t + 1]) for t in range(len(video) - 1)]))
    if metric == "psnr":
        return float(np.mean([psnr(video[t], video[t + 1]) for t in range(len(video) - 1)]))
    raise ValueError(f"metric must be 'ssim' or 'psnr', got {metric!r}")


def average_displacement(video: np.ndarray, mask: np.ndarray | None = None) -> float:
    """AD: mean DIS optical-flow magnitude between consecutive frames, px per frame.

    ``mask`` (T-1, H, W) bool, if given, restricts the mean to those pixels of each pair's
    first frame (e.g. the objects).
    """
    _check_video(video, min_frames=2)
    mag = np.linalg.norm(optical_flow(video), axis=-1)  # (T-1, H, W)
    if mask is not None:
        if mask.shape != mag.shape:
            raise ValueError(f"mask must be (T-1, H, W) = {mag.shape}, got {mask.shape}")
        return float(mag[mask].mean()) if mask.any() else 0.0
    return float(mag.mean())


def trajectory_consistency(
    video: np.ndarray, trajectory_ids: np.ndarray, tracker: MaskTracker | None = None
) -> dict[str, float | dict[int, float]]:
    """Re-segment ``video`` from the first frame of ``trajectory_ids`` (T, H, W) uint8 and
    score each object's IoU against the trajectory the video was conditioned on.

    Returns {"mean": ..., "per_object": {id: IoU}}. Accepts a MaskTrajectory's ``.ids``.
    """
    _check_video(video, min_frames=1)
    ids = np.asarray(trajectory_ids)
    if ids.shape != video.shape[:3] or ids.dtype != np.uint8:
        raise ValueError(f"trajectory ids must be (T, H, W) = {video.shape[:3]} uint8, got {ids.shape} {ids.dtype}")
    tracked = (tracker or MaskTracker()).track(video, ids[0])
    objects = [int(i) for i in np.unique(ids) if i != 0]
    per = mask_iou_per_object(tracked, ids, objects)
    return {"mean": float(np.mean(list(per.values()))) if per else float("nan"), "per_object": per}


def _check_video(video: np.ndarray, min_frames: int) -> None:
    if not isinstance(video, np.ndarray) or video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise ValueError(
            f"video must be (T, H, W, 3) uint8, got {getattr(video, 'shape', type(video))} {getattr(video, 'dtype', '')}"
        )
    if video.shape[0] < min_frames:
        raise ValueError(f"need at least {min_frames} frames, got {video.shape[0]}")
