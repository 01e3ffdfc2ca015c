"""Sampling pipelines: stage 1 (`MotionPipeline`), stage 2 (`VideoPipeline`), and the
whole chain (`AnimatePipeline`)."""

from .animate import AnimatePipeline, AnimatePipelineOutput, TrajectoryOutput
from .motion import MotionInputs, MotionPipeline, MotionPipelineOutput
from .video import VideoInputs, VideoPipeline

__all__ = [
    "AnimatePipeline",
    "AnimatePipelineOutput",
    "MotionInputs",
    "MotionPipeline",
    "MotionPipelineOutput",
    "TrajectoryOutput",
    "VideoInputs",
    "VideoPipeline",
]
