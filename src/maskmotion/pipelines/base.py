"""What both stage pipelines share: a model, a text encoder, a device, and model folders."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..models.io import load_model, read_model_config, save_model
from ..text import TextEncoder, named_text_model


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
        width = text_width(model)
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


def text_width(model: nn.Module) -> int | None:
    """The width of the text states a stage model reads (None if it reads none)."""
    return getattr(getattr(model, "cfg", None), "text_dim", None)


def trained_text_model(folder: str | os.PathLike) -> str:
    """The frozen text encoder a model folder's export names ("" for the bundled MiniLM):
    the ``text_model`` its training task recorded."""
    meta = read_model_config(folder)
    name = meta.get("text_model") or (meta.get("task_options") or {}).get("text_model") or ""
    return str(name)


def stage_text_encoders(
    models: dict[str, nn.Module], folders: dict[str, Path], text_model: str | os.PathLike | None, device
) -> dict[str, TextEncoder]:
    """One frozen text encoder per stage, each loaded once: the folder ``text_model`` for
    the stages that read states of its width; for the others the encoder their export
    records (a folder that exists here, or one that loads by name: `NAMED_TEXT_MODELS`),
    else the bundled MiniLM.

    Stages trained on different encoders (a stage 1 on a larger encoder beside the
    bundled stage 2) then run together. A stage whose recorded encoder cannot be found is
    refused naming it; so is a ``text_model`` that no stage reads.
    """
    widths = {s: text_width(m) for s, m in models.items()}
    given = TextEncoder(text_model, device=device) if text_model is not None else None
    if given is not None and given.dim not in widths.values():
        raise InputError(
            f"--text-model {text_model} gives {given.dim}-dim states but the loaded stages read "
            f"{', '.join(f'{s}: {w}' for s, w in widths.items())}; leave it out or give the encoder they were trained on"
        )
    loaded: dict[str, TextEncoder] = {}
    out: dict[str, TextEncoder] = {}
    for stage, width in widths.items():
        if given is not None and (width is None or width == given.dim):
            out[stage] = given
            continue
        recorded = trained_text_model(folders[stage])
        name = named_text_model(recorded) if recorded else None
        if recorded and not (name or Path(recorded).is_dir()):
            raise InputError(
                f"{folders[stage]} reads {width}-dim text states: it was trained on {recorded}; give that "
                f"encoder's folder with --text-model DIR (text_model=DIR in Python)"
            )
        key = name or recorded  # "" = the bundled MiniLM
        if key not in loaded:
            loaded[key] = TextEncoder(recorded or None, device=device)
        out[stage] = loaded[key]
    return out
