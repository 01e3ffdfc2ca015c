"""Saving and loading trajectories and first-frame id maps.

Formats:
- ``.npz``: ``ids`` (T, H, W) uint8, ``meta``, a JSON string (format, version,
  shape, fps, objects), and ``tracks`` (L, T, 5) float64 with ``track_ids`` (L,) when
  the trajectory carries motion tracks. Exact.
- a folder: ``frame_0000.png`` ... as palette PNGs (pixel value = id, colours = the
  palette, so they view as the colour render) plus ``trajectory.json`` (tracks, when
  present, as lists in it). Exact.
- ``.mp4`` / ``.gif``: the colour render; loading decodes by nearest palette colour.
  Masks only: tracks are not kept.

Loading is bounded: an array's shape and type are read from its ``.npy`` header inside
the zip and checked (`MAX_FRAMES`, `MAX_SIDE`, `MAX_VALUES`) before anything is
decompressed, so a small file that would inflate to gigabytes is refused at once; the
metadata JSON is size-checked and its field types are checked. Every problem is a
`TrajectoryError`.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..files import atomic_dir, atomic_path, parse_json, read_json_file
from ..video import VideoError, read_video, video_fps, write_video
from .core import MaskTrajectory, TrajectoryError, TrajectoryObject
from .palette import MAX_OBJECTS, PALETTE
from .tracks import MotionTrack

FORMAT_NAME = "maskmotion-trajectory"
FORMAT_VERSION = 1
_VIDEO_SUFFIXES = (".mp4", ".gif")

#: Most frames, pixels per side and values (T x H x W) a trajectory file may hold.
MAX_FRAMES = 1024
MAX_SIDE = 8192
MAX_VALUES = 1 << 28  # 256 M: 256 MB of uint8 ids
#: Most characters of the metadata JSON.
MAX_META_CHARS = 1 << 22


def _meta(traj: MaskTrajectory) -> dict:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "shape": list(traj.ids.shape),
        "fps": traj.fps,
        "objects": [o.to_json() for o in traj.objects],
    }


def _track_arrays(traj: MaskTrajectory) -> dict[str, np.ndarray]:
    """``track_ids`` (L,) and ``tracks`` (L, T, 5) when the trajectory has tracks."""
    if traj.tracks is None:
        return {}
    ids = sorted(traj.tracks)
    rows = [traj.tracks[i].as_array() for i in ids]
    shape = (0, traj.num_frames, 5)
    return {
        "track_ids": np.asarray(ids, dtype=np.int64),
        "tracks": np.stack(rows) if rows else np.zeros(shape),
    }


def save_trajectory(traj: MaskTrajectory, path: str | os.PathLike) -> Path:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, ids=traj.ids, meta=np.array(json.dumps(_meta(traj))), **_track_arrays(traj))
    elif suffix in _VIDEO_SUFFIXES:
        write_video(path, traj.render(), fps=traj.fps)
    elif suffix == "":
        meta = _meta(traj)
        arrays = _track_arrays(traj)
        if arrays:
            meta["tracks"] = {str(int(i)): a.tolist() for i, a in zip(arrays["track_ids"], arrays["tracks"])}
        with atomic_dir(path) as tmp:
            for t, frame in enumerate(traj.ids):
                _id_image(frame).save(tmp / f"frame_{t:04d}.png", format="PNG")
            (tmp / "trajectory.json").write_text(json.dumps(meta, indent=2))
    else:
        raise TrajectoryError(
            f"cannot save a trajectory as {path}: use .npz, .mp4, .gif, or a folder name (PNG frames)"
        )
    return path


def load_trajectory(
    path: str | os.PathLike, objects: Sequence[TrajectoryObject] | None = None
) -> MaskTrajectory:
    path = Path(path)
    if not path.exists():
        raise TrajectoryError(f"trajectory file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if path.is_dir():
            return _load_folder(path)
        if suffix == ".npz":
            return _load_npz(path)
        if suffix in _VIDEO_SUFFIXES:
            frames = read_video(path)
            return MaskTrajectory.from_render(frames, objects, fps=video_fps(path))
    except (TrajectoryError, VideoError) as exc:
        msg = str(exc)
        raise TrajectoryError(msg if str(path) in msg else f"{path}: {msg}") from None
    raise TrajectoryError(
        f"cannot load a trajectory from {path}: use .npz, .mp4, .gif, or a folder of PNG frames"
    )


def _parse_meta(text: str | dict, where: Path) -> dict:
    meta = parse_json(text, f"{where}: metadata", TrajectoryError) if isinstance(text, str) else text
    if not isinstance(meta, dict):
        raise TrajectoryError(f"{where}: metadata must be a JSON object")
    missing = [k for k in ("format", "version", "shape", "objects") if k not in meta]
    if missing:
        raise TrajectoryError(f"{where}: metadata is missing field(s) {missing}")
    if meta["format"] != FORMAT_NAME:
        raise TrajectoryError(f"{where}: not a maskmotion trajectory (format {str(meta['format'])[:50]!r})")
    version = meta["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise TrajectoryError(f"{where}: metadata 'version' must be a positive integer, got {str(version)[:50]}")
    shape = meta["shape"]
    if not isinstance(shape, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape):
        raise TrajectoryError(f"{where}: metadata 'shape' must be a list of integers [T, H, W], got {str(shape)[:80]}")
    fps = meta.get("fps", 8.0)
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise TrajectoryError(f"{where}: metadata 'fps' must be a positive number, got {str(fps)[:50]}")
    if meta["version"] > FORMAT_VERSION:
        raise TrajectoryError(
            f"{where}: format version {meta['version']} is newer than this maskmotion "
            f"understands ({FORMAT_VERSION}); upgrade maskmotion"
        )
    if not isinstance(meta["objects"], list):
        raise TrajectoryError(f"{where}: 'objects' must be a list")
    return meta


def _build(ids: np.ndarray, meta: dict, where: Path, tracks: dict[int, np.ndarray] | None = None) -> MaskTrajectory:
    if list(ids.shape) != list(meta["shape"]):
        raise TrajectoryError(
            f"{where}: ids have shape {list(ids.shape)} but the metadata says {meta['shape']}; "
            "the file is inconsistent, re-save it"
        )
    try:
        objects = [TrajectoryObject.from_json(o) for o in meta["objects"]]
    except TrajectoryError as exc:
        raise TrajectoryError(f"{where}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise TrajectoryError(f"{where}: an object entry is malformed ({str(exc)[:200]}); re-save the trajectory") from None
    motion = None
    if tracks is not None:
        try:
            motion = {int(i): MotionTrack.from_array(a) for i, a in tracks.items()}
        except (TypeError, ValueError) as exc:
            raise TrajectoryError(f"{where}: the motion tracks are malformed ({exc}); re-save the trajectory") from None
    try:
        return MaskTrajectory(ids, objects, fps=float(meta.get("fps", 8.0)), tracks=motion)
    except TrajectoryError as exc:
        raise TrajectoryError(f"{where}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise TrajectoryError(f"{where}: the trajectory is malformed ({str(exc)[:200]}); re-save it") from None


def _npz_tracks(data, path: Path) -> dict[int, np.ndarray] | None:
    if "tracks" not in data.files and "track_ids" not in data.files:
        return None
    if "tracks" not in data.files or "track_ids" not in data.files:
        raise TrajectoryError(f"{path}: holds only one of 'tracks' and 'track_ids'; re-save the trajectory")
    track_ids, tracks = data["track_ids"], data["tracks"]
    if track_ids.ndim != 1 or tracks.ndim != 3 or len(track_ids) != len(tracks) or tracks.shape[2] != 5:
        raise TrajectoryError(f"{path}: tracks {tracks.shape} do not match track_ids {track_ids.shape}")
    if track_ids.dtype.kind not in "iu" or tracks.dtype.kind not in "iuf":
        raise TrajectoryError(f"{path}: track_ids must be integers and tracks numbers; re-save the trajectory")
    if not np.isfinite(tracks).all():
        raise TrajectoryError(f"{path}: the motion tracks hold NaN or infinite values")
    return {int(i): tracks[k] for k, i in enumerate(track_ids)}


# Expected kind of each array (numpy dtype kinds) and its rank.
_NPZ_ARRAYS = {"ids": ("u", 3), "meta": ("U", 0), "track_ids": ("iu", 1), "tracks": ("iuf", 3)}


def _check_npz_headers(path: Path) -> None:
    """Read each array's ``.npy`` header from the zip and refuse, before anything is
    decompressed, arrays of unexpected type or rank, or larger than the limits."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        if len(names) > 2 * len(_NPZ_ARRAYS):
            raise TrajectoryError(f"{path}: holds {len(names)} arrays; not a trajectory file")
        for member in names:
            key = member.removesuffix(".npy")
            if key not in _NPZ_ARRAYS:
                continue  # np.load lists it; the loader ignores it and never reads it
            with zf.open(member) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise TrajectoryError(f"{path}: array {key!r} has .npy format {version}; re-save the trajectory")
            kinds, rank = _NPZ_ARRAYS[key]
            if key == "ids" and dtype != np.uint8:
                raise TrajectoryError(f"{path}: ids must be uint8, got {dtype}; re-save the trajectory")
            if dtype.kind not in kinds or len(shape) != rank:
                raise TrajectoryError(
                    f"{path}: array {key!r} is {dtype} with shape {list(shape)}, not what a trajectory holds; "
                    "re-save the trajectory"
                )
            _check_array_size(key, shape, dtype, path)


def _check_array_size(key: str, shape: tuple[int, ...], dtype: np.dtype, path: Path) -> None:
    limit = f"at most {MAX_FRAMES} frames of {MAX_SIDE}x{MAX_SIDE} and {MAX_VALUES:,} values"
    if key == "ids":
        t, h, w = shape
        if t > MAX_FRAMES or h > MAX_SIDE or w > MAX_SIDE or t * h * w > MAX_VALUES:
            raise TrajectoryError(
                f"{path}: the masks are {t} frames of {w}x{h}, more than a trajectory may hold ({limit}); "
                "make it smaller (--max-size, --frames)"
            )
    elif key == "meta":
        if dtype.itemsize // 4 > MAX_META_CHARS:
            raise TrajectoryError(f"{path}: the metadata is over {MAX_META_CHARS:,} characters; re-save the trajectory")
    elif key in ("track_ids", "tracks"):
        if shape[0] > MAX_OBJECTS or (key == "tracks" and (shape[1] > MAX_FRAMES or shape[2] != 5)):
            raise TrajectoryError(f"{path}: the motion tracks have shape {list(shape)}; re-save the trajectory")


def _load_npz(path: Path) -> MaskTrajectory:
    try:
        _check_npz_headers(path)
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("ids", "meta") if k not in data.files]
            if missing:
                raise TrajectoryError(f"{path}: missing array(s) {missing}; not a trajectory file")
            ids, meta_text = data["ids"], str(data["meta"])
            tracks = _npz_tracks(data, path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, KeyError, RuntimeError,
            NotImplementedError, zlib.error) as exc:  # fmt: skip
        if isinstance(exc, TrajectoryError):
            raise
        what = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise TrajectoryError(f"{path}: cannot read the .npz file, it is corrupt ({what})") from None
    if ids.dtype != np.uint8:
        raise TrajectoryError(f"{path}: ids must be uint8, got {ids.dtype}")
    return _build(ids, _parse_meta(meta_text, path), path, tracks)


def _load_folder(path: Path) -> MaskTrajectory:
    meta_file = path / "trajectory.json"
    if not meta_file.is_file():
        raise TrajectoryError(f"{path}: no trajectory.json; not a trajectory folder")
    meta = _parse_meta(read_json_file(meta_file, TrajectoryError, "re-save the trajectory"), meta_file)
    files = sorted(path.glob("frame_*.png"))
    if not files:
        raise TrajectoryError(f"{path}: no frame_*.png files")
    if len(files) > MAX_FRAMES:
        raise TrajectoryError(f"{path}: {len(files)} frames, more than a trajectory may hold ({MAX_FRAMES})")
    first = _png_size(files[0])
    if first[0] > MAX_SIDE or first[1] > MAX_SIDE or len(files) * first[0] * first[1] > MAX_VALUES:
        raise TrajectoryError(
            f"{path}: {len(files)} frames of {first[1]}x{first[0]}, more than a trajectory may hold "
            f"(at most {MAX_SIDE} per side and {MAX_VALUES:,} values)"
        )
    frames = []
    for f in files:
        if _png_size(f) != first:
            raise TrajectoryError(f"{path}: frames differ in size; all must match")
        frames.append(load_id_png(f))
    sizes = sorted({f.shape for f in frames})
    if len(sizes) > 1:
        raise TrajectoryError(f"{path}: frames differ in size {sizes}; all must match")
    tracks = meta.get("tracks")
    if tracks is not None and not isinstance(tracks, dict):
        raise TrajectoryError(f"{meta_file}: 'tracks' must map object ids to per-frame rows")
    arrays = None
    if tracks is not None:
        try:
            arrays = {int(k): np.asarray(v, dtype=np.float64) for k, v in tracks.items()}
        except (TypeError, ValueError) as exc:
            raise TrajectoryError(f"{meta_file}: the motion tracks are malformed ({exc})") from None
    return _build(np.stack(frames), meta, path, arrays)


def _png_size(path: Path) -> tuple[int, int]:
    """(H, W) from an image file's header."""
    try:
        with Image.open(path) as im:
            return im.size[1], im.size[0]
    except Exception as exc:  # noqa: BLE001 - decoders raise many types for bad bytes
        raise TrajectoryError(f"cannot read mask image {path}: {str(exc)[:200]}") from None


# ---- first-frame id maps -------------------------------------------------------------
def _id_image(ids2d: np.ndarray) -> Image.Image:
    im = Image.fromarray(np.ascontiguousarray(ids2d, dtype=np.uint8), mode="P")
    im.putpalette(PALETTE.ravel().tolist())
    return im


def save_id_png(path: str | os.PathLike, ids2d: np.ndarray) -> Path:
    """Save an (H, W) id map as a palette PNG: values are ids, colours the palette."""
    ids2d = np.asarray(ids2d)
    if ids2d.ndim != 2:
        raise TrajectoryError(f"an id map must be (H, W), got shape {ids2d.shape}")
    if ids2d.size and (ids2d.min() < 0 or ids2d.max() > MAX_OBJECTS):
        raise TrajectoryError(f"ids must lie in 0..{MAX_OBJECTS}")
    path = Path(path)
    with atomic_path(path) as tmp:
        _id_image(ids2d.astype(np.uint8)).save(tmp, format="PNG")
    return path


def load_id_png(path: str | os.PathLike) -> np.ndarray:
    """Read an (H, W) uint8 id map from a PNG.

    Accepted: palette PNGs (index = id), greyscale (value = id), and RGB images
    drawn in the trajectory palette (every colour must be black or a palette colour).
    """
    path = Path(path)
    if not path.is_file():
        raise TrajectoryError(f"mask file {path} does not exist")
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode == "P":
                ids = np.asarray(im).astype(np.int64)
            elif mode in ("L", "I", "I;16", "1"):
                ids = np.asarray(im).astype(np.int64)
            else:
                rgb = np.asarray(im.convert("RGB"))
                ids = _exact_palette_ids(rgb, path)
    except TrajectoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise many types for bad bytes
        raise TrajectoryError(f"cannot read mask image {path}: {str(exc)[:200]}") from None
    if ids.max(initial=0) > MAX_OBJECTS:
        raise TrajectoryError(
            f"{path}: mask value {int(ids.max())} is above {MAX_OBJECTS}, the most objects "
            "supported; use values 0 (background) and 1..N"
        )
    return ids.astype(np.uint8)


def _exact_palette_ids(rgb: np.ndarray, path: Path) -> np.ndarray:
    # Pack colours into one int so a lookup table maps every palette colour at once.
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    pal = (PALETTE[:, 0].astype(np.int64) << 16) | (PALETTE[:, 1].astype(np.int64) << 8) | PALETTE[:, 2]
    order = np.argsort(pal)
    pos = np.clip(np.searchsorted(pal[order], packed), 0, len(pal) - 1)
    found = pal[order][pos] == packed
    if not found.all():
        bad = np.unique(rgb[~found].reshape(-1, 3), axis=0)[:5]
        raise TrajectoryError(
            f"{path}: colours {[tuple(int(v) for v in c) for c in bad]} are not in the "
            "trajectory palette; draw masks in palette colours (maskmotion.trajectory.PALETTE) "
            "or save an id PNG (pixel value = object id)"
        )
    return order[pos]
