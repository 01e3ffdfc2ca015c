"""Which weights a plan was made with, against the weights a new run loads.

A run record (``OUT.plan.json``) names its model: for the bundled small model, each
stage's folder and the SHA-256 of its weights file; for a real backbone, the backbone
kind, the weights folder and a fingerprint of its config. When such a record is given
back (``render --plan``, ``animate --plan``), `check_plan_model` compares it with the
model now loaded and warns when they differ. A difference is no error: rendering a plan
again with other weights is a normal thing to do on purpose. The new run record keeps
both (`plan_source` entry), so the difference stays visible.

Only what both records hold is compared: a ``plan`` run that dragged every object
loaded no stage 1, and ``render`` loads stage 2 only, so such a pair has nothing in
common to compare and is reported as not compared.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from .outputs import RUN_FORMAT

logger = logging.getLogger(__name__)

STAGE_NAMES = ("motion", "video")


def recorded_model(path: str | os.PathLike) -> dict[str, Any] | None:
    """The ``model`` entry of the run record at ``path``; None for a plain plan file, a
    record without one, or a file that cannot be read as JSON (reading the plan itself
    reports that)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        return None
    model = data.get("model")
    return dict(model) if isinstance(model, dict) and model else None


def _stage_digests(info: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for stage in STAGE_NAMES:
        entry = info.get(stage)
        if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
            out[stage] = entry["sha256"]
    return out


def model_differences(recorded: Mapping[str, Any], loaded: Mapping[str, Any]) -> tuple[list[str], bool]:
    """(what differs, in words; whether anything could be compared at all)."""
    differences: list[str] = []
    rec_backbone, now_backbone = recorded.get("backbone"), loaded.get("backbone")
    if rec_backbone or now_backbone:
        if rec_backbone != now_backbone:
            differences.append(
                f"backbone {rec_backbone or 'small (bundled)'} in the plan's record, {now_backbone or 'small (bundled)'} now"
            )
            return differences, True
        # Same backbone kind: the config fingerprint covers the loaded stages too, so it
        # is comparable only between runs that loaded the same stages.
        same_stages = sorted(recorded.get("stages") or []) == sorted(loaded.get("stages") or [])
        if same_stages and recorded.get("config_sha256") != loaded.get("config_sha256"):
            differences.append(
                f"{now_backbone} config fingerprint {str(recorded.get('config_sha256'))[:12]}… in the plan's record, "
                f"{str(loaded.get('config_sha256'))[:12]}… now"
            )
        if recorded.get("weights") != loaded.get("weights"):
            differences.append(f"weights folder {recorded.get('weights')} in the plan's record, {loaded.get('weights')} now")
        return differences, True
    rec, now = _stage_digests(recorded), _stage_digests(loaded)
    common = [s for s in STAGE_NAMES if s in rec and s in now]
    for stage in common:
        if rec[stage] != now[stage]:
            differences.append(f"{stage} weights sha256 {rec[stage][:12]}… in the plan's record, {now[stage][:12]}… now")
    return differences, bool(common)


def check_plan_model(plan_file: str | os.PathLike, loaded: Mapping[str, Any]) -> dict[str, Any] | None:
    """Compare the model in the run record ``plan_file`` with ``loaded`` (the pipeline's
    ``model_info``); log a warning when they differ. Returns the run record's
    ``plan_source`` entry (file, recorded model, differences), None for a plain plan
    file or a record without a model."""
    recorded = recorded_model(plan_file)
    if recorded is None:
        return None
    entry: dict[str, Any] = {"file": str(plan_file), "model": recorded}
    if not loaded:  # nothing loaded (every object dragged, warp renderer): nothing to compare
        entry["model_compared"] = False
        return entry
    differences, compared = model_differences(recorded, loaded)
    entry["model_compared"] = compared
    entry["model_differences"] = differences
    if differences:
        logger.warning(
            "the plan %s was made with other weights than the ones loaded now (%s); rendering it anyway. "
            "If that is not intended, load the weights it names; the run record keeps both",
            plan_file,
            "; ".join(differences),
        )
    elif not compared:
        logger.debug("the plan %s shares no loaded stage with this run; its weights are not compared", plan_file)
    return entry


__all__ = ["check_plan_model", "model_differences", "recorded_model"]
