"""TTM on AnimateDiff (`diffusers.UNetMotionModel` = SD 1.5 + motion adapter), the paper's
U-Net analogue.

    unet = UNetMotionModel.from_unet2d(UNet2DConditionModel.from_pretrained(sd15, subfolder="unet"),
                                       MotionAdapter.from_pretrained(adapter_path))
    model = add_ttm_to_animatediff(unet, extra_in_channels=8)   # conv_in 4 -> 12
    groups = model.token_groups(trajectories)                   # one BatchTokenGroups per level
    with model.mask_context(groups, local_states, local_ids):   # CLIP states of the local prompts
        v = model(torch.cat([noisy, x0_latent, traj_latent], 1), t, prompt_states).sample
    scheduler = ttm_ddim_scheduler()                            # v-prediction, zero terminal SNR

What changes (docs/method.md, stage 2): `conv_in` takes the concatenated conditions (new
weights zero); the encoder's spatial transformer blocks (SD 1.5: the six of the three
cross-attention down blocks, the paper's six) gain masked self-attention after their
self-attention and masked cross-attention to the local prompts after their text
cross-attention, spliced in by hooks (see `common.py`), copies of the block's own
attention modules with the output projection zeroed.

Spatial blocks see frames folded into the batch, (B*F, H*W, C); masked self-attention
must span every frame of the clip, so the new layers refold to (B, F*H*W, C) (token order
(t, h, w), as the token groups use) and back. Each down block works at its own
resolution (the latent's, halved per level), so each level has its own token groups.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from diffusers import DDIMScheduler, UNetMotionModel
from torch import nn

from ..attention import (
    BatchTokenGroups,
    MaskContext,
    MaskedCrossAttnProcessor,
    MaskedSelfAttnProcessor,
    TokenGrid,
    build_token_groups,
)
from ..attention.groups import CrossRegion
from ..attention.ops import Backend
from .common import TTMAdapterConfig, TTMLayers, TTMModel, splice_block, widen_input_conv, zero_output

__all__ = [
    "AnimateDiffTTM",
    "AnimateDiffTTMLayers",
    "add_ttm_to_animatediff",
    "encoder_transformer_blocks",
    "ttm_ddim_scheduler",
]

_LEVEL = re.compile(r"^down_blocks\.(\d+)\.attentions\.\d+\.transformer_blocks\.\d+$")


def encoder_transformer_blocks(unet: UNetMotionModel) -> list[str]:
    """Paths of the spatial transformer blocks of the down blocks, in forward order
    (SD 1.5: six; motion modules excluded)."""
    paths = []
    for i, down in enumerate(unet.down_blocks):
        for j, transformer in enumerate(getattr(down, "attentions", None) or []):
            prefix = f"down_blocks.{i}.attentions.{j}.transformer_blocks"
            paths += [f"{prefix}.{k}" for k in range(len(transformer.transformer_blocks))]
    return paths


def _level(path: str) -> int:
    match = _LEVEL.match(path)
    if match is None:
        raise ValueError(f"{path!r} is not a down-block spatial transformer block")
    return int(match.group(1))


def ttm_ddim_scheduler(**overrides: Any) -> DDIMScheduler:
    """DDIM with v-prediction and zero terminal SNR, as TTM's U-Net trains and samples.

    SD 1.5's betas (scaled linear 0.00085 .. 0.012), rescaled so the last step is pure
    noise (the paper calls zero SNR critical for mask trajectories); "trailing" spacing so
    sampling starts at that last step. `overrides` go to `DDIMScheduler`.
    """
    config: dict[str, Any] = {
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "clip_sample": False,
        "set_alpha_to_one": False,
        "steps_offset": 1,
        "rescale_betas_zero_snr": True,
        "prediction_type": "v_prediction",
        "timestep_spacing": "trailing",
    }
    config.update(overrides)
    return DDIMScheduler(**config)


class AnimateDiffTTMLayers(TTMLayers):
    """Masked self- and cross-attention for one SD `BasicTransformerBlock` (frames folded).

    Args:
        block: the block; the new attention modules and pre-norms start as copies of its
            own (`norm1`/`attn1`, `norm2`/`attn2`), output projections zero.
        context: the `MaskContext` of the block's level (its resolution's token groups).
    """

    def __init__(self, block: nn.Module, context: MaskContext, masked_self: bool, masked_cross: bool) -> None:
        super().__init__()
        if getattr(block, "norm_type", None) != "layer_norm" or getattr(block, "pos_embed", None) is not None:
            raise ValueError("only layer-norm transformer blocks without positional embedding are supported (SD 1.5)")
        if getattr(block, "only_cross_attention", False):
            raise ValueError("only_cross_attention blocks are not supported")
        self.context = context
        if masked_self:
            self.self_norm = copy.deepcopy(block.norm1)
            self.self_attn = copy.deepcopy(block.attn1)
            self.self_attn.set_processor(MaskedSelfAttnProcessor(context))
            zero_output(self.self_attn)
        if masked_cross:
            self.cross_norm = copy.deepcopy(block.norm2)
            self.cross_attn = copy.deepcopy(block.attn2)
            self.cross_attn.set_processor(MaskedCrossAttnProcessor(context))
            zero_output(self.cross_attn)

    @property
    def has_self(self) -> bool:
        return hasattr(self, "self_attn")

    @property
    def has_cross(self) -> bool:
        return hasattr(self, "cross_attn")

    def _fold(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """(B*F, HW, C) -> (B, F*HW, C): one sequence per clip in (t, h, w) order."""
        groups = self.context.groups(hidden_states.device)
        frames, rows, cols = groups.grid_shape
        batch_frames, tokens, channels = hidden_states.shape
        if tokens != rows * cols or batch_frames != groups.batch_size * frames:
            raise ValueError(
                f"a spatial block sees {batch_frames} frames x {tokens} tokens but its level's groups are for "
                f"{groups.batch_size} clips x {frames} frames x {rows}x{cols} tokens; build the groups with "
                "AnimateDiffTTM.token_groups at the latent size and frame count of the call"
            )
        # UNetMotionModel folds (B, C, F, H, W) -> (B*F, C, H, W) batch-major, so this reshape
        # puts each clip's frames one after another.
        return hidden_states.reshape(groups.batch_size, frames * tokens, channels), hidden_states.shape

    def self_delta(self, hidden_states: torch.Tensor) -> torch.Tensor:
        folded, shape = self._fold(hidden_states)  # (B, F*HW, C)
        return self.self_attn(self.self_norm(folded)).reshape(shape)  # (B*F, HW, C)

    def cross_delta(self, hidden_states: torch.Tensor) -> torch.Tensor:
        folded, shape = self._fold(hidden_states)  # (B, F*HW, C)
        return self.cross_attn(self.cross_norm(folded)).reshape(shape)


class AnimateDiffTTM(TTMModel):
    """`UNetMotionModel` with TTM conditioning; build with `add_ttm_to_animatediff`.

    Call it like the U-Net (`sample` (B, C + extra, F, H, W), `timestep`,
    `encoder_hidden_states` (B, M, D) per clip or (B*F, M, D) per frame as diffusers
    wants) inside `mask_context(...)`, or pass `groups=`, `local_states=`, `local_ids=`.
    """

    backbone_class = UNetMotionModel
    backbone_name = "animatediff"
    widen_hint = "add_ttm_to_animatediff"

    def __init__(self, backbone: UNetMotionModel, config: TTMAdapterConfig) -> None:
        super().__init__(backbone, config)
        self.text_dim = config.text_dim or backbone.config.cross_attention_dim
        if self.text_dim != backbone.config.cross_attention_dim:
            raise ValueError(
                f"local prompts must have the U-Net's cross_attention_dim {backbone.config.cross_attention_dim} "
                f"(the same text encoder as the global prompt), got text_dim={config.text_dim}"
            )
        # One context per resolution level: each level has its own token grid.
        self.levels = sorted({_level(path) for path in config.blocks})
        self.contexts = {level: MaskContext(backend=config.backend) for level in self.levels}
        for path in config.blocks:
            block = backbone.get_submodule(path)
            if getattr(block, "_ttm_spliced", False):
                raise ValueError(f"{path} already has TTM layers")
            block._ttm_spliced = True
            layers = AnimateDiffTTMLayers(block, self.contexts[_level(path)], config.masked_self, config.masked_cross)
            self.layers.append(layers)
            self._handles += splice_block(block, layers)

    def mask_contexts(self) -> list[MaskContext]:
        return list(self.contexts.values())

    @property
    def unet(self) -> UNetMotionModel:
        return self.backbone

    def token_grid(self, level: int, vae_scale_factor: int = 8) -> TokenGrid:
        """The token grid of down block `level` for pixel-resolution trajectories."""
        return TokenGrid(spatial_compression=vae_scale_factor * 2**level)

    def token_groups(
        self,
        trajectories: Sequence[Any],
        vae_scale_factor: int = 8,
        cross_region: CrossRegion = "box",
        num_objects: int | None = None,
    ) -> dict[int, BatchTokenGroups]:
        """Token groups of every masked level, from pixel-resolution trajectories.

        Args:
            trajectories: per clip, a `MaskTrajectory` or (T, H, W) ids at the video's
                resolution (T = the U-Net's frames; H, W multiples of vae_scale_factor * 2^level).
            vae_scale_factor: pixels per latent pixel (SD's VAE: 8); 1 for latent-size ids.
        """
        return {
            level: BatchTokenGroups.from_samples(
                [
                    build_token_groups(t, self.token_grid(level, vae_scale_factor), num_objects, cross_region)
                    for t in trajectories
                ]
            )
            for level in self.levels
        }

    @contextmanager
    def mask_context(
        self,
        groups: Mapping[int, BatchTokenGroups],
        local_states: torch.Tensor | None = None,
        local_ids: torch.Tensor | None = None,
    ) -> Iterator[dict[int, MaskContext]]:
        """Set the masks for the model calls inside the `with` block.

        Args:
            groups: level -> token groups at that level's grid (see `token_groups`).
            local_states: (B, M, cross_attention_dim) the local prompts' text-encoder states.
            local_ids: (B, M) the object (1..L) each prompt token belongs to, 0 = padding.
        """
        missing = [level for level in self.levels if level not in groups]
        if missing:
            raise ValueError(f"groups lack levels {missing}; the masked levels are {self.levels}")
        if self.config.masked_cross and local_states is None:
            raise ValueError("this model has masked cross-attention: pass local_states and local_ids")
        if local_states is not None and (local_states.ndim != 3 or local_states.shape[-1] != self.text_dim):
            raise ValueError(f"local_states must be (B, M, {self.text_dim}), got {tuple(local_states.shape)}")
        device = next(self.backbone.parameters()).device
        with ExitStack() as stack:
            for level in self.levels:
                stack.enter_context(self.contexts[level].use(groups[level].to(device), local_states, local_ids))
            yield self.contexts

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        encoder_hidden_states: torch.Tensor,
        *args: object,
        groups: Mapping[int, BatchTokenGroups] | None = None,
        local_states: torch.Tensor | None = None,
        local_ids: torch.Tensor | None = None,
        **kwargs: object,
    ):  # noqa: ANN201 - whatever the U-Net returns
        """sample (B, C + extra, F, H, W) -> the U-Net's output (B, C_out, F, H, W)."""
        expected = self.backbone.config.in_channels
        if sample.ndim != 5 or sample.shape[1] != expected:
            raise ValueError(
                f"sample must be (B, {expected}, F, H, W) (noisy latent + conditions concatenated), "
                f"got {tuple(sample.shape)}"
            )
        batch, frames = sample.shape[0], sample.shape[2]
        if encoder_hidden_states.shape[0] == batch and frames > 1:
            # diffusers' UNetMotionModel reads one prompt per frame.
            encoder_hidden_states = encoder_hidden_states.repeat_interleave(frames, dim=0)
        elif encoder_hidden_states.shape[0] != batch * frames:
            raise ValueError(
                f"encoder_hidden_states must have B={batch} or B*F={batch * frames} rows, "
                f"got {encoder_hidden_states.shape[0]}"
            )
        if groups is None:
            if not all(context.is_set for context in self.contexts.values()):
                raise ValueError("no masks set: pass groups= (and local prompts) or call inside mask_context(...)")
            return self.backbone(sample, timestep, encoder_hidden_states, *args, **kwargs)
        with self.mask_context(groups, local_states, local_ids):
            return self.backbone(sample, timestep, encoder_hidden_states, *args, **kwargs)


def add_ttm_to_animatediff(
    unet: UNetMotionModel,
    extra_in_channels: int = 8,
    masked_blocks: int | None = None,
    text_dim: int | None = None,
    *,
    masked_self: bool = True,
    masked_cross: bool = True,
    backend: Backend = "auto",
) -> AnimateDiffTTM:
    """Add TTM conditioning to an AnimateDiff U-Net (modified in place and wrapped).

    Args:
        unet: a `UNetMotionModel` (SD 1.5 + motion adapter, or a random config).
        extra_in_channels: channels of the concatenated conditions (8: the first frame's
            and the trajectory's 4-channel SD latents, so conv_in goes 4 -> 12).
        masked_blocks: how many of the encoder's spatial transformer blocks (in forward
            order) get masked layers; default all of them (SD 1.5: six, as the paper);
            0 widens the input only (stage 1: no masked layers, no masks to pass).
        text_dim: width of the local prompts' states; must be the U-Net's
            cross_attention_dim (the same text encoder as the global prompt).
        masked_self, masked_cross, backend: as in `add_ttm_to_wan`.
    """
    if not isinstance(unet, UNetMotionModel):
        raise ValueError(f"expected a UNetMotionModel, got {type(unet).__name__}")
    paths = encoder_transformer_blocks(unet)
    if not paths:
        raise ValueError("this U-Net has no down-block transformer blocks to add masked layers to")
    k = len(paths) if masked_blocks is None else masked_blocks
    if not 0 <= k <= len(paths):
        raise ValueError(f"masked_blocks must be in 0..{len(paths)}, got {k}")
    if any(getattr(unet.get_submodule(path), "_ttm_spliced", False) for path in paths):
        raise ValueError("this U-Net already has TTM layers")
    original = unet.config.in_channels
    unet.conv_in = widen_input_conv(unet.conv_in, extra_in_channels)
    unet.register_to_config(in_channels=original + extra_in_channels)
    config = TTMAdapterConfig(
        backbone="animatediff",
        original_in_channels=original,
        extra_in_channels=extra_in_channels,
        blocks=tuple(paths[:k]),
        masked_self=masked_self,
        masked_cross=masked_cross,
        text_dim=text_dim,
        backend=backend,
    )
    return AnimateDiffTTM(unet, config)
