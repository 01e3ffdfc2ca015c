"""Stage 1 in compact form: flow matching over per-object motion tracks.

Each object's motion is a `MotionTrack` (per-frame translation, scale, rotation
relative to frame 0); rendering warps the first-frame mask by it into the mask
trajectory. Tokens are (object, frame) pairs. Every token sees its object's
first-frame geometry and appearance; self-attention runs over all objects and frames
(so "approach the blue square" can find the square); cross-attention reads the motion
prompt (the paper's stage-1 text); an optional masked cross-attention lets each
object's tokens read its own local prompt (our extension, `use_local_prompts`).

What the network reads and writes in numpy (object features, raw motion) is
`motion_features`; this file is the network.

docs/design.md: pixel-level mask diffusion learned nothing in minutes on this machine; a
compact per-object motion model reached 97% adherence in seconds. The paper-faithful
pixel form stays available as a `VideoDiT` stage-1 variant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from ..attention import MaskedCrossAttention
from .common import Attention, config_from_dict, Mlp, TextContext, TimestepEmbedder, modulate, sincos_1d
from .motion_features import object_feature_dim

#: Per-channel units of the normalised motion: dx, dy (fraction of width/height),
#: log sx, log sy, angle (radians). Divided by these, typical values are O(1).
DEFAULT_MOTION_SCALE = [0.25, 0.25, 0.3, 0.3, 1.0]


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
    use_sentence: bool = False
    """Each object also reads its local prompt's sentence embedding (the mean of its token
    states, normalised: what a sentence encoder is trained to make meaningful), added to its
    first-frame feature. Token states carry the words; the sentence embedding carries what
    the encoder learned the words mean, which is what words no training run saw share with
    seen ones. Measured at equal steps it did not carry held-out words better (docs/eval.md,
    "The larger encoder, continued"), so it is off by default."""
    motion_scale: list[float] = field(default_factory=lambda: list(DEFAULT_MOTION_SCALE))

    # Fields whose True value only adds zero-initialised modules (under these prefixes):
    # weights saved without them still load, and the model starts as the one saved.
    EXTENSIONS = {"use_sentence": "sentence."}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MotionDiTConfig":
        return config_from_dict(cls, d)


@dataclass
class MotionConditions:
    """What stage 1 generates motion from: B samples of up to L objects each.

    Padding objects (``object_mask`` False) get zero features and are never attended to.
    """

    features: torch.Tensor  # (B, L, F) float: first-frame object features (`object_features`)
    object_mask: torch.Tensor  # (B, L) bool: real objects, at least one per sample
    text_states: torch.Tensor  # (B, M, Dt) float: the motion prompt's token states
    text_mask: torch.Tensor  # (B, M) bool: real prompt tokens
    local_states: torch.Tensor | None = None  # (B, Ml, Dt) float: every object's local prompt, concatenated
    local_ids: torch.Tensor | None = None  # (B, Ml) long: each local token's object slot 1..L, 0 = padding
    keep_visual: torch.Tensor | None = None  # (B,) bool: False drops the first-frame features (guidance)

    def repeat(self, reps: int) -> "MotionConditions":
        """The batch ``reps`` times over, (B, ...) -> (reps*B, ...), for batched guidance passes."""
        return MotionConditions(
            features=self.features.repeat(reps, 1, 1),
            object_mask=self.object_mask.repeat(reps, 1),
            text_states=self.text_states.repeat(reps, 1, 1),
            text_mask=self.text_mask.repeat(reps, 1),
            local_states=None if self.local_states is None else self.local_states.repeat(reps, 1, 1),
            local_ids=None if self.local_ids is None else self.local_ids.repeat(reps, 1),
            keep_visual=None if self.keep_visual is None else self.keep_visual.repeat(reps),
        )

    def dropped(self, visual: torch.Tensor, text: torch.Tensor) -> "MotionConditions":
        """These conditions with the first-frame features kept where ``visual`` (B,) and
        every prompt (motion and local) kept where ``text`` (B,): guidance and dropout."""
        return dataclasses.replace(
            self,
            text_mask=self.text_mask & text[:, None],
            local_ids=None if self.local_ids is None else self.local_ids * text[:, None],
            keep_visual=visual,
        )


class MotionBlock(nn.Module):
    """One block over (object, frame) tokens, adaLN-Zero modulated by the flow time:

    self-attention over every object and frame -> cross-attention to the motion prompt
    (``use_motion_prompt``) -> masked cross-attention of each object's tokens to its own
    local prompt (``use_local_prompts``, zero-initialised output) -> MLP.
    """

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

    def forward(
        self,
        x: torch.Tensor,  # (B, N, D) tokens, N = L * T in (object, frame) order
        temb: torch.Tensor,  # (B, D) flow-time embedding
        token_mask: torch.Tensor,  # (B, N) bool: tokens of real objects
        context: torch.Tensor,  # (B, n + M, D) motion prompt at the model width, null tokens first
        context_mask: torch.Tensor,  # (B, n + M) bool
        membership: torch.Tensor,  # (B, N, L) bool: token i belongs to object slot l + 1
        local_states: torch.Tensor,  # (B, Ml, Dt) local prompts
        local_ids: torch.Tensor,  # (B, Ml) long: owner slot 1..L, 0 = padding
    ) -> torch.Tensor:  # (B, N, D)
        s1, c1, g1, s2, c2, g2 = self.ada(temb).chunk(6, dim=-1)  # (B, D) each
        x = x + g1[:, None] * self.attn(modulate(self.norm1(x), s1, c1), key_mask=token_mask)
        if self.cross is not None:
            x = x + self.cross(self.norm2(x), context, context_mask)
        if self.local is not None:
            x = self.local(x, membership, local_states, local_ids)  # residual inside the layer
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
        self.sentence = (
            nn.Sequential(nn.Linear(cfg.text_dim, d), nn.SiLU(), nn.Linear(d, d))
            if cfg.use_sentence and cfg.use_local_prompts else None
        )
        self.null_feat = nn.Parameter(torch.zeros(d))  # stands in for dropped features
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
            if isinstance(m, nn.Linear) and ".local" not in name:  # the local layers initialise themselves
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for block in self.blocks:  # adaLN-Zero: every block starts as the identity
            nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(block.ada[-1].bias)
        zero_init = [self.ada_out[-1], self.out]
        if self.sentence is not None:  # added to trained weights, the model starts as the saved one
            zero_init.append(self.sentence[-1])
        for m in zero_init:
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def normalise(self, motion: torch.Tensor) -> torch.Tensor:
        """Raw (…, 5) motion (dx/W, dy/H, log sx, log sy, angle rad) -> model units."""
        return motion / motion.new_tensor(self.cfg.motion_scale)

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * x.new_tensor(self.cfg.motion_scale)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: MotionConditions) -> torch.Tensor:
        """Predict the flow velocity.

        Args:
            x: noisy normalised motion (B, L, T, 5).
            t: flow time (B,) in [0, 1].
            cond: the objects' first-frame features and the prompts (`MotionConditions`).
        Returns:
            (B, L, T, 5) velocity.
        """
        b, n_obj, n_frames, c = x.shape
        if n_frames != self.cfg.frames or c != self.cfg.motion_channels:
            raise ValueError(f"x must be (B, L, {self.cfg.frames}, {self.cfg.motion_channels}), got {tuple(x.shape)}")
        feat = self.feat_proj(cond.features)  # (B, L, D)
        if cond.keep_visual is not None:
            keep = cond.keep_visual.to(feat.dtype)[:, None, None]  # (B, 1, 1)
            feat = feat * keep + self.null_feat * (1 - keep)
        if self.sentence is not None and cond.local_ids is not None:
            # An object without local tokens (none given, or dropped for guidance) reads the
            # zero vector, which the layer learns as its "no prompt" input.
            feat = feat + self.sentence(object_sentences(cond.local_states, cond.local_ids, n_obj))
        h = self.in_proj(x) + self.frame_pos[None, None] + feat[:, :, None]  # (B, L, T, D)
        h = h.reshape(b, n_obj * n_frames, -1)  # (B, N, D), token order (object, frame)
        token_mask = cond.object_mask[:, :, None].expand(b, n_obj, n_frames).reshape(b, -1)  # (B, N)
        membership = _slot_membership(token_mask, n_obj, n_frames)  # (B, N, L)
        local_states, local_ids = cond.local_states, cond.local_ids
        if local_states is None:  # one padding token: the local layers then add nothing
            local_states = cond.text_states.new_zeros(b, 1, self.cfg.text_dim)
            local_ids = torch.zeros(b, 1, dtype=torch.long, device=x.device)
        temb = self.time(t)  # (B, D)
        context, context_mask = self.text(cond.text_states, cond.text_mask)  # (B, n + M, D), (B, n + M)
        for block in self.blocks:
            h = block(h, temb, token_mask, context, context_mask, membership, local_states, local_ids)
        shift, scale = self.ada_out(temb).chunk(2, dim=-1)  # (B, D) each
        out = self.out(modulate(self.norm_out(h), shift, scale))  # (B, N, 5)
        return out.view(b, n_obj, n_frames, c)


def object_sentences(local_states: torch.Tensor, local_ids: torch.Tensor, n_obj: int) -> torch.Tensor:
    """Each object's sentence embedding: the mean of its local prompt's token states,
    L2-normalised; zero for an object with no tokens.

    local_states (B, Ml, Dt), local_ids (B, Ml) owner slot 1..L (0 = padding) -> (B, L, Dt).
    """
    slots = torch.arange(1, n_obj + 1, device=local_ids.device)
    owner = (local_ids[..., None] == slots).to(local_states.dtype)  # (B, Ml, L)
    sums = torch.einsum("bml,bmd->bld", owner, local_states)  # (B, L, Dt)
    counts = owner.sum(dim=1)[..., None]  # (B, L, 1)
    return nn.functional.normalize(sums / counts.clamp(min=1), dim=-1)


def _slot_membership(token_mask: torch.Tensor, n_obj: int, n_frames: int) -> torch.Tensor:
    """(B, N) real-token mask -> (B, N, L) bool: token (l, f) belongs to object slot l + 1
    (and to none when its object is padding), as masked cross-attention reads groups."""
    b = token_mask.shape[0]
    slot = torch.arange(1, n_obj + 1, device=token_mask.device)
    same = (slot[None, :, None] == slot[None, None, :]).expand(b, n_obj, n_obj)  # (B, L, L)
    same = same[:, :, None].expand(b, n_obj, n_frames, n_obj).reshape(b, -1, n_obj)  # (B, N, L)
    return same & token_mask[..., None]
