"""Motion adherence: does an object's change of position, size or angle match its
motion words, in sign and rough magnitude?

Each motion kind is judged on the feature its words are about (position for moves,
jumps, falls, bounces, approach and follow; area for grow and shrink; angle for spins;
path length for shake; nothing at all for stay and recolour), by comparing the
generated curve with the reference curve of the same scene (the ground truth says
exactly how far "quickly" goes there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..trajectory import MaskTrajectory, MotionTrack
from ..render import fit_tracks
from ..track import read_turns

COS_MIN = 0.7  # direction agreement of the change curves
RATIO_RANGE = (0.5, 2.0)  # "rough magnitude"
STILL_PX = 2.0  # stay: the centroid moves less than this many pixels
STILL_LOG_AREA = 0.15
STILL_DEG = 10.0


@dataclass
class MotionCurves:
    """Per-frame change relative to frame 0: disp (T, 2) px, log_area (T,), angle (T,) degrees."""

    disp: np.ndarray
    log_area: np.ndarray
    angle: np.ndarray


def curves_from_track(track: MotionTrack) -> MotionCurves:
    return MotionCurves(
        np.stack([track.dx, track.dy], axis=1), np.log(track.sx * track.sy), np.asarray(track.angle, float)
    )


def curves_from_masks(ids: np.ndarray, object_id: int, angle: np.ndarray | None = None) -> MotionCurves:
    """Curves of one object read from (T, H, W) id maps; frames where it is absent hold
    the last seen value. ``angle`` (T,) comes from a track fit where needed."""
    t = ids.shape[0]
    h, w = ids.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w]
    disp, log_area = np.zeros((t, 2)), np.zeros(t)
    first = None
    last = (np.zeros(2), 0.0)
    for f in range(t):
        m = ids[f] == object_id
        n = m.sum()
        if n:
            c = np.array([xs[m].mean(), ys[m].mean()])
            if first is None:
                first = (c, np.log(n))
            last = (c - first[0], np.log(n) - first[1])
        disp[f], log_area[f] = last
    return MotionCurves(disp, log_area, np.zeros(t) if angle is None else np.asarray(angle, float))


def curves_from_outlines(trajectory: MaskTrajectory) -> dict[int, MotionCurves]:
    """Each object's curves from its masks alone, turns from the outline fit (`fit_tracks`)."""
    fitted = fit_tracks(trajectory)
    return {
        o.id: curves_from_masks(trajectory.ids, o.id, fitted[o.id].angle if o.id in fitted else None)
        for o in trajectory.objects
    }


def curves_from_video(video: np.ndarray, trajectory: MaskTrajectory) -> dict[int, MotionCurves]:
    """Each object's curves as a viewer sees them in ``video`` (T, H, W, 3) uint8, given
    masks that follow it (``trajectory``, e.g. tracked from the video): positions and
    areas from the masks, turns from the pixels inside them (`read_turns`), or, for an
    object without texture, from its outline (`curves_from_outlines`)."""
    turns = read_turns(video, trajectory)
    curves = {o.id: curves_from_masks(trajectory.ids, o.id, turns.get(o.id)) for o in trajectory.objects}
    if any(turn is None for turn in turns.values()):
        outlines = curves_from_outlines(trajectory)
        curves.update({oid: outlines[oid] for oid, turn in turns.items() if turn is None})
    return curves


def _agrees(gen: np.ndarray, ref: np.ndarray) -> bool:
    g, r = gen.ravel(), ref.ravel()
    ng, nr = np.linalg.norm(g), np.linalg.norm(r)
    if nr < 1e-6:
        return ng < 1e-6
    if ng < 1e-6:
        return False
    cos = float(g @ r / (ng * nr))
    ratio = ng / nr
    return cos >= COS_MIN and RATIO_RANGE[0] <= ratio <= RATIO_RANGE[1]


def _path_length(disp: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(disp, axis=0), axis=1).sum())


def adherent(kind: str, generated: MotionCurves, reference: MotionCurves) -> bool:
    """Whether ``generated`` follows the motion ``kind`` (a sprites motion kind) the way
    ``reference`` does."""
    if kind.startswith("move_") or kind in ("jump", "fall", "bounce", "approach", "follow"):
        return _agrees(generated.disp, reference.disp)
    if kind in ("grow", "shrink"):
        return _agrees(generated.log_area, reference.log_area)
    if kind.startswith("spin"):
        return _agrees(generated.angle, reference.angle)
    if kind == "shake":
        ratio = _path_length(generated.disp) / max(_path_length(reference.disp), 1e-6)
        return RATIO_RANGE[0] <= ratio <= RATIO_RANGE[1]
    if kind in ("stay", "recolour"):
        return (
            np.abs(generated.disp).max() < STILL_PX
            and np.abs(generated.log_area).max() < STILL_LOG_AREA
            and np.abs(generated.angle).max() < STILL_DEG
        )
    raise ValueError(f"no adherence rule for motion kind {kind!r}")
