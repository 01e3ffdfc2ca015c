"""Building blocks shared by the DiTs: time embedding, adaLN modulation, attention, MLP."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn


C = TypeVar("C")


#: Ranges of the size fields a saved config may hold, checked before any layer is built
#: (a config.json asking for a width of a million must not allocate terabytes).
CONFIG_RANGES: dict[str, tuple[float, float]] = {
    "frames": (1, 1024),
    "height": (1, 4096),
    "width": (1, 4096),
    "dim": (1, 8192),
    "depth": (1, 256),
    "num_heads": (1, 256),
    "mlp_ratio": (0.25, 64),
    "text_dim": (1, 8192),
    "head_channels": (1, 4096),
    "masked_blocks": (0, 256),
    "motion_channels": (1, 64),
    "feature_dim": (1, 65536),
    "out_channels": (1, 64),
    "cond_channels": (1, 192),
}
#: Most parameters a config's transformer may have (about 12 x dim^2 per block).
MAX_CONFIG_PARAMS = 2_000_000_000
_MAX_LIST = 64


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build a config dataclass from saved JSON, naming unknown fields instead of a TypeError.

    Each field must have its default's JSON type (an integer where the default is one, a
    list of numbers where it is a list...) and lie in `CONFIG_RANGES`; a ValueError
    names the first that does not, before the dataclass or any model is built.
    """
    if not isinstance(data, dict):
        raise ValueError(f"the {cls.__name__} must be a JSON object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {[str(u)[:40] for u in unknown[:8]]}")
    for name, value in data.items():
        _check_config_value(name, value, _default_of(fields[name]))
    dim, depth = data.get("dim"), data.get("depth")
    if isinstance(dim, int) and isinstance(depth, int) and 12 * dim * dim * depth > MAX_CONFIG_PARAMS:
        raise ValueError(f"dim {dim} x depth {depth} is about {12 * dim * dim * depth:,} parameters, "
                         f"more than {MAX_CONFIG_PARAMS:,}")
    return cls(**data)


def _default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _check_config_value(name: str, value: Any, default: Any) -> None:
    def bad(kind: str) -> ValueError:
        return ValueError(f"field {name!r} must be {kind}, got {str(value)[:60]!r}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad("a number")
    elif isinstance(default, str):
        if not isinstance(value, str) or len(value) > 200:
            raise bad("a short string")
    elif isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) > _MAX_LIST:
            raise bad(f"a list of at most {_MAX_LIST} items")
        for item in value:
            kinds = (str,) if default and isinstance(default[0], str) else (int, float)
            if isinstance(item, bool) or not isinstance(item, kinds):
                raise bad("a list of " + ("strings" if kinds == (str,) else "numbers"))
            if not isinstance(item, str) and not (math.isfinite(item) and 0 < abs(item) <= 65536):
                raise bad("a list of positive sizes")
    if name in CONFIG_RANGES and isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = CONFIG_RANGES[name]
        if not low <= value <= high:
            raise ValueError(f"field {name!r} is {value}, outside {low:g}..{high:g}")


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal features of flow times t in [0, 1]: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    def __init__(self, dim: int, freq_dim: int = 128) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.freq_dim))  # (B, D)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: x (B, N, D), shift/scale (B, D)."""
    return x * (1 + scale[:, None]) + shift[:, None]


class Attention(nn.Module):
    """Multi-head attention; self-attention when ``context`` is None.

    ``key_mask`` (B, M) bool marks real keys; every query must have at least one.
    """

    def __init__(self, dim: int, num_heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(context_dim or dim, 2 * dim)
        self.norm_q = nn.RMSNorm(dim // num_heads, eps=1e-6)
        self.norm_k = nn.RMSNorm(dim // num_heads, eps=1e-6)
        self.to_out = nn.Linear(dim, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, -1).transpose(1, 2)  # (B, H, N, d)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, key_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        q = self.norm_q(self._heads(self.to_q(x)))  # (B, H, N, d)
        k, v = self.to_kv(x if context is None else context).chunk(2, dim=-1)
        k, v = self.norm_k(self._heads(k)), self._heads(v)  # (B, H, M, d)
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, M)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, N, d)
        return self.to_out(out.transpose(1, 2).flatten(2))  # (B, N, D)


class Mlp(nn.Module):
    def __init__(self, dim: int, ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TextContext(nn.Module):
    """Projects prompt token states to the model width and prepends learned null
    tokens, so every query always has a key (an empty or dropped prompt reads them)."""

    def __init__(self, text_dim: int, dim: int, num_null: int = 1) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(text_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.null = nn.Parameter(torch.randn(num_null, dim) * 0.02)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """states (B, M, Dt), mask (B, M) -> context (B, n + M, D), mask (B, n + M)."""
        b = states.shape[0]
        ctx = torch.cat([self.null.expand(b, -1, -1), self.proj(states)], dim=1)
        full = torch.cat([torch.ones(b, self.null.shape[0], dtype=torch.bool, device=mask.device), mask], dim=1)
        return ctx, full


def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """(N,) float positions -> (N, dim) fixed sin/cos features."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = positions.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


def sincos_3d(t: int, h: int, w: int, dim: int) -> torch.Tensor:
    """(t*h*w, dim) position features in (t, h, w) row-major token order.

    The width is split into three parts, a multiple of 2 each, for time, rows and columns.
    """
    d_t = (dim // 3) // 2 * 2
    d_h = (dim // 3) // 2 * 2
    d_w = dim - d_t - d_h
    gt, gh, gw = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.cat(
        [sincos_1d(gt.flatten(), d_t), sincos_1d(gh.flatten(), d_h), sincos_1d(gw.flatten(), d_w)], dim=-1
    )
