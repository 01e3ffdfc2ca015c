"""`--latents WEIGHTS`: each sample also stores what backbone-stage1/2 train on (VAE
latents and text states, `scene_latents`), computed from the sample as training would
read it (its decoded video), so a training run never loads the VAE or text encoder."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from ..data.video import decode_sample
from ..errors import InputError


@lru_cache(maxsize=2)
def _encoders(weights: str, device: str) -> Any:
    """The folder's VAE, text encoder and tokenizer, loaded once per process."""
    import torch

    from ..pipelines.backbone import BackboneTTM  # on use: diffusers costs seconds to import

    if not (Path(weights) / "vae").is_dir():
        raise InputError(f"--latents {weights} is not a backbone weights folder (no vae/); give the folder training uses")
    return BackboneTTM.from_pretrained(weights, device=device, dtype=torch.float32, stages=())


def latents_meta(weights: str, dtype: str, device: str) -> dict[str, Any]:
    """The sample JSON's ``latents`` entry: the key a training task must match."""
    from ..pipelines.backbone_latents import latents_key

    enc = _encoders(weights, device)
    return {"key": latents_key(weights, enc.kind.name, enc.config.text_max_length, dtype), "dtype": dtype}


def add_latents(sample: dict[str, Any], weights: str, dtype: str, device: str) -> dict[str, Any]:
    """``sample`` (WebDataset members) with ``stage1.safetensors``, ``stage2.safetensors``
    and ``empty.safetensors`` (the empty prompt's states)."""
    from safetensors.torch import save

    from ..pipelines.backbone_latents import scene_latents

    enc = _encoders(weights, device)
    size = (enc.config.frames, enc.config.height, enc.config.width)
    decoded = decode_sample(sample, sample["__key__"])
    if decoded.ids.shape != size:
        raise InputError(
            f"--latents {weights} is for {'x'.join(map(str, size))} clips (frames x height x width) and the samples are "
            f"{'x'.join(map(str, decoded.ids.shape))}; prepare with --frames {size[0]} --height {size[1]} --width {size[2]}"
        )
    out = dict(sample)
    for stage in (1, 2):
        out[f"stage{stage}.safetensors"] = save(scene_latents(enc, decoded, stage, dtype))
    out["empty.safetensors"] = _empty_text(weights, device)
    return out


@lru_cache(maxsize=2)
def _empty_text(weights: str, device: str) -> bytes:
    """The empty prompt's states (the dropped-text condition), float32, as stored bytes."""
    from safetensors.torch import save

    from ..pipelines.backbone_latents import trim_text

    enc = _encoders(weights, device)
    states, tokens = enc.encode_text([""])
    return save({"text": trim_text(enc.kind.name, states[0], tokens[0]).contiguous()})
