"""Every motion moves its object the way its words say, in parameters and in masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sprites_helpers import make_object, make_scene, mask_centroids

from maskmotion.data.sprites import COLOURS, MOTION_KINDS, RATES, SpritesConfig
from maskmotion.data.sprites.motions import DIRECTIONS, MotionSpec
from maskmotion.data.sprites.text import SPEED_WORDS, VERBS

T = SpritesConfig().num_frames


@pytest.mark.parametrize("kind", sorted(DIRECTIONS))
@pytest.mark.parametrize("speed", ["slow", "medium"])
def test_translation_matches_direction_and_speed(kind: str, speed: str) -> None:
    scene = make_scene(make_object(kind=kind, speed=speed, radius=5.0))
    track = scene.objects[0].track
    v = RATES["translate"][speed]
    expected = np.asarray(DIRECTIONS[kind]) * v * (T - 1)
    np.testing.assert_allclose(track.center[-1] - track.center[0], expected, atol=1e-9)
    # Constant speed: every step has length v.
    np.testing.assert_allclose(np.linalg.norm(np.diff(track.center, axis=0), axis=1), v, atol=1e-9)
    # The masks agree (the object stays fully inside at these speeds from the centre).
    c = mask_centroids(scene.ids, 1)
    np.testing.assert_allclose(c[-1] - c[0], expected, atol=1.0)


def test_speed_words_fix_speed() -> None:
    shifts = {}
    for speed in ("slow", "medium", "fast"):
        scene = make_scene(make_object(kind="move_right", speed=speed, start=(10.0, 32.0), radius=4.0))
        shifts[speed] = scene.objects[0].track.center[-1, 0] - 10.0
        # The words in the prompt name this speed.
        words = scene.objects[0].motion_words
        assert any(w and w in words for w in SPEED_WORDS[speed]) or (
            speed == "medium" and not any(w in words for s in ("slow", "fast") for w in SPEED_WORDS[s] if w)
        )
    assert shifts["slow"] < shifts["medium"] < shifts["fast"]
    assert shifts["fast"] == pytest.approx(RATES["translate"]["fast"] * (T - 1))
    # Rates of other families grow with the speed word as well.
    spin = [make_scene(make_object(kind="spin_cw", speed=s, texture="stripes")).objects[0].track.angle[-1] for s in ("slow", "fast")]
    assert 0 < spin[0] < spin[1]
    grow = [make_scene(make_object(kind="grow", speed=s, radius=4.0)).objects[0].track.scale[-1, 0] for s in ("slow", "fast")]
    assert 1 < grow[0] < grow[1]


def test_jump_rises_and_lands_with_squash_and_stretch() -> None:
    scene = make_scene(make_object(kind="jump", speed="medium", start=(32.0, 50.0)))
    track = scene.objects[0].track
    height = 0.2 * 64
    assert track.center[:, 1].min() < 50.0 - 0.9 * height
    assert (track.center[:, 1] <= 50.0 + 6.0).all()  # never below the ground (squash shifts a little)
    sy = track.scale[:, 1]
    assert sy.min() < 0.8 and sy.max() > 1.1  # squash on the ground, stretch in the air
    # Squash keeps area: sx * sy == 1.
    np.testing.assert_allclose(track.scale.prod(axis=1), 1.0, atol=1e-9)
    # Squashed frames keep the bottom on the ground, in the masks too.
    rows = np.nonzero((scene.ids == 1).any(axis=2))
    bottom = np.array([rows[1][rows[0] == t].max() for t in range(T)])
    ground = bottom[0]
    squashed = np.nonzero(sy < 0.8)[0]
    assert np.all(np.abs(bottom[squashed] - ground) <= 1)
    # Mask top rises by about the jump height.
    top = np.array([rows[1][rows[0] == t].min() for t in range(T)])
    assert top.min() < top[0] - 0.8 * height


def test_fall_accelerates_down_and_lands() -> None:
    scene = make_scene(make_object(kind="fall", speed="fast", start=(32.0, 25.0)))
    track = scene.objects[0].track
    landed = int(np.argmin(track.scale[:, 1]))  # the squashed impact frame
    assert 0 < landed < T - 2
    assert track.scale[landed, 1] < 0.8
    steps = np.diff(track.center[: landed + 1, 1])
    assert (steps > 0).all() and (np.diff(steps[:-1]) > 0).all()  # accelerating down
    assert (track.scale[1:landed, 1] > 1.0).all()  # stretched while falling
    # From impact on, the object rests on the floor: its mask reaches the last row.
    assert (scene.ids[landed:, -1] == 1).any(axis=1).all()
    assert not (scene.ids[:landed, -1] == 1).any()
    np.testing.assert_allclose(track.scale[-1], (1.0, 1.0))


@pytest.mark.parametrize("kind", ["grow", "shrink"])
def test_grow_and_shrink_change_scale_and_area(kind: str) -> None:
    scene = make_scene(make_object(kind=kind, speed="medium", radius=8.0))
    track = scene.objects[0].track
    s = track.scale[:, 0]
    np.testing.assert_allclose(track.scale[:, 0], track.scale[:, 1])
    rate = RATES["scale"]["medium"]
    expected = math.exp((rate if kind == "grow" else -rate) * (T - 1))
    assert s[-1] == pytest.approx(expected)
    areas = (scene.ids == 1).sum(axis=(1, 2))
    assert areas[-1] / areas[0] == pytest.approx(expected**2, rel=0.1)
    np.testing.assert_allclose(track.center, track.center[:1].repeat(T, 0))  # grows in place


@pytest.mark.parametrize("kind,sign", [("spin_cw", -1.0), ("spin_ccw", 1.0)])
def test_spin_direction_in_masks(kind: str, sign: float) -> None:
    # A crescent's mass lies left of its centre; a quarter turn clockwise on screen
    # (y down) brings it to the top, counterclockwise to the bottom.
    scene = make_scene(make_object(kind=kind, speed="slow", shape="crescent", radius=10.0))
    track = scene.objects[0].track
    quarter = math.radians(RATES["spin"]["slow"] * (T - 1))
    assert quarter == pytest.approx(math.pi / 2)
    assert track.angle[-1] == pytest.approx(quarter if kind == "spin_cw" else -quarter)
    offset = mask_centroids(scene.ids, 1) - track.center
    assert offset[0, 0] < -1.0 and abs(offset[0, 1]) < 0.5
    assert abs(offset[-1, 0]) < 0.5 and sign * offset[-1, 1] > 1.0


def test_spinning_texture_rotates_where_a_warp_of_the_first_frame_cannot() -> None:
    scene = make_scene(make_object(kind="spin_cw", speed="medium", texture="stripes", radius=10.0))
    masks = scene.ids == 1
    # A circle's silhouette never changes, so a mask warp predicts a still frame...
    assert (masks == masks[:1]).all()
    # ...but the stripes turn with the sprite.
    inside = masks[0]
    changed = (scene.video[1:, inside] != scene.video[0, inside]).any(axis=-1).mean(axis=1)
    assert (changed > 0.1).all()


def test_shake_oscillates_about_the_start() -> None:
    scene = make_scene(make_object(kind="shake", speed="fast"))
    dx = scene.objects[0].track.center[:, 0] - 32.0
    assert (dx > 1.0).any() and (dx < -1.0).any()
    assert np.abs(dx).max() <= 3.5 + 1e-9
    assert abs(dx.mean()) < 1.0
    np.testing.assert_allclose(scene.objects[0].track.center[:, 1], 32.0)


def test_stay_is_still() -> None:
    scene = make_scene(make_object(kind="stay", texture="checker"))
    assert (scene.video == scene.video[:1]).all()
    assert (scene.ids == scene.ids[:1]).all()
    assert scene.objects[0].motion_words in VERBS["stay"]


def test_approach_closes_the_gap() -> None:
    target = make_object(1, kind="stay", start=(48.0, 32.0), colour="blue")
    mover = make_object(2, kind="approach", speed="fast", start=(10.0, 32.0), target=1)
    scene = make_scene(target, mover)
    gap = np.linalg.norm(scene.objects[1].track.center - scene.objects[0].track.center, axis=1)
    assert (np.diff(gap) <= 1e-9).all() and gap[-1] < gap[0] - 15.0
    assert gap[-1] >= 0.6 * 12.0 - 1e-6  # stops overlapping a little, not on top
    assert "blue circle" in scene.objects[1].local_prompt
    # Overlap at the end: the mover (id 2) is drawn in front of the target.
    assert gap[-1] < 12.0


def test_follow_trails_a_moving_target() -> None:
    leader = make_object(1, kind="move_right", speed="medium", start=(22.0, 32.0), colour="green")
    follower = make_object(2, kind="follow", speed="fast", start=(8.0, 32.0), target=1)
    scene = make_scene(leader, follower)
    lx = scene.objects[0].track.center[:, 0]
    fx = scene.objects[1].track.center[:, 0]
    assert (np.diff(fx) >= 0).all() and fx[-1] > fx[0] + 15.0
    assert (fx < lx).all()  # always behind
    gap = np.linalg.norm(scene.objects[1].track.center - scene.objects[0].track.center, axis=1)
    assert gap.min() >= 1.15 * 12.0 - 1e-6


@pytest.mark.parametrize("wall", ["left", "right", "top", "bottom"])
def test_bounce_reverses_at_the_wall_with_squash(wall: str) -> None:
    axis = 0 if wall in ("left", "right") else 1
    sign = -1.0 if wall in ("left", "top") else 1.0
    start = [32.0, 32.0]
    start[axis] = 32.0 + sign * 14.0
    scene = make_scene(make_object(kind="bounce", speed="fast", start=tuple(start), wall=wall))
    track = scene.objects[0].track
    p = track.center[:, axis]
    turn = int(np.argmax(sign * p))
    assert 0 < turn < T - 1
    assert (sign * np.diff(p[: turn + 1]) > 0).all() and (sign * np.diff(p[turn:]) < 0).all()
    # Contact: the mask touches the wall, squashed along the impact axis.
    m = scene.ids[turn] == 1
    line = {"left": m[:, 0], "right": m[:, -1], "top": m[0], "bottom": m[-1]}[wall]
    assert line.any()
    assert track.scale[turn, axis] < 0.8
    assert (scene.ids == 1).any(axis=(1, 2)).all()


def test_recolour_changes_colour_not_shape() -> None:
    scene = make_scene(make_object(kind="recolour", speed="fast", colour="red", new_colour="blue"))
    video, ids = scene.video, scene.ids
    assert (ids == ids[:1]).all()
    inside = ids[0] == 1
    assert (video[0][inside] == COLOURS["red"]).all()
    assert (video[-1][inside] == COLOURS["blue"]).all()
    assert "blue" in scene.objects[0].motion_words and scene.objects[0].name == "red circle"
    np.testing.assert_allclose(scene.objects[0].track.colour[-1], COLOURS["blue"])


def test_every_kind_has_words_and_a_rate() -> None:
    assert len(MOTION_KINDS) >= 12
    for kind in MOTION_KINDS:
        assert VERBS[kind]
    assert MotionSpec("move_left", "fast").rate() == (RATES["translate"]["fast"], "px/frame")
    assert MotionSpec("move_left", "fast").rate(unit=2.0)[0] == 2 * RATES["translate"]["fast"]


def test_motion_spec_validation() -> None:
    with pytest.raises(ValueError):
        MotionSpec("teleport")
    with pytest.raises(ValueError):
        MotionSpec("approach")  # needs a target
    with pytest.raises(ValueError):
        MotionSpec("bounce", wall="sideways")
    with pytest.raises(ValueError):
        MotionSpec("recolour", colour="mauve")
