"""Training from prepared shards (``data = "shards:PATH/*.tar"`` in a task's options).

The tasks keep their rule that a batch is a pure function of the step: global sample
position ``step * batch_size + i`` falls in epoch ``position // len(shards)``, and
`ShardSet.order` gives that epoch's order (shards permuted, then a shuffle buffer, all
drawn from the task's seed and the epoch). A resumed run therefore reads on from the
exact sample where the checkpoint stopped; the checkpoint's ``state.json`` records the
position (`data_position`).
"""

from __future__ import annotations

from ..data.video import SHARD_PREFIX, ShardSet
from ..errors import InputError


def open_shards(data: str, seed: int, buffer: int, size: tuple[int, int, int], task: str) -> ShardSet:
    """The shards named by ``data``, checked to hold clips of ``size`` = (T, H, W)."""
    if not data.startswith(SHARD_PREFIX):
        raise InputError(f"task {task}: data must be \"\" (the sprites world) or \"shards:PATH/*.tar\", got {data!r}")
    shards = ShardSet(data, seed=seed, buffer=buffer)
    held = tuple(shards.meta(0).get("size", ()))
    if held != tuple(size):
        t, h, w = size
        raise InputError(
            f"task {task}: the shards hold {'x'.join(map(str, held))} (frames x height x width) clips and the task "
            f"trains {t}x{h}x{w}; prepare them with --frames {t} --height {h} --width {w}"
        )
    return shards
