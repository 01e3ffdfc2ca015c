"""COCO run-length encoding of binary masks, through pycocotools (the maintained
reference implementation that SA-V, SA-1B and COCO itself are read with)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import InputError


def _mask_api() -> Any:
    try:
        from pycocotools import mask as mask_api  # optional: only SA-V masklets need it
    except ImportError:
        raise InputError(
            "reading COCO RLE masks needs pycocotools; install it with pip install 'maskmotion[data]'"
        ) from None
    return mask_api


def decode_rle(rle: dict[str, Any], where: str = "mask") -> np.ndarray:
    """(H, W) bool mask of one COCO RLE ``{"size": [H, W], "counts": str | list}``."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise InputError(f"{where}: a COCO RLE mask is an object with 'size' and 'counts'; got {str(rle)[:80]}")
    size = rle["size"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise InputError(f"{where}: 'size' must be [height, width] in pixels, got {str(size)[:40]}")
    mask_api = _mask_api()
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE: convert to the compressed form first
        rle = mask_api.frPyObjects(rle, *size)
    elif isinstance(counts, str):
        rle = {"size": size, "counts": counts.encode("ascii")}
    else:
        raise InputError(f"{where}: 'counts' must be a string or a list of run lengths")
    try:
        mask = mask_api.decode(rle)  # (H, W) uint8, Fortran order
    except Exception as exc:  # the C decoder raises bare errors for malformed counts
        raise InputError(f"{where}: the RLE counts do not decode ({exc}); the annotation file is corrupt") from None
    return np.ascontiguousarray(mask.astype(bool))


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """The compressed COCO RLE of an (H, W) mask, JSON-ready (``counts`` a str)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    rle = _mask_api().encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}
