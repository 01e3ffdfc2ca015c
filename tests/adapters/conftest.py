"""Tiny random configs of the real diffusers backbones."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from diffusers import UNetMotionModel, WanTransformer3DModel


@pytest.fixture
def tiny_wan() -> Callable[..., WanTransformer3DModel]:
    def build(num_layers: int = 4, seed: int = 3) -> WanTransformer3DModel:
        torch.manual_seed(seed)
        return WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=2,
            attention_head_dim=8,
            in_channels=4,
            out_channels=4,
            text_dim=16,
            freq_dim=16,
            ffn_dim=32,
            num_layers=num_layers,
            cross_attn_norm=True,  # as Wan 2.1
            rope_max_seq_len=32,
        ).eval()

    return build


@pytest.fixture
def tiny_unet() -> Callable[..., UNetMotionModel]:
    def build(seed: int = 0) -> UNetMotionModel:
        torch.manual_seed(seed)
        return UNetMotionModel(
            block_out_channels=(16, 32),
            layers_per_block=1,
            down_block_types=("CrossAttnDownBlockMotion", "CrossAttnDownBlockMotion"),
            up_block_types=("CrossAttnUpBlockMotion", "CrossAttnUpBlockMotion"),
            cross_attention_dim=16,
            num_attention_heads=2,
            norm_num_groups=8,
            motion_num_attention_heads=2,
            motion_max_seq_length=8,
            use_motion_mid_block=False,
            sample_size=8,
        ).eval()

    return build
