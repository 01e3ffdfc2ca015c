"""Geometry, in one place: padding and cropping to an aspect ratio with the mapping kept
to undo it, fitting an image and its masks to a model canvas (`fit_to_model`, `FitMap`),
the output size of a run (`output_size`) and resizing frames (`resize_frames`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from .core import MaskTrajectory

PAD_MODES = ("edge", "black")
#: Long side of the output video when the input is larger (pixels).
DEFAULT_MAX_SIZE = 512


@dataclass(frozen=True)
class CanvasMap:
    """Where a source image sits on a new canvas: ``new[y + top, x + left] = src[y, x]``.

    ``top``/``left`` are >= 0 when padding and <= 0 when cropping.
    """

    src_height: int
    src_width: int
    height: int
    width: int
    top: int
    left: int

    def inverse(self) -> "CanvasMap":
        """The map that takes the canvas back to the source frame."""
        return CanvasMap(self.height, self.width, self.src_height, self.src_width, -self.top, -self.left)


def fit_aspect(size: tuple[int, int], aspect: float, mode: str = "pad") -> CanvasMap:
    """The centred canvas of width/height ``aspect`` that pads or crops ``size`` = (H, W)."""
    if aspect <= 0:
        raise ValueError(f"aspect must be positive, got {aspect}")
    if mode not in ("pad", "crop"):
        raise ValueError(f"mode must be 'pad' or 'crop', got {mode!r}")
    h, w = size
    if mode == "pad":
        new_h, new_w = max(h, round(w / aspect)), max(w, round(h * aspect))
    else:
        new_h, new_w = min(h, round(w / aspect)), min(w, round(h * aspect))
    return CanvasMap(h, w, new_h, new_w, (new_h - h) // 2, (new_w - w) // 2)


def shift_canvas(array: np.ndarray, cmap: CanvasMap, fill=0) -> np.ndarray:
    """Place ``array`` (..., H, W[, C]) on the canvas of ``cmap``.

    The spatial axes are the last two, or the two before a trailing channel axis of
    size <= 4 when ``array`` has one more axis than (H, W) needs (images, videos).
    """
    h_axis = _spatial_axis(array, cmap)
    h, w = cmap.src_height, cmap.src_width
    out_shape = list(array.shape)
    out_shape[h_axis], out_shape[h_axis + 1] = cmap.height, cmap.width
    out = np.full(out_shape, fill, dtype=array.dtype)
    # Overlap of the source rectangle and the canvas, in both frames of reference.
    y0, x0 = max(0, cmap.top), max(0, cmap.left)
    y1, x1 = min(cmap.height, cmap.top + h), min(cmap.width, cmap.left + w)
    if y1 > y0 and x1 > x0:
        dst = [slice(None)] * array.ndim
        src = [slice(None)] * array.ndim
        dst[h_axis], dst[h_axis + 1] = slice(y0, y1), slice(x0, x1)
        src[h_axis] = slice(y0 - cmap.top, y1 - cmap.top)
        src[h_axis + 1] = slice(x0 - cmap.left, x1 - cmap.left)
        out[tuple(dst)] = array[tuple(src)]
    return out


def _spatial_axis(array: np.ndarray, cmap: CanvasMap) -> int:
    for axis in (array.ndim - 2, array.ndim - 3):
        if axis >= 0 and array.shape[axis : axis + 2] == (cmap.src_height, cmap.src_width):
            return axis
    raise ValueError(
        f"array of shape {array.shape} has no (H, W) = ({cmap.src_height}, {cmap.src_width}) axes"
    )


# ---- fitting to the model's canvas ----------------------------------------------------
@dataclass(frozen=True)
class FitMap:
    """How an input was fitted to the model: scaled to ``scaled`` (keeping its aspect),
    then placed on the model canvas by ``canvas`` (a `CanvasMap`, padding)."""

    src_height: int
    src_width: int
    scaled_height: int
    scaled_width: int
    canvas: CanvasMap

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the model canvas."""
        return self.canvas.height, self.canvas.width

    def restore(self, array: np.ndarray, to_input_size: bool = False, nearest: bool | None = None) -> np.ndarray:
        """Bring a model output back to the input's aspect ratio: cut the padding away.

        ``array``: (..., H, W) id maps or (..., H, W, C) images on the model canvas.
        With ``to_input_size`` it is also resized to the input's full size; ``nearest``
        (default: for arrays without a channel axis, i.e. ids) keeps labels exact.
        """
        array = np.asarray(array)
        h, w = self.size
        has_channels = array.ndim >= 3 and array.shape[-3:-1] == (h, w) and array.shape[-1] <= 4
        if not has_channels and array.shape[-2:] != (h, w):
            raise InputError(f"array of shape {array.shape} is not on the {w}x{h} model canvas")
        out = shift_canvas(array, self.canvas.inverse())
        if not to_input_size:
            return out
        if nearest is None:
            nearest = not has_channels
        return _resize(out, (self.src_height, self.src_width), nearest, has_channels)


def trajectory_to_canvas(trajectory: "MaskTrajectory", fmap: FitMap) -> "MaskTrajectory":
    """A trajectory at the input's aspect ratio (any size) resampled onto ``fmap``'s model
    canvas: resized (nearest; tracks scaled with it) to the scaled input, then padded."""
    scaled = trajectory.resize(fmap.scaled_height, fmap.scaled_width)
    # Tracks are relative to frame 0, so the padding offset leaves them unchanged.
    return scaled.replace(ids=shift_canvas(scaled.ids, fmap.canvas, fill=0), tracks=scaled.tracks)


def trajectory_from_canvas(trajectory: "MaskTrajectory", fmap: FitMap, size: tuple[int, int]) -> "MaskTrajectory":
    """A trajectory made on ``fmap``'s model canvas brought back to the input's aspect
    ratio at ``size`` = (H, W): padding cut away, then resized (nearest)."""
    if trajectory.size != fmap.size:
        raise InputError(f"the trajectory is {trajectory.size[1]}x{trajectory.size[0]}, not on the model canvas {fmap.size[1]}x{fmap.size[0]}")
    cut = trajectory.replace(ids=fmap.restore(trajectory.ids), tracks=trajectory.tracks)
    return cut.resize(*size)


def fit_to_model(
    image: np.ndarray,
    masks: np.ndarray | None,
    size: int | tuple[int, int],
    pad: str = "edge",
) -> tuple[np.ndarray, np.ndarray | None, FitMap]:
    """Scale ``image`` (H, W, 3) and ``masks`` (H, W) ids to fit ``size`` keeping the
    aspect ratio, and pad to exactly ``size`` (int: square).

    Masks are resized nearest and padded with background. ``pad`` for the image:
    "edge" repeats the border pixels (the model sees a plausible extension rather than
    a hard frame edge it might animate), "black" fills with zeros. An object too small
    to survive the scaling is an error, not a silent loss.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an (H, W, 3) uint8 image, got {getattr(image, 'shape', type(image))}")
    if pad not in PAD_MODES:
        raise InputError(f"pad must be one of {PAD_MODES}, got {pad!r}")
    out_h, out_w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if out_h <= 0 or out_w <= 0:
        raise InputError(f"model size must be positive, got {size}")
    h, w = image.shape[:2]
    if masks is not None:
        masks = np.asarray(masks)
        if masks.shape != (h, w):
            raise InputError(
                f"masks are {masks.shape[1]}x{masks.shape[0]} (WxH) but the image is {w}x{h}; "
                "draw the masks at the image's size"
            )
    scale = min(out_h / h, out_w / w)
    sh, sw = max(1, min(out_h, round(h * scale))), max(1, min(out_w, round(w * scale)))
    cmap = CanvasMap(sh, sw, out_h, out_w, (out_h - sh) // 2, (out_w - sw) // 2)
    scaled = _resize(image, (sh, sw), nearest=False, has_channels=True)
    if pad == "edge":
        fitted = np.pad(
            scaled,
            ((cmap.top, out_h - sh - cmap.top), (cmap.left, out_w - sw - cmap.left), (0, 0)),
            mode="edge",
        )
    else:
        fitted = shift_canvas(scaled, cmap, fill=0)
    fitted_masks = None
    if masks is not None:
        small = _resize(masks, (sh, sw), nearest=True, has_channels=False)
        lost = sorted(set(np.unique(masks).tolist()) - set(np.unique(small).tolist()) - {0})
        if lost:
            raise InputError(
                f"object id(s) {lost} are too small to survive scaling {w}x{h} to {sw}x{sh}; "
                "draw them larger or crop the image around the action"
            )
        fitted_masks = shift_canvas(small, cmap, fill=0)
    return fitted, fitted_masks, FitMap(h, w, sh, sw, cmap)


def _resize(array: np.ndarray, size: tuple[int, int], nearest: bool, has_channels: bool) -> np.ndarray:
    """Resize the spatial axes of (..., H, W[, C]) to ``size`` = (H, W)."""
    h, w = size
    if nearest:
        # Pixel-centre sampling, the same rule as MaskTrajectory.resize, so ids match.
        axis = array.ndim - (3 if has_channels else 2)
        src_h, src_w = array.shape[axis], array.shape[axis + 1]
        rows = np.minimum(((np.arange(h) + 0.5) * src_h / h).astype(np.int64), src_h - 1)
        cols = np.minimum(((np.arange(w) + 0.5) * src_w / w).astype(np.int64), src_w - 1)
        return np.take(np.take(array, rows, axis=axis), cols, axis=axis + 1)
    if not has_channels:
        return _resize(array[..., None], size, nearest, True)[..., 0]
    lead = array.shape[: array.ndim - 3]
    flat = array.reshape(-1, *array.shape[-3:])  # (N, H, W, C)
    shrink = h < flat.shape[1] or w < flat.shape[2]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    frames = [cv2.resize(f, (w, h), interpolation=interp) for f in flat]
    frames = [f[..., None] if f.ndim == 2 else f for f in frames]  # cv2 drops a 1-channel axis
    return np.stack(frames).reshape(*lead, h, w, array.shape[-1])


def output_size(height: int, width: int, max_size: int = DEFAULT_MAX_SIZE) -> tuple[int, int]:
    """(H, W) of a run's output: the input's aspect ratio, long side at most ``max_size``."""
    scale = min(1.0, max_size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., H, W, 3) uint8 images resized to ``size`` = (H, W): area when shrinking,
    cubic when enlarging."""
    if frames.shape[-3:-1] == tuple(size):
        return np.ascontiguousarray(frames)
    return _resize(frames, size, nearest=False, has_channels=True)
