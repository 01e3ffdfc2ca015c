"""GIF writing speed: maskmotion's writer (one palette per clip, no dithering) against
imageio's Pillow plugin with its defaults, measured in the same run.

    python benchmarks/gif_speed.py [--frames 16] [--size 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from maskmotion.data.sprites import SpritesConfig, generate_scene
from maskmotion.video import write_video


def best_of(fn, reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()
    scene = generate_scene(20000, SpritesConfig(height=args.size, width=args.size, num_frames=args.frames))
    frames = scene.video
    with tempfile.TemporaryDirectory() as tmp:
        ours = best_of(lambda: write_video(Path(tmp) / "ours.gif", frames, fps=8))
        print(f"maskmotion write_video: {ours:.3f} s for {len(frames)} frames of {args.size}x{args.size}")
        try:
            import imageio.v3 as iio
        except ImportError:
            print("imageio is not installed: pip install imageio to compare")
            return
        theirs = best_of(lambda: iio.imwrite(Path(tmp) / "imageio.gif", frames, duration=125, loop=0))
        print(f"imageio (pillow plugin, defaults): {theirs:.3f} s  -> maskmotion is {theirs / ours:.1f}x faster")


if __name__ == "__main__":
    main()
