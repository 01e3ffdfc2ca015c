"""How fast the sprites world makes data: scenes/s for generation, dataset items and cache.

    python benchmarks/sprites_speed.py [--count 400] [--size 64] [--frames 16]

Reports, on one process: raw `generate_scene`; `SpritesDataset` items (tensors)
generated on the fly; building cache shards; items read from a warm cache; and a
DataLoader over the warm cache with ``--workers`` workers.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time

from torch.utils.data import DataLoader

from maskmotion.data.sprites import SpritesConfig, SpritesDataset, collate_scenes, generate_scene

logger = logging.getLogger("sprites_speed")


def _rate(label: str, count: int, seconds: float) -> float:
    rate = count / seconds
    logger.info("%-34s %8.1f scenes/s  (%d in %.2f s)", label, rate, count, seconds)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = SpritesConfig(height=args.size, width=args.size, num_frames=args.frames)
    n = args.count

    generate_scene(20_000, config)  # warm imports
    t0 = time.perf_counter()
    for s in range(20_000, 20_000 + n):
        generate_scene(s, config)
    _rate("generate_scene", n, time.perf_counter() - t0)

    ds = SpritesDataset("train", n, config)
    t0 = time.perf_counter()
    for i in range(n):
        ds[i]
    _rate("dataset item, no cache", n, time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as cache:
        cached = SpritesDataset("train", n, config, cache_dir=cache, shard_size=64)
        t0 = time.perf_counter()
        cached.prepare(progress=False)
        _rate("build cache shards", len(cached), time.perf_counter() - t0)
        warm = SpritesDataset("train", n, config, cache_dir=cache, shard_size=64)
        t0 = time.perf_counter()
        for i in range(n):
            warm[i]
        _rate("dataset item, warm cache", n, time.perf_counter() - t0)
        loader = DataLoader(warm, batch_size=args.batch, shuffle=True, num_workers=args.workers, collate_fn=collate_scenes)
        t0 = time.perf_counter()
        seen = sum(len(b["seed"]) for b in loader)
        _rate(f"DataLoader warm cache, {args.workers} workers", seen, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
