"""What `backbone-stage1` / `backbone-stage2` train on, computed from a clip: the VAE
latents of its first frame, condition and target, and its prompts' text states.

One function for both places that compute them: the training task (on a cache miss)
and `maskmotion prepare --latents WEIGHTS` (stored in the shards, so a GPU run reads
them instead of loading the VAE and text encoder). `latents_key` names everything they
depend on; a task uses stored tensors only under the same key.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..trajectory import PALETTE

#: Changes when the tensors' layout does (stored tensors of another version are ignored).
LATENTS_VERSION = 1
DTYPES = ("float32", "bfloat16", "float16")


def folder_fingerprint(folder: Path) -> list[Any]:
    """Names, sizes and head/tail hashes of a folder's files: changes when the weights do,
    cheap even for multi-GB files, and the same for a copy of the folder."""
    out: list[Any] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest = hashlib.sha1()
        with open(path, "rb") as f:
            digest.update(f.read(1 << 20))
            if size > 2 << 20:
                f.seek(-(1 << 20), os.SEEK_END)
                digest.update(f.read())
        out.append([str(path.relative_to(folder)), size, digest.hexdigest()])
    return out


def latents_key(weights: str | os.PathLike, backbone: str, text_max_length: int, dtype: str) -> str:
    """A short key of the encoders (VAE, text encoder, tokenizer), text length and dtype."""
    weights = Path(weights)
    prints = [folder_fingerprint(weights / name) for name in ("vae", "text_encoder", "tokenizer")]
    text = json.dumps([backbone, text_max_length, dtype, prints, LATENTS_VERSION])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def scene_latents(encoders: Any, scene: Any, stage: int, dtype: str) -> dict[str, torch.Tensor]:
    """One clip's tensors for a stage, from a `BackboneTTM` holding the encoders and a
    scene (a sprites `Scene` or a shard sample: video, ids, first_frame, prompts, objects):
    x0 (C, t, h, w), cond (C, t, h, w), target (C, t, h, w), text (n, D), local_k (n_k, D),
    ids (T, H, W) uint8, object_ids (L,)."""
    render = PALETTE[scene.ids]  # (T, H, W, 3) the colour-mask video
    x0 = encoders.encode_image(scene.first_frame[None])[0]
    if stage == 1:
        cond, target = encoders.encode_image(render[:1])[0], encoders.encode_video(render[None])[0]
        prompts = [scene.motion_prompt]
    else:
        cond, target = encoders.encode_video(render[None])[0], encoders.encode_video(scene.video[None])[0]
        prompts = [scene.global_prompt, *scene.local_prompts]
    states, tokens = encoders.encode_text(prompts)
    out = {"x0": x0, "cond": cond, "target": target, "text": trim_text(encoders.kind.name, states[0], tokens[0])}
    for k, t in enumerate(tokens[1:]):
        out[f"local_{k}"] = t
    out = {k: v.to(getattr(torch, dtype)).contiguous() for k, v in out.items()}
    out["ids"] = torch.from_numpy(np.ascontiguousarray(scene.ids))
    out["object_ids"] = torch.tensor([o.id for o in scene.objects], dtype=torch.long)
    return out


def trim_text(backbone: str, states: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Wan's global states are zero past the prompt: keep its tokens only (padded back when
    batched); CLIP's padded states are what SD reads, so keep them all."""
    return states[: max(1, tokens.shape[0])] if backbone == "wan" else states
