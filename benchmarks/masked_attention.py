"""Benchmark: masked self-attention backends against unmasked SDPA.

For each token count and layout (scattered: random token assignment; sorted: each group
contiguous), times one masked self-attention call of (1, 8 heads, N, 64) fp32 and
measures its peak extra memory, for

    unmasked  F.scaled_dot_product_attention, no mask (the yardstick)
    dense     SDPA with a dense (N, N) boolean mask (backend="reference")
    grouped   gather / SDPA per group / scatter (backend="grouped")
    flex      torch.compile'd FlexAttention with a sorted block mask (backend="flex")

Groups: background 40% of tokens, four objects 15% each.

Method.
- Memory: every case runs in a fresh subprocess (no allocator state or compiled code
  shared) with MALLOC_MMAP_THRESHOLD_=65536, so every large tensor is its own mmap and is
  returned to the OS when freed (glibc otherwise raises the threshold and keeps freed
  memory in its heap, hiding later peaks). It builds inputs and the attention plan (built
  once per sample and cached in real use, so reported apart as "plan build"), runs one
  warm-up call (which compiles flex), resets the kernel's peak-RSS counter
  (`echo 5 > /proc/self/clear_refs`), runs one call and reads VmHWM from
  /proc/self/status: peak extra = VmHWM - RSS just before the call.
- Time: one subprocess per (tokens, layout) warms every method up, then runs --reps
  rounds in which the methods take turns; a method's time is its median. Taking turns
  spreads load from other processes on a shared machine over all methods alike.
Ratios are to unmasked SDPA measured in the same run. Linux only (uses /proc).

Usage:
    python benchmarks/masked_attention.py                 # 4k, 16k, 32k tokens
    python benchmarks/masked_attention.py --quick         # 4k only, 1 rep
    python benchmarks/masked_attention.py --tokens 4096 16384 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

METHODS = ("unmasked", "dense", "grouped", "flex")
LAYOUTS = ("scattered", "sorted")
HEADS, HEAD_DIM, OBJECTS = 8, 64, 4
GROUP_SHARES = (0.4, 0.15, 0.15, 0.15, 0.15)  # background, then objects 1..4


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _labels(num_tokens: int, layout: str, seed: int = 0):
    import torch

    counts = [int(round(share * num_tokens)) for share in GROUP_SHARES]
    counts[0] += num_tokens - sum(counts)
    labels = torch.cat([torch.full((count,), group) for group, count in enumerate(counts)])  # sorted
    if layout == "scattered":
        labels = labels[torch.randperm(num_tokens, generator=torch.Generator().manual_seed(seed))]
    return labels[None]  # (1, N)


def _setup(method: str, num_tokens: int, layout: str):
    """Inputs, plan (and flex block mask) for one case; returns (call, plan build seconds)."""
    import torch
    import torch.nn.functional as F

    from maskmotion.attention import build_self_attention_plan, masked_attention
    from maskmotion.attention.flex import FLEX_BLOCK_SIZE, build_flex_layout

    torch.manual_seed(0)
    # (B, N, H, d) viewed as (B, H, N, d): the layout projections produce in a real layer.
    q, k, v = (torch.randn(1, num_tokens, HEADS, HEAD_DIM).transpose(1, 2) for _ in range(3))
    start = time.perf_counter()
    plan = build_self_attention_plan(_labels(num_tokens, layout))
    if method == "flex":  # the block mask is cached on the plan in real use too
        plan.cache[f"flex_layout_{FLEX_BLOCK_SIZE}"] = build_flex_layout(plan)
    plan_s = time.perf_counter() - start

    def call() -> torch.Tensor:
        if method == "unmasked":
            return F.scaled_dot_product_attention(q, k, v)
        backend = {"dense": "reference", "grouped": "grouped", "flex": "flex"}[method]
        return masked_attention(q, k, v, plan, backend=backend, compile_flex=True)

    return call, plan_s


def memory_worker(method: str, num_tokens: int, layout: str) -> dict:
    """Peak extra RSS of one call, after a warm-up call (which compiles flex)."""
    import torch

    call, plan_s = _setup(method, num_tokens, layout)
    with torch.no_grad():
        call()
        before_kib = _rss_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset VmHWM to the current RSS
        out = call()
        peak_kib = _rss_kib("VmHWM")
        del out
    return {"peak_extra_mb": (peak_kib - before_kib) / 1024, "plan_s": plan_s}


def time_worker(num_tokens: int, layout: str, reps: int, methods: list[str]) -> dict:
    """Median time per method; methods take turns rep by rep, so load from other processes
    on the machine falls on all of them alike."""
    import torch

    calls = {method: _setup(method, num_tokens, layout)[0] for method in methods}
    times: dict[str, list[float]] = {method: [] for method in methods}
    with torch.no_grad():
        for call in calls.values():
            call()  # warm-up / compile
        for _ in range(reps):
            for method, call in calls.items():
                start = time.perf_counter()
                call()
                times[method].append(time.perf_counter() - start)
    return {method: statistics.median(values) for method, values in times.items()}


def _run_worker(arguments: list[str], timeout: float) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    command = [sys.executable, __file__, *arguments]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:80]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cell(result: dict, base: dict | None) -> str:
    if "skipped" in result:
        return result["skipped"]
    if "error" in result:
        return "error: " + result["error"]
    text = f"{result['time_s']:.3f} s, +{result['peak_extra_mb']:.0f} MB"
    if base and "time_s" in base:
        mem_ratio = result["peak_extra_mb"] / max(base["peak_extra_mb"], 1e-6)
        text += f" ({result['time_s'] / base['time_s']:.2f}x, {mem_ratio:.1f}x mem)"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[4096, 16384, 32768])
    parser.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--reps", type=int, default=3, help="timed calls per case (median)")
    parser.add_argument("--quick", action="store_true", help="4096 tokens, 1 rep")
    parser.add_argument(
        "--dense-max-tokens", type=int, default=16384,
        help="skip the dense-mask case above this many tokens (its mask is N^2 bytes, its float bias 4 N^2)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per case")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--memory-worker", nargs=3, help=argparse.SUPPRESS)  # METHOD TOKENS LAYOUT
    parser.add_argument("--time-worker", nargs="+", help=argparse.SUPPRESS)  # TOKENS LAYOUT REPS METHOD...
    args = parser.parse_args()

    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the workers
        import torch

        torch.set_num_threads(args.threads)
    if args.memory_worker:
        method, tokens, layout = args.memory_worker
        print(json.dumps(memory_worker(method, int(tokens), layout)))
        return
    if args.time_worker:
        tokens, layout, reps, *methods = args.time_worker
        print(json.dumps(time_worker(int(tokens), layout, int(reps), methods)))
        return
    if args.quick:
        args.tokens, args.reps = [4096], 1

    import torch

    print(
        f"masked self-attention, fp32, 1 x {HEADS} heads x {HEAD_DIM}, {OBJECTS} objects + background "
        f"(shares {GROUP_SHARES}); torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs; median of {args.reps}; cell = time, peak extra RSS (ratio to unmasked)"
    )
    header = "| tokens | layout | " + " | ".join(args.methods) + " | plan build |"
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    for tokens in args.tokens:
        for layout in args.layouts:
            results: dict[str, dict] = {}
            for method in args.methods:
                if method == "dense" and tokens > args.dense_max_tokens:
                    gib = tokens * tokens * 5 / 2**30
                    results[method] = {"skipped": f"skipped (N^2 mask, ~{gib:.0f} GiB)"}
                    continue
                results[method] = _run_worker(["--memory-worker", method, str(tokens), layout], args.timeout)
            timed = [m for m in args.methods if "error" not in results[m] and "skipped" not in results[m]]
            times = _run_worker(["--time-worker", str(tokens), layout, str(args.reps), *timed], args.timeout * 3)
            for method in timed:
                if "error" in times:
                    results[method] = times
                else:
                    results[method]["time_s"] = times[method]
            base = results.get("unmasked")
            cells = [_cell(results[m], base if m != "unmasked" else None) for m in args.methods]
            plan_times = [
                f"{r['plan_s'] * 1000:.0f} ms" for m, r in results.items() if m in ("grouped", "flex") and "plan_s" in r
            ]
            print(f"| {tokens:,} | {layout} | " + " | ".join(cells) + f" | {' / '.join(plan_times)} |", flush=True)


if __name__ == "__main__":
    main()
