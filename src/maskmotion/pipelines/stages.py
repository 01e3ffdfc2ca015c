"""The stage kinds behind `AnimatePipeline`: one interface for stage 1, one for stage 2.

Every kind works on the same types. Stage 1 (`MotionStage`) takes the input image and the
plan and returns the `MaskTrajectory` at the run's output size (the input's aspect
ratio): the masks at full detail, and the `MotionTrack` of each object where the kind
moves objects rigidly. Stage 2 (`VideoStage`) takes that trajectory as generated and
returns the video at the same size. Each kind owns its own canvas: it fits the input to
it, runs there, and brings the result back (`maskmotion.trajectory.canvas`).

Kinds:
- `CompactMotion`: the bundled motion model (`MotionPipeline`): tracks, drawn as masks.
- `BackboneMotion`: a real backbone's stage 1 (`BackboneTTM`): masks only, non-rigid.
- `CompactVideo`: the bundled video model (`VideoPipeline`).
- `BackboneVideo`: a real backbone's stage 2.
- `DualClockVideo`: a public image-to-video backbone refining the warp preview (dual-clock).
- `WarpVideo`: no model; each object's pixels moved along its track.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

import numpy as np
import torch

from ..errors import InputError
from ..plan import ScenePlan
from ..render import fit_tracks, matting_available, patchmatch_available, photo_render
from ..trajectory import (
    MaskTrajectory,
    MotionTrack,
    fit_to_model,
    resize_frames,
    trajectory_from_canvas,
    trajectory_to_canvas,
    warp_masks,
)
from .dualclock import DualClockSettings, dual_clock_defaults
from .motion import MotionPipeline
from .video import VideoPipeline

if TYPE_CHECKING:  # the backbone modules import diffusers, which costs seconds
    from .backbone import BackboneTTM
    from .i2v import I2VBackbone

#: ``step_end(step, t, x)`` after every sampler step of a stage.
StepEnd = Callable[[int, torch.Tensor, torch.Tensor], None]
#: Square canvas the compact motion model runs on: the sprites world's size, which it
#: sees in training. Motion is normalised by the canvas size, so this fixes only the raster.
MOTION_CANVAS = 64


@runtime_checkable
class MotionStage(Protocol):
    """Stage 1: image + plan -> mask trajectory."""

    kind: str  # "small", "wan", "animatediff", ...
    frames: int  # the clip length it generates
    default_steps: int
    default_guidance: tuple[float, float]  # (visual, text)

    def generate(
        self,
        image: np.ndarray,
        plan: ScenePlan,
        size: tuple[int, int],
        steps: int,
        guidance: tuple[float, float],
        generator: torch.Generator,
        step_end: StepEnd,
    ) -> tuple[MaskTrajectory, dict[str, Any]]:
        """The trajectory of every object of ``plan`` at ``size`` = (H, W) (the input's
        aspect ratio), ``frames`` frames whose first is the plan's masks at that size;
        and this kind's settings for the run record."""
        ...


@runtime_checkable
class VideoStage(Protocol):
    """Stage 2: image + mask trajectory + prompt -> video."""

    kind: str  # "small", "warp", "wan", "animatediff", ...
    frames: int | None  # the clip length it renders; None: any
    default_steps: int | None
    default_guidance: tuple[float, float] | None

    def out_of_domain(self, image: np.ndarray) -> str | None:
        """Why this kind is the wrong renderer for ``image``, or None if it suits."""
        ...

    def render(
        self,
        image: np.ndarray,
        trajectory: MaskTrajectory,
        prompt: str,
        steps: int | None,
        guidance: tuple[float, float] | None,
        generator: torch.Generator,
        step_end: StepEnd,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The video (T, H, W, 3) uint8 at the trajectory's size (``image`` is the input
        at any size with the trajectory's aspect ratio); and settings for the run record."""
        ...


# ---- what the kinds of one family share ----------------------------------------------------
class _CompactFacts:
    """Frames, steps and guidance of a compact model's sampler (``self.pipe``)."""

    pipe: MotionPipeline | VideoPipeline

    @property
    def frames(self) -> int:
        return self.pipe.model.cfg.frames

    @property
    def default_steps(self) -> int:
        return self.pipe.default_steps

    @property
    def default_guidance(self) -> tuple[float, float]:
        return self.pipe.default_visual_guidance, self.pipe.default_text_guidance


class _BackboneFacts:
    """Frames, steps and guidance of a real backbone's weights folder (``self.ttm``)."""

    ttm: BackboneTTM

    @property
    def frames(self) -> int:
        return self.ttm.config.frames

    @property
    def default_steps(self) -> int:
        return self.ttm.config.num_inference_steps

    @property
    def default_guidance(self) -> tuple[float, float]:
        return self.ttm.config.visual_guidance, self.ttm.config.text_guidance


# ---- stage 1 ------------------------------------------------------------------------------
class CompactMotion(_CompactFacts):
    """The compact motion model: per-object tracks sampled on a square canvas, scaled to
    the output and drawn there as masks (so the masks are sharp at any output size)."""

    kind = "small"

    def __init__(self, pipe: MotionPipeline, canvas: int = MOTION_CANVAS) -> None:
        self.pipe = pipe
        self.canvas = int(canvas)


    def generate(self, image, plan, size, steps, guidance, generator, step_end):
        canvas_image, canvas_ids, fmap = fit_to_model(image, plan.first_ids, self.canvas)
        out = self.pipe(
            canvas_image, canvas_ids, plan.trajectory_objects(), plan.motion_prompt, num_inference_steps=steps,
            visual_guidance_scale=guidance[0], text_guidance_scale=guidance[1], generator=generator,
            callback_on_step_end=step_end,
        )  # fmt: skip
        # Canvas pixels -> output pixels: padding only shifts, so scaling is the whole map.
        fx, fy = size[1] / fmap.scaled_width, size[0] / fmap.scaled_height
        tracks = {oid: track.scaled(fx, fy) for oid, track in out.tracks.items()}
        first = first_ids_at(plan, size)
        trajectory = MaskTrajectory(warp_masks(first, tracks, self.frames), plan.trajectory_objects(), tracks=tracks)
        return trajectory, {"canvas": [self.canvas, self.canvas], "model_frames": self.frames,
                            "noise_scale": self.pipe.default_noise_scale, "smoothing": self.pipe.default_smoothing}


class BackboneMotion(_BackboneFacts):
    """A real backbone's stage 1: a colour-mask video generated on the backbone's canvas,
    read back to ids and brought to the output size as it is (no tracks: the masks may
    change shape from frame to frame, which is the point of the method)."""

    def __init__(self, ttm: BackboneTTM) -> None:
        if ttm.motion is None:
            raise ValueError("the backbone folder was loaded without its stage-1 model")
        self.ttm = ttm
        self.kind = ttm.config.backbone


    def generate(self, image, plan, size, steps, guidance, generator, step_end):
        c = self.ttm.config
        canvas_image, canvas_ids, fmap = fit_to_model(image, plan.first_ids, (c.height, c.width))
        on_canvas = self.ttm.sample_motion(
            canvas_image, canvas_ids, plan.trajectory_objects(), plan.motion_prompt, num_inference_steps=steps,
            visual_guidance_scale=guidance[0], text_guidance_scale=guidance[1], generator=generator,
            callback_on_step_end=step_end,
        )  # fmt: skip
        trajectory = trajectory_from_canvas(on_canvas, fmap, size)
        # Frame 0 is the condition: the plan's own masks, exact at the output size.
        ids = trajectory.ids.copy()
        ids[0] = first_ids_at(plan, size)
        return trajectory.replace(ids=ids), {"backbone": self.kind, "canvas": [c.height, c.width], "model_frames": c.frames}


# ---- stage 2 ------------------------------------------------------------------------------
def _render_on_canvas(
    image: np.ndarray,
    trajectory: MaskTrajectory,
    canvas: tuple[int, int],
    sample: Callable[[np.ndarray, MaskTrajectory], np.ndarray],
) -> np.ndarray:
    """Fit ``image`` and ``trajectory`` to a model canvas, run ``sample`` there, and bring
    the frames back to the trajectory's size: (T, H, W, 3) uint8."""
    canvas_image, _, fmap = fit_to_model(image, None, canvas)
    frames = sample(canvas_image, trajectory_to_canvas(trajectory, fmap))  # (T, Hc, Wc, 3)
    return resize_frames(fmap.restore(frames), trajectory.size)


class CompactVideo(_CompactFacts):
    """The bundled video model, on its own canvas. With ``dual_clock``, sampling is held
    to the warp preview (`photo_render`, as `WarpVideo` shows it) until each region's
    starting step: training-free TTM on a first-frame-only model (docs/backbones.md)."""

    kind = "small"

    def __init__(self, pipe: VideoPipeline, dual_clock: DualClockSettings | None = None) -> None:
        self.pipe = pipe
        self.dual_clock = dual_clock

    @property
    def canvas(self) -> tuple[int, int]:
        return self.pipe.model.cfg.height, self.pipe.model.cfg.width


    def out_of_domain(self, image: np.ndarray) -> str | None:
        # The compact model is trained on synthetic scenes at exactly its canvas size; any
        # other image (a photo above all) is upscaled from a small blurry render.
        h, w = self.canvas
        if image.shape[:2] == (h, w):
            return None
        return (
            f"the {self.kind} video model is trained on {w}x{h} synthetic scenes, and this "
            f"{image.shape[1]}x{image.shape[0]} image is outside what it knows"
        )

    def render(self, image, trajectory, prompt, steps, guidance, generator, step_end):
        def sample(canvas_image: np.ndarray, canvas_traj: MaskTrajectory) -> np.ndarray:
            preview = None
            if self.dual_clock is not None:
                preview = photo_render(canvas_image, canvas_traj, complete_tracks(canvas_traj))
            return self.pipe(
                canvas_image, canvas_traj, prompt, num_inference_steps=steps, visual_guidance_scale=guidance[0],
                text_guidance_scale=guidance[1], generator=generator, callback_on_step_end=step_end,
                tracks=complete_tracks(canvas_traj) if "warp" in self.pipe.model.cfg.cond_names else canvas_traj.tracks,
                dual_clock=self.dual_clock, warp=preview,
            )  # fmt: skip

        settings: dict[str, Any] = {"canvas": list(self.canvas)}
        if self.dual_clock is not None:
            settings["dual_clock"] = self.dual_clock.record()
        return _render_on_canvas(image, trajectory, self.canvas, sample), settings


class BackboneVideo(_BackboneFacts):
    """A real backbone's stage 2, on the backbone's canvas. With ``dual_clock``, the
    trained model starts from the warp preview (dual-clock on top of TTM weights)."""

    def __init__(self, ttm: BackboneTTM, dual_clock: DualClockSettings | None = None) -> None:
        if ttm.video is None:
            raise ValueError("the backbone folder was loaded without its stage-2 model")
        if dual_clock is not None and dual_clock.local_prompt_weight:
            raise InputError("a TTM-trained folder reads local prompts through its own masked layers; "
                             "drop --local-prompt-weight")  # fmt: skip
        self.ttm = ttm
        self.kind = ttm.config.backbone
        self.dual_clock = dual_clock


    def out_of_domain(self, image: np.ndarray) -> str | None:
        return None  # trained on real video

    def render(self, image, trajectory, prompt, steps, guidance, generator, step_end):
        c = self.ttm.config

        def sample(canvas_image: np.ndarray, canvas_traj: MaskTrajectory) -> np.ndarray:
            # The paper's stage 2 reads the masks only; tracks are not a condition here
            # (the dual-clock preview alone is drawn from them).
            preview = None
            if self.dual_clock is not None:
                preview = photo_render(canvas_image, canvas_traj, complete_tracks(canvas_traj))
            return self.ttm.sample_video(
                canvas_image, canvas_traj, prompt, num_inference_steps=steps, visual_guidance_scale=guidance[0],
                text_guidance_scale=guidance[1], generator=generator, callback_on_step_end=step_end,
                dual_clock=self.dual_clock, preview=preview,
            )  # fmt: skip

        settings: dict[str, Any] = {"canvas": [c.height, c.width]}
        if self.dual_clock is not None:
            settings["dual_clock"] = self.dual_clock.record()
        return _render_on_canvas(image, trajectory, (c.height, c.width), sample), settings


class DualClockVideo:
    """A public image-to-video backbone refining the warp preview by dual-clock sampling,
    training-free (`I2VBackbone`), on the backbone's canvas: the preview is rendered there
    (`photo_render`, as `WarpVideo` shows it), sampled, and cut back to the input's aspect."""

    def __init__(self, i2v: I2VBackbone, settings: DualClockSettings | None = None, frames: int | None = None,
                 size: tuple[int, int] | None = None) -> None:  # fmt: skip
        k = i2v.kind
        self.i2v = i2v
        self.kind = k.name
        self.settings = settings  # None: the backbone's defaults, scaled to the steps of each call
        self.frames = frames or k.default_frames
        self.canvas = size or (k.default_height, k.default_width)
        i2v.check_frames(self.frames)
        i2v.check_size(*self.canvas)
        self.default_steps = k.default_steps
        self.default_guidance = (1.0, k.default_guidance)  # (visual: unused, text)

    def out_of_domain(self, image: np.ndarray) -> str | None:
        return None  # trained on real video

    def render(self, image, trajectory, prompt, steps, guidance, generator, step_end):
        steps = steps or self.default_steps
        text_guidance = (guidance or self.default_guidance)[1]
        chosen = self.settings or dual_clock_defaults(self.kind, steps)

        def sample(canvas_image: np.ndarray, canvas_traj: MaskTrajectory) -> np.ndarray:
            preview = photo_render(canvas_image, canvas_traj, complete_tracks(canvas_traj))
            return self.i2v.sample(
                canvas_image, preview, canvas_traj, prompt, chosen, steps, text_guidance, generator, step_end
            )

        settings = {"canvas": list(self.canvas), "folder": self.i2v.folder, "dual_clock": chosen.record(),
                    "sampler": type(self.i2v.pipe.scheduler).__name__, "guidance": text_guidance}  # fmt: skip
        return _render_on_canvas(image, trajectory, self.canvas, sample), settings


class WarpVideo:
    """No model: each object cut out of the photo with a soft alpha and moved along its
    track over a background filled once where objects uncover it
    (`maskmotion.render.photo_render`), at the output size. The bundled model's own
    condition, `warp_preview`, is a different, simpler render and is not used here."""

    kind = "warp"
    frames = None
    default_steps = None
    default_guidance = None

    def out_of_domain(self, image: np.ndarray) -> str | None:
        return None

    def render(self, image, trajectory, prompt, steps, guidance, generator, step_end):
        frame = resize_frames(image, trajectory.size)
        settings = {
            "matting": "closed-form" if matting_available() else "feathered (pymatting missing)",
            "fill": "patchmatch" if patchmatch_available() else "telea (pypatchmatch missing)",
        }
        return photo_render(frame, trajectory, complete_tracks(trajectory)), settings


# ---- shared helpers -----------------------------------------------------------------------
def complete_tracks(trajectory: MaskTrajectory) -> dict[int, MotionTrack]:
    """A track for every object: the trajectory's own where it has them, the rest fitted
    to the masks (a generated mask video, or objects a drag did not move)."""
    given = dict(trajectory.tracks or {})
    missing = [oid for oid in trajectory.object_ids if oid not in given]
    if missing:
        fitted = fit_tracks(trajectory)
        given.update({oid: fitted[oid] for oid in missing if oid in fitted})
    return given


def first_ids_at(plan: ScenePlan, size: tuple[int, int]) -> np.ndarray:
    """The plan's first-frame ids at ``size`` (nearest); every object must survive."""
    if plan.size == tuple(size):
        return np.array(plan.first_ids)
    ids = MaskTrajectory(plan.first_ids[None], plan.trajectory_objects()).resize(*size).ids[0]
    lost = [o.name for o in plan.objects if not (ids == o.id).any()]
    if lost:
        raise InputError(
            f"object(s) {lost} vanish when the image is scaled to {size[1]}x{size[0]}; "
            "mark them larger or raise the output size limit (--max-size)"
        )
    return ids


__all__ = [
    "BackboneMotion",
    "BackboneVideo",
    "CompactMotion",
    "CompactVideo",
    "DualClockVideo",
    "MOTION_CANVAS",
    "MotionStage",
    "StepEnd",
    "VideoStage",
    "WarpVideo",
    "complete_tracks",
    "first_ids_at",
]
