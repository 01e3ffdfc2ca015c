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
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..files import atomic_dir, atomic_path
from ..video import VideoError, read_video, video_fps, write_video
from .core import MaskTrajectory, TrajectoryError, TrajectoryObject
from .palette import MAX_OBJECTS, PALETTE
from .tracks import MotionTrack

FORMAT_NAME = "maskmotion-trajectory"
FORMAT_VERSION = 1
_VIDEO_SUFFIXES = (".mp4", ".gif")


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


def _parse_meta(text: str, where: Path) -> dict:
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrajectoryError(f"{where}: metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise TrajectoryError(f"{where}: metadata must be a JSON object")
    missing = [k for k in ("format", "version", "shape", "objects") if k not in meta]
    if missing:
        raise TrajectoryError(f"{where}: metadata is missing field(s) {missing}")
    if meta["format"] != FORMAT_NAME:
        raise TrajectoryError(f"{where}: not a maskmotion trajectory (format {meta['format']!r})")
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
    objects = [TrajectoryObject.from_json(o) for o in meta["objects"]]
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


def _npz_tracks(data, path: Path) -> dict[int, np.ndarray] | None:
    if "tracks" not in data.files and "track_ids" not in data.files:
        return None
    if "tracks" not in data.files or "track_ids" not in data.files:
        raise TrajectoryError(f"{path}: holds only one of 'tracks' and 'track_ids'; re-save the trajectory")
    track_ids, tracks = data["track_ids"], data["tracks"]
    if track_ids.ndim != 1 or tracks.ndim != 3 or len(track_ids) != len(tracks) or tracks.shape[2] != 5:
        raise TrajectoryError(f"{path}: tracks {tracks.shape} do not match track_ids {track_ids.shape}")
    if not np.isfinite(tracks).all():
        raise TrajectoryError(f"{path}: the motion tracks hold NaN or infinite values")
    return {int(i): tracks[k] for k, i in enumerate(track_ids)}


def _load_npz(path: Path) -> MaskTrajectory:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("ids", "meta") if k not in data.files]
            if missing:
                raise TrajectoryError(f"{path}: missing array(s) {missing}; not a trajectory file")
            ids, meta_text = data["ids"], str(data["meta"])
            tracks = _npz_tracks(data, path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        if isinstance(exc, TrajectoryError):
            raise
        raise TrajectoryError(f"{path}: cannot read the .npz file, it is corrupt ({exc})") from None
    if ids.dtype != np.uint8:
        raise TrajectoryError(f"{path}: ids must be uint8, got {ids.dtype}")
    return _build(ids, _parse_meta(meta_text, path), path, tracks)


def _load_folder(path: Path) -> MaskTrajectory:
    meta_file = path / "trajectory.json"
    if not meta_file.is_file():
        raise TrajectoryError(f"{path}: no trajectory.json; not a trajectory folder")
    meta = _parse_meta(meta_file.read_text(), meta_file)
    files = sorted(path.glob("frame_*.png"))
    if not files:
        raise TrajectoryError(f"{path}: no frame_*.png files")
    frames = [load_id_png(f) for f in files]
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
    except Exception as exc:
        raise TrajectoryError(f"cannot read mask image {path}: {exc}") from None
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
