"""Stage 1 in compact form: flow matching over per-object motion tracks.

Each object's motion is a `MotionTrack` (per-frame translation, scale, rotation
relative to frame 0); rendering warps the first-frame mask by it into the mask
trajectory. Tokens are (object, frame) pairs. Every token sees its object's
first-frame geometry and appearance; self-attention runs over all objects and frames
(so "approach the blue square" can find the square); cross-attention reads the motion
prompt (the paper's stage-1 text); an optional masked cross-attention lets each
object's tokens read its own local prompt (our extension, `use_local_prompts`).

docs/design.md: pixel-level mask diffusion learned nothing in minutes on this machine; a
compact per-object motion model reached 97% adherence in seconds. The paper-faithful
pixel form stays available as a `VideoDiT` stage-1 variant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch import nn

from ..attention import MaskedCrossAttention
from ..trajectory import MotionTrack
from .common import Attention, config_from_dict, Mlp, TextContext, TimestepEmbedder, modulate, sincos_1d

#: Per-channel units of the normalised motion: dx, dy (fraction of width/height),
#: log sx, log sy, angle (radians). Divided by these, typical values are O(1).
DEFAULT_MOTION_SCALE = [0.25, 0.25, 0.3, 0.3, 1.0]
MASK_CROP = 8  # side of the object's first-frame mask thumbnail in its features


def encode_motion(tracks: list[MotionTrack], size: tuple[int, int]) -> np.ndarray:
    """Tracks -> (L, T, 5) raw motion: dx/W, dy/H, log sx, log sy, angle (radians,
    counter-clockwise on screen). Sizes are divided out so a model trained at one
    resolution reads motion the same way at another."""
    h, w = size
    rows = [
        np.stack([tr.dx / w, tr.dy / h, np.log(tr.sx), np.log(tr.sy), np.deg2rad(tr.angle)], axis=1)
        for tr in tracks
    ]
    return np.stack(rows).astype(np.float32)


def decode_motion(motion: np.ndarray, size: tuple[int, int]) -> list[MotionTrack]:
    """(L, T, 5) raw motion -> one `MotionTrack` per object (inverse of `encode_motion`)."""
    h, w = size
    motion = np.asarray(motion, dtype=np.float64)
    return [
        MotionTrack(m[:, 0] * w, m[:, 1] * h, np.exp(m[:, 2]), np.exp(m[:, 3]), np.rad2deg(m[:, 4]))
        for m in motion
    ]


def object_feature_dim() -> int:
    return 8 + 3 + MASK_CROP * MASK_CROP


def object_features(first_frame: np.ndarray, first_ids: np.ndarray, object_ids: list[int]) -> np.ndarray:
    """(L, F) float32 features of each object in the first frame.

    Geometry (centroid, sqrt area, box size, distances to the walls), mean and spread of
    its colour, and an 8x8 thumbnail of its mask (its shape). An object with no
    first-frame pixels gets zeros.
    """
    h, w = first_ids.shape
    img = first_frame.astype(np.float32) / 255.0
    out = np.zeros((len(object_ids), object_feature_dim()), np.float32)
    for i, oid in enumerate(object_ids):
        m = first_ids == oid
        if not m.any():
            continue
        ys, xs = np.nonzero(m)
        cx, cy = xs.mean() / w, ys.mean() / h
        x0, x1, y0, y1 = xs.min() / w, (xs.max() + 1) / w, ys.min() / h, (ys.max() + 1) / h
        geo = [cx, cy, np.sqrt(m.mean()), x1 - x0, y1 - y0, x0, 1 - x1, 1 - y1]
        col = img[m]
        crop = m[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
        thumb = cv2.resize(crop, (MASK_CROP, MASK_CROP), interpolation=cv2.INTER_AREA).ravel()
        out[i] = np.concatenate([geo, col.mean(0), col.std(0), thumb]).astype(np.float32)[: out.shape[1]]
    return out


@dataclass
class MotionDiTConfig:
    """Everything that defines a `MotionDiT`; saved beside its weights."""

    frames: int = 16
    motion_channels: int = 5
    feature_dim: int = field(default_factory=object_feature_dim)
    dim: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    text_dim: int = 384
    use_motion_prompt: bool = True
    use_local_prompts: bool = True
    motion_scale: list[float] = field(default_factory=lambda: list(DEFAULT_MOTION_SCALE))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MotionDiTConfig":
        return config_from_dict(cls, d)


class MotionBlock(nn.Module):
    def __init__(self, cfg: MotionDiTConfig) -> None:
        super().__init__()
        d = cfg.dim
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, cfg.num_heads)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.cross = Attention(d, cfg.num_heads) if cfg.use_motion_prompt else None
        self.local = MaskedCrossAttention(d, cfg.text_dim, cfg.num_heads) if cfg.use_local_prompts else None
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d, cfg.mlp_ratio)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x, temb, token_mask, context, context_mask, membership, local_states, local_ids):
        s1, c1, g1, s2, c2, g2 = self.ada(temb).chunk(6, dim=-1)
        x = x + g1[:, None] * self.attn(modulate(self.norm1(x), s1, c1), key_mask=token_mask)
        if self.cross is not None:
            x = x + self.cross(self.norm2(x), context, context_mask)
        if self.local is not None:
            x = self.local(x, membership, local_states, local_ids)
        return x + g2[:, None] * self.mlp(modulate(self.norm3(x), s2, c2))


class MotionDiT(nn.Module):
    """Velocity-predicting flow model over (B, L, T, 5) normalised object motion."""

    prediction = "velocity"

    def __init__(self, cfg: MotionDiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.in_proj = nn.Linear(cfg.motion_channels, d)
        self.feat_proj = nn.Sequential(nn.Linear(cfg.feature_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.null_feat = nn.Parameter(torch.zeros(d))
        self.register_buffer("frame_pos", sincos_1d(torch.arange(cfg.frames), d), persistent=False)  # (T, D)
        self.time = TimestepEmbedder(d)
        self.text = TextContext(cfg.text_dim, d)
        self.blocks = nn.ModuleList(MotionBlock(cfg) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.out = nn.Linear(d, cfg.motion_channels)
        self._init_weights()

    def _init_weights(self) -> None:
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear) and ".local" not in name:
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for block in self.blocks:
            nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(block.ada[-1].bias)
        for m in (self.ada_out[-1], self.out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def normalise(self, motion: torch.Tensor) -> torch.Tensor:
        """Raw (…, 5) motion (dx/W, dy/H, log sx, log sy, angle rad) -> model units."""
        return motion / motion.new_tensor(self.cfg.motion_scale)

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * x.new_tensor(self.cfg.motion_scale)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        features: torch.Tensor,
        object_mask: torch.Tensor,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        local_states: torch.Tensor | None = None,
        local_ids: torch.Tensor | None = None,
        visual: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the flow velocity.

        Args:
            x: noisy normalised motion (B, L, T, 5); t: (B,) flow time.
            features: first-frame object features (B, L, F); object_mask (B, L) bool
                marks real objects (at least one per sample).
            text_states, text_mask: motion prompt (B, M, Dt), (B, M).
            local_states, local_ids: local prompts concatenated (B, Ml, Dt) with each
                token's object slot 1..L (0 = padding).
            visual: (B,) bool; False drops the first-frame features (guidance).
        Returns:
            (B, L, T, 5) velocity.
        """
        b, n_obj, n_frames, c = x.shape
        if n_frames != self.cfg.frames or c != self.cfg.motion_channels:
            raise ValueError(f"x must be (B, L, {self.cfg.frames}, {self.cfg.motion_channels}), got {tuple(x.shape)}")
        feat = self.feat_proj(features)  # (B, L, D)
        if visual is not None:
            keep = visual.to(feat.dtype)[:, None, None]
            feat = feat * keep + self.null_feat * (1 - keep)
        h = self.in_proj(x) + self.frame_pos[None, None] + feat[:, :, None]  # (B, L, T, D)
        h = h.reshape(b, n_obj * n_frames, -1)  # (B, N, D), token order (object, frame)
        token_mask = object_mask[:, :, None].expand(b, n_obj, n_frames).reshape(b, -1)  # (B, N)
        slot = torch.arange(1, n_obj + 1, device=x.device)
        membership = (slot[None, :, None] == slot[None, None, :]).expand(b, n_obj, n_obj)  # (B, L, L)
        membership = membership[:, :, None].expand(b, n_obj, n_frames, n_obj).reshape(b, -1, n_obj)
        membership = membership & token_mask[..., None]  # (B, N, L)
        if local_states is None:
            local_states = text_states.new_zeros(b, 1, self.cfg.text_dim)
            local_ids = torch.zeros(b, 1, dtype=torch.long, device=x.device)
        temb = self.time(t)
        context, context_mask = self.text(text_states, text_mask)
        for block in self.blocks:
            h = block(h, temb, token_mask, context, context_mask, membership, local_states, local_ids)
        shift, scale = self.ada_out(temb).chunk(2, dim=-1)
        out = self.out(modulate(self.norm_out(h), shift, scale))  # (B, N, 5)
        return out.view(b, n_obj, n_frames, c)
