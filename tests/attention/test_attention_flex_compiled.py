"""Compiled FlexAttention on CPU (slow: ~10-20 s of inductor compile; needs a C++ compiler).

The default test set covers flex in eager mode; this checks the compiled path, the one
CUDA uses, against the reference on CPU. Run with `pytest -m slow`.
"""

from __future__ import annotations

import pytest
import torch
from attention_testing import random_qkv

from maskmotion.attention import masked_cross_attention, masked_self_attention


@pytest.mark.slow
def test_compiled_flex_matches_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (2, 300), generator=generator)
    q, k, v = random_qkv(2, 2, 300, 300, 16, seed=0)
    with torch.no_grad():
        expected = masked_self_attention(q, k, v, labels, backend="reference")
        out = masked_self_attention(q, k, v, labels, backend="flex", compile_flex=True)
        assert (out - expected).abs().max() <= 1e-5
        membership = torch.rand(2, 300, 3, generator=generator) < 0.4
        key_ids = torch.tensor([[1] * 5 + [2] * 5 + [3] * 5 + [0] * 5, [2] * 10 + [0] * 10])
        qc, kc, vc = random_qkv(2, 2, 300, 20, 16, seed=1)
        expected = masked_cross_attention(qc, kc, vc, membership, key_ids, backend="reference")
        out = masked_cross_attention(qc, kc, vc, membership, key_ids, backend="flex", compile_flex=True)
        assert (out - expected).abs().max() <= 1e-5
