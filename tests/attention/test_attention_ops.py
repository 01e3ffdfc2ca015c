"""Every backend against the dense reference; the reference against a per-token loop."""

from __future__ import annotations

import math

import pytest
import torch
from attention_testing import random_qkv

from maskmotion.attention import (
    BatchTokenGroups,
    build_cross_attention_plan,
    build_self_attention_plan,
    grouped_attention,
    masked_attention,
    masked_cross_attention,
    masked_self_attention,
    resolve_backend,
)

TOL = 1e-5
FAST_BACKENDS = ["grouped", "flex"]


def _labels(batch: int, tokens: int, objects: int, seed: int) -> torch.Tensor:
    labels = torch.randint(0, objects + 1, (batch, tokens), generator=torch.Generator().manual_seed(seed))
    labels[0, labels[0] == 2] = 1  # object 2 absent from sample 0
    if batch > 1:
        labels[-1] = 0  # an all-background sample
    return labels


def _cross_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """membership (3, 90, 4) with overlaps, empty objects and an all-background sample;
    key ids (3, 20) with per-sample padding."""
    generator = torch.Generator().manual_seed(seed)
    membership = torch.rand(3, 90, 4, generator=generator) < 0.35  # overlapping "boxes"
    membership[0, :, 3] = False  # sample 0 has only 3 objects (padded L)
    membership[1, :, 2] = True  # object 3 covers everything but has no prompt tokens (below)
    membership[2] = False  # all background
    key_ids = torch.randint(1, 5, (3, 20), generator=generator)
    key_ids[0][key_ids[0] == 4] = 1
    key_ids[0, 14:] = 0  # padding: prompts of different lengths
    key_ids[1][key_ids[1] == 3] = 2
    key_ids[1, 18:] = 0
    return membership, key_ids


def _naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """softmax over allowed keys, token by token; zero where nothing is allowed."""
    out = torch.zeros(q.shape[:-1] + (v.shape[-1],), dtype=q.dtype)
    for b in range(q.shape[0]):
        for i in range(q.shape[2]):
            keys = allowed[b, i].nonzero().flatten()
            if len(keys):
                scores = q[b, :, i, None] @ k[b, :, keys].transpose(-1, -2) / math.sqrt(q.shape[-1])  # (H, 1, m)
                out[b, :, i] = (scores.softmax(-1) @ v[b, :, keys])[:, 0]
    return out


def test_reference_matches_per_token_loop() -> None:
    labels = _labels(2, 30, 3, seed=0)
    q, k, v = random_qkv(2, 2, 30, 30, 8, seed=0)
    expected = _naive(q, k, v, labels[:, :, None] == labels[:, None, :])
    assert torch.allclose(masked_self_attention(q, k, v, labels, backend="reference"), expected, atol=TOL)

    membership, key_ids = _cross_inputs(seed=0)
    q, k, v = random_qkv(3, 2, 90, 20, 8, seed=1)
    allowed = torch.zeros(3, 90, 20, dtype=torch.bool)
    for obj in range(1, 5):
        allowed |= membership[:, :, obj - 1 : obj] & (key_ids == obj)[:, None, :]
    expected = _naive(q, k, v, allowed)
    assert torch.allclose(masked_cross_attention(q, k, v, membership, key_ids, backend="reference"), expected, atol=TOL)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_self_attention_backends_match_reference(backend: str, seed: int) -> None:
    labels = _labels(3, 200, 5, seed)
    q, k, v = random_qkv(3, 4, 200, 200, 16, seed)
    expected = masked_self_attention(q, k, v, labels, backend="reference")
    with torch.no_grad():
        out = masked_self_attention(q, k, v, labels, backend=backend)
    assert (out - expected).abs().max() <= TOL


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_cross_attention_backends_match_reference(backend: str, seed: int) -> None:
    membership, key_ids = _cross_inputs(seed)
    q, k, v = random_qkv(3, 4, 90, 20, 16, seed)
    expected = masked_cross_attention(q, k, v, membership, key_ids, backend="reference")
    with torch.no_grad():
        out = masked_cross_attention(q, k, v, membership, key_ids, backend=backend)
    assert (out - expected).abs().max() <= TOL
    # Exactly zero where no allowed key: background sample, and object 3 of sample 1 (no prompt).
    assert torch.count_nonzero(out[2]) == 0
    uncovered = ~membership[1, :, [0, 1, 3]].any(-1)
    assert torch.count_nonzero(out[1, :, uncovered]) == 0
    assert not torch.isnan(out).any()


def test_grouped_query_chunks_are_exact() -> None:
    labels = _labels(2, 150, 3, seed=4)
    q, k, v = random_qkv(2, 2, 150, 150, 8, seed=4)
    plan = build_self_attention_plan(labels)
    whole = grouped_attention(q, k, v, plan)
    assert (grouped_attention(q, k, v, plan, query_chunk=7) - whole).abs().max() <= TOL


def _grads(fn, *tensors: torch.Tensor) -> list[torch.Tensor]:
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    out = fn(*leaves)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return [leaf.grad for leaf in leaves]


def test_self_attention_gradients_match_reference() -> None:
    labels = _labels(2, 120, 4, seed=5)
    q, k, v = random_qkv(2, 2, 120, 120, 8, seed=5)
    expected = _grads(lambda *x: masked_self_attention(*x, labels, backend="reference"), q, k, v)
    got = _grads(lambda *x: masked_self_attention(*x, labels, backend="grouped"), q, k, v)
    for g, e in zip(got, expected):
        assert (g - e).abs().max() <= TOL


def test_cross_attention_gradients_match_and_are_finite() -> None:
    membership, key_ids = _cross_inputs(seed=6)
    q, k, v = random_qkv(3, 2, 90, 20, 8, seed=6)
    expected = _grads(lambda *x: masked_cross_attention(*x, membership, key_ids, backend="reference"), q, k, v)
    got = _grads(lambda *x: masked_cross_attention(*x, membership, key_ids, backend="grouped"), q, k, v)
    for g, e in zip(got, expected):
        assert torch.isfinite(e).all() and torch.isfinite(g).all()
        assert (g - e).abs().max() <= TOL
    assert torch.count_nonzero(got[0][2]) == 0  # background queries get no gradient
    assert torch.count_nonzero(got[1][0, :, 14:]) == 0  # padding keys get no gradient


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("backend", ["reference", "grouped", "flex"])
def test_low_precision_runs_close_to_fp32(dtype: torch.dtype, backend: str) -> None:
    membership, key_ids = _cross_inputs(seed=7)
    q, k, v = random_qkv(3, 2, 90, 20, 16, seed=7)
    expected = masked_cross_attention(q, k, v, membership, key_ids, backend="reference")
    with torch.no_grad():
        out = masked_cross_attention(
            q.to(dtype), k.to(dtype), v.to(dtype), membership, key_ids, backend=backend
        )
    assert out.dtype == dtype and torch.isfinite(out).all()
    assert (out.float() - expected).abs().max() < 5e-2


def test_low_precision_grouped_backward() -> None:
    labels = _labels(2, 64, 3, seed=8)
    q, k, v = (x.to(torch.bfloat16).requires_grad_(True) for x in random_qkv(2, 2, 64, 64, 8, seed=8))
    masked_self_attention(q, k, v, labels, backend="grouped").sum().backward()
    assert all(torch.isfinite(x.grad.float()).all() for x in (q, k, v))


def test_isolation_self_attention_is_bit_exact() -> None:
    """Changing object 2's tokens leaves every other token's output bit for bit unchanged."""
    labels = _labels(1, 300, 4, seed=9)
    labels[0, :20] = 2
    q, k, v = random_qkv(1, 4, 300, 300, 16, seed=9)
    others = labels[0] != 2
    before = masked_self_attention(q, k, v, labels, backend="grouped")
    q2, k2, v2 = (x.clone() for x in (q, k, v))
    for x in (q2, k2, v2):
        x[:, :, ~others] = torch.randn_like(x[:, :, ~others]) * 3
    after = masked_self_attention(q2, k2, v2, labels, backend="grouped")
    assert torch.equal(before[:, :, others], after[:, :, others])
    assert not torch.equal(before[:, :, ~others], after[:, :, ~others])


def test_isolation_cross_attention_is_bit_exact() -> None:
    """Changing object 2's prompt leaves tokens outside object 2's region bit for bit unchanged."""
    membership, key_ids = _cross_inputs(seed=10)
    q, k, v = random_qkv(3, 2, 90, 20, 8, seed=10)
    before = masked_cross_attention(q, k, v, membership, key_ids, backend="grouped")
    k2, v2 = k.clone(), v.clone()
    object2_keys = (key_ids == 2)[:, None, :, None].expand_as(k)
    k2[object2_keys] = torch.randn(int(object2_keys.sum()))
    v2[object2_keys] = torch.randn(int(object2_keys.sum()))
    after = masked_cross_attention(q, k2, v2, membership, key_ids, backend="grouped")
    outside = ~membership[:, :, 1]  # (B, N)
    assert torch.equal(before.transpose(1, 2)[outside], after.transpose(1, 2)[outside])
    assert not torch.equal(before.transpose(1, 2)[~outside], after.transpose(1, 2)[~outside])


def test_plans_and_groups_are_accepted() -> None:
    labels = _labels(2, 40, 2, seed=11)
    groups = BatchTokenGroups(labels, labels[..., None] == torch.arange(1, 3), (2, 2), (1, 5, 8))
    q, k, v = random_qkv(2, 2, 40, 40, 8, seed=11)
    expected = masked_self_attention(q, k, v, labels, backend="reference")
    assert torch.allclose(masked_self_attention(q, k, v, groups), expected, atol=TOL)
    assert torch.allclose(masked_attention(q, k, v, groups.self_attention_plan()), expected, atol=TOL)
    key_ids = torch.tensor([[1, 1, 2, 0], [2, 2, 2, 1]])
    qc, kc, vc = random_qkv(2, 2, 40, 4, 8, seed=12)
    plan = build_cross_attention_plan(groups.membership, key_ids)
    expected = masked_cross_attention(qc, kc, vc, groups, key_ids, backend="reference")
    assert torch.allclose(masked_cross_attention(qc, kc, vc, None, None, plan=plan), expected, atol=TOL)


def test_auto_backend() -> None:
    assert resolve_backend("auto", torch.device("cpu")) == "grouped"
    assert resolve_backend("auto", torch.device("cuda")) == "flex"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda q, k, v: masked_self_attention(q, k, v, torch.zeros(2, 9, dtype=torch.long)), "labels must be"),
        (lambda q, k, v: masked_self_attention(q[0], k[0], v[0], torch.zeros(2, 10, dtype=torch.long)), "q, k, v"),
        (lambda q, k, v: masked_self_attention(q, k, v, torch.full((2, 10), 63)), "0..62"),
        (lambda q, k, v: masked_self_attention(q, k, v, torch.zeros(2, 10).long(), backend="fast"), "unknown"),
        (
            lambda q, k, v: masked_cross_attention(
                q, k, v, torch.zeros(2, 10, 2, dtype=torch.bool), torch.full((2, 10), 3)
            ),
            "0..L=2",
        ),
        (
            lambda q, k, v: masked_cross_attention(
                q, k, v, torch.zeros(1, 10, 2, dtype=torch.bool), torch.ones(2, 10, dtype=torch.long)
            ),
            "membership must be",
        ),
        (
            lambda q, k, v: masked_self_attention(
                q.requires_grad_(True), k, v, torch.zeros(2, 10, dtype=torch.long), backend="flex"
            ),
            "no backward",
        ),
        (lambda q, k, v: masked_self_attention(q, k, v, torch.zeros(2, 10).long(), backend="varlen"), "CUDA"),
    ],
)
def test_bad_input_raises_clear_errors(call, message: str) -> None:
    q, k, v = random_qkv(2, 2, 10, 10, 8, seed=0)
    with pytest.raises(ValueError, match=message):
        call(q, k, v)


def test_plan_shape_mismatch_names_the_fix() -> None:
    plan = build_self_attention_plan(torch.zeros(1, 10, dtype=torch.long))
    q, k, v = random_qkv(2, 2, 10, 10, 8, seed=0)
    with pytest.raises(ValueError, match="repeat"):
        masked_attention(q, k, v, plan)
