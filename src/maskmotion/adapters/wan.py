"""TTM on Wan 2.1 (`diffusers.WanTransformer3DModel`), the paper's DiT analogue.

    transformer = WanTransformer3DModel.from_pretrained(path, subfolder="transformer")
    model = add_ttm_to_wan(transformer, extra_in_channels=32)  # x0 latent + trajectory latent
    groups = BatchTokenGroups.from_samples([build_token_groups(traj, TokenGrid.wan())])
    with model.mask_context(groups, local_states, local_ids):   # umT5 states of the local prompts
        velocity = model(torch.cat([noisy, x0_latent, traj_latent], 1), t, prompt_states).sample

What changes (docs/method.md, stage 2): the patch embedding takes `extra_in_channels` more
channels (their weights zero); the first K blocks (default a quarter, as the paper's 10
of 40) gain masked self-attention after their self-attention and masked cross-attention
to the local prompts after their text cross-attention (spliced in by hooks, see
`common.py`). The new layers are copies of the block's own attention modules (so they
start from pretrained projections and Wan's rotary positions) with the output projection
zeroed, so at step 0 the adapted model equals the original on the original channels.
Wan's blocks pass no attention mask: the groups and local prompts reach the new layers
through a `MaskContext` set around each call. Local prompts are encoded by the same text
encoder as the global prompt and projected by the transformer's own text projection, the
space its cross-attention reads. Training objective: flow matching, as Wan trains.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers import WanTransformer3DModel
from diffusers.models.embeddings import PixArtAlphaTextProjection
from diffusers.models.normalization import FP32LayerNorm
from torch import nn

from ..attention import BatchTokenGroups, MaskContext, MaskedCrossAttnProcessor, MaskedSelfAttnProcessor
from ..attention.ops import Backend
from .common import TTMAdapterConfig, TTMLayers, TTMModel, splice_block, widen_input_conv, zero_output

__all__ = ["WanTTM", "WanTTMLayers", "add_ttm_to_wan", "default_masked_blocks"]


def default_masked_blocks(num_layers: int) -> int:
    """A quarter of the blocks, at least one (the paper: 10 of 40)."""
    return max(1, num_layers // 4)


class WanTTMLayers(TTMLayers):
    """Masked self- and cross-attention for one `WanTransformerBlock`.

    Args:
        block: the block the layers go into; their attention modules start as copies of
            its `attn1` / `attn2` (pretrained projections), output projections zero.
        context: the model's `MaskContext` (groups, projected local prompts).
    """

    def __init__(self, block: nn.Module, context: MaskContext, masked_self: bool, masked_cross: bool) -> None:
        super().__init__()
        dim = block.attn1.to_out[0].out_features
        eps = block.norm1.eps
        self._rotary: tuple[torch.Tensor, torch.Tensor] | None = None
        if masked_self:
            # Pre-norm of our own: the block's norm1 is modulated by the timestep, ours is not.
            self.self_norm = FP32LayerNorm(dim, eps, elementwise_affine=True)
            self.self_attn = copy.deepcopy(block.attn1)
            self.self_attn.set_processor(MaskedSelfAttnProcessor(context))
            zero_output(self.self_attn)
        if masked_cross:
            self.cross_norm = copy.deepcopy(block.norm2)  # FP32LayerNorm (Wan 2.1) or Identity
            cross = copy.deepcopy(block.attn2)
            if getattr(cross, "add_k_proj", None) is not None:
                # I2V blocks also read CLIP image tokens; local prompts have none.
                cross.add_k_proj = cross.add_v_proj = cross.norm_added_k = None
                cross.added_kv_proj_dim = None
            cross.set_processor(MaskedCrossAttnProcessor(context))
            zero_output(cross)
            self.cross_attn = cross

    @property
    def has_self(self) -> bool:
        return hasattr(self, "self_attn")

    @property
    def has_cross(self) -> bool:
        return hasattr(self, "cross_attn")

    def self_delta(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, N, D) stream -> (B, N, D) update; Wan's rotary positions, as in attn1."""
        normed = self.self_norm(hidden_states.float()).type_as(hidden_states)
        return self.self_attn(normed, None, None, self._rotary)

    def cross_delta(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, N, D) stream -> (B, N, D) update; exactly zero on tokens no object covers."""
        normed = self.cross_norm(hidden_states.float()).type_as(hidden_states)
        return self.cross_attn(normed, None, None, None)

    def renorm(self, block: nn.Module, hidden_states: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return block.norm2(hidden_states.float()).type_as(like)  # as WanTransformerBlock does


class WanTTM(TTMModel):
    """`WanTransformer3DModel` with TTM conditioning; build with `add_ttm_to_wan`.

    Call it like the transformer (`hidden_states` (B, C + extra, F, H, W), `timestep`,
    `encoder_hidden_states` (B, S, text_dim)) inside `mask_context(...)`, or pass
    `groups=`, `local_states=`, `local_ids=` to the call.
    """

    backbone_class = WanTransformer3DModel
    backbone_name = "wan"
    widen_hint = "add_ttm_to_wan"

    def __init__(self, backbone: WanTransformer3DModel, config: TTMAdapterConfig) -> None:
        super().__init__(backbone, config)
        self.context = MaskContext(backend=config.backend)
        inner = backbone.config.num_attention_heads * backbone.config.attention_head_dim
        text_dim = config.text_dim or backbone.config.text_dim
        # Local prompts normally come from the same encoder as the global prompt and share
        # its projection; a different encoder width gets a projection of its own.
        self.local_text_proj: nn.Module | None = None
        if text_dim != backbone.config.text_dim:
            self.local_text_proj = PixArtAlphaTextProjection(text_dim, inner, act_fn="gelu_tanh")
        self.text_dim = text_dim
        for path in config.blocks:
            block = backbone.get_submodule(path)
            if getattr(block, "_ttm_spliced", False):
                raise ValueError(f"{path} already has TTM layers")
            block._ttm_spliced = True
            layers = WanTTMLayers(block, self.context, config.masked_self, config.masked_cross)
            self.layers.append(layers)
            self._handles += splice_block(block, layers)
            self._handles.append(block.register_forward_pre_hook(self._rotary_recorder(layers)))

    def mask_contexts(self) -> list[MaskContext]:
        return [self.context]

    @property
    def transformer(self) -> WanTransformer3DModel:
        return self.backbone

    @staticmethod
    def _rotary_recorder(layers: WanTTMLayers):  # noqa: ANN205 - a hook
        def record(module: nn.Module, args: tuple) -> None:
            # WanTransformerBlock(hidden_states, encoder_hidden_states, temb, rotary_emb)
            layers._rotary = args[3] if len(args) > 3 else None

        return record

    def project_local_prompts(self, local_states: torch.Tensor) -> torch.Tensor:
        """(B, M, text_dim) encoder states -> (B, M, D) in the space Wan's cross-attention reads."""
        if local_states.ndim != 3 or local_states.shape[-1] != self.text_dim:
            raise ValueError(f"local_states must be (B, M, {self.text_dim}), got {tuple(local_states.shape)}")
        projection = self.local_text_proj or self.backbone.condition_embedder.text_embedder
        weight = next(projection.parameters())
        return projection(local_states.to(weight.device, weight.dtype))

    @contextmanager
    def mask_context(
        self,
        groups: BatchTokenGroups,
        local_states: torch.Tensor | None = None,
        local_ids: torch.Tensor | None = None,
    ) -> Iterator[MaskContext]:
        """Set the masks for the model calls inside the `with` block.

        Args:
            groups: token groups at Wan's token grid (`TokenGrid.wan()`), batch B.
            local_states: (B, M, text_dim) the local prompts' encoder states, concatenated
                (needed when the model has masked cross-attention).
            local_ids: (B, M) the object (1..L) each prompt token belongs to, 0 = padding.
        """
        if not isinstance(groups, BatchTokenGroups):
            raise ValueError(f"groups must be BatchTokenGroups, got {type(groups).__name__}")
        if self.config.masked_cross and local_states is None:
            raise ValueError("this model has masked cross-attention: pass local_states and local_ids")
        if not self.layers:  # input widening only: nothing reads the masks
            yield self.context
            return
        projected = None if local_states is None else self.project_local_prompts(local_states)
        device = next(self.backbone.parameters()).device
        with self.context.use(groups.to(device), projected, local_ids):
            yield self.context

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        *args: object,
        groups: BatchTokenGroups | None = None,
        local_states: torch.Tensor | None = None,
        local_ids: torch.Tensor | None = None,
        **kwargs: object,
    ):  # noqa: ANN201 - whatever the transformer returns
        """hidden_states (B, C + extra, F, H, W) -> the transformer's output (B, C_out, F, H, W)."""
        expected = self.backbone.config.in_channels
        if hidden_states.ndim != 5 or hidden_states.shape[1] != expected:
            raise ValueError(
                f"hidden_states must be (B, {expected}, F, H, W) (noisy latent + conditions concatenated), "
                f"got {tuple(hidden_states.shape)}"
            )
        if groups is None:
            if self.layers and not self.context.is_set:
                raise ValueError("no masks set: pass groups= (and local prompts) or call inside mask_context(...)")
            return self.backbone(hidden_states, timestep, encoder_hidden_states, *args, **kwargs)
        with self.mask_context(groups, local_states, local_ids):
            return self.backbone(hidden_states, timestep, encoder_hidden_states, *args, **kwargs)


def add_ttm_to_wan(
    transformer: WanTransformer3DModel,
    extra_in_channels: int,
    masked_blocks: int | None = None,
    text_dim: int | None = None,
    *,
    masked_self: bool = True,
    masked_cross: bool = True,
    backend: Backend = "auto",
) -> WanTTM:
    """Add TTM conditioning to a Wan transformer (modified in place and wrapped).

    Args:
        transformer: a `WanTransformer3DModel` (pretrained or random).
        extra_in_channels: channels of the concatenated conditions (stage 2 with Wan's
            16-channel VAE: 32, the first frame's latent and the trajectory's latent).
        masked_blocks: K, how many leading blocks get masked layers; default a quarter;
            0 widens the input only (stage 1: no masked layers, no masks to pass).
        text_dim: width of the local prompts' encoder states; default the transformer's
            `text_dim` (same encoder as the global prompt, shared projection).
        masked_self, masked_cross: which layers to add (the paper's ablations).
        backend: masked attention backend (see `maskmotion.attention`).
    """
    if not isinstance(transformer, WanTransformer3DModel):
        raise ValueError(f"expected a WanTransformer3DModel, got {type(transformer).__name__}")
    num_layers = len(transformer.blocks)
    k = default_masked_blocks(num_layers) if masked_blocks is None else masked_blocks
    if not 0 <= k <= num_layers:
        raise ValueError(f"masked_blocks must be in 0..{num_layers}, got {k}")
    if any(getattr(block, "_ttm_spliced", False) for block in transformer.blocks):
        raise ValueError("this transformer already has TTM layers")
    original = transformer.config.in_channels
    out_channels = transformer.config.out_channels or original
    transformer.patch_embedding = widen_input_conv(transformer.patch_embedding, extra_in_channels)
    # The saved config must describe the widened layer (and keep out_channels, which
    # defaults to in_channels).
    transformer.register_to_config(in_channels=original + extra_in_channels, out_channels=out_channels)
    config = TTMAdapterConfig(
        backbone="wan",
        original_in_channels=original,
        extra_in_channels=extra_in_channels,
        blocks=tuple(f"blocks.{i}" for i in range(k)),
        masked_self=masked_self,
        masked_cross=masked_cross,
        text_dim=text_dim,
        backend=backend,
    )
    return WanTTM(transformer, config)
