"""Attention plans: masked attention as a partition of queries, built once and reused.

Both masked layers reduce to one rule over int64 bit sets ("codes"):

    query i may attend key j  iff  query_code[i] & key_code[j] != 0

- self-attention: code = 1 << label (label 0 = background is a group of its own), for
  queries and keys alike, so a token attends exactly to its own group;
- cross-attention: query code = the set of objects covering the token (bit o-1 for
  object o); key code = 1 << (object_id - 1), or 0 for a padding key (never attended).

A query whose code meets no key code gets exactly zero output.

The plan groups queries by their code (a "segment" per distinct code and sample), and
lists each segment's allowed keys. The grouped and varlen backends run ordinary attention
per segment; the plan's python-int lengths let them do so without a device sync per call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

__all__ = [
    "MAX_ATTENTION_OBJECTS",
    "AttentionPlan",
    "build_plan",
    "build_self_attention_plan",
    "build_cross_attention_plan",
    "self_attention_codes",
    "cross_attention_codes",
]

# Attention masks are encoded as int64 bit sets (one bit per object plus one for the
# background), which caps the object count per sample. The ids a trajectory can
# hold have their own, smaller limit (`trajectory.MAX_OBJECTS`, one palette colour each).
MAX_ATTENTION_OBJECTS = 62


@dataclass(frozen=True)
class AttentionPlan:
    """Queries partitioned into segments that share one set of allowed keys.

    Attributes:
        query_codes: int64 (B, N) bit set per query.
        key_codes: int64 (B, M) bit set per key.
        query_index: int64 (Tq,) flat indices into the B*N queries, segment after segment;
            queries with no allowed key are left out (their output is zero).
        key_index: int64 (Tk,) flat indices into the B*M keys, segment after segment.
        query_lengths, key_lengths: per segment, as python ints.
        has_key: bool (B, N), False where a query has no allowed key.
    """

    query_codes: torch.Tensor
    key_codes: torch.Tensor
    query_index: torch.Tensor
    key_index: torch.Tensor
    query_lengths: tuple[int, ...]
    key_lengths: tuple[int, ...]
    has_key: torch.Tensor
    # Backend-specific derived data (e.g. flex block masks), filled lazily.
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def batch_size(self) -> int:
        return self.query_codes.shape[0]

    @property
    def num_queries(self) -> int:
        return self.query_codes.shape[1]

    @property
    def num_keys(self) -> int:
        return self.key_codes.shape[1]

    @property
    def device(self) -> torch.device:
        return self.query_codes.device

    def segments(self) -> list[tuple[int, int, int, int]]:
        """(query_start, query_end, key_start, key_end) into query_index / key_index."""
        bounds, q_start, k_start = [], 0, 0
        for q_len, k_len in zip(self.query_lengths, self.key_lengths):
            bounds.append((q_start, q_start + q_len, k_start, k_start + k_len))
            q_start += q_len
            k_start += k_len
        return bounds

    def to(self, device: torch.device | str) -> AttentionPlan:
        if torch.device(device) == self.device:
            return self
        return replace(
            self,
            query_codes=self.query_codes.to(device),
            key_codes=self.key_codes.to(device),
            query_index=self.query_index.to(device),
            key_index=self.key_index.to(device),
            has_key=self.has_key.to(device),
            cache={},
        )


def self_attention_codes(labels: torch.Tensor) -> torch.Tensor:
    """(B, N) labels 0..L -> (B, N) int64 codes 1 << label."""
    if labels.ndim != 2:
        raise ValueError(f"labels must be (B, N), got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor, got {labels.dtype}")
    labels = labels.long()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) > MAX_ATTENTION_OBJECTS):
        raise ValueError(
            f"labels must lie in 0..{MAX_ATTENTION_OBJECTS} (0 = background), got {int(labels.min())}..{int(labels.max())}"
        )
    return torch.ones_like(labels) << labels


def cross_attention_codes(
    membership: torch.Tensor, key_object_ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """membership (B, N, L) bool and key ids (B, M) 0..L -> query codes (B, N), key codes (B, M)."""
    if membership.ndim != 3 or membership.dtype != torch.bool:
        raise ValueError(
            f"membership must be a bool tensor (B, N, L), got {membership.dtype} {tuple(membership.shape)}"
        )
    if key_object_ids.ndim != 2:
        raise ValueError(f"key_object_ids must be (B, M), got {tuple(key_object_ids.shape)}")
    if key_object_ids.dtype.is_floating_point or key_object_ids.dtype == torch.bool:
        raise ValueError(f"key_object_ids must be an integer tensor, got {key_object_ids.dtype}")
    if key_object_ids.shape[0] != membership.shape[0]:
        raise ValueError(
            f"batch mismatch: membership has B={membership.shape[0]}, key_object_ids has B={key_object_ids.shape[0]}"
        )
    num_objects = membership.shape[2]
    if num_objects > MAX_ATTENTION_OBJECTS:
        raise ValueError(f"at most {MAX_ATTENTION_OBJECTS} objects are supported, got L={num_objects}")
    key_object_ids = key_object_ids.long().to(membership.device)
    if key_object_ids.numel() and (int(key_object_ids.min()) < 0 or int(key_object_ids.max()) > num_objects):
        raise ValueError(
            f"key_object_ids must lie in 0..L={num_objects} (0 = padding), got up to {int(key_object_ids.max())}; "
            "pad membership to the batch's largest object count"
        )
    bits = torch.ones(num_objects, dtype=torch.int64, device=membership.device) << torch.arange(
        num_objects, device=membership.device
    )  # (L,)
    query_codes = (membership.long() * bits).sum(dim=-1)  # (B, N); distinct bits, so sum == OR
    key_codes = torch.where(
        key_object_ids > 0, torch.ones_like(key_object_ids) << (key_object_ids - 1).clamp(min=0), 0
    )  # (B, M)
    return query_codes, key_codes


def build_plan(query_codes: torch.Tensor, key_codes: torch.Tensor) -> AttentionPlan:
    """Partition queries by code and list each segment's keys (see module docstring)."""
    if query_codes.ndim != 2 or key_codes.ndim != 2 or query_codes.shape[0] != key_codes.shape[0]:
        raise ValueError(
            f"query codes (B, N) and key codes (B, M) must share B; got {tuple(query_codes.shape)} "
            f"and {tuple(key_codes.shape)}"
        )
    batch, num_queries = query_codes.shape
    num_keys = key_codes.shape[1]
    device = query_codes.device
    query_parts: list[torch.Tensor] = []
    key_parts: list[torch.Tensor] = []
    query_lengths: list[int] = []
    key_lengths: list[int] = []
    has_key = torch.zeros(batch, num_queries, dtype=torch.bool, device=device)
    for b in range(batch):
        codes, inverse, counts = torch.unique(query_codes[b], return_inverse=True, return_counts=True)
        order = torch.argsort(inverse, stable=True)  # queries sorted by code, index order kept inside
        start = 0
        for code, count in zip(codes.tolist(), counts.tolist()):
            tokens = order[start : start + count]
            start += count
            if code == 0:
                continue  # covered by no object: zero output
            keys = torch.nonzero((key_codes[b] & code) != 0).flatten()
            if keys.numel() == 0:
                continue  # its objects have no prompt tokens: zero output
            query_parts.append(tokens + b * num_queries)
            key_parts.append(keys + b * num_keys)
            query_lengths.append(count)
            key_lengths.append(keys.numel())
            has_key[b, tokens] = True
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    return AttentionPlan(
        query_codes=query_codes,
        key_codes=key_codes,
        query_index=torch.cat(query_parts) if query_parts else empty,
        key_index=torch.cat(key_parts) if key_parts else empty,
        query_lengths=tuple(query_lengths),
        key_lengths=tuple(key_lengths),
        has_key=has_key,
    )


def build_self_attention_plan(labels: torch.Tensor) -> AttentionPlan:
    """Plan for masked self-attention from labels (B, N): one segment per group."""
    codes = self_attention_codes(labels)
    return build_plan(codes, codes)


def build_cross_attention_plan(membership: torch.Tensor, key_object_ids: torch.Tensor) -> AttentionPlan:
    """Plan for masked cross-attention: one segment per distinct set of covering objects."""
    return build_plan(*cross_attention_codes(membership, key_object_ids))
