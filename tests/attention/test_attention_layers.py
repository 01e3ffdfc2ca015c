"""MaskedSelfAttention / MaskedCrossAttention: zero init, isolation, baselines, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from maskmotion.attention import (
    BatchTokenGroups,
    MaskedCrossAttention,
    MaskedSelfAttention,
    labels_to_membership,
)

DIM, TEXT_DIM, HEADS, TOKENS, PROMPT = 32, 24, 4, 60, 12


def _groups(seed: int = 0) -> BatchTokenGroups:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (2, TOKENS), generator=generator)
    labels[1, labels[1] == 3] = 0  # sample 1 has two objects
    membership = labels_to_membership(labels, 3)
    membership[0, :10, 1] = True  # overlapping box region of object 2
    return BatchTokenGroups(labels, membership, (3, 2), (1, 6, 10))


def _prompts(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    states = torch.randn(2, PROMPT, TEXT_DIM, generator=generator)
    ids = torch.tensor([[1] * 4 + [2] * 3 + [3] * 4 + [0], [1] * 5 + [2] * 5 + [0] * 2])
    return states, ids


def _randomise_output(layer: nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.to_out.weight.copy_(torch.randn(layer.to_out.weight.shape, generator=generator) * 0.1)
        layer.to_out.bias.copy_(torch.randn(layer.to_out.bias.shape, generator=generator))


def test_zero_init_layers_leave_input_unchanged() -> None:
    hidden = torch.randn(2, TOKENS, DIM)
    groups = _groups()
    states, ids = _prompts()
    assert torch.equal(MaskedSelfAttention(DIM, HEADS)(hidden, groups), hidden)
    assert torch.equal(MaskedCrossAttention(DIM, TEXT_DIM, HEADS)(hidden, groups, states, ids), hidden)


def test_self_layer_isolation_is_bit_exact() -> None:
    torch.manual_seed(0)
    layer = MaskedSelfAttention(DIM, HEADS)
    _randomise_output(layer)
    groups = _groups()
    hidden = torch.randn(2, TOKENS, DIM)
    object2 = groups.labels == 2
    changed = hidden.clone()
    changed[object2] = torch.randn(int(object2.sum()), DIM)
    before, after = layer(hidden, groups), layer(changed, groups)
    assert torch.equal(before[~object2], after[~object2])
    assert not torch.equal(before[object2], after[object2])


def test_cross_layer_isolation_and_uncovered_tokens_pass_through() -> None:
    torch.manual_seed(0)
    layer = MaskedCrossAttention(DIM, TEXT_DIM, HEADS)
    _randomise_output(layer)
    groups = _groups()
    states, ids = _prompts()
    hidden = torch.randn(2, TOKENS, DIM)
    in_object2 = groups.membership[:, :, 1]
    changed_hidden = hidden.clone()
    changed_hidden[in_object2 & (groups.labels == 2)] += 1.0
    changed_states = states.clone()
    changed_states[ids == 2] = torch.randn(int((ids == 2).sum()), TEXT_DIM)
    before = layer(hidden, groups, states, ids)
    after = layer(changed_hidden, groups, changed_states, ids.clone())
    assert torch.equal(before[~in_object2], after[~in_object2])
    assert not torch.equal(before[in_object2], after[in_object2])
    uncovered = ~groups.membership.any(-1)
    assert uncovered.any() and torch.equal(before[uncovered], hidden[uncovered])  # bias does not leak


@pytest.mark.parametrize("backend", ["grouped", "flex"])
def test_layers_match_reference_backend(backend: str) -> None:
    torch.manual_seed(1)
    groups = _groups(1)
    states, ids = _prompts(1)
    hidden = torch.randn(2, TOKENS, DIM)
    makers = (
        lambda b: MaskedSelfAttention(DIM, HEADS, backend=b),
        lambda b: MaskedCrossAttention(DIM, TEXT_DIM, HEADS, backend=b),
    )
    for make in makers:
        reference = make("reference")
        _randomise_output(reference)
        fast = make(backend)
        fast.load_state_dict(reference.state_dict())
        args = (groups,) if isinstance(reference, MaskedSelfAttention) else (groups, states, ids)
        with torch.no_grad():
            assert (fast(hidden, *args) - reference(hidden, *args)).abs().max() <= 1e-5


def test_unmasked_baseline_layers() -> None:
    torch.manual_seed(2)
    hidden = torch.randn(2, TOKENS, DIM)
    layer = MaskedSelfAttention(DIM, HEADS, masked=False, qk_norm=False)
    _randomise_output(layer)
    q, k, v = layer.to_qkv(layer.norm(hidden)).chunk(3, dim=-1)
    split = lambda x: x.unflatten(-1, (HEADS, -1)).transpose(1, 2)  # noqa: E731
    attended = F.scaled_dot_product_attention(split(q), split(k), split(v))  # (B, H, N, d)
    expected = hidden + layer.to_out(attended.transpose(1, 2).flatten(2))
    assert torch.allclose(layer(hidden), expected, atol=1e-5)

    cross = MaskedCrossAttention(DIM, TEXT_DIM, HEADS, masked=False, qk_norm=False)
    _randomise_output(cross)
    states, ids = _prompts()
    key, value = cross.to_kv(states).chunk(2, dim=-1)
    real = (ids > 0)[:, None, None, :]  # (B, 1, 1, M)
    query = split(cross.to_q(cross.norm(hidden)))
    attended = F.scaled_dot_product_attention(query, split(key), split(value), attn_mask=real)
    expected = hidden + cross.to_out(attended.transpose(1, 2).flatten(2))
    assert torch.allclose(cross(hidden, None, states, ids), expected, atol=1e-5)


def test_layers_train_and_reuse_cached_plans() -> None:
    torch.manual_seed(3)
    groups = _groups()
    states, ids = _prompts()
    self_layer, cross_layer = MaskedSelfAttention(DIM, HEADS), MaskedCrossAttention(DIM, TEXT_DIM, HEADS)
    hidden = torch.randn(2, TOKENS, DIM, requires_grad=True)
    out = cross_layer(self_layer(hidden, groups), groups, states, ids)
    out.pow(2).mean().backward()
    assert self_layer.to_out.weight.grad.abs().sum() > 0 and cross_layer.to_out.weight.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in [*self_layer.parameters(), *cross_layer.parameters()])
    assert groups.cross_attention_plan(ids) is groups.cross_attention_plan(ids)
    assert groups.self_attention_plan() is groups.self_attention_plan()


def test_layer_input_errors() -> None:
    layer = MaskedCrossAttention(DIM, TEXT_DIM, HEADS)
    states, ids = _prompts()
    with pytest.raises(ValueError, match="hidden_states must be"):
        layer(torch.randn(2, TOKENS, DIM + 1), _groups(), states, ids)
    with pytest.raises(ValueError, match="prompt_object_ids"):
        layer(torch.randn(2, TOKENS, DIM), _groups(), states, ids[:, :5])
    with pytest.raises(ValueError, match="needs token groups"):
        MaskedSelfAttention(DIM, HEADS)(torch.randn(2, TOKENS, DIM))
    with pytest.raises(ValueError, match="not divisible"):
        MaskedSelfAttention(30, 4)
