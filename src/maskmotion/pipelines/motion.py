"""`MotionPipeline`: TTM stage 1, image + first-frame masks + text -> mask trajectory.

The compact form: flow matching over each object's `MotionTrack` with `MotionDiT`,
rendered into the trajectory by warping the first-frame masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..models import MotionConditions, MotionDiT, decode_motion, euler_sample, object_features, x0_from_velocity
from ..trajectory import MaskTrajectory, MotionTrack, TrajectoryObject, warp_masks
from .base import StagePipeline
from .guidance import guided
from ..models.inputs import encode_local_prompts, encode_prompts
from ..models.motion_smoothing import smooth_motion


@dataclass
class MotionPipelineOutput:
    trajectory: MaskTrajectory
    tracks: dict[int, MotionTrack]
    motion: np.ndarray  # (L, T, 5) raw motion, see `encode_motion`


@dataclass
class MotionInputs:
    """One stage-1 sample's model inputs, before batching."""

    features: np.ndarray  # (L, F)
    motion_prompt: str
    local_prompts: list[str]


class MotionPipeline(StagePipeline):
    """Stage 1 sampler. ``text_encoder`` defaults to the bundled MiniLM."""

    model_class = MotionDiT
    stage_name = "stage-1 motion model"
    default_steps = 25
    default_visual_guidance = 1.0
    default_text_guidance = 1.5
    #: The starting noise's scale (sampling temperature). At 0.5 the bundled stage 1 moves
    #: more evenly and gains IoU on its own wording, but loses a little on other wording
    #: (docs/eval.md, "Sampling temperature"), so the default stays 1.
    default_noise_scale = 1.0
    #: Strength of the L1 trend filter on sampled motion, in the model's normalised units
    #: (`models.motion_smoothing`); 0 keeps the raw samples. At 0.1 steady motion moves by
    #: an even step and still objects stay still, and the test split's IoU rises a little
    #: (docs/eval.md, "Motion smoothness").
    default_smoothing = 0.1
    #: The filter leaves an object's translation, scale or angle as sampled where it would
    #: change it by more than this RMS (model units): shakes, hops and impacts.
    smoothing_keep_above = 0.02

    # ---- batched core, shared with training evaluation ---------------------------------
    @torch.no_grad()
    def sample(
        self,
        inputs: Sequence[MotionInputs],
        num_inference_steps: int | None = None,
        visual_guidance_scale: float | None = None,
        text_guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        callback_on_step_end: Callable[[int, float, torch.Tensor], None] | None = None,
        noise_scale: float | None = None,
        smoothing: float | None = None,
    ) -> list[np.ndarray]:
        """Sample raw motion (L_i, T, 5) for each input; ``noise_scale`` (default
        `default_noise_scale`) < 1 starts the flow from narrower noise (a lower temperature);
        ``smoothing`` (default `default_smoothing`) trend-filters each sample in time."""
        noise_scale = self.default_noise_scale if noise_scale is None else noise_scale
        if not noise_scale >= 0:
            raise InputError(f"noise_scale must be 0 or more, got {noise_scale}")
        smoothing = self.default_smoothing if smoothing is None else smoothing
        if not smoothing >= 0:
            raise InputError(f"smoothing must be 0 or more, got {smoothing}")
        steps = num_inference_steps or self.default_steps
        s_i = self.default_visual_guidance if visual_guidance_scale is None else visual_guidance_scale
        s_t = self.default_text_guidance if text_guidance_scale is None else text_guidance_scale
        cfg = self.model.cfg
        b = len(inputs)
        n_obj = max(len(i.local_prompts) for i in inputs)
        feats = torch.zeros(b, n_obj, cfg.feature_dim)
        present = torch.zeros(b, n_obj, dtype=torch.bool)
        for k, inp in enumerate(inputs):
            feats[k, : len(inp.features)] = torch.from_numpy(inp.features)
            present[k, : len(inp.features)] = True
        text, text_mask = encode_prompts(self.text_encoder, [i.motion_prompt for i in inputs])
        local, owner = encode_local_prompts(
            self.text_encoder, [i.local_prompts for i in inputs], [list(range(1, len(i.local_prompts) + 1)) for i in inputs]
        )
        dev = self.device
        conditions = MotionConditions(
            features=feats.to(dev), object_mask=present.to(dev), text_states=text.to(dev), text_mask=text_mask.to(dev),
            local_states=local.to(dev), local_ids=owner.to(dev),
        )
        model = self.model
        # The guidance batch repeats the conditions 1 to 3 times; build each size once.
        repeated: dict[int, MotionConditions] = {}

        def predict(x, t, visual, use_text):
            reps = x.shape[0] // b
            if reps not in repeated:
                repeated[reps] = conditions.repeat(reps)
            v = model(x, t, repeated[reps].dropped(visual=visual, text=use_text))
            return x0_from_velocity(x, v, t)

        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        noise = torch.randn(b, n_obj, cfg.frames, cfg.motion_channels, generator=gen).to(dev) * noise_scale
        x0 = euler_sample(guided(predict, s_i, s_t), noise, steps, callback=callback_on_step_end)
        raw = model.denormalise(x0).cpu().numpy()
        # Motion is relative to frame 0: anchor it exactly, so the trajectory's first
        # frame is the input mask whatever small offset the sampler leaves there.
        raw = raw - raw[:, :, :1]
        out = [raw[k, : len(inputs[k].local_prompts)] for k in range(b)]
        if smoothing > 0:
            out = [smooth_motion(r, smoothing, cfg.motion_scale, self.smoothing_keep_above).astype(np.float32) for r in out]
        return out

    # ---- the user-facing call ----------------------------------------------------------------
    def __call__(
        self,
        image: np.ndarray,
        first_ids: np.ndarray,
        objects: Sequence[TrajectoryObject],
        motion_prompt: str,
        num_inference_steps: int | None = None,
        visual_guidance_scale: float | None = None,
        text_guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        callback_on_step_end: Callable[[int, float, torch.Tensor], None] | None = None,
        fps: float = 8.0,
        noise_scale: float | None = None,
        smoothing: float | None = None,
    ) -> MotionPipelineOutput:
        """Generate a mask trajectory.

        Args:
            image: first frame (H, W, 3) uint8.
            first_ids: first-frame instance masks (H, W) uint8, object ids as in ``objects``.
            objects: the objects to move, with their local prompts.
            motion_prompt: the motion-only prompt.
        """
        image, first_ids = np.asarray(image), np.asarray(first_ids)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
        if first_ids.shape != image.shape[:2]:
            raise InputError(f"masks are {first_ids.shape[1]}x{first_ids.shape[0]} but the image is {image.shape[1]}x{image.shape[0]}; give masks of the image's size")
        if not objects:
            raise InputError("no objects to animate: give at least one object with a mask")
        ids = [o.id for o in objects]
        absent = [o.name for o in objects if not (first_ids == o.id).any()]
        if absent:
            raise InputError(f"object(s) {absent} have no pixels in the first-frame masks")
        inp = MotionInputs(object_features(image, first_ids, ids), motion_prompt, [o.prompt for o in objects])
        raw = self.sample([inp], num_inference_steps, visual_guidance_scale, text_guidance_scale, generator, callback_on_step_end,
                          noise_scale, smoothing)[0]
        tracks = dict(zip(ids, decode_motion(raw, first_ids.shape)))
        traj_ids = warp_masks(first_ids, tracks, self.model.cfg.frames)
        return MotionPipelineOutput(MaskTrajectory(traj_ids, list(objects), fps), tracks, raw)
