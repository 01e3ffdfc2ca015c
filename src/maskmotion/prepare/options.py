"""`PrepareOptions`: everything a prepare run computes with (saved beside the shards, so
a rerun that would compute something else is refused rather than mixed in)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..data.video import FilterConfig
from ..errors import InputError
from ..plan import PLANNERS

ENGINES = ("local", "ray")


@dataclass
class PrepareOptions:
    frames: int = 16
    fps: float = 8.0
    height: int = 64
    width: int = 64
    stride_seconds: float = 0.0
    """Seconds between window starts; 0 puts windows back to back."""
    max_windows: int = 0
    """Windows per clip at most; 0 = as many as fit."""
    track_side: int = 128
    """Short side (px) that objects are found and tracked at, when the output is smaller."""
    layout: str = "auto"
    annotations: str = "manual"
    planner: str = "rules"
    """How prompts are written when the caption list gives none: "rules" (offline) or
    "llm" (an OpenAI-compatible endpoint; see `maskmotion.plan.LLMConfig`)."""
    llm_url: str | None = None
    llm_model: str | None = None
    clips_per_shard: int = 64
    latents: str = ""
    """A backbone weights folder: store each sample's VAE latents and text states for
    backbone-stage1/2 (members ``stage1.safetensors``, ``stage2.safetensors``)."""
    latents_dtype: str = "bfloat16"
    latents_device: str = "cpu"
    crf: int = 12
    filters: FilterConfig = field(default_factory=FilterConfig)

    def __post_init__(self) -> None:
        if isinstance(self.filters, dict):
            self.filters = FilterConfig(**self.filters)
        if self.frames < 2:
            raise InputError(f"--frames must be at least 2, got {self.frames}")
        if not self.fps > 0:
            raise InputError(f"--fps must be positive, got {self.fps}")
        if self.height < 8 or self.width < 8:
            raise InputError(f"--height and --width must be at least 8 px, got {self.height}x{self.width}")
        if self.stride_seconds < 0 or self.max_windows < 0:
            raise InputError("--stride-seconds and --max-windows must be 0 or more")
        if self.clips_per_shard < 1:
            raise InputError(f"--clips-per-shard must be at least 1, got {self.clips_per_shard}")
        if self.latents_dtype not in ("float32", "bfloat16", "float16"):
            raise InputError(f"--latents-dtype must be float32, bfloat16 or float16, got {self.latents_dtype!r}")
        if self.planner not in PLANNERS:
            raise InputError(f"--planner must be one of {', '.join(PLANNERS)}, got {self.planner!r}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def computing_fields(self) -> dict[str, Any]:
        """The fields that change what a clip's samples hold (not how they are grouped)."""
        data = self.to_json()
        data.pop("clips_per_shard")
        data.pop("latents_device")
        return data
