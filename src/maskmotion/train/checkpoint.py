"""Atomic, self-describing training checkpoints.

Layout under ``out_dir/checkpoints/``::

    latest                  text file naming the newest complete checkpoint
    step_000500/
        model.safetensors   trained weights
        ema.safetensors     fp32 weight average (absent when ema_decay = 0)
        optimizer.pt        optimizer state dict   (torch.load(weights_only=True))
        scheduler.pt        LR scheduler state dict
        rng/rank_0.pt ...   python, numpy, torch (and CUDA) RNG states, one per process
        state.json          step, world size, seconds trained
        config.json         the TrainConfig of the run

A checkpoint is written into ``.tmp_step_000500/``, flushed to disk, then renamed: a
``step_*`` folder is therefore always complete, and ``latest`` (replaced atomically
after the rename) never names a partial one. A crash mid-write leaves only a ``.tmp_*``
folder, which the next save deletes. A checkpoint damaged later (a disk error, a copy
cut short) is skipped on resume for the newest one that reads (`find_resumable`), which
is why ``keep_last`` keeps at least two.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import InputError
from ..files import parse_json
from .config import TrainConfig
from .ema import EMA

logger = logging.getLogger(__name__)

LATEST = "latest"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def step_dir_name(step: int) -> str:
    return f"step_{step:06d}"


# -- finding ---------------------------------------------------------------------------


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoint folders under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in root.iterdir()
        if (m := _STEP_DIR.match(p.name)) and p.is_dir()
    ]
    return [p for _, p in sorted(found)]


def find_latest(root: Path) -> Path | None:
    """The checkpoint ``latest`` names, else the newest complete one, else None."""
    pointer = root / LATEST
    if pointer.is_file():
        target = root / pointer.read_text(encoding="utf-8").strip()
        if _STEP_DIR.match(target.name) and target.is_dir():
            return target
        logger.warning(
            "%s names %s, which is missing; using the newest checkpoint", pointer, target.name
        )
    found = list_checkpoints(root)
    return found[-1] if found else None


def checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint folder ``path`` cannot be resumed from (a missing or truncated
    file, unreadable JSON, a broken safetensors header, a torch file whose zip is
    damaged), or None when every file reads. No tensor is loaded: the zip checksums
    of the torch files and the headers and sizes of the safetensors files are checked."""
    try:
        for name in ("state.json", "config.json"):
            data = parse_json((path / name).read_bytes(), str(path / name))
            if not isinstance(data, dict):
                return f"{name} is not a JSON object"
        if not isinstance(read_state(path).get("step"), int):
            return "state.json has no integer step"
        for name in ("model.safetensors", "ema.safetensors"):
            file = path / name
            if name == "model.safetensors" or file.exists():
                with safe_open(str(file), framework="pt") as f:
                    list(f.keys())
        for file in [path / "optimizer.pt", path / "scheduler.pt", *sorted((path / "rng").glob("*.pt"))]:
            if file.name == "optimizer.pt" and not file.exists() and (path / "accelerate").is_dir():
                continue  # sharded runs keep the optimizer under accelerate/
            with zipfile.ZipFile(file) as zf:
                bad = zf.testzip()
            if bad is not None:
                return f"{file.name} is damaged (member {bad})"
    except Exception as exc:  # noqa: BLE001 - any failure to read means "do not resume from this one"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return None


def find_resumable(root: Path) -> Path | None:
    """The newest checkpoint that reads (`checkpoint_problem`): ``latest`` when it is
    sound, else the next older one, with a warning for each one skipped."""
    latest = find_latest(root)
    if latest is None:
        return None
    older = [p for p in reversed(list_checkpoints(root)) if p != latest]
    for path in [latest, *older]:
        problem = checkpoint_problem(path)
        if problem is None:
            if path != latest:
                logger.warning("resuming from %s, the newest checkpoint that reads", path.name)
            return path
        logger.warning("checkpoint %s is corrupt (%s); trying the one before it", path, problem)
    raise InputError(
        f"no checkpoint under {root} can be read (all are corrupt); start a new run in another --out"
    )


def read_state(path: Path) -> dict[str, Any]:
    return json.loads((path / "state.json").read_text(encoding="utf-8"))


def read_config(path: Path) -> TrainConfig:
    file = path / "config.json"
    return TrainConfig.from_dict(json.loads(file.read_text(encoding="utf-8")), where=str(file))


# -- RNG -------------------------------------------------------------------------------


def capture_rng() -> dict[str, Any]:
    """This process's global RNG states, in types ``torch.load(weights_only=True)`` reads."""
    version, py_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": list(py_state), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            logger.warning("checkpoint has %d CUDA RNG states for %d devices; not restoring them",
                           len(cuda), torch.cuda.device_count())


# -- writing ---------------------------------------------------------------------------


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """Flush every file and folder under ``path`` so a rename after it is durable."""
    for folder, _, files in os.walk(path):
        for name in files:
            _fsync_path(Path(folder) / name)
        _fsync_path(Path(folder))


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_path(path.parent)


def unshared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing memory (tied weights): clone the repeats."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for name, t in state.items():
        t = t.detach()
        key = (t.untyped_storage().data_ptr(), t.storage_offset())
        out[name] = t.clone().contiguous() if key in seen or not t.is_contiguous() else t
        seen.add(key)
    return out


def save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    save_file(unshared(state), str(path), metadata={"format": "pt"})


def load_weights_into(module: nn.Module, path: Path) -> None:
    """Strict load that names the bad keys."""
    state = load_file(str(path), device="cpu")
    hint = "was it written by another task or other task_options?"
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise RuntimeError(f"{path} does not fit the model ({hint}): {exc}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(
            f"{path} does not fit the model ({hint}): missing {result.missing_keys}, "
            f"unexpected {result.unexpected_keys}"
        )


class CheckpointWriter:
    """Writes checkpoints under ``root``; every process calls `save` together."""

    def __init__(self, root: Path, accelerator: Any, keep_last: int) -> None:
        self.root = root
        self.accelerator = accelerator
        self.keep_last = keep_last

    def save(
        self,
        step: int,
        model: nn.Module,
        ema: EMA | None,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        config: TrainConfig,
        state: dict[str, Any],
    ) -> Path:
        acc = self.accelerator
        final = self.root / step_dir_name(step)
        tmp = self.root / f".tmp_{final.name}"
        if acc.is_main_process:
            self.root.mkdir(parents=True, exist_ok=True)
            self._clean_leftovers()
            (tmp / "rng").mkdir(parents=True)
        acc.wait_for_everyone()

        torch.save(capture_rng(), tmp / "rng" / f"rank_{acc.process_index}.pt")
        sharded = acc.distributed_type.name in ("FSDP", "DEEPSPEED")
        if sharded:
            # Sharded optimizer state is only reachable through accelerate (untested here).
            acc.save_state(str(tmp / "accelerate"))
        weights = acc.get_state_dict(model)  # a collective under FSDP/DeepSpeed
        acc.wait_for_everyone()

        if acc.is_main_process:
            save_weights(weights, tmp / "model.safetensors")
            if ema is not None:
                save_weights(ema.state_dict(), tmp / "ema.safetensors")
            if not sharded:
                torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
            config.save(tmp / "config.json")
            (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=2) + "\n")
            fsync_tree(tmp)
            if final.exists():  # saving the same step again (e.g. stopped right after resuming)
                _remove(final)
            os.replace(tmp, final)
            _fsync_path(self.root)
            write_text_atomic(self.root / LATEST, final.name + "\n")
            self._prune(keep=final)
        acc.wait_for_everyone()
        return final

    def _clean_leftovers(self) -> None:
        for p in self.root.iterdir():
            if p.name.startswith((".tmp_", ".trash_")) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)

    def _prune(self, keep: Path) -> None:
        if self.keep_last <= 0:
            return
        old = [p for p in list_checkpoints(self.root) if p != keep]
        for p in old[: max(0, len(old) - (self.keep_last - 1))]:
            _remove(p)


def _remove(path: Path) -> None:
    # Rename first, so a half-deleted folder never looks like a checkpoint.
    trash = path.with_name(f".trash_{path.name}_{time.monotonic_ns()}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


# -- reading ---------------------------------------------------------------------------


def load_checkpoint(
    path: Path,
    accelerator: Any,
    model: nn.Module,
    ema: EMA | None,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Load everything but the RNG into the prepared objects; return (state, rng).

    The RNG state is returned, not applied, so the loop restores it at the very last
    moment before the first resumed step.
    """
    if accelerator.distributed_type.name in ("FSDP", "DEEPSPEED"):
        accelerator.load_state(str(path / "accelerate"))
    else:
        load_weights_into(accelerator.unwrap_model(model), path / "model.safetensors")
        state = torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu")
        optimizer.load_state_dict(state)  # the accelerate wrapper moves it to the device
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    if ema is not None:
        ema_file = path / "ema.safetensors"
        if not ema_file.is_file():
            raise FileNotFoundError(f"{ema_file} is missing; the checkpoint was saved without EMA")
        device = next(iter(ema.shadow.values())).device
        ema.load_state_dict(load_file(str(ema_file), device=str(device)))
    rng_file = path / "rng" / f"rank_{accelerator.process_index}.pt"
    rng = torch.load(rng_file, weights_only=True) if rng_file.is_file() else None
    return read_state(path), rng
