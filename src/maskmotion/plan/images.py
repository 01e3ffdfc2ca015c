"""Input images: loading any common file as RGB, within limits, at the size a run needs
(fitting to a model canvas lives with the rest of the geometry in
`maskmotion.trajectory.canvas`).

Transparent pixels are composited on white: cut-outs (stickers, product shots, logos)
are made to be seen on a white page, and black would merge with dark outlines.

Limits (`ImageLimits`, one place for the command line and any other front end): an
image's size is read from its header and checked before a single pixel is decoded: at
most ``max_pixels`` pixels (default 120 MP), at least ``min_side`` pixels on each side
(default 16). Pillow's own decompression-bomb guard, with its fixed limit, gives way to
this one when a file is opened.

Working size: a run's output is small (long side ``--max-size``, default 512) and the
plan's masks are made at most a few times larger (`working_size`: long side
max(1024, 2 x the output's)), so a 40-MP photo is decoded straight to that size (JPEG
draft mode decodes at 1/2, 1/4 or 1/8 scale in the decoder itself) and never held in
memory at full size. Coordinates a user gives (boxes, drags, mask PNGs) stay in the
original image's pixels; `scale_box` and `resize_ids` bring them to the working image.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError

logger = logging.getLogger(__name__)

BACKGROUND_FOR_ALPHA = 255  # white, see the module docstring

#: Default largest image, in pixels (a 108-MP phone photo fits; decoding one at full size
#: takes about 0.4 GB, which only PNG, TIFF and other formats without draft mode need).
DEFAULT_MAX_PIXELS = 120_000_000
#: Smallest side an input may have: below this there is nothing to segment or animate.
MIN_IMAGE_SIDE = 16
#: The plan's working image: long side max(WORKING_MIN_LONG_SIDE, WORKING_FACTOR x the
#: output's long side), or the image's own size when that is smaller.
WORKING_MIN_LONG_SIDE = 1024
WORKING_FACTOR = 2

_ORIENTATION_TAG = 0x0112
_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_HIGH_DEPTH_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# Pillow's bomb guard reads a module-wide setting; opening under this lock keeps two
# threads with different limits from seeing each other's.
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageLimits:
    """What input images may be; checked from the file header, before decoding.

    Attributes:
        max_pixels: most pixels (width x height); the command line's ``--max-pixels``.
        min_side: fewest pixels on the shorter side.
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = MIN_IMAGE_SIDE

    def __post_init__(self) -> None:
        for name in ("max_pixels", "min_side"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"image limit {name} must be a positive integer, got {value!r}")

    def check(self, width: int, height: int, where: str) -> None:
        """Raise `InputError` when a ``width`` x ``height`` image is outside the limits."""
        if width * height > self.max_pixels:
            raise InputError(
                f"{where} is {width}x{height} = {_mp(width * height)}, above the limit of "
                f"{_mp(self.max_pixels)}; downscale it, or raise the limit with --max-pixels "
                f"{width * height} (decoding it at full size needs about "
                f"{max(1, math.ceil(width * height * 4 / 2**30))} GB of memory)"
            )
        if min(width, height) < self.min_side:
            raise InputError(
                f"{where} is {width}x{height}, too small: each side must be at least "
                f"{self.min_side} pixels; use a larger image"
            )


DEFAULT_LIMITS = ImageLimits()


def _mp(pixels: int) -> str:
    if pixels < 100_000:
        return f"{pixels:,} pixels"
    return f"{pixels / 1e6:.1f} MP" if pixels < 10e6 else f"{pixels / 1e6:.0f} MP"


@dataclass(frozen=True)
class ImageInfo:
    """What the header says: the upright size (EXIF orientation applied) and format."""

    width: int
    height: int
    format: str | None

    @property
    def size(self) -> tuple[int, int]:
        """(H, W), upright."""
        return self.height, self.width


@contextmanager
def _open(path: Path, limits: ImageLimits) -> Iterator[tuple[Image.Image, bool]]:
    """The opened (not decoded) image, checked against ``limits``, and whether its EXIF
    orientation swaps width and height."""
    if not path.exists():
        raise InputError(f"image {path} does not exist")
    if not path.is_file():
        raise InputError(f"image {path} is not a file")
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            # Opening reads only the header; the size is checked right below against our
            # limit, with a message that names it and the option to raise it (Pillow's own
            # guard would warn, or fail without the size, at its fixed limit).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                im = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except Image.DecompressionBombError:
        raise InputError(
            f"image {path} has more pixels than the limit of {_mp(limits.max_pixels)}; downscale it, "
            "or raise the limit with --max-pixels N"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read image {path}: not an image or corrupt ({exc}); use a PNG or JPEG") from None
    with im:
        width, height = im.size
        limits.check(width, height, f"image {path}")
        try:
            orientation = im.getexif().get(_ORIENTATION_TAG, 1)
        except Exception:  # a broken EXIF block should not lose the image  # noqa: BLE001
            orientation = 1
        yield im, orientation in _TRANSPOSED


def probe_image(path: str | os.PathLike, limits: ImageLimits = DEFAULT_LIMITS) -> ImageInfo:
    """The upright size and format of an image file from its header (no pixels are
    decoded), after checking it against ``limits``."""
    path = Path(path)
    with _open(path, limits) as (im, swapped):
        w, h = im.size
        return ImageInfo(h if swapped else w, w if swapped else h, im.format)


def working_size(size: tuple[int, int], output_long_side: int) -> tuple[int, int]:
    """(H, W) at which a run plans on an image of ``size`` (H, W) whose output's long side
    is ``output_long_side``: long side max(WORKING_MIN_LONG_SIDE, WORKING_FACTOR x
    output_long_side), never larger than the image itself."""
    h, w = (int(v) for v in size)
    long_side = max(WORKING_MIN_LONG_SIDE, WORKING_FACTOR * int(output_long_side))
    if max(h, w) <= long_side:
        return h, w
    scale = long_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def load_image(
    path: str | os.PathLike, *, size: tuple[int, int] | None = None, limits: ImageLimits = DEFAULT_LIMITS
) -> np.ndarray:
    """(H, W, 3) uint8 RGB from any file PIL reads (PNG, JPEG, WebP, TIFF, BMP, GIF...).

    EXIF orientation is applied (a phone photo comes out upright); alpha is composited
    on white; greyscale is repeated to RGB; 16-bit and float images are scaled to 8 bits;
    an animated file gives its first frame.

    ``size``: (H, W), upright, to load the image at instead of its own size (at most its
    own size; `working_size` picks one): a JPEG is decoded at a reduced scale directly,
    other formats are decoded and then shrunk. The header is checked against ``limits``
    before anything is decoded.
    """
    path = Path(path)
    try:
        with _open(path, limits) as (im, swapped):
            target = None
            if size is not None:
                th, tw = (int(v) for v in size)
                uh, uw = (im.size[0], im.size[1]) if swapped else (im.size[1], im.size[0])
                if not (1 <= th <= uh and 1 <= tw <= uw):
                    raise InputError(f"cannot load image {path} ({uw}x{uh}) at {tw}x{th}: only shrinking is supported")
                if (th, tw) != (uh, uw):
                    target = (th, tw)
                    if im.format == "JPEG":
                        # Decode at 1/2, 1/4 or 1/8 scale in the decoder, no smaller than the target.
                        im.draft(im.mode, (th, tw) if swapped else (tw, th))
            im.load()
            try:
                im = ImageOps.exif_transpose(im)
            except Exception as exc:  # a broken EXIF block should not lose the image  # noqa: BLE001
                logger.warning("ignoring unreadable EXIF orientation in %s: %s", path, exc)
            if target is not None and (im.size[1], im.size[0]) != target:
                return _shrink_to_rgb(im, target)
            return _to_rgb(im)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"image {path}: {exc}; raise the limit with --max-pixels N") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read image {path}: not an image or corrupt ({exc}); use a PNG or JPEG") from None


def load_working_image(
    path: str | os.PathLike, output_long_side: int, limits: ImageLimits = DEFAULT_LIMITS
) -> tuple[np.ndarray, tuple[int, int]]:
    """The image at its `working_size` for an output of long side ``output_long_side``,
    and its original upright size (H, W), in whose pixels user coordinates are given."""
    info = probe_image(path, limits)
    return load_image(path, size=working_size(info.size, output_long_side), limits=limits), info.size


def _shrink_to_rgb(im: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """``im`` shrunk to ``size`` (H, W) as RGB; alpha is resized premultiplied, then
    composited (as `_to_rgb` does)."""
    h, w = size
    if im.mode in _HIGH_DEPTH_MODES:
        values = np.asarray(im)
        is_float = values.dtype.kind == "f"
        small = cv2.resize(values.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        return _grey_to_rgb(small, is_float=is_float)
    has_alpha = im.mode in _ALPHA_MODES or "transparency" in im.info
    if has_alpha:
        im = im.convert("RGBA")
    elif im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    # reducing_gap: shrink by whole factors first (fast), then resample the last step.
    return _to_rgb(im.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=2.0))


def scale_box(
    box: tuple[int, int, int, int], source: tuple[int, int], size: tuple[int, int], name: str = "box"
) -> tuple[int, int, int, int]:
    """A box x0,y0,x1,y1 (x1/y1 exclusive) in pixels of an image of ``source`` (H, W),
    in pixels of the same image at ``size`` (H, W); it grows to whole pixels and keeps
    at least one. Raises `InputError` when the box is outside the source image."""
    (sh, sw), (h, w) = source, size
    x0, y0, x1, y1 = box
    if x0 < 0 or y0 < 0 or x1 > sw or y1 > sh or x1 <= x0 or y1 <= y0:
        raise InputError(
            f"box {name}={x0},{y0},{x1},{y1} is outside the {sw}x{sh} image; "
            f"use 0 <= x0 < x1 <= {sw} and 0 <= y0 < y1 <= {sh}"
        )
    fx, fy = w / sw, h / sh
    nx0, ny0 = min(w - 1, math.floor(x0 * fx)), min(h - 1, math.floor(y0 * fy))
    nx1, ny1 = max(nx0 + 1, min(w, math.ceil(x1 * fx))), max(ny0 + 1, min(h, math.ceil(y1 * fy)))
    return nx0, ny0, nx1, ny1


def resize_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An (H, W) uint8 id map at ``size`` (H, W), nearest neighbour (ids are labels)."""
    if ids.shape == tuple(size):
        return ids
    return cv2.resize(np.ascontiguousarray(ids, dtype=np.uint8), (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def _to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in _HIGH_DEPTH_MODES:
        values = np.asarray(im)
        return _grey_to_rgb(values, is_float=values.dtype.kind == "f")
    has_alpha = mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info)
    if has_alpha or (mode in ("L", "RGB") and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA")).astype(np.float32)
        alpha = rgba[..., 3:4] / 255.0
        out = rgba[..., :3] * alpha + BACKGROUND_FOR_ALPHA * (1.0 - alpha)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.asarray(im.convert("RGB")), dtype=np.uint8)


def _grey_to_rgb(values: np.ndarray, is_float: bool) -> np.ndarray:
    """16-bit, 32-bit or float greyscale -> (H, W, 3) uint8 (``is_float``: the file held
    floats, in [0, 1] or [0, 255])."""
    v = values.astype(np.float64)
    if is_float:
        top = 1.0 if np.nanmax(v, initial=0.0) <= 1.0 else 255.0  # [0, 1] or [0, 255] floats
    else:
        peak = v.max(initial=0.0)
        top = 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else peak
    grey = np.clip(np.rint(np.nan_to_num(v) * (255.0 / top)), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)
