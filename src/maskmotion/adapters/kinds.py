"""What differs between the real backbones, in one small class each.

`WanKind` (Wan 2.1: causal video VAE, umT5, DiT, flow matching) and `AnimateDiffKind`
(SD 1.5's image VAE per frame, CLIP, `UNetMotionModel`, DDIM with v-prediction and zero
terminal SNR). Everything else (folders, conditioning, guidance, the AnimatePipeline
hooks, training) is shared and asks the kind for:

- the component classes of a weights folder, and how to adapt a pretrained base model;
- latent geometry, VAE encoding/decoding of (B, 3, T, H, W) videos in [-1, 1];
- prompt encoding (global states and per-token states of local prompts);
- token groups at the backbone's token grid;
- the sampler (Euler over the flow-matching sigmas, or DDIM) and the training target.

`I2VKind` (`WanI2VKind`, `CogVideoXI2VKind`) is the same idea for public image-to-video
pipelines that dual-clock sampling drives as they are, without TTM layers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import diffusers
import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, MotionAdapter, UNet2DConditionModel, UNetMotionModel, WanTransformer3DModel
from torch import nn

from ..attention import BatchTokenGroups, TokenGrid, build_token_groups
from ..errors import InputError
from .animatediff import AnimateDiffTTM, add_ttm_to_animatediff, ttm_ddim_scheduler
from .common import TTMModel, check_loading_info
from .wan import WanTTM, add_ttm_to_wan

__all__ = [
    "BACKBONES", "BackboneKind", "WanKind", "AnimateDiffKind", "get_kind",
    "I2V_BACKBONES", "I2VKind", "WanI2VKind", "CogVideoXI2VKind", "get_i2v_kind",
]  # fmt: skip

# predict(x_t, t) -> the model's raw prediction (velocity for Wan, v for AnimateDiff).
Predict = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
StepEnd = Callable[[int, torch.Tensor, torch.Tensor], None]
# before_step(i, x) -> the input of step i (called after the scheduler's set_timesteps).
BeforeStep = Callable[[int, torch.Tensor], torch.Tensor]


class BackboneKind:
    """The backbone-specific half of a TTM pipeline (see the module docstring)."""

    name: str
    ttm_class: type[TTMModel]
    vae_class_name: str
    text_class_name: str
    scheduler_class_name: str
    #: Defaults written to maskmotion_backbone.json when a folder is first made.
    default_frames: int
    default_height: int
    default_width: int
    text_max_length: int
    default_steps: int

    # ---- components -------------------------------------------------------------------
    def component_classes(self) -> dict[str, type]:
        """Class of each component folder (vae, text_encoder, scheduler)."""
        import transformers  # lazy: heavy, and only needed to load a backbone's text encoder

        return {
            "vae": getattr(diffusers, self.vae_class_name),
            "text_encoder": getattr(transformers, self.text_class_name),
            "scheduler": getattr(diffusers, self.scheduler_class_name),
        }

    def load_base_model(self, base: Path, motion_adapter: str | Path | None = None) -> nn.Module:
        """The pretrained (not yet adapted) transformer / U-Net of a diffusers pipeline folder."""
        raise NotImplementedError

    def adapt(self, base_model: nn.Module, latent_channels: int, masked_blocks: int | None, **options: Any) -> TTMModel:
        """Widen the input for two condition latents; `masked_blocks=0`: no masked layers."""
        raise NotImplementedError

    def base_scheduler(self, base: Path) -> Any:
        """The sampler's scheduler for a pipeline folder made from pretrained `base`."""
        classes = self.component_classes()
        return classes["scheduler"].from_pretrained(base / "scheduler")

    # ---- latents ----------------------------------------------------------------------
    # Geometry needs only the VAE's config (`vae.config`, or its config.json as a namespace).
    def compression(self, vae_config: Any) -> tuple[int, int, bool]:
        """(temporal, spatial, causal first frame) of the VAE."""
        raise NotImplementedError

    def latent_channels(self, vae_config: Any) -> int:
        raise NotImplementedError

    def latent_shape(self, vae_config: Any, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(C, t, h, w) of a (frames, height, width) video's latent; raises on sizes it cannot take."""
        ct, cs, causal = self.compression(vae_config)
        grid = TokenGrid(temporal_compression=ct, causal_first_frame=causal, spatial_compression=cs)
        try:
            t, h, w = grid.token_shape(frames, height, width)
        except ValueError as exc:
            raise InputError(f"{self.name}: {exc}") from None
        return self.latent_channels(vae_config), t, h, w

    def encode(self, vae: nn.Module, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> normalised latents (B, C, t, h, w) (the mode)."""
        raise NotImplementedError

    def decode(self, vae: nn.Module, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B, C, t, h, w) -> (B, 3, T, H, W) in [-1, 1]."""
        raise NotImplementedError

    def encode_image(self, vae: nn.Module, image: torch.Tensor, latent_frames: int) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, latent_frames, h, w): the image's one-frame latent repeated
        over latent frames (docs/method.md: a one-frame condition is repeated over latent frames)."""
        latent = self.encode(vae, image[:, :, None])  # (B, C, 1, h, w)
        return latent.expand(-1, -1, latent_frames, -1, -1).contiguous()

    # ---- text -------------------------------------------------------------------------
    @torch.no_grad()
    def encode_text(
        self, tokenizer: Any, text_encoder: nn.Module, prompts: Sequence[str], max_length: int
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Prompts -> (B, max_length, D) states as the backbone's cross-attention reads them,
        and each prompt's (n_i, D) token states (the local prompts' form; empty prompt: 0 tokens)."""
        device = next(text_encoder.parameters()).device
        tokens = tokenizer(
            list(prompts), padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
        )
        ids, mask = tokens["input_ids"].to(device), tokens["attention_mask"].to(device)
        states = self._run_text(text_encoder, ids, mask).float()  # (B, L, D)
        lengths = mask.sum(dim=1).tolist()
        tokens_of = [
            states[i, : lengths[i]].cpu() if p.strip() else states.new_zeros(0, states.shape[-1]).cpu()
            for i, p in enumerate(prompts)
        ]
        return self._global_states(states, mask).cpu(), tokens_of

    def _run_text(self, text_encoder: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _global_states(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return states

    # ---- token groups -----------------------------------------------------------------
    def group_grids(self, model: TTMModel, vae_config: Any) -> dict[int, TokenGrid]:
        """The token grid of each set of masked layers (Wan: one; AnimateDiff: one per level)."""
        raise NotImplementedError

    def batch_groups(self, per_grid: dict[int, BatchTokenGroups]) -> Any:
        """What the model's `groups=` takes, from one `BatchTokenGroups` per grid."""
        raise NotImplementedError

    def token_groups(
        self, model: TTMModel, vae_config: Any, ids: Sequence[np.ndarray], num_objects: int, cross_region: str
    ) -> Any:
        """Groups for `model`'s masked layers from pixel-size (T, H, W) ids, one per row."""
        return self.batch_groups(
            {
                key: BatchTokenGroups.from_samples(
                    [build_token_groups(torch.from_numpy(np.asarray(i)), grid, num_objects, cross_region) for i in ids]
                )
                for key, grid in self.group_grids(model, vae_config).items()
            }
        )

    # ---- objective and sampler --------------------------------------------------------
    def noisy(
        self, scheduler: Any, x0: torch.Tensor, noise: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A training draw: (x_t, model timestep (B,), target) for clean latents x0."""
        raise NotImplementedError

    def sample(
        self, scheduler: Any, predict: Predict, noise: torch.Tensor, steps: int, step_end: StepEnd | None = None,
        before_step: BeforeStep | None = None,
    ) -> torch.Tensor:
        """Sample from ``noise``; ``before_step(i, x)`` may replace step i's input (dual-clock)."""
        raise NotImplementedError

    def folder_config(self, scheduler: Any) -> dict[str, Any]:
        """Sampler settings to record; checked against the scheduler on load."""
        return {}


def _fold_frames(video: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W), batch-major (as UNetMotionModel folds)."""
    return video.transpose(1, 2).flatten(0, 1)


class WanKind(BackboneKind):
    """Wan 2.1 (`WanTransformer3DModel`, `AutoencoderKLWan`, `UMT5EncoderModel`)."""

    name = "wan"
    ttm_class = WanTTM
    vae_class_name = "AutoencoderKLWan"
    text_class_name = "UMT5EncoderModel"
    scheduler_class_name = "FlowMatchEulerDiscreteScheduler"
    default_frames, default_height, default_width = 81, 480, 832
    text_max_length = 512  # Wan's cross-attention was trained on 512 padded tokens
    default_steps = 30

    def load_base_model(self, base: Path, motion_adapter: str | Path | None = None) -> nn.Module:
        if motion_adapter is not None:
            raise InputError("a motion adapter is for AnimateDiff; Wan's base folder holds transformer/")
        return _strict(WanTransformer3DModel, base / "transformer")

    def adapt(self, base_model: nn.Module, latent_channels: int, masked_blocks: int | None, **options: Any) -> TTMModel:
        return add_ttm_to_wan(base_model, 2 * latent_channels, masked_blocks, **options)

    def base_scheduler(self, base: Path) -> Any:
        # Wan's diffusers folders ship UniPC with flow sigmas; TTM samples with first-order
        # Euler over the same shifted sigmas (480p: shift 3).
        path = base / "scheduler" / "scheduler_config.json"
        saved = json.loads(path.read_text()) if path.is_file() else {}
        shift = saved.get("flow_shift") or saved.get("shift") or 3.0
        return FlowMatchEulerDiscreteScheduler(num_train_timesteps=saved.get("num_train_timesteps", 1000), shift=shift)

    def compression(self, vae_config: Any) -> tuple[int, int, bool]:
        downsample = vae_config.temperal_downsample  # sic: diffusers' spelling
        return 2 ** sum(downsample), 2 ** len(downsample), True

    def latent_channels(self, vae_config: Any) -> int:
        return int(vae_config.z_dim)

    def _stats(self, vae: nn.Module, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        config = vae.config
        shape = (1, config.z_dim, 1, 1, 1)
        mean = torch.tensor(config.latents_mean, dtype=like.dtype, device=like.device).view(shape)
        std = torch.tensor(config.latents_std, dtype=like.dtype, device=like.device).view(shape)
        return mean, std

    def encode(self, vae: nn.Module, video: torch.Tensor) -> torch.Tensor:
        weight = next(vae.parameters())
        latent = vae.encode(video.to(weight.device, weight.dtype)).latent_dist.mode()  # (B, C, t, h, w)
        mean, std = self._stats(vae, latent)
        return (latent - mean) / std  # what Wan's transformer was trained on

    def decode(self, vae: nn.Module, latents: torch.Tensor) -> torch.Tensor:
        weight = next(vae.parameters())
        latents = latents.to(weight.device, weight.dtype)
        mean, std = self._stats(vae, latents)
        return vae.decode(latents * std + mean).sample.clamp(-1, 1)  # (B, 3, T, H, W)

    def _run_text(self, text_encoder: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return text_encoder(ids, attention_mask=mask).last_hidden_state

    def _global_states(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # As WanPipeline: the states past each prompt's end are zero.
        return states * mask[..., None].to(states.dtype)

    def group_grids(self, model: TTMModel, vae_config: Any) -> dict[int, TokenGrid]:
        ct, cs, causal = self.compression(vae_config)
        patch = tuple(model.backbone.config.patch_size)
        return {0: TokenGrid(temporal_compression=ct, causal_first_frame=causal, spatial_compression=cs, patch_size=patch)}

    def batch_groups(self, per_grid: dict[int, BatchTokenGroups]) -> BatchTokenGroups:
        return per_grid[0]

    def noisy(self, scheduler, x0, noise, generator):
        # Flow matching as Wan trains: x_t = (1 - s) x0 + s noise, velocity = noise - x0,
        # with the scheduler's shift applied to a uniform draw of s.
        b = x0.shape[0]
        u = torch.rand(b, generator=generator).to(x0.device)
        shift = float(scheduler.config.get("shift", 1.0))
        sigma = shift * u / (1 + (shift - 1) * u)  # (B,)
        s = sigma.view(b, 1, 1, 1, 1).to(x0.dtype)
        x_t = (1 - s) * x0 + s * noise
        return x_t, sigma * scheduler.config.num_train_timesteps, noise - x0

    def sample(self, scheduler, predict, noise, steps, step_end=None, before_step=None):
        # First-order Euler over the scheduler's (shifted) sigmas, from pure noise (sigma 1).
        scheduler.set_timesteps(steps)
        sigmas = scheduler.sigmas.tolist()  # (steps + 1,), ends at 0
        x = noise
        b = x.shape[0]
        for i, t in enumerate(scheduler.timesteps):
            if before_step is not None:
                x = before_step(i, x)
            velocity = predict(x, t.expand(b).to(x.device))  # (B, C, t, h, w)
            x = x + (sigmas[i + 1] - sigmas[i]) * velocity.to(x.dtype)
            if step_end is not None:
                step_end(i, t, x)
        return x


class AnimateDiffKind(BackboneKind):
    """AnimateDiff (`UNetMotionModel`, SD 1.5's `AutoencoderKL`, `CLIPTextModel`)."""

    name = "animatediff"
    ttm_class = AnimateDiffTTM
    vae_class_name = "AutoencoderKL"
    text_class_name = "CLIPTextModel"
    scheduler_class_name = "DDIMScheduler"
    default_frames, default_height, default_width = 16, 512, 512
    text_max_length = 77
    default_steps = 25

    def load_base_model(self, base: Path, motion_adapter: str | Path | None = None) -> nn.Module:
        unet_folder = base / "unet"
        config_path = unet_folder / "config.json"
        if not config_path.is_file():
            raise InputError(f"{unet_folder} has no config.json; give an AnimateDiff or SD 1.5 diffusers folder as base")
        if json.loads(config_path.read_text()).get("_class_name") == "UNetMotionModel":
            return _strict(UNetMotionModel, unet_folder)
        if motion_adapter is None:
            raise InputError(
                f"{unet_folder} is an image U-Net (SD 1.5): give the AnimateDiff motion adapter folder too "
                "(task option base_motion_adapter)"
            )
        unet = _strict(UNet2DConditionModel, unet_folder)
        return UNetMotionModel.from_unet2d(unet, _strict(MotionAdapter, Path(motion_adapter)))

    def adapt(self, base_model: nn.Module, latent_channels: int, masked_blocks: int | None, **options: Any) -> TTMModel:
        options.pop("text_dim", None)  # local prompts share the U-Net's cross-attention width
        return add_ttm_to_animatediff(base_model, 2 * latent_channels, masked_blocks, **options)

    def base_scheduler(self, base: Path) -> Any:
        # SD 1.5's betas, rescaled to zero terminal SNR, v-prediction, trailing spacing.
        return ttm_ddim_scheduler()

    def compression(self, vae_config: Any) -> tuple[int, int, bool]:
        return 1, 2 ** (len(vae_config.block_out_channels) - 1), False

    def latent_channels(self, vae_config: Any) -> int:
        return int(vae_config.latent_channels)

    def encode(self, vae: nn.Module, video: torch.Tensor) -> torch.Tensor:
        weight = next(vae.parameters())
        b = video.shape[0]
        frames = _fold_frames(video.to(weight.device, weight.dtype))  # (B*T, 3, H, W)
        latent = vae.encode(frames).latent_dist.mode() * vae.config.scaling_factor  # (B*T, C, h, w)
        return latent.unflatten(0, (b, -1)).transpose(1, 2)  # (B, C, T, h, w)

    def decode(self, vae: nn.Module, latents: torch.Tensor) -> torch.Tensor:
        weight = next(vae.parameters())
        b = latents.shape[0]
        frames = _fold_frames(latents.to(weight.device, weight.dtype)) / vae.config.scaling_factor
        video = vae.decode(frames).sample.clamp(-1, 1)  # (B*T, 3, H, W)
        return video.unflatten(0, (b, -1)).transpose(1, 2)  # (B, 3, T, H, W)

    def _run_text(self, text_encoder: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # SD 1.5 reads CLIP's padded states without a mask.
        return text_encoder(ids).last_hidden_state

    def group_grids(self, model: TTMModel, vae_config: Any) -> dict[int, TokenGrid]:
        _, cs, _ = self.compression(vae_config)
        return {level: model.token_grid(level, cs) for level in model.levels}  # each down level's resolution

    def batch_groups(self, per_grid: dict[int, BatchTokenGroups]) -> dict[int, BatchTokenGroups]:
        return per_grid

    def noisy(self, scheduler, x0, noise, generator):
        b = x0.shape[0]
        t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=generator).to(x0.device)
        return scheduler.add_noise(x0, noise, t), t, scheduler.get_velocity(x0, noise, t)

    def sample(self, scheduler, predict, noise, steps, step_end=None, before_step=None):
        scheduler.set_timesteps(steps)
        x = noise * scheduler.init_noise_sigma
        b = x.shape[0]
        for i, t in enumerate(scheduler.timesteps):
            if before_step is not None:
                x = before_step(i, x)
            v = predict(x, t.expand(b).to(x.device))  # (B, C, T, h, w)
            x = scheduler.step(v.to(x.dtype), t, x).prev_sample  # DDIM, eta 0: deterministic
            if step_end is not None:
                step_end(i, t, x)
        return x


def _strict(cls: type, folder: Path, **kwargs: Any) -> nn.Module:
    """``cls.from_pretrained(folder)`` offline, failing on missing or unexpected weights
    (diffusers alone only warns)."""
    if not Path(folder).is_dir():
        raise InputError(f"{folder} does not exist; expected a {cls.__name__} folder there")
    kwargs.setdefault("local_files_only", True)
    model, info = cls.from_pretrained(folder, output_loading_info=True, **kwargs)
    check_loading_info(str(folder), info)
    return model


BACKBONES: dict[str, BackboneKind] = {"wan": WanKind(), "animatediff": AnimateDiffKind()}


# ---- public image-to-video pipelines, driven as they are (dual-clock, no TTM layers) -------
class I2VKind:
    """What differs between the public diffusers image-to-video pipelines that dual-clock
    sampling drives unchanged (`maskmotion.pipelines.i2v`): their class, canvas, step
    defaults and starting steps (Time-to-Move's, for 50 steps), sampler, and latent layout."""

    name: str
    pipeline_class_name: str
    default_frames: int
    default_height: int
    default_width: int
    default_steps = 50
    default_guidance: float
    default_t_weak: int
    default_t_strong: int
    #: The latents' axis order: (B, C, T, H, W) "cthw" or (B, T, C, H, W) "tchw".
    layout: str = "cthw"
    #: Whether the blocks have a text cross-attention to steer with local prompts.
    cross_attention = True
    #: Video frames per latent frame after the first (both families' VAEs are causal, 4x).
    temporal_compression = 4

    def check_frames(self, frames: int) -> None:
        """Frames this backbone's VAE can take (1 + k * compression), or one line naming the nearest."""
        ct = self.temporal_compression
        if frames < 1 or (frames - 1) % ct:
            near = 1 + max(1, round((frames - 1) / ct)) * ct
            raise InputError(f"{self.name} renders 1 + {ct}k frames, not {frames}; use --frames {near}")

    def pipeline_class(self) -> type:
        return getattr(diffusers, self.pipeline_class_name)

    def sampler(self, scheduler: Any) -> Any:
        """A one-step sampler over the folder's schedule: dual-clock replaces the sample
        between steps, which a multistep solver's history would not know about."""
        raise NotImplementedError

    def encode_preview(self, vae: nn.Module, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> latents as the pipeline's sampler holds them."""
        raise NotImplementedError

    def to_layout(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, t, h, w) -> this pipeline's latent layout."""
        return x if self.layout == "cthw" else x.transpose(1, 2)


class WanI2VKind(I2VKind):
    """Wan 2.1 / 2.2 image-to-video (`WanImageToVideoPipeline`): 14B-480P with a CLIP image
    encoder, TI2V-5B without one (its first latent frame is the image, `expand_timesteps`)."""

    name = "wan-i2v"
    pipeline_class_name = "WanImageToVideoPipeline"
    default_frames, default_height, default_width = 81, 480, 832
    default_guidance = 5.0
    default_t_weak, default_t_strong = 3, 7

    def sampler(self, scheduler: Any) -> Any:
        # The folders ship UniPC over shifted flow sigmas; Euler over the same sigmas.
        config = scheduler.config
        shift = config.get("flow_shift") or config.get("shift") or 3.0
        return FlowMatchEulerDiscreteScheduler(num_train_timesteps=config.get("num_train_timesteps", 1000), shift=shift)

    def encode_preview(self, vae: nn.Module, video: torch.Tensor) -> torch.Tensor:
        return BACKBONES["wan"].encode(vae, video)  # normalised as Wan's transformer reads latents


class CogVideoXI2VKind(I2VKind):
    """CogVideoX image-to-video (`CogVideoXImageToVideoPipeline`, 5B-I2V; 1.5 pads a latent frame)."""

    name = "cogvideox-i2v"
    pipeline_class_name = "CogVideoXImageToVideoPipeline"
    default_frames, default_height, default_width = 49, 480, 720
    default_guidance = 6.0
    default_t_weak, default_t_strong = 4, 9
    layout = "tchw"
    cross_attention = False  # text tokens join the video tokens' self-attention

    def sampler(self, scheduler: Any) -> Any:
        # The folders ship CogVideoX's DPM solver (multistep); its DDIM over the same betas.
        return diffusers.CogVideoXDDIMScheduler.from_config(scheduler.config)

    def encode_preview(self, vae: nn.Module, video: torch.Tensor) -> torch.Tensor:
        weight = next(vae.parameters())
        latent = vae.encode(video.to(weight.device, weight.dtype)).latent_dist.mode()  # (B, C, t, h, w)
        return self.to_layout(latent * vae.config.scaling_factor)


I2V_BACKBONES: dict[str, I2VKind] = {"wan-i2v": WanI2VKind(), "cogvideox-i2v": CogVideoXI2VKind()}


def get_i2v_kind(name: str) -> I2VKind:
    if name not in I2V_BACKBONES:
        raise InputError(f"unknown image-to-video backbone {name!r}; choose from {sorted(I2V_BACKBONES)}")
    return I2V_BACKBONES[name]


def get_kind(name: str) -> BackboneKind:
    if name not in BACKBONES:
        raise InputError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}")
    return BACKBONES[name]
