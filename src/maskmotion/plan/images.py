"""Input images: loading any common file as RGB, and fitting image + masks to the model.

Transparent pixels are composited on white: cut-outs (stickers, product shots, logos)
are made to be seen on a white page, and black would merge with dark outlines.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError
from ..trajectory import CanvasMap, shift_canvas

logger = logging.getLogger(__name__)

BACKGROUND_FOR_ALPHA = 255  # white, see the module docstring
PAD_MODES = ("edge", "black")


def load_image(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB from any file PIL reads (PNG, JPEG, WebP, TIFF, BMP, GIF...).

    EXIF orientation is applied (a phone photo comes out upright); alpha is composited
    on white; greyscale is repeated to RGB; 16-bit and float images are scaled to 8 bits;
    an animated file gives its first frame.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"image {path} does not exist")
    if not path.is_file():
        raise InputError(f"image {path} is not a file")
    try:
        with Image.open(path) as im:
            im.load()
            try:
                im = ImageOps.exif_transpose(im)
            except Exception as exc:  # a broken EXIF block should not lose the image
                logger.warning("ignoring unreadable EXIF orientation in %s: %s", path, exc)
            return _to_rgb(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read image {path}: not an image or corrupt ({exc}); use a PNG or JPEG") from None


def _to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        return _grey_to_rgb(np.asarray(im))
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info)
    if has_alpha or (mode in ("L", "RGB") and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA")).astype(np.float32)
        alpha = rgba[..., 3:4] / 255.0
        out = rgba[..., :3] * alpha + BACKGROUND_FOR_ALPHA * (1.0 - alpha)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.asarray(im.convert("RGB")), dtype=np.uint8)


def _grey_to_rgb(values: np.ndarray) -> np.ndarray:
    """16-bit, 32-bit or float greyscale -> (H, W, 3) uint8."""
    v = values.astype(np.float64)
    if values.dtype.kind == "f":
        top = 1.0 if np.nanmax(v, initial=0.0) <= 1.0 else 255.0  # [0, 1] or [0, 255] floats
    else:
        peak = v.max(initial=0.0)
        top = 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else peak
    grey = np.clip(np.rint(np.nan_to_num(v) * (255.0 / top)), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


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
    import cv2

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
