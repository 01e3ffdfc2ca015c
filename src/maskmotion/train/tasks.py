"""The `Task` interface between the training loop and what it trains, and its registry.

A task owns the model, the data and the loss; the loop owns optimisation, devices,
checkpoints and logs. Batches are a pure function of the step (no iterator state), so
a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import torch
from torch import nn

from ..errors import InputError

logger = logging.getLogger(__name__)

Batch = dict[str, Any]
Logs = Mapping[str, float | torch.Tensor]


@runtime_checkable
class Task(Protocol):
    """What the loop needs from a task.

    Optional methods, looked up with ``getattr``:

    - ``evaluate(model) -> dict[str, float]``: called on the main process every
      ``eval_every`` steps with the plain (unwrapped) model in eval mode, under
      ``torch.no_grad`` and a forked RNG, so evaluating never changes training.
    - ``export(model, out_dir)``: called once at the end with the EMA weights (the
      trained weights when no EMA is kept) to write task-specific files such as a
      diffusers ``save_pretrained`` folder into ``out_dir`` (``final/``).
    """

    def build_model(self) -> nn.Module:
        """A fresh model; the loop seeds torch before calling it."""
        ...

    def batch(self, step: int, rank: int, world_size: int, batch_size: int) -> Batch:
        """Shard ``rank`` of ``world_size`` of the global batch of ``batch_size`` samples
        used at 0-based ``step``; a pure function of its arguments (CPU tensors are fine:
        the loop moves tensors to the device)."""
        ...

    def loss(
        self, model: nn.Module, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, Logs]:
        """Scalar loss and extra logs. Call ``model(...)`` (its forward) so distributed
        wrappers see the call; draw all noise from ``generator`` (a CPU generator seeded
        by the loop from seed, step and shard)."""
        ...


TaskFactory = Callable[[dict[str, Any]], Task]

# name -> factory, or "module:attr" imported on first use so that registering the
# heavy stage tasks costs nothing until they are trained.
_REGISTRY: dict[str, TaskFactory | str] = {}


def register_task(name: str, factory: TaskFactory | str | None = None):
    """Register a task factory under ``name``; usable as a decorator.

    ``factory`` receives the config's ``task_options`` dict and returns a `Task`. A
    string ``"package.module:attr"`` registers lazily.
    """
    if factory is not None:
        _REGISTRY[name] = factory
        return factory

    def decorate(fn: TaskFactory) -> TaskFactory:
        _REGISTRY[name] = fn
        return fn

    return decorate


# Modules that register the project's own tasks when imported; imported only when a
# name is looked up, so `import maskmotion.train` stays light.
TASK_MODULES = ["maskmotion.train.ttm_tasks", "maskmotion.train.backbone_tasks"]
_load_errors: dict[str, str] = {}


def _load_task_modules() -> None:
    for module in TASK_MODULES:
        if module in _load_errors:
            continue
        try:
            importlib.import_module(module)
            _load_errors[module] = ""
        except ImportError as exc:  # e.g. an optional dependency missing
            _load_errors[module] = f"{module}: {exc}"
            logger.debug("cannot import %s: %s", module, exc)


def task_names() -> list[str]:
    _load_task_modules()
    return sorted(_REGISTRY)


def get_task(name: str, options: dict[str, Any] | None = None, out_dir: str | os.PathLike | None = None) -> Task:
    """Build the task ``name`` (registered, or ``"module:attr"``) with ``options``.

    ``out_dir`` is the run's output folder; it reaches factories that take an
    ``out_dir`` keyword (the project's own do: their caches live under it, see
    `resolve_cache_dir`). Factories with one parameter are called as before.
    """
    entry = _REGISTRY.get(name)
    if entry is None and ":" not in name:
        _load_task_modules()
        entry = _REGISTRY.get(name)
    if entry is None:
        if ":" not in name:
            failed = "; ".join(e for e in _load_errors.values() if e)
            raise InputError(
                f"unknown task {name!r}; registered: {', '.join(task_names())} "
                "(or give 'package.module:factory')" + (f"; not loaded: {failed}" if failed else "")
            )
        entry = name
    factory = _import(entry) if isinstance(entry, str) else entry
    if out_dir is not None and _takes_out_dir(factory):
        task = factory(dict(options or {}), out_dir=out_dir)
    else:
        task = factory(dict(options or {}))
    missing = [m for m in ("build_model", "batch", "loss") if not callable(getattr(task, m, None))]
    if missing:
        raise TypeError(f"task {name!r} lacks {', '.join(missing)}; see maskmotion.train.Task")
    return task


def _takes_out_dir(factory: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "out_dir" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


#: Name of the cache folder inside a run's output folder when ``cache_dir`` is unset.
CACHE_FOLDER = "cache"


def resolve_cache_dir(cache_dir: str | os.PathLike | None, out_dir: str | os.PathLike | None) -> Path | None:
    """Where a task keeps its on-disk cache; None = no disk cache.

    - ``None`` (unset): ``<out_dir>/cache``; with no ``out_dir`` known, no disk cache.
    - ``""``: no disk cache (everything is encoded in memory).
    - an absolute path (``~`` expanded): as given.
    - a relative path: relative to ``out_dir`` (``"../cache"`` shares one cache among
      runs that sit side by side), never to the current directory. Without an
      ``out_dir`` (a task built directly from Python) it is taken as given.
    """
    if cache_dir is not None and str(cache_dir) == "":
        return None
    if cache_dir is None:
        return Path(out_dir) / CACHE_FOLDER if out_dir is not None else None
    path = Path(cache_dir).expanduser()
    if path.is_absolute() or out_dir is None:
        return path
    return Path(out_dir) / path


def _import(path: str) -> TaskFactory:
    module_name, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"cannot import task factory {path!r}: {exc}") from exc


def options_from_dict(cls: type, options: Mapping[str, Any], task: str) -> Any:
    """Build an options dataclass, naming unknown keys (for task factories)."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(
            f"task {task!r}: unknown option {unknown[0]!r}; known: {', '.join(sorted(known))}"
        )
    return cls(**options)


def shard_slice(batch_size: int, rank: int, world_size: int) -> slice:
    """Rows of a global batch that belong to ``rank``; the loop checks divisibility."""
    per_rank = batch_size // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)


# -- the toy task ---------------------------------------------------------------------


@dataclasses.dataclass
class ToyOptions:
    in_dim: int = 8
    hidden: int = 32
    out_dim: int = 4
    dropout: float = 0.1
    """Uses the global torch RNG, so resume tests cover its state."""
    noise: float = 0.05
    """Target noise drawn from the loss generator, like a diffusion loss's noise."""
    data_seed: int = 1234
    sleep_s: float = 0.0
    """Pause per batch, to stand in for a slow data pipeline in stop/resume tests."""


class ToyTask:
    """Regress a fixed random two-layer teacher with a small MLP student.

    Small enough for tests to run hundreds of steps in a second, yet it has everything
    the real tasks have: parameters with and without decay, dropout (global RNG), noise
    from the loss generator and a held-out evaluation.
    """

    def __init__(self, options: ToyOptions) -> None:
        self.options = options
        g = torch.Generator().manual_seed(options.data_seed)
        o = options
        self.teacher = (
            torch.randn(o.in_dim, o.hidden, generator=g) / o.in_dim**0.5,
            torch.randn(o.hidden, o.out_dim, generator=g) / o.hidden**0.5,
        )
        self.eval_x = torch.randn(256, o.in_dim, generator=g)

    def _target(self, x: torch.Tensor) -> torch.Tensor:
        w1, w2 = self.teacher
        return torch.tanh(x @ w1) @ w2

    def build_model(self) -> nn.Module:
        o = self.options
        return nn.Sequential(
            nn.Linear(o.in_dim, o.hidden),
            nn.GELU(),
            nn.Dropout(o.dropout),
            nn.LayerNorm(o.hidden),
            nn.Linear(o.hidden, o.out_dim),
        )

    def batch(self, step: int, rank: int, world_size: int, batch_size: int) -> Batch:
        if self.options.sleep_s:
            time.sleep(self.options.sleep_s)
        # The global batch depends on the step only; each rank keeps its rows.
        g = torch.Generator().manual_seed(self.options.data_seed * 1_000_003 + step)
        x = torch.randn(batch_size, self.options.in_dim, generator=g)[
            shard_slice(batch_size, rank, world_size)
        ]
        return {"x": x, "y": self._target(x)}

    def loss(
        self, model: nn.Module, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, Logs]:
        y = batch["y"]
        noise = torch.randn(y.shape, generator=generator).to(y.device) * self.options.noise
        pred = model(batch["x"])
        loss = torch.nn.functional.mse_loss(pred.float(), y + noise)
        return loss, {"pred_std": pred.detach().float().std()}

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        x = self.eval_x.to(device)
        mse = torch.nn.functional.mse_loss(model(x).float(), self._target(x))
        return {"mse": float(mse)}


@register_task("toy")
def toy_task(options: dict[str, Any]) -> ToyTask:
    return ToyTask(options_from_dict(ToyOptions, options, "toy"))
