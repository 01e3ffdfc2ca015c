"""The prepare run: clips -> per-clip part files -> shards -> stats report.

Output folder::

    prepare.json          options and the clip list (a rerun must match them)
    parts/<clip>.json     the clip's stats record, written last: the clip is done
    parts/<clip>.tar      its samples, until they are packed into a shard
    shards/shard-NNNNNN.tar   clips [N * clips_per_shard, (N + 1) * clips_per_shard) of the sorted list
    stats.json, stats.html

Every file is written atomically, so a killed run loses at most the clips in flight and
a rerun skips every clip that has its record. Shards are packed from the part files in
clip order, so their bytes do not depend on the engine, the number of workers or the
order in which clips finished.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator

from tqdm.auto import tqdm

from ..data.video import Clip, list_clips, read_tar, summarise, write_report, write_tar
from ..errors import InputError
from ..files import read_json_file, write_bytes_atomic, write_text_atomic
from .clip import ClipResult, process_clip
from .options import ENGINES, PrepareOptions

logger = logging.getLogger(__name__)

FORMAT_NAME = "maskmotion-prepare"
FORMAT_VERSION = 1


def prepare(
    source: str | os.PathLike, out: str | os.PathLike, options: PrepareOptions | None = None, engine: str = "local",
    address: str | None = None, workers: int = 0, progress: bool = True,
) -> dict[str, Any]:
    """Turn the clips of ``source`` into shards under ``out``; returns the stats.

    ``engine`` "local" runs the clips one after another in this process; "ray" runs them
    on Ray Data (``address``: a cluster's, or None for a local instance), ``workers``
    clips at a time (0: one per CPU Ray has). Rerunning with the same ``out`` resumes.
    """
    options = options or PrepareOptions()
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if workers < 0:
        raise InputError(f"--workers must be 0 (one per CPU) or more, got {workers}")
    if engine == "local" and workers > 1:
        raise InputError(f"--workers {workers} needs --engine ray; the local engine runs one clip at a time")
    out = Path(out)
    clips = list_clips(source, options.layout, options.annotations)
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    _check_or_write_manifest(out, clips, options)
    todo = [c for c in clips if not (parts / f"{c.key}.json").is_file()]
    logger.info("%d clips, %d to do", len(clips), len(todo))
    # Ray's start (run_on_ray connects before it returns) is left out of the clip loop's time.
    results = _run_local(todo, options) if engine == "local" else _run_ray(todo, options, address, workers)
    t0 = time.perf_counter()
    for result in tqdm(results, total=len(todo), desc="clips", unit="clip", disable=not progress or not todo):
        if result.samples:
            write_bytes_atomic(parts / f"{result.key}.tar", result.tar_bytes())
        write_text_atomic(parts / f"{result.key}.json", json.dumps(result.record, sort_keys=True) + "\n")
    seconds = time.perf_counter() - t0
    pack_shards(out, clips, options.clips_per_shard)
    records = [read_json_file(parts / f"{c.key}.json", InputError) for c in clips]
    stats = summarise(records)
    stats["run"] = {"engine": engine, "workers": workers, "clips_processed": len(todo), "seconds": round(seconds, 3),
                    "clips_per_second": round(len(todo) / seconds, 4) if todo and seconds > 0 else None}  # fmt: skip
    write_report(stats, out)
    return stats


def _check_or_write_manifest(out: Path, clips: list[Clip], options: PrepareOptions) -> None:
    manifest = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION, "options": options.computing_fields(),
        "clips_per_shard": options.clips_per_shard, "clips": [c.key for c in clips],
    }  # fmt: skip
    path = out / "prepare.json"
    if path.is_file():
        saved = read_json_file(path, InputError)
        for field in ("options", "clips_per_shard", "clips"):
            if saved.get(field) != manifest[field]:
                what = {"clips": "another clip list", "options": "other options", "clips_per_shard": "another --clips-per-shard"}
                raise InputError(
                    f"{out} was prepared with {what[field]}; use a new output folder, or the same inputs to resume"
                )
        return
    write_text_atomic(path, json.dumps(manifest, indent=1) + "\n")


def _run_local(clips: list[Clip], options: PrepareOptions) -> Iterator[ClipResult]:
    for clip in clips:
        yield process_clip(clip, options)


def _run_ray(clips: list[Clip], options: PrepareOptions, address: str | None, workers: int) -> Iterator[ClipResult]:
    from .ray_engine import run_on_ray  # optional: only --engine ray needs Ray

    return run_on_ray(clips, options, address, workers)


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.tar"


def pack_shards(out: Path, clips: list[Clip], clips_per_shard: int) -> list[Path]:
    """Write every shard whose clips are all done and that is not written yet; remove the
    packed part files. Returns the shards present."""
    parts, shards = out / "parts", out / "shards"
    shards.mkdir(exist_ok=True)
    present = []
    for index, start in enumerate(range(0, len(clips), clips_per_shard)):
        group = clips[start : start + clips_per_shard]
        path = shards / shard_name(index)
        if path.is_file():
            present.append(path)
            continue
        if not all((parts / f"{c.key}.json").is_file() for c in group):
            continue
        samples = [s for c in group if (parts / f"{c.key}.tar").is_file() for s in read_tar(parts / f"{c.key}.tar")]
        if samples:
            write_tar(path, samples)
            present.append(path)
        for c in group:
            (parts / f"{c.key}.tar").unlink(missing_ok=True)
    return present
