"""Sampling pipelines: the whole chain step by step (`AnimatePipeline`: plan -> motion ->
render), the stage kinds it composes (`stages`), the compact models' samplers
(`MotionPipeline`, `VideoPipeline`), a real backbone's weights folder (`BackboneTTM`), and
the files a run writes (`outputs`)."""

from .animate import AnimatePipeline, AnimateResult, MotionResult, Scene
from .backbone import BackboneConfig, BackboneTTM
from .scene_files import render_scene_from_files, scene_from_files
from .motion import MotionInputs, MotionPipeline, MotionPipelineOutput
from .stages import BackboneMotion, BackboneVideo, CompactMotion, CompactVideo, MotionStage, VideoStage, WarpVideo
from .video import VideoInputs, VideoPipeline

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
