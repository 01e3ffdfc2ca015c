"""Turning prompts, images and trajectories into model input tensors.

Shared by the pipelines (sampling) and the training tasks, so both feed the models
exactly the same way.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..text import TextEncoder, pad_states


def to_model_range(frames: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(127.5).sub_(1.0)
    return x.movedim(-1, -3)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    x = x.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()


def encode_prompts(text: TextEncoder, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, M, D) states and (B, M) mask; an empty prompt gives no tokens."""
    return text(list(prompts))


def encode_local_prompts(
    text: TextEncoder, prompts: Sequence[Sequence[str]], owners: Sequence[Sequence[int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sample's local prompts, concatenated: states (B, Ml, D) and the owner of
    each token (B, Ml) long, 0 = padding. ``owners[b][k]`` is the id a masked layer
    knows object k by (its trajectory id for the video model, its slot for the motion
    model)."""
    flat = [p for sample in prompts for p in sample]
    encoded = iter(text.encode_list(flat))
    per_sample, per_owner = [], []
    for sample, ids in zip(prompts, owners):
        if len(sample) != len(ids):
            raise ValueError(f"{len(sample)} local prompts but {len(ids)} object ids")
        states = [next(encoded) for _ in sample]
        per_sample.append(torch.cat(states) if states else torch.zeros(0, text.dim))
        per_owner.append(
            torch.cat([torch.full((s.shape[0],), int(i), dtype=torch.long) for s, i in zip(states, ids)])
            if states
            else torch.zeros(0, dtype=torch.long)
        )
    states, mask = pad_states(per_sample, text.dim)
    owner = torch.zeros(mask.shape, dtype=torch.long)
    for b, o in enumerate(per_owner):
        owner[b, : len(o)] = o
    return states, owner


def video_condition(images: dict[str, np.ndarray], names: Sequence[str], num_frames: int) -> torch.Tensor:
    """Stack the visual conditions a `VideoDiT` expects, in ``cond_names`` order.

    ``images`` maps a name ("first_frame", "trajectory", "warp", "first_mask", ...) to
    uint8 (T, H, W, 3) or, for one-frame conditions, (H, W, 3), which is repeated over
    the clip (METHOD.md). Returns (Cc, T, H, W) float in [-1, 1].
    """
    missing = [n for n in names if n not in images]
    if missing:
        raise ValueError(f"no image for condition(s) {missing}; have {sorted(images)}")
    parts = []
    for n in names:
        img = images[n]
        if img.ndim == 3:
            img = np.broadcast_to(img, (num_frames, *img.shape))
        if img.shape[0] != num_frames:
            raise ValueError(f"condition {n!r} has {img.shape[0]} frames, expected {num_frames}")
        parts.append(to_model_range(img).movedim(-3, 0))  # (3, T, H, W)
    return torch.cat(parts, dim=0)
