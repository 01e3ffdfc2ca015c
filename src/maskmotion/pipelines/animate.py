"""`AnimatePipeline`: the whole TTM chain, step by step, on images of any size.

    pipe = AnimatePipeline.from_pretrained("default")           # or backbone="wan", a weights folder
    scene = pipe.plan(image, "the dog jumps", boxes=[BoxHint("dog", (10, 20, 110, 140))])
    motion = pipe.motion(scene, drags={"dog": DragPath.parse("40,60 90,60")}, seed=0)
    result = pipe.render(scene, motion)                          # or pipe(image, plan) for all three
    result.video        # (T, H, W, 3) uint8, at the input's aspect ratio
    result.trajectory   # the mask trajectory it was rendered from, same size

Each step returns one typed result that the next takes: `plan` a `Scene` (the image and
its `ScenePlan`), `motion` a `MotionResult` (the `MaskTrajectory` at the output size),
`render` an `AnimateResult` (the video). Stage kinds do the work (`stages.py`): any
`MotionStage` for stage 1 and any `VideoStage` for stage 2, one interface for the compact
models, the real backbones and the model-free warp preview. The trajectory is built once,
at the output size (the input's aspect ratio, long side at most ``max_size``), and stage 2
takes it exactly as stage 1 made it; each kind fits it to its own canvas.

The command line, the benchmark and the web page call these same steps; output files and
run records are written by `maskmotion.pipelines.outputs`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from ..errors import InputError, clip_text
from ..files import atomic_dir, sha256_file
from ..models import MotionDiT, VideoDiT
from ..models.io import WEIGHTS_NAME, load_model
from ..plan import (
    BoxHint,
    PointHint,
    ObjectHint,
    PlannedObject,
    Planner,
    ScenePlan,
    first_frame_objects,
    load_image,
    make_planner,
    mask_from_png,
    plan_scene,
    resize_ids,
    scale_box,
)
from ..text import TextEncoder
from ..trajectory import (
    DEFAULT_MAX_SIZE,
    DragPath,
    MaskTrajectory,
    MotionTrack,
    output_size,
    overlay_tracks,
    warp_masks,
)
from ..weights import STAGES, resolve_model_folder
from .dualclock import DualClockSettings, dual_clock_defaults
from .base import stage_text_encoders
from .motion import MotionPipeline
from .stages import (
    BackboneMotion,
    BackboneVideo,
    CompactMotion,
    CompactVideo,
    DualClockVideo,
    MotionStage,
    StepEnd,
    VideoStage,
    WarpVideo,
    first_ids_at,
)
from .video import OUTPUT_TYPES, VideoPipeline

logger = logging.getLogger(__name__)

#: Kinds of stage 1 and 2 by the name `from_pretrained` and the command line use.
#: Public image-to-video backbones driven by dual-clock sampling (training-free).
I2V_BACKBONES = ("wan-i2v", "cogvideox-i2v")
BACKBONES = ("small", "wan", "animatediff", *I2V_BACKBONES)
#: "auto" picks "model" when the stage-2 model suits the image and "warp" otherwise.
RENDERERS = ("auto", "model", "warp")
#: Frames when no model fixes the count (all objects dragged and the warp renderer).
DEFAULT_FRAMES = 16
DEFAULT_FPS = 8.0

# callback_on_step_end(stage, step, t, x): stage is "motion" or "video".
StepCallback = Callable[[str, int, torch.Tensor, torch.Tensor], None]


# ---- the steps' results -------------------------------------------------------------------
@dataclass
class Scene:
    """Step 1's result: the input image and its plan.

    Attributes:
        image: (H, W, 3) uint8, the input at its own size or at a reduced working size
            (`maskmotion.plan.load_working_image`: a big photo is planned smaller).
        plan: the `ScenePlan` made on it (first-frame masks at the same size).
        source_size: (H, W) of the original image, in whose pixels boxes, drags and mask
            PNGs are given; None: the image's own size.
    """

    image: np.ndarray
    plan: ScenePlan
    source_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        _check_image(self.image)
        self.source_size = _source_size(self.image, self.source_size)
        if not isinstance(self.plan, ScenePlan):
            raise InputError(f"plan must be a ScenePlan, got {type(self.plan).__name__}; make one with AnimatePipeline.plan")
        if self.plan.size != self.image.shape[:2]:
            raise InputError(
                f"the plan's masks are {self.plan.size[1]}x{self.plan.size[0]} but the image is "
                f"{self.image.shape[1]}x{self.image.shape[0]}; plan on this image"
            )


    @classmethod
    def for_trajectory(
        cls,
        image: np.ndarray,
        trajectory: MaskTrajectory,
        prompt: str,
        plan: ScenePlan | None = None,
        source_size: tuple[int, int] | None = None,
    ) -> "Scene":
        """The scene to render a given (possibly edited) trajectory in: ``plan`` with
        ``prompt`` as its global prompt when it was made on ``image``; otherwise a plan
        that only names the trajectory's objects (the trajectory is the motion here)."""
        _check_image(image)
        if plan is None or plan.size != image.shape[:2]:
            first = trajectory.resize(*image.shape[:2]).ids[0]
            objects = tuple(PlannedObject(o.id, o.name, o.prompt.strip() or o.name) for o in trajectory.objects)
            plan = ScenePlan(prompt, prompt, objects, first, source="trajectory")
        return cls(image, plan.replace(global_prompt=prompt), source_size)

    @property
    def scale(self) -> float:
        """Working image width over original width (1.0 when planned at full size)."""
        return self.image.shape[1] / self.source_size[1]


@dataclass
class MotionResult:
    """Step 2's result.

    Attributes:
        scene: the `Scene` it was made for.
        trajectory: the mask trajectory at the output size (input's aspect ratio), with
            each object's `MotionTrack` where the stage-1 kind or a drag gives one.
        settings: resolved settings (frames, sizes, seed, stage-1 kind, steps, guidance,
            dragged objects), for the run record.
    """

    scene: Scene
    trajectory: MaskTrajectory
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def plan(self) -> ScenePlan:
        return self.scene.plan

    @property
    def tracks(self) -> dict[int, MotionTrack] | None:
        return self.trajectory.tracks


@dataclass
class AnimateResult:
    """Step 3's result (and the whole chain's).

    Attributes:
        video: (T, H, W, 3) uint8 for ``output_type="np"``, (T, 3, H, W) float in [0, 1]
            for "pt", a list of PIL images for "pil"; H, W as the trajectory.
        trajectory: the trajectory it was rendered from.
        plan: the plan.
        settings: everything resolved (stage 1's settings, then the renderer's under
            "video"), for the run record.
    """

    video: Any
    trajectory: MaskTrajectory
    plan: ScenePlan
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def tracks(self) -> dict[int, MotionTrack] | None:
        return self.trajectory.tracks


class AnimatePipeline:
    """Plan -> mask trajectory (stage 1, or drags) -> video (stage 2, or the warp preview).

    Args:
        motion: the stage-1 kind (a `MotionStage`, or a `MotionPipeline` for the compact
            model); None when every object will be dragged.
        video: the stage-2 kind (a `VideoStage`, or a `VideoPipeline`); None when only the
            warp renderer is used.
    """

    def __init__(
        self,
        motion: MotionStage | MotionPipeline | None = None,
        video: VideoStage | VideoPipeline | None = None,
    ) -> None:
        if isinstance(motion, MotionPipeline):
            motion = CompactMotion(motion)
        if isinstance(video, VideoPipeline):
            video = CompactVideo(video)
        if motion is not None and not isinstance(motion, MotionStage):
            raise TypeError(f"motion must be a MotionStage or MotionPipeline, got {type(motion).__name__}")
        if video is not None and not isinstance(video, VideoStage):
            raise TypeError(f"video must be a VideoStage or VideoPipeline, got {type(video).__name__}")
        self.motion_stage: MotionStage | None = motion
        self.video_stage: VideoStage | None = video
        self.warp_stage = WarpVideo()
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
        backbone: str = "small",
        dtype: torch.dtype | None = None,
        dual_clock: DualClockSettings | None = None,
        offload: bool = False,
        vae_tiling: bool = False,
        frames: int | None = None,
        size: tuple[int, int] | None = None,
    ) -> "AnimatePipeline":
        """Load the stages of a model.

        ``backbone="small"``: a bundled model by name or a folder holding ``motion/`` and
        ``video/``; each stage reads the frozen text encoder it was trained on:
        ``text_encoder`` for both if given, else the folder ``text_model`` for the stages of
        its width and, for the others, the encoder their export records or the bundled
        MiniLM (`stage_text_encoders`).
        ``backbone="wan"`` or
        ``"animatediff"``: a real backbone's weights folder (`BackboneTTM`), in ``dtype``.
        ``stages`` picks what to load: ("motion",) to plan only, ("video",) to render only,
        () for drags with the warp renderer (no weights).

        ``backbone="wan-i2v"`` or ``"cogvideox-i2v"``: a public diffusers image-to-video
        folder refining the warp preview by dual-clock sampling (`DualClockVideo`;
        ``dual_clock`` sets the starting steps and the local-prompt weight, defaults per
        backbone; ``offload``, ``vae_tiling``, ``frames`` and the canvas ``size`` (H, W)
        as `I2VBackbone` and the kind take them); stage 1 is the bundled motion model
        (``text_model`` as above).
        """
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            raise InputError(f"unknown stage(s) {unknown}; choose from {STAGES}")
        if backbone not in BACKBONES:
            raise InputError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")
        if backbone in I2V_BACKBONES:
            return cls._from_i2v(name_or_path, device, stages, backbone, dtype, dual_clock, offload, vae_tiling,
                                 frames, size, text_encoder, text_model)  # fmt: skip
        if backbone != "small":
            return cls._from_backbone(name_or_path, device, stages, backbone, dtype)
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
        # Each stage gets the encoder it was trained on (they may differ); an explicit
        # text_encoder is shared by both.
        encoders = (
            {s: text_encoder for s in models} if text_encoder is not None
            else stage_text_encoders(models, folders, text_model, device)
        )
        motion = MotionPipeline(models["motion"], encoders["motion"], device) if "motion" in models else None
        video = VideoPipeline(models["video"], encoders["video"], device) if "video" in models else None
        pipe = cls(motion, video)
        pipe.model_info = {
            "name_or_path": str(name_or_path),
            **{s: {"folder": str(f), "sha256": sha256_file(f / WEIGHTS_NAME)} for s, f in folders.items()},
        }
        return pipe

    @classmethod
    def _from_backbone(
        cls, path: str | os.PathLike, device: str | torch.device, stages: Sequence[str], backbone: str, dtype: torch.dtype | None
    ) -> "AnimatePipeline":
        # Lazy: the backbone module imports diffusers (seconds), which the small model never needs.
        from .backbone import BackboneTTM, read_backbone_config

        read_backbone_config(path, backbone)  # a clear error before anything heavy loads
        ttm = BackboneTTM.from_pretrained(path, device=device, dtype=dtype, stages=stages, backbone=backbone)
        pipe = cls(
            BackboneMotion(ttm) if ttm.motion is not None else None,
            BackboneVideo(ttm) if ttm.video is not None else None,
        )
        digest = hashlib.sha256((ttm.config.to_json() + json.dumps(sorted(stages))).encode()).hexdigest()
        pipe.model_info = {
            "backbone": ttm.config.backbone,
            "weights": str(path),
            "stages": list(stages),
            "config_sha256": digest,
            "dtype": str(ttm.dtype).removeprefix("torch."),
        }
        return pipe

    @classmethod
    def _from_i2v(
        cls, path: str | os.PathLike, device: str | torch.device, stages: Sequence[str], backbone: str,
        dtype: torch.dtype | None, dual_clock: DualClockSettings | None, offload: bool, vae_tiling: bool,
        frames: int | None, size: tuple[int, int] | None, text_encoder: TextEncoder | None,
        text_model: str | os.PathLike | None,
    ) -> "AnimatePipeline":  # fmt: skip
        # Lazy: the i2v module imports diffusers (seconds), which the small model never needs.
        from .i2v import I2VBackbone, ttm_backbone_of

        trained = ttm_backbone_of(path, backbone)
        if trained is not None:  # a TTM-trained folder: its own stages, dual-clock on stage 2
            pipe = cls._from_backbone(path, device, stages, trained, dtype)
            if pipe.video_stage is not None:
                ttm = pipe.video_stage.ttm
                steps = ttm.config.num_inference_steps
                pipe.video_stage = BackboneVideo(ttm, dual_clock or dual_clock_defaults(backbone, steps))
            return pipe

        motion = None
        if "motion" in stages:
            folder = resolve_model_folder("default", "motion")
            model = load_model(folder, device)
            encoder = text_encoder or stage_text_encoders({"motion": model}, {"motion": folder}, text_model, device)["motion"]
            motion = MotionPipeline(model, encoder, device)
        video = None
        if "video" in stages:
            i2v = I2VBackbone.from_pretrained(backbone, path, device, dtype, offload=offload, vae_tiling=vae_tiling)
            video = DualClockVideo(i2v, dual_clock, frames=frames, size=size)
        pipe = cls(motion, video)
        pipe.model_info = {
            "backbone": backbone,
            "weights": str(path),
            "stages": list(stages),
            **({"dtype": str(video.i2v.pipe.dtype).removeprefix("torch."), "offload": offload, "vae_tiling": vae_tiling}
               if video is not None else {}),
        }  # fmt: skip
        return pipe

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write the models this pipeline holds, replacing ``path`` atomically: ``motion/``
        and ``video/`` for the compact model, the whole weights folder for a backbone."""
        ttm = next((s.ttm for s in (self.motion_stage, self.video_stage) if hasattr(s, "ttm")), None)
        if ttm is not None:
            return ttm.save_pretrained(path)
        pipes = {
            name: stage.pipe
            for name, stage in (("motion", self.motion_stage), ("video", self.video_stage))
            if isinstance(stage, (CompactMotion, CompactVideo))
        }
        if not pipes:
            raise InputError("this pipeline holds no models to save")
        path = Path(path)
        with atomic_dir(path) as tmp:
            for name, pipe in pipes.items():
                pipe.save_pretrained(tmp / name)
        return path

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        """tqdm options for the per-stage progress bars, e.g. ``disable=True``."""
        self._progress = dict(kwargs)

    # ---- facts --------------------------------------------------------------------------
    def default_frames(self) -> int:
        """The stage-2 model's frame count (it renders only that), else stage 1's."""
        for stage in (self.video_stage, self.motion_stage):
            if stage is not None and stage.frames is not None:
                return stage.frames
        return DEFAULT_FRAMES

    def choose_renderer(self, image: np.ndarray, renderer: str = "auto") -> tuple[str, str | None]:
        """The renderer ``renderer`` resolves to for ``image``, and why, when "auto" did not
        pick the model."""
        if renderer not in RENDERERS:
            raise InputError(f"renderer must be one of {RENDERERS}, got {renderer!r}")
        if renderer != "auto":
            return renderer, None
        if self.video_stage is None:
            return "warp", "no stage-2 model is loaded"
        reason = self.video_stage.out_of_domain(image)
        return ("warp", reason) if reason else ("model", None)

    # ---- step 1: the plan ---------------------------------------------------------------
    def plan(
        self,
        image: np.ndarray | str | os.PathLike,
        prompt: str | None = None,
        *,
        masks: np.ndarray | str | os.PathLike | None = None,
        boxes: Sequence[BoxHint] = (),
        objects: Sequence[ObjectHint] = (),
        planner: str | Planner = "rules",
        segment: str = "grabcut",
        sam2_checkpoint: str | os.PathLike | None = None,
        sam2_config: str | None = None,
        device: str = "cpu",
        plan: ScenePlan | None = None,
        source_size: tuple[int, int] | None = None,
        points: Sequence[PointHint] = (),
        layer_order: str = "list",
    ) -> Scene:
        """The plan of ``image`` (an array or an image file): first-frame masks from
        ``masks`` (an id map or a mask PNG) or ``boxes`` (refined by ``segment``), object
        names and local prompts from ``objects``, and the prompt split by ``planner``
        ("rules", offline; "llm"; or a `Planner`). A saved ``plan`` (e.g. an edited plan
        file) is checked against the image and used as it is.

        ``source_size``: (H, W) of the original when ``image`` is a reduced working copy
        (`maskmotion.plan.load_working_image`); boxes and mask PNGs are then in the
        original's pixels and are scaled to the working image here.

        ``points``: pixels on (or, negative, off) the object in a box of that name, in the
        original's pixels (`PointHint`, ``--point``); they steer the box's GrabCut.
        ``layer_order``: "list" (boxes back to front as given) or "size" (smaller boxes in
        front); the front object keeps the pixels where masks overlap."""
        if not isinstance(image, np.ndarray):
            image = load_image(image)
        _check_image(image)
        source_size = _source_size(image, source_size)
        if plan is not None:
            given = [
                name
                for name, v in (("prompt", prompt), ("masks", masks), ("boxes", boxes), ("objects", objects), ("points", points))
                if v
            ]
            if given:
                raise InputError(f"a saved plan holds the prompts and masks already: drop {', '.join(given)}")
            return Scene(image, plan, source_size)
        if prompt is None or not str(prompt).strip():
            raise InputError("the prompt is empty; describe the video, e.g. 'the dog jumps'")
        if source_size != image.shape[:2]:
            masks, boxes = _to_working(image.shape[:2], source_size, masks, boxes)
            fy, fx = image.shape[0] / source_size[0], image.shape[1] / source_size[1]
            points = [p.scaled(fx, fy) for p in points]
        ids, requests = first_frame_objects(
            image, masks, list(boxes), list(objects), segment, sam2_checkpoint, sam2_config, device, points=list(points),
            layer_order=layer_order,
        )
        planner = make_planner(planner) if isinstance(planner, str) else planner
        made = plan_scene(prompt, ids, requests, planner)
        logger.info("plan (%s): %s", made.source, clip_text(made.motion_prompt))
        for o in made.objects:
            logger.info("  %d %s: %s", o.id, clip_text(o.name), clip_text(o.local_prompt))
        return Scene(image, made, source_size)

    # ---- step 2: the mask trajectory ----------------------------------------------------
    def motion(
        self,
        scene: Scene,
        drags: Mapping[str | int, DragPath] | None = None,
        *,
        num_frames: int | None = None,
        num_inference_steps: int | None = None,
        guidance: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
        fps: float = DEFAULT_FPS,
        callback_on_step_end: StepCallback | None = None,
    ) -> MotionResult:
        """Stage 1: the mask trajectory of ``scene`` at the output size.

        ``drags`` (object name or id -> `DragPath` in input-image pixels) replace stage 1
        for their objects; stage 1 still sees every object and is skipped when all are
        dragged. Stage 1 makes its own frame count; another ``num_frames`` resamples its
        tracks in time (masks without tracks: nearest frame). ``guidance`` is (visual,
        text); None keeps the kind's defaults.
        """
        # 1. Check inputs.
        if not isinstance(scene, Scene):
            raise InputError(f"motion() takes the Scene that plan() returned, got {type(scene).__name__}")
        plan = scene.plan
        by_id = resolve_drags(plan, drags or {})
        stage = self.motion_stage
        if len(by_id) < len(plan.objects) and stage is None:
            undragged = [o.name for o in plan.objects if o.id not in by_id]
            raise InputError(
                f"no stage-1 model is loaded to move {undragged}; load one (from_pretrained) or drag every object"
            )
        _check_steps(num_inference_steps)
        _check_guidance(guidance, "guidance")
        if num_frames is not None:
            _check_frames(num_frames)
        if not _is_int(max_size) or max_size < 16:
            raise InputError(f"max_size must be an integer of at least 16 pixels, got {max_size!r}")
        if not isinstance(fps, (int, float)) or not np.isfinite(fps) or fps <= 0:
            raise InputError(f"fps must be a positive number, got {fps!r}")
        generator, seed = _generator(generator, seed)
        frames = int(num_frames) if num_frames is not None else self.default_frames()
        h_in, w_in = scene.image.shape[:2]
        size = output_size(h_in, w_in, max_size)
        first = first_ids_at(plan, size)

        # 2. Stage 1 (every object goes in: the dragged ones are context for the others).
        stage1: dict[str, Any] | None = None
        if len(by_id) < len(plan.objects):
            steps = num_inference_steps or stage.default_steps
            s_i, s_t = guidance or stage.default_guidance
            with self._stage_progress("stage 1: motion", "motion", steps, callback_on_step_end) as step_end:
                trajectory, kind_settings = stage.generate(
                    scene.image, plan, size, steps, (s_i, s_t), generator, step_end
                )  # fmt: skip
            trajectory = _retimed(trajectory, frames)
            stage1 = {
                "kind": stage.kind,
                "num_inference_steps": steps,
                "visual_guidance_scale": float(s_i),
                "text_guidance_scale": float(s_t),
                **kind_settings,
            }
        else:
            trajectory = MaskTrajectory(np.repeat(first[None], frames, axis=0), plan.trajectory_objects(), tracks={})

        # 3. Drags replace stage 1 for their objects.
        if by_id:
            # Drag points are in the original image's pixels.
            fx, fy = size[1] / scene.source_size[1], size[0] / scene.source_size[0]
            dragged = {oid: path.track(frames).scaled(fx, fy) for oid, path in by_id.items()}
            trajectory = overlay_tracks(trajectory, first, dragged)
        trajectory = trajectory.replace(fps=float(fps))
        settings = {
            "num_frames": frames,
            "fps": float(fps),
            "size": list(size),
            "input_size": [h_in, w_in],
            "max_size": max_size,
            "seed": seed,
            "motion": stage1,
            "dragged": [plan.object(oid).name for oid in sorted(by_id)],
        }
        return MotionResult(scene, trajectory, settings)

    # ---- step 3: the video --------------------------------------------------------------
    def render(
        self,
        scene: Scene,
        trajectory: MotionResult | MaskTrajectory,
        *,
        renderer: str = "auto",
        num_inference_steps: int | None = None,
        guidance: tuple[float, float] | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        callback_on_step_end: StepCallback | None = None,
        output_type: str = "np",
    ) -> AnimateResult:
        """Stage 2: the video of ``trajectory`` (step 2's result, or a possibly edited
        `MaskTrajectory` at the input's aspect ratio) starting at the scene's image.

        The prompt is the plan's global prompt; each object's local prompt is its
        trajectory object's. ``renderer``: "model" (stage 2), "warp" (no model), or
        "auto" (the model unless the image is outside what it was trained on; the reason
        is logged and kept in the settings).
        """
        # 1. Check inputs.
        if not isinstance(scene, Scene):
            raise InputError(f"render() takes the Scene that plan() returned, got {type(scene).__name__}")
        base_settings: dict[str, Any] = {}
        if isinstance(trajectory, MotionResult):
            base_settings = dict(trajectory.settings)
            trajectory = trajectory.trajectory
        if not isinstance(trajectory, MaskTrajectory):
            raise InputError(f"trajectory must be a MaskTrajectory or motion()'s result, got {type(trajectory).__name__}")
        prompt = scene.plan.global_prompt
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError("the prompt is empty; describe the video, e.g. 'the dog jumps'")
        _check_steps(num_inference_steps)
        _check_guidance(guidance, "guidance")
        if output_type not in OUTPUT_TYPES:
            raise InputError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        chosen, reason = self.choose_renderer(scene.image, renderer)
        if chosen == "model" and self.video_stage is None:
            raise InputError("no stage-2 model is loaded; load one (from_pretrained) or use the warp renderer")
        stage = self.video_stage if chosen == "model" else self.warp_stage
        _check_aspect(scene.image, trajectory)
        if stage.frames is not None and trajectory.num_frames != stage.frames:
            raise InputError(
                f"the trajectory has {trajectory.num_frames} frames but the stage-2 model renders "
                f"{stage.frames}; plan with that many frames or use the warp renderer"
            )
        generator, seed = _generator(generator, seed)
        if reason and renderer == "auto":
            logger.info("rendering with the warp preview: %s (renderer 'model' forces the model)", reason)

        # 2. Render.
        steps = (num_inference_steps or stage.default_steps) if stage.default_steps is not None else None
        s = guidance or stage.default_guidance
        h, w = trajectory.size
        logger.debug("rendering %d frames of %dx%d with %s", trajectory.num_frames, w, h, stage.kind)
        with self._stage_progress("stage 2: video", "video", steps or 0, callback_on_step_end) as step_end:
            video, kind_settings = stage.render(scene.image, trajectory, prompt, steps, s, generator, step_end)
        render_settings: dict[str, Any] = {"renderer": chosen, "kind": stage.kind, **kind_settings}
        if steps is not None:
            render_settings.update(num_inference_steps=steps, visual_guidance_scale=float(s[0]), text_guidance_scale=float(s[1]))
        if reason and renderer == "auto":
            render_settings["why_warp"] = reason
        render_settings["seed"] = seed
        settings = {**base_settings, "renderer": chosen, "video": render_settings}
        return AnimateResult(_convert(video, output_type), trajectory, scene.plan, settings)

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
        renderer: str = "auto",
        callback_on_step_end: StepCallback | None = None,
        output_type: str = "np",
        max_size: int = DEFAULT_MAX_SIZE,
        fps: float = DEFAULT_FPS,
        source_size: tuple[int, int] | None = None,
    ) -> AnimateResult:
        """Animate ``image`` as ``plan`` says: `motion` then `render`.

        ``generator``: one CPU generator for both stages, in order. Or ``seed``: each stage
        gets its own generator seeded with it, so `render` with the same seed repeats
        stage 2 exactly. Neither: seed 0. Every input is checked before any model runs.
        ``source_size``: as in `plan` (drags are in the original's pixels).
        """
        scene = Scene(image, plan, source_size)
        # Check the render options before stage 1 spends any time.
        if output_type not in OUTPUT_TYPES:
            raise InputError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        _check_steps(num_inference_steps)
        _check_guidance(motion_guidance, "motion_guidance")
        _check_guidance(video_guidance, "video_guidance")
        if num_frames is not None:
            _check_frames(num_frames)
        chosen, _ = self.choose_renderer(image, renderer)
        if chosen == "model":
            if self.video_stage is None:
                raise InputError("no stage-2 model is loaded; load one (from_pretrained) or use the warp renderer")
            frames = num_frames if num_frames is not None else self.default_frames()
            if self.video_stage.frames is not None and frames != self.video_stage.frames:
                raise InputError(
                    f"the stage-2 model renders {self.video_stage.frames} frames, not {frames}; "
                    "leave out the frame count or use the warp renderer"
                )
        if generator is not None and seed is not None:
            raise InputError("give a generator or a seed, not both")
        motion = self.motion(
            scene, drags, num_frames=num_frames, num_inference_steps=num_inference_steps, guidance=motion_guidance,
            generator=generator, seed=seed, max_size=max_size, fps=fps, callback_on_step_end=callback_on_step_end,
        )  # fmt: skip
        return self.render(
            scene, motion, renderer=renderer, num_inference_steps=num_inference_steps, guidance=video_guidance,
            generator=generator, seed=None if generator is not None else motion.settings["seed"],
            callback_on_step_end=callback_on_step_end, output_type=output_type,
        )  # fmt: skip

    # ---- progress -----------------------------------------------------------------------
    @contextmanager
    def _stage_progress(self, desc: str, stage: str, steps: int, callback: StepCallback | None) -> Iterator[StepEnd]:
        from tqdm.auto import tqdm  # noqa: PLC0415 - tqdm.auto probes for notebooks on import

        options = {"desc": desc, "total": steps, "leave": False, **self._progress}
        if not steps:
            options["disable"] = True
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


def _retimed(trajectory: MaskTrajectory, frames: int) -> MaskTrajectory:
    """``trajectory`` over ``frames`` frames: tracks resampled linearly and redrawn; masks
    without tracks take the nearest frame in time."""
    if trajectory.num_frames == frames:
        return trajectory
    tracks = trajectory.tracks
    if tracks is not None and set(tracks) == set(trajectory.object_ids):
        retimed = {oid: track.resampled(frames) for oid, track in tracks.items()}
        return trajectory.replace(ids=warp_masks(trajectory.ids[0], retimed, frames), tracks=retimed)
    picks = np.rint(np.linspace(0, trajectory.num_frames - 1, frames)).astype(int)
    return trajectory.replace(ids=trajectory.ids[picks])


# ---- the working image ----------------------------------------------------------------
def _source_size(image: np.ndarray, source_size: Any) -> tuple[int, int]:
    """The original size (H, W) of ``image``, checked: the same aspect ratio, no smaller."""
    h, w = image.shape[:2]
    if source_size is None:
        return h, w
    try:
        sh, sw = (int(v) for v in source_size)
    except (TypeError, ValueError):
        raise InputError(f"source_size must be (height, width), got {source_size!r}") from None
    off = abs(w * sh / sw - h) if w >= h else abs(h * sw / sh - w)
    if sh < h or sw < w or off > 1.0:
        raise InputError(
            f"the image ({w}x{h}) is not a reduced copy of a {sw}x{sh} original; give the original's size"
        )
    return sh, sw


def _to_working(
    size: tuple[int, int], source: tuple[int, int], masks: Any, boxes: Sequence[BoxHint]
) -> tuple[Any, list[BoxHint]]:
    """Masks (a PNG or an id map at the original size) and boxes (original pixels) at
    the working image's ``size``."""
    if masks is not None and not isinstance(masks, np.ndarray):
        masks = mask_from_png(masks, source)
    if isinstance(masks, np.ndarray) and masks.shape == tuple(source):
        masks = resize_ids(masks, size)
    return masks, [BoxHint(b.name, scale_box(b.box, source, size, b.name)) for b in boxes]


# ---- small checks and conversions -------------------------------------------------------
def _check_image(image: Any) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"image must be an (H, W, 3) uint8 array, got {got}; load it with maskmotion.plan.load_image")


def _check_aspect(image: np.ndarray, trajectory: MaskTrajectory) -> None:
    h, w = trajectory.size
    h_in, w_in = image.shape[:2]
    # The long side is exact and the short one rounded (see `output_size`).
    off = abs(w * h_in / w_in - h) if w >= h else abs(h * w_in / h_in - w)
    if off > 1.0:
        raise InputError(
            f"the trajectory is {w}x{h} but the image is {w_in}x{h_in}, another aspect ratio; "
            "render with the image the trajectory was planned on"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_frames(num_frames: Any) -> None:
    if not _is_int(num_frames) or num_frames < 2:
        raise InputError(f"the frame count must be an integer of at least 2, got {num_frames!r}")


def _check_steps(steps: Any) -> None:
    if steps is not None and (not _is_int(steps) or steps < 1):
        raise InputError(f"num_inference_steps must be a positive integer, got {steps!r}")


def _check_guidance(guidance: Any, name: str) -> None:
    if guidance is None:
        return
    try:
        ok = len(guidance) == 2 and all(np.isfinite(float(g)) and float(g) >= 0 for g in guidance)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"{name} must be two non-negative numbers (visual, text), got {guidance!r}")


def _generator(generator: torch.Generator | None, seed: int | None) -> tuple[torch.Generator, int | None]:
    """The generator a step samples with: the one given, or a fresh one from ``seed``
    (default 0)."""
    if generator is not None and seed is not None:
        raise InputError("give a generator or a seed, not both")
    if generator is not None:
        return generator, None
    seed = 0 if seed is None else seed
    if not _is_int(seed) or not 0 <= seed < 2**63:
        raise InputError(f"seed must be an integer from 0 to 2**63 - 1, got {seed!r}")
    return torch.Generator().manual_seed(int(seed)), int(seed)


def _convert(video: np.ndarray, output_type: str) -> Any:
    if output_type == "pt":
        return torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float().div(255.0)
    if output_type == "pil":
        from PIL import Image  # noqa: PLC0415 - only for this output type

        return [Image.fromarray(f) for f in video]
    return video


__all__ = [
    "AnimatePipeline",
    "AnimateResult",
    "BACKBONES",
    "DEFAULT_FPS",
    "DEFAULT_FRAMES",
    "MotionResult",
    "RENDERERS",
    "Scene",
    "parse_drag_arg",
    "resolve_drags",
]
