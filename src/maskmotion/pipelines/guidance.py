"""Two-condition guidance around any x0 predictor: one batched call of up to three."""

from __future__ import annotations

from typing import Callable

import torch

from ..models.flow_matching import combine_guidance

# predict(x_t, t, visual (B,) bool, text (B,) bool) -> x0 (B, ...)
Predictor = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def guided(predict: Predictor, visual_scale: float, text_scale: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """x0 predictor with InstructPix2Pix guidance over (visual, text).

    Scales of 1 need only the fully conditioned pass; a text scale alone needs two.
    """

    def run(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        on = torch.ones(b, dtype=torch.bool, device=x.device)
        off = ~on
        if visual_scale == 1.0 and text_scale == 1.0:
            return predict(x, t, on, on)
        if visual_scale == 1.0:
            # x(I,∅) + s_T (x(I,T) − x(I,∅)): the unconditional pass cancels out.
            both = predict(torch.cat([x, x]), torch.cat([t, t]), torch.cat([on, on]), torch.cat([off, on]))
            vis_only, full = both.chunk(2)
            return vis_only + text_scale * (full - vis_only)
        three = predict(
            torch.cat([x, x, x]), torch.cat([t, t, t]), torch.cat([off, on, on]), torch.cat([off, off, on])
        )
        uncond, vis_only, full = three.chunk(3)
        return combine_guidance(uncond, vis_only, full, visual_scale, text_scale)

    return run
