"""Tiny random configs of the public image-to-video pipelines' real classes, saved as
diffusers folders (no network: the tokenizer is the bundled MiniLM's, as in
backbone_testing.py).

Wan 2.1 I2V (CLIP image encoder, image context in cross-attention), Wan 2.2 TI2V (no
image encoder, the first latent frame is the image: ``expand_timesteps``), CogVideoX-I2V.
Wan: 9 frames of 32x32 -> latents (4, 3, 4, 4); CogVideoX: 9 frames of 32x32 -> (3, 4, 4, 4).
"""

from __future__ import annotations

from pathlib import Path

import torch

from backbone_testing import TEXT_DIM, tokenizer, vae as wan_vae

FRAMES, HEIGHT, WIDTH = 9, 32, 32
KINDS = ("wan21", "wan22", "cogvideox")
BACKBONE = {"wan21": "wan-i2v", "wan22": "wan-i2v", "cogvideox": "cogvideox-i2v"}


def _umt5(vocab: int) -> torch.nn.Module:
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(UMT5Config(vocab_size=vocab, d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                       relative_attention_num_buckets=8)).eval()  # fmt: skip


def _scheduler(kind: str):
    if kind == "cogvideox":
        from diffusers import CogVideoXDPMScheduler

        return CogVideoXDPMScheduler(rescale_betas_zero_snr=True, prediction_type="v_prediction", timestep_spacing="trailing")
    from diffusers import UniPCMultistepScheduler

    # As the Wan I2V folders ship it: UniPC over flow sigmas with a shift.
    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)


def pipeline(kind: str, seed: int = 0):
    """A tiny random pipeline of ``kind`` (one of `KINDS`)."""
    torch.manual_seed(seed)
    tok = tokenizer()
    if kind == "cogvideox":
        from diffusers import AutoencoderKLCogVideoX, CogVideoXImageToVideoPipeline, CogVideoXTransformer3DModel
        from transformers import T5Config, T5EncoderModel

        vae = AutoencoderKLCogVideoX(
            block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
            temporal_compression_ratio=4,
            down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
        ).eval()  # fmt: skip
        text = T5EncoderModel(T5Config(vocab_size=tok.vocab_size, d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1,
                                       num_heads=2, relative_attention_num_buckets=8)).eval()  # fmt: skip
        transformer = CogVideoXTransformer3DModel(
            num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4, time_embed_dim=8,
            text_embed_dim=TEXT_DIM, num_layers=2, sample_width=4, sample_height=4, sample_frames=FRAMES, patch_size=2,
            temporal_compression_ratio=4, max_text_seq_length=226, use_rotary_positional_embeddings=True,
        ).eval()  # fmt: skip
        return CogVideoXImageToVideoPipeline(tok, text, vae, transformer, _scheduler(kind))
    from diffusers import WanImageToVideoPipeline, WanTransformer3DModel

    image_dim = None
    image_encoder = image_processor = None
    if kind == "wan21":
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        image_dim = 16
        image_encoder = CLIPVisionModel(CLIPVisionConfig(hidden_size=image_dim, intermediate_size=32, num_hidden_layers=2,
                                                         num_attention_heads=2, image_size=32, patch_size=8)).eval()  # fmt: skip
        image_processor = CLIPImageProcessor(crop_size=32, size={"shortest_edge": 32})
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=4 if kind == "wan22" else 12,
        out_channels=4, text_dim=TEXT_DIM, freq_dim=16, ffn_dim=32, num_layers=4, cross_attn_norm=True,
        rope_max_seq_len=32, image_dim=image_dim,
    ).eval()  # fmt: skip
    return WanImageToVideoPipeline(
        tok, _umt5(tok.vocab_size), wan_vae("wan"), _scheduler(kind), image_processor=image_processor,
        image_encoder=image_encoder, transformer=transformer, expand_timesteps=kind == "wan22",
    )  # fmt: skip


def save_folder(kind: str, path: Path, seed: int = 0) -> Path:
    pipeline(kind, seed).save_pretrained(str(path))
    return path
