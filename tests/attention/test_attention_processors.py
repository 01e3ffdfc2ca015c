"""The diffusers processors inside real (tiny, random) diffusers modules.

Two facts pin them down: with one group covering everything (all background; or every
token in object 1 reading all keys of object 1) a masked processor must reproduce the
module's own processor, and with real groups the output must change.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import WanTransformer3DModel
from diffusers.models.attention_processor import Attention

from maskmotion.attention import (
    BatchTokenGroups,
    MaskContext,
    MaskedCrossAttnProcessor,
    MaskedSelfAttnProcessor,
    labels_to_membership,
)

TOL = 1e-5


def _groups(labels: torch.Tensor, grid_shape: tuple[int, int, int], membership: torch.Tensor | None = None):
    num_objects = max(int(labels.max()), 1)
    if membership is None:
        membership = labels_to_membership(labels, num_objects)
    return BatchTokenGroups(labels, membership, (membership.shape[-1],) * labels.shape[0], grid_shape)


def _random_labels(batch: int, tokens: int, objects: int, seed: int) -> torch.Tensor:
    return torch.randint(0, objects + 1, (batch, tokens), generator=torch.Generator().manual_seed(seed))


def test_self_processor_in_diffusers_attention() -> None:
    torch.manual_seed(0)
    attn = Attention(query_dim=32, heads=2, dim_head=16, qk_norm="rms_norm").eval()
    hidden = torch.randn(2, 24, 32)
    unmasked = attn(hidden)
    context = MaskContext()
    attn.set_processor(MaskedSelfAttnProcessor(context))
    with context.use(_groups(torch.zeros(2, 24, dtype=torch.long), (1, 4, 6))):
        assert (attn(hidden) - unmasked).abs().max() <= TOL
    labels = _random_labels(2, 24, 3, seed=0)
    with context.use(_groups(labels, (1, 4, 6))):
        masked = attn(hidden)
    context.backend = "reference"
    with context.use(_groups(labels, (1, 4, 6))):
        reference = attn(hidden)
    assert (masked - unmasked).abs().max() > 1e-3
    assert (masked - reference).abs().max() <= TOL


def test_self_processor_on_image_shaped_input() -> None:
    torch.manual_seed(1)
    attn = Attention(query_dim=8, heads=2, dim_head=4, residual_connection=True).eval()
    hidden = torch.randn(1, 8, 4, 5)  # (B, C, H, W) as in a U-Net
    unmasked = attn(hidden)
    context = MaskContext()
    attn.set_processor(MaskedSelfAttnProcessor(context))
    with context.use(_groups(torch.zeros(1, 20, dtype=torch.long), (1, 4, 5))):
        assert (attn(hidden) - unmasked).abs().max() <= TOL


def test_cross_processor_in_diffusers_attention() -> None:
    torch.manual_seed(2)
    attn = Attention(query_dim=32, cross_attention_dim=24, heads=2, dim_head=16).eval()
    hidden, prompt = torch.randn(2, 24, 32), torch.randn(2, 7, 24)
    unmasked = attn(hidden, encoder_hidden_states=prompt)
    context = MaskContext()
    attn.set_processor(MaskedCrossAttnProcessor(context))
    everyone_in_1 = _groups(torch.ones(2, 24, dtype=torch.long), (1, 4, 6))
    with context.use(everyone_in_1, prompt, torch.ones(2, 7, dtype=torch.long)):
        assert (attn(hidden, encoder_hidden_states=None) - unmasked).abs().max() <= TOL
    labels = _random_labels(2, 24, 2, seed=1)
    key_ids = torch.tensor([[1, 1, 1, 2, 2, 0, 0], [1, 2, 2, 2, 2, 2, 0]])
    with context.use(_groups(labels, (1, 4, 6)), prompt, key_ids):
        masked = attn(hidden)
    assert (masked - unmasked).abs().max() > 1e-3
    assert torch.count_nonzero(masked[labels == 0]) == 0  # background: exactly zero, bias included


def _tiny_wan() -> WanTransformer3DModel:
    torch.manual_seed(3)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=4,
        text_dim=16,
        freq_dim=16,
        ffn_dim=32,
        num_layers=2,
        rope_max_seq_len=32,
    ).eval()


def test_mask_context_reaches_wan_processors() -> None:
    model = _tiny_wan()
    latents = torch.randn(2, 4, 3, 8, 8)  # (B, C, F, H, W) -> 3 x 4 x 4 = 48 tokens
    timestep, text = torch.tensor([500, 500]), torch.randn(2, 7, 16)
    captured: dict[str, torch.Tensor] = {}
    block = model.blocks[0]

    def capture_text(module: torch.nn.Module, args: tuple) -> None:  # the projected text attn2 reads
        captured["text"] = args[1]

    hook = block.attn2.register_forward_pre_hook(capture_text)
    with torch.no_grad():
        unmasked = model(latents, timestep, text).sample
    hook.remove()

    context = MaskContext()
    block.attn1.set_processor(MaskedSelfAttnProcessor(context))
    block.attn2.set_processor(MaskedCrossAttnProcessor(context))
    grid_shape, tokens = (3, 4, 4), 48
    key_ids = torch.ones(2, 7, dtype=torch.long)
    one_group = _groups(torch.ones(2, tokens, dtype=torch.long), grid_shape)
    with torch.no_grad(), context.use(one_group, captured["text"], key_ids):
        # One group and every key readable: exactly the model's own attention (rotary included).
        assert (model(latents, timestep, text).sample - unmasked).abs().max() <= 1e-4
    labels = _random_labels(2, tokens, 2, seed=2)
    key_ids = torch.tensor([[1, 1, 1, 2, 2, 2, 0], [1, 1, 2, 2, 2, 0, 0]])
    with torch.no_grad(), context.use(_groups(labels, grid_shape), captured["text"], key_ids):
        masked = model(latents, timestep, text).sample
    assert (masked - unmasked).abs().max() > 1e-3
    with pytest.raises(ValueError, match="no masks set"):
        model(latents, timestep, text)


def test_processor_errors() -> None:
    attn = Attention(query_dim=8, heads=2, dim_head=4)
    context = MaskContext()
    attn.set_processor(MaskedSelfAttnProcessor(context))
    hidden = torch.randn(1, 6, 8)
    with pytest.raises(ValueError, match="no masks set"):
        attn(hidden)
    groups = _groups(torch.zeros(1, 6, dtype=torch.long), (1, 2, 3))
    with context.use(groups), pytest.raises(ValueError, match="attention_mask=None"):
        attn(hidden, attention_mask=torch.ones(1, 6, 6, dtype=torch.bool))
    with context.use(groups), pytest.raises(ValueError, match="repeat"):
        attn(torch.randn(2, 6, 8))  # a guidance batch needs groups.repeat(2)
    with pytest.raises(ValueError, match="batch mismatch"):
        context.set(groups, torch.randn(2, 3, 8), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown attention backend"):
        MaskContext(backend="fastest")
    cross = Attention(query_dim=8, heads=2, dim_head=4)
    cross.set_processor(MaskedCrossAttnProcessor(context))
    with context.use(groups), pytest.raises(ValueError, match="local prompts"):
        cross(hidden)
    assert not context.is_set
