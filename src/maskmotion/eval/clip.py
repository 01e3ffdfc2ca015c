"""CLIP-family scores from local weights: text-video and image-video similarity and
CLIP frame consistency (the paper's ViCLIP-T / ViCLIP-V / CF, with an image CLIP
averaged over frames instead of ViCLIP).

Nothing is downloaded: `ClipScorer(folder)` loads a transformers CLIP model and its
tokenizer from a local folder (e.g. a saved ``openai/clip-vit-base-patch32``). Without
one, `clip_scorer_or_none` returns None and says why, and the benchmark leaves these
columns out.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError

logger = logging.getLogger(__name__)

# CLIP's image normalisation (the same for every released CLIP).
_MEAN = (0.48145466, 0.4578275, 0.40821073)
_STD = (0.26862954, 0.26130258, 0.27577711)
ENV_CLIP = "MASKMOTION_CLIP"


class ClipScorer:
    """Cosine similarities in a CLIP embedding space, scaled to [-100, 100] as usual."""

    def __init__(self, folder: str | os.PathLike, device: str = "cpu") -> None:
        from transformers import AutoTokenizer, CLIPModel  # lazy: transformers is heavy; CLIP weights are optional

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise InputError(f"{folder} is not a CLIP model folder (no config.json); save one with CLIPModel.save_pretrained")
        self.model = CLIPModel.from_pretrained(str(folder), local_files_only=True).to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.device = device
        self.size = self.model.config.vision_config.image_size

    @torch.no_grad()
    def image_features(self, frames: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) uint8 -> (N, D) unit vectors (frames resized to the model's size)."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).float().div(255).permute(0, 3, 1, 2)  # (N, 3, H, W)
        x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bicubic", align_corners=False)
        mean = torch.tensor(_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(_STD).view(1, 3, 1, 1)
        feats = self.model.get_image_features(pixel_values=((x - mean) / std).to(self.device))
        feats = getattr(feats, "pooler_output", feats)  # transformers 5 returns an output object
        return torch.nn.functional.normalize(feats.float(), dim=-1).cpu()

    @torch.no_grad()
    def text_features(self, texts: list[str]) -> torch.Tensor:
        tok = self.tokenizer(texts, padding=True, truncation=True, max_length=self.model.config.text_config.max_position_embeddings, return_tensors="pt")
        feats = self.model.get_text_features(input_ids=tok["input_ids"].to(self.device), attention_mask=tok["attention_mask"].to(self.device))
        feats = getattr(feats, "pooler_output", feats)
        return torch.nn.functional.normalize(feats.float(), dim=-1).cpu()

    def scores(self, video: np.ndarray, prompt: str, image: np.ndarray) -> dict[str, float]:
        """clip_t: prompt vs each frame; clip_i: the input image vs each frame; clip_cf:
        consecutive frames. Means over frames, x100."""
        frames = self.image_features(video)  # (T, D)
        text = self.text_features([prompt])[0]
        first = self.image_features(image[None])[0]
        return {
            "clip_t": float(100 * (frames @ text).mean()),
            "clip_i": float(100 * (frames @ first).mean()),
            "clip_cf": float(100 * (frames[1:] * frames[:-1]).sum(-1).mean()),
        }


def clip_scorer_or_none(folder: str | os.PathLike | None = None, device: str = "cpu") -> ClipScorer | None:
    """A scorer from ``folder`` (or $MASKMOTION_CLIP); None, with a logged reason, if neither is given."""
    folder = folder or os.environ.get(ENV_CLIP)
    if not folder:
        logger.info(
            "CLIP scores skipped: no local CLIP weights (give --clip DIR or set %s to a saved CLIPModel folder)", ENV_CLIP
        )
        return None
    return ClipScorer(folder, device)
