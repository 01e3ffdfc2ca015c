"""TTM on a real backbone in latent space: one weights folder, stage 1 and stage 2 samplers.

    ttm = BackboneTTM.from_pretrained("weights/wan-ttm", device="cuda", dtype=torch.bfloat16)
    trajectory = ttm.sample_motion(image, first_ids, objects, "the dog runs left")   # stage 1
    video = ttm.sample_video(image, trajectory, "a dog runs across a lawn")          # stage 2

The folder (`save_pretrained` writes it, atomically):

    PATH/maskmotion_backbone.json   {"backbone": "wan" | "animatediff", "format_version": 1,
                                     "frames", "height", "width", "text_max_length", ...}
    PATH/vae/ text_encoder/ tokenizer/ scheduler/   diffusers / transformers folders
    PATH/motion/   stage 1: a TTMModel folder, widened input only (no masked layers)
    PATH/video/    stage 2: a TTMModel folder with masked self- and cross-attention

Stage 1 (docs/method.md): [noise | x0 latent | first-frame mask-render latent] (both one-frame
latents repeated over latent frames), text = the motion prompt; its latents are decoded
by the VAE to a colour-mask video and read back to ids (`MaskTrajectory.from_render`).
Stage 2: [noise | x0 latent | trajectory-render latent], the global prompt through the
backbone's cross-attention, the local prompts (same text encoder) through the masked
cross-attention, token groups from the trajectory at the backbone's token grid.
Guidance over (visual, text) as InstructPix2Pix (`guidance.guided`): the "no visual"
branch gets zero condition latents and all-background token groups, the "no text"
branch the empty prompt's states and no local prompts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..files import atomic_dir, read_json_file
from ..trajectory import MaskTrajectory, TrajectoryObject
from ..weights import STAGES
from ..adapters.kinds import BACKBONES, BackboneKind, _strict, get_kind
from ..attention import TokenGrid
from .dualclock import DualClock, DualClockSettings, latent_object_mask, scheduler_noised
from .guidance import guided
from ..models.inputs import concat_local_states, to_model_range, to_uint8

__all__ = ["BackboneConfig", "BackboneTTM", "CONFIG_NAME", "read_backbone_config"]

CONFIG_NAME = "maskmotion_backbone.json"
FORMAT_VERSION = 1
COMPONENTS = ("vae", "text_encoder", "tokenizer", "scheduler")

# callback(step, t, latents) after every sampler step.
StepEnd = Callable[[int, torch.Tensor, torch.Tensor], None]


@dataclass(frozen=True)
class BackboneConfig:
    """`maskmotion_backbone.json`: which backbone, and the defaults its models were trained at.

    Attributes:
        backbone: "wan" or "animatediff".
        frames, height, width: the clip both stages generate (Wan: 1 + 4k frames,
            sides multiples of 16; AnimateDiff: sides multiples of 8 * 2^levels).
        text_max_length: tokens of the global prompt (Wan 512, CLIP 77).
        num_inference_steps, visual_guidance, text_guidance: sampler defaults.
        cross_region: "box" (the paper's) or "pixel" regions for masked cross-attention.
    """

    backbone: str
    frames: int
    height: int
    width: int
    text_max_length: int
    num_inference_steps: int = 30
    visual_guidance: float = 1.0
    text_guidance: float = 5.0
    cross_region: str = "box"
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        get_kind(self.backbone)
        if self.frames < 2 or self.height < 8 or self.width < 8:
            raise InputError(f"{CONFIG_NAME}: frames >= 2 and sides >= 8 pixels, got {self.frames} x {self.height}x{self.width}")
        if self.cross_region not in ("box", "pixel"):
            raise InputError(f"{CONFIG_NAME}: cross_region must be 'box' or 'pixel', got {self.cross_region!r}")

    @classmethod
    def for_kind(cls, backbone: str, **overrides: Any) -> BackboneConfig:
        kind = get_kind(backbone)
        values: dict[str, Any] = dict(
            backbone=backbone, frames=kind.default_frames, height=kind.default_height, width=kind.default_width,
            text_max_length=kind.text_max_length, num_inference_steps=kind.default_steps,
        )  # fmt: skip
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def read_backbone_config(path: str | os.PathLike, backbone: str | None = None) -> BackboneConfig:
    """Read and check `PATH/maskmotion_backbone.json`; `backbone` must match when given."""
    path = Path(path)
    if backbone is not None and backbone not in BACKBONES:
        raise InputError(f"unknown backbone {backbone!r}; choose from {sorted(BACKBONES)}")
    if not path.is_dir():
        raise InputError(
            f"weights folder {path} does not exist; give the folder that BackboneTTM.save_pretrained or "
            "`maskmotion train` (final/weights) wrote"
        )
    file = path / CONFIG_NAME
    if not file.is_file():
        raise InputError(f"{path} has no {CONFIG_NAME}: not a maskmotion backbone weights folder (see docs/backbones.md)")
    data = read_json_file(file, InputError, "see docs/backbones.md", max_bytes=1 << 20)
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{file}: format_version {data.get('format_version') if isinstance(data, dict) else None}, "
                         f"this code reads {FORMAT_VERSION}")  # fmt: skip
    known = {f.name for f in fields(BackboneConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{file}: unknown field(s) {unknown}; known: {sorted(known)}")
    if backbone is not None and data.get("backbone") != backbone:
        raise InputError(
            f"{path} holds {data.get('backbone')!r} weights, not {backbone!r}; "
            f"use --backbone {data.get('backbone')} or another --weights folder"
        )
    try:
        return BackboneConfig(**data)
    except TypeError as exc:
        raise InputError(f"{file}: {exc}") from None


class BackboneTTM:
    """The components of one weights folder and the two latent-space TTM samplers.

    Args:
        config: the folder's `BackboneConfig`.
        vae, text_encoder, tokenizer, scheduler: the backbone's own components.
        motion: stage 1 (`TTMModel` without masked layers), or None.
        video: stage 2 (`TTMModel` with masked layers), or None.
        device, dtype: where the models run; the VAE stays float32 (decoding a mask
            video in bf16 blurs the colours it is read back from).
    """

    def __init__(
        self,
        config: BackboneConfig,
        vae: nn.Module,
        text_encoder: nn.Module,
        tokenizer: Any,
        scheduler: Any,
        motion: nn.Module | None = None,
        video: nn.Module | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.config = config
        self.kind: BackboneKind = get_kind(config.backbone)
        for name, model in (("motion", motion), ("video", video)):
            if model is not None and not isinstance(model, self.kind.ttm_class):
                raise InputError(f"{name} must be a {self.kind.ttm_class.__name__}, got {type(model).__name__}")
        if motion is not None and motion.layers:
            raise InputError("the stage-1 model must have no masked layers (add_ttm_to_* with masked_blocks=0)")
        self.device, self.dtype = torch.device(device), dtype
        self.vae = _place(vae, self.device, torch.float32).requires_grad_(False)
        self.text_encoder = _place(text_encoder, self.device, dtype).requires_grad_(False)
        self.tokenizer = tokenizer
        self.scheduler = scheduler
        self.motion = _place(motion, self.device, dtype) if motion is not None else None
        self.video = _place(video, self.device, dtype) if video is not None else None
        self.latent_channels = self.kind.latent_channels(self.vae.config)
        self.latent_shape = self.kind.latent_shape(self.vae.config, config.frames, config.height, config.width)
        for name, model in (("motion", self.motion), ("video", self.video)):
            if model is not None:
                self._check_model(name, model)
        self._empty_text: tuple[torch.Tensor, list[torch.Tensor]] | None = None

    def _check_model(self, name: str, model: nn.Module) -> None:
        c = self.latent_channels
        if model.config.original_in_channels != c or model.config.extra_in_channels != 2 * c:
            raise InputError(
                f"the {name} model takes {model.config.original_in_channels} + {model.config.extra_in_channels} "
                f"input channels; this VAE's latents need {c} + {2 * c} (latent + two condition latents)"
            )

    # ---- folders -----------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        stages: Sequence[str] = STAGES,
        backbone: str | None = None,
    ) -> BackboneTTM:
        """Load a weights folder (strict). ``stages`` picks which of motion/ and video/ load;
        ``backbone`` (when given) must be the folder's; ``dtype`` defaults to bf16 on CUDA,
        float32 elsewhere."""
        from transformers import AutoTokenizer  # lazy: transformers is heavy; only loading a folder needs it

        path = Path(path)
        config = read_backbone_config(path, backbone)
        kind = get_kind(config.backbone)
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            raise InputError(f"unknown stage(s) {unknown}; choose from {STAGES}")
        missing = [name for name in (*COMPONENTS, *stages) if not (path / name).is_dir()]
        if missing:
            raise InputError(f"{path} lacks {', '.join(f'{m}/' for m in missing)}; see docs/backbones.md for the layout")
        if dtype is None:
            dtype = torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
        classes = kind.component_classes()
        vae = _strict(classes["vae"], path / "vae")
        text_encoder = _strict(classes["text_encoder"], path / "text_encoder", torch_dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(path / "tokenizer"), local_files_only=True)
        scheduler = classes["scheduler"].from_pretrained(path / "scheduler")
        models = {s: kind.ttm_class.from_pretrained(path / s, torch_dtype=dtype) for s in stages}
        return cls(config, vae, text_encoder, tokenizer, scheduler, models.get("motion"), models.get("video"), device, dtype)

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write the folder (replacing ``path`` atomically); stages not loaded are not written."""
        path = Path(path)
        with atomic_dir(path) as tmp:
            (tmp / CONFIG_NAME).write_text(self.config.to_json())
            self.vae.save_pretrained(tmp / "vae", safe_serialization=True)
            self.text_encoder.save_pretrained(tmp / "text_encoder", safe_serialization=True)
            self.tokenizer.save_pretrained(str(tmp / "tokenizer"))
            self.scheduler.save_pretrained(tmp / "scheduler")
            for name, model in (("motion", self.motion), ("video", self.video)):
                if model is not None:
                    model.save_pretrained(tmp / name)
        return path

    # ---- encoders ----------------------------------------------------------------------
    def encode_text(self, prompts: Sequence[str]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, L, D) global states and each prompt's (n_i, D) token states, float32 on CPU."""
        return self.kind.encode_text(self.tokenizer, self.text_encoder, prompts, self.config.text_max_length)

    def empty_text(self) -> torch.Tensor:
        """(1, L, D) states of the empty prompt: the "no text" condition."""
        if self._empty_text is None:
            self._empty_text = self.encode_text([""])
        return self._empty_text[0]

    @torch.no_grad()
    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) -> normalised latents (B, C, t, h, w) float32."""
        video = to_model_range(frames).movedim(-3, 1)  # (B, 3, T, H, W)
        return self.kind.encode(self.vae, video.to(self.device)).float()

    @torch.no_grad()
    def encode_image(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (B, H, W, 3) -> (B, C, t, h, w): one-frame latents repeated over latent frames."""
        image = to_model_range(images).to(self.device)  # (B, 3, H, W)
        return self.kind.encode_image(self.vae, image, self.latent_shape[1]).float()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latents (B, C, t, h, w) -> uint8 (B, T, H, W, 3)."""
        video = self.kind.decode(self.vae, latents)  # (B, 3, T, H, W)
        return to_uint8(video.movedim(1, 2).float())

    # ---- shared sampler ---------------------------------------------------------------
    def _check_canvas(self, image: np.ndarray, ids: np.ndarray | None = None) -> None:
        c = self.config
        if image.shape != (c.height, c.width, 3) or image.dtype != np.uint8:
            raise InputError(
                f"image must be ({c.height}, {c.width}, 3) uint8 (the model's canvas), got {image.shape} {image.dtype}; "
                "fit it with maskmotion.plan.fit_to_model"
            )
        if ids is not None and ids.shape[-2:] != (c.height, c.width):
            raise InputError(f"masks must be {c.width}x{c.height} like the image, got {ids.shape[-1]}x{ids.shape[-2]}")

    def _sample(
        self,
        model: nn.Module,
        cond: torch.Tensor,
        prompt: str,
        local: tuple[torch.Tensor, torch.Tensor] | None,
        ids: np.ndarray | None,
        num_objects: int,
        steps: int | None,
        guidance: tuple[float | None, float | None],
        generator: torch.Generator | None,
        step_end: StepEnd | None,
        hold: tuple[DualClockSettings, torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """One clip: cond (1, 2C, t, h, w) -> latents (1, C, t, h, w). ``hold``: dual-clock
        (settings, clean preview latents (1, C, t, h, w), objects' latent mask (1, 1, t, h, w))."""
        c = self.config
        steps = steps or c.num_inference_steps
        s_i = c.visual_guidance if guidance[0] is None else guidance[0]
        s_t = c.text_guidance if guidance[1] is None else guidance[1]
        dev, dtype = self.device, self.dtype
        text = self.encode_text([prompt])[0].to(dev, dtype)  # (1, L, D)
        empty = self.empty_text().to(dev, dtype)
        cond = cond.to(dev, dtype)
        groups_cache: dict[tuple[bool, ...], Any] = {}

        def groups_for(visual: torch.Tensor) -> Any:
            key = tuple(visual.tolist())
            if key not in groups_cache:
                rows = [ids if v else np.zeros_like(ids) for v in key]  # no trajectory: all background
                groups_cache[key] = self.kind.token_groups(model, self.vae.config, rows, num_objects, c.cross_region)
            return groups_cache[key]

        def predict(x: torch.Tensor, t: torch.Tensor, visual: torch.Tensor, use_text: torch.Tensor) -> torch.Tensor:
            rows = x.shape[0]
            keep = visual.to(dtype)[:, None, None, None, None]
            hidden = torch.cat([x.to(dtype), cond.expand(rows, -1, -1, -1, -1) * keep], dim=1)  # (R, 3C, t, h, w)
            states = torch.where(use_text[:, None, None], text.expand(rows, -1, -1), empty.expand(rows, -1, -1))
            kwargs: dict[str, Any] = {}
            if model.layers:
                local_states, local_ids = local
                kwargs = dict(
                    groups=groups_for(visual),
                    local_states=local_states.to(dev, dtype).expand(rows, -1, -1),
                    local_ids=local_ids.to(dev).expand(rows, -1) * use_text[:, None],
                )
            return model(hidden, t, states, **kwargs).sample.float()

        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        # Noise from a CPU generator, so a seed gives the same clip on any device.
        noise = torch.randn(1, *self.latent_shape, generator=gen).to(dev)
        before = None
        if hold is not None:
            settings, preview, objects = hold
            settings.check(steps)
            clocks: list[DualClock] = []

            def before(i: int, x: torch.Tensor) -> torch.Tensor:
                if not clocks:  # the kind has set the scheduler's timesteps by now
                    start = noise * getattr(self.scheduler, "init_noise_sigma", 1.0)
                    clocks.append(DualClock(preview.to(dev, x.dtype), start, objects, settings,
                                            scheduler_noised(self.scheduler)))  # fmt: skip
                return clocks[0](i, x)

        with torch.no_grad():
            return self.kind.sample(self.scheduler, guided(predict, s_i, s_t), noise, steps, step_end, before)

    # ---- stage 1 -----------------------------------------------------------------------
    def sample_motion(
        self,
        image: np.ndarray,
        first_ids: np.ndarray,
        objects: Sequence[TrajectoryObject],
        motion_prompt: str,
        num_inference_steps: int | None = None,
        visual_guidance_scale: float | None = None,
        text_guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        callback_on_step_end: StepEnd | None = None,
        fps: float = 8.0,
    ) -> MaskTrajectory:
        """Stage 1 on the model canvas: image (H, W, 3) uint8 and first-frame ids (H, W) ->
        the mask trajectory (frames, H, W), read back from the decoded colour-mask video.
        Frame 0 is the given masks (the condition), whatever the decoder made of it."""
        if self.motion is None:
            raise InputError("no stage-1 model is loaded (stages=('motion',) when loading)")
        image, first_ids = np.asarray(image), np.asarray(first_ids)
        self._check_canvas(image, first_ids)
        objects = list(objects)
        if not objects:
            raise InputError("no objects to animate: give at least one object with a mask")
        first = MaskTrajectory(first_ids[None].astype(np.uint8), objects)
        cond = torch.cat([self.encode_image(image[None]), self.encode_image(first.render())], dim=1)  # (1, 2C, t, h, w)
        latents = self._sample(
            self.motion, cond, motion_prompt, None, None, 0, num_inference_steps,
            (visual_guidance_scale, text_guidance_scale), generator, callback_on_step_end,
        )  # fmt: skip
        colours = self.decode(latents)[0]  # (T, H, W, 3)
        trajectory = MaskTrajectory.from_render(colours, objects, fps)
        ids = trajectory.ids.copy()
        ids[0] = first_ids
        return trajectory.replace(ids=ids)

    # ---- stage 2 -----------------------------------------------------------------------
    def sample_video(
        self,
        image: np.ndarray,
        trajectory: MaskTrajectory,
        prompt: str,
        num_inference_steps: int | None = None,
        visual_guidance_scale: float | None = None,
        text_guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        callback_on_step_end: StepEnd | None = None,
        dual_clock: DualClockSettings | None = None,
        preview: np.ndarray | None = None,
    ) -> np.ndarray:
        """Stage 2 on the model canvas: the video (frames, H, W, 3) uint8 of ``trajectory``
        (frames x H x W of the canvas; its objects carry the local prompts) from ``image``.
        ``dual_clock`` with a (frames, H, W, 3) uint8 ``preview`` (the warp preview): the
        trained model starts from it, each region at its own step (`maskmotion.pipelines.dualclock`)."""
        if self.video is None:
            raise InputError("no stage-2 model is loaded (stages=('video',) when loading)")
        image = np.asarray(image)
        self._check_canvas(image, trajectory.ids)
        c = self.config
        if trajectory.num_frames != c.frames:
            raise InputError(f"the trajectory has {trajectory.num_frames} frames; this model renders {c.frames}")
        cond = torch.cat([self.encode_image(image[None]), self.encode_video(trajectory.render()[None])], dim=1)
        objects = trajectory.objects
        _, tokens = self.encode_text([o.prompt for o in objects])
        local = concat_local_states([tokens], [[o.id for o in objects]], self.empty_text().shape[-1])
        hold = None
        if dual_clock is not None:
            if preview is None or preview.shape != (*trajectory.ids.shape, 3):
                raise ValueError(f"dual_clock needs a preview of {(*trajectory.ids.shape, 3)} uint8")
            ct, cs, causal = self.kind.compression(self.vae.config)
            mask = latent_object_mask(trajectory.ids, TokenGrid(ct, causal, cs))  # (t, h, w)
            hold = (dual_clock, self.encode_video(preview[None]), torch.from_numpy(mask)[None, None])
        latents = self._sample(
            self.video, cond, prompt, local, trajectory.ids, max(trajectory.object_ids, default=0),
            num_inference_steps, (visual_guidance_scale, text_guidance_scale), generator, callback_on_step_end, hold,
        )  # fmt: skip
        return self.decode(latents)[0]


def _place(module: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """``module`` in eval mode on ``device``, cast only when its dtype differs (diffusers
    warns on every dtype cast)."""
    module = module.to(device).eval()
    if next(module.parameters()).dtype != dtype:
        module = module.to(dtype)
    return module
