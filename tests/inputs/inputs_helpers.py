"""Helpers for the input-bound tests: run the command line in-process and measure."""

from __future__ import annotations

import time
import tracemalloc
from contextlib import contextmanager
from typing import Iterator

import numpy as np
from PIL import Image

import maskmotion.pipelines  # noqa: F401 - imported once here, not inside a measured block
from maskmotion.cli import main


def run_main(capsys, *args) -> tuple[int, list[str]]:
    """(exit code, non-empty stderr lines) of ``maskmotion ARGS`` run in this process."""
    code = main([str(a) for a in args])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return code, err


@contextmanager
def bounded(seconds: float, megabytes: float) -> Iterator[None]:
    """Fail unless the block ends within ``seconds`` having allocated (Python and numpy
    allocations, as tracemalloc sees them) at most ``megabytes`` at its peak."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert peak < megabytes * 2**20, f"peak {peak / 2**20:.0f} MB"


def photo(path, height: int, width: int, quality: int = 90, seed: int = 0) -> tuple[int, int, int, int]:
    """A small photo-like picture with a red disc; returns the disc's box x0,y0,x1,y1."""
    import cv2

    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    x = np.linspace(0, 1, width)[None, :, None]
    base = np.array([70, 120, 190]) * (1 - y) + np.array([150, 130, 90]) * y + 20 * np.sin(5 * x)
    img = np.clip(base + rng.normal(0, 5, (height, width, 3)), 0, 255).astype(np.uint8)
    cx, cy, r = width // 2, height // 2, min(height, width) // 5
    cv2.circle(img, (cx, cy), r, (210, 50, 40), -1)
    Image.fromarray(img).save(path, **({"quality": quality} if str(path).endswith(".jpg") else {}))
    return cx - r - 4, cy - r - 4, cx + r + 4, cy + r + 4
