"""`MotionTrack`: one object's per-frame similarity transform relative to frame 0.

Stage 1's compact model generates these, drags are turned into them, and the warp
preview moves pixels by them. A `MaskTrajectory` may carry one per object beside its
masks; scaling to another raster and resampling in time are methods here, so every
caller does them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import TrajectoryError


@dataclass(frozen=True)
class MotionTrack:
    """Per-frame transform of one object relative to frame 0; every array is (T,).

    Frame t maps a first-frame point p to ``c + (dx, dy) + R(angle) S(sx, sy) (p - c)``
    where c is the object's first-frame centroid; angle is in degrees,
    counter-clockwise as seen on screen (y points down).
    """

    dx: np.ndarray
    dy: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    angle: np.ndarray

    def __post_init__(self) -> None:
        arrays = [np.asarray(a, dtype=np.float64) for a in (self.dx, self.dy, self.sx, self.sy, self.angle)]
        lengths = {a.shape for a in arrays}
        if len(lengths) != 1 or arrays[0].ndim != 1:
            raise TrajectoryError(f"MotionTrack arrays must all be (T,), got shapes {sorted(lengths)}")
        if (arrays[2] <= 0).any() or (arrays[3] <= 0).any():
            raise TrajectoryError("MotionTrack scales must be positive")
        for name, a in zip(("dx", "dy", "sx", "sy", "angle"), arrays):
            object.__setattr__(self, name, a)

    @property
    def num_frames(self) -> int:
        return len(self.dx)

    @classmethod
    def still(cls, num_frames: int) -> "MotionTrack":
        z, o = np.zeros(num_frames), np.ones(num_frames)
        return cls(z, z.copy(), o, o.copy(), z.copy())

    def as_array(self) -> np.ndarray:
        """(T, 5): dx, dy, sx, sy, angle."""
        return np.stack([self.dx, self.dy, self.sx, self.sy, self.angle], axis=1)

    @classmethod
    def from_array(cls, a: np.ndarray) -> "MotionTrack":
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 5:
            raise TrajectoryError(f"expected a (T, 5) motion array, got {a.shape}")
        return cls(*a.T)

    def matrices(self, centre: tuple[float, float]) -> np.ndarray:
        """(T, 2, 3) forward affine maps from first-frame to frame-t pixel coordinates."""
        cx, cy = centre
        # Screen y points down, so a counter-clockwise turn on screen is a negative
        # mathematical angle in (x, y) pixel coordinates.
        th = -np.deg2rad(self.angle)
        cos, sin = np.cos(th), np.sin(th)
        a = np.stack([cos * self.sx, -sin * self.sy, sin * self.sx, cos * self.sy], 1).reshape(-1, 2, 2)
        c = np.array([cx, cy])
        t = c + np.stack([self.dx, self.dy], 1) - a @ c  # (T, 2)
        return np.concatenate([a, t[:, :, None]], axis=2)

    def scaled(self, fx: float, fy: float) -> "MotionTrack":
        """The same motion on an image scaled by ``fx`` (x) and ``fy`` (y): translations
        scale, scales and angles do not."""
        if fx == 1.0 and fy == 1.0:
            return self
        return MotionTrack(self.dx * fx, self.dy * fy, self.sx, self.sy, self.angle)

    def resampled(self, num_frames: int) -> "MotionTrack":
        """The same motion over ``num_frames`` frames: linear in time, first and last
        frames kept."""
        if num_frames < 1:
            raise TrajectoryError(f"num_frames must be at least 1, got {num_frames}")
        if num_frames == self.num_frames:
            return self
        src = np.linspace(0.0, 1.0, self.num_frames)
        dst = np.linspace(0.0, 1.0, num_frames)
        return MotionTrack.from_array(np.stack([np.interp(dst, src, c) for c in self.as_array().T], axis=1))

