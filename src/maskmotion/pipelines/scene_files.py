"""Scenes from files: step 1 as a command line or a web page meets it.

    scene = scene_from_files("photo.jpg", prompt="the dog runs", boxes=[BoxHint("dog", (40, 80, 200, 260))])
    scene = scene_from_files("photo.jpg", plan_file="out/dog.plan.json")          # a saved plan
    scene, trajectory = render_scene_from_files("photo.jpg", "out/dog.trajectory.npz", plan_file=...)

The image's header is checked against the limits before any pixel is decoded, and a big
photo is decoded straight to a reduced working size (`maskmotion.plan.working_size`);
boxes, points, drags and mask PNGs stay in the original's pixels, and the `Scene` keeps
the original size to scale them. A saved plan is taken at its own size when it was made
on this image or a reduced copy of it.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Sequence

from ..errors import InputError
from ..plan import (
    DEFAULT_LIMITS,
    BoxHint,
    ImageLimits,
    ObjectHint,
    Planner,
    PointHint,
    ScenePlan,
    load_image,
    probe_image,
    working_size,
)
from ..trajectory import DEFAULT_MAX_SIZE, MaskTrajectory, TrajectoryObject
from .animate import AnimatePipeline, Scene
from .outputs import load_plan_file

logger = logging.getLogger(__name__)


def scene_from_files(
    image: str | os.PathLike,
    prompt: str | None = None,
    *,
    masks: str | os.PathLike | None = None,
    boxes: Sequence[BoxHint] = (),
    objects: Sequence[ObjectHint] = (),
    points: Sequence[PointHint] = (),
    planner: str | Planner = "rules",
    segment: str = "grabcut",
    sam2_checkpoint: str | os.PathLike | None = None,
    sam2_config: str | None = None,
    layer_order: str = "list",
    device: str = "cpu",
    plan_file: str | os.PathLike | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
    limits: ImageLimits = DEFAULT_LIMITS,
) -> Scene:
    """Step 1 from an image file: planned from the prompt and marks, or a saved plan
    (``plan_file``: a plan file or a run record) checked against the image."""
    original = probe_image(image, limits).size
    if plan_file is not None:
        given = [name for name, v in (("prompt", prompt), ("objects", objects), ("points", points)) if v]
        if given:
            raise InputError(f"a saved plan holds the prompts already: drop {', '.join(given)}, or edit the plan file")
        plan = load_plan_file(plan_file, max_size=original)
        if not plan_fits(plan, original):
            (h, w), (oh, ow) = plan.size, original
            raise InputError(f"the plan {plan_file} is for a {w}x{h} image but {image} is {ow}x{oh}; use the image it was planned on")
        pixels = load_image(image, size=plan.size, limits=limits)
        return AnimatePipeline().plan(pixels, plan=plan, source_size=original)
    if prompt is None or not prompt.strip():
        raise InputError("the prompt is empty; describe the video, e.g. 'the dog jumps'")
    pixels = load_image(image, size=working_size(original, max_size), limits=limits)
    return AnimatePipeline().plan(
        pixels, prompt, masks=masks, boxes=boxes, objects=objects, planner=planner, segment=segment,
        sam2_checkpoint=sam2_checkpoint, sam2_config=sam2_config, device=device, source_size=original,
        points=points, layer_order=layer_order,
    )  # fmt: skip


def render_scene_from_files(
    image: str | os.PathLike,
    trajectory: str | os.PathLike | MaskTrajectory,
    *,
    prompt: str | None = None,
    plan_file: str | os.PathLike | None = None,
    local_prompts: Mapping[str, str] | None = None,
    limits: ImageLimits = DEFAULT_LIMITS,
) -> tuple[Scene, MaskTrajectory]:
    """The scene and trajectory to render a given (possibly edited) trajectory in. Names
    and local prompts come from the trajectory, then ``plan_file``, then
    ``local_prompts`` (by name); the global prompt from ``prompt``, else the plan's."""
    original = probe_image(image, limits).size
    where = trajectory if not isinstance(trajectory, MaskTrajectory) else "the trajectory"
    traj = trajectory if isinstance(trajectory, MaskTrajectory) else MaskTrajectory.load(trajectory)
    if not traj.objects:
        raise InputError(
            f"the trajectory {where} holds no objects; give the .npz that plan or animate wrote "
            "(a colour video's objects must be solid palette colours)"
        )
    plan = None
    if plan_file is not None:
        plan = load_plan_file(plan_file, max_size=original)
        by_id = {o.id: o for o in plan.objects}
        unknown = [i for i in traj.object_ids if i not in by_id]
        if unknown:
            raise InputError(
                f"the trajectory holds object id(s) {unknown} that the plan {plan_file} does not; "
                "use the plan the trajectory was made from"
            )
        traj = traj.replace(objects=[TrajectoryObject(i, by_id[i].name, by_id[i].local_prompt) for i in traj.object_ids])
    if local_prompts:
        unknown_names = [n for n in local_prompts if n not in {o.name for o in traj.objects}]
        if unknown_names:
            raise InputError(
                f"{unknown_names[0]!r} names no object of the trajectory; objects: {[o.name for o in traj.objects]}"
            )
        traj = traj.with_prompts(dict(local_prompts))
    for o in traj.objects:
        if not o.prompt.strip():
            logger.warning("object %d (%s) has no local prompt; give one with --object or --plan", o.id, o.name)
    prompt = prompt if prompt is not None else (plan.global_prompt if plan is not None else None)
    if prompt is None or not prompt.strip():
        raise InputError("the prompt is empty; describe the video, e.g. 'the dog jumps'")
    # The plan's own size when it was made on this image; else the working size for the
    # trajectory's output size (what plan and animate would have used).
    size = plan.size if plan is not None and plan_fits(plan, original) else working_size(original, max(traj.size))
    pixels = load_image(image, size=size, limits=limits)
    return Scene.for_trajectory(pixels, traj, prompt, plan, source_size=original), traj


def plan_fits(plan: ScenePlan, original: tuple[int, int]) -> bool:
    """Whether ``plan`` was made on an image of size ``original`` (H, W) or a reduced copy."""
    (h, w), (oh, ow) = plan.size, original
    same_aspect = abs(w * oh / ow - h) <= 1.0 if w >= h else abs(h * ow / oh - w) <= 1.0
    return h <= oh and w <= ow and same_aspect


def inputs_record(scene: Scene, image: str | os.PathLike, **extra: Any) -> dict[str, Any]:
    """The run record's ``inputs``: the image, its original size and, when the run planned
    on a reduced copy, that copy's size and scale."""
    record: dict[str, Any] = {"image": str(image), "image_size": [int(v) for v in scene.source_size]}
    if tuple(scene.image.shape[:2]) != tuple(scene.source_size):
        record["working_size"] = [int(v) for v in scene.image.shape[:2]]
        record["working_scale"] = round(scene.scale, 6)
    return {**record, **extra}


__all__ = ["inputs_record", "plan_fits", "render_scene_from_files", "scene_from_files"]
