"""One denoising step of a randomly initialised full-size Wan2.1-I2V-14B transformer at
480p x 81 frames in bf16, with and without the training-free masked cross-attention of
local prompts (docs/backbones.md). No weights are needed: timing does not depend on them.

    python benchmarks/dualclock_step_time.py              # a CUDA GPU with ~40 GB free
    python benchmarks/dualclock_step_time.py --tiny       # the same code on a tiny config, CPU

Prints seconds per transformer call (one call = one step without guidance; classifier-
free guidance makes two, and the blend runs only in the conditional one) and peak memory.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from maskmotion.attention import BatchTokenGroups, LocalPromptBlendProcessor, MaskContext, TokenGrid, build_token_groups

# Wan2.1-I2V-14B-480P's transformer config (its diffusers folder's transformer/config.json).
FULL = dict(patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36, out_channels=16,
            text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=1280, added_kv_proj_dim=5120, rope_max_seq_len=1024)  # fmt: skip
TINY = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=12, out_channels=4,
            text_dim=16, freq_dim=16, ffn_dim=32, num_layers=4, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
            image_dim=16, added_kv_proj_dim=16, rope_max_seq_len=32)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny config on the CPU (checks the script, times nothing real)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weight", type=float, default=0.5, help="local-prompt weight")
    args = parser.parse_args()
    from diffusers import WanTransformer3DModel

    device = "cpu" if args.tiny else "cuda"
    dtype = torch.float32 if args.tiny else torch.bfloat16
    cfg = TINY if args.tiny else FULL
    frames, height, width = (9, 32, 32) if args.tiny else (81, 480, 832)
    # Built in bf16 on the GPU directly (a float32 14B model alone would take 56 GB).
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = WanTransformer3DModel(**cfg).eval()
    finally:
        torch.set_default_dtype(previous)
    lt, lh, lw = 1 + (frames - 1) // 4, height // 8, width // 8
    latent = cfg["out_channels"]
    x = torch.randn(1, cfg["in_channels"], lt, lh, lw, device=device, dtype=dtype)
    text = torch.randn(1, 512, cfg["text_dim"], device=device, dtype=dtype)
    image = torch.randn(1, 257, cfg["image_dim"], device=device, dtype=dtype)
    t = torch.tensor([500.0], device=device)

    # Two objects: boxes on the left and right thirds, 20 local-prompt tokens each.
    ids = np.zeros((frames, height, width), np.uint8)
    ids[:, height // 4 : 3 * height // 4, : width // 3] = 1
    ids[:, height // 4 : 3 * height // 4, 2 * width // 3 :] = 2
    grid = TokenGrid(4, True, 8, cfg["patch_size"])
    groups = BatchTokenGroups.from_samples([build_token_groups(torch.from_numpy(ids), grid, 2, "box")]).to(device)
    inner = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    local = torch.randn(1, 40, inner, device=device, dtype=dtype)
    owners = torch.tensor([[1] * 20 + [2] * 20], device=device)

    def step() -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            model(hidden_states=x, timestep=t, encoder_hidden_states=text, encoder_hidden_states_image=image)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    def timed(label: str) -> None:
        step()  # warm-up
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = [step() for _ in range(args.repeats)]
        peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
        print(f"{label}: {np.median(times):.3f} s per call (median of {args.repeats}), peak {peak:.1f} GiB")

    print(f"{device}, {dtype}, {frames} frames of {height}x{width}: latents ({latent}, {lt}, {lh}, {lw}), "
          f"{lt * (lh // 2) * (lw // 2)} tokens, {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters")  # fmt: skip
    timed("base")
    context = MaskContext()
    blocks = model.blocks[: max(1, round(len(model.blocks) / 4))]
    for block in blocks:
        block.attn2.set_processor(LocalPromptBlendProcessor(block.attn2.processor, context, args.weight))
    with context.use(groups, local, owners):
        timed(f"masked local-prompt cross-attention in {len(blocks)} blocks, weight {args.weight}")


if __name__ == "__main__":
    main()
