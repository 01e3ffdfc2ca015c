"""`I2VBackbone`: a public diffusers image-to-video pipeline (Wan 2.1/2.2 I2V,
CogVideoX-I2V) turning the warp preview into a video by dual-clock sampling, training-free.

The diffusers pipeline runs as it is; two hooks hold the sample to the preview:
its ``prepare_latents`` (the start: the held regions at step 0) and its
``callback_on_step_end`` (the input of every later step). With nothing held the run is
the base pipeline's, draw for draw. Local prompts (Wan) reach the first blocks' own text
cross-attention through `LocalPromptBlendProcessor`, only in the conditional pass.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from PIL import Image

from ..adapters.kinds import BACKBONES, I2VKind, get_i2v_kind
from ..attention import BatchTokenGroups, LocalPromptBlendProcessor, MaskContext, TokenGrid, build_token_groups
from ..errors import InputError
from ..trajectory import MaskTrajectory
from .dualclock import DualClock, DualClockSettings, latent_object_mask, scheduler_noised
from .stages import StepEnd

__all__ = ["I2VBackbone", "DEFAULT_LOCAL_BLOCKS", "check_i2v_folder", "ttm_backbone_of"]

#: Blocks whose text cross-attention reads the local prompts: the paper's share (10 of 40).
DEFAULT_LOCAL_BLOCKS = 0.25
#: Wan's prompt length (its cross-attention was trained on 512 padded tokens).
TEXT_TOKENS = 512


class I2VBackbone:
    """A loaded diffusers image-to-video pipeline and the kind facts that drive it."""

    def __init__(self, kind: I2VKind, pipe: Any, folder: str = "") -> None:
        self.kind = kind
        self.pipe = pipe
        self.folder = folder
        pipe.scheduler = kind.sampler(pipe.scheduler)
        pipe.set_progress_bar_config(disable=True)  # the animate pipeline shows one bar per stage
        self.last_clock: DualClock | None = None  # the last call's hold (its noise is the pipeline's own)

    @classmethod
    def from_pretrained(
        cls,
        backbone: str,
        folder: str | os.PathLike,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        offload: bool = False,
        vae_tiling: bool = False,
    ) -> I2VBackbone:
        """Load a diffusers pipeline folder (``model_index.json``) of ``backbone``'s class,
        offline. ``offload``: diffusers' model CPU offload (GPU only); ``vae_tiling``:
        decode in tiles (both for a 24 GB card and the 14B model)."""
        kind = check_i2v_folder(folder, backbone)
        if offload and not torch.cuda.is_available():
            raise InputError("--offload moves models between CPU and GPU and needs a GPU; drop it on this machine")
        dtype = dtype or (torch.bfloat16 if torch.device(device).type == "cuda" or offload else torch.float32)
        pipe = kind.pipeline_class().from_pretrained(str(folder), dtype=dtype, local_files_only=True)
        if offload:
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        if vae_tiling:
            pipe.vae.enable_tiling()
        return cls(kind, pipe, str(folder))

    # ---- facts ---------------------------------------------------------------------------
    @property
    def latent_grid(self) -> TokenGrid:
        """The VAE's latent grid (causal first frame in both families)."""
        return TokenGrid(
            temporal_compression=int(self.pipe.vae_scale_factor_temporal),
            causal_first_frame=True,
            spatial_compression=int(self.pipe.vae_scale_factor_spatial),
        )

    def check_frames(self, frames: int) -> None:
        if self.pipe.vae_scale_factor_temporal != self.kind.temporal_compression:
            raise InputError(
                f"{self.folder}'s VAE folds {self.pipe.vae_scale_factor_temporal} frames, not the "
                f"{self.kind.temporal_compression} of {self.kind.name}; give a folder of that family"
            )
        self.kind.check_frames(frames)

    def check_size(self, height: int, width: int) -> None:
        """A canvas the transformer can patch (the pipelines would silently shrink it)."""
        patch = self._transformers[0].config.patch_size
        cell = int(self.pipe.vae_scale_factor_spatial) * int(patch[1] if isinstance(patch, (list, tuple)) else patch)
        if height % cell or width % cell:
            raise InputError(f"{self.kind.name} needs a canvas in multiples of {cell} pixels, not {height}x{width}; "
                             f"use --resolution {height // cell * cell}x{width // cell * cell}")  # fmt: skip

    @property
    def _transformers(self) -> list[torch.nn.Module]:
        return [m for m in (self.pipe.transformer, getattr(self.pipe, "transformer_2", None)) if m is not None]

    # ---- sampling ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        image: np.ndarray,
        preview: np.ndarray,
        trajectory: MaskTrajectory,
        prompt: str,
        settings: DualClockSettings,
        num_inference_steps: int,
        guidance_scale: float,
        generator: torch.Generator,
        step_end: StepEnd | None = None,
        local_blocks: int | None = None,
    ) -> np.ndarray:
        """The video (T, H, W, 3) uint8 on the backbone's canvas.

        Args:
            image: (H, W, 3) uint8 first frame, at the canvas size.
            preview: (T, H, W, 3) uint8 warp preview of ``trajectory`` from ``image``.
            trajectory: the objects' masks at the canvas size; its objects carry the local prompts.
            settings: the starting steps and the local-prompt weight (`DualClockSettings`).
            local_blocks: how many leading blocks read the local prompts (default a quarter).
        """
        t, h, w = trajectory.ids.shape
        self.check_frames(t)
        settings.check(num_inference_steps)
        if preview.shape != (t, h, w, 3) or image.shape != (h, w, 3):
            raise ValueError(f"image {image.shape} and preview {preview.shape} must match the trajectory's {t}x{h}x{w}")
        if settings.local_prompt_weight and not self.kind.cross_attention:
            raise InputError(
                f"{self.kind.name} has no separate text cross-attention (its text joins self-attention), so local "
                "prompts cannot be blended in; use --local-prompt-weight 0 or --backbone wan-i2v"
            )
        pipe, kind = self.pipe, self.kind
        video = torch.from_numpy(preview).permute(3, 0, 1, 2)[None].float() / 127.5 - 1  # (1, 3, T, H, W)
        preview_latents = kind.encode_preview(pipe.vae, video)  # pipeline layout
        objects = torch.from_numpy(latent_object_mask(trajectory.ids, self.latent_grid))  # (t', h', w')
        objects = kind.to_layout(objects[None, None])  # (1, 1, t', h', w') in the pipeline's layout
        clock: list[DualClock] = []

        prepare = pipe.prepare_latents

        def prepare_held(*args: Any, **kwargs: Any) -> Any:
            out = prepare(*args, **kwargs)
            start = out[0]  # the pipeline's own noise
            held = DualClock(
                _pad_frames(preview_latents, start, kind).to(start.device, start.dtype), start.clone(),
                _pad_frames(objects, start, kind), settings, scheduler_noised(pipe.scheduler),
            )  # fmt: skip
            clock.append(held)
            self.last_clock = held
            return (held(0, start), *out[1:])

        def on_step_end(_pipe: Any, i: int, timestep: Any, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            latents = tensors["latents"]
            if i + 1 < num_inference_steps:
                latents = clock[0](i + 1, latents)
            if step_end is not None:
                step_end(i, timestep, latents)
            return {"latents": latents}

        pipe.prepare_latents = prepare_held  # this call only; restored below
        try:
            with self._local_prompts(trajectory, prompt, settings.local_prompt_weight, local_blocks) as embeds:
                frames = pipe(
                    image=Image.fromarray(image), height=h, width=w, num_frames=t,
                    num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, generator=generator,
                    output_type="np", callback_on_step_end=on_step_end, **embeds,
                ).frames[0]  # fmt: skip
        finally:
            del pipe.prepare_latents
        return (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)

    @contextmanager
    def _local_prompts(
        self, trajectory: MaskTrajectory, prompt: str, weight: float, local_blocks: int | None
    ) -> Iterator[dict[str, Any]]:
        """With a weight: blend processors in the first blocks' text cross-attention, the
        prompts encoded here so the conditional pass can be told from the unconditional one;
        yields the pipeline's prompt arguments."""
        prompts = [o.prompt for o in trajectory.objects if o.prompt.strip()]
        if not weight or not prompts:
            yield {"prompt": prompt}
            return
        pipe = self.pipe
        device = pipe._execution_device
        dtype = self._transformers[0].dtype
        cond, uncond = pipe.encode_prompt(prompt=prompt, negative_prompt="", device=device,
                                          do_classifier_free_guidance=True, max_sequence_length=TEXT_TOKENS)  # fmt: skip
        cond, uncond = cond.to(dtype), uncond.to(dtype)
        context = MaskContext()
        restore: list[tuple[torch.nn.Module, Any]] = []
        handles = []
        for transformer in self._transformers:
            blocks = transformer.blocks
            k = local_blocks if local_blocks is not None else max(1, round(len(blocks) * DEFAULT_LOCAL_BLOCKS))
            processors = []
            for block in blocks[:k]:
                restore.append((block.attn2, block.attn2.processor))
                processors.append(LocalPromptBlendProcessor(block.attn2.processor, context, weight))
                block.attn2.set_processor(processors[-1])
            handles.append(transformer.register_forward_pre_hook(_conditional_only(processors, cond), with_kwargs=True))
        groups, states, owners = self._local_states(trajectory)
        try:
            with context.use(groups, states, owners):
                yield {"prompt_embeds": cond, "negative_prompt_embeds": uncond}
        finally:
            for handle in handles:
                handle.remove()
            for attn, processor in restore:
                attn.set_processor(processor)

    def _local_states(self, trajectory: MaskTrajectory) -> tuple[BatchTokenGroups, torch.Tensor, torch.Tensor]:
        """Token groups at the transformer's grid, the local prompts' token states at its
        cross-attention width (1, M, D), and each token's object id (1, M)."""
        pipe = self.pipe
        objects = [o for o in trajectory.objects if o.prompt.strip()]
        _, per_prompt = BACKBONES["wan"].encode_text(
            pipe.tokenizer, pipe.text_encoder, [o.prompt for o in objects], TEXT_TOKENS
        )
        states = torch.cat(per_prompt)[None]  # (1, M, D_text)
        owners = torch.cat([torch.full((len(s),), o.id) for o, s in zip(objects, per_prompt)])[None]  # (1, M)
        transformer = self._transformers[0]
        projection = transformer.condition_embedder.text_embedder
        weight = next(projection.parameters())
        states = projection(states.to(weight.device, weight.dtype))  # (1, M, D)
        grid = self.latent_grid
        grid = TokenGrid(grid.temporal_compression, True, grid.spatial_compression, tuple(transformer.config.patch_size))
        groups = BatchTokenGroups.from_samples(
            [build_token_groups(torch.from_numpy(trajectory.ids), grid, max(trajectory.object_ids, default=0), "box")]
        )
        return groups, states, owners


#: The TTM-trained backbone kind each image-to-video kind can start by dual-clock.
_TRAINED = {"wan-i2v": "wan"}


def ttm_backbone_of(folder: str | os.PathLike, backbone: str) -> str | None:
    """The TTM backbone (e.g. "wan") when ``folder`` is a TTM-trained weights folder
    (``maskmotion_backbone.json``) that ``backbone`` can drive, None for a diffusers folder."""
    if not (Path(folder) / "maskmotion_backbone.json").is_file():
        return None
    if backbone not in _TRAINED:
        raise InputError(f"{folder} is a TTM-trained folder; {backbone} has no TTM-trained form (use --backbone wan-i2v "
                         "for a Wan one, or give a diffusers image-to-video folder)")  # fmt: skip
    from .backbone import read_backbone_config  # lazy: only for trained folders

    read_backbone_config(folder, _TRAINED[backbone])  # names the kind it holds if it is another
    return _TRAINED[backbone]


def check_i2v_folder(folder: str | os.PathLike, backbone: str) -> I2VKind:
    """``backbone``'s kind, if ``folder`` is a diffusers folder of its pipeline class (or,
    for wan-i2v, a TTM-trained Wan folder); one clear line otherwise (before anything
    heavy loads)."""
    kind = get_i2v_kind(backbone)
    folder = Path(folder)
    if ttm_backbone_of(folder, backbone) is not None:
        return kind
    index = folder / "model_index.json"
    if not index.is_file():
        raise InputError(f"{folder} has no model_index.json; give a diffusers {kind.pipeline_class_name} folder")
    try:
        found = json.loads(index.read_text()).get("_class_name")
    except (OSError, ValueError, AttributeError) as exc:
        raise InputError(f"{index} is not a readable JSON object ({exc}); re-download the folder") from None
    if found != kind.pipeline_class_name:
        raise InputError(
            f"{folder} holds a {found}, not a {kind.pipeline_class_name}; give a {kind.name} folder "
            f"(e.g. {_EXAMPLE_FOLDERS[kind.name]}) or pick the --backbone that matches it"
        )
    return kind


def _conditional_only(processors: list[LocalPromptBlendProcessor], cond: torch.Tensor):  # noqa: ANN202 - a hook
    """A transformer pre-hook that lets the local prompts in during the conditional pass
    only (the prompt states it is called with are ``cond``), not the unconditional one."""

    def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        text = kwargs.get("encoder_hidden_states")
        active = text is not None and text.data_ptr() == cond.data_ptr()
        for processor in processors:
            processor.active = active

    return hook


def _pad_frames(x: torch.Tensor, like: torch.Tensor, kind: I2VKind) -> torch.Tensor:
    """Latents or a mask with ``like``'s frame count: CogVideoX 1.5 prepends padding frames
    (dropped after sampling), filled here with copies of the first."""
    axis = 2 if kind.layout == "cthw" else 1
    extra = like.shape[axis] - x.shape[axis]
    if extra < 0:
        raise ValueError(f"the sample has {like.shape[axis]} latent frames, fewer than the preview's {x.shape[axis]}")
    if extra == 0:
        return x
    first = x.narrow(axis, 0, 1)
    return torch.cat([first.expand(*[extra if d == axis else -1 for d in range(x.ndim)]), x], dim=axis)


_EXAMPLE_FOLDERS = {
    "wan-i2v": "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers or Wan-AI/Wan2.2-TI2V-5B-Diffusers",
    "cogvideox-i2v": "THUDM/CogVideoX-5b-I2V",
}
