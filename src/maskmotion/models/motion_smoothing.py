"""Trend filtering of sampled motion: stage 1's tracks made piecewise linear in time.

The sprites motions (and the motions users ask for) are steady between a few turning
points: constant-speed slides, stills, linear growth, a bounce's reflection. A sample of
the flow model carries small frame-to-frame wobble on top (a still object drifts by a
fraction of a pixel each frame, a steady slide speeds up and slows down), which the
drawn masks and the video then show. The L1 trend filter removes exactly that:

    x = argmin_x  1/2 ||x - y||^2  +  strength * ||D2 x||_1

over each channel of each object's (T,) series y, where D2 takes second differences.
Its solutions are piecewise linear with few kinks: a line stays a line, a kink bigger
than ``strength`` survives, and wobble smaller than that is flattened. Frame 0 stays
fixed (motion is relative to it). It is solved through its dual, a box-bounded least
squares problem (scipy's `lsq_linear`):

    z = argmin_{|z| <= strength} ||D2^T z - y||^2,   x = y - D2^T z.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.optimize import lsq_linear


@lru_cache(maxsize=8)
def _second_difference_without_first(frames: int) -> np.ndarray:
    """(T-2, T-1): second differences of a series whose frame 0 is held fixed (the
    operator acts on frames 1..T-1; frame 0's column only shifts the data)."""
    d = np.zeros((frames - 2, frames))
    for i in range(frames - 2):
        d[i, i : i + 3] = (1.0, -2.0, 1.0)
    return d[:, 1:]


def trend_filter(series: np.ndarray, strength: float) -> np.ndarray:
    """L1 trend filter of each row of ``series`` (..., T), keeping frame 0.

    ``strength`` is in the series' units (the largest change of slope that is flattened
    is of that order); 0 returns the input unchanged.
    """
    series = np.asarray(series, dtype=np.float64)
    if strength < 0:
        raise ValueError(f"strength must be 0 or more, got {strength}")
    frames = series.shape[-1]
    if strength == 0 or frames < 3:
        return series.copy()
    d = _second_difference_without_first(frames)  # (T-2, T-1)
    rows = series.reshape(-1, frames)  # (N, T)
    out = rows.copy()
    for k, row in enumerate(rows):
        y = row[1:] - row[0]  # relative to frame 0: the fixed frame is 0 and drops out of D2
        z = lsq_linear(d.T, y, bounds=(-strength, strength), method="bvls").x  # (T-2,)
        out[k, 1:] = row[0] + y - d.T @ z
    return out.reshape(series.shape)


#: Channel groups of stage 1's raw motion that are smoothed (or kept) together:
#: translation (dx, dy), scale (log sx, log sy), angle.
MOTION_GROUPS = ((0, 1), (2, 3), (4,))


def smooth_motion(
    motion: np.ndarray, strength: float, scale: np.ndarray | list[float], keep_above: float | None = None
) -> np.ndarray:
    """Trend-filter (L, T, C) motion channel by channel; ``strength`` is in units of
    each channel's ``scale`` (the model's normalisation), so one number fits channels
    in different units.

    With ``keep_above``, each object's channel group (`MOTION_GROUPS`) is smoothed only
    where the filter changes it by at most that RMS (in the same units): there the sample
    is a piecewise-linear motion plus wobble. Where it would change more, the motion has
    structure the filter cannot represent (a shake's oscillation, a hop's parabola, an
    impact's one-frame squash) and is kept as sampled.
    """
    motion = np.asarray(motion, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)  # (C,)
    per_channel = np.moveaxis(motion / scale, -1, 1)  # (L, C, T)
    smoothed = trend_filter(per_channel, strength)
    if keep_above is not None:
        for group in MOTION_GROUPS:
            g = list(group)
            change = np.sqrt(((smoothed[:, g] - per_channel[:, g]) ** 2).mean(axis=(1, 2)))  # (L,)
            kept = np.ix_(change > keep_above, g)  # (objects kept, channels of the group)
            smoothed[kept] = per_channel[kept]
    return np.moveaxis(smoothed, 1, -1) * scale
