"""`BackboneAnimatePipeline`: `AnimatePipeline` with a real backbone's TTM models.

    pipe = BackboneAnimatePipeline.from_pretrained("weights/wan-ttm", device="cuda")
    out = pipe(image, plan, drags={"dog": DragPath.parse("40,60 90,60")}, seed=0)

Only the two stage hooks change; plans, drags, output sizes, the warp renderer and run
records are `AnimatePipeline`'s. Stage 1 runs on the backbone's canvas (the weights
folder's height x width): the colour-mask video it generates is read back to ids, each
object's motion is fitted to its masks (`maskmotion.render.fit_tracks`) and handed on
as a `MotionTrack` in input pixels, like the bundled motion model's. Stage 2 renders on
the same canvas and the video is cut back to the input's aspect ratio.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..plan import ScenePlan, fit_to_model
from ..render import fit_tracks
from ..trajectory import MaskTrajectory, MotionTrack
from ..weights import STAGES
from .animate import AnimatePipeline, StepCallback, _resample_track, _scale_track
from .backbone import BackboneTTM

__all__ = ["BackboneAnimatePipeline"]


class BackboneAnimatePipeline(AnimatePipeline):
    """Plan -> stage 1 -> stage 2 with a `BackboneTTM` (Wan or AnimateDiff).

    Args:
        ttm: the loaded weights folder (either stage may be missing: drags replace
            stage 1, the warp renderer replaces stage 2).
    """

    def __init__(self, ttm: BackboneTTM) -> None:
        super().__init__(None, None, motion_canvas=max(ttm.config.height, ttm.config.width))
        self.ttm = ttm

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        stages: Sequence[str] = STAGES,
        backbone: str | None = None,
    ) -> BackboneAnimatePipeline:
        """Load a weights folder (see `BackboneTTM.from_pretrained`)."""
        ttm = BackboneTTM.from_pretrained(path, device=device, dtype=dtype, stages=stages, backbone=backbone)
        pipe = cls(ttm)
        digest = hashlib.sha256((ttm.config.to_json() + json.dumps(sorted(stages))).encode()).hexdigest()
        pipe.model_info = {
            "backbone": ttm.config.backbone,
            "weights": str(path),
            "stages": list(stages),
            "config_sha256": digest,
            "dtype": str(ttm.dtype).removeprefix("torch."),
        }
        return pipe

    def save_pretrained(self, path: str | os.PathLike):  # noqa: ANN201 - the folder written
        return self.ttm.save_pretrained(path)

    # ---- facts --------------------------------------------------------------------------
    @property
    def has_motion_model(self) -> bool:
        return self.ttm.motion is not None

    @property
    def has_video_model(self) -> bool:
        return self.ttm.video is not None

    @property
    def model_frames(self) -> int | None:
        return self.ttm.config.frames if self.has_video_model else None

    def default_frames(self) -> int:
        # Both stages generate the folder's clip length.
        return self.ttm.config.frames

    # ---- stage 1 ------------------------------------------------------------------------
    def _sample_motion(
        self,
        image: np.ndarray,
        plan: ScenePlan,
        frames: int,
        steps: int | None,
        guidance: tuple[float, float] | None,
        generator: torch.Generator,
        callback: StepCallback | None,
    ) -> tuple[dict[int, MotionTrack], dict[str, Any]]:
        """Stage 1 on the backbone's canvas; tracks fitted to the decoded masks, in input pixels."""
        config = self.ttm.config
        steps = steps or config.num_inference_steps
        s_i, s_t = guidance or (config.visual_guidance, config.text_guidance)
        canvas_image, canvas_ids, fmap = fit_to_model(image, plan.first_ids, (config.height, config.width))
        with self._stage_progress("stage 1: motion", "motion", steps, callback) as step_end:
            trajectory = self.ttm.sample_motion(
                canvas_image, canvas_ids, plan.trajectory_objects(), plan.motion_prompt, num_inference_steps=steps,
                visual_guidance_scale=s_i, text_guidance_scale=s_t, generator=generator, callback_on_step_end=step_end,
            )  # fmt: skip
        fitted = fit_tracks(trajectory)  # every object: frame 0 holds the given masks
        # Canvas pixels -> input pixels; padding only shifts, so scaling is the whole map.
        fx, fy = fmap.src_width / fmap.scaled_width, fmap.src_height / fmap.scaled_height
        tracks = {oid: _resample_track(_scale_track(tr, fx, fy), frames) for oid, tr in fitted.items()}
        settings = {
            "backbone": config.backbone,
            "num_inference_steps": steps,
            "visual_guidance_scale": float(s_i),
            "text_guidance_scale": float(s_t),
            "canvas": [config.height, config.width],
            "model_frames": config.frames,
        }
        return tracks, settings

    # ---- stage 2 ------------------------------------------------------------------------
    def _video_defaults(self) -> tuple[tuple[int, int], int, tuple[float, float]]:
        config = self.ttm.config
        return (config.height, config.width), config.num_inference_steps, (config.visual_guidance, config.text_guidance)

    def _render_canvas(
        self,
        image: np.ndarray,
        trajectory: MaskTrajectory,
        prompt: str,
        tracks: Mapping[int, MotionTrack] | None,
        steps: int,
        guidance: tuple[float, float],
        generator: torch.Generator,
        step_end: Callable[[int, torch.Tensor, torch.Tensor], None],
    ) -> np.ndarray:
        # The paper's stage 2 reads the masks only; the tracks are not a condition here.
        return self.ttm.sample_video(
            image, trajectory, prompt, num_inference_steps=steps, visual_guidance_scale=guidance[0],
            text_guidance_scale=guidance[1], generator=generator, callback_on_step_end=step_end,
        )  # fmt: skip
