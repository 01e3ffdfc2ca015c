"""Sampling pipelines: the whole chain step by step (`AnimatePipeline`: plan -> motion ->
render), the stage kinds it composes (`stages`), the compact models' samplers
(`MotionPipeline`, `VideoPipeline`), a real backbone's weights folder (`BackboneTTM`), and
the files a run writes (`outputs`)."""

from .animate import AnimatePipeline, AnimateResult, MotionResult, Scene
from .scene_files import render_scene_from_files, scene_from_files
from .motion import MotionInputs, MotionPipeline, MotionPipelineOutput
from .stages import BackboneMotion, BackboneVideo, CompactMotion, CompactVideo, MotionStage, VideoStage, WarpVideo
from .video import VideoInputs, VideoPipeline

# Imported on first use: the backbone module imports diffusers, which costs seconds.
_LAZY = {"BackboneConfig": ".backbone", "BackboneTTM": ".backbone"}


def __getattr__(name: str):  # noqa: ANN202 - module attribute
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AnimatePipeline",
    "AnimateResult",
    "BackboneConfig",
    "BackboneMotion",
    "BackboneTTM",
    "BackboneVideo",
    "CompactMotion",
    "CompactVideo",
    "MotionInputs",
    "MotionPipeline",
    "MotionPipelineOutput",
    "MotionResult",
    "MotionStage",
    "Scene",
    "VideoInputs",
    "VideoPipeline",
    "VideoStage",
    "WarpVideo",
    "render_scene_from_files",
    "scene_from_files",
]
