"""`AnimatePipeline`: the whole TTM chain, plan -> stage 1 -> stage 2, on images of any size.

    pipe = AnimatePipeline.from_pretrained("path/to/model")     # motion/ and video/
    out = pipe(image, plan, drags={"dog": DragPath.parse("40,60 90,60")}, seed=0)
    out.video        # (T, H, W, 3) uint8, at the input's aspect ratio
    out.trajectory   # the mask trajectory at the same size

Geometry. Every motion is held as a `MotionTrack` per object in the pixels of the
video being made. Stage 1 runs on a square canvas (`motion_canvas`, the size the motion
model was trained at): the image and its masks are fitted to it (`fit_to_model`) and the
sampled tracks are scaled back. Drags are given in input-image pixels. The output video
has the input's aspect ratio, its long side capped at ``max_size`` (default 512) so a
phone photo does not become a 4000-pixel video; the trajectory is drawn at that size from
the tracks. Stage 2 (``renderer="model"``) fits image and trajectory to the video model's
canvas, renders there, and the result is cut back to the input's aspect ratio and resized
to the output size. ``renderer="warp"`` needs no stage-2 model: it moves each object's
pixels along its track at the output size (`maskmotion.render.warp_preview`).

`render` is stage 2 alone from a given (possibly edited) trajectory; ``__call__`` is
`plan_trajectory` followed by `render`, so planning and rendering separately with the
same seed gives the same video as one call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import cv2
import numpy as np
import torch

from .. import __version__
from ..errors import InputError
from ..files import atomic_dir, atomic_path
from ..models import MotionDiT, VideoDiT
from ..models.io import WEIGHTS_NAME, load_model
from ..plan import FitMap, PlanError, ScenePlan, fit_to_model
from ..render import warp_preview
from ..text import TextEncoder
from ..trajectory import DragPath, MaskTrajectory, MotionTrack, shift_canvas, warp_masks
from ..weights import STAGES, resolve_model_folder
from .motion import MotionPipeline
from .video import OUTPUT_TYPES, VideoPipeline

logger = logging.getLogger(__name__)

RENDERERS = ("model", "warp")
#: Long side of the output video when the input is larger (pixels).
DEFAULT_MAX_SIZE = 512
#: Square canvas stage 1 runs on: the sprites world's size, which the motion model sees in
#: training. Motion is normalised by the canvas size, so this fixes only the raster.
MOTION_CANVAS = 64
#: Frames when no model fixes the count (all objects dragged and the warp renderer).
DEFAULT_FRAMES = 16
DEFAULT_FPS = 8.0

# callback_on_step_end(stage, step, t, x): stage is "motion" or "video".
StepCallback = Callable[[str, int, torch.Tensor, torch.Tensor], None]


@dataclass
class TrajectoryOutput:
    """What stage 1 (and the drags) made.

    Attributes:
        trajectory: the mask trajectory at the output size (input's aspect ratio).
        tracks: per object id, its motion in the trajectory's pixels.
        plan: the plan it was made from.
        settings: resolved settings (frames, size, seed, stage-1 steps and guidance, which
            objects were dragged).
    """

    trajectory: MaskTrajectory
    tracks: dict[int, MotionTrack]
    plan: ScenePlan
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnimatePipelineOutput:
    """The result of `AnimatePipeline.__call__`.

    Attributes:
        video: (T, H, W, 3) uint8 for ``output_type="np"``, (T, 3, H, W) float in [0, 1]
            for "pt", a list of PIL images for "pil"; H, W as the trajectory.
        trajectory, tracks, plan: as in `TrajectoryOutput`.
        settings: everything resolved (seed, frames, size, steps and guidance per stage,
            renderer), for the run record.
    """

    video: Any
    trajectory: MaskTrajectory
    tracks: dict[int, MotionTrack]
    plan: ScenePlan
    settings: dict[str, Any] = field(default_factory=dict)


class AnimatePipeline:
    """Plan -> mask trajectory (stage 1, or drags) -> video (stage 2, or the warp preview).

    Args:
        motion: the stage-1 pipeline; None when every object will be dragged.
        video: the stage-2 pipeline; None when only the warp renderer is used.
        motion_canvas: side of the square canvas stage 1 runs on.
    """

    def __init__(
        self,
        motion: MotionPipeline | None,
        video: VideoPipeline | None = None,
        motion_canvas: int = MOTION_CANVAS,
    ) -> None:
        if motion is not None and not isinstance(motion, MotionPipeline):
            raise TypeError(f"motion must be a MotionPipeline, got {type(motion).__name__}")
        if video is not None and not isinstance(video, VideoPipeline):
            raise TypeError(f"video must be a VideoPipeline, got {type(video).__name__}")
        self.motion = motion
        self.video = video
        self.motion_canvas = int(motion_canvas)
        self.model_info: dict[str, Any] = {}  # where the weights came from, for run records
        self._progress: dict[str, Any] = {}

    # ---- loading and saving -------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike = "default",
        device: str | torch.device = "cpu",
        text_encoder: TextEncoder | None = None,
        stages: Sequence[str] = STAGES,
        text_model: str | os.PathLike | None = None,
    ) -> "AnimatePipeline":
        """Load a bundled model by name or a folder holding ``motion/`` and ``video/``.

        ``stages`` picks what to load: ("motion",) to plan only, ("video",) to render
        only, () for drags with the warp renderer (no weights, no text encoder). Both
        stages share one text encoder: ``text_encoder``, else one loaded from
        ``text_model`` (a transformers folder), else the bundled MiniLM. Weights are
        checked before the (slower) text encoder loads.
        """
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            raise InputError(f"unknown stage(s) {unknown}; choose from {STAGES}")
        folders = {s: resolve_model_folder(name_or_path, s) for s in STAGES if s in stages}
        models = {s: load_model(folder, device) for s, folder in folders.items()}
        kinds = {"motion": (MotionDiT, "stage-1 motion"), "video": (VideoDiT, "stage-2 video")}
        for s, model in models.items():
            kind, what = kinds[s]
            if not isinstance(model, kind):
                raise InputError(
                    f"{folders[s]} holds a {type(model).__name__}, not a {what} model; "
                    f"give a model folder with {STAGES[0]}/ and {STAGES[1]}/"
                )
        if models and text_encoder is None:
            text_encoder = TextEncoder(text_model, device=device)
        motion = MotionPipeline(models["motion"], text_encoder, device) if "motion" in models else None
        video = VideoPipeline(models["video"], text_encoder, device) if "video" in models else None
        pipe = cls(motion, video)
        pipe.model_info = {
            "name_or_path": str(name_or_path),
            **{s: {"folder": str(f), "sha256": _sha256(f / WEIGHTS_NAME)} for s, f in folders.items()},
        }
        return pipe

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write ``path/motion/`` and ``path/video/`` (the stages this pipeline holds),
        replacing ``path`` atomically."""
        if self.motion is None and self.video is None:
            raise InputError("this pipeline holds no models to save")
        path = Path(path)
        with atomic_dir(path) as tmp:
            if self.motion is not None:
                self.motion.save_pretrained(tmp / "motion")
            if self.video is not None:
                self.video.save_pretrained(tmp / "video")
        return path

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        """tqdm options for the per-stage progress bars, e.g. ``disable=True``."""
        self._progress = dict(kwargs)

    # ---- facts --------------------------------------------------------------------------
    @property
    def has_motion_model(self) -> bool:
        """Whether a stage-1 model is loaded (subclasses with other models override)."""
        return self.motion is not None

    @property
    def has_video_model(self) -> bool:
        """Whether a stage-2 model is loaded."""
        return self.video is not None

    @property
    def model_frames(self) -> int | None:
        """Frames the stage-2 model renders (None without one)."""
        return self.video.model.cfg.frames if self.video is not None else None

    def default_frames(self) -> int:
        """The stage-2 model's frame count (it renders only that), else stage 1's."""
        if self.video is not None:
            return self.video.model.cfg.frames
        if self.motion is not None:
            return self.motion.model.cfg.frames
        return DEFAULT_FRAMES

    # ---- input checks -------------------------------------------------------------------
    def check_inputs(
        self,
        image: np.ndarray,
        plan: ScenePlan,
        drags: Mapping[str | int, DragPath] | None = None,
        num_frames: int | None = None,
        num_inference_steps: int | None = None,
        renderer: str = "model",
        max_size: int = DEFAULT_MAX_SIZE,
        output_type: str = "np",
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> dict[int, DragPath]:
        """Every check `__call__` makes before it runs a model; returns the drags by id."""
        _check_image(image)
        if not isinstance(plan, ScenePlan):
            raise InputError(f"plan must be a ScenePlan, got {type(plan).__name__}; make one with plan_scene")
        if plan.size != image.shape[:2]:
            raise InputError(
                f"the plan's masks are {plan.size[1]}x{plan.size[0]} but the image is "
                f"{image.shape[1]}x{image.shape[0]}; plan on this image"
            )
        by_id = resolve_drags(plan, drags or {})
        if len(by_id) < len(plan.objects) and not self.has_motion_model:
            undragged = [o.name for o in plan.objects if o.id not in by_id]
            raise InputError(
                f"no stage-1 model is loaded to move {undragged}; load one (from_pretrained) or drag every object"
            )
        self._check_render_options(renderer, num_inference_steps, output_type, generator, seed)
        if num_frames is not None:
            _check_frames(num_frames)
        frames = num_frames if num_frames is not None else self.default_frames()
        if renderer == "model" and frames != self.model_frames:
            raise InputError(
                f"the stage-2 model renders {self.model_frames} frames, not {frames}; "
                "leave out the frame count or use the warp renderer"
            )
        if not _is_int(max_size) or max_size < 16:
            raise InputError(f"max_size must be an integer of at least 16 pixels, got {max_size!r}")
        return by_id

    def _check_render_options(
        self, renderer: str, steps: int | None, output_type: str, generator: torch.Generator | None, seed: int | None
    ) -> None:
        if renderer not in RENDERERS:
            raise InputError(f"renderer must be one of {RENDERERS}, got {renderer!r}")
        if renderer == "model" and not self.has_video_model:
            raise InputError("no stage-2 model is loaded; load one (from_pretrained) or use the warp renderer")
        if steps is not None and (not _is_int(steps) or steps < 1):
            raise InputError(f"num_inference_steps must be a positive integer, got {steps!r}")
        if output_type not in OUTPUT_TYPES:
            raise InputError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        if generator is not None and seed is not None:
            raise InputError("give a generator or a seed, not both")
        if seed is not None and (not _is_int(seed) or seed < 0):
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")

    # ---- stage 1 (and drags) -----------------------------------------------------------
    def plan_trajectory(
        self,
        image: np.ndarray,
        plan: ScenePlan,
        drags: Mapping[str | int, DragPath] | None = None,
        num_frames: int | None = None,
        num_inference_steps: int | None = None,
        motion_guidance: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        callback_on_step_end: StepCallback | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
        fps: float = DEFAULT_FPS,
    ) -> TrajectoryOutput:
        """Stage 1: the mask trajectory of ``plan`` on ``image``, at the output size.

        ``drags`` (object name or id -> `DragPath` in input-image pixels) replace stage 1
        for their objects; the others still come from stage 1, which is skipped when
        every object is dragged. Stage 1 makes the motion model's frame count; another
        ``num_frames`` resamples its tracks in time (linearly). ``motion_guidance`` is
        (visual, text); None keeps `MotionPipeline`'s defaults.
        """
        # 1. Check inputs.
        by_id = self.check_inputs(
            image, plan, drags, num_frames, num_inference_steps, "warp", max_size, "np", generator, seed
        )
        _check_guidance(motion_guidance, "motion_guidance")
        if fps <= 0:
            raise InputError(f"fps must be positive, got {fps}")
        frames = int(num_frames) if num_frames is not None else self.default_frames()
        if generator is None:
            seed = 0 if seed is None else int(seed)
            generator = torch.Generator().manual_seed(seed)
        h_in, w_in = image.shape[:2]
        h_out, w_out = output_size(h_in, w_in, max_size)
        ids_out = _first_ids_at(plan, (h_out, w_out))

        # 2. Stage 1 for the objects that are not dragged (all of them go in: the
        #    dragged ones are context for the others).
        tracks_in: dict[int, MotionTrack] = {}
        stage1: dict[str, Any] | None = None
        if len(by_id) < len(plan.objects):
            tracks_in, stage1 = self._sample_motion(
                image, plan, frames, num_inference_steps, motion_guidance, generator, callback_on_step_end
            )

        # 3. Drags replace stage 1 for their objects.
        for oid, path in by_id.items():
            tracks_in[oid] = path.track(frames)

        # 4. Draw the trajectory at the output size.
        fx, fy = w_out / w_in, h_out / h_in
        tracks = {oid: _scale_track(tr, fx, fy) for oid, tr in sorted(tracks_in.items())}
        ids = warp_masks(ids_out, tracks, frames)
        trajectory = MaskTrajectory(ids, plan.trajectory_objects(), fps)
        settings = {
            "num_frames": frames,
            "fps": float(fps),
            "size": [h_out, w_out],
            "input_size": [h_in, w_in],
            "max_size": max_size,
            "seed": seed,
            "motion": stage1,
            "dragged": [plan.object(oid).name for oid in sorted(by_id)],
        }
        return TrajectoryOutput(trajectory, tracks, plan, settings)

    def _sample_motion(
        self,
        image: np.ndarray,
        plan: ScenePlan,
        frames: int,
        steps: int | None,
        guidance: tuple[float, float] | None,
        generator: torch.Generator,
        callback: StepCallback | None,
    ) -> tuple[dict[int, MotionTrack], dict[str, Any]]:
        """Run stage 1 on the motion canvas; tracks come back in input-image pixels."""
        assert self.motion is not None
        pipe = self.motion
        steps = steps or pipe.default_steps
        s_i, s_t = guidance or (pipe.default_visual_guidance, pipe.default_text_guidance)
        canvas_image, canvas_ids, fmap = fit_to_model(image, plan.first_ids, self.motion_canvas)
        with self._stage_progress("stage 1: motion", "motion", steps, callback) as step_end:
            out = pipe(
                canvas_image, canvas_ids, plan.trajectory_objects(), plan.motion_prompt,
                num_inference_steps=steps, visual_guidance_scale=s_i, text_guidance_scale=s_t,
                generator=generator, callback_on_step_end=step_end,
            )  # fmt: skip
        # Canvas pixels -> input pixels; padding only shifts, so scaling is the whole map.
        fx, fy = fmap.src_width / fmap.scaled_width, fmap.src_height / fmap.scaled_height
        tracks = {oid: _resample_track(_scale_track(tr, fx, fy), frames) for oid, tr in out.tracks.items()}
        settings = {
            "num_inference_steps": steps,
            "visual_guidance_scale": float(s_i),
            "text_guidance_scale": float(s_t),
            "canvas": self.motion_canvas,
            "model_frames": pipe.model.cfg.frames,
        }
        return tracks, settings

    # ---- stage 2 ------------------------------------------------------------------------
    def render(
        self,
        image: np.ndarray,
        trajectory: MaskTrajectory,
        prompt: str,
        tracks: Mapping[int, MotionTrack] | None = None,
        renderer: str = "model",
        num_inference_steps: int | None = None,
        video_guidance: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        callback_on_step_end: StepCallback | None = None,
        output_type: str = "np",
    ) -> tuple[Any, dict[str, Any]]:
        """Stage 2: the video of ``trajectory`` starting at ``image``.

        ``image`` is the input at any size with the trajectory's aspect ratio; the video
        comes out at the trajectory's size. "model" renders on the video model's canvas
        (the trajectory is resampled there, nearest); "warp" moves each object's pixels
        along ``tracks`` (fitted to the masks when not given). Returns the video (see
        `AnimatePipelineOutput.video`) and the resolved settings.
        """
        # 1. Check inputs.
        _check_image(image)
        if not isinstance(trajectory, MaskTrajectory):
            raise InputError(f"trajectory must be a MaskTrajectory, got {type(trajectory).__name__}")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError("the prompt is empty; describe the video, e.g. 'the dog jumps'")
        self._check_render_options(renderer, num_inference_steps, output_type, generator, seed)
        _check_guidance(video_guidance, "video_guidance")
        h, w = trajectory.size
        h_in, w_in = image.shape[:2]
        # The long side is exact and the short one rounded (see `output_size`).
        off = abs(w * h_in / w_in - h) if w >= h else abs(h * w_in / h_in - w)
        if off > 1.0:
            raise InputError(
                f"the trajectory is {w}x{h} but the image is {w_in}x{h_in}, another aspect ratio; "
                "render with the image the trajectory was planned on"
            )
        if renderer == "model" and trajectory.num_frames != self.model_frames:
            raise InputError(
                f"the trajectory has {trajectory.num_frames} frames but the stage-2 model renders "
                f"{self.model_frames}; plan with that many frames or use the warp renderer"
            )
        if generator is None:
            seed = 0 if seed is None else int(seed)
            generator = torch.Generator().manual_seed(seed)

        # 2. Render.
        if renderer == "warp":
            logger.info("rendering the warp preview (%d frames of %dx%d)", trajectory.num_frames, w, h)
            frame = _resize_frames(image, (h, w))
            video = warp_preview(frame, trajectory, dict(tracks) if tracks is not None else None)
            settings: dict[str, Any] = {"renderer": "warp"}
        else:
            video, settings = self._render_model(
                image, trajectory, prompt, tracks, num_inference_steps, video_guidance, generator, callback_on_step_end
            )
        settings["seed"] = seed

        # 3. Convert.
        return _convert(video, output_type), settings

    def _render_model(
        self,
        image: np.ndarray,
        trajectory: MaskTrajectory,
        prompt: str,
        tracks: Mapping[int, MotionTrack] | None,
        steps: int | None,
        guidance: tuple[float, float] | None,
        generator: torch.Generator,
        callback: StepCallback | None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        canvas_size, default_steps, default_guidance = self._video_defaults()
        steps = steps or default_steps
        s_i, s_t = guidance or default_guidance
        canvas_image, _, fmap = fit_to_model(image, None, canvas_size)
        canvas_traj = _trajectory_on_canvas(trajectory, fmap)
        canvas_tracks = None
        if tracks is not None:
            # Displacements scale with the image; the padding offset cancels out.
            fy = fmap.scaled_height / trajectory.size[0]
            fx = fmap.scaled_width / trajectory.size[1]
            canvas_tracks = {oid: _scale_track(tr, fx, fy) for oid, tr in tracks.items()}
        with self._stage_progress("stage 2: video", "video", steps, callback) as step_end:
            frames = self._render_canvas(
                canvas_image, canvas_traj, prompt, canvas_tracks, steps, (s_i, s_t), generator, step_end
            )  # (T, Hc, Wc, 3) uint8
        video = _resize_frames(fmap.restore(frames), trajectory.size)
        settings = {
            "renderer": "model",
            "num_inference_steps": steps,
            "visual_guidance_scale": float(s_i),
            "text_guidance_scale": float(s_t),
            "canvas": list(canvas_size),
        }
        return video, settings

    def _video_defaults(self) -> tuple[tuple[int, int], int, tuple[float, float]]:
        """Stage 2's canvas (H, W), default steps and default (visual, text) guidance."""
        assert self.video is not None
        pipe, cfg = self.video, self.video.model.cfg
        return (cfg.height, cfg.width), pipe.default_steps, (pipe.default_visual_guidance, pipe.default_text_guidance)

    def _render_canvas(
        self,
        image: np.ndarray,
        trajectory: MaskTrajectory,
        prompt: str,
        tracks: Mapping[int, MotionTrack] | None,
        steps: int,
        guidance: tuple[float, float],
        generator: torch.Generator,
        step_end: Callable[[int, torch.Tensor, torch.Tensor], None],
    ) -> np.ndarray:
        """Stage 2 on the model canvas: (T, Hc, Wc, 3) uint8."""
        assert self.video is not None
        return self.video(
            image, trajectory, prompt, num_inference_steps=steps, visual_guidance_scale=guidance[0],
            text_guidance_scale=guidance[1], generator=generator, callback_on_step_end=step_end, tracks=tracks,
        )  # fmt: skip

    # ---- the whole chain ----------------------------------------------------------------
    def __call__(
        self,
        image: np.ndarray,
        plan: ScenePlan,
        drags: Mapping[str | int, DragPath] | None = None,
        num_frames: int | None = None,
        num_inference_steps: int | None = None,
        motion_guidance: tuple[float, float] | None = None,
        video_guidance: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        renderer: str = "model",
        callback_on_step_end: StepCallback | None = None,
        output_type: str = "np",
        max_size: int = DEFAULT_MAX_SIZE,
        fps: float = DEFAULT_FPS,
    ) -> AnimatePipelineOutput:
        """Animate ``image`` as ``plan`` says.

        Args:
            image: (H, W, 3) uint8, any size (`maskmotion.plan.load_image`).
            plan: a `ScenePlan` made on this image (`maskmotion.plan.plan_scene`).
            drags: object name (or id) -> `DragPath` in input-image pixels; replaces
                stage 1 for that object.
            num_frames: default the models' frame count; the model renderer needs it.
            num_inference_steps: for both stages; None keeps each stage's default.
            motion_guidance, video_guidance: (visual, text) guidance scales per stage.
            generator: one CPU generator for both stages, in order. Or ``seed``: each
                stage gets its own generator seeded with it, so `render` with the same
                seed repeats stage 2 exactly. Neither: seed 0.
            renderer: "model" (stage 2) or "warp" (no stage-2 model: each object's pixels
                moved along its track; the honest preview for real photos).
            callback_on_step_end: ``(stage, step, t, x)`` after every sampler step.
            output_type: "np", "pt" or "pil" for the video.
            max_size: the output's long side is at most this many pixels.
            fps: frame rate stored in the trajectory.
        """
        # 1. Check every input before any model runs.
        self.check_inputs(
            image, plan, drags, num_frames, num_inference_steps, renderer, max_size, output_type, generator, seed
        )
        _check_guidance(video_guidance, "video_guidance")
        if generator is None and seed is None:
            seed = 0

        # 2. Stage 1 (and drags) -> trajectory at the output size.
        planned = self.plan_trajectory(
            image, plan, drags, num_frames, num_inference_steps, motion_guidance, generator, seed,
            callback_on_step_end, max_size, fps,
        )  # fmt: skip

        # 3. Stage 2 (or the warp preview) -> video at the same size.
        video, render_settings = self.render(
            image, planned.trajectory, plan.global_prompt, planned.tracks, renderer, num_inference_steps,
            video_guidance, generator, seed, callback_on_step_end, output_type,
        )  # fmt: skip
        settings = {**planned.settings, "renderer": renderer, "video": render_settings}
        return AnimatePipelineOutput(video, planned.trajectory, planned.tracks, plan, settings)

    # ---- progress -----------------------------------------------------------------------
    @contextmanager
    def _stage_progress(
        self, desc: str, stage: str, steps: int, callback: StepCallback | None
    ) -> Iterator[Callable[[int, torch.Tensor, torch.Tensor], None]]:
        from tqdm.auto import tqdm

        options = {"desc": desc, "total": steps, "leave": False, **self._progress}
        with tqdm(**options) as bar:

            def step_end(i: int, t: torch.Tensor, x: torch.Tensor) -> None:
                bar.update(1)
                if callback is not None:
                    callback(stage, i, t, x)

            yield step_end


# ---- drags ------------------------------------------------------------------------------
def parse_drag_arg(text: str) -> tuple[str, DragPath]:
    """Parse ``"NAME: x,y x,y ..."`` (points in input-image pixels; a point may carry
    ``@scale`` and ``/angle``, e.g. ``"dog: 10,20 60,20@1.5/90"``)."""
    name, sep, points = text.partition(":")
    if not sep or not name.strip():
        raise InputError(f"--drag {text!r} must look like \"NAME: x,y x,y ...\", e.g. --drag \"dog: 40,60 120,60\"")
    try:
        path = DragPath.parse(points)
    except InputError as exc:
        raise InputError(f"--drag {text!r}: {exc}") from None
    return name.strip(), path


def resolve_drags(plan: ScenePlan, drags: Mapping[str | int, DragPath]) -> dict[int, DragPath]:
    """Drags keyed by object id; a key must be an object's name or id in ``plan``."""
    by_id: dict[int, DragPath] = {}
    names = [o.name for o in plan.objects]
    for key, path in drags.items():
        if not isinstance(path, DragPath):
            raise InputError(f"the drag of {key!r} must be a DragPath, got {type(path).__name__}")
        try:
            oid = plan.object(key).id
        except KeyError:
            raise InputError(f"--drag names {key!r}, which is not an object; objects: {names}") from None
        if oid in by_id:
            raise InputError(f"object {plan.object(oid).name!r} is dragged twice; give one --drag per object")
        by_id[oid] = path
    return by_id


# ---- geometry ---------------------------------------------------------------------------
def output_size(height: int, width: int, max_size: int = DEFAULT_MAX_SIZE) -> tuple[int, int]:
    """(H, W) of the output: the input's aspect ratio, long side at most ``max_size``."""
    scale = min(1.0, max_size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _first_ids_at(plan: ScenePlan, size: tuple[int, int]) -> np.ndarray:
    """The plan's first-frame ids at ``size`` (nearest); every object must survive."""
    if plan.size == size:
        return np.array(plan.first_ids)
    ids = MaskTrajectory(plan.first_ids[None], plan.trajectory_objects()).resize(*size).ids[0]
    lost = [o.name for o in plan.objects if not (ids == o.id).any()]
    if lost:
        raise InputError(
            f"object(s) {lost} vanish when the image is scaled to {size[1]}x{size[0]}; "
            "mark them larger or raise the output size limit (--max-size)"
        )
    return ids


def _trajectory_on_canvas(trajectory: MaskTrajectory, fmap: FitMap) -> MaskTrajectory:
    """A trajectory at the output size, resampled (nearest) onto a model canvas."""
    scaled = trajectory.resize(fmap.scaled_height, fmap.scaled_width)
    return scaled.replace(ids=shift_canvas(scaled.ids, fmap.canvas, fill=0))


def _scale_track(track: MotionTrack, fx: float, fy: float) -> MotionTrack:
    """The same motion in pixels scaled by (fx, fy): translations scale, the rest not."""
    if fx == 1.0 and fy == 1.0:
        return track
    return MotionTrack(track.dx * fx, track.dy * fy, track.sx, track.sy, track.angle)


def _resample_track(track: MotionTrack, num_frames: int) -> MotionTrack:
    """Linear resampling in time, keeping the first and last frames."""
    if track.num_frames == num_frames:
        return track
    src = np.linspace(0.0, 1.0, track.num_frames)
    dst = np.linspace(0.0, 1.0, num_frames)
    return MotionTrack.from_array(np.stack([np.interp(dst, src, c) for c in track.as_array().T], axis=1))


def _resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., H, W, 3) uint8 resized to ``size`` = (H, W): area when shrinking, cubic when
    enlarging."""
    h, w = size
    if frames.shape[-3:-1] == (h, w):
        return np.ascontiguousarray(frames)
    interp = cv2.INTER_AREA if h <= frames.shape[-3] and w <= frames.shape[-2] else cv2.INTER_CUBIC
    flat = frames.reshape(-1, *frames.shape[-3:])
    out = np.stack([cv2.resize(np.ascontiguousarray(f), (w, h), interpolation=interp) for f in flat])
    return out.reshape(*frames.shape[:-3], h, w, 3)


def overlay(video: np.ndarray, trajectory: MaskTrajectory, alpha: float = 0.5) -> np.ndarray:
    """(T, H, 2W, 3) uint8: the video on the left, its masks blended over it on the right."""
    if video.shape[:3] != trajectory.ids.shape:
        raise InputError(f"video {video.shape[:3]} and trajectory {trajectory.ids.shape} differ in size")
    colours = trajectory.render().astype(np.float32)
    inside = (trajectory.ids > 0)[..., None]
    blend = np.where(inside, (1 - alpha) * video.astype(np.float32) + alpha * colours, video.astype(np.float32))
    return np.concatenate([video, np.clip(blend.round(), 0, 255).astype(np.uint8)], axis=2)


# ---- small checks and conversions -------------------------------------------------------
def _check_image(image: Any) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"image must be an (H, W, 3) uint8 array, got {got}; load it with maskmotion.plan.load_image")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_frames(num_frames: Any) -> None:
    if not _is_int(num_frames) or num_frames < 2:
        raise InputError(f"the frame count must be an integer of at least 2, got {num_frames!r}")


def _check_guidance(guidance: Any, name: str) -> None:
    if guidance is None:
        return
    try:
        ok = len(guidance) == 2 and all(float(g) >= 0 for g in guidance)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"{name} must be two non-negative numbers (visual, text), got {guidance!r}")


def _convert(video: np.ndarray, output_type: str) -> Any:
    if output_type == "pt":
        return torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float().div(255.0)
    if output_type == "pil":
        from PIL import Image

        return [Image.fromarray(f) for f in video]
    return video


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---- run records ------------------------------------------------------------------------
RUN_FORMAT = "maskmotion-run"
RUN_VERSION = 1


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
    import transformers

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


def load_plan_file(path: str | os.PathLike) -> ScenePlan:
    """A `ScenePlan` from a plan file (`ScenePlan.save`) or a run record (``OUT.plan.json``)."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"plan file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: not valid JSON ({exc}); fix the file or plan again") from None
    if isinstance(data, dict) and data.get("format") == RUN_FORMAT:
        if not isinstance(data.get("plan"), dict):
            raise PlanError(f"{path} is a run record without a plan; give the plan file of an animate or plan run")
        data = data["plan"]
    try:
        return ScenePlan.from_json(data)
    except InputError as exc:
        raise PlanError(f"{path}: {exc}") from None


__all__ = [
    "AnimatePipeline",
    "AnimatePipelineOutput",
    "DEFAULT_MAX_SIZE",
    "MOTION_CANVAS",
    "RENDERERS",
    "TrajectoryOutput",
    "load_plan_file",
    "output_size",
    "overlay",
    "parse_drag_arg",
    "resolve_drags",
    "run_record",
    "write_run_record",
]
