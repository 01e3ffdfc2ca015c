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
