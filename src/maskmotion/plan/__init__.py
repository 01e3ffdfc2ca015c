"""The plan: image + prompt (+ hints) -> `ScenePlan` (first-frame masks, motion prompt,
per-object local prompts), the step before stage 1. See docs/plan.md.

    image = load_image("photo.jpg")
    ids, objects = first_frame_objects(image, boxes=[parse_box_arg("dog=10,20,110,140")])
    plan = plan_scene("the dog jumps", ids, objects)              # rules, offline
    plan = plan_scene(prompt, ids, objects, planner=LLMPlanner(LLMConfig.from_env()))
"""

from __future__ import annotations

import os
from typing import Protocol, Sequence

import numpy as np

from ..errors import InputError
from .images import (
    DEFAULT_LIMITS,
    ImageInfo,
    ImageLimits,
    load_image,
    load_working_image,
    probe_image,
    resize_ids,
    scale_box,
    working_size,
)
from .llm import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, LLMConfig, LLMPlanner
from .masks import (
    BoxHint,
    LAYER_ORDERS,
    ObjectHint,
    PointHint,
    grabcut_mask,
    mask_from_png,
    masks_from_boxes,
    masks_from_sam2,
    objects_for_boxes,
    objects_for_mask,
    order_boxes,
    parse_box_arg,
    parse_object_arg,
    parse_point_arg,
)
from .rules import RulePlanner
from .scene_plan import FORMAT_VERSION, ObjectRequest, PlanError, PlannedObject, PlanRequest, ScenePlan


class Planner(Protocol):
    """Anything that turns a `PlanRequest` into a `ScenePlan`."""

    def plan(self, request: PlanRequest) -> ScenePlan: ...


PLANNERS = ("rules", "llm")
SEGMENTERS = ("grabcut", "box", "sam2")


def make_planner(
    kind: str = "rules",
    llm_url: str | None = None,
    llm_model: str | None = None,
    llm_api_key: str | None = None,
    llm_timeout: float | None = None,
) -> Planner:
    """A planner by name: "rules" (default, offline) or "llm" (arguments, else
    $MASKMOTION_LLM_BASE_URL / _MODEL / _API_KEY)."""
    if kind == "rules":
        return RulePlanner()
    if kind == "llm":
        return LLMPlanner(LLMConfig.from_env(llm_url, llm_model, llm_api_key, llm_timeout))
    raise InputError(f"unknown planner {kind!r}; choose one of {PLANNERS}")


def first_frame_objects(
    image: np.ndarray,
    mask_path: str | os.PathLike | np.ndarray | None = None,
    boxes: Sequence[BoxHint] = (),
    hints: Sequence[ObjectHint] = (),
    segment: str = "grabcut",
    sam2_checkpoint: str | os.PathLike | None = None,
    sam2_config: str | None = None,
    device: str = "cpu",
    points: Sequence[PointHint] = (),
    layer_order: str = "list",
) -> tuple[np.ndarray, list[ObjectRequest]]:
    """First-frame ids (H, W) uint8 and the named objects, from a mask PNG (or an id
    array) or boxes.

    With a mask, the k-th ``--object`` names the k-th id; with boxes, objects are the
    boxes in order and ``--object`` adds local prompts by name. ``points`` (on or off an
    object, `PointHint`) steer the GrabCut of their box. ``layer_order``: "list" (boxes
    back to front as given) or "size" (largest first: smaller boxes in front); ids follow
    that order and the front object keeps the pixels where masks overlap.
    """
    if mask_path is not None and boxes:
        raise InputError("give either a mask PNG or boxes, not both")
    if points and not boxes:
        raise InputError("--point marks a pixel in a --box; with a mask PNG, draw the mask instead")
    if isinstance(mask_path, np.ndarray):
        ids = mask_path
        if ids.ndim != 2 or ids.dtype != np.uint8 or ids.shape != image.shape[:2]:
            raise InputError(
                f"masks must be an (H, W) uint8 id map at the image's size {image.shape[:2]}, "
                f"got {ids.shape} {ids.dtype}"
            )
        if not ids.any():
            raise InputError("the masks are all background (0); mark objects with ids 1..N")
        return ids, objects_for_mask(ids, hints)
    if mask_path is not None:
        ids = mask_from_png(mask_path, image.shape[:2])
        return ids, objects_for_mask(ids, hints)
    if not boxes:
        raise InputError(
            "no objects marked: give a mask PNG (--mask ids.png) or boxes (--box NAME=x0,y0,x1,y1)"
        )
    boxes = order_boxes(boxes, layer_order)
    objects = objects_for_boxes(boxes, hints)
    if segment == "sam2":
        if points:
            raise InputError("--point steers GrabCut; use --segment grabcut, or drop --point")
        if sam2_checkpoint is None or sam2_config is None:
            raise InputError("--segment sam2 needs --sam2-checkpoint FILE and --sam2-config NAME")
        ids = masks_from_sam2(image, boxes, sam2_checkpoint, sam2_config, device)
    elif segment in ("grabcut", "box"):
        ids = masks_from_boxes(image, boxes, segment, points)
    else:
        raise InputError(f"unknown segmenter {segment!r}; choose one of {SEGMENTERS}")
    return ids, objects


def plan_scene(
    global_prompt: str,
    first_ids: np.ndarray,
    objects: Sequence[ObjectRequest],
    planner: Planner | None = None,
) -> ScenePlan:
    """Plan with ``planner`` (default: rules). Same-named objects are renamed by place
    ("left dog"/"right dog"); a user's local prompt always wins."""
    request = PlanRequest(global_prompt, np.asarray(first_ids), tuple(objects))
    return (planner or RulePlanner()).plan(request)


__all__ = [
    "BoxHint",
    "DEFAULT_LIMITS",
    "ImageInfo",
    "ImageLimits",
    "load_working_image",
    "probe_image",
    "resize_ids",
    "scale_box",
    "working_size",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_MODEL",
    "FORMAT_VERSION",
    "LAYER_ORDERS",
    "LLMConfig",
    "LLMPlanner",
    "ObjectHint",
    "ObjectRequest",
    "PointHint",
    "PLANNERS",
    "PlanError",
    "PlanRequest",
    "PlannedObject",
    "Planner",
    "RulePlanner",
    "SEGMENTERS",
    "ScenePlan",
    "first_frame_objects",
    "grabcut_mask",
    "load_image",
    "make_planner",
    "mask_from_png",
    "masks_from_boxes",
    "masks_from_sam2",
    "objects_for_boxes",
    "objects_for_mask",
    "order_boxes",
    "parse_box_arg",
    "parse_object_arg",
    "parse_point_arg",
    "plan_scene",
]
