"""Shared helpers for the attention tests: random trajectories and slow per-token references."""

from __future__ import annotations

import numpy as np
import torch

from maskmotion.attention import TokenGrid


def random_trajectory(
    num_frames: int, height: int, width: int, num_objects: int, seed: int, absent_prob: float = 0.2
) -> np.ndarray:
    """(T, H, W) uint8 ids: each object a random rectangle per frame, sometimes absent."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((num_frames, height, width), dtype=np.uint8)
    for frame in range(num_frames):
        for obj in range(1, num_objects + 1):
            if rng.random() < absent_prob:
                continue
            top, left = rng.integers(0, height), rng.integers(0, width)
            bottom = min(height, top + rng.integers(1, height // 2 + 2))
            right = min(width, left + rng.integers(1, width // 2 + 2))
            ids[frame, top:bottom, left:right] = obj
    return ids


def frames_per_token_time(num_frames: int, grid: TokenGrid) -> list[list[int]]:
    """Independent restatement of the temporal layout: the video frames of each token time."""
    ct = grid.temporal_compression
    if grid.causal_first_frame:
        latent = [[0]] + [list(range(1 + i * ct, 1 + (i + 1) * ct)) for i in range((num_frames - 1) // ct)]
    else:
        latent = [list(range(i * ct, (i + 1) * ct)) for i in range(num_frames // ct)]
    pt = grid.patch_size[0]
    return [sum(latent[i : i + pt], []) for i in range(0, len(latent), pt)]


def slow_pixel_labels_without_rescue(ids: np.ndarray, grid: TokenGrid, num_objects: int) -> np.ndarray:
    """Plurality label per token by explicit loops (ties to the smaller id)."""
    rows, cols = grid.pixels_per_token
    slices = frames_per_token_time(ids.shape[0], grid)
    h, w = ids.shape[1] // rows, ids.shape[2] // cols
    labels = np.zeros((len(slices), h, w), dtype=np.int64)
    for s, frames in enumerate(slices):
        for i in range(h):
            for j in range(w):
                cell = ids[frames, i * rows : (i + 1) * rows, j * cols : (j + 1) * cols]
                counts = np.bincount(cell.ravel(), minlength=num_objects + 1)
                labels[s, i, j] = int(np.argmax(counts))
    return labels.reshape(-1)


def slow_box_membership(ids: np.ndarray, grid: TokenGrid, num_objects: int, coverage: float = 0.5) -> np.ndarray:
    """Box membership by explicit loops (without the tiny-object rule)."""
    rows, cols = grid.pixels_per_token
    slices = frames_per_token_time(ids.shape[0], grid)
    height, width = ids.shape[1:]
    h, w = height // rows, width // cols
    member = np.zeros((len(slices), h, w, num_objects), dtype=bool)
    for s, frames in enumerate(slices):
        for obj in range(1, num_objects + 1):
            union = np.zeros((height, width), dtype=bool)
            for frame in frames:
                ys, xs = np.nonzero(ids[frame] == obj)
                if len(ys):
                    union[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = True
            for i in range(h):
                for j in range(w):
                    cell = union[i * rows : (i + 1) * rows, j * cols : (j + 1) * cols]
                    member[s, i, j, obj - 1] = cell.mean() >= coverage
    return member.reshape(-1, num_objects)


def random_qkv(
    batch: int, heads: int, queries: int, keys: int, dim: int, seed: int, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q (B, H, N, d), k and v (B, H, M, d), laid out (B, T, H, d) like real projections."""
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, queries, heads, dim, generator=generator).to(dtype).transpose(1, 2)
    k = torch.randn(batch, keys, heads, dim, generator=generator).to(dtype).transpose(1, 2)
    v = torch.randn(batch, keys, heads, dim, generator=generator).to(dtype).transpose(1, 2)
    return q, k, v
