"""Varlen flash-attention backend (CUDA, fp16/bf16): the plan's segments as packed sequences.

Every segment (one group of one sample) becomes one "sequence" for
`torch.nn.attention.varlen.varlen_attn`: queries and keys are gathered into packed
(total, H, d) tensors with cumulative offsets from the plan, so a whole batch of masked
attention is one kernel launch with no padding and no mask.

UNTESTED: this machine has no GPU and the kernel has no CPU implementation; the code is
kept small, guarded, and is never chosen by backend="auto". Validate it against
backend="reference" on a GPU before relying on it.
"""

from __future__ import annotations

import torch

from .plan import AttentionPlan

__all__ = ["varlen_available", "varlen_masked_attention"]


def varlen_available() -> bool:
    """True when this PyTorch build ships `torch.nn.attention.varlen.varlen_attn` and CUDA is usable."""
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401 - optional: newer PyTorch builds only
    except ImportError:
        return False
    return torch.cuda.is_available()


def varlen_masked_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: AttentionPlan, scale: float | None = None
) -> torch.Tensor:
    """Masked attention with varlen flash attention; same semantics as `reference_attention`."""
    try:
        from torch.nn.attention.varlen import varlen_attn  # optional: newer PyTorch builds only
    except ImportError as error:
        raise ValueError(
            "backend='varlen' needs torch.nn.attention.varlen (PyTorch >= 2.10); use backend='flex' or 'grouped'"
        ) from error
    if not q.is_cuda or q.dtype not in (torch.float16, torch.bfloat16):
        raise ValueError(
            f"backend='varlen' runs flash attention: CUDA fp16/bf16 tensors only, got {q.device} {q.dtype}; "
            "use backend='grouped' elsewhere"
        )
    batch, heads, num_queries, _ = q.shape
    plan = plan.to(q.device)
    out = q.new_zeros(batch * num_queries, heads, v.shape[-1])  # (B*N, H, dv)
    if not plan.query_lengths:
        return out.view(batch, num_queries, heads, -1).transpose(1, 2)
    key = "varlen_offsets"
    if key not in plan.cache:
        def offsets(lengths: tuple[int, ...]) -> torch.Tensor:
            return torch.tensor((0, *lengths), device=q.device).cumsum(0).to(torch.int32)

        plan.cache[key] = (offsets(plan.query_lengths), offsets(plan.key_lengths))
    cu_seq_q, cu_seq_k = plan.cache[key]

    def packed(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        b, h, t, d = x.shape
        return x.transpose(1, 2).reshape(b * t, h, d).index_select(0, rows)  # (total, H, d)

    o_packed = varlen_attn(
        packed(q, plan.query_index),
        packed(k, plan.key_index),
        packed(v, plan.key_index),
        cu_seq_q,
        cu_seq_k,
        max(plan.query_lengths),
        max(plan.key_lengths),
        scale=scale,
    )  # (Tq, H, dv)
    out = out.index_copy(0, plan.query_index, o_packed)
    return out.view(batch, num_queries, heads, -1).transpose(1, 2)  # (B, H, N, dv)
