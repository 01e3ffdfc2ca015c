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


def concat_local_states(
    states: Sequence[Sequence[torch.Tensor]], owners: Sequence[Sequence[int]], dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate each sample's local-prompt states: (B, Ml, D) and the owner of each
    token (B, Ml) long, 0 = padding. ``states[b][k]`` is object k's (n_k, D) states and
    ``owners[b][k]`` the id a masked layer knows it by."""
    per_sample, per_owner = [], []
    for sample, ids in zip(states, owners):
        if len(sample) != len(ids):
            raise ValueError(f"{len(sample)} local prompts but {len(ids)} object ids")
        per_sample.append(torch.cat(list(sample)) if len(sample) else torch.zeros(0, dim))
        per_owner.append(
            torch.cat([torch.full((s.shape[0],), int(i), dtype=torch.long) for s, i in zip(sample, ids)])
            if len(sample)
            else torch.zeros(0, dtype=torch.long)
        )
    local, mask = pad_states(per_sample, dim)
    owner = torch.zeros(mask.shape, dtype=torch.long)
    for b, o in enumerate(per_owner):
        owner[b, : len(o)] = o
    return local, owner


def encode_local_prompts(
    text: TextEncoder, prompts: Sequence[Sequence[str]], owners: Sequence[Sequence[int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode each sample's local prompts and concatenate them (see `concat_local_states`):
    ``owners[b][k]`` is the trajectory id for the video model, the slot for the motion model."""
    encoded = iter(text.encode_list([p for sample in prompts for p in sample]))
    states = [[next(encoded) for _ in sample] for sample in prompts]
    return concat_local_states(states, owners, text.dim)


def video_condition(images: dict[str, np.ndarray], names: Sequence[str], num_frames: int) -> torch.Tensor:
    """Stack the visual conditions a `VideoDiT` expects, in ``cond_names`` order.

    ``images`` maps a name ("first_frame", "trajectory", "warp", "first_mask", ...) to
    uint8 (T, H, W, 3) or, for one-frame conditions, (H, W, 3), which is repeated over
    the clip (docs/method.md). Returns (Cc, T, H, W) float in [-1, 1].
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
