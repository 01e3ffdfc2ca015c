"""CUDA-only checks of what CPU tests cannot reach: the compiled flex backend (forward and
backward) and the varlen backend against the reference, and a tiny Wan adapter on the
GPU. Marked ``gpu``; they skip without CUDA (benchmarks/gpu_check.py runs them)."""

import pytest
import torch

from maskmotion.attention import build_self_attention_plan, masked_attention
from maskmotion.attention.varlen import varlen_available

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _inputs(tokens=2048, heads=4, dim=64, dtype=torch.bfloat16, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, heads, tokens, dim, generator=g).to("cuda", dtype) for _ in range(3))
    labels = torch.randint(0, 5, (1, tokens), generator=g)
    return q, k, v, build_self_attention_plan(labels).to("cuda")


@pytest.mark.parametrize("compile_flex", [False, True])
def test_flex_matches_reference_forward_and_backward(compile_flex):
    q, k, v, plan = _inputs()
    q, k, v = (t.requires_grad_() for t in (q, k, v))
    want = masked_attention(q.float(), k.float(), v.float(), plan, backend="reference")
    got = masked_attention(q, k, v, plan, backend="flex", compile_flex=compile_flex)
    assert (got.float() - want).abs().max().item() < 3e-2
    got.float().square().sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


@pytest.mark.skipif(not varlen_available(), reason="needs torch.nn.attention.varlen")
def test_varlen_matches_reference():
    q, k, v, plan = _inputs()
    want = masked_attention(q.float(), k.float(), v.float(), plan, backend="reference")
    got = masked_attention(q, k, v, plan, backend="varlen")
    assert (got.float() - want).abs().max().item() < 3e-2


def test_tiny_wan_adapter_on_the_gpu_matches_grouped():
    from diffusers import WanTransformer3DModel

    from maskmotion.adapters import add_ttm_to_wan
    from maskmotion.attention import BatchTokenGroups, labels_to_membership

    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4,
        text_dim=16, freq_dim=16, ffn_dim=32, num_layers=2, cross_attn_norm=True, rope_max_seq_len=32,
    )  # fmt: skip
    model = add_ttm_to_wan(transformer, extra_in_channels=8, masked_blocks=1, backend="flex").to("cuda").eval()
    for layers in model.layers:  # non-zero outputs, so the masked layers matter
        for attn in (layers.self_attn, layers.cross_attn):
            torch.nn.init.normal_(attn.to_out[0].weight, std=0.3)
    labels = torch.randint(0, 3, (1, 2 * 4 * 4))
    groups = BatchTokenGroups(labels, labels_to_membership(labels, 2), (2,), (2, 4, 4)).to("cuda")
    hidden = torch.randn(1, 12, 2, 8, 8, device="cuda")
    text = torch.randn(1, 8, 16, device="cuda")
    local = torch.randn(1, 4, 16, device="cuda")
    ids = torch.tensor([[1, 1, 2, 2]], device="cuda")
    t = torch.tensor([500], device="cuda")
    with torch.no_grad():
        flex = model(hidden, t, text, groups=groups, local_states=local, local_ids=ids).sample
        for ctx in model.mask_contexts():
            ctx.backend = "grouped"
        grouped = model(hidden, t, text, groups=groups, local_states=local, local_ids=ids).sample
    assert (flex - grouped).abs().max().item() < 1e-3
