"""The bundled model weights, shipped inside the package.

Layout: ``<name>/motion/`` (stage 1) and ``<name>/video/`` (stage 2), each a model
folder (``config.json`` + ``model.safetensors``), plus ``<name>/MODEL_CARD.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

WEIGHTS_DIR = Path(__file__).resolve().parent
STAGES = ("motion", "video")


def bundled_names() -> list[str]:
    """Names of bundled models that hold both stages."""
    return sorted(
        p.name for p in WEIGHTS_DIR.iterdir() if p.is_dir() and all((p / s / "config.json").is_file() for s in STAGES)
    )


def resolve_model_folder(name_or_path: str | os.PathLike, stage: str) -> Path:
    """A stage's model folder from a bundled name ("default") or a path.

    A path may be the stage folder itself or a folder holding ``motion/`` and ``video/``.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    path = Path(name_or_path)
    if not path.exists() and os.sep not in str(name_or_path):
        bundled = WEIGHTS_DIR / str(name_or_path)
        if not (bundled / stage / "config.json").is_file():
            have = ", ".join(bundled_names()) or "none in this install"
            raise InputError(
                f"no bundled model named {str(name_or_path)!r} (bundled: {have}); give a model folder path, "
                "or render without weights: --renderer warp with a --drag for every object"
            )
        return bundled / stage
    if not path.exists():
        raise InputError(f"model folder {path} does not exist; give a folder written by save_pretrained or maskmotion export")
    if (path / stage / "config.json").is_file():
        return path / stage
    if (path / "config.json").is_file():
        return path
    raise InputError(f"{path} is not a model folder: it needs config.json, or {stage}/config.json")
