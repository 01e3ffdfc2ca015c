"""Where the loop's batches come from: the task itself, or worker processes ahead of it.

Batches are pure functions of (step, shard), so worker processes can build the next ones
while the model trains on the current one without changing a single value: the sprites
tasks spend about a third of a CPU step (and nearly all of a GPU step) drawing scenes,
fitting warp previews and building token groups.
"""

from __future__ import annotations

import signal
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset


class _StepBatches(Dataset):
    """Item k = the batch of the k-th (step, micro-batch) pair from ``start`` on."""

    def __init__(self, task: Any, start: int, steps: int, rank: int, accum: int, world: int, batch_size: int):
        self.task, self.start, self.steps = task, start, steps
        self.rank, self.accum, self.world, self.batch_size = rank, accum, world, batch_size

    def __len__(self) -> int:
        return (self.steps - self.start) * self.accum

    def __getitem__(self, k: int) -> dict[str, Any]:
        step, micro = divmod(k, self.accum)
        return self.at(self.start + step, micro)

    def at(self, step: int, micro: int) -> dict[str, Any]:
        shard = self.rank * self.accum + micro
        return self.task.batch(step, shard, self.world * self.accum, self.batch_size)


class BatchSource:
    """``get(step, micro)`` for consecutive steps; with ``workers`` > 0 the batches are
    built ``prefetch`` per worker ahead, in order, by that many worker processes."""

    def __init__(
        self, task: Any, start: int, steps: int, rank: int, accum: int, world: int, batch_size: int,
        workers: int = 0, prefetch: int = 2,
    ) -> None:
        self._data = data = _StepBatches(task, start, steps, rank, accum, world, batch_size)
        self._next = (start, 0)
        self._iter: Iterator[dict[str, Any]] | None = None
        if workers > 0 and steps > start:
            # batch_size=None: items are whole batches already; workers run one torch thread.
            # The loader's own generator keeps it from drawing worker seeds from the global
            # RNG, which the model's dropout uses (batches need no seeds: they are pure).
            loader = DataLoader(data, batch_size=None, shuffle=False, num_workers=workers,
                                prefetch_factor=prefetch, collate_fn=_identity,
                                generator=torch.Generator().manual_seed(0), worker_init_fn=_leave_signals_to_the_loop)
            self._iter = iter(loader)

    def get(self, step: int, micro: int) -> dict[str, Any]:
        if self._iter is None:
            return self._data.at(step, micro)
        if (step, micro) != self._next:
            raise RuntimeError(f"batches are prefetched in order: asked for {(step, micro)}, next is {self._next}")
        self._next = (step, micro + 1) if micro + 1 < self._data.accum else (step + 1, 0)
        return next(self._iter)

    def close(self) -> None:
        """Stop the workers (an early stop leaves prefetched batches unused)."""
        self._iter = None  # the loader's iterator shuts its workers down when dropped


def _leave_signals_to_the_loop(worker_id: int) -> None:
    """Ctrl-C and a kill of the job reach the whole process group: workers ignore them so
    the loop can finish its step, write a checkpoint and then shut the workers down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _identity(batch: dict[str, Any]) -> dict[str, Any]:
    return batch

