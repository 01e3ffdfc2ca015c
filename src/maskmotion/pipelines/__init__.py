"""Sampling pipelines: stage 1 (`MotionPipeline`), stage 2 (`VideoPipeline`)."""

from .motion import MotionInputs, MotionPipeline, MotionPipelineOutput
from .video import VideoInputs, VideoPipeline

__all__ = ["MotionInputs", "MotionPipeline", "MotionPipelineOutput", "VideoInputs", "VideoPipeline"]
