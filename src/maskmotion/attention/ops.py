"""Masked self- and cross-attention behind one interface, with interchangeable backends.

    h = softmax(q k^T * scale + log M) v,   log 0 = -inf,   rows with no allowed key -> 0

Backends (the `backend=` argument):

- "reference": dense SDPA with a (B, 1, N, M) boolean mask. O(N*M) memory; slow and
  obviously correct; every other backend is tested against it.
- "grouped": gather each segment's queries and allowed keys (see `plan.py`), ordinary
  SDPA inside, scatter back. Exact, O(N) extra memory, and faster than unmasked attention
  because sum(n_g^2) < N^2. The default on CPU.
- "flex": FlexAttention with a block mask over tokens sorted by code, so whole tiles
  between different groups are skipped (`flex.py`). Compiled on CUDA (the default
  there); eager on CPU, forward only (PyTorch has no CPU flex backward).
- "varlen": `torch.nn.attention.varlen.varlen_attn` over the packed segments
  (`varlen.py`). CUDA, fp16/bf16 only; never chosen by "auto"; untested here (no GPU).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from .flex import flex_masked_attention
from .groups import BatchTokenGroups
from .plan import AttentionPlan, build_cross_attention_plan, build_self_attention_plan
from .varlen import varlen_masked_attention

__all__ = [
    "BACKENDS",
    "Backend",
    "masked_attention",
    "masked_self_attention",
    "masked_cross_attention",
    "reference_attention",
    "grouped_attention",
    "resolve_backend",
]

# Queries per SDPA call in the grouped backend; bounds its temporary memory.
GROUPED_QUERY_CHUNK = 4096

Backend = Literal["auto", "reference", "grouped", "flex", "varlen"]
BACKENDS: tuple[str, ...] = ("auto", "reference", "grouped", "flex", "varlen")


def resolve_backend(backend: str, device: torch.device) -> str:
    """'auto' -> 'flex' on CUDA, 'grouped' elsewhere; anything else is checked and returned."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; choose one of {BACKENDS}")
    if backend == "auto":
        return "flex" if device.type == "cuda" else "grouped"
    return backend


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(
            f"q, k, v must be (B, heads, tokens, head_dim); got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if k.shape[:3] != v.shape[:3]:
        raise ValueError(f"k {tuple(k.shape)} and v {tuple(v.shape)} must share (B, heads, M)")
    if q.shape[:2] != k.shape[:2] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} must share B, heads and head_dim")


def _check_plan(plan: AttentionPlan, q: torch.Tensor, k: torch.Tensor) -> None:
    batch, _, num_queries, _ = q.shape
    num_keys = k.shape[2]
    if (plan.batch_size, plan.num_queries, plan.num_keys) != (batch, num_queries, num_keys):
        raise ValueError(
            f"the mask is for B={plan.batch_size}, {plan.num_queries} queries, {plan.num_keys} keys, but the "
            f"attention has B={batch}, {num_queries} queries, {num_keys} keys; rebuild the token groups at this "
            "token grid (or BatchTokenGroups.repeat() for guidance batches)"
        )


def reference_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: AttentionPlan, scale: float | None = None
) -> torch.Tensor:
    """Dense boolean-mask SDPA. Rows with no allowed key get an all-True mask (so neither
    the forward nor the backward pass meets a softmax over nothing) and are then zeroed."""
    plan = plan.to(q.device)
    allowed = (plan.query_codes[:, :, None] & plan.key_codes[:, None, :]) != 0  # (B, N, M)
    has_key = allowed.any(dim=-1)  # (B, N)
    allowed = allowed | ~has_key[:, :, None]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None], scale=scale)  # (B, H, N, dv)
    return out * has_key[:, None, :, None].to(out.dtype)


def _tokens_first(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d) -> (B*T, H, d); a view when x came from a (B, T, H, d) layout, as in
    diffusers processors and our layers, so gathering tokens does not copy the whole tensor."""
    batch, heads, tokens, dim = x.shape
    return x.transpose(1, 2).reshape(batch * tokens, heads, dim)


def grouped_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    plan: AttentionPlan,
    scale: float | None = None,
    query_chunk: int = GROUPED_QUERY_CHUNK,
) -> torch.Tensor:
    """Per segment: gather its queries and keys, run SDPA, write its rows of the output.

    Peak extra memory (no grad) is the output plus one segment's keys/values and one chunk
    of its queries/outputs, never an N x M matrix.
    A query sees exactly the keys of its own segment, so the result for one object is
    independent of every other object's tokens bit for bit.
    """
    batch, heads, num_queries, _ = q.shape
    plan = plan.to(q.device)
    q_tokens, k_tokens, v_tokens = _tokens_first(q), _tokens_first(k), _tokens_first(v)  # (B*T, H, d)
    out = q.new_zeros(batch * num_queries, heads, v.shape[-1])  # (B*N, H, dv); rows without keys stay 0
    for q_start, q_end, k_start, k_end in plan.segments():
        key_rows = plan.key_index[k_start:k_end]
        k_seg = k_tokens.index_select(0, key_rows).transpose(0, 1).unsqueeze(0)  # (1, H, m, d)
        v_seg = v_tokens.index_select(0, key_rows).transpose(0, 1).unsqueeze(0)  # (1, H, m, dv)
        # Queries in chunks: the gathered queries and their output never exceed one chunk,
        # which keeps peak memory near unmasked SDPA's (output + one group's keys/values).
        for chunk_start in range(q_start, q_end, query_chunk):
            query_rows = plan.query_index[chunk_start : min(chunk_start + query_chunk, q_end)]
            q_seg = q_tokens.index_select(0, query_rows).transpose(0, 1).unsqueeze(0)  # (1, H, n, d)
            o_seg = F.scaled_dot_product_attention(q_seg, k_seg, v_seg, scale=scale)  # (1, H, n, dv)
            # In place, so peak memory holds one output; autograd handles index_copy_ fine.
            out.index_copy_(0, query_rows, o_seg[0].transpose(0, 1))
    return out.view(batch, num_queries, heads, -1).transpose(1, 2)  # (B, H, N, dv)


def masked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    plan: AttentionPlan,
    *,
    backend: Backend = "auto",
    scale: float | None = None,
    compile_flex: bool | None = None,
) -> torch.Tensor:
    """Attention under a plan's code rule; the common core of both masked layers.

    Args:
        q: (B, H, N, d); k: (B, H, M, d); v: (B, H, M, dv).
        plan: from `build_plan` / `build_self_attention_plan` / `build_cross_attention_plan`.
        backend: "auto", "reference", "grouped", "flex" or "varlen" (see module docstring).
        scale: softmax scale, default 1/sqrt(d).
        compile_flex: flex backend only: use torch.compile'd flex_attention (default: on CUDA).
    Returns:
        (B, H, N, dv), zero for queries with no allowed key.
    """
    _check_qkv(q, k, v)
    _check_plan(plan, q, k)
    backend = resolve_backend(backend, q.device)
    if backend == "reference":
        return reference_attention(q, k, v, plan, scale)
    if backend == "grouped":
        return grouped_attention(q, k, v, plan, scale)
    if backend == "flex":
        return flex_masked_attention(q, k, v, plan, scale, compile=compile_flex)
    return varlen_masked_attention(q, k, v, plan, scale)


def masked_self_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    groups: torch.Tensor | BatchTokenGroups | AttentionPlan,
    *,
    backend: Backend = "auto",
    scale: float | None = None,
    compile_flex: bool | None = None,
) -> torch.Tensor:
    """Token i attends token j iff they have the same label (background is group 0).

    Args:
        q, k, v: (B, H, N, d) (v may have its own head_dim).
        groups: labels LongTensor (B, N), a `BatchTokenGroups` (its cached plan is reused),
            or a prebuilt self-attention `AttentionPlan`.
    Returns:
        (B, H, N, dv).
    """
    _check_qkv(q, k, v)
    if q.shape[2] != k.shape[2]:
        raise ValueError(f"self-attention needs as many keys as queries, got {q.shape[2]} and {k.shape[2]}")
    if isinstance(groups, BatchTokenGroups):
        plan = groups.self_attention_plan()
    elif isinstance(groups, AttentionPlan):
        plan = groups
    elif isinstance(groups, torch.Tensor):
        if groups.shape != (q.shape[0], q.shape[2]):
            raise ValueError(f"labels must be (B, N) = {(q.shape[0], q.shape[2])}, got {tuple(groups.shape)}")
        plan = build_self_attention_plan(groups)
    else:
        raise ValueError(f"groups must be a labels tensor, BatchTokenGroups or AttentionPlan, got {type(groups)}")
    return masked_attention(q, k, v, plan, backend=backend, scale=scale, compile_flex=compile_flex)


def masked_cross_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    membership: torch.Tensor | BatchTokenGroups | None,
    key_object_ids: torch.Tensor | None,
    *,
    plan: AttentionPlan | None = None,
    backend: Backend = "auto",
    scale: float | None = None,
    compile_flex: bool | None = None,
) -> torch.Tensor:
    """Token i attends prompt key j iff membership[i, obj(j) - 1]; obj(j) = 0 is padding.

    Args:
        q: (B, H, N, d) video tokens; k, v: (B, H, M, d) the L local prompts' tokens,
            concatenated (any order, any padding).
        membership: bool (B, N, L) or a `BatchTokenGroups` (its `.membership`).
        key_object_ids: (B, M) ints 0..L, the object each key belongs to (0 = padding).
        plan: a prebuilt cross-attention plan; then membership and key_object_ids may be None.
    Returns:
        (B, H, N, dv); exactly zero for tokens covered by no object whose prompt has keys.
    """
    _check_qkv(q, k, v)
    if plan is None:
        if isinstance(membership, BatchTokenGroups):
            membership = membership.membership
        if membership is None or key_object_ids is None:
            raise ValueError("pass membership and key_object_ids, or a prebuilt plan=")
        if membership.shape[:2] != (q.shape[0], q.shape[2]):
            raise ValueError(
                f"membership must be (B, N, L) with (B, N) = {(q.shape[0], q.shape[2])}, got {tuple(membership.shape)}"
            )
        if key_object_ids.shape != (k.shape[0], k.shape[2]):
            raise ValueError(
                f"key_object_ids must be (B, M) = {(k.shape[0], k.shape[2])}, got {tuple(key_object_ids.shape)}"
            )
        plan = build_cross_attention_plan(membership, key_object_ids)
    return masked_attention(q, k, v, plan, backend=backend, scale=scale, compile_flex=compile_flex)
