"""Training: one loop (`train`) for stage 1, stage 2 and the baselines.

A `Task` supplies the model, the batches (a pure function of the step) and the loss;
`TrainConfig` holds everything else; `train(config, task, resume)` does the rest on
accelerate. See docs/training.md.

Names are imported on first use, so that building the command line (which imports
``maskmotion.train.cli``) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "TrainConfig": "config",
    "read_metrics": "logs",
    "lr_factor": "loop",
    "train": "loop",
    "Task": "tasks",
    "ToyTask": "tasks",
    "get_task": "tasks",
    "options_from_dict": "tasks",
    "register_task": "tasks",
    "shard_slice": "tasks",
    "task_names": "tasks",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .config import TrainConfig
    from .logs import read_metrics
    from .loop import lr_factor, train
    from .tasks import (
        Task,
        ToyTask,
        get_task,
        options_from_dict,
        register_task,
        shard_slice,
        task_names,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
