"""`MaskTrajectory`: each object's mask in every frame, the intermediate of TTM."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .errors import TrajectoryError
from .tracks import MotionTrack
from .palette import MAX_OBJECTS, PALETTE, solid_counts, decode_palette, palette_colour
from .canvas import CanvasMap, fit_aspect, shift_canvas


@dataclass(frozen=True)
class TrajectoryObject:
    """One object of a trajectory.

    Attributes:
        id: 1..MAX_OBJECTS; its pixels in ``ids`` hold this value.
        name: short name used by plans and prompts ("red circle", "dog").
        prompt: the object's local prompt ("the red striped circle slides left").
        colour: fixed by ``id`` through the palette; pass it only to check it.
    """

    id: int
    name: str
    prompt: str = ""
    colour: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, (int, np.integer)) or isinstance(self.id, bool):
            raise TrajectoryError(f"object id must be an int, got {self.id!r}")
        if not 1 <= int(self.id) <= MAX_OBJECTS:
            raise TrajectoryError(
                f"object id {self.id} is outside 1..{MAX_OBJECTS}; "
                f"at most {MAX_OBJECTS} objects are supported"
            )
        if not isinstance(self.name, str) or not self.name.strip():
            raise TrajectoryError(f"object {self.id} needs a non-empty name")
        expected = palette_colour(int(self.id))
        if self.colour is not None and tuple(int(c) for c in self.colour) != expected:
            raise TrajectoryError(
                f"object {self.id} has colour {tuple(self.colour)}, but the palette fixes "
                f"{expected} for id {self.id}; leave colour unset"
            )
        object.__setattr__(self, "id", int(self.id))
        object.__setattr__(self, "colour", expected)

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "prompt": self.prompt, "colour": list(self.colour)}

    @classmethod
    def from_json(cls, data: dict) -> "TrajectoryObject":
        if not isinstance(data, dict):
            raise TrajectoryError(f"an object entry must be a JSON object, got {data!r}")
        missing = [k for k in ("id", "name") if k not in data]
        if missing:
            raise TrajectoryError(f"object entry {data} is missing field(s) {missing}")
        colour = data.get("colour")
        return cls(
            id=data["id"],
            name=data["name"],
            prompt=data.get("prompt", ""),
            colour=tuple(colour) if colour is not None else None,
        )


def default_objects(ids: Iterable[int]) -> list[TrajectoryObject]:
    """Objects named ``object_<id>`` for bare ids (e.g. a decoded video)."""
    return [TrajectoryObject(int(i), f"object_{int(i)}") for i in sorted(set(int(i) for i in ids))]


class MaskTrajectory:
    """Per-frame instance masks: ``ids`` (T, H, W) uint8, 0 = background, 1..L objects.

    Every nonzero id in ``ids`` must have an entry in ``objects``; objects may be
    absent from some or all frames (left the frame, occluded, vanished).

    ``tracks`` (optional): per object id, the `MotionTrack` the masks were drawn from,
    in this trajectory's pixels. Kinds of stage 1 that move objects rigidly (the compact
    motion model, drags) hand them on so the warp preview need not fit them back from the
    masks; a trajectory generated as masks (a real backbone's stage 1) has none. The masks
    are the trajectory; tracks are a companion and never override them.
    """

    def __init__(
        self,
        ids: np.ndarray,
        objects: Sequence[TrajectoryObject],
        fps: float = 8.0,
        tracks: Mapping[int, MotionTrack] | None = None,
    ) -> None:
        ids = np.asarray(ids)
        if ids.ndim != 3:
            raise TrajectoryError(f"ids must be (T, H, W), got shape {ids.shape}")
        if ids.dtype != np.uint8:
            raise TrajectoryError(
                f"ids must be uint8, got {ids.dtype}; convert with ids.astype(np.uint8) "
                f"after checking the values lie in 0..{MAX_OBJECTS}"
            )
        if min(ids.shape) == 0:
            raise TrajectoryError(f"ids must be non-empty, got shape {ids.shape}")
        objects = list(objects)
        for obj in objects:
            if not isinstance(obj, TrajectoryObject):
                raise TrajectoryError(f"objects must be TrajectoryObject, got {type(obj).__name__}")
        known = [o.id for o in objects]
        if len(set(known)) != len(known):
            raise TrajectoryError(f"object ids must be unique, got {known}")
        names = [o.name for o in objects]
        if len(set(names)) != len(names):
            raise TrajectoryError(f"object names must be unique, got {names}")
        present = set(np.unique(ids).tolist()) - {0}
        unknown = sorted(present - set(known))
        if unknown:
            raise TrajectoryError(
                f"ids contain object id(s) {unknown} with no entry in objects "
                f"(known: {sorted(known)}); add them to objects or zero those pixels"
            )
        if fps <= 0:
            raise TrajectoryError(f"fps must be positive, got {fps}")
        self.ids = np.ascontiguousarray(ids)
        self.objects: list[TrajectoryObject] = sorted(objects, key=lambda o: o.id)
        self.fps = float(fps)
        self.tracks: dict[int, MotionTrack] | None = _checked_tracks(tracks, known, ids.shape[0])

    # ---- basic facts -------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return self.ids.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)."""
        return self.ids.shape[1], self.ids.shape[2]

    @property
    def object_ids(self) -> list[int]:
        return [o.id for o in self.objects]

    def object(self, key: int | str) -> TrajectoryObject:
        """An object by id or by name."""
        for o in self.objects:
            if o.id == key or o.name == key:
                return o
        raise KeyError(f"no object {key!r}; objects: {[(o.id, o.name) for o in self.objects]}")

    def __repr__(self) -> str:
        t, h, w = self.ids.shape
        names = ", ".join(f"{o.id}:{o.name}" for o in self.objects)
        return f"MaskTrajectory(T={t}, H={h}, W={w}, objects=[{names}])"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MaskTrajectory):
            return NotImplemented
        return (
            self.ids.shape == other.ids.shape
            and np.array_equal(self.ids, other.ids)
            and self.objects == other.objects
        )

    def replace(self, ids: np.ndarray | None = None, **kwargs) -> "MaskTrajectory":
        """A copy with new ids and/or ``objects`` / ``fps`` / ``tracks``.

        New ids drop the tracks (they described the old masks) unless ``tracks`` is given.
        """
        default_tracks = self.tracks if ids is None else None
        return MaskTrajectory(
            self.ids if ids is None else ids,
            kwargs.get("objects", self.objects),
            kwargs.get("fps", self.fps),
            kwargs.get("tracks", default_tracks),
        )

    def with_prompts(self, prompts: dict[str, str]) -> "MaskTrajectory":
        """A copy with local prompts replaced by name."""
        unknown = set(prompts) - {o.name for o in self.objects}
        if unknown:
            raise KeyError(f"no object named {sorted(unknown)}")
        objects = [dataclasses.replace(o, prompt=prompts.get(o.name, o.prompt)) for o in self.objects]
        return self.replace(objects=objects)

    def masks(self, object_id: int) -> np.ndarray:
        """(T, H, W) bool mask of one object."""
        return self.ids == object_id

    def first_frame(self) -> np.ndarray:
        """(H, W) uint8 first-frame id map."""
        return self.ids[0].copy()

    # ---- colour video ------------------------------------------------------------
    def render(self) -> np.ndarray:
        """(T, H, W, 3) uint8: each object in its palette colour on black."""
        return PALETTE[self.ids]

    @classmethod
    def from_render(
        cls,
        frames: np.ndarray,
        objects: Sequence[TrajectoryObject] | None = None,
        fps: float = 8.0,
        background_threshold: float = 1.0,
        min_pixels: int | None = None,
    ) -> "MaskTrajectory":
        """Decode a colour-mask video back into ids.

        With ``objects``, only their colours are candidates (robust at blurred edges
        between two objects). Without, colours are found in the video: a palette
        colour with fewer than ``min_pixels`` solid pixels (see `solid_counts`;
        default 4) is codec noise, a blend along the edge of two neighbours, and its
        pixels go to the nearest remaining colour.
        """
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise TrajectoryError(
                f"a colour-mask video must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}"
            )
        if objects is not None:
            objects = list(objects)
            ids = decode_palette(frames, [o.id for o in objects], background_threshold)
            return cls(ids, objects, fps)
        ids = decode_palette(frames, None, background_threshold)
        if min_pixels is None:
            min_pixels = 4
        counts = np.bincount(ids.ravel(), minlength=MAX_OBJECTS + 1)
        solid = solid_counts(frames, ids)
        keep = [i for i in range(1, MAX_OBJECTS + 1) if solid[i] >= min_pixels]
        if len(keep) < int((counts[1:] > 0).sum()):
            ids = decode_palette(frames, keep, background_threshold)
        return cls(ids, default_objects(keep), fps)

    # ---- geometry ----------------------------------------------------------------
    def resize(self, height: int, width: int) -> "MaskTrajectory":
        """Nearest-neighbour resize of every frame (ids stay exact labels)."""
        if height <= 0 or width <= 0:
            raise TrajectoryError(f"size must be positive, got {height}x{width}")
        h, w = self.size
        # Pixel-centre sampling: target pixel i samples source floor((i + 0.5) * h / H).
        rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
        cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
        tracks = self.tracks
        if tracks is not None:
            tracks = {oid: tr.scaled(width / w, height / h) for oid, tr in tracks.items()}
        return self.replace(ids=self.ids[:, rows][:, :, cols], tracks=tracks)

    def to_aspect(self, aspect: float, mode: str = "pad") -> tuple["MaskTrajectory", "CanvasMap"]:
        """Pad (with background) or centre-crop to width/height = ``aspect``.

        Returns the new trajectory and the `CanvasMap` that maps back.
        """
        cmap = fit_aspect(self.size, aspect, mode)
        # Tracks are relative to frame 0, so a shift of the canvas leaves them unchanged.
        return self.replace(ids=shift_canvas(self.ids, cmap, fill=0), tracks=self.tracks), cmap

    def areas(self) -> dict[int, np.ndarray]:
        """Per object: (T,) int pixel counts."""
        flat = self.ids.reshape(self.num_frames, -1)
        return {o.id: (flat == o.id).sum(axis=1) for o in self.objects}

    def boxes(self) -> dict[int, np.ndarray]:
        """Per object: (T, 4) float boxes (x0, y0, x1, y1), x1/y1 exclusive; NaN when absent."""
        out = {}
        for o in self.objects:
            m = self.ids == o.id  # (T, H, W)
            rows, cols = m.any(axis=2), m.any(axis=1)  # (T, H), (T, W)
            box = np.full((self.num_frames, 4), np.nan)
            present = rows.any(axis=1)
            for t in np.flatnonzero(present):
                ys, xs = np.flatnonzero(rows[t]), np.flatnonzero(cols[t])
                box[t] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
            out[o.id] = box
        return out

    def centroids(self) -> dict[int, np.ndarray]:
        """Per object: (T, 2) float (x, y) pixel-centre centroids; NaN when absent."""
        h, w = self.size
        ys, xs = np.mgrid[0:h, 0:w]
        out = {}
        for o in self.objects:
            m = (self.ids == o.id).astype(np.float64)  # (T, H, W)
            n = m.sum(axis=(1, 2))
            with np.errstate(invalid="ignore", divide="ignore"):
                cx = (m * xs).sum(axis=(1, 2)) / n
                cy = (m * ys).sum(axis=(1, 2)) / n
            out[o.id] = np.stack([cx, cy], axis=1)
        return out

    # ---- files -------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Save by suffix: ``.npz`` (exact, with objects), ``.mp4``/``.gif`` (colour
        video), or a folder (palette PNG frames + objects.json, exact)."""
        from .storage import save_trajectory  # on use: storage.py builds on this module (a cycle)

        return save_trajectory(self, path)

    @classmethod
    def load(
        cls, path: str | os.PathLike, objects: Sequence[TrajectoryObject] | None = None
    ) -> "MaskTrajectory":
        """Load what `save` wrote; videos are decoded by nearest palette colour."""
        from .storage import load_trajectory  # on use: storage.py builds on this module (a cycle)

        return load_trajectory(path, objects)

    # ---- building ----------------------------------------------------------------
    @classmethod
    def from_drag(cls, *args, **kwargs) -> "MaskTrajectory":
        """See `maskmotion.trajectory.drag.trajectory_from_drag`."""
        from .drag import trajectory_from_drag  # on use: drag.py builds on this module (a cycle)

        return trajectory_from_drag(*args, **kwargs)


def _checked_tracks(
    tracks: Mapping[int, MotionTrack] | None, object_ids: Sequence[int], num_frames: int
) -> dict[int, MotionTrack] | None:
    """``tracks`` as a plain dict keyed by known object ids, one `MotionTrack` of
    ``num_frames`` frames each; None stays None."""
    if tracks is None:
        return None
    if not isinstance(tracks, Mapping):
        raise TrajectoryError(f"tracks must map object ids to MotionTrack, got {type(tracks).__name__}")
    out: dict[int, MotionTrack] = {}
    for oid, track in tracks.items():
        if not isinstance(track, MotionTrack):
            raise TrajectoryError(f"the track of object {oid!r} must be a MotionTrack, got {type(track).__name__}")
        if int(oid) not in object_ids:
            raise TrajectoryError(f"a track is given for object id {oid!r}, which is not an object {sorted(object_ids)}")
        if track.num_frames != num_frames:
            raise TrajectoryError(
                f"the track of object {oid} has {track.num_frames} frames but the masks have {num_frames}; "
                "resample it (MotionTrack.resampled)"
            )
        out[int(oid)] = track
    return dict(sorted(out.items()))
