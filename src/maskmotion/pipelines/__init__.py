"""Sampling pipelines: stage 1 (`MotionPipeline`), stage 2 (`VideoPipeline`), and the
whole chain (`AnimatePipeline`); on real backbones (Wan, AnimateDiff) `BackboneTTM` and
`BackboneAnimatePipeline`, imported on first use (they import diffusers)."""

from .animate import AnimatePipeline, AnimatePipelineOutput, TrajectoryOutput
from .motion import MotionInputs, MotionPipeline, MotionPipelineOutput
from .video import VideoInputs, VideoPipeline

_LAZY = {
    "BackboneAnimatePipeline": ".backbone_animate",
    "BackboneConfig": ".backbone",
    "BackboneTTM": ".backbone",
}


def __getattr__(name: str):  # noqa: ANN202 - module attribute
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AnimatePipeline",
    "BackboneAnimatePipeline",
    "BackboneConfig",
    "BackboneTTM",
    "AnimatePipelineOutput",
    "MotionInputs",
    "MotionPipeline",
    "MotionPipelineOutput",
    "TrajectoryOutput",
    "VideoInputs",
    "VideoPipeline",
]
