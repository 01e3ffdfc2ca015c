"""Flow matching: the interpolation path, the Euler sampler, and two-condition guidance.

Convention (rectified flow): x_t = (1 - t) x0 + t * noise, t = 1 is pure noise, and the
velocity is v = noise - x0. Models may predict x0 or v; the sampler works with x0.

The generative "flow" of both stages; the optical-flow trajectory (a stage-2 condition)
is `render.flow`.
"""

from __future__ import annotations

from typing import Callable

import torch


def interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t for times t (B,) broadcast over the remaining axes."""
    t = t.view(-1, *([1] * (x0.ndim - 1)))
    return (1 - t) * x0 + t * noise


def x0_from_velocity(x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return x_t - t.view(-1, *([1] * (x_t.ndim - 1))) * v


def sample_times(batch: int, generator: torch.Generator, device=None, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """Training times from a logit-normal (SD3): most weight on mid-noise levels."""
    z = torch.randn(batch, generator=generator) * std + mean
    return torch.sigmoid(z).clamp(1e-4, 1 - 1e-4).to(device)


def time_grid(steps: int, shift: float = 1.0) -> torch.Tensor:
    """Times from 1 to 0 in ``steps`` Euler steps; shift > 1 spends more steps at high noise."""
    if steps < 1:
        raise ValueError(f"num_inference_steps must be at least 1, got {steps}")
    t = torch.linspace(1.0, 0.0, steps + 1)
    return shift * t / (1 + (shift - 1) * t)


def combine_guidance(
    uncond: torch.Tensor, visual_only: torch.Tensor, full: torch.Tensor, visual_scale: float, text_scale: float
) -> torch.Tensor:
    """Two-condition guidance (InstructPix2Pix) on x0 predictions:
    x = x(∅,∅) + s_I (x(I,∅) − x(∅,∅)) + s_T (x(I,T) − x(I,∅))."""
    return uncond + visual_scale * (visual_only - uncond) + text_scale * (full - visual_only)


@torch.no_grad()
def euler_sample(
    predict_x0: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    noise: torch.Tensor,
    steps: int,
    shift: float = 1.0,
    callback: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
    before_step: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Integrate the flow ODE from noise (t = 1) to data (t = 0) with first-order Euler.

    ``predict_x0(x_t, t)`` takes the batch and its times (B,); ``callback(i, t, x)`` runs
    after each step; ``before_step(i, x)`` may replace step i's input (dual-clock
    denoising holds regions to a preview this way; the times are `time_grid`'s). The last
    step lands exactly on the final x0 prediction.
    """
    grid = time_grid(steps, shift).to(noise.device)
    x = noise
    for i in range(steps):
        if before_step is not None:
            x = before_step(i, x)
        t, t_next = grid[i], grid[i + 1]
        tb = t.expand(x.shape[0])
        x0 = predict_x0(x, tb)
        if t_next <= 0:
            x = x0
        else:
            v = (x - x0) / t
            x = x + (t_next - t) * v
        if callback is not None:
            callback(i, t_next, x)
    return x
