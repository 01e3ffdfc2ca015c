"""Start a TTM weights folder from a pretrained diffusers pipeline folder.

    ttm = backbone_from_base("models/Wan2.1-T2V-1.3B-Diffusers", "wan", frames=81, height=480, width=832)
    ttm.save_pretrained("weights/wan-ttm")       # untrained TTM layers: stage 1 and 2 = the base

The base folder is what a diffusers pipeline's ``save_pretrained`` writes: ``vae/``,
``text_encoder/``, ``tokenizer/``, ``scheduler/`` and ``transformer/`` (Wan) or ``unet/``
(AnimateDiff: a `UNetMotionModel`, or SD 1.5's `UNet2DConditionModel` plus a motion
adapter folder). Both stages start as the base model with the input widened for two
condition latents (zero weights); stage 2 also gains masked layers (zero output
projections), so at step 0 both equal the base model on its own channels.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from ..adapters import TTMModel
from ..errors import InputError
from .backbone import BackboneConfig, BackboneTTM
from ..adapters.kinds import BackboneKind, _strict, get_kind

__all__ = ["adapt_stages", "backbone_from_base"]


def adapt_stages(
    kind: BackboneKind, base_model: Any, latent_channels: int, masked_blocks: int | None = None, **options: Any
) -> tuple[TTMModel, TTMModel]:
    """(stage 1, stage 2) from one base model: stage 1 widened only, stage 2 with masked
    layers in its first ``masked_blocks`` blocks (default: the adapter's)."""
    motion = kind.adapt(copy.deepcopy(base_model), latent_channels, 0)
    video = kind.adapt(base_model, latent_channels, masked_blocks, **options)
    return motion, video


def backbone_from_base(
    base: str | os.PathLike,
    backbone: str,
    motion_adapter: str | os.PathLike | None = None,
    masked_blocks: int | None = None,
    masked_self: bool = True,
    masked_cross: bool = True,
    **config: Any,
) -> BackboneTTM:
    """A `BackboneTTM` (float32, CPU) from a pretrained diffusers pipeline folder.

    Args:
        base: the pipeline folder (see the module docstring).
        backbone: "wan" or "animatediff".
        motion_adapter: AnimateDiff only, when ``base/unet`` is an image U-Net.
        masked_blocks, masked_self, masked_cross: stage 2's masked layers.
        config: `BackboneConfig` fields (frames, height, width, ...); default the kind's.
    """
    kind = get_kind(backbone)
    base = Path(base)
    if not base.is_dir():
        raise InputError(f"base folder {base} does not exist; give a local diffusers pipeline folder")
    missing = [n for n in ("vae", "text_encoder", "tokenizer") if not (base / n).is_dir()]
    if missing:
        raise InputError(f"{base} lacks {', '.join(m + '/' for m in missing)}: not a diffusers {backbone} pipeline folder")
    classes = kind.component_classes()
    vae = _strict(classes["vae"], base / "vae")
    text_encoder = _strict(classes["text_encoder"], base / "text_encoder")
    tokenizer = AutoTokenizer.from_pretrained(str(base / "tokenizer"), local_files_only=True)
    scheduler = kind.base_scheduler(base)
    base_model = kind.load_base_model(base, motion_adapter)
    motion, video = adapt_stages(
        kind, base_model, kind.latent_channels(vae.config), masked_blocks, masked_self=masked_self, masked_cross=masked_cross
    )
    positions = getattr(text_encoder.config, "max_position_embeddings", None)
    if positions is not None and config.get("text_max_length") is None:
        # CLIP has learned positions (SD 1.5: 77); umT5's are relative, Wan pads to 512.
        config["text_max_length"] = min(kind.text_max_length, positions)
    return BackboneTTM(BackboneConfig.for_kind(backbone, **config), vae, text_encoder, tokenizer, scheduler, motion, video)
