"""GPU check: everything that was written for a GPU but could only be tested on CPU here.

Four parts, one table at the end:

  (a) tests   the test suite's GPU tests (`pytest -m gpu`; they skip without CUDA);
  (b) attn    masked self-attention, flex (compiled) and varlen backends against an fp32
              reference (SDPA with the boolean mask, query chunk by query chunk) at Wan's
              head layout (12 heads x 128) in bf16, 16k to 75k tokens: max abs error,
              time of one call (median of 3 after a warm-up that compiles), peak memory;
  (c) wan     one training step (forward, MSE loss, backward, AdamW) of a randomly
              initialised Wan2.1-T2V-1.3B transformer (the real config values, built
              here, nothing downloaded) adapted for TTM stage 2 (48 input channels),
              480x832 pixels x 81 frames (21x60x104 latents, 32,760 tokens), with the
              default 7 masked blocks and with none; bf16 weights, gradient
              checkpointing as the shipped configs; seconds of the second step and peak
              memory;
  (d) animatediff  the same for an SD 1.5 U-Net with motion modules (UNetMotionModel,
              SD 1.5 and motion-adapter v1.5 sizes) at 512x512 x 16 frames, with the six
              encoder blocks masked and with none.

Usage:
    python benchmarks/gpu_check.py                  # on a CUDA machine (about 10 min on one H100, estimated)
    python benchmarks/gpu_check.py --only attn wan
    python benchmarks/gpu_check.py --dry-run        # same code on CPU at tiny sizes (seconds)

`--dry-run` runs every part through the same functions with tiny configs and a few
hundred tokens on CPU, so the script itself is tested without a GPU
(tests/bench/test_gpu_check.py). Its numbers mean nothing; the table says "dry run".
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("tests", "attn", "wan", "animatediff")
GROUP_SHARES = (0.4, 0.15, 0.15, 0.15, 0.15)  # background, then four objects

# Wan2.1-T2V-1.3B's transformer/config.json (diffusers), and its 480p x 81 clip.
WAN_1_3B = dict(
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
)  # fmt: skip
WAN_TINY = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4,
    text_dim=16, freq_dim=16, ffn_dim=32, num_layers=4, cross_attn_norm=True, rope_max_seq_len=32,
)  # fmt: skip
# SD 1.5's U-Net with the AnimateDiff v1.5 motion adapter's motion modules.
SD15_MOTION = dict(
    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
    down_block_types=("CrossAttnDownBlockMotion",) * 3 + ("DownBlockMotion",),
    up_block_types=("UpBlockMotion",) + ("CrossAttnUpBlockMotion",) * 3,
    cross_attention_dim=768, num_attention_heads=8, norm_num_groups=32, sample_size=64,
    motion_num_attention_heads=8, motion_max_seq_length=32, use_motion_mid_block=True,
)  # fmt: skip
UNET_TINY = dict(
    block_out_channels=(16, 32), layers_per_block=1,
    down_block_types=("CrossAttnDownBlockMotion", "CrossAttnDownBlockMotion"),
    up_block_types=("CrossAttnUpBlockMotion", "CrossAttnUpBlockMotion"),
    cross_attention_dim=16, num_attention_heads=2, norm_num_groups=8, sample_size=8,
    motion_num_attention_heads=2, motion_max_seq_length=8, use_motion_mid_block=False,
)  # fmt: skip


@dataclass
class Sizes:
    """What one run uses: the full sizes on a GPU, tiny ones for --dry-run."""

    device: str
    dtype: torch.dtype
    tokens: tuple[int, ...]
    heads: int
    head_dim: int
    wan: dict
    wan_clip: tuple[int, int, int]  # frames, height, width in pixels
    wan_text_len: int
    unet: dict
    unet_clip: tuple[int, int, int]
    unet_text_len: int
    local_tokens: int  # local-prompt tokens per object
    tests: str  # what pytest collects


def full_sizes() -> Sizes:
    return Sizes(
        device="cuda", dtype=torch.bfloat16, tokens=(16_384, 32_760, 75_600), heads=12, head_dim=128,
        wan=WAN_1_3B, wan_clip=(81, 480, 832), wan_text_len=512,
        unet=SD15_MOTION, unet_clip=(16, 512, 512), unet_text_len=77, local_tokens=16, tests="tests",
    )  # fmt: skip


def dry_sizes() -> Sizes:
    return Sizes(
        device="cpu", dtype=torch.float32, tokens=(128, 320), heads=2, head_dim=16,
        wan=WAN_TINY, wan_clip=(9, 64, 64), wan_text_len=8,
        unet=UNET_TINY, unet_clip=(4, 32, 32), unet_text_len=8, local_tokens=4,
        tests="tests/attention/test_gpu_backends.py",
    )  # fmt: skip


Row = dict[str, str]


def _row(part: str, case: str, result: str, seconds: float | None = None, peak: float | None = None) -> Row:
    return {
        "part": part,
        "case": case,
        "result": result,
        "time": "-" if seconds is None else f"{seconds:.3f} s",
        "peak": "-" if peak is None else f"{peak:.2f} GiB",
    }


# ---- measuring ------------------------------------------------------------------------
def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _measure(fn: Callable[[], Any], device: str) -> tuple[Any, float, float | None]:
    """(result, seconds, peak GiB allocated during the call; None on CPU)."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = fn()
    _sync(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    return out, seconds, peak


def _free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def _count(n: int) -> str:
    return f"{n / 1e9:.3f}B" if n >= 1e8 else f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n:,}"


def _error(exc: BaseException) -> str:
    return f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


# ---- (a) the GPU tests ----------------------------------------------------------------
def check_tests(sizes: Sizes) -> list[Row]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "-m", "gpu", sizes.tests]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else f"no output (exit {proc.returncode})"
    ok = proc.returncode in (0, 5)  # 5: nothing collected
    return [_row("tests", f"pytest -m gpu {sizes.tests}", ("" if ok else "FAILED: ") + summary, seconds)]


# ---- (b) masked attention backends ----------------------------------------------------
def _labels(tokens: int, seed: int = 0) -> torch.Tensor:
    counts = [int(round(share * tokens)) for share in GROUP_SHARES]
    counts[0] += tokens - sum(counts)
    labels = torch.cat([torch.full((c,), g) for g, c in enumerate(counts)])
    return labels[torch.randperm(tokens, generator=torch.Generator().manual_seed(seed))][None]


def chunked_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, labels: torch.Tensor, chunk: int) -> torch.Tensor:
    """fp32 masked self-attention, exact, a chunk of queries at a time (a dense (N, N)
    score tensor would not fit at 75k tokens): token i attends to j iff their labels match."""
    q, k, v = q.float(), k.float(), v.float()
    out = torch.empty_like(q)
    lab = labels[0].to(q.device)
    for start in range(0, q.shape[2], chunk):
        rows = slice(start, start + chunk)
        mask = lab[rows, None] == lab[None, :]  # (chunk, N)
        out[:, :, rows] = F.scaled_dot_product_attention(q[:, :, rows], k, v, attn_mask=mask)
    return out


def check_attention(sizes: Sizes) -> list[Row]:
    from maskmotion.attention import build_self_attention_plan, masked_attention
    from maskmotion.attention.varlen import varlen_available

    rows = []
    device = sizes.device
    for tokens in sizes.tokens:
        torch.manual_seed(0)
        q, k, v = (torch.randn(1, sizes.heads, tokens, sizes.head_dim, device=device, dtype=sizes.dtype) for _ in range(3))
        labels = _labels(tokens)
        plan = build_self_attention_plan(labels).to(device)
        want = chunked_reference(q, k, v, labels, chunk=1024 if device == "cuda" else 128)
        _, base_s, base_peak = _measure(lambda: F.scaled_dot_product_attention(q, k, v), device)  # warm-up
        times = [_measure(lambda: F.scaled_dot_product_attention(q, k, v), device)[1] for _ in range(3)]
        rows.append(_row("attn", f"{tokens:,} tokens: unmasked SDPA (yardstick)", "-", statistics.median(times), base_peak))
        backends = [("flex", dict(backend="flex", compile_flex=device == "cuda"))]
        if varlen_available():
            backends.append(("varlen", dict(backend="varlen")))
        else:
            rows.append(_row("attn", f"{tokens:,} tokens: varlen", "skipped: needs CUDA and torch.nn.attention.varlen"))
        for name, kwargs in backends:
            label = f"{tokens:,} tokens: {name}" + (" (compiled)" if kwargs.get("compile_flex") else "")
            try:
                with torch.no_grad():
                    _measure(lambda: masked_attention(q, k, v, plan, **kwargs), device)  # warm-up, compiles
                    runs = [_measure(lambda: masked_attention(q, k, v, plan, **kwargs), device) for _ in range(3)]
                got = runs[-1][0]
                err = (got.float() - want).abs().max().item()
                peak = max((r[2] for r in runs), default=None) if device == "cuda" else None
                rows.append(_row("attn", label, f"max abs err {err:.2e}", statistics.median(r[1] for r in runs), peak))
            except Exception as exc:  # a failing backend is a row, not the end of the check
                rows.append(_row("attn", label, _error(exc)))
            _free(device)
        del q, k, v, want, plan
        _free(device)
    return rows


# ---- trajectories ---------------------------------------------------------------------
def _trajectory(frames: int, height: int, width: int, objects: int = 2) -> np.ndarray:
    """(T, H, W) uint8 ids: ``objects`` rectangles sliding across the frame."""
    ids = np.zeros((frames, height, width), np.uint8)
    bh, bw = max(2, height // 4), max(2, width // 5)
    for t in range(frames):
        for o in range(objects):
            y = (height // 8 + o * height // 2) % max(1, height - bh)
            x = int((o * width // 3 + t * (width - bw) / max(1, frames - 1) / 2)) % max(1, width - bw)
            ids[t, y : y + bh, x : x + bw] = o + 1
    return ids


def _local_prompts(batch: int, objects: int, per_object: int, dim: int, device: str, dtype: torch.dtype):
    states = torch.randn(batch, objects * per_object, dim, device=device, dtype=dtype)
    ids = torch.arange(1, objects + 1).repeat_interleave(per_object)[None].repeat(batch, 1).to(device)
    return states, ids


def _train_step(model: torch.nn.Module, call: Callable[[], torch.Tensor], target: torch.Tensor, optimizer) -> float:
    optimizer.zero_grad(set_to_none=True)
    out = call()
    loss = F.mse_loss(out.float(), target.float())
    loss.backward()
    optimizer.step()
    return loss.item()


def _two_steps(model, call, target, device: str) -> tuple[float, float | None]:
    """Seconds of the second of two training steps (the first compiles and warms up)
    and the peak memory over both, steps included."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-5)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    _train_step(model, call, target, optimizer)
    _sync(device)
    start = time.perf_counter()
    loss = _train_step(model, call, target, optimizer)
    _sync(device)
    seconds = time.perf_counter() - start
    if not math.isfinite(loss):
        raise RuntimeError(f"the loss is {loss}")
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    return seconds, peak


# ---- (c) Wan 2.1 1.3B stage 2 ---------------------------------------------------------
def check_wan(sizes: Sizes) -> list[Row]:
    from diffusers import WanTransformer3DModel

    from maskmotion.adapters import add_ttm_to_wan
    from maskmotion.attention import BatchTokenGroups, TokenGrid, build_token_groups

    device, dtype = sizes.device, sizes.dtype
    frames, height, width = sizes.wan_clip
    lat = (1 + (frames - 1) // 4, height // 8, width // 8)
    cfg = sizes.wan
    tokens = lat[0] * (lat[1] // cfg["patch_size"][1]) * (lat[2] // cfg["patch_size"][2])
    start = time.perf_counter()
    groups = BatchTokenGroups.from_samples([build_token_groups(_trajectory(frames, height, width), TokenGrid.wan())])
    groups_s = time.perf_counter() - start
    rows = [_row("wan", f"token groups, {frames}x{height}x{width} ids -> {tokens:,} tokens (CPU)", "built", groups_s)]
    for masked in (None, 0):
        name = "7 masked blocks (default)" if masked is None and cfg is WAN_1_3B else "default masked blocks"
        name = name if masked is None else "no masked layers"
        label = f"train step, {'1.3B' if cfg is WAN_1_3B else 'tiny'} {frames}x{height}x{width}, {name}"
        try:
            torch.manual_seed(0)
            with torch.device(device):
                transformer = WanTransformer3DModel(**cfg)
            model = add_ttm_to_wan(transformer, extra_in_channels=2 * cfg["in_channels"], masked_blocks=masked)
            model = model.to(device=device, dtype=dtype).train()
            model.enable_gradient_checkpointing()
            c = cfg["in_channels"]
            hidden = torch.randn(1, 3 * c, *lat, device=device, dtype=dtype)
            target = torch.randn(1, c, *lat, device=device, dtype=dtype)
            t = torch.tensor([500], device=device)
            text = torch.randn(1, sizes.wan_text_len, cfg["text_dim"], device=device, dtype=dtype)
            local, local_ids = _local_prompts(1, 2, sizes.local_tokens, cfg["text_dim"], device, dtype)
            g = groups.to(device)
            n_params = sum(p.numel() for p in model.parameters())

            def call() -> torch.Tensor:
                if masked == 0:
                    return model(hidden, t, text).sample
                return model(hidden, t, text, groups=g, local_states=local, local_ids=local_ids).sample

            seconds, peak = _two_steps(model, call, target, device)
            rows.append(_row("wan", label, f"ok, {_count(n_params)} parameters", seconds, peak))
        except Exception as exc:
            rows.append(_row("wan", label, _error(exc)))
        model = transformer = None
        _free(device)
    return rows


# ---- (d) AnimateDiff (SD 1.5 + motion modules) ----------------------------------------
def check_animatediff(sizes: Sizes) -> list[Row]:
    from diffusers import UNetMotionModel

    from maskmotion.adapters import add_ttm_to_animatediff

    device, dtype = sizes.device, sizes.dtype
    frames, height, width = sizes.unet_clip
    cfg = sizes.unet
    rows = []
    for masked in (None, 0):
        full = cfg is SD15_MOTION
        name = ("six encoder blocks masked (default)" if full else "default masked blocks") if masked is None else "no masked layers"
        label = f"train step, {'SD 1.5 + motion' if full else 'tiny'} {frames}x{height}x{width}, {name}"
        try:
            torch.manual_seed(0)
            with torch.device(device):
                unet = UNetMotionModel(**cfg)
            model = add_ttm_to_animatediff(unet, extra_in_channels=8, masked_blocks=masked)
            model = model.to(device=device, dtype=dtype).train()
            model.enable_gradient_checkpointing()
            lat = (frames, height // 8, width // 8)
            sample = torch.randn(1, 12, *lat, device=device, dtype=dtype)
            target = torch.randn(1, 4, *lat, device=device, dtype=dtype)
            t = torch.tensor([500], device=device)
            text = torch.randn(1, sizes.unet_text_len, cfg["cross_attention_dim"], device=device, dtype=dtype)
            local, local_ids = _local_prompts(1, 2, sizes.local_tokens, cfg["cross_attention_dim"], device, dtype)
            groups = None
            if masked != 0:
                groups = {lvl: g.to(device) for lvl, g in model.token_groups([_trajectory(frames, height, width)]).items()}
            n_params = sum(p.numel() for p in model.parameters())

            def call() -> torch.Tensor:
                if groups is None:
                    return model(sample, t, text).sample
                return model(sample, t, text, groups=groups, local_states=local, local_ids=local_ids).sample

            seconds, peak = _two_steps(model, call, target, device)
            rows.append(_row("animatediff", label, f"ok, {_count(n_params)} parameters", seconds, peak))
        except Exception as exc:
            rows.append(_row("animatediff", label, _error(exc)))
        model = unet = None
        _free(device)
    return rows


CHECKS: dict[str, Callable[[Sizes], list[Row]]] = {
    "tests": check_tests,
    "attn": check_attention,
    "wan": check_wan,
    "animatediff": check_animatediff,
}


def table(rows: list[Row], title: str) -> str:
    cols = ("part", "case", "result", "time", "peak")
    heads = ("part", "case", "result", "time", "peak memory")
    lines = [f"## {title}", "", "| " + " | ".join(heads) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c] for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on CPU: tests this script, measures nothing")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), help="parts to run (default all)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    if args.dry_run:
        sizes = dry_sizes()
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
        title = "GPU check: DRY RUN on CPU at tiny sizes (numbers mean nothing)"
    else:
        if not torch.cuda.is_available():
            print("gpu_check: no CUDA GPU visible; run with --dry-run to test the script on CPU", file=sys.stderr)
            return 2
        sizes = full_sizes()
        title = f"GPU check on {torch.cuda.get_device_name()} (torch {torch.__version__})"
    rows: list[Row] = []
    for part in PARTS:
        if part in args.only:
            print(f"gpu_check: {part} ...", file=sys.stderr, flush=True)
            rows += CHECKS[part](sizes)
    print(table(rows, title))
    if args.json:
        args.json.write_text(json.dumps({"title": title, "rows": rows}, indent=2) + "\n")
    failed = [r for r in rows if r["result"].startswith(("error", "FAILED"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
