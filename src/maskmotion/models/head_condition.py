"""Conditioning that reaches the conv output head of `VideoDiT` directly: our extension
beyond the paper's stage 2, off unless `VideoDiTConfig.head_condition` is set.

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
- colour transform (optional, ``colour=True``): per object and frame, an affine change
  of the output base's colours, base * s + b with (s, b) per RGB channel, from the same
  pooled words. The warp preview moves an object's first-frame pixels; this lets the
  words re-colour them exactly ((1 - w) * old + w * new is s = -w, b = w * new), which
  through the hidden features takes a large, slow-to-learn change of the head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .common import sincos_1d

POOL_QUERIES = 4
POOL_WIDTH = 32
FRAME_FEATURES = 16
HIDDEN = 128


class HeadCondition(nn.Module):
    """(time, local prompts, trajectory ids) -> a `HeadModulation` of the head's hidden
    layer (B*T, C, H, W) and, with ``colour``, of the output base."""

    def __init__(self, dim: int, text_dim: int, channels: int, frames: int, colour: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.frames = frames
        self.time = nn.Sequential(nn.SiLU(), nn.Linear(dim, channels))
        self.query = nn.Linear(text_dim, POOL_QUERIES)  # one attention score per query
        self.value = nn.Linear(text_dim, POOL_QUERIES * POOL_WIDTH)
        self.mlp = _words_mlp(2 * channels)  # per object and frame: (scale, shift)
        self.colour = _words_mlp(6) if colour else None  # per object and frame: RGB (scale, shift) of the base
        # Frame position 0..1 over the clip, spread over a few scales.
        pos = sincos_1d(torch.arange(frames) * (8.0 / max(frames - 1, 1)), FRAME_FEATURES)
        self.register_buffer("frame_features", pos, persistent=False)  # (T, F)

    def zero_init(self) -> None:
        lasts = [self.time[-1], self.mlp[-1]] + ([self.colour[-1]] if self.colour is not None else [])
        for last in lasts:
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
        temb: torch.Tensor,  # (B, D) flow-time embedding
        ids: torch.Tensor,  # (B, T, H, W) pixel object ids, 0 = background
        local_states: torch.Tensor,  # (B, Ml, Dt) local prompts, concatenated
        local_ids: torch.Tensor,  # (B, Ml) each token's object id, 0 = padding
    ) -> "HeadModulation":
        """Each pixel's modulation of the head: its object's (scale, shift) for that frame
        (none on the background), the time shift, and with ``colour`` its object's colour
        transform of the output base."""
        b, t = ids.shape[:2]
        c = self.channels
        rows_out = 2 * c + (6 if self.colour is not None else 0)
        objects = int(max(ids.max().item(), local_ids.max().item(), 0))
        per_object = local_states.new_zeros(b, 1, t, rows_out)  # row 0: background, (B, 1, T, 2C [+ 6])
        if objects:
            pooled = self.pooled(local_states, local_ids, objects)  # (B, L, P)
            frames = self.frame_features.to(pooled.dtype)[None, None].expand(b, objects, -1, -1)  # (B, L, T, F)
            feats = torch.cat([pooled[:, :, None].expand(-1, -1, t, -1), frames], dim=-1)  # (B, L, T, P + F)
            has_words = _owners(local_ids, objects).any(-1)  # (B, L)
            film = self.mlp(feats)  # (B, L, T, 2C)
            if self.colour is not None:
                film = torch.cat([film, self.colour(feats)], dim=-1)  # (B, L, T, 2C + 6)
            film = film * has_words[:, :, None, None].to(pooled.dtype)
            per_object = torch.cat([per_object, film], dim=1)  # (B, L+1, T, 2C [+ 6])
        # Paint each object's (scale, shift) onto its pixels as a batched matmul with the
        # one-hot ids (an index gather would backpropagate through a slow scatter-add).
        onehot = ids.long()[:, :, None] == torch.arange(objects + 1, device=ids.device)[None, None, :, None, None]
        onehot = onehot.to(per_object.dtype).flatten(3).flatten(0, 1)  # (B*T, L+1, H*W)
        rows = per_object.transpose(1, 2).flatten(0, 1).transpose(1, 2)  # (B*T, 2C [+ 6], L+1)
        painted = torch.bmm(rows, onehot).unflatten(-1, ids.shape[2:])  # (B*T, 2C [+ 6], H, W)
        return HeadModulation(
            scale=painted[:, :c],
            shift=painted[:, c : 2 * c],
            time_shift=self.time(temb).repeat_interleave(t, dim=0)[:, :, None, None],
            colour=painted[:, 2 * c :] if self.colour is not None else None,
        )


@dataclass
class HeadModulation:
    """`HeadCondition`'s output for one batch of B clips of T frames, per pixel."""

    scale: torch.Tensor  # (B*T, C, H, W) FiLM scale of the head's hidden features
    shift: torch.Tensor  # (B*T, C, H, W) FiLM shift
    time_shift: torch.Tensor  # (B*T, C, 1, 1) shift from the flow time
    colour: torch.Tensor | None  # (B*T, 6, H, W) RGB scales then RGB shifts of the output base, or None

    def modulate(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (B*T, C, H, W) -> hidden * (1 + scale) + shift + time shift."""
        return hidden * (1.0 + self.scale) + self.shift + self.time_shift

    def base_colour(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The colour transform as (scale, shift), (B, 3, T, H, W) each, laid out like the video."""
        colour = self.colour.unflatten(0, (batch, -1)).transpose(1, 2)  # (B, 6, T, H, W)
        return colour[:, :3], colour[:, 3:]


def _words_mlp(out: int) -> nn.Sequential:
    """(pooled words | frame features) -> ``out`` values per object and frame."""
    return nn.Sequential(nn.Linear(POOL_QUERIES * POOL_WIDTH + FRAME_FEATURES, HIDDEN), nn.SiLU(), nn.Linear(HIDDEN, out))


def _owners(local_ids: torch.Tensor, objects: int) -> torch.Tensor:
    """(B, Ml) token owners -> (B, L, Ml) bool: token m belongs to object l + 1."""
    return local_ids[:, None, :] == torch.arange(1, objects + 1, device=local_ids.device)[None, :, None]
