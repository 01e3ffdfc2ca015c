"""diffusers attention processors for masked self- and cross-attention.

Backbone blocks do not pass our masks (Wan's blocks pass no attention mask at all, and
its processor assumes 512 text tokens), so the processors read them from a `MaskContext`
that the pipeline fills before each model call:

    context = MaskContext()
    block.masked_attn.set_processor(MaskedSelfAttnProcessor(context))
    block.masked_cross_attn.set_processor(MaskedCrossAttnProcessor(context))
    with context.use(groups, prompt_states, prompt_object_ids):
        noise_pred = transformer(latents, timestep, text_states)

Supported attention modules: `diffusers.models.attention_processor.Attention` (U-Nets,
most DiTs) and `WanAttention` (norms across heads, optional rotary embedding). The token
axis of `hidden_states` must be the sample's full token sequence in (t, h, w) order; a
U-Net whose spatial blocks see (B*F, H*W) tokens must fold frames into tokens first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .groups import BatchTokenGroups
from .ops import Backend, masked_attention, resolve_backend
from .plan import AttentionPlan

__all__ = ["MaskContext", "MaskedSelfAttnProcessor", "MaskedCrossAttnProcessor", "LocalPromptBlendProcessor"]


class MaskContext:
    """The masks of the current model call: token groups and local prompts.

    One context is shared by every masked processor of a model. Groups move to the
    model's device once and their attention plans are cached, so K blocks x S denoising
    steps reuse one partition.
    """

    def __init__(self, backend: Backend = "auto") -> None:
        resolve_backend(backend, torch.device("cpu"))  # validate the name early
        self.backend: Backend = backend
        self._groups: BatchTokenGroups | None = None
        self._prompt_states: torch.Tensor | None = None
        self._prompt_object_ids: torch.Tensor | None = None

    @property
    def is_set(self) -> bool:
        return self._groups is not None

    def set(
        self,
        groups: BatchTokenGroups | None,
        prompt_states: torch.Tensor | None = None,
        prompt_object_ids: torch.Tensor | None = None,
    ) -> None:
        """Set the masks for the next model calls.

        Args:
            groups: the batch's token groups (None clears the context).
            prompt_states: (B, M, D_text) the local prompts' token states, concatenated.
            prompt_object_ids: (B, M) the object (1..L) each prompt token belongs to, 0 = padding.
        """
        if (prompt_states is None) != (prompt_object_ids is None):
            raise ValueError("pass prompt_states and prompt_object_ids together (or neither)")
        if groups is not None and prompt_states is not None:
            if prompt_states.ndim != 3 or prompt_object_ids.shape != prompt_states.shape[:2]:
                raise ValueError(
                    f"prompt_states must be (B, M, D) and prompt_object_ids (B, M); got "
                    f"{tuple(prompt_states.shape)} and {tuple(prompt_object_ids.shape)}"
                )
            if prompt_states.shape[0] != groups.batch_size:
                raise ValueError(
                    f"batch mismatch: groups have B={groups.batch_size}, prompts B={prompt_states.shape[0]}"
                )
        self._groups = groups
        self._prompt_states = prompt_states
        self._prompt_object_ids = prompt_object_ids

    def clear(self) -> None:
        self.set(None)

    def state(self) -> tuple[BatchTokenGroups | None, torch.Tensor | None, torch.Tensor | None]:
        """(groups, prompt_states, prompt_object_ids) as set now: what a caller needs to
        restore the masks later (e.g. for a checkpointed block recomputed in backward)."""
        return self._groups, self._prompt_states, self._prompt_object_ids

    @contextmanager
    def use(
        self,
        groups: BatchTokenGroups,
        prompt_states: torch.Tensor | None = None,
        prompt_object_ids: torch.Tensor | None = None,
    ) -> Iterator[MaskContext]:
        """Set the masks inside a `with` block and restore the previous ones after it."""
        previous = self.state()
        self.set(groups, prompt_states, prompt_object_ids)
        try:
            yield self
        finally:
            self._groups, self._prompt_states, self._prompt_object_ids = previous

    def groups(self, device: torch.device) -> BatchTokenGroups:
        if self._groups is None:
            raise ValueError(
                "no masks set: call MaskContext.set(groups, ...) or use `with context.use(groups, ...)` "
                "before the model call"
            )
        if self._groups.device != device:
            self._groups = self._groups.to(device)  # once; the cached plans move with it
        return self._groups

    def self_plan(self, device: torch.device) -> AttentionPlan:
        return self.groups(device).self_attention_plan()

    def prompts(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(prompt_states (B, M, D_text), prompt_object_ids (B, M)) on `device`."""
        self.groups(device)  # raises a clear error when nothing is set
        if self._prompt_states is None or self._prompt_object_ids is None:
            raise ValueError("masked cross-attention needs local prompts: pass prompt_states and prompt_object_ids")
        if self._prompt_states.device != device:
            self._prompt_states = self._prompt_states.to(device)
            self._prompt_object_ids = self._prompt_object_ids.to(device)
        return self._prompt_states, self._prompt_object_ids

    def cross_plan(self, device: torch.device) -> AttentionPlan:
        _, object_ids = self.prompts(device)
        return self.groups(device).cross_attention_plan(object_ids)


def _is_classic_attention(attn: nn.Module) -> bool:
    from diffusers.models.attention_processor import Attention  # lazy: diffusers is heavy; only backbone adapters call this

    return isinstance(attn, Attention)


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, H*d) -> (B, H, T, d)."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def _rotate(x: torch.Tensor, rotary_emb: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Wan's rotary embedding on (B, T, H, d): adjacent channel pairs rotate together."""
    cos, sin = rotary_emb
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)  # (B, T, H, d/2) each
    cos, sin = cos[..., 0::2], sin[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2).type_as(x)


def _project(
    attn: nn.Module,
    hidden_states: torch.Tensor,
    kv_states: torch.Tensor,
    is_cross: bool,
    rotary_emb: tuple[torch.Tensor, torch.Tensor] | None,
    text_only: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q (B, H, N, d), k and v (B, H, M, d) the way `attn`'s own processor would make them."""
    heads = attn.heads
    if _is_classic_attention(attn):
        if is_cross and attn.norm_cross:
            kv_states = attn.norm_encoder_hidden_states(kv_states)
        query = _split_heads(attn.to_q(hidden_states), heads)  # (B, H, N, d)
        key = _split_heads(attn.to_k(kv_states), heads)  # (B, H, M, d)
        value = _split_heads(attn.to_v(kv_states), heads)
        if attn.norm_q is not None:
            query = attn.norm_q(query)  # per head, as in AttnProcessor2_0
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if rotary_emb is not None:
            raise ValueError("rotary_emb is only supported for WanAttention modules")
        return query, key, value
    # WanAttention-style: norms across heads on (B, T, H*d), rotary on (B, T, H, d).
    # An image-context module (Wan 2.1 I2V) has its text keys in to_k/to_v; only callers
    # that pass text keys (`LocalPromptBlendProcessor`) may use it.
    if getattr(attn, "add_k_proj", None) is not None and not text_only:
        raise ValueError("masked processors do not support image-context (add_k_proj) attention; use a plain module")
    if getattr(attn, "fused_projections", False):
        if is_cross:
            query = attn.to_q(hidden_states)
            key, value = attn.to_kv(kv_states).chunk(2, dim=-1)
        else:
            query, key, value = attn.to_qkv(hidden_states).chunk(3, dim=-1)
    else:
        query, key, value = attn.to_q(hidden_states), attn.to_k(kv_states), attn.to_v(kv_states)
    query, key = attn.norm_q(query), attn.norm_k(key)
    query, key, value = (x.unflatten(-1, (heads, -1)) for x in (query, key, value))  # (B, T, H, d)
    if rotary_emb is not None:
        query, key = _rotate(query, rotary_emb), _rotate(key, rotary_emb)
    return query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)


def _finish(attn: nn.Module, out: torch.Tensor, residual: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, H, N, d) attention output -> the module's output projection (and residual rules)."""
    hidden_states = out.transpose(1, 2).flatten(2).to(dtype)  # (B, N, H*d)
    hidden_states = attn.to_out[0](hidden_states)
    hidden_states = attn.to_out[1](hidden_states)  # dropout
    if _is_classic_attention(attn):
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        hidden_states = hidden_states / attn.rescale_output_factor
    return hidden_states


def _tokens(attn: nn.Module, hidden_states: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...] | None]:
    """Flatten a U-Net's (B, C, H, W) input to (B, H*W, C); remember the shape to undo it."""
    if hidden_states.ndim == 4:
        shape = tuple(hidden_states.shape)
        return hidden_states.flatten(2).transpose(1, 2), shape
    if hidden_states.ndim != 3:
        raise ValueError(f"hidden_states must be (B, N, C) or (B, C, H, W), got {tuple(hidden_states.shape)}")
    return hidden_states, None


def _check_module(attn: nn.Module) -> None:
    if _is_classic_attention(attn) and (attn.spatial_norm is not None or attn.group_norm is not None):
        raise ValueError("masked processors do not support Attention with spatial_norm or group_norm")


class _MaskedProcessorBase:
    def __init__(self, context: MaskContext) -> None:
        if not isinstance(context, MaskContext):
            raise ValueError(f"expected a MaskContext, got {type(context)}")
        self.context = context

    @staticmethod
    def _reject_mask(attention_mask: torch.Tensor | None) -> None:
        if attention_mask is not None:
            raise ValueError(
                "masked processors take their mask from the MaskContext; call the module with attention_mask=None"
            )


class MaskedSelfAttnProcessor(_MaskedProcessorBase):
    """Self-attention in which a token sees only tokens of its own object (or background)."""

    def __call__(
        self,
        attn: nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        self._reject_mask(attention_mask)
        _check_module(attn)
        tokens, image_shape = _tokens(attn, hidden_states)
        query, key, value = _project(attn, tokens, tokens, is_cross=False, rotary_emb=rotary_emb)
        plan = self.context.self_plan(tokens.device)
        out = masked_attention(query, key, value, plan, backend=self.context.backend)  # (B, H, N, d)
        out = _finish(attn, out, tokens, query.dtype)  # (B, N, C)
        if image_shape is not None:
            out = out.transpose(1, 2).reshape(image_shape)
        return out


class MaskedCrossAttnProcessor(_MaskedProcessorBase):
    """Cross-attention from video tokens to the local prompts of the objects covering them.

    Keys and values come from the context's local prompts; the `encoder_hidden_states`
    a block passes (the global prompt) are ignored. A token covered by no object with
    prompt tokens gets exactly zero from this layer, bias included.
    """

    def __call__(
        self,
        attn: nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        self._reject_mask(attention_mask)
        _check_module(attn)
        if _is_classic_attention(attn) and attn.residual_connection:
            # The residual would hand uncovered tokens their input instead of zero.
            raise ValueError("MaskedCrossAttnProcessor does not support residual_connection=True modules")
        tokens, image_shape = _tokens(attn, hidden_states)
        prompt_states, _ = self.context.prompts(tokens.device)
        plan = self.context.cross_plan(tokens.device)
        query, key, value = _project(attn, tokens, prompt_states.to(tokens.dtype), is_cross=True, rotary_emb=None)
        out = masked_attention(query, key, value, plan, backend=self.context.backend)  # (B, H, N, d)
        out = _finish(attn, out, tokens, query.dtype) * plan.has_key[..., None].to(query.dtype)  # (B, N, C)
        if image_shape is not None:
            out = out.transpose(1, 2).reshape(image_shape)
        return out


class LocalPromptBlendProcessor(_MaskedProcessorBase):
    """A pretrained block's own cross-attention, with masked cross-attention of the local
    prompts blended in, training-free: the same projections read each object's prompt
    tokens (as the context holds them, already at the block's text width) from the tokens
    that object covers; the output moves from the module's own by ``weight`` there, and is
    the module's own everywhere else. While the context is unset (the unconditional pass
    of classifier-free guidance) the module is exactly itself.
    """

    def __init__(self, base: object, context: MaskContext, weight: float) -> None:
        super().__init__(context)
        self.base = base
        self.weight = float(weight)
        self.active = True  # False: the module is exactly itself (e.g. the unconditional pass)

    def __call__(
        self,
        attn: nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        out = self.base(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb, **kwargs)  # (B, N, C)
        if not self.active or not self.context.is_set or not self.weight:
            return out
        prompt_states, _ = self.context.prompts(hidden_states.device)
        plan = self.context.cross_plan(hidden_states.device)
        query, key, value = _project(
            attn, hidden_states, prompt_states.to(hidden_states.dtype), is_cross=True, rotary_emb=None, text_only=True
        )
        local = masked_attention(query, key, value, plan, backend=self.context.backend)  # (B, H, N, d)
        local = _finish(attn, local, hidden_states, query.dtype)  # (B, N, C)
        covered = plan.has_key[..., None].to(out.dtype)  # (B, N, 1): tokens of an object with a prompt
        return out + self.weight * covered * (local - out)
