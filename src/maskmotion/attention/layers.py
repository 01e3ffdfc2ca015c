"""The two attention layers TTM adds to the first K blocks of a backbone (docs/method.md, stage 2).

Each is a pre-norm residual layer with its own weights whose output projection starts at
zero, so inserting it leaves a pretrained block's output unchanged at step 0:

    x = x + out(masked_attention(norm(x)))

They depend on no backbone: hidden states (B, N, D) in (t, h, w) token order, plus the
token groups (and, for cross-attention, the local prompts' token states and owners).
`masked=False` gives the parameter-matched unmasked layer of the TI2V / no-masked-attention
baselines.
"""

from __future__ import annotations

import torch
from torch import nn

from .groups import BatchTokenGroups
from .ops import Backend, masked_attention
from .plan import AttentionPlan, build_cross_attention_plan, build_plan, build_self_attention_plan

__all__ = ["MaskedSelfAttention", "MaskedCrossAttention"]


def _head_dim(dim: int, num_heads: int, head_dim: int | None) -> int:
    if head_dim is not None:
        return head_dim
    if dim % num_heads:
        raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}; pass head_dim explicitly")
    return dim // num_heads


def _check_hidden(hidden_states: torch.Tensor, dim: int) -> None:
    if hidden_states.ndim != 3 or hidden_states.shape[-1] != dim:
        raise ValueError(f"hidden_states must be (B, N, {dim}), got {tuple(hidden_states.shape)}")


class _MaskedAttentionLayer(nn.Module):
    """Shared parts: pre-norm, per-head q/k RMS norm, zero-initialised output projection."""

    def __init__(self, dim: int, num_heads: int, head_dim: int | None, qk_norm: bool, eps: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = _head_dim(dim, num_heads, head_dim)
        inner = num_heads * self.head_dim
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.norm_q = nn.RMSNorm(self.head_dim, eps=eps) if qk_norm else nn.Identity()
        self.norm_k = nn.RMSNorm(self.head_dim, eps=eps) if qk_norm else nn.Identity()
        self.to_out = nn.Linear(inner, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H*d) -> (B, H, T, d); a transposed view, so grouped gathers stay cheap."""
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def _init_weights(self) -> None:
        """All initialisation in one place: xavier for projections, zero output."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        # Zero output: the layer adds nothing until trained, so a pretrained block is unchanged.
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)


class MaskedSelfAttention(_MaskedAttentionLayer):
    """Residual self-attention where a token attends only to tokens of its own object.

    Args:
        dim: hidden size D of the backbone's tokens.
        num_heads: attention heads; head_dim defaults to dim // num_heads.
        qk_norm: RMS-normalise q and k per head (stabilises new layers in old blocks).
        masked: False gives an unmasked layer with the same parameters (baselines).
        backend: see `masked_attention`.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        head_dim: int | None = None,
        *,
        qk_norm: bool = True,
        masked: bool = True,
        backend: Backend = "auto",
        eps: float = 1e-6,
    ) -> None:
        super().__init__(dim, num_heads, head_dim, qk_norm, eps)
        self.dim = dim
        self.masked = masked
        self.backend: Backend = backend
        self.to_qkv = nn.Linear(dim, 3 * num_heads * self.head_dim)
        self._init_weights()

    def forward(
        self, hidden_states: torch.Tensor, groups: BatchTokenGroups | torch.Tensor | AttentionPlan | None = None
    ) -> torch.Tensor:
        """hidden_states (B, N, D); groups: BatchTokenGroups, labels (B, N) or a self plan.
        Returns (B, N, D)."""
        _check_hidden(hidden_states, self.dim)
        batch, num_tokens, _ = hidden_states.shape
        plan = self._plan(groups, batch, num_tokens, hidden_states.device)
        query, key, value = self.to_qkv(self.norm(hidden_states)).chunk(3, dim=-1)  # (B, N, H*d) each
        query, key, value = self.norm_q(self._split(query)), self.norm_k(self._split(key)), self._split(value)
        out = masked_attention(query, key, value, plan, backend=self.backend)  # (B, H, N, d)
        return hidden_states + self.to_out(out.transpose(1, 2).flatten(2))

    def _plan(
        self,
        groups: BatchTokenGroups | torch.Tensor | AttentionPlan | None,
        batch: int,
        num_tokens: int,
        device: torch.device,
    ) -> AttentionPlan:
        if not self.masked:
            return build_self_attention_plan(torch.zeros(batch, num_tokens, dtype=torch.long, device=device))
        if groups is None:
            raise ValueError("MaskedSelfAttention needs token groups (or build it with masked=False)")
        if isinstance(groups, BatchTokenGroups):
            return groups.self_attention_plan()
        if isinstance(groups, AttentionPlan):
            return groups
        return build_self_attention_plan(groups)


class MaskedCrossAttention(_MaskedAttentionLayer):
    """Residual cross-attention from video tokens to the local prompts of their objects.

    Keys/values are the L local prompts' token states, concatenated (B, M, D_text) with
    the owner of each (B, M) (0 = padding). A token reads only the prompts of the objects
    covering it (box or pixel region, as the groups were built); a token covered by no
    object with prompt tokens gets exactly zero from the layer, so it passes through.

    Args:
        dim: hidden size D; context_dim: prompt token width D_text.
        num_heads, head_dim, qk_norm, backend, eps: as in `MaskedSelfAttention`.
        masked: False lets every token read every prompt token (baselines).
    """

    def __init__(
        self,
        dim: int,
        context_dim: int,
        num_heads: int,
        head_dim: int | None = None,
        *,
        qk_norm: bool = True,
        masked: bool = True,
        backend: Backend = "auto",
        eps: float = 1e-6,
    ) -> None:
        super().__init__(dim, num_heads, head_dim, qk_norm, eps)
        self.dim = dim
        self.context_dim = context_dim
        self.masked = masked
        self.backend: Backend = backend
        # Inference only, for a layer trained unmasked: blend in the same weights with the
        # attention restricted to each object's own prompt (training-free TTM); 0 = off.
        self.masked_blend = 0.0
        inner = num_heads * self.head_dim
        self.to_q = nn.Linear(dim, inner)
        self.to_kv = nn.Linear(context_dim, 2 * inner)
        self._init_weights()

    def forward(
        self,
        hidden_states: torch.Tensor,
        groups: BatchTokenGroups | torch.Tensor | None,
        prompt_states: torch.Tensor,
        prompt_object_ids: torch.Tensor,
        plan: AttentionPlan | None = None,
    ) -> torch.Tensor:
        """hidden_states (B, N, D); groups: BatchTokenGroups or membership (B, N, L) bool;
        prompt_states (B, M, D_text); prompt_object_ids (B, M) in 0..L. Returns (B, N, D)."""
        _check_hidden(hidden_states, self.dim)
        if prompt_states.ndim != 3 or prompt_states.shape[-1] != self.context_dim:
            raise ValueError(f"prompt_states must be (B, M, {self.context_dim}), got {tuple(prompt_states.shape)}")
        if prompt_object_ids.shape != prompt_states.shape[:2]:
            raise ValueError(
                f"prompt_object_ids must be (B, M) = {tuple(prompt_states.shape[:2])}, "
                f"got {tuple(prompt_object_ids.shape)}"
            )
        if prompt_states.shape[0] != hidden_states.shape[0]:
            raise ValueError(
                f"batch mismatch: hidden_states B={hidden_states.shape[0]}, prompt_states B={prompt_states.shape[0]}"
            )
        if plan is None:
            plan = self._plan(groups, prompt_object_ids, hidden_states.shape[1])
        query = self.norm_q(self._split(self.to_q(self.norm(hidden_states))))  # (B, H, N, d)
        key, value = self.to_kv(prompt_states.to(hidden_states.dtype)).chunk(2, dim=-1)  # (B, M, H*d) each
        key, value = self.norm_k(self._split(key)), self._split(value)  # (B, H, M, d)
        out = masked_attention(query, key, value, plan, backend=self.backend)  # (B, H, N, d)
        update = self.to_out(out.transpose(1, 2).flatten(2))  # (B, N, D)
        # The bias would leak into uncovered tokens; docs/method.md fixes exactly zero there.
        update = update * plan.has_key[..., None].to(update.dtype)
        if self.masked_blend and not self.masked and groups is not None:
            own = groups.cross_attention_plan(prompt_object_ids) if isinstance(groups, BatchTokenGroups) else (
                build_cross_attention_plan(groups, prompt_object_ids))  # fmt: skip
            masked = self.to_out(masked_attention(query, key, value, own, backend=self.backend).transpose(1, 2).flatten(2))
            # Tokens of no object keep the unmasked update; object tokens move towards their own prompt's.
            covered = own.has_key[..., None].to(update.dtype)  # (B, N, 1)
            update = update + self.masked_blend * covered * (masked - update)
        return hidden_states + update

    def _plan(
        self, groups: BatchTokenGroups | torch.Tensor | None, prompt_object_ids: torch.Tensor, num_tokens: int
    ) -> AttentionPlan:
        if not self.masked:
            # Every token may read every real (non-padding) prompt token.
            key_codes = (prompt_object_ids > 0).long()  # (B, M)
            query_codes = torch.ones(prompt_object_ids.shape[0], num_tokens, dtype=torch.long, device=key_codes.device)
            return build_plan(query_codes, key_codes)
        if groups is None:
            raise ValueError("MaskedCrossAttention needs token groups (or build it with masked=False)")
        if isinstance(groups, BatchTokenGroups):
            return groups.cross_attention_plan(prompt_object_ids)
        return build_cross_attention_plan(groups, prompt_object_ids)
