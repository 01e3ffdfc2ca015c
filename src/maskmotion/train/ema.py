"""An fp32 exponential moving average of a model's weights.

Kept outside the model (a name -> tensor dict) so it never enters the optimizer, DDP or
autocast, and so it saves as one safetensors file. It lives on the main process only:
under DDP every rank holds the same weights, so one average is enough.
"""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float, start_step: int = 0) -> None:
        self.decay = decay
        self.start_step = start_step
        live = model.state_dict()
        self.shadow: dict[str, torch.Tensor] = {
            name: t.detach().float().clone() if t.is_floating_point() else t.detach().clone()
            for name, t in live.items()
        }
        # state_dict() tensors share storage with the parameters and buffers, and the
        # optimizer updates those in place, so these references stay current.
        names = [n for n, t in live.items() if t.is_floating_point()]
        self._float_pairs = ([self.shadow[n] for n in names], [live[n] for n in names])
        self._other_pairs = [(self.shadow[n], live[n]) for n in live if n not in set(names)]

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after optimizer step ``step`` (1-based)."""
        shadow, live = self._float_pairs
        live = [t.float() for t in live]  # no copy for fp32 weights
        if step <= self.start_step:
            torch._foreach_copy_(shadow, live)
        else:
            # shadow += (1 - decay) * (live - shadow)
            torch._foreach_lerp_(shadow, live, 1.0 - self.decay)
        for dst, src in self._other_pairs:
            dst.copy_(src)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = sorted(set(self.shadow) - set(state))
        unexpected = sorted(set(state) - set(self.shadow))
        if missing or unexpected:
            raise KeyError(
                f"EMA keys differ from the model: missing {missing}, unexpected {unexpected}"
            )
        for name, t in state.items():
            self.shadow[name].copy_(t)

    def copy_to(self, model: nn.Module) -> None:
        """Load the averaged weights into ``model`` (cast to its dtypes)."""
        model.load_state_dict(self.shadow, strict=True)
