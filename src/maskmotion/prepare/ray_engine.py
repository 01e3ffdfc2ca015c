"""`--engine ray`: the clips as a Ray Data dataset, `process_clip` mapped over it.

Workers return each clip's part file as bytes and the driver writes it, so a cluster
needs no shared file system for the output (only for the input videos, which every
worker opens by the path the clip list gives). Results stream back as clips finish, so
a killed run still keeps every clip the driver had written.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ..data.video import Clip, read_tar
from ..errors import InputError
from .clip import ClipResult, process_clip
from .options import PrepareOptions

logger = logging.getLogger(__name__)

#: Most Ray Data blocks (groups of clips scheduled together) a run is split into.
MAX_BLOCKS = 10_000


def _process_row(row: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """One clip on a Ray worker: ``{"clip": json}`` -> ``{"key", "tar", "record"}``."""
    result = process_clip(Clip.from_json(json.loads(row["clip"])), PrepareOptions(**options))
    return {"key": result.key, "tar": result.tar_bytes() if result.samples else b"", "record": json.dumps(result.record)}


def run_on_ray(clips: list[Clip], options: PrepareOptions, address: str | None, workers: int) -> Iterator[ClipResult]:
    try:
        import ray
        import ray.data
    except ImportError:
        raise InputError("--engine ray needs Ray Data; install it with pip install 'maskmotion[data]'") from None
    if not clips:
        return iter(())
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers or None, **kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the driver shows its own bar over clips
    # One clip per block while that keeps the block count sane: a block's results come
    # back when all its clips are done, so small blocks lose less to a kill.
    blocks = min(len(clips), MAX_BLOCKS)
    ds = ray.data.from_items([{"clip": json.dumps(c.to_json())} for c in clips], override_num_blocks=blocks)
    # One CPU per clip; with ``workers`` 0 Ray Data runs as many at once as the cluster has CPUs.
    compute = ray.data.TaskPoolStrategy(size=workers) if workers else None
    ds = ds.map(_process_row, fn_kwargs={"options": options.to_json()}, num_cpus=1, compute=compute)
    return _results(ds, ray if started else None)


def _results(ds: Any, ray_module: Any) -> Iterator[ClipResult]:
    try:
        for row in ds.iter_rows():
            samples = []
            if row["tar"]:
                with tempfile.TemporaryDirectory(prefix="maskmotion-part-") as tmp:
                    (Path(tmp) / "part.tar").write_bytes(row["tar"])
                    samples = read_tar(Path(tmp) / "part.tar")
            yield ClipResult(row["key"], samples, json.loads(row["record"]))
    finally:
        if ray_module is not None:
            ray_module.shutdown()
