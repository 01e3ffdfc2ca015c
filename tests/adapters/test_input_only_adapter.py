"""`masked_blocks=0`: the input widening alone (stage 1 of docs/method.md), on both backbones."""

from __future__ import annotations

import copy

import torch

from maskmotion.adapters import AnimateDiffTTM, WanTTM, add_ttm_to_animatediff, add_ttm_to_wan


def test_wan_input_only(tiny_wan, tmp_path):
    original = tiny_wan()
    model = add_ttm_to_wan(copy.deepcopy(original), extra_in_channels=8, masked_blocks=0)
    assert not model.layers and model.config.blocks == ()
    assert not model.config.masked_self and not model.config.masked_cross
    x = torch.randn(1, 4, 2, 4, 4)
    t, text = torch.tensor([500.0]), torch.randn(1, 6, 16)
    with torch.no_grad():
        out = model(torch.cat([x, torch.randn(1, 8, 2, 4, 4)], 1), t, text).sample  # no masks needed
        assert torch.allclose(out, original(x, t, text).sample, atol=1e-6)  # zero input weights
    model.save_pretrained(tmp_path / "m")
    again = WanTTM.from_pretrained(tmp_path / "m")
    assert not again.layers and again.backbone.config.in_channels == 12


def test_animatediff_input_only(tiny_unet, tmp_path):
    model = add_ttm_to_animatediff(tiny_unet(), extra_in_channels=8, masked_blocks=0)
    assert not model.layers and model.levels == []
    with torch.no_grad():
        out = model(torch.randn(1, 12, 3, 8, 8), torch.tensor([10]), torch.randn(1, 5, 16)).sample
    assert out.shape == (1, 4, 3, 8, 8)
    model.save_pretrained(tmp_path / "m")
    assert not AnimateDiffTTM.from_pretrained(tmp_path / "m").layers
