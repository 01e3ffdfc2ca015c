"""A stage-1 kind whose masks no similarity transform can make, for checking that stage 2
receives exactly what stage 1 generated."""

from __future__ import annotations

import numpy as np

from maskmotion.pipelines.stages import first_ids_at
from maskmotion.render import fit_tracks
from maskmotion.trajectory import MaskTrajectory, warp_masks


class NonRigidMotion:
    """Object 1 loses a growing notch at its top-right corner; the other objects stay
    still. Satisfies `MotionStage`."""

    kind = "nonrigid"
    default_steps = 1
    default_guidance = (1.0, 1.0)

    def __init__(self, frames: int) -> None:
        self.frames = frames

    def generate(self, image, plan, size, steps, guidance, generator, step_end):
        first = first_ids_at(plan, size)
        ids = np.repeat(first[None], self.frames, axis=0)
        ys, xs = np.nonzero(first == 1)
        for t in range(1, self.frames):
            # A notch that grows into the top-right corner: an L shape, which no
            # translation, scale or rotation of the first mask can make.
            notch = ids[t, ys.min() : ys.min() + 1 + t, xs.max() - 1 - t : xs.max() + 1]  # a view
            notch[notch == 1] = 0
        return MaskTrajectory(ids, plan.trajectory_objects()), {}


def is_rigid(trajectory: MaskTrajectory) -> bool:
    """Whether fitting a track per object and redrawing gives back the same masks."""
    redrawn = warp_masks(trajectory.ids[0], fit_tracks(trajectory), trajectory.num_frames)
    return bool(np.array_equal(redrawn, trajectory.ids))
