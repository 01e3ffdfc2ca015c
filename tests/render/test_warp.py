"""The warp preview and the motion fit behind it, on scenes whose true motion is known."""

import numpy as np
import pytest

from maskmotion.data.sprites import SpritesConfig, generate_scene
from maskmotion.data.sprites.splits import seeds_for
from maskmotion.render import fit_tracks, warp_preview
from maskmotion.data.sprites import tracks_from_sprite_params
from maskmotion.trajectory import MaskTrajectory, MotionTrack, TrajectoryObject, warp_masks


def _blob(h=64, w=64):
    """An asymmetric shape (an L with a tail), so a turn is visible in its mask."""
    m = np.zeros((h, w), np.uint8)
    m[20:36, 20:26] = 1
    m[30:36, 26:40] = 1
    m[22:25, 26:30] = 1
    return m


def _trajectory(first_ids, tracks, frames=8):
    objects = [TrajectoryObject(i, f"object {i}", "") for i in sorted(tracks)]
    return MaskTrajectory(warp_masks(first_ids, tracks, frames), objects)


@pytest.mark.parametrize(
    "rows",
    [
        [(1.5 * t, -0.7 * t, 1, 1, 0) for t in range(8)],  # sub-pixel translation
        [(0.5 * t, 0, 1 + 0.04 * t, 1 + 0.04 * t, 0) for t in range(8)],  # growth
        [(0, 0, 1, 1, 6.0 * t) for t in range(8)],  # a turn
        [(0, 0, 1 + 0.05 * t, 1 - 0.04 * t, 0) for t in range(8)],  # squash and stretch
    ],
    ids=["translate", "grow", "turn", "squash"],
)
def test_fit_recovers_a_known_motion(rows):
    track = MotionTrack.from_array(np.array(rows, float))
    traj = _trajectory(_blob(), {1: track})
    fitted = fit_tracks(traj)[1]
    err = np.abs(np.stack([fitted.dx - track.dx, fitted.dy - track.dy]))
    assert err.max() < 0.75, err
    assert np.abs(fitted.sx - track.sx).max() < 0.08 and np.abs(fitted.sy - track.sy).max() < 0.08
    assert np.abs(fitted.angle - track.angle).max() < 6.0


def test_fit_ignores_an_occluder_and_the_frame_border():
    """A square sliding left under an occluder (a higher id drawn on top) and out of the
    frame: area and centroid lie about its motion, the fit does not (checked where at
    least 40% of it shows and its right edge is clear of the bar: once all that shows is
    the sliver between the frame border and the bar, no edge of its own is left and only
    the constant-velocity prior places it)."""
    first = np.zeros((64, 64), np.uint8)
    first[24:40, 20:36] = 1
    first[10:54, 8:14] = 2  # a still bar in front
    slide = MotionTrack.from_array(np.array([(-2.6 * t, 0, 1, 1, 0) for t in range(12)], float))
    traj = _trajectory(first, {1: slide, 2: MotionTrack.still(12)}, frames=12)
    assert (traj.ids[-1] == 1).sum() < (traj.ids[0] == 1).sum() / 2  # mostly hidden or gone
    fitted = fit_tracks(traj)[1]
    area0 = (traj.ids[0] == 1).sum()
    visible = [
        t for t in range(12)
        if (traj.ids[t] == 1).sum() >= 0.4 * area0 and np.nonzero(traj.ids[t] == 1)[1].max() >= 14  # bar: x 8-13
    ]
    assert len(visible) >= 6
    assert np.abs(fitted.dx[visible] - slide.dx[visible]).max() < 0.75
    assert np.abs(fitted.dy[visible]).max() < 0.75
    assert np.abs(fitted.sx[visible] - 1).max() < 0.08 and np.abs(fitted.angle[visible]).max() < 3.0


def test_turns_past_half_a_circle_stay_continuous():
    rows = np.array([(0, 0, 1, 1, 30.0 * t) for t in range(12)], float)  # 330 degrees
    traj = _trajectory(_blob(), {1: MotionTrack.from_array(rows)}, frames=12)
    angle = fit_tracks(traj)[1].angle
    assert np.abs(np.diff(angle) - 30.0).max() < 6.0 and angle[-1] > 300


def test_preview_of_rigid_sprites_is_close_to_the_true_video():
    """On test scenes with only rigid motions the preview from fitted tracks nearly
    matches the one from the true tracks on object pixels."""
    rigid = {"move_left", "move_right", "move_up", "move_down", "grow", "shrink", "shake", "stay"}
    checked = 0
    for seed in seeds_for("test", 40):
        sc = generate_scene(seed, SpritesConfig())
        if not all(o.spec.motion.kind in rigid for o in sc.objects):
            continue
        oids = [o.id for o in sc.objects]
        true = dict(zip(oids, tracks_from_sprite_params(sc.params(), sc.first_ids, oids)))
        gt = sc.video[1:].astype(float)
        objects = sc.ids[1:] > 0

        def psnr(video):
            mse = ((video[1:].astype(float) - gt) ** 2)[objects].mean()
            return 10 * np.log10(255**2 / max(mse, 1e-6))

        fitted, ideal = psnr(warp_preview(sc.first_frame, sc.trajectory)), psnr(warp_preview(sc.first_frame, sc.trajectory, true))
        assert fitted > ideal - 3.0, (seed, fitted, ideal)
        checked += 1
    assert checked >= 3
