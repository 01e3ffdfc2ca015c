"""Padding and cropping to an aspect ratio, with the mapping kept to undo it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
