"""A small video DiT with TTM conditioning (MovieGen / Wan style).

Self-attention over every token of the clip, cross-attention to the prompt, adaLN time
conditioning, flow matching. Conditions are concatenated with the noisy video along
channels. The first K blocks gain the two extra layers of docs/method.md (masked self-attention
and masked cross-attention to the local prompts), residual with zero-initialised output
projections.

The network predicts the clean sample x0 (a token carries more values than the width,
where velocity prediction fails; see docs/design.md); `output_base` optionally makes that a
residual over one of the conditions (e.g. the warp preview).

Everything the model is conditioned on travels as one `VideoConditions`. Our extension
of the output head (`HeadCondition`: per-object FiLM and colour transform from the local
prompts) is one optional sub-module, ``self.head_condition``, None in the paper's form.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from ..attention import BatchTokenGroups, MaskedCrossAttention, MaskedSelfAttention, TokenGrid, build_token_groups
from .common import Attention, config_from_dict, Mlp, TextContext, TimestepEmbedder, modulate, sincos_3d
from .head_condition import HeadCondition, HeadModulation


@dataclass
class VideoDiTConfig:
    """Everything that defines a `VideoDiT`; saved beside its weights.

    Attributes:
        frames, height, width: clip size in pixels.
        out_channels: channels of the generated video (3: RGB or a colour-mask render).
        cond_channels: channels of the concatenated visual conditions.
        cond_names: a name per 3-channel condition image, in order (documentation and
            `output_base` lookup), e.g. ["first_frame", "trajectory", "warp"].
        patch_size: (pt, ph, pw) pixels per token.
        dim, depth, num_heads, mlp_ratio: transformer size.
        text_dim: width of the prompt token states (all-MiniLM-L6-v2: 384).
        masked_blocks: K; the first K blocks gain masked self- and cross-attention.
        masked_self, masked_cross: False keeps that extra layer but unmasked, so
            ablations stay parameter-matched (and TI2V is masked_blocks=K with both False).
        cross_region: "box" or "pixel" regions for masked cross-attention.
        head: "linear" (unpatchify) or "conv" (unpatchify to features, then two 3x3
            convolutions that also see the full-resolution conditions: no block artefacts).
        head_channels: feature channels of the conv head.
        output_base: name of a condition image the prediction is a residual over, or "".
        head_condition: the conv head's hidden layer also gets a shift from the flow time
            and, on each object's pixels, a scale and a shift from that object's local
            prompt and the frame (`HeadCondition`; an extension: short paths for what the
            words say about an object's look). Needs the trajectory's pixel ids in `forward`.
        colour_transform: with head_condition and an output base, each object's words
            also set a per-frame affine change of the base's colours on its pixels
            (base * s + b per RGB channel; `HeadCondition`'s colour path): the warp moves
            the pixels, the words can re-colour them.
    """

    frames: int = 16
    height: int = 64
    width: int = 64
    out_channels: int = 3
    cond_channels: int = 9
    cond_names: list[str] = field(default_factory=lambda: ["first_frame", "trajectory", "warp"])
    patch_size: tuple[int, int, int] = (2, 8, 8)
    dim: int = 192
    depth: int = 6
    num_heads: int = 6
    mlp_ratio: float = 4.0
    text_dim: int = 384
    masked_blocks: int = 2
    masked_self: bool = True
    masked_cross: bool = True
    cross_region: str = "box"
    head: str = "conv"
    head_channels: int = 32
    output_base: str = "warp"
    head_condition: bool = False
    colour_transform: bool = False

    # Fields whose True value only adds zero-initialised modules (under these prefixes):
    # weights saved without them still load, and the model starts as the one saved.
    EXTENSIONS = {"head_condition": "head_condition.", "colour_transform": "head_condition.colour."}

    def __post_init__(self) -> None:
        self.patch_size = tuple(int(p) for p in self.patch_size)  # JSON gives lists
        pt, ph, pw = self.patch_size
        if self.frames % pt or self.height % ph or self.width % pw:
            raise ValueError(
                f"clip {self.frames}x{self.height}x{self.width} is not divisible by patch size {self.patch_size}"
            )
        if not 0 <= self.masked_blocks <= self.depth:
            raise ValueError(f"masked_blocks must lie in 0..depth ({self.depth}), got {self.masked_blocks}")
        if self.cond_channels != 3 * len(self.cond_names):
            raise ValueError(f"cond_channels ({self.cond_channels}) must be 3 per name in cond_names {self.cond_names}")
        if self.output_base and self.output_base not in self.cond_names:
            raise ValueError(f"output_base {self.output_base!r} is not one of cond_names {self.cond_names}")
        if self.head not in ("linear", "conv"):
            raise ValueError(f"head must be 'linear' or 'conv', got {self.head!r}")
        if self.head_condition and self.head != "conv":
            raise ValueError("head_condition needs head = 'conv'")
        if self.colour_transform and not (self.head_condition and self.output_base):
            raise ValueError("colour_transform needs head_condition = true and an output_base (e.g. 'warp')")
        if self.cross_region not in ("box", "pixel"):
            raise ValueError(f"cross_region must be 'box' or 'pixel', got {self.cross_region!r}")

    @property
    def needs_ids(self) -> bool:
        """Whether `forward` needs the trajectory's pixel ids."""
        return self.head_condition

    @property
    def needs_groups(self) -> bool:
        """Whether any layer is masked (unmasked baselines need no trajectory groups)."""
        return self.masked_blocks > 0 and (self.masked_self or self.masked_cross)

    @property
    def token_grid(self) -> TokenGrid:
        return TokenGrid(patch_size=self.patch_size)

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        pt, ph, pw = self.patch_size
        return self.frames // pt, self.height // ph, self.width // pw

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["patch_size"] = list(self.patch_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "VideoDiTConfig":
        return config_from_dict(cls, d)


@dataclass
class VideoConditions:
    """What stage 2 renders a clip from: B samples of T frames of H x W pixels.

    Only the first three are always needed; the rest depend on the model's config
    (``needs_groups``, ``needs_ids``) or are optional. The condition images are 3
    channels each in the config's ``cond_names`` order, one-frame images (the first
    frame) repeated over T.
    """

    images: torch.Tensor  # (B, Cc, T, H, W) float in [-1, 1]: the condition images, Cc = 3 * len(cond_names)
    text_states: torch.Tensor  # (B, M, Dt) float: the prompt's token states
    text_mask: torch.Tensor  # (B, M) bool: real prompt tokens
    groups: BatchTokenGroups | None = None  # the trajectory's token groups at the model's grid (masked layers)
    local_states: torch.Tensor | None = None  # (B, Ml, Dt) float: every object's local prompt, concatenated
    local_ids: torch.Tensor | None = None  # (B, Ml) long: each local token's object id, 0 = padding
    trajectory_ids: torch.Tensor | None = None  # (B, T, H, W) int: the trajectory's pixel object ids (head_condition)
    keep_visual: torch.Tensor | None = None  # (B,) bool: False drops the visual conditions (guidance, dropout)

    def repeat(self, reps: int) -> "VideoConditions":
        """The batch ``reps`` times over, (B, ...) -> (reps*B, ...), for batched guidance passes."""

        def rep(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x.repeat(reps, *([1] * (x.ndim - 1)))

        return VideoConditions(
            images=rep(self.images),
            text_states=rep(self.text_states),
            text_mask=rep(self.text_mask),
            groups=None if self.groups is None else self.groups.repeat(reps),
            local_states=rep(self.local_states),
            local_ids=rep(self.local_ids),
            trajectory_ids=rep(self.trajectory_ids),
            keep_visual=rep(self.keep_visual),
        )

    def dropped(self, visual: torch.Tensor, text: torch.Tensor) -> "VideoConditions":
        """These conditions with the visual ones (images and trajectory ids) kept where
        ``visual`` (B,) and every prompt (global and local) kept where ``text`` (B,)."""
        return dataclasses.replace(
            self,
            text_mask=self.text_mask & text[:, None],
            local_ids=None if self.local_ids is None else self.local_ids * text[:, None],
            keep_visual=visual,
        )


class VideoDiTBlock(nn.Module):
    """One block, adaLN-Zero modulated by the flow time:

    self-attention over every token of the clip -> [masked self-attention within each
    object's tokens] -> cross-attention to the prompt -> [masked cross-attention of each
    object's tokens to its local prompt] -> MLP. The bracketed layers (docs/method.md) exist in
    the first ``masked_blocks`` blocks only; they are residual with zero-initialised
    output projections.
    """

    def __init__(self, cfg: VideoDiTConfig, with_masked_layers: bool) -> None:
        super().__init__()
        d = cfg.dim
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, cfg.num_heads)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.cross = Attention(d, cfg.num_heads)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d, cfg.mlp_ratio)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        self.masked_self = self.masked_cross = None
        if with_masked_layers:
            self.masked_self = MaskedSelfAttention(d, cfg.num_heads, masked=cfg.masked_self)
            self.masked_cross = MaskedCrossAttention(d, cfg.text_dim, cfg.num_heads, masked=cfg.masked_cross)

    def forward(
        self,
        x: torch.Tensor,  # (B, N, D) video tokens in (t, h, w) order
        temb: torch.Tensor,  # (B, D) flow-time embedding
        context: torch.Tensor,  # (B, n + M, D) prompt at the model width, null tokens first
        context_mask: torch.Tensor,  # (B, n + M) bool
        groups: BatchTokenGroups | None,  # the trajectory's token groups (masked layers)
        local_states: torch.Tensor | None,  # (B, Ml, Dt) local prompts
        local_ids: torch.Tensor | None,  # (B, Ml) long: owner object id, 0 = padding
    ) -> torch.Tensor:  # (B, N, D)
        s1, c1, g1, s2, c2, g2 = self.ada(temb).chunk(6, dim=-1)  # (B, D) each
        x = x + g1[:, None] * self.attn(modulate(self.norm1(x), s1, c1))
        if self.masked_self is not None:
            x = self.masked_self(x, groups)  # residual inside the layer
        x = x + self.cross(self.norm2(x), context, context_mask)
        if self.masked_cross is not None:
            x = self.masked_cross(x, groups, local_states, local_ids)  # residual inside the layer
        return x + g2[:, None] * self.mlp(modulate(self.norm3(x), s2, c2))


class VideoDiT(nn.Module):
    """x0-predicting video DiT: (noisy video, t, `VideoConditions`) -> clean video."""

    def __init__(self, cfg: VideoDiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        pt, ph, pw = cfg.patch_size
        in_ch = cfg.out_channels + cfg.cond_channels + 1  # + the "conditions present" flag
        # Non-overlapping patches: a reshape and a linear layer (faster than Conv3d on CPU).
        self.patch_embed = nn.Linear(in_ch * pt * ph * pw, cfg.dim)
        self.register_buffer("pos", sincos_3d(*cfg.grid_shape, cfg.dim), persistent=False)  # (N, D)
        self.time = TimestepEmbedder(cfg.dim)
        self.text = TextContext(cfg.text_dim, cfg.dim)
        self.blocks = nn.ModuleList(VideoDiTBlock(cfg, i < cfg.masked_blocks) for i in range(cfg.depth))
        self.norm_out = nn.LayerNorm(cfg.dim, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(cfg.dim, 2 * cfg.dim))
        feat = cfg.head_channels if cfg.head == "conv" else cfg.out_channels
        self.proj_out = nn.Linear(cfg.dim, pt * ph * pw * feat)
        if cfg.head == "conv":
            # Per-frame 3x3 convolutions over [token features | conditions | noisy input].
            self.conv_head = nn.Sequential(
                nn.Conv2d(feat + in_ch, cfg.head_channels, 3, padding=1),
                nn.SiLU(),
                nn.Conv2d(cfg.head_channels, cfg.out_channels, 3, padding=1),
            )
        # Our extension of the head (None in the paper's form); see `HeadCondition`.
        self.head_condition = (
            HeadCondition(cfg.dim, cfg.text_dim, cfg.head_channels, cfg.frames, colour=cfg.colour_transform)
            if cfg.head_condition
            else None
        )
        self._init_weights()

    def _init_weights(self) -> None:
        for name, m in self.named_modules():
            if "masked_" in name:
                continue  # the masked layers initialise themselves (zero output)
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for block in self.blocks:  # adaLN-Zero: every block starts as the identity
            nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(block.ada[-1].bias)
        nn.init.zeros_(self.ada_out[-1].weight)
        nn.init.zeros_(self.ada_out[-1].bias)
        last = self.conv_head[-1] if self.cfg.head == "conv" else self.proj_out
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        if self.head_condition is not None:
            self.head_condition.zero_init()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def token_groups(self, ids: torch.Tensor | list, num_objects: list[int] | None = None) -> BatchTokenGroups:
        """Token groups for a batch of trajectories' ids (each (T, H, W)) at this model's grid."""
        samples = [
            build_token_groups(
                ids[i], self.cfg.token_grid, None if num_objects is None else num_objects[i], self.cfg.cross_region
            )
            for i in range(len(ids))
        ]
        return BatchTokenGroups.from_samples(samples)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: VideoConditions) -> torch.Tensor:
        """Predict the clean video.

        Args:
            x: noisy video (B, C, T, H, W) in [-1, 1] scale.
            t: flow time (B,) in [0, 1].
            cond: the condition images, prompts and trajectory (`VideoConditions`).
        Returns:
            (B, C, T, H, W) predicted clean video.
        """
        cfg = self.cfg
        b = x.shape[0]
        self._check(x, cond)
        # Visual conditions, zeroed where dropped, concatenated with the noisy video along
        # channels with a flag channel that says whether they are present.
        keep = torch.ones(b, dtype=x.dtype, device=x.device) if cond.keep_visual is None else cond.keep_visual.to(x.dtype)
        images = cond.images * keep[:, None, None, None, None]  # (B, Cc, T, H, W)
        flag = keep[:, None, None, None, None].expand(b, 1, *x.shape[2:])  # (B, 1, T, H, W)
        inp = torch.cat([x, images, flag], dim=1)  # (B, C + Cc + 1, T, H, W)

        h = self.patch_embed(self._patchify(inp)) + self.pos  # (B, N, D)
        temb = self.time(t)  # (B, D)
        context, context_mask = self.text(cond.text_states, cond.text_mask)  # (B, n + M, D), (B, n + M)
        local_states, local_ids = cond.local_states, cond.local_ids
        if local_states is None and (cfg.masked_blocks or cfg.head_condition):
            # One padding token: the local-prompt layers then add nothing.
            local_states = cond.text_states.new_zeros(b, 1, cfg.text_dim)
            local_ids = torch.zeros(b, 1, dtype=torch.long, device=x.device)
        for block in self.blocks:
            h = block(h, temb, context, context_mask, cond.groups, local_states, local_ids)

        shift, scale = self.ada_out(temb).chunk(2, dim=-1)  # (B, D) each
        h = self.proj_out(modulate(self.norm_out(h), shift, scale))  # (B, N, pt*ph*pw*F)
        out = self._unpatchify(h)  # (B, F, T, H, W)

        # Our extension: each object's words (and the flow time) modulate the head on that
        # object's pixels. No trajectory is shown where the visual conditions are dropped.
        mod = None
        if self.head_condition is not None:
            shown = cond.trajectory_ids.long() * keep.long()[:, None, None, None]  # (B, T, H, W)
            mod = self.head_condition(temb, shown, local_states, local_ids)

        if cfg.head == "conv":
            out = self._conv_head(out, inp, mod)  # (B, C, T, H, W)
        if cfg.output_base:
            i = cfg.cond_names.index(cfg.output_base)
            base = images[:, 3 * i : 3 * i + 3]  # (B, 3, T, H, W)
            if mod is not None and mod.colour is not None:  # extension: the words re-colour the base
                colour_scale, colour_shift = mod.base_colour(b)  # (B, 3, T, H, W) each
                out = out + base * colour_scale + colour_shift
            out = out + base
        return out

    def _check(self, x: torch.Tensor, cond: VideoConditions) -> None:
        cfg = self.cfg
        b = x.shape[0]
        if x.shape[1:] != (cfg.out_channels, cfg.frames, cfg.height, cfg.width):
            raise ValueError(
                f"x must be (B, {cfg.out_channels}, {cfg.frames}, {cfg.height}, {cfg.width}), got {tuple(x.shape)}"
            )
        if cond.images.shape != (b, cfg.cond_channels, *x.shape[2:]):
            raise ValueError(
                f"condition images must be (B, {cfg.cond_channels}, T, H, W) like x, got {tuple(cond.images.shape)}"
            )
        if cfg.needs_groups and cond.groups is None:
            raise ValueError("this model has masked layers: pass the token groups of the trajectory")
        ids = cond.trajectory_ids
        if cfg.needs_ids and (ids is None or ids.shape != (b, *x.shape[2:])):
            got = None if ids is None else tuple(ids.shape)
            raise ValueError(f"this model's head needs the trajectory's pixel ids (B, T, H, W) like x, got {got}")

    def _conv_head(self, feats: torch.Tensor, inp: torch.Tensor, mod: HeadModulation | None) -> torch.Tensor:
        """Per-frame 3x3 convolutions over [token features (B, F, T, H, W) | the model's
        input (B, C + Cc + 1, T, H, W)] -> (B, C, T, H, W); ``mod`` (the extension)
        modulates the hidden layer."""
        b, t = feats.shape[0], feats.shape[2]
        frames = torch.cat([feats, inp], dim=1).transpose(1, 2).flatten(0, 1)  # (B*T, F + Cin, H, W)
        hidden = self.conv_head[0](frames)  # (B*T, Ch, H, W)
        if mod is not None:
            hidden = mod.modulate(hidden)
        out = self.conv_head[2](self.conv_head[1](hidden))  # (B*T, C, H, W)
        return out.unflatten(0, (b, t)).transpose(1, 2)  # (B, C, T, H, W)

    def _patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, N, C*pt*ph*pw), tokens in (t, h, w) row-major order."""
        gt, gh, gw = self.cfg.grid_shape
        pt, ph, pw = self.cfg.patch_size
        b, c = x.shape[:2]
        x = x.view(b, c, gt, pt, gh, ph, gw, pw)
        x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # (B, gt, gh, gw, C, pt, ph, pw)
        return x.reshape(b, gt * gh * gw, c * pt * ph * pw)

    def _unpatchify(self, h: torch.Tensor) -> torch.Tensor:
        """(B, N, pt*ph*pw*F) -> (B, F, T, H, W), the inverse of `_patchify`."""
        gt, gh, gw = self.cfg.grid_shape
        pt, ph, pw = self.cfg.patch_size
        b = h.shape[0]
        h = h.view(b, gt, gh, gw, pt, ph, pw, -1)
        h = h.permute(0, 7, 1, 4, 2, 5, 3, 6)  # (B, F, gt, pt, gh, ph, gw, pw)
        return h.reshape(b, -1, gt * pt, gh * ph, gw * pw)
