"""The fixed palette that ties object ids to colours in a mask-trajectory video.

Object ``i`` is always drawn in ``PALETTE[i]`` on a black background. The colours are
saturated corners and edge midpoints of the RGB cube: every pair is at least 127 apart
in RGB (66 in YCbCr, where video codecs blur chroma), so nearest-colour decoding
survives H.264 compression.
"""

from __future__ import annotations

import numpy as np

#: (K + 1, 3) uint8; row 0 is the background.
PALETTE = np.array(
    [
        (0, 0, 0),  # 0 background
        (255, 0, 0),  # 1 red
        (0, 255, 0),  # 2 green
        (0, 0, 255),  # 3 blue
        (255, 255, 0),  # 4 yellow
        (255, 0, 255),  # 5 magenta
        (0, 255, 255),  # 6 cyan
        (255, 255, 255),  # 7 white
        (255, 128, 0),  # 8 orange
        (128, 0, 255),  # 9 violet
        (0, 128, 255),  # 10 azure
        (255, 0, 128),  # 11 rose
        (128, 255, 0),  # 12 lime
        (0, 255, 128),  # 13 spring green
        (128, 128, 128),  # 14 grey
    ],
    dtype=np.uint8,
)
PALETTE.setflags(write=False)

#: Largest object id a trajectory can hold (one palette colour per object): the object
#: limit of plans, masks, tracking and the pipelines. Masked attention can take more
#: (`attention.MAX_ATTENTION_OBJECTS`, the cap of its bit-set encoding).
MAX_OBJECTS = len(PALETTE) - 1


def palette_colour(object_id: int) -> tuple[int, int, int]:
    """The colour of object ``object_id`` (1..MAX_OBJECTS)."""
    if not 1 <= object_id <= MAX_OBJECTS:
        raise ValueError(
            f"object id {object_id} is outside 1..{MAX_OBJECTS}; "
            f"a trajectory holds at most {MAX_OBJECTS} objects"
        )
    r, g, b = (int(c) for c in PALETTE[object_id])
    return (r, g, b)


def _to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB -> (..., 3) float32 YCbCr (BT.601, full range)."""
    rgb = rgb.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.stack([y, cb, cr], axis=-1)


def decode_palette(
    frames: np.ndarray,
    candidate_ids: np.ndarray | list[int] | None = None,
    background_threshold: float = 1.0,
) -> np.ndarray:
    """Read object ids back from rendered colours by the nearest palette colour.

    Args:
        frames: (..., 3) uint8 RGB, e.g. (T, H, W, 3).
        candidate_ids: ids the frames may contain; restricting the search to the
            known objects keeps blurred edges between two objects from decoding as a
            third colour. Defaults to every palette id.
        background_threshold: a pixel is background when its distance to black is
            below this multiple of its distance to the nearest object colour. 1.0 is
            plain nearest colour; values above 1 give dim, blurred edges to the
            background, values below 1 give them to the objects.

    Returns:
        (...) uint8 ids.
    """
    if frames.ndim < 1 or frames.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) RGB frames, got shape {frames.shape}")
    if candidate_ids is None:
        candidate_ids = np.arange(1, MAX_OBJECTS + 1)
    candidate_ids = np.asarray(candidate_ids, dtype=np.int64)
    if candidate_ids.size and (candidate_ids.min() < 1 or candidate_ids.max() > MAX_OBJECTS):
        raise ValueError(f"candidate ids must lie in 1..{MAX_OBJECTS}, got {candidate_ids}")
    shape = frames.shape[:-1]
    if candidate_ids.size == 0:
        return np.zeros(shape, dtype=np.uint8)
    # Distances in YCbCr weight luma over chroma the way a codec's errors do.
    pix = _to_ycbcr(frames.reshape(-1, 3))  # (P, 3)
    cols = _to_ycbcr(PALETTE[candidate_ids])  # (C, 3)
    d_obj = np.empty((pix.shape[0], len(candidate_ids)), dtype=np.float32)  # (P, C)
    for j, c in enumerate(cols):
        d_obj[:, j] = np.square(pix - c).sum(axis=1)
    nearest = d_obj.argmin(axis=1)
    d_near = np.sqrt(d_obj[np.arange(len(nearest)), nearest])
    d_black = np.sqrt(np.square(pix).sum(axis=1))  # black is (0, 0, 0) in this YCbCr
    ids = np.where(d_black < background_threshold * d_near, 0, candidate_ids[nearest])
    return ids.astype(np.uint8).reshape(shape)


def solid_counts(frames: np.ndarray, ids: np.ndarray, max_distance: float = 32.0) -> np.ndarray:
    """Per palette id, how many of its pixels are *solid*: close (YCbCr distance
    below ``max_distance``) to its exact colour and inside a 3x3 block of the same id.

    A codec blurs the edge between two objects into their blend, and the blend of two
    palette colours can itself be a palette colour (red + magenta = rose); such edges
    are thin, so they have no solid pixels. ``frames`` (T, H, W, 3), ``ids`` (T, H, W).
    Returns (K + 1,) counts.
    """
    pix = _to_ycbcr(frames.reshape(-1, 3))
    ref = _to_ycbcr(PALETTE)[ids.reshape(-1).astype(np.int64)]
    close = (np.square(pix - ref).sum(axis=1) < max_distance**2).reshape(ids.shape)
    solid = close.copy()
    padded = np.pad(ids, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = ids.shape[1:]
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            solid &= padded[:, dy : dy + h, dx : dx + w] == ids
    return np.bincount(ids[solid].ravel(), minlength=len(PALETTE))
