"""What both stage pipelines share: a model, a text encoder, a device, and model folders."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..models.io import load_model, save_model
from ..text import TextEncoder


class StagePipeline:
    """A sampler around one model. ``text_encoder`` defaults to the bundled MiniLM."""

    model_class: type[nn.Module]
    stage_name: str

    def __init__(self, model: nn.Module, text_encoder: TextEncoder | None = None, device: str | torch.device = "cpu"):
        self.model = model.to(device).eval()
        self.text_encoder = text_encoder if text_encoder is not None else TextEncoder(device="cpu")
        self.device = torch.device(device)
        # A model trained on another frozen encoder reads states of another width; refuse
        # here rather than with a shape error inside the first attention layer.
        width = getattr(getattr(model, "cfg", None), "text_dim", None)
        if width is not None and width != self.text_encoder.dim:
            raise InputError(
                f"this {self.stage_name} model reads {width}-dim text states but the text encoder gives "
                f"{self.text_encoder.dim}; load the encoder it was trained with (--text-model DIR, or "
                f"text_encoder=TextEncoder(DIR) in Python; its export's config.json names it)"
            )

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, text_encoder: TextEncoder | None = None, device="cpu"):
        model = load_model(path, device)
        if not isinstance(model, cls.model_class):
            raise InputError(f"{path} holds a {type(model).__name__}, not a {cls.stage_name}")
        return cls(model, text_encoder, device)

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        return save_model(self.model, path)
