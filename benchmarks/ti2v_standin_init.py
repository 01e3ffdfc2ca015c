"""The starting weights of the sprites TI2V stand-in (docs/benchmark.md, dual-clock).

A first-frame-plus-text model (variant ``ti2v``) trained from scratch samples noise at
the ablation's 800 steps. This one starts from the bundled default's stage 2 instead:
the same network with the trajectory and warp-preview input channels cut out of the
patch embedding and the conv head, the head conditioning (which reads the trajectory)
dropped, and the output made a residual over the first frame instead of the warp
preview. The result sees only the first frame and the prompts, like any public
image-to-video backbone, and has to learn the motion from the words.

    python benchmarks/ti2v_standin_init.py runs/dualclock/ti2v-init
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from maskmotion.models.io import load_model, save_model
from maskmotion.models.video_dit import VideoDiT
from maskmotion.weights import resolve_model_folder

KEEP = ["first_frame"]


def standin_from_default(default: VideoDiT) -> VideoDiT:
    """A first-frame-only copy of ``default``: input channels of the other conditions removed."""
    cfg = default.cfg
    fields = {**cfg.to_dict(), "cond_names": KEEP, "cond_channels": 3 * len(KEEP), "output_base": "first_frame",
              "head_condition": False, "colour_transform": False, "masked_self": False, "masked_cross": False}
    model = VideoDiT(type(cfg)(**fields))
    # Input channels of the default: [noisy video 3 | conditions 3 each | flag 1].
    keep = list(range(3))
    for name in KEEP:
        i = cfg.cond_names.index(name)
        keep += [3 + 3 * i + c for c in range(3)]
    keep.append(3 + cfg.cond_channels)
    keep_t = torch.tensor(keep)
    state = {k: v for k, v in default.state_dict().items() if not k.startswith("head_condition.")}
    patch = int(torch.tensor(cfg.patch_size).prod())
    w = state["patch_embed.weight"]  # (D, Cin*pt*ph*pw), channel-major
    state["patch_embed.weight"] = w.unflatten(1, (-1, patch))[:, keep_t].flatten(1)
    feat = cfg.head_channels
    w = state["conv_head.0.weight"]  # (Ch, F + Cin, 3, 3)
    state["conv_head.0.weight"] = torch.cat([w[:, :feat], w[:, feat:][:, keep_t]], dim=1)
    model.load_state_dict(state, strict=True)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="model folder to write (use as init_from)")
    args = parser.parse_args()
    default = load_model(resolve_model_folder("default", "video"))
    save_model(standin_from_default(default), args.out, extra={"task": "stage2", "source": "bundled default, cut"})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
