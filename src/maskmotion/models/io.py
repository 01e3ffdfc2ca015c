"""Saving and loading models: a folder with ``config.json`` and ``model.safetensors``.

Loading is strict: a missing folder, a corrupt weights file, or keys that do not match
the config fail with one clear error naming the file and the fix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import InputError
from ..files import atomic_path, read_json_file, write_text_atomic
from .motion_dit import MotionDiT, MotionDiTConfig
from .video_dit import VideoDiT, VideoDiTConfig

MODEL_TYPES: dict[str, tuple[type[nn.Module], type]] = {
    "video_dit": (VideoDiT, VideoDiTConfig),
    "motion_dit": (MotionDiT, MotionDiTConfig),
}
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class WeightsError(InputError):
    """A model folder that cannot be loaded."""


def model_type_of(model: nn.Module) -> str:
    for name, (cls, _) in MODEL_TYPES.items():
        if isinstance(model, cls):
            return name
    raise TypeError(f"cannot save a {type(model).__name__}; known types: {sorted(MODEL_TYPES)}")


def save_model(
    model: nn.Module, folder: str | os.PathLike, extra: dict | None = None, dtype: torch.dtype | None = None
) -> Path:
    """Write ``config.json`` (type, config, extra metadata) and ``model.safetensors``.

    ``dtype`` (e.g. torch.float16) stores floating-point weights at that precision to
    halve the file; `load_model` casts them back to the model's own dtype.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        state[k] = v.contiguous()
    with atomic_path(folder / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp))
    meta = {"model_type": model_type_of(model), "config": model.cfg.to_dict(), **(extra or {})}
    write_text_atomic(folder / CONFIG_NAME, json.dumps(meta, indent=2))
    return folder


def read_model_config(folder: str | os.PathLike) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"weights folder {folder} does not exist; give a folder written by save_pretrained")
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise WeightsError(f"{folder} has no {CONFIG_NAME}; it is not a maskmotion model folder")
    meta = read_json_file(path, WeightsError, "re-export the model", max_bytes=1 << 20)
    if not isinstance(meta, dict):
        raise WeightsError(f"{path} must hold a JSON object, got a {type(meta).__name__}; re-export the model")
    model_type = meta.get("model_type")
    if not isinstance(model_type, str) or model_type not in MODEL_TYPES:
        raise WeightsError(f"{path}: unknown model_type {str(model_type)[:60]!r}; expected one of {sorted(MODEL_TYPES)}")
    if not isinstance(meta.get("config"), dict):
        raise WeightsError(f"{path}: 'config' must be a JSON object of the model's settings; re-export the model")
    return meta


def load_model(folder: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Build the model a folder's config describes and load its weights strictly."""
    folder = Path(folder)
    meta = read_model_config(folder)
    cls, cfg_cls = MODEL_TYPES[meta["model_type"]]
    try:
        cfg = cfg_cls.from_dict(meta["config"])
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{folder / CONFIG_NAME}: bad model config ({exc})") from None
    model = cls(cfg)
    _load_state_strict(model, folder)
    return model.to(device).eval()


def load_model_folder_into(model: nn.Module, folder: str | os.PathLike) -> nn.Module:
    """Load a saved folder's weights into an existing model (e.g. to start a run from them).

    The folder must hold the same model type with the same config: a different size or
    layout fails naming the differing fields instead of loading half the weights. The one
    allowance: a config field listed in the config class's ``EXTENSIONS`` may be on here
    and off there; its zero-initialised modules keep their initial values, so the model
    starts as exactly the saved one.
    """
    folder = Path(folder)
    meta = read_model_config(folder)
    expected = model_type_of(model)
    if meta["model_type"] != expected:
        raise WeightsError(f"{folder} holds a {meta['model_type']}, the model is a {expected}")
    own = model.cfg.to_dict()
    saved = meta["config"]
    extensions: dict[str, str] = getattr(type(model.cfg), "EXTENSIONS", {})
    added = [k for k in extensions if own.get(k) and not saved.get(k, False)]
    differ = sorted(k for k in set(own) | set(saved) if own.get(k) != saved.get(k) and k not in added)
    if differ:
        details = ", ".join(f"{k}: {saved.get(k)!r} there, {own.get(k)!r} here" for k in differ[:4])
        raise WeightsError(f"{folder} was saved from a different model config ({details}); "
                           "start from weights of the same preset and variant")
    _load_state_strict(model, folder, new_prefixes=tuple(extensions[k] for k in added))
    return model


def _load_state_strict(model: nn.Module, folder: Path, new_prefixes: tuple[str, ...] = ()) -> None:
    """Load every weight of ``model`` from ``folder``; only keys under ``new_prefixes``
    may be absent there (they keep their initial values)."""
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise WeightsError(f"{folder} has no {WEIGHTS_NAME}; copy the weights file there")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{weights} is corrupt or not a safetensors file ({exc}); re-download or re-export it") from None
    own = model.state_dict()
    missing = sorted(k for k in set(own) - set(state) if not k.startswith(new_prefixes))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise WeightsError(
            f"{weights} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"wrong shape {wrong[:5]}; the weights and config.json come from different models"
        )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=not new_prefixes)
