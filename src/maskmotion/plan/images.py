"""Input images: loading any common file as RGB (fitting to a model canvas lives with the
rest of the geometry in `maskmotion.trajectory.canvas`).

Transparent pixels are composited on white: cut-outs (stickers, product shots, logos)
are made to be seen on a white page, and black would merge with dark outlines.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError

logger = logging.getLogger(__name__)

BACKGROUND_FOR_ALPHA = 255  # white, see the module docstring


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
