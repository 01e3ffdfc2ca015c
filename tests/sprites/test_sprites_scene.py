"""Scenes: reproducible by seed, masks equal to the drawn pixels, occlusion, borders, text."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from sprites_helpers import make_object, make_scene

from maskmotion.data.sprites import (
    COLOURS,
    MOTION_KINDS,
    SHAPES,
    BackgroundSpec,
    SpritesConfig,
    generate_scene,
)
from maskmotion.data.sprites.render import rasterise
from maskmotion.data.sprites.text import VERBS
from maskmotion.data.sprites.world import render_background

SEEDS = range(20_000, 20_120)


@pytest.fixture(scope="module")
def scenes():
    return [generate_scene(s) for s in SEEDS]


def test_same_seed_same_scene() -> None:
    a, b = generate_scene(20_001), generate_scene(20_001)
    np.testing.assert_array_equal(a.video, b.video)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.params(), b.params())
    assert a.to_dict() == b.to_dict()
    assert (a.global_prompt, a.motion_prompt, a.local_prompts) == (b.global_prompt, b.motion_prompt, b.local_prompts)


def test_different_seeds_differ(scenes) -> None:
    assert len({s.global_prompt for s in scenes}) > 0.95 * len(scenes)
    assert not np.array_equal(scenes[0].video, scenes[1].video)


def test_shapes_dtypes_and_first_frame(scenes) -> None:
    cfg = SpritesConfig()
    for s in scenes[:10]:
        assert s.video.shape == (cfg.num_frames, cfg.height, cfg.width, 3) and s.video.dtype == np.uint8
        assert s.ids.shape == (cfg.num_frames, cfg.height, cfg.width) and s.ids.dtype == np.uint8
        assert s.params().shape == (len(s.objects), cfg.num_frames, 6)
        np.testing.assert_array_equal(s.first_frame, s.video[0])
        np.testing.assert_array_equal(s.first_ids, s.ids[0])
        assert set(np.unique(s.ids)) <= set(range(len(s.objects) + 1))


def test_masks_are_exactly_the_object_pixels(scenes) -> None:
    for s in scenes[:25]:
        background = render_background(s.background, s.config.height, s.config.width)
        # Background pixels are untouched background...
        bg = s.ids == 0
        np.testing.assert_array_equal(s.video[bg], np.broadcast_to(background, s.video.shape)[bg])
        # ...and each object's id pixels are exactly what it draws, minus what later
        # (higher) ids cover: draw order is depth.
        for o in s.objects:
            canvas = np.zeros(s.video.shape, np.float32)
            solo = np.zeros(s.ids.shape, np.uint8)
            rasterise(canvas, solo, o.id, o.spec.shape, o.spec.texture, o.spec.radius, o.track)
            mine, covered = s.ids == o.id, solo == o.id
            assert (covered >= mine).all()  # never outside its own coverage
            np.testing.assert_array_equal(s.video[mine], np.round(canvas[mine]).astype(np.uint8))
            hidden = covered & ~mine
            assert (s.ids[hidden] > o.id).all()  # only hidden by objects drawn later


def test_visibility_counts_pixels(scenes) -> None:
    for s in scenes[:20]:
        for o in s.objects:
            vis = o.track.visibility
            assert vis.shape == (s.config.num_frames,) and (vis >= 0).all() and (vis <= 1).all()
            shown = (s.ids == o.id).sum(axis=(1, 2))
            assert ((shown > 0) == (vis > 0)).all()
            assert vis[0] >= s.config.min_first_visibility


def test_occlusion_follows_id_order() -> None:
    back = make_object(1, colour="red", start=(30.0, 32.0), radius=8.0)
    front = make_object(2, colour="blue", shape="square", start=(36.0, 32.0), radius=8.0)
    scene = make_scene(back, front)
    overlap_x = 33  # column inside both
    assert scene.ids[0, 32, overlap_x] == 2
    assert tuple(scene.video[0, 32, overlap_x]) == COLOURS["blue"]
    assert 0 < scene.objects[0].track.visibility[0] < 1  # red partly hidden
    assert scene.objects[1].track.visibility[0] == 1.0
    # Swapping depth swaps who is seen.
    scene2 = make_scene(
        make_object(1, colour="blue", shape="square", start=(36.0, 32.0), radius=8.0),
        make_object(2, colour="red", start=(30.0, 32.0), radius=8.0),
    )
    assert tuple(scene2.video[0, 32, overlap_x]) == COLOURS["red"]


def test_objects_clipped_at_the_border() -> None:
    half_out = make_object(1, kind="stay", start=(1.0, 32.0), radius=8.0)
    gone = make_object(2, kind="stay", start=(-40.0, 10.0), radius=6.0, colour="blue")
    leaving = make_object(3, kind="move_right", speed="fast", start=(50.0, 50.0), radius=6.0, colour="green")
    scene = make_scene(half_out, gone, leaving)
    v1 = scene.objects[0].track.visibility
    assert 0.4 < v1[0] < 0.65
    assert (scene.ids[:, :, 0] == 1).any()  # touches the left column
    assert (scene.objects[1].track.visibility == 0).all() and not (scene.ids == 2).any()
    v3 = scene.objects[2].track.visibility
    assert v3[0] == 1.0 and v3[-1] == 0.0 and (np.diff(v3) <= 1e-9).all()
    assert scene.trajectory.num_frames == scene.config.num_frames  # still a valid trajectory


def test_text_names_every_object() -> None:
    """The classic wording (the wide one is tested in test_sprites_text.py)."""
    for s in (generate_scene(seed, SpritesConfig(wording="classic")) for seed in SEEDS):
        names = s.names
        assert len(set(names)) == len(names)  # unique colour+shape names
        for o, local in zip(s.objects, s.local_prompts):
            assert o.name == f"{o.spec.colour} {o.spec.shape}"
            assert f"the {o.name}" in s.motion_prompt.lower()
            assert o.spec.colour in s.global_prompt and o.spec.shape in s.global_prompt
            assert o.spec.colour in local and o.spec.shape in local
            assert o.motion_words in local and o.motion_words in s.motion_prompt.lower()
            # The verb comes from this motion's vocabulary.
            target = s.objects[o.spec.motion.target - 1].name if o.spec.motion.target else ""
            verbs = [v.split("{")[0].strip() for v in VERBS[o.spec.motion.kind]]
            assert any(v in o.motion_words for v in verbs), (o.spec.motion.kind, o.motion_words)
            if target:
                assert target in local
        assert s.background.describe() in s.global_prompt.lower()


def test_world_variety(scenes) -> None:
    kinds = Counter(o.spec.motion.kind for s in scenes for o in s.objects)
    shapes = Counter(o.spec.shape for s in scenes for o in s.objects)
    colours = Counter(o.spec.colour for s in scenes for o in s.objects)
    textures = Counter(o.spec.texture.kind for s in scenes for o in s.objects)
    backgrounds = Counter(s.background.kind for s in scenes)
    counts = Counter(len(s.objects) for s in scenes)
    assert len(kinds) >= 0.8 * len(MOTION_KINDS)
    assert set(shapes) == set(SHAPES) and set(colours) == set(COLOURS)
    assert len(textures) == 5 and len(backgrounds) == 4
    assert set(counts) == {1, 2, 3, 4}
    for s in scenes:
        for o in s.objects:
            if o.spec.motion.kind.startswith("spin"):
                assert o.spec.texture.kind != "flat"  # rotation must show in the pixels


def test_restricted_config() -> None:
    cfg = SpritesConfig(height=48, width=80, num_frames=8, min_objects=2, max_objects=2, motions=("approach",), shapes=("star",))
    s = generate_scene(7, cfg)
    assert s.video.shape == (8, 48, 80, 3)
    kinds = sorted(o.spec.motion.kind for o in s.objects)
    assert kinds == ["approach", "stay"]  # the first cannot approach anyone, so it stays
    assert all(o.spec.shape == "star" for o in s.objects)


def test_config_round_trip_and_validation() -> None:
    cfg = SpritesConfig(num_frames=12, motions=("jump", "fall"))
    data = json.loads(json.dumps(cfg.to_dict()))
    assert SpritesConfig.from_dict(data) == cfg
    assert cfg.fingerprint() != SpritesConfig().fingerprint()
    with pytest.raises(ValueError):
        SpritesConfig(motions=("teleport",))
    with pytest.raises(ValueError):
        SpritesConfig(min_objects=3, max_objects=2)
    with pytest.raises(ValueError):
        SpritesConfig.from_dict({"hieght": 64})
    with pytest.raises(ValueError):
        generate_scene(-1)


def test_trajectory_and_json(scenes) -> None:
    s = scenes[3]
    traj = s.trajectory
    np.testing.assert_array_equal(traj.ids, s.ids)
    assert [o.name for o in traj.objects] == s.names
    assert [o.prompt for o in traj.objects] == s.local_prompts
    data = json.loads(json.dumps(s.to_dict()))
    assert data["seed"] == s.seed and data["split"] == "train"
    obj = data["objects"][0]
    assert np.allclose(obj["track"]["center"], s.objects[0].track.center, atol=1e-4)
    assert obj["motion"]["kind"] == s.objects[0].spec.motion.kind
    assert data["param_names"] == ["x", "y", "sx", "sy", "angle", "visibility"]


def test_backgrounds_render() -> None:
    for kind, pattern in [("flat", None), ("gradient", None), ("noise", None), ("texture", "checker"), ("texture", "tiles")]:
        spec = BackgroundSpec(kind=kind, colour="grey", colour2="navy" if kind == "gradient" else None, pattern=pattern)
        img = render_background(spec, 32, 40)
        assert img.shape == (32, 40, 3) and img.dtype == np.uint8
        assert (img.std(axis=(0, 1)) > 0).any() == (kind != "flat")
