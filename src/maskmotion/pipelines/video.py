"""`VideoPipeline`: TTM stage 2, image + mask trajectory + prompts -> video."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from ..models import VideoConditions, VideoDiT, euler_sample, time_grid
from ..render import fit_tracks, flow_render, warp_preview
from ..trajectory import MaskTrajectory, MotionTrack
from .base import StagePipeline
from .dualclock import DualClock, DualClockSettings, flow_noised
from .guidance import guided
from ..models.inputs import encode_local_prompts, encode_prompts, to_uint8, video_condition

OUTPUT_TYPES = ("np", "pt", "pil")


@dataclass
class VideoInputs:
    """One stage-2 sample's inputs, before batching."""

    image: np.ndarray  # (H, W, 3) uint8 first frame
    trajectory: MaskTrajectory  # objects carry the local prompts
    prompt: str
    warp: np.ndarray | None = None  # (T, H, W, 3) uint8; computed when the model needs it
    tracks: dict[int, MotionTrack] | None = None
    """Per-object motion behind the trajectory (stage 1's output); the warp preview and the
    flow trajectory use it, or tracks fitted to the masks when it is None."""

    def condition_images(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The images a model with conditions ``names`` needs, by name."""
        images = {"first_frame": self.image, "trajectory": self.trajectory.render()}
        tracks = self.tracks
        if ("warp" in names and self.warp is None) or "flow" in names:
            tracks = tracks if tracks is not None else fit_tracks(self.trajectory)
        if "warp" in names:
            images["warp"] = self.warp if self.warp is not None else warp_preview(self.image, self.trajectory, tracks)
        if "flow" in names:
            images["flow"] = flow_render(self.trajectory.ids, tracks)
        return images


class VideoPipeline(StagePipeline):
    """Stage 2 sampler. ``text_encoder`` defaults to the bundled MiniLM."""

    model_class = VideoDiT
    stage_name = "stage-2 video model"
    # Tuned on the sprites validation split with the bundled default (PSNR, ground-truth
    # trajectory): 2 steps beat 1, 4, 8 and 20 on object pixels and whole frames; with more
    # steps the sampler adds detail the model is unsure of, mostly noise on the static
    # background (whole frames 31.3 dB at 2 steps, 29.4 dB at 20). See the model card.
    default_steps = 2
    default_visual_guidance = 1.0
    default_text_guidance = 1.0

    def _check(self, inp: VideoInputs) -> None:
        cfg = self.model.cfg
        t, h, w = inp.trajectory.ids.shape
        if (t, h, w) != (cfg.frames, cfg.height, cfg.width):
            raise InputError(
                f"trajectory is {t} frames of {w}x{h}; this model renders {cfg.frames} frames of "
                f"{cfg.width}x{cfg.height}: resize it (MaskTrajectory.resize) first"
            )
        if inp.image.shape != (h, w, 3) or inp.image.dtype != np.uint8:
            raise InputError(f"image must be ({h}, {w}, 3) uint8 like the trajectory, got {inp.image.shape} {inp.image.dtype}")

    @torch.no_grad()
    def sample(
        self,
        inputs: Sequence[VideoInputs],
        num_inference_steps: int | None = None,
        visual_guidance_scale: float | None = None,
        text_guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        callback_on_step_end: Callable[[int, float, torch.Tensor], None] | None = None,
        dual_clock: DualClockSettings | None = None,
    ) -> torch.Tensor:
        """Sample a batch: (B, 3, T, H, W) float in [-1, 1].

        ``dual_clock``: hold the objects and the background to the warp preview until their
        starting steps (`maskmotion.pipelines.dualclock`), and optionally blend masked
        cross-attention of the local prompts into unmasked local-prompt layers; training-free."""
        steps = num_inference_steps or self.default_steps
        s_i = self.default_visual_guidance if visual_guidance_scale is None else visual_guidance_scale
        s_t = self.default_text_guidance if text_guidance_scale is None else text_guidance_scale
        model, cfg, dev = self.model, self.model.cfg, self.device
        for inp in inputs:
            self._check(inp)
        conds = [video_condition(inp.condition_images(cfg.cond_names), cfg.cond_names, cfg.frames) for inp in inputs]
        cond = torch.stack(conds).to(dev)  # (B, Cc, T, H, W)
        text, text_mask = encode_prompts(self.text_encoder, [i.prompt for i in inputs])
        local, owner = encode_local_prompts(
            self.text_encoder,
            [[o.prompt for o in i.trajectory.objects] for i in inputs],
            [[o.id for o in i.trajectory.objects] for i in inputs],
        )
        if dual_clock is not None:
            dual_clock.check(steps)
        blend = dual_clock.local_prompt_weight if dual_clock is not None else 0.0
        groups = model.token_groups(
            [torch.from_numpy(i.trajectory.ids) for i in inputs], [max(i.trajectory.object_ids, default=0) for i in inputs]
        ) if cfg.needs_groups or blend else None
        ids = torch.stack([torch.from_numpy(i.trajectory.ids) for i in inputs]) if cfg.needs_ids else None
        conditions = VideoConditions(
            images=cond,
            text_states=text.to(dev),
            text_mask=text_mask.to(dev),
            groups=groups.to(dev) if groups is not None else None,
            local_states=local.to(dev),
            local_ids=owner.to(dev),
            trajectory_ids=ids.to(dev) if ids is not None else None,
        )
        b = len(inputs)
        # The guidance batch repeats the conditions 1 to 3 times; building each size once
        # also caches the repeated groups' attention plans across all denoising steps.
        repeated: dict[int, VideoConditions] = {}

        def predict(x, t, visual, use_text):
            reps = x.shape[0] // b
            if reps not in repeated:
                repeated[reps] = conditions.repeat(reps)
            return model(x, t, repeated[reps].dropped(visual=visual, text=use_text))

        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        noise = torch.randn(b, cfg.out_channels, cfg.frames, cfg.height, cfg.width, generator=gen).to(dev)
        hold = None
        if dual_clock is not None:
            # Pixel space: the latent grid is the pixel grid, the preview the warp preview.
            previews = [video_condition(i.condition_images(["warp"]), ["warp"], cfg.frames) for i in inputs]
            objects = torch.stack([torch.from_numpy(i.trajectory.ids > 0) for i in inputs])[:, None]  # (B, 1, T, H, W)
            hold = DualClock(torch.stack(previews).to(dev), noise, objects, dual_clock, flow_noised(time_grid(steps)))
        layers = [blk.masked_cross for blk in model.blocks if blk.masked_cross is not None]
        for layer in layers:
            layer.masked_blend = blend
        try:
            return euler_sample(guided(predict, s_i, s_t), noise, steps, callback=callback_on_step_end, before_step=hold)
        finally:
            for layer in layers:
                layer.masked_blend = 0.0

    def __call__(
        self,
        image: np.ndarray,
        trajectory: MaskTrajectory,
        prompt: str,
        num_inference_steps: int | None = None,
        visual_guidance_scale: float | None = None,
        text_guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        callback_on_step_end: Callable[[int, float, torch.Tensor], None] | None = None,
        output_type: str = "np",
        tracks: dict[int, MotionTrack] | None = None,
        dual_clock: DualClockSettings | None = None,
        warp: np.ndarray | None = None,
    ):
        """Render the video of ``trajectory`` starting at ``image`` (``tracks``: the
        per-object motion behind it, if known; ``warp``: a (T, H, W, 3) uint8 warp
        preview to use instead of the model's own; see `VideoInputs`).

        Returns (T, H, W, 3) uint8 for ``output_type="np"``, a (T, 3, H, W) float tensor in
        [0, 1] for "pt", or a list of PIL images for "pil".
        """
        if output_type not in OUTPUT_TYPES:
            raise InputError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        video = self.sample(
            [VideoInputs(np.asarray(image), trajectory, prompt, warp=warp, tracks=tracks)],
            num_inference_steps, visual_guidance_scale, text_guidance_scale, generator, callback_on_step_end,
            dual_clock,
        )[0]  # (3, T, H, W)
        frames = video.movedim(0, 1)  # (T, 3, H, W)
        if output_type == "pt":
            return frames.clamp(-1, 1).add(1).div(2).cpu()
        arr = to_uint8(frames)
        if output_type == "pil":
            return [Image.fromarray(f) for f in arr]
        return arr
