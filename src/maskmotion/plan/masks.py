"""First-frame instance masks s0, and the command-line strings that name objects.

Sources:
- an id PNG (pixel value = object id) or a palette-colour PNG (`load_id_png`);
- boxes ``NAME=x0,y0,x1,y1``, refined by OpenCV GrabCut (the box itself where GrabCut
  collapses);
- boxes refined by SAM2, when the ``sam2`` package and a local checkpoint are installed
  (untested here: no weights in CI).

A box's id is its place in the list (first box = id 1), and later boxes are drawn over
earlier ones where they overlap: list objects back to front, as in the sprites world,
where a higher id is nearer the camera. With ``layer_order="size"`` (``--layer-order
size``) the boxes are first sorted by area, largest first, so a smaller box (one nested in
another, say) is nearer and keeps its pixels wherever masks overlap.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import cv2

from ..errors import InputError
from ..render.matting import edge_band, estimate_alpha, trimap_from_mask
from ..trajectory import MAX_OBJECTS, TrajectoryError, load_id_png
from .scene_plan import ObjectRequest

logger = logging.getLogger(__name__)

# GrabCut "collapsed" when it keeps less than this share of the box: the object is then
# too like its surroundings to separate, and the box is the safer mask.
MIN_GRABCUT_FILL = 0.05
GRABCUT_ITERATIONS = 5


@dataclass(frozen=True)
class ObjectHint:
    """``--object "NAME: LOCAL PROMPT"``; ``local_prompt`` is "" for just a name."""

    name: str
    local_prompt: str = ""


@dataclass(frozen=True)
class BoxHint:
    """``--box NAME=x0,y0,x1,y1``: pixel corners in the input image, x1/y1 exclusive."""

    name: str
    box: tuple[int, int, int, int]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(f"a box needs a name, got {self.name!r}")
        if len(self.box) != 4:
            raise InputError(f"box {self.name!r} needs 4 numbers x0,y0,x1,y1, got {self.box!r}")
        object.__setattr__(self, "box", tuple(int(v) for v in self.box))


def parse_object_arg(text: str) -> ObjectHint:
    """Parse ``"NAME: LOCAL PROMPT"`` (or just ``"NAME"``)."""
    name, sep, prompt = text.partition(":")
    name = name.strip()
    if not name:
        raise InputError(
            f"--object {text!r} has no name; write --object \"NAME: LOCAL PROMPT\", "
            "e.g. --object \"dog: the black dog jumps\""
        )
    return ObjectHint(name, prompt.strip() if sep else "")


_BOX_RE = re.compile(r"^\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*$")


def parse_box_arg(text: str) -> BoxHint:
    """Parse ``"NAME=x0,y0,x1,y1"`` (integers, pixels, x1 > x0, y1 > y0)."""
    name, sep, coords = text.rpartition("=")
    if not sep or not name.strip():
        raise InputError(f"--box {text!r} must look like NAME=x0,y0,x1,y1, e.g. --box dog=10,20,110,140")
    match = _BOX_RE.match(coords)
    if not match:
        raise InputError(
            f"--box {text!r}: {coords!r} is not four integers x0,y0,x1,y1 (pixels), e.g. dog=10,20,110,140"
        )
    x0, y0, x1, y1 = (int(v) for v in match.groups())
    if x1 <= x0 or y1 <= y0:
        raise InputError(f"--box {text!r}: need x1 > x0 and y1 > y0 (corners top-left, bottom-right)")
    return BoxHint(name.strip(), (x0, y0, x1, y1))


@dataclass(frozen=True)
class PointHint:
    """``--point NAME=x,y``: a pixel of the object in box NAME; ``NAME=-x,y``: a pixel
    inside that box that is not the object (``positive`` False). Input-image pixels."""

    name: str
    xy: tuple[int, int]
    positive: bool = True

    def scaled(self, fx: float, fy: float) -> "PointHint":
        """The same point in an image scaled by ``fx``, ``fy``."""
        return PointHint(self.name, (int(self.xy[0] * fx), int(self.xy[1] * fy)), self.positive)


_POINT_RE = re.compile(r"^\s*(-?)\s*(\d+)\s*,\s*(\d+)\s*$")


def parse_point_arg(text: str) -> PointHint:
    """Parse ``"NAME=x,y"`` (on the object) or ``"NAME=-x,y"`` (background in its box)."""
    name, sep, coords = text.rpartition("=")
    match = _POINT_RE.match(coords) if sep and name.strip() else None
    if not match:
        raise InputError(
            f"--point {text!r} must look like NAME=x,y (a pixel of the object) or NAME=-x,y (a pixel "
            "in its box that is not the object), e.g. --point dog=120,80"
        )
    sign, x, y = match.groups()
    return PointHint(name.strip(), (int(x), int(y)), positive=sign != "-")


def points_by_box(boxes: Sequence[BoxHint], points: Sequence[PointHint]) -> list[tuple[list, list]]:
    """Per box, its (positive, negative) points (x, y). A point belongs to the boxes of its
    name that contain it; a point naming no box, or inside none of its name's boxes, is an
    `InputError`."""
    out: list[tuple[list, list]] = [([], []) for _ in boxes]
    for p in points:
        named = [k for k, b in enumerate(boxes) if b.name.lower() == p.name.lower()]
        if not named:
            have = sorted({b.name for b in boxes})
            raise InputError(f"--point {p.name}=... names no box (boxes: {have}); add --box {p.name}=x0,y0,x1,y1")
        x, y = p.xy
        inside = [k for k in named if boxes[k].box[0] <= x < boxes[k].box[2] and boxes[k].box[1] <= y < boxes[k].box[3]]
        if not inside:
            x0, y0, x1, y1 = boxes[named[0]].box
            raise InputError(
                f"--point {p.name}={'' if p.positive else '-'}{x},{y} is outside box {p.name}={x0},{y0},{x1},{y1}; "
                "a point must lie in its object's box"
            )
        for k in inside:
            out[k][0 if p.positive else 1].append((x, y))
    return out


# ---- masks from files -----------------------------------------------------------------
def mask_from_png(path: str | os.PathLike, image_size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 ids from an id or palette PNG drawn on the input image.

    No resizing: a mask of another size would put objects in the wrong place by
    rounding, so it is an error naming both sizes.
    """
    try:
        ids = load_id_png(path)
    except TrajectoryError as exc:
        raise InputError(str(exc)) from None
    if ids.shape != tuple(image_size):
        raise InputError(
            f"mask {path} is {ids.shape[1]}x{ids.shape[0]} (WxH) but the image is "
            f"{image_size[1]}x{image_size[0]}; draw the mask at the image's size"
        )
    if not ids.any():
        raise InputError(f"mask {path} is all background (0); draw objects with values 1..{MAX_OBJECTS}")
    return ids


def objects_for_mask(ids: np.ndarray, hints: Sequence[ObjectHint]) -> list[ObjectRequest]:
    """Name the ids of a mask PNG: the k-th ``--object`` names the k-th smallest id.
    Without hints, objects are called ``object_<id>``."""
    present = [int(i) for i in np.unique(ids) if i != 0]
    if hints and len(hints) != len(present):
        raise InputError(
            f"the mask holds {len(present)} object(s) (ids {present}) but {len(hints)} --object "
            f"were given; give one --object per id, in id order"
        )
    if not hints:
        return [ObjectRequest(i, f"object_{i}") for i in present]
    return [ObjectRequest(i, h.name, h.local_prompt) for i, h in zip(present, hints)]


def objects_for_boxes(boxes: Sequence[BoxHint], hints: Sequence[ObjectHint]) -> list[ObjectRequest]:
    """One object per box (id = place in the list); ``--object`` hints add local prompts
    by name, the k-th hint of a name going to the k-th box of that name."""
    if len(boxes) > MAX_OBJECTS:
        raise InputError(f"{len(boxes)} boxes, but at most {MAX_OBJECTS} objects are supported")
    by_name: dict[str, list[int]] = {}
    for k, b in enumerate(boxes):
        by_name.setdefault(b.name.lower(), []).append(k)
    prompts = [""] * len(boxes)
    used: dict[str, int] = {}
    for h in hints:
        key = h.name.lower()
        slots = by_name.get(key, [])
        n = used.get(key, 0)
        if n >= len(slots):
            have = sorted({b.name for b in boxes})
            raise InputError(
                f"--object {h.name!r} has no box of its own (boxes: {have}); add --box {h.name}=x0,y0,x1,y1"
            )
        prompts[slots[n]] = h.local_prompt
        used[key] = n + 1
    return [ObjectRequest(k + 1, b.name, prompts[k]) for k, b in enumerate(boxes)]


# ---- masks from boxes -----------------------------------------------------------------
def _check_boxes(boxes: Sequence[BoxHint], size: tuple[int, int]) -> None:
    h, w = size
    if not boxes:
        raise InputError("no boxes given; mark objects with --box NAME=x0,y0,x1,y1")
    if len(boxes) > MAX_OBJECTS:
        raise InputError(f"{len(boxes)} boxes, but at most {MAX_OBJECTS} objects are supported")
    for b in boxes:
        x0, y0, x1, y1 = b.box
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h or x1 <= x0 or y1 <= y0:
            raise InputError(
                f"box {b.name}={x0},{y0},{x1},{y1} is outside the {w}x{h} image; "
                f"use 0 <= x0 < x1 <= {w} and 0 <= y0 < y1 <= {h}"
            )


LAYER_ORDERS = ("list", "size")


def order_boxes(boxes: Sequence[BoxHint], order: str = "list") -> list[BoxHint]:
    """Boxes back to front: as listed ("list"), or largest area first ("size": a smaller
    box, e.g. one nested in another, is in front; equal areas keep their list order)."""
    if order == "list":
        return list(boxes)
    if order == "size":
        return sorted(boxes, key=lambda b: -(b.box[2] - b.box[0]) * (b.box[3] - b.box[1]))
    raise InputError(f"unknown layer order {order!r}; choose one of {LAYER_ORDERS}")


def _paint(size: tuple[int, int], boxes: Sequence[BoxHint], masks: Sequence[np.ndarray]) -> np.ndarray:
    """Later masks over earlier ones; every object must keep some pixels."""
    ids = np.zeros(size, dtype=np.uint8)
    for k, m in enumerate(masks):
        ids[m] = k + 1
    for k, b in enumerate(boxes):
        if not (ids == k + 1).any():
            raise InputError(
                f"box {b.name!r} (object {k + 1}) is hidden entirely by later boxes; "
                "list objects back to front (the front-most last), or use --layer-order size"
            )
    return ids


def grabcut_mask(image: np.ndarray, box: tuple[int, int, int, int], iterations: int = GRABCUT_ITERATIONS) -> np.ndarray | None:
    """(H, W) bool foreground inside ``box`` by GrabCut, or None when it collapses
    (keeps under MIN_GRABCUT_FILL of the box, or the box leaves no background)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    if x0 == 0 and y0 == 0 and x1 == w and y1 == h:
        return None  # no pixels outside the box: nothing to learn the background from
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    mask = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(image[..., ::-1])
    try:
        cv2.grabCut(bgr, mask, (x0, y0, x1 - x0, y1 - y0), bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error as exc:  # e.g. a box of one flat colour: no model to fit
        logger.info("GrabCut failed on box %s: %s", box, exc)
        return None
    return _foreground_in_box(mask, (x0, y0, x1, y1))


def refine_box(
    image: np.ndarray,
    box: tuple[int, int, int, int],
    fg_points: Sequence[tuple[int, int]] = (),
    bg_points: Sequence[tuple[int, int]] = (),
    matte: bool = True,
) -> np.ndarray | None:
    """(H, W) bool object mask in ``box``: GrabCut (``fg_points`` / ``bg_points`` pinned as
    sure object / sure background), then, with ``matte``, alpha matting in a ring around
    GrabCut's edge, keeping alpha >= 0.5: the edge follows the object's colours rather
    than GrabCut's coarse cut. None where GrabCut collapses (see `grabcut_mask`)."""
    if fg_points or bg_points:
        fg = _grabcut_with_points(image, box, fg_points, bg_points)
    else:
        fg = grabcut_mask(image, box)
    if fg is None or not matte:
        return fg
    band = edge_band(image.shape[:2])
    alpha = estimate_alpha(image, trimap_from_mask(fg, band, fg_points, bg_points, point_radius=_point_radius(image)))
    x0, y0, x1, y1 = box
    hard = np.zeros_like(fg)
    hard[y0:y1, x0:x1] = alpha[y0:y1, x0:x1] >= 0.5
    if hard.sum() < MIN_GRABCUT_FILL * (x1 - x0) * (y1 - y0):
        return fg  # the matte lost the object: keep GrabCut's cut
    return hard


def _point_radius(image: np.ndarray) -> int:
    return max(2, int(round(max(image.shape[:2]) / 200)))


def _grabcut_with_points(
    image: np.ndarray,
    box: tuple[int, int, int, int],
    fg_points: Sequence[tuple[int, int]],
    bg_points: Sequence[tuple[int, int]],
    iterations: int = GRABCUT_ITERATIONS,
) -> np.ndarray | None:
    """GrabCut from the box with small disks at the points pinned to object or background."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    mask = np.full((h, w), cv2.GC_BGD, np.uint8)
    mask[y0:y1, x0:x1] = cv2.GC_PR_FGD
    r = _point_radius(image)
    # Each point claims the patch of like colour around it (a flood fill within the box,
    # at most half the box) as probably its side, and a small disk as surely its side.
    for likely, sure, pts in ((cv2.GC_PR_FGD, cv2.GC_FGD, fg_points), (cv2.GC_PR_BGD, cv2.GC_BGD, bg_points)):
        for x, y in pts:
            mask[_like_colour(image, box, (int(x), int(y)))] = likely
    for value, pts in ((cv2.GC_FGD, fg_points), (cv2.GC_BGD, bg_points)):
        for x, y in pts:
            cv2.circle(mask, (int(x), int(y)), r, int(value), -1)
    if not ((mask == cv2.GC_BGD).any() and ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).any()):
        return None
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(np.ascontiguousarray(image[..., ::-1]), mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error as exc:
        logger.info("GrabCut failed on box %s: %s", box, exc)
        return None
    return _foreground_in_box(mask, (x0, y0, x1, y1))


#: Colour distance (per channel, 0..255) within which a point's flood fill spreads.
POINT_COLOUR_TOLERANCE = 24


def _like_colour(image: np.ndarray, box: tuple[int, int, int, int], xy: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the pixels of ``box`` connected to ``xy`` through colours within
    `POINT_COLOUR_TOLERANCE` of the colour there (smoothed); empty if that is over half the
    box (the click did not pick out a part)."""
    x0, y0, x1, y1 = box
    crop = cv2.GaussianBlur(np.ascontiguousarray(image[y0:y1, x0:x1]), (5, 5), 0)
    fill = np.zeros((y1 - y0 + 2, x1 - x0 + 2), np.uint8)
    tol = (POINT_COLOUR_TOLERANCE,) * 3
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    cv2.floodFill(crop, fill, (xy[0] - x0, xy[1] - y0), (0, 0, 0), tol, tol, flags)
    region = np.zeros(image.shape[:2], bool)
    part = fill[1:-1, 1:-1] > 0
    if part.sum() <= 0.5 * part.size:
        region[y0:y1, x0:x1] = part
    return region


def masks_from_boxes(
    image: np.ndarray, boxes: Sequence[BoxHint], method: str = "grabcut", points: Sequence[PointHint] = ()
) -> np.ndarray:
    """(H, W) uint8 ids: box k (0-based) becomes object k + 1.

    ``method``: "grabcut" (refine each box by GrabCut and alpha matting, `refine_box`,
    steered by ``points``; the box itself where GrabCut collapses) or "box" (the
    rectangles as they are).
    """
    _check_image(image)
    size = image.shape[:2]
    _check_boxes(boxes, size)
    if method not in ("grabcut", "box"):
        raise InputError(f"box refinement must be 'grabcut' or 'box', got {method!r}")
    if points and method != "grabcut":
        raise InputError("--point steers GrabCut; use --segment grabcut, or drop --point")
    per_box = points_by_box(boxes, points)
    masks = []
    for b, (pos, neg) in zip(boxes, per_box):
        x0, y0, x1, y1 = b.box
        rect = np.zeros(size, bool)
        rect[y0:y1, x0:x1] = True
        fg = refine_box(image, b.box, pos, neg) if method == "grabcut" else None
        if method == "grabcut" and fg is None:
            logger.warning("plan: GrabCut found no object in box %r; using the box itself", b.name)
        masks.append(rect if fg is None else fg)
    return _paint(size, boxes, masks)


def masks_from_sam2(
    image: np.ndarray,
    boxes: Sequence[BoxHint],
    checkpoint: str | os.PathLike,
    config: str,
    device: str = "cpu",
    predictor_factory: Callable[..., object] | None = None,
) -> np.ndarray:
    """(H, W) uint8 ids from SAM2 box prompts (untested here: needs the ``sam2``
    package and a local checkpoint, e.g. sam2.1_hiera_small.pt with its config name
    "configs/sam2.1/sam2.1_hiera_s.yaml"). ``predictor_factory`` replaces the SAM2
    build for tests."""
    _check_image(image)
    _check_boxes(boxes, image.shape[:2])
    if predictor_factory is None:
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise InputError(f"SAM2 checkpoint {checkpoint} does not exist; download it or use --segment grabcut")
        predictor = _sam2_predictor(str(checkpoint), config, device)
    else:
        predictor = predictor_factory(checkpoint, config, device)
    predictor.set_image(image)  # type: ignore[attr-defined]
    masks = []
    for b in boxes:
        out, _scores, _ = predictor.predict(box=np.asarray(b.box, dtype=np.float32), multimask_output=False)  # type: ignore[attr-defined]
        masks.append(np.asarray(out[0]) > 0)
    return _paint(image.shape[:2], boxes, masks)


def _sam2_predictor(checkpoint: str, config: str, device: str):  # pragma: no cover - needs sam2
    try:
        # optional: SAM2 is installed separately, with its own weights
        from sam2.build_sam import build_sam2
        from sam2.sam2_image_predictor import SAM2ImagePredictor
    except ImportError:
        raise InputError(
            "SAM2 masks need the sam2 package (pip install sam2) and a local checkpoint "
            "(e.g. sam2.1_hiera_small.pt); or use --segment grabcut"
        ) from None
    return SAM2ImagePredictor(build_sam2(config, checkpoint, device=device))


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"expected an (H, W, 3) uint8 RGB image, got {got}; load it with load_image")


def _foreground_in_box(mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """GrabCut's (probable) foreground inside ``box``, or None when it kept too little of
    the box to be the object."""
    x0, y0, x1, y1 = box
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    inside = np.zeros_like(fg)
    inside[y0:y1, x0:x1] = True
    fg &= inside
    if fg.sum() < MIN_GRABCUT_FILL * (x1 - x0) * (y1 - y0):
        return None
    return fg
