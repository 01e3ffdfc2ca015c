"""Output files and run records: everything a run writes, in one place.

    paths = output_paths(Path("out/dog.mp4"), ANIMATE_OUTPUTS)
    with OutputFiles(paths) as files:                  # nothing appears unless all succeed
        write_result(files, result, fps=8.0)
        write_run_record(files.tmp("record"), run_record("animate", result.settings, result.plan))

A run's files are written into a hidden folder beside them and moved into place together
when the whole run succeeded. If a move fails halfway, the files already moved are put
back as they were, so a run leaves either all of its outputs or none. A run record
(``OUT.plan.json``) holds the plan, every resolved setting, the model and the software
versions, so the run can be repeated (`load_plan_file` reads the plan back).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import cv2
import numpy as np
import torch

from .. import __version__
from ..errors import InputError
from ..files import atomic_path, read_json_file
from ..plan import PlanError, ScenePlan
from ..trajectory import MaskTrajectory
from ..video import write_video

#: The files of `maskmotion animate`, `plan` and `render`, by key.
ANIMATE_OUTPUTS = ("video", "trajectory_video", "overlay", "trajectory", "record")
PLAN_OUTPUTS = ("trajectory", "trajectory_video", "record")
RENDER_OUTPUTS = ("video", "overlay", "record")
VIDEO_SUFFIXES = (".mp4", ".gif")

RUN_FORMAT = "maskmotion-run"
RUN_VERSION = 1


def output_paths(out: Path, kinds: Sequence[str]) -> dict[str, Path]:
    """OUT.mp4 -> OUT.mp4, OUT.trajectory.mp4, OUT.overlay.mp4, OUT.trajectory.npz,
    OUT.plan.json (the ``kinds`` asked for). Without a video among them, OUT may also be
    a bare name."""
    out = Path(out)
    suffix = out.suffix.lower()
    if "video" in kinds and suffix not in VIDEO_SUFFIXES:
        raise InputError(f"--out {out} must end in .mp4 or .gif, e.g. --out dog.mp4")
    ext = suffix if suffix in VIDEO_SUFFIXES else ".mp4"
    stem = out.with_suffix("") if suffix in VIDEO_SUFFIXES else out
    names = {
        "video": out,
        "trajectory_video": Path(f"{stem}.trajectory{ext}"),
        "overlay": Path(f"{stem}.overlay{ext}"),
        "trajectory": Path(f"{stem}.trajectory.npz"),
        "record": Path(f"{stem}.plan.json"),
    }
    unknown = sorted(set(kinds) - set(names))
    if unknown:
        raise ValueError(f"unknown output kind(s) {unknown}")
    return {k: names[k] for k in kinds}


class OutputFiles:
    """A run's output files, written under `tmp` paths in a hidden folder beside them and
    moved into place together on a clean exit: all of them, or none."""

    def __init__(self, paths: Mapping[str, Path]) -> None:
        self.paths = {k: Path(p) for k, p in paths.items()}
        for parent in {p.parent for p in self.paths.values()}:
            if not parent.exists():
                raise InputError(f"output folder {parent} does not exist; create it first (mkdir -p {parent})")
            if not parent.is_dir():
                raise InputError(f"{parent} is not a folder; choose another --out")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise InputError(f"cannot write to {parent} (permission denied); choose another --out")
        for p in self.paths.values():
            if p.is_dir():
                raise InputError(f"{p} is a folder; choose another --out")
        first = next(iter(self.paths.values()))
        try:
            self.folder = Path(tempfile.mkdtemp(prefix=f".{first.name}.", suffix=".tmp", dir=first.parent))
        except OSError as exc:
            raise InputError(f"cannot write to {first.parent} ({exc.strerror}); choose another --out") from None

    def tmp(self, key: str) -> Path:
        """Where to write output ``key`` until the run succeeds."""
        return self.folder / self.paths[key].name

    def __enter__(self) -> "OutputFiles":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _commit(self) -> None:
        missing = [k for k in self.paths if not self.tmp(k).is_file()]
        if missing:
            raise RuntimeError(f"output(s) {missing} were never written")
        backups = self.folder / ".previous"
        backups.mkdir()
        done: list[tuple[Path, Path | None]] = []  # (final path, its previous file kept aside)
        try:
            for key, final in self.paths.items():
                previous = None
                if final.exists():
                    previous = backups / f"{key}{final.suffix}"
                    os.replace(final, previous)
                done.append((final, previous))
                os.replace(self.tmp(key), final)
        except BaseException:
            for final, previous in reversed(done):
                try:
                    if previous is not None:
                        os.replace(previous, final)
                    else:
                        final.unlink(missing_ok=True)
                except OSError:
                    pass
            raise


def write_result(files: OutputFiles, result: Any, fps: float) -> None:
    """Write what ``files`` asks for from an `AnimateResult` or `MotionResult`: the video,
    the colour-mask trajectory video, the side-by-side overlay and the exact trajectory."""
    trajectory: MaskTrajectory = result.trajectory
    video = getattr(result, "video", None)
    for key in files.paths:
        if key == "video":
            write_video(files.tmp(key), video, fps=fps)
        elif key == "trajectory_video":
            write_video(files.tmp(key), trajectory.render(), fps=fps)
        elif key == "overlay":
            write_video(files.tmp(key), overlay(video, trajectory), fps=fps)
        elif key == "trajectory":
            trajectory.save(files.tmp(key))


def overlay(video: np.ndarray, trajectory: MaskTrajectory, alpha: float = 0.5) -> np.ndarray:
    """(T, H, 2W, 3) uint8: the video on the left, its masks blended over it on the right."""
    if video.shape[:3] != trajectory.ids.shape:
        raise InputError(f"video {video.shape[:3]} and trajectory {trajectory.ids.shape} differ in size")
    colours = trajectory.render().astype(np.float32)
    inside = (trajectory.ids > 0)[..., None]
    blend = np.where(inside, (1 - alpha) * video.astype(np.float32) + alpha * colours, video.astype(np.float32))
    return np.concatenate([video, np.clip(blend.round(), 0, 255).astype(np.uint8)], axis=2)


# ---- run records ------------------------------------------------------------------------
def run_record(
    command: str,
    settings: Mapping[str, Any],
    plan: ScenePlan | None = None,
    inputs: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
    argv: Sequence[str] | None = None,
) -> dict[str, Any]:
    """What ``OUT.plan.json`` holds: the plan, every resolved setting, the model and
    software versions, and the command line, so a run can be repeated."""
    import transformers  # noqa: PLC0415 - only its version; importing it costs ~1 s

    return {
        "format": RUN_FORMAT,
        "version": RUN_VERSION,
        "command": command,
        "argv": list(argv) if argv is not None else None,
        "inputs": dict(inputs or {}),
        "plan": plan.to_json() if plan is not None else None,
        "settings": json.loads(json.dumps(settings)),
        "model": dict(model or {}),
        "versions": {
            "maskmotion": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
    }


def write_run_record(path: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return path


def load_plan_file(path: str | os.PathLike, max_size: tuple[int, int] | None = None) -> ScenePlan:
    """A `ScenePlan` from a plan file (`ScenePlan.save`) or a run record (``OUT.plan.json``);
    ``max_size``: (H, W) of the image it is for (larger masks are refused before they are
    decompressed)."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"plan file {path} does not exist")
    data = read_json_file(path, PlanError, "fix the file or plan again")
    if isinstance(data, dict) and data.get("format") == RUN_FORMAT:
        if not isinstance(data.get("plan"), dict):
            raise PlanError(f"{path} is a run record without a plan; give the plan file of an animate or plan run")
        data = data["plan"]
    try:
        return ScenePlan.from_json(data, max_size)
    except InputError as exc:
        raise PlanError(f"{path}: {exc}") from None


__all__ = [
    "ANIMATE_OUTPUTS",
    "OutputFiles",
    "PLAN_OUTPUTS",
    "RENDER_OUTPUTS",
    "load_plan_file",
    "output_paths",
    "overlay",
    "run_record",
    "write_result",
    "write_run_record",
]
