import numpy as np
import pytest

from maskmotion.render import flow_from_tracks, flow_render, flow_to_colour
from maskmotion.trajectory import MotionTrack, TrajectoryObject, warp_masks


def _scene(track: MotionTrack, frames: int = 5):
    first = np.zeros((40, 40), np.uint8)
    first[14:24, 10:20] = 1
    return warp_masks(first, {1: track}, frames)


def test_translation_gives_its_step_on_the_object_and_zero_elsewhere():
    t = np.arange(5.0)
    track = MotionTrack(2.0 * t, -1.0 * t, np.ones(5), np.ones(5), np.zeros(5))
    ids = _scene(track)
    flow = flow_from_tracks(ids, {1: track})
    assert flow.shape == (5, 40, 40, 2)
    assert np.allclose(flow[0], 0)
    for f in range(1, 5):
        on = ids[f] == 1
        assert np.allclose(flow[f][on], [2.0, -1.0], atol=1e-5)
        assert np.allclose(flow[f][~on], 0)


def test_rotation_flow_is_perpendicular_to_the_radius():
    # 10 degrees counter-clockwise per frame about the centroid (14.5, 18.5).
    track = MotionTrack(np.zeros(3), np.zeros(3), np.ones(3), np.ones(3), np.array([0.0, 10.0, 20.0]))
    ids = _scene(track, 3)
    flow = flow_from_tracks(ids, {1: track})
    ys, xs = np.nonzero(ids[2] == 1)
    radius = np.stack([xs - 14.5, ys - 18.5], 1)
    f = flow[2][ids[2] == 1]
    cos = (radius * f).sum(1) / (np.linalg.norm(radius, axis=1) * np.linalg.norm(f, axis=1) + 1e-9)
    far = np.linalg.norm(radius, axis=1) > 2
    assert np.abs(cos[far]).max() < 0.1
    # Speed = radius * angle step (small-angle chord).
    expected = np.linalg.norm(radius, axis=1) * 2 * np.sin(np.deg2rad(5))
    assert np.allclose(np.linalg.norm(f, axis=1), expected, atol=1e-4)


def test_colour_wheel_still_is_white_and_direction_sets_hue():
    flow = np.zeros((3, 4, 4, 2), np.float32)
    flow[1, ..., 0] = 4.0  # right, full speed
    flow[2, ..., 1] = -4.0  # up
    rgb = flow_to_colour(flow)
    assert rgb.shape == (3, 4, 4, 3) and rgb.dtype == np.uint8
    assert (rgb[0] == 255).all()
    assert tuple(rgb[1, 0, 0]) == (255, 0, 0)  # hue 0: red
    assert tuple(rgb[2, 0, 0]) != tuple(rgb[1, 0, 0])
    half = flow_to_colour(flow * 0.5)
    assert half[1, 0, 0, 1] > 100  # half speed: half saturated, lighter
    with pytest.raises(ValueError, match="2 channels"):
        flow_to_colour(np.zeros((4, 4, 3)))


def test_flow_render_of_a_still_scene_is_white():
    track = MotionTrack.still(4)
    assert (flow_render(_scene(track, 4), {1: track}) == 255).all()
