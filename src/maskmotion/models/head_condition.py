"""Conditioning that reaches the conv output head of `VideoDiT` directly.

The transformer sees the prompts only token by token, and its output passes through a
per-token projection before the full-resolution head; on this machine's training budget
that long path barely learns what an object's own words say about its look (a colour
change is rendered as the warp's old colour, whatever the colour word). This module gives
the head's hidden features two short paths, both zero-initialised so a model starts as
exactly the one without them (weights of such a model load, see `models.io`):

- time: a per-sample shift from the flow time, so the head can tell how noisy its
  full-resolution input is and how far to trust it;
- object appearance: per object and frame, a scale and a shift (FiLM) computed from that
  object's local prompt (attention pooling over its tokens with learned queries, which can
  pick out the words that matter, plus the frame's position in the clip), painted onto the
  object's pixels in that frame of the trajectory. Background pixels get none. The scale
  matters: a colour change is a blend, (1 - w) * old colour + w * new colour, with w set
  by the frame and the speed word, and only a scale can weigh the old colour (which the
  head sees in the warp preview) by a per-frame amount; a shift alone can only bend it
  through the activation.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import sincos_1d

POOL_QUERIES = 4
POOL_WIDTH = 32
FRAME_FEATURES = 16
HIDDEN = 128


class HeadCondition(nn.Module):
    """Modulates the head's hidden layer (B*T, C, H, W) by time, prompts and ids."""

    def __init__(self, dim: int, text_dim: int, channels: int, frames: int) -> None:
        super().__init__()
        self.frames = frames
        self.time = nn.Sequential(nn.SiLU(), nn.Linear(dim, channels))
        self.query = nn.Linear(text_dim, POOL_QUERIES)  # one attention score per query
        self.value = nn.Linear(text_dim, POOL_QUERIES * POOL_WIDTH)
        self.mlp = nn.Sequential(
            nn.Linear(POOL_QUERIES * POOL_WIDTH + FRAME_FEATURES, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, 2 * channels)
        )  # per object and frame: (scale, shift)
        # Frame position 0..1 over the clip, spread over a few scales.
        pos = sincos_1d(torch.arange(frames) * (8.0 / max(frames - 1, 1)), FRAME_FEATURES)
        self.register_buffer("frame_features", pos, persistent=False)  # (T, F)

    def zero_init(self) -> None:
        for last in (self.time[-1], self.mlp[-1]):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def pooled(self, local_states: torch.Tensor, local_ids: torch.Tensor, objects: int) -> torch.Tensor:
        """Each object's local prompt pooled: (B, Ml, Dt), (B, Ml) -> (B, L, Q*W).

        Row l is object l + 1; an object without tokens (none given, or text dropped)
        pools to zeros.
        """
        b, m, _ = local_states.shape
        owner = _owners(local_ids, objects)  # (B, L, Ml)
        scores = self.query(local_states).transpose(1, 2)  # (B, Q, Ml)
        scores = scores[:, None].masked_fill(~owner[:, :, None], float("-inf"))  # (B, L, Q, Ml)
        weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # no tokens: all -inf -> NaN -> 0
        values = self.value(local_states).view(b, m, POOL_QUERIES, POOL_WIDTH)  # (B, Ml, Q, W)
        pooled = torch.einsum("blqm,bmqw->blqw", weights, values)
        return pooled.flatten(2)  # (B, L, Q*W)

    def forward(
        self,
        hidden: torch.Tensor,
        temb: torch.Tensor,
        ids: torch.Tensor,
        local_states: torch.Tensor,
        local_ids: torch.Tensor,
    ) -> torch.Tensor:
        """hidden (B*T, C, H, W) head features; temb (B, D); ids (B, T, H, W) pixel object
        ids (0 = background); local prompts (B, Ml, Dt) with owners (B, Ml).
        Returns hidden * (1 + scale) + shift, (B*T, C, H, W)."""
        b, t = ids.shape[:2]
        objects = int(max(ids.max().item(), local_ids.max().item(), 0))
        per_object = local_states.new_zeros(b, 1, t, self.mlp[-1].out_features)  # row 0: background, (B, 1, T, 2C)
        if objects:
            pooled = self.pooled(local_states, local_ids, objects)  # (B, L, P)
            frames = self.frame_features.to(pooled.dtype)[None, None].expand(b, objects, -1, -1)  # (B, L, T, F)
            feats = torch.cat([pooled[:, :, None].expand(-1, -1, t, -1), frames], dim=-1)
            has_words = _owners(local_ids, objects).any(-1)  # (B, L)
            film = self.mlp(feats) * has_words[:, :, None, None].to(pooled.dtype)  # (B, L, T, 2C)
            per_object = torch.cat([per_object, film], dim=1)  # (B, L+1, T, 2C)
        # Paint each object's (scale, shift) onto its pixels as a batched matmul with the
        # one-hot ids (an index gather would backpropagate through a slow scatter-add).
        onehot = ids.long()[:, :, None] == torch.arange(objects + 1, device=ids.device)[None, None, :, None, None]
        onehot = onehot.to(per_object.dtype).flatten(3).flatten(0, 1)  # (B*T, L+1, H*W)
        rows = per_object.transpose(1, 2).flatten(0, 1).transpose(1, 2)  # (B*T, 2C, L+1)
        painted = torch.bmm(rows, onehot).unflatten(-1, ids.shape[2:])  # (B*T, 2C, H, W)
        scale, shift = painted.chunk(2, dim=1)  # (B*T, C, H, W) each
        time_shift = self.time(temb).repeat_interleave(t, dim=0)[:, :, None, None]  # (B*T, C, 1, 1)
        return hidden * (1.0 + scale) + shift + time_shift


def _owners(local_ids: torch.Tensor, objects: int) -> torch.Tensor:
    """(B, Ml) token owners -> (B, L, Ml) bool: token m belongs to object l + 1."""
    return local_ids[:, None, :] == torch.arange(1, objects + 1, device=local_ids.device)[None, :, None]
