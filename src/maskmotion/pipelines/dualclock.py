"""Dual-clock denoising: a crude motion preview turned into a video by a sampler that is
held to the preview for a while, longer inside the moving objects than outside.

Training-free (Time-to-Move, Singer et al., ICLR 2026): every region of the sample has
its own starting step. Before it, the sample there is replaced by the preview noised to
the current level, so the model sees the preview's layout and motion and its own
predictions there are discarded; from it on, the ordinary sampler runs. Objects start at
``t_strong`` (held to the preview longer: their motion is the point), the background at
``t_weak`` (released early, so the model can fix the preview's holes and seams).

Works on any sampler that exposes the level of each step: flow matching (sigma: x =
(1 - s) preview + s noise) or DDPM-type noise schedules (``scheduler.add_noise``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..attention import TokenGrid
from ..errors import InputError

__all__ = ["DualClockSettings", "DualClock", "dual_clock_defaults", "latent_object_mask", "flow_noised", "scheduler_noised"]


@dataclass(frozen=True)
class DualClockSettings:
    """When each region starts denoising, as step indices of the sampler's schedule
    (0 = from pure noise, i.e. no hold), and how strongly the local prompts steer.

    ``t_weak``: the background's starting step; ``t_strong``: the objects'.
    ``local_prompt_weight``: blend of masked cross-attention of the local prompts into the
    backbone's own cross-attention output (0 = off; 1 = each object's tokens read only
    its own prompt in the first blocks).
    """

    t_weak: int
    t_strong: int
    local_prompt_weight: float = 0.0

    def check(self, steps: int) -> None:
        """One line naming the problem and the fix for a bad combination."""
        if self.t_weak < 0 or self.t_strong < 0:
            raise InputError(f"--t-weak and --t-strong are step indices >= 0, got {self.t_weak} and {self.t_strong}")
        if self.t_strong < self.t_weak:
            raise InputError(
                f"--t-strong ({self.t_strong}) is before --t-weak ({self.t_weak}): objects are held to the preview "
                "at least as long as the background; give t_strong >= t_weak"
            )
        if self.t_strong >= steps:
            raise InputError(
                f"--t-strong ({self.t_strong}) must be below the number of steps ({steps}); lower it or raise --steps"
            )
        if not 0.0 <= self.local_prompt_weight <= 1.0:
            raise InputError(f"--local-prompt-weight must be in [0, 1], got {self.local_prompt_weight}")

    def record(self) -> dict[str, Any]:
        return asdict(self)


def dual_clock_defaults(
    backbone: str, steps: int | None, t_weak: int | None = None, t_strong: int | None = None,
    local_prompt_weight: float = 0.0,
) -> DualClockSettings:
    """The settings for ``backbone`` (an image-to-video kind), checked: the given starting
    steps, else the backbone's (published for its default step count) scaled to ``steps``."""
    # Lazy: the kinds module imports diffusers (seconds); the compact sampler never needs it.
    from ..adapters.kinds import get_i2v_kind

    kind = get_i2v_kind(backbone)
    steps = steps or kind.default_steps

    def scaled(step: int) -> int:
        return int(round(step * steps / kind.default_steps))

    weak = scaled(kind.default_t_weak) if t_weak is None else t_weak
    strong = max(weak, scaled(kind.default_t_strong)) if t_strong is None else t_strong
    settings = DualClockSettings(weak, strong, local_prompt_weight)
    settings.check(steps)
    if local_prompt_weight and not kind.cross_attention:
        raise InputError(
            f"{kind.name} has no separate text cross-attention (its text joins self-attention), so local prompts "
            "cannot be blended in; use --local-prompt-weight 0 or --backbone wan-i2v"
        )
    return settings


def latent_object_mask(ids: np.ndarray, grid: TokenGrid) -> np.ndarray:
    """The objects' region of a (T, H, W) id video on a VAE's latent grid: (t, h, w) bool,
    True where any object pixel falls into a latent cell over the frames it folds."""
    latent = TokenGrid(grid.temporal_compression, grid.causal_first_frame, grid.spatial_compression)
    return latent.cell_any(np.asarray(ids) > 0)


# noised(step, preview, noise) -> the preview at the level of the input of ``step``.
Noised = Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor]


def flow_noised(levels: torch.Tensor) -> Noised:
    """For a flow-matching schedule: ``levels[k]`` is the sigma (1 = noise) of step k's input."""

    def noised(step: int, preview: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        s = float(levels[step])
        return (1.0 - s) * preview + s * noise

    return noised


def scheduler_noised(scheduler: Any) -> Noised:
    """For a diffusers scheduler after ``set_timesteps``: flow-matching ones by their
    sigmas (as ``scale_noise``), the others by ``add_noise`` at the step's timestep."""
    sigmas = getattr(scheduler, "sigmas", None)
    if sigmas is not None and hasattr(scheduler, "scale_noise"):
        return flow_noised(sigmas)
    timesteps = scheduler.timesteps

    def noised(step: int, preview: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        t = timesteps[step : step + 1].to(preview.device)
        return scheduler.add_noise(preview, noise, t)

    return noised


class DualClock:
    """Replaces each region of a sample before its starting step (see the module docstring).

    Args:
        preview: clean latents of the motion preview, shaped like the sample.
        noise: the noise the preview is mixed with (the sampler's own starting noise, so
            at step 0 the held regions are exactly the sampler's start).
        objects: bool mask of the objects' region, broadcastable to the sample.
        settings: the starting steps.
        noised: the preview at a step's level (`flow_noised`, `scheduler_noised`).
    """

    def __init__(
        self, preview: torch.Tensor, noise: torch.Tensor, objects: torch.Tensor, settings: DualClockSettings,
        noised: Noised,
    ) -> None:  # fmt: skip
        if preview.shape != noise.shape:
            raise ValueError(f"preview {tuple(preview.shape)} and noise {tuple(noise.shape)} must match")
        self.preview, self.noise, self.noised = preview, noise, noised
        self.objects = objects.to(torch.bool).to(preview.device)
        self.settings = settings

    def held(self, step: int) -> torch.Tensor | None:
        """Where the input of ``step`` is the noised preview: bool like ``objects``, or None if nowhere."""
        s = self.settings
        if step < s.t_weak:
            return torch.ones_like(self.objects)
        if step < s.t_strong:
            return self.objects
        return None

    def __call__(self, step: int, x: torch.Tensor) -> torch.Tensor:
        """The input of ``step``: ``x`` with the held regions replaced."""
        held = self.held(step)
        if held is None or not bool(held.any()):
            return x
        target = self.noised(step, self.preview, self.noise).to(x.dtype)
        return torch.where(held, target, x)
