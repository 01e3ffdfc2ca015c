"""Named model sizes. `tiny` is for tests; `default` is what the bundled weights use.

The CLI, tests and docs reuse these names (``--preset``); a training config may
override single fields.
"""

from __future__ import annotations

from .motion_dit import MotionDiTConfig
from .video_dit import VideoDiTConfig

VIDEO_PRESETS: dict[str, dict] = {
    "tiny": dict(frames=4, height=16, width=16, patch_size=(2, 8, 8), dim=32, depth=2, num_heads=2,
                 masked_blocks=1, head_channels=8),
    "small": dict(dim=128, depth=4, num_heads=4, masked_blocks=1, head_channels=16),
    "default": dict(dim=192, depth=6, num_heads=6, masked_blocks=2, head_channels=24),
}

MOTION_PRESETS: dict[str, dict] = {
    "tiny": dict(frames=4, dim=32, depth=1, num_heads=2),
    "default": dict(dim=128, depth=4, num_heads=4),
}


def video_config(preset: str, **overrides) -> VideoDiTConfig:
    if preset not in VIDEO_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(VIDEO_PRESETS)}")
    return VideoDiTConfig(**{**VIDEO_PRESETS[preset], **overrides})


def motion_config(preset: str, **overrides) -> MotionDiTConfig:
    if preset not in MOTION_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(MOTION_PRESETS)}")
    return MotionDiTConfig(**{**MOTION_PRESETS[preset], **overrides})
