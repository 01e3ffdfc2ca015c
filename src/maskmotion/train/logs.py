"""Where a run's numbers go: ``metrics.jsonl`` (always) and TensorBoard (if installed).

Only the main process writes. ``metrics.jsonl`` holds one JSON object per line with a
``step`` key: training lines carry ``loss``, ``lr``, ``samples_per_s``, ``time`` (seconds
trained, summed over resumed sittings) and the task's own logs; evaluation lines carry
``eval/<name>`` keys. On resume, lines past the checkpoint's step are dropped, so the
file reads like one uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

METRICS = "metrics.jsonl"


def read_metrics(out_dir: str | Path) -> list[dict[str, Any]]:
    """All lines of a run's ``metrics.jsonl`` (for learning curves and tests)."""
    path = Path(out_dir) / METRICS
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


class RunLog:
    def __init__(
        self, out_dir: Path, enabled: bool, tensorboard: bool, resume_step: int | None
    ) -> None:
        self.enabled = enabled
        self._file = None
        self._tb = None
        if not enabled:
            return
        path = out_dir / METRICS
        if resume_step is not None and path.is_file():
            kept = [r for r in read_metrics(out_dir) if r.get("step", 0) <= resume_step]
            tmp = path.with_name(f".{METRICS}.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
            tmp.replace(path)
        elif path.exists():
            path.unlink()  # a fresh run in a folder without checkpoints: start the curve anew
        self._file = open(path, "a", encoding="utf-8", buffering=1)  # line-buffered
        if tensorboard:
            purge = None if resume_step is None else resume_step + 1
            self._tb = _summary_writer(out_dir / "tb", purge)

    def write(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"step": step, **{k: _jsonable(v) for k, v in values.items()}}
        self._file.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for name, value in values.items():
                if name != "time":
                    self._tb.add_scalar(name, value, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _jsonable(v: float) -> float | None:
    return v if math.isfinite(v) else None if math.isnan(v) else str(v)


def _summary_writer(log_dir: Path, purge_step: int | None) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter  # lazy: tensorboard is heavy and may be missing
    except ImportError:
        logger.warning(
            "tensorboard is not installed, so no TensorBoard logs (metrics.jsonl still "
            "has every number); pip install tensorboard, or set tensorboard = false"
        )
        return None
    # purge_step drops events a killed sitting wrote past the checkpoint we resume from.
    return SummaryWriter(str(log_dir), purge_step=purge_step)
