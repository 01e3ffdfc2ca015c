"""The page's work, done by the pipeline the command line uses.

`DemoEngine` loads one `AnimatePipeline` per process, runs one job at a time on it (the
page's queue holds the rest) and removes the folders of sessions left idle. Its steps are
the command line's: uploads are checked with the same `ImageLimits` (from the file
header, before decoding), the plan is `scene_from_files`, stage 1 is
`AnimatePipeline.motion`, stage 2 `render`, and a render's files are written by
`pipelines.outputs` exactly as `maskmotion animate` writes them, so `maskmotion render
IMAGE --trajectory OUT.trajectory.npz --plan OUT.plan.json` repeats it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..errors import InputError
from ..pipelines import AnimatePipeline, Scene, scene_from_files
from ..pipelines.outputs import ANIMATE_OUTPUTS, OutputFiles, output_paths, overlay, run_record, write_result, write_run_record
from ..pipelines.scene_files import inputs_record
from ..plan import DEFAULT_LIMITS, ImageLimits, load_image, probe_image, working_size
from ..video import write_video
from .state import Session

logger = logging.getLogger(__name__)

#: Upload types the page takes (what `load_image` reads and browsers send).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
#: Default largest upload: a phone photo is a few MB; the pixel limit is checked as well.
DEFAULT_MAX_UPLOAD_BYTES = 50 * 2**20
#: Run folders a session keeps; older ones are removed when a new render starts.
KEEP_RUNS = 2
OUT_NAME = "maskmotion"
#: Sessions idle this long (seconds) are dropped with their folders, unless set otherwise.
DEFAULT_IDLE_SECONDS = 3600.0
#: The longest wait (seconds) between two looks for idle sessions.
SWEEP_EVERY = 60.0


@dataclass(frozen=True)
class DemoConfig:
    """How `maskmotion demo` serves the page (its command-line options)."""

    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    model: str = "default"
    backbone: str = "small"
    weights: str | None = None
    text_model: str | None = None
    device: str = "cpu"
    dtype: str | None = None  # a real backbone's precision ("bfloat16", ...); None: its default
    limits: ImageLimits = DEFAULT_LIMITS
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    queue_size: int = 8
    idle_seconds: float = DEFAULT_IDLE_SECONDS
    max_size: int = 512
    fps: float = 8.0
    examples: bool = True


@dataclass
class RenderFiles:
    """What a render leaves for the page: the videos and the files to download."""

    video: Path
    overlay: Path
    downloads: list[Path]
    seconds: float
    renderer: str


class DemoEngine:
    """One pipeline, one job at a time, and the temporary folders of every session.

    Sessions are made by `claim` and handed back by `release` around every event of the
    page; one that no event has used for ``config.idle_seconds`` is dropped with its
    folder by a background sweep (`drop_idle`), whether or not its browser is still open.
    """

    def __init__(self, config: DemoConfig, pipe: AnimatePipeline | None = None) -> None:
        if not config.idle_seconds > 0:
            raise InputError(f"the idle time of a session must be positive, got {config.idle_seconds} s")
        self.config = config
        self.root = Path(tempfile.mkdtemp(prefix="maskmotion-demo-"))
        self.lock = threading.Lock()  # held for a whole job: one job at a time
        self._sessions: dict[Path, Session] = {}
        self._sessions_lock = threading.Lock()
        self._stop = threading.Event()
        self.pipe = pipe if pipe is not None else self._load()
        logger.info("temporary files in %s (removed when the page stops)", self.root)
        self._sweeper = threading.Thread(target=self._sweep, name="idle-sessions", daemon=True)
        self._sweeper.start()

    def _load(self) -> AnimatePipeline:
        c = self.config
        source = c.model if c.backbone == "small" else c.weights
        if c.backbone != "small" and c.weights is None:
            raise InputError(f"--backbone {c.backbone} needs --weights PATH, a local weights folder (see docs/backbones.md)")
        logger.info("loading stages 1 and 2 (%s) from %s on %s", c.backbone, source, c.device)
        dtype = None if c.dtype is None else getattr(torch, c.dtype)
        pipe = AnimatePipeline.from_pretrained(source, c.device, text_model=c.text_model, backbone=c.backbone, dtype=dtype)
        pipe.set_progress_bar_config(leave=False)
        return pipe

    def close(self) -> None:
        self._stop.set()
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- sessions -----------------------------------------------------------------------
    def new_session(self) -> Session:
        session = Session(Path(tempfile.mkdtemp(prefix="session-", dir=self.root)))
        with self._sessions_lock:
            self._sessions[session.folder] = session
        return session

    def claim(self, session: Session | None) -> Session:
        """The session an event works on, marked busy so no sweep drops it meanwhile: the
        page's own, or a new one when it has none or its old one was dropped as idle."""
        with self._sessions_lock:
            if session is not None and session.folder in self._sessions:
                session.busy += 1
                session.last_used = time.monotonic()
                return session
        if session is not None:
            logger.info("%s was dropped after being idle; starting a new session", session.folder.name)
        session = self.new_session()
        with self._sessions_lock:
            session.busy += 1
        return session

    def release(self, session: Session) -> None:
        """The event on ``session`` is over: its idle time starts now."""
        with self._sessions_lock:
            session.busy -= 1
            session.last_used = time.monotonic()

    def drop(self, session: Session | None) -> None:
        """Remove a session and its folder, unless an event is using it (gradio's own
        expiry calls this; the sweep then drops it once it is really idle)."""
        if session is None:
            return
        with self._sessions_lock:
            if session.busy or self._sessions.pop(session.folder, None) is None:
                return
        session.cleanup()
        logger.info("dropped %s", session.folder.name)

    def drop_idle(self) -> list[Session]:
        """Drop every session no event has used for ``config.idle_seconds``; the dropped."""
        now = time.monotonic()
        with self._sessions_lock:
            idle = [s for s in self._sessions.values() if not s.busy and now - s.last_used > self.config.idle_seconds]
            for session in idle:
                del self._sessions[session.folder]
        for session in idle:
            session.cleanup()
            logger.info("dropped %s, idle for %.0f s", session.folder.name, now - session.last_used)
        return idle

    def _sweep(self) -> None:
        # A few looks per idle time, so a session goes at most a third of it late.
        every = min(SWEEP_EVERY, self.config.idle_seconds / 3)
        while not self._stop.wait(every):
            self.drop_idle()

    @contextmanager
    def _job(self, name: str, session: Session) -> Iterator[None]:
        """One pipeline job at a time; the log shows when each ran (wall clock, ms)."""
        with self.lock:
            logger.info("%s of %s started at %s", name, session.folder.name, _now())
            try:
                yield
            finally:
                logger.info("%s of %s ended at %s", name, session.folder.name, _now())

    # ---- uploads ------------------------------------------------------------------------

    def take_upload(self, session: Session, path: str | Path, label: str | None = None) -> None:
        """Check an uploaded file (type, bytes, pixels from its header), then keep a copy
        in the session's folder as its image; the session's objects are cleared."""
        path = Path(path)
        name = label or path.name
        suffix = path.suffix.lower()
        if suffix not in IMAGE_SUFFIXES:
            raise InputError(f"{name} is not an image file the page takes; upload one of {', '.join(IMAGE_SUFFIXES)}")
        size = path.stat().st_size
        if size > self.config.max_upload_bytes:
            raise InputError(
                f"{name} is {_size(size)}, above the upload limit of {_size(self.config.max_upload_bytes)}; "
                "upload a smaller file (or start the page with a larger --max-upload-mb)"
            )
        try:
            info = probe_image(path, self.config.limits)
        except InputError as exc:
            # Name the file as the user knows it, not by the server's copy.
            raise InputError(str(exc).replace(f"image {path}", name).replace(str(path), name)) from None
        kept = session.folder / f"input{suffix}"
        shutil.copyfile(path, kept)
        session.image_path, session.image_label, session.source_size = kept, name, info.size
        session.objects, session.selected, session.corner, session.moving = [], None, None, None
        session.first_ids, session.trajectory, session.picture = None, None, None

    def display_image(self, session: Session) -> np.ndarray:
        """The session's image, decoded no larger than the plan's working size."""
        return load_image(
            session.image_path, size=working_size(session.source_size, self.config.max_size), limits=self.config.limits
        )

    # ---- the steps ---------------------------------------------------------------------
    def scene(self, session: Session, prompt: str) -> Scene:
        """Step 1, as `maskmotion plan --box ... --object ... --point ...` makes it."""
        with self._job("masks", session):
            return self._scene(session, prompt)

    def motion(self, session: Session, prompt: str, seed: int):
        """Step 2: the mask trajectory (stage 1 for objects not in drag mode)."""
        with self._job("plan", session):
            return self._motion(session, prompt, seed)

    def _scene(self, session: Session, prompt: str) -> Scene:
        _has_image(session)
        boxes, objects, points = session.hints()
        if not boxes:
            raise InputError("no object has a box yet: pick 'box' and click two opposite corners of an object")
        prompt = prompt.strip() or _names_prompt(session)
        scene = scene_from_files(
            session.image_path, prompt, boxes=boxes, objects=objects, points=points, device=self.config.device,
            max_size=self.config.max_size, limits=self.config.limits,
        )  # fmt: skip
        session.first_ids = scene.plan.first_ids
        return scene

    def _motion(self, session: Session, prompt: str, seed: int):
        _has_image(session)
        scene = self._scene(session, _required(prompt))
        result = self.pipe.motion(
            scene, session.drags(), seed=_seed(seed), max_size=self.config.max_size, fps=self.config.fps
        )  # fmt: skip
        session.trajectory = result.trajectory
        return scene, result

    def trajectory_video(self, session: Session, scene: Scene, result) -> Path:
        """The trajectory as a video: the image, then the masks blended over it."""
        traj = result.trajectory
        h, w = traj.size
        still = _resized(scene.image, (h, w))
        frames = overlay(np.repeat(still[None], traj.num_frames, axis=0), traj)
        for old in session.folder.glob("trajectory-*.mp4"):
            old.unlink(missing_ok=True)
        session.runs += 1
        path = session.folder / f"trajectory-{session.runs}.mp4"
        write_video(path, frames, fps=traj.fps or self.config.fps)
        return path

    def render(self, session: Session, prompt: str, seed: int, renderer: str) -> RenderFiles:
        """Steps 2 and 3 and the files `maskmotion animate` writes, in a fresh run folder."""
        start = time.perf_counter()
        with self._job("render", session):
            scene, motion = self._motion(session, prompt, seed)
            result = self.pipe.render(scene, motion, renderer=renderer, seed=_seed(seed))
            run = self._run_folder(session)
            paths = output_paths(run / f"{OUT_NAME}.mp4", ANIMATE_OUTPUTS)
            image_copy = run / f"{OUT_NAME}.input{session.image_path.suffix}"
            with OutputFiles(paths) as files:
                write_result(files, result, fps=motion.trajectory.fps or self.config.fps)
                drags = {name: d.points for name, d in session.drags().items()}
                inputs = inputs_record(scene, image_copy.name, drags={k: [list(p) for p in v] for k, v in drags.items()})
                settings = {**result.settings, "device": self.config.device}
                record = run_record("demo", settings, scene.plan, inputs, self.pipe.model_info)
                write_run_record(files.tmp("record"), record)
            shutil.copyfile(session.image_path, image_copy)
        seconds = time.perf_counter() - start
        logger.info("rendered %s in %.1f s (%s)", run, seconds, result.settings["renderer"])
        downloads = [paths["video"], paths["trajectory"], paths["record"], image_copy]
        return RenderFiles(paths["video"], paths["overlay"], downloads, seconds, result.settings["renderer"])

    def _run_folder(self, session: Session) -> Path:
        runs = sorted(session.folder.glob("run-*"), key=lambda p: int(p.name.split("-")[1]))
        for old in runs[: max(0, len(runs) - KEEP_RUNS + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        session.runs += 1
        run = session.folder / f"run-{session.runs}"
        run.mkdir()
        return run


def _now() -> str:
    return datetime.now().isoformat(timespec="milliseconds")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.1f} kB"


def _has_image(session: Session) -> None:
    if session.image_path is None:
        raise InputError("load an image first: upload one or pick an example")


def _names_prompt(session: Session) -> str:
    # Masks need no prompt; the plan still wants one, so a neutral sentence stands in
    # until the user writes theirs (Plan and Render require it).
    return ", ".join(f"the {o.name} stays still" for o in session.boxed()) + "."


def _required(prompt: str) -> str:
    if not prompt or not prompt.strip():
        raise InputError("the prompt is empty; describe the video, e.g. 'the red star slides to the left'")
    return prompt


def _seed(seed: Any) -> int:
    try:
        value = int(seed)
    except (TypeError, ValueError):
        raise InputError(f"the seed must be a whole number, got {seed!r}") from None
    if value != seed or not 0 <= value < 2**63:
        raise InputError(f"the seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")
    return value


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = size
    if image.shape[:2] == (h, w):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


__all__ = ["DemoConfig", "DemoEngine", "IMAGE_SUFFIXES", "RenderFiles"]
