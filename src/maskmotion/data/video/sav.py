"""The SA-V release layout: ``sav_XXXXXX.mp4`` beside ``sav_XXXXXX_manual.json`` (and
``_auto.json``), whose masklets are per-object COCO RLE masks on every annotated frame.

SA-V annotates its 24 fps videos at 6 fps, so annotated frame k is video frame
``k * stride`` with ``stride = 4``; the stride is read from the file's frame counts when
they are there. A masklet's position in ``masklet_id`` orders the objects: object id
``j + 1`` in our id maps is the j-th masklet.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ...files import read_json_file, write_text_atomic
from .rle import decode_rle, encode_rle

ANNOTATION_SUFFIXES = ("_manual.json", "_auto.json")
#: SA-V's videos are 24 fps, its masklets 6 fps.
DEFAULT_STRIDE = 4
#: Largest annotation file read (SA-V's largest manual files are a few MB).
MAX_ANNOTATION_BYTES = 256 << 20


@dataclass
class Masklets:
    """One annotation file: ``frames[k][j]`` is masklet j's RLE on annotated frame k."""

    video_id: str
    masklet_ids: list[int]
    frames: list[list[dict[str, Any]]] = field(repr=False)
    stride: int = DEFAULT_STRIDE
    size: tuple[int, int] = (0, 0)  # (H, W)

    @property
    def num_annotated(self) -> int:
        return len(self.frames)

    def annotated_index(self, video_frame: int) -> int | None:
        """The annotated frame that is ``video_frame``, or None if it has no masks."""
        k, rest = divmod(video_frame, self.stride)
        return k if rest == 0 and k < self.num_annotated else None

    def masks(self, k: int) -> np.ndarray:
        """(L, H, W) bool: every masklet's mask on annotated frame ``k``."""
        out = np.zeros((len(self.masklet_ids), *self.size), bool)
        for j, rle in enumerate(self.frames[k]):
            mask = decode_rle(rle, f"{self.video_id} frame {k} masklet {self.masklet_ids[j]}")
            if mask.shape != self.size:
                raise InputError(
                    f"{self.video_id}: masklet {self.masklet_ids[j]} on annotated frame {k} is {mask.shape[1]}x{mask.shape[0]}, "
                    f"the video {self.size[1]}x{self.size[0]}; the annotation belongs to another video"
                )
            out[j] = mask
        return out

    def id_map(self, k: int) -> np.ndarray:
        """(H, W) uint8 ids of annotated frame ``k``: masklet j is id j + 1 (a later
        masklet wins where two overlap). At most 255 masklets."""
        if len(self.masklet_ids) > 255:
            raise InputError(f"{self.video_id}: {len(self.masklet_ids)} masklets do not fit a uint8 id map")
        ids = np.zeros(self.size, np.uint8)
        for j, mask in enumerate(self.masks(k)):
            ids[mask] = j + 1
        return ids


def read_masklets(path: str | os.PathLike) -> Masklets:
    """Read one SA-V annotation JSON; errors name the file and the field."""
    path = Path(path)
    data = read_json_file(path, InputError, "give an SA-V *_manual.json or *_auto.json file", MAX_ANNOTATION_BYTES)
    if not isinstance(data, dict):
        raise InputError(f"{path}: an SA-V annotation is a JSON object")
    frames, ids = data.get("masklet"), data.get("masklet_id")
    if not isinstance(frames, list) or not all(isinstance(f, list) for f in frames):
        raise InputError(f"{path}: 'masklet' must be a list (annotated frames) of lists (one RLE per masklet)")
    if ids is None:  # auto files carry no explicit ids: number the masklets
        ids = list(range(len(frames[0]) if frames else 0))
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise InputError(f"{path}: 'masklet_id' must be a list of integers")
    for k, frame in enumerate(frames):
        if len(frame) != len(ids):
            raise InputError(f"{path}: annotated frame {k} has {len(frame)} masks for {len(ids)} masklets")
    size = (0, 0)
    if frames and frames[0]:
        first = frames[0][0]
        size = tuple(first["size"]) if isinstance(first, dict) and "size" in first else size
    elif "video_height" in data and "video_width" in data:
        size = (int(data["video_height"]), int(data["video_width"]))
    stride = DEFAULT_STRIDE
    count = data.get("video_frame_count")
    if isinstance(count, (int, float)) and count > 0 and frames:
        # ceil(count / stride) annotated frames: recover the stride from the two counts.
        stride = max(1, round(float(count) / len(frames)))
    video_id = str(data.get("video_id") or path.name.rsplit("_", 1)[0])
    return Masklets(video_id, ids, frames, stride, (int(size[0]), int(size[1])))


@dataclass(frozen=True)
class SavEntry:
    """A video of an SA-V folder and its annotation file."""

    video_id: str
    video: Path
    annotation: Path


def find_sav_videos(root: str | os.PathLike, annotations: str = "manual") -> list[SavEntry]:
    """Every ``<id>.mp4`` under ``root`` with a ``<id>_manual.json`` (``annotations=
    "manual"``), ``<id>_auto.json`` ("auto") or either, manual first ("any"), sorted by id."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"SA-V folder {root} does not exist")
    suffixes = {"manual": ("_manual.json",), "auto": ("_auto.json",), "any": ANNOTATION_SUFFIXES}.get(annotations)
    if suffixes is None:
        raise InputError(f"annotations must be manual, auto or any, got {annotations!r}")
    found: dict[str, SavEntry] = {}
    for suffix in reversed(suffixes):  # manual last, so it wins under "any"
        for ann in root.rglob(f"*{suffix}"):
            video_id = ann.name[: -len(suffix)]
            video = ann.with_name(f"{video_id}.mp4")
            if video.is_file():
                found[str(ann.parent / video_id)] = SavEntry(video_id, video, ann)
    if not found:
        raise InputError(
            f"no SA-V videos under {root}: expected sav_XXXXXX.mp4 beside sav_XXXXXX{suffixes[0]}"
        )
    return [found[k] for k in sorted(found)]


def write_masklets(
    path: str | os.PathLike, video_id: str, id_maps: np.ndarray, video_frame_count: int, stride: int = DEFAULT_STRIDE,
    fps: float = 24.0,
) -> Path:
    """Write SA-V-format masklets for annotated id maps (K, H, W) uint8 (annotated frame
    k = video frame k * stride): object id j + 1 becomes masklet j. For converting other
    tracked data into the layout, and for building test samples."""
    id_maps = np.asarray(id_maps)
    if id_maps.ndim != 3 or id_maps.dtype != np.uint8:
        raise ValueError(f"id_maps must be (K, H, W) uint8, got {id_maps.shape} {id_maps.dtype}")
    objects = sorted(int(i) for i in np.unique(id_maps) if i)
    k, h, w = id_maps.shape
    frames = [[encode_rle(frame == oid) for oid in objects] for frame in id_maps]
    areas = np.array([[(frame == oid).sum() for oid in objects] for frame in id_maps], dtype=np.float64)  # (K, L)
    first = [int(np.flatnonzero(areas[:, j])[0]) if areas[:, j].any() else -1 for j in range(len(objects))]
    data = {
        "video_id": video_id,
        "video_duration": video_frame_count / fps,
        "video_frame_count": float(video_frame_count),
        "video_height": float(h),
        "video_width": float(w),
        "video_resolution": float(h * w),
        "masklet": frames,
        "masklet_id": list(range(len(objects))),
        "masklet_size_rel": [float(a) for a in areas.mean(axis=0) / (h * w)] if objects else [],
        "masklet_first_appeared_frame": [float(f) for f in first],
        "masklet_frame_count": [float(video_frame_count)] * len(objects),
        "masklet_num": len(objects),
        "masklet_type": ["manual"] * len(objects),
    }
    path = Path(path)
    write_text_atomic(path, json.dumps(data))
    return path
