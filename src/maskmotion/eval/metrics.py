"""Pixel metrics: trajectory IoU per object, PSNR (whole frames or a pixel subset)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def mask_iou_per_object(generated: np.ndarray, reference: np.ndarray, object_ids: list[int]) -> dict[int, float]:
    """Mean over frames of each object's mask IoU, (T, H, W) id maps.

    Frames where the object is in neither map are skipped; an object absent from both
    everywhere scores 1.
    """
    out = {}
    for oid in object_ids:
        a, b = generated == oid, reference == oid
        inter = (a & b).sum(axis=(1, 2))
        union = (a | b).sum(axis=(1, 2))
        valid = union > 0
        out[oid] = float((inter[valid] / union[valid]).mean()) if valid.any() else 1.0
    return out


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of uint8 images/videos, over ``mask`` (broadcast to a's leading axes) if given."""
    err = np.square(a.astype(np.float64) - b.astype(np.float64))
    if mask is not None:
        err = err[mask]
    mse = float(err.mean()) if err.size else 0.0
    return 10.0 * np.log10(255.0**2 / max(mse, 1e-10))


@dataclass
class PooledPSNR:
    """PSNR over the union of many clips' pixels: sum of squared errors / count."""

    sse: float = 0.0
    count: int = 0

    def add(self, a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> None:
        err = np.square(a.astype(np.float64) - b.astype(np.float64))
        if mask is not None:
            err = err[mask]
        self.sse += float(err.sum())
        self.count += err.size

    @property
    def value(self) -> float:
        if self.count == 0:
            return float("nan")
        return 10.0 * np.log10(255.0**2 / max(self.sse / self.count, 1e-10))


def centroid_error(generated: np.ndarray, reference: np.ndarray, object_ids: list[int]) -> dict[int, float]:
    """Mean distance in pixels between each object's centroid in two (T, H, W) id maps,
    over the frames where it is in both; NaN for an object never in both."""
    h, w = reference.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w]
    out = {}
    for oid in object_ids:
        dists = []
        for g, r in zip(generated == oid, reference == oid):
            if g.any() and r.any():
                dists.append(np.hypot(xs[g].mean() - xs[r].mean(), ys[g].mean() - ys[r].mean()))
        out[oid] = float(np.mean(dists)) if dists else float("nan")
    return out


def identity_swaps(generated: np.ndarray, reference: np.ndarray, object_ids: list[int]) -> dict[int, int]:
    """Identity switches per object, as in multi-object tracking: in each frame a
    generated object is matched to the reference object its mask overlaps most (IoU);
    every change of that match from one frame where it has one to the next counts once.

    An object that becomes another object's double, or trades places with it, switches;
    one that just drifts off its reference without covering another does not.
    """
    out = {oid: 0 for oid in object_ids}
    last: dict[int, int] = {}
    for g_frame, r_frame in zip(generated, reference):
        for oid in object_ids:
            g = g_frame == oid
            if not g.any():
                continue
            best, best_iou = 0, 0.0
            for rid in object_ids:
                r = r_frame == rid
                union = (g | r).sum()
                iou = (g & r).sum() / union if union else 0.0
                if iou > best_iou:
                    best, best_iou = rid, iou
            if best == 0:
                continue
            if oid in last and last[oid] != best:
                out[oid] += 1
            last[oid] = best
    return out
