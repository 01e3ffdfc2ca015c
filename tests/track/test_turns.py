"""Turns read from the pixels inside the masks (`read_turns`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from maskmotion.data.sprites import BackgroundSpec, MotionSpec, ObjectSpec, SpritesConfig, TextureParams, build_scene
from maskmotion.render import fit_tracks
from maskmotion.track import read_turns
from maskmotion.trajectory import MaskTrajectory, default_objects


def _sprite_scene(kind: str, texture: str, speed: str = "medium", colour: str | None = None):
    obj = ObjectSpec(
        id=1, colour="blue", shape="circle", size="medium", radius=9.0,
        texture=TextureParams(kind=texture, period_px=5.0, orientation=0.4),
        motion=MotionSpec(kind=kind, speed=speed, colour=colour), start=(32.0, 32.0),
    )
    return build_scene(BackgroundSpec(kind="flat", colour="black"), [obj], SpritesConfig())


@pytest.mark.parametrize("kind,sign", [("spin_ccw", 1.0), ("spin_cw", -1.0)])
def test_textured_disc_spin_is_read_where_the_outline_shows_none(kind, sign):
    scene = _sprite_scene(kind, "stripes")  # medium: 12 degrees a frame
    truth = sign * 12.0 * np.arange(scene.ids.shape[0])
    turn = read_turns(scene.video, scene.trajectory)[1]
    assert turn is not None and turn.shape == truth.shape
    assert np.abs(turn - truth).max() <= 0.15 * abs(truth[-1]), (turn, truth)
    # The disc's outline does not change, so the mask fit cannot see the spin.
    assert abs(fit_tracks(scene.trajectory)[1].angle[-1]) < 0.3 * abs(truth[-1])


def test_recolouring_textured_sprite_reads_as_not_turning():
    scene = _sprite_scene("recolour", "dots", colour="yellow")
    assert not np.array_equal(scene.video[0][scene.ids[0] == 1], scene.video[-1][scene.ids[-1] == 1])
    turn = read_turns(scene.video, scene.trajectory)[1]
    assert turn is not None and np.abs(turn).max() < 5.0, turn


def test_flat_object_has_no_texture_to_read():
    scene = _sprite_scene("spin_ccw", "flat")
    assert read_turns(scene.video, scene.trajectory) == {1: None}


def test_noise_patch_turned_by_known_steps():
    # Independent of the sprites renderer: a random texture inside a disc, turned by
    # OpenCV about its centre by known per-frame steps (a slowing turn) while it drifts right.
    rng = np.random.default_rng(0)
    size, frames = 96, 8
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)).astype(np.float32), (0, 0), 1.5)
    yy, xx = np.mgrid[0:size, 0:size]
    disc = ((xx - 48) ** 2 + (yy - 48) ** 2 <= 14**2).astype(np.uint8)
    steps = np.array([0, 20, 16, 12, 8, 5, 3, 0], float)
    truth = np.cumsum(steps)
    video = np.zeros((frames, size, size, 3), np.uint8)
    ids = np.zeros((frames, size, size), np.uint8)
    for t in range(frames):
        mat = cv2.getRotationMatrix2D((48.0, 48.0), float(truth[t]), 1.0)
        mat[0, 2] += 2 * t
        frame = cv2.warpAffine(texture, mat, (size, size), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(disc, mat, (size, size), flags=cv2.INTER_NEAREST).astype(bool)
        video[t][mask] = np.clip(frame[mask], 0, 255).astype(np.uint8)
        ids[t][mask] = 1
    turn = read_turns(video, MaskTrajectory(ids, default_objects([1])))[1]
    np.testing.assert_allclose(turn, truth, atol=3.0)


def test_noisy_still_patch_changing_colour_does_not_drift():
    # A still textured disc whose colours fade towards another tone under per-frame
    # noise, as a blurred render of a recolouring object: no turn may build up.
    rng = np.random.default_rng(1)
    size, frames = 64, 16
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)).astype(np.float32), (0, 0), 2.0)
    yy, xx = np.mgrid[0:size, 0:size]
    disc = (xx - 32) ** 2 + (yy - 32) ** 2 <= 9**2
    video = np.zeros((frames, size, size, 3), np.uint8)
    for t in range(frames):
        w = t / (frames - 1)
        frame = (1 - w) * texture + w * (0.5 * texture[..., ::-1] + 100) + rng.normal(0, 6, texture.shape)
        video[t][disc] = np.clip(frame[disc], 0, 255).astype(np.uint8)
    ids = np.repeat(disc[None].astype(np.uint8), frames, axis=0)
    turn = read_turns(video, MaskTrajectory(ids, default_objects([1])))[1]
    assert np.abs(turn).max() < 5.0, turn


def test_video_and_trajectory_must_agree():
    scene = _sprite_scene("stay", "stripes")
    with pytest.raises(ValueError, match="differ"):
        read_turns(scene.video[:-1], scene.trajectory)


def test_read_back_judges_a_disc_spin_adherent():
    # End-to-end adherence reads motion back from the video: the spinning striped disc
    # counts as following "spins" (its outline alone would not), a still one as still.
    from maskmotion.eval.adherence import adherent, curves_from_masks, curves_from_track, curves_from_video
    from maskmotion.data.sprites import tracks_from_sprite_params

    for kind in ("spin_ccw", "stay"):
        scene = _sprite_scene(kind, "stripes")
        truth = curves_from_track(tracks_from_sprite_params(scene.params(), scene.first_ids, [1])[0])
        assert adherent(kind, curves_from_video(scene.video, scene.trajectory)[1], truth), kind
        if kind == "spin_ccw":
            outline = curves_from_masks(scene.ids, 1, fit_tracks(scene.trajectory)[1].angle)
            assert not adherent(kind, outline, truth)
