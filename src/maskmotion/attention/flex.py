"""FlexAttention backend: a block-sparse mask over tokens sorted by group.

Queries are sorted by code and keys by code (see `plan.py`), so each group is a
contiguous run and most (q-tile, k-tile) pairs are either empty (skipped) or full (no
mask evaluated). The block mask is built straight from per-tile bit sets in
O((N/128) * (M/128) * 63) instead of evaluating the N x M mask, and cached on the plan.

- CUDA: compiled flex_attention (the fast path; forward and backward).
- CPU: eager flex_attention works for the forward pass (it materialises the scores, so it
  is a correctness path, not a fast one); compiled works too but takes ~20 s to compile
  per shape. PyTorch has no FlexAttention backward on CPU, so training on CPU needs
  the grouped backend.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn.attention.flex_attention import BlockMask, flex_attention

from .plan import AttentionPlan

__all__ = ["flex_masked_attention", "FlexLayout", "build_flex_layout", "FLEX_BLOCK_SIZE"]

logger = logging.getLogger(__name__)

FLEX_BLOCK_SIZE = 128  # FlexAttention's default sparse tile
_CODE_BITS = 63

_compiled_flex: Callable | None = None


def _flex_function(compile: bool) -> Callable:
    global _compiled_flex
    if not compile:
        return flex_attention
    if _compiled_flex is None:
        _compiled_flex = torch.compile(flex_attention)
    return _compiled_flex


@dataclass(frozen=True)
class FlexLayout:
    """Sorted order and block mask for one plan.

    Attributes:
        query_order: (B, N) permutation putting queries in code order; key_order: (B, M).
        query_restore: (B, N) inverse of query_order.
        block_mask: the FlexAttention BlockMask over the sorted sequences.
    """

    query_order: torch.Tensor
    key_order: torch.Tensor
    query_restore: torch.Tensor
    block_mask: object


def _tile_bits(codes: torch.Tensor, length: int, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per tile of `block` tokens: which bits any token has (B, tiles, 63) and which bits
    every real token has (padding rows count as having all bits)."""
    batch = codes.shape[0]
    tiles = codes.shape[1] // block
    bits = torch.arange(_CODE_BITS, device=codes.device)
    planes = ((codes[..., None] >> bits) & 1).bool().view(batch, tiles, block, _CODE_BITS)
    real = (torch.arange(tiles * block, device=codes.device) < length).view(1, tiles, block, 1)
    return (planes & real).any(dim=2), (planes | ~real).all(dim=2)


def _to_kv_blocks(tiles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, nq, nk) bool -> kv_num_blocks (B, 1, nq) and kv_indices (B, 1, nq, nk), int32."""
    counts = tiles.sum(dim=-1, dtype=torch.int32)
    indices = torch.argsort((~tiles).to(torch.int8), dim=-1, stable=True).to(torch.int32)  # chosen tiles first
    return counts[:, None], indices[:, None]


def build_flex_layout(plan: AttentionPlan, block: int = FLEX_BLOCK_SIZE) -> FlexLayout:
    """Sort tokens by code and derive the tile-level mask from per-tile bit sets."""
    batch, num_queries, num_keys = plan.batch_size, plan.num_queries, plan.num_keys
    query_codes, query_order = torch.sort(plan.query_codes, dim=1, stable=True)  # (B, N)
    key_codes, key_order = torch.sort(plan.key_codes, dim=1, stable=True)  # (B, M)
    query_restore = torch.argsort(query_order, dim=1)
    q_tiles = -(-num_queries // block)
    k_tiles = -(-num_keys // block)
    # Pad with code 0 (attends to nothing) so mask_mod may index up to a whole tile.
    query_codes = torch.nn.functional.pad(query_codes, (0, q_tiles * block - num_queries))
    key_codes = torch.nn.functional.pad(key_codes, (0, k_tiles * block - num_keys))

    q_any, q_all = _tile_bits(query_codes, num_queries, block)  # (B, nq, 63)
    k_any, _ = _tile_bits(key_codes, num_keys, block)  # (B, nk, 63)
    touched = torch.einsum("bqc,bkc->bqk", q_any.float(), k_any.float()) > 0  # some pair may match
    # Full tile: every key's object is in every query's set, no padding key, no ragged end.
    key_bit_missing = (k_any[:, None] & ~q_all[:, :, None]).any(dim=-1)  # (B, nq, nk)
    real_keys = (torch.arange(k_tiles * block, device=key_codes.device) < num_keys).view(1, k_tiles, block)
    has_padding_key = ((key_codes.view(batch, k_tiles, block) == 0) | ~real_keys).any(dim=-1)  # (B, nk)
    full = touched & ~key_bit_missing & ~has_padding_key[:, None, :]
    partial = touched & ~full

    def allowed(b: torch.Tensor, h: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor) -> torch.Tensor:
        return (query_codes[b, q_idx] & key_codes[b, kv_idx]) != 0

    kv_num, kv_idx = _to_kv_blocks(partial)
    full_num, full_idx = _to_kv_blocks(full)
    block_mask = BlockMask.from_kv_blocks(
        kv_num, kv_idx, full_num, full_idx, BLOCK_SIZE=block, mask_mod=allowed, seq_lengths=(num_queries, num_keys)
    )
    logger.debug(
        "flex block mask: %d partial and %d full of %d tiles", int(partial.sum()), int(full.sum()), partial.numel()
    )
    return FlexLayout(query_order, key_order, query_restore, block_mask)


def _gather_tokens(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """x (B, H, T, d) reordered along T by order (B, T)."""
    batch, heads, tokens, dim = x.shape
    return x.gather(2, order[:, None, :, None].expand(batch, heads, tokens, dim))


def flex_masked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    plan: AttentionPlan,
    scale: float | None = None,
    compile: bool | None = None,
) -> torch.Tensor:
    """Masked attention with FlexAttention; same semantics as `reference_attention`."""
    if q.device.type == "cpu" and torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        raise ValueError(
            "PyTorch's FlexAttention has no backward pass on CPU; use backend='grouped' (or wrap in "
            "torch.no_grad()) on CPU"
        )
    compile = q.device.type == "cuda" if compile is None else compile
    plan = plan.to(q.device)
    key = f"flex_layout_{FLEX_BLOCK_SIZE}"
    if key not in plan.cache:
        plan.cache[key] = build_flex_layout(plan)
    layout: FlexLayout = plan.cache[key]

    q_sorted = _gather_tokens(q, layout.query_order)  # (B, H, N, d)
    k_sorted = _gather_tokens(k, layout.key_order)  # (B, H, M, d)
    v_sorted = _gather_tokens(v, layout.key_order)  # (B, H, M, dv)
    with warnings.catch_warnings():
        # Eager flex on CPU warns that it is unfused; that is the known cost of this path.
        warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
        out_sorted = _flex_function(compile)(q_sorted, k_sorted, v_sorted, block_mask=layout.block_mask, scale=scale)
    out = _gather_tokens(out_sorted, layout.query_restore)  # (B, H, N, dv)
    # A query with no allowed key is already 0 in flex; make the rule explicit anyway, but
    # skip the extra (B, H, N, dv) tensor when every query has keys (always, in self-attention).
    if "all_have_keys" not in plan.cache:
        plan.cache["all_have_keys"] = bool(plan.has_key.all())
    if plan.cache["all_have_keys"]:
        return out
    return out * plan.has_key[:, None, :, None].to(out.dtype)
