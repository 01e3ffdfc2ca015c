"""The prompt language of the sprites world: the wide seen wording, the held-out split,
honesty of the words, and the classic wording kept word for word."""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pytest

from maskmotion.data.sprites import COLOURS, MOTION_KINDS, SPEEDS, SpritesConfig, generate_scene
from maskmotion.data.sprites.motions import DIRECTIONS, MotionSpec
from maskmotion.data.sprites.text import (
    FRAMES,
    NOUNS,
    PHRASES,
    SPEEDS as SPEED_POOLS,
    DOWN_VERBS,
    TRAVEL,
    UP_VERBS,
    Pool,
    _all_entries,
    _split_speed,
    _words,
    heldout_tokens,
    wide_motion_phrase,
)


def _prompts(scene) -> list[str]:
    return [scene.global_prompt, scene.motion_prompt, *scene.local_prompts]


def _spec(kind: str, speed: str = "medium") -> MotionSpec:
    extra = {}
    if kind in ("approach", "follow"):
        extra["target"] = 2
    if kind == "bounce":
        extra["wall"] = "left"
    if kind == "recolour":
        extra["colour"] = "blue"
    return MotionSpec(kind=kind, speed="medium" if kind == "stay" else speed, **extra)


def test_every_heldout_entry_has_a_word_that_seen_never_uses():
    tokens = heldout_tokens()
    assert len(tokens) >= 60
    for entry in filter(None, _all_entries("heldout")):  # "" (no speed word) is shared
        assert _words(entry) & tokens, f"held-out entry {entry!r} has no word of its own"


def test_heldout_words_never_appear_in_seen_prompts():
    tokens = heldout_tokens()
    config = SpritesConfig(max_objects=4)
    for seed in range(600):
        for text in _prompts(generate_scene(20_000 + seed, config)):
            leaked = _words(text) & tokens
            assert not leaked, (seed, text, leaked)


def test_heldout_prompts_use_heldout_words():
    tokens = heldout_tokens()
    config = SpritesConfig(wording="heldout")
    marked = total = 0
    for seed in range(150):
        scene = generate_scene(20_000 + seed, config)
        assert _words(scene.motion_prompt) & tokens, scene.motion_prompt  # the frame or a verb at least
        for o in scene.objects:
            total += 1
            marked += bool(_words(o.local_prompt) & tokens)
    assert marked / total > 0.95


def test_heldout_verbs_holds_out_the_verbs_only():
    """In "heldout-verbs" every local prompt has a held-out verb and no held-out word of
    another slot (speed words, amounts, frames, joiners, nouns, pronouns)."""
    held = heldout_tokens()
    verb_entries = [e for pool in (TRAVEL, UP_VERBS, DOWN_VERBS, *PHRASES.values()) for e in pool.heldout]
    verb_tokens = held & set().union(*(_words(_split_speed(e)[0]) for e in verb_entries))
    other = held - verb_tokens
    assert {"sluggishly", "footage", "penguin", "item"} <= other
    config = SpritesConfig(wording="heldout-verbs", max_objects=4)
    for seed in range(150):
        scene = generate_scene(20_000 + seed, config)
        assert not _words(scene.motion_prompt) & other, scene.motion_prompt
        for o in scene.objects:
            words = _words(o.local_prompt)
            assert words & verb_tokens and not words & other, (seed, o.local_prompt)


def test_wording_changes_only_the_text():
    seen, held, classic = (generate_scene(20_123, SpritesConfig(wording=w)) for w in ("seen", "heldout", "classic"))
    np.testing.assert_array_equal(seen.ids, held.ids)
    np.testing.assert_array_equal(seen.video, classic.video)
    assert seen.motion_prompt != held.motion_prompt


@pytest.mark.parametrize("kind", MOTION_KINDS)
def test_every_motion_kind_has_many_phrasings(kind):
    phrases, verbs = set(), set()
    for speed in SPEEDS:
        spec = _spec(kind, speed)
        for i in range(400):
            rng = np.random.default_rng(i)
            motion, front = wide_motion_phrase(spec, rng, "seen", target_name="blue square")
            phrases.add((motion, front))
            verbs.add(motion.split(" ")[0])
    assert len(phrases) >= (15 if kind == "stay" else 40), (kind, len(phrases))
    assert len(verbs) >= 6, (kind, sorted(verbs))


def test_everyday_verbs_and_stillness_are_there():
    travel = {_split_speed(e)[0] for e in TRAVEL.seen}
    assert {"walks", "runs", "flies", "floats", "sails", "drifts", "zooms", "creeps"} <= travel
    assert {"wiggles", "jiggles"} <= set(PHRASES["shake"].seen)
    stay = set(PHRASES["stay"].seen)
    assert {"does not move", "stays put", "remains where it is"} <= stay
    assert len(NOUNS.seen) >= 40 and {"ball", "cat", "dog", "car", "bird", "cup", "person", "boat", "leaf", "rocket"} <= set(NOUNS.seen)


def test_words_stay_honest():
    """No rolling (sprites do not turn while they travel); speed-laden verbs only with
    their speed; "all the way to the ... edge" only when the object gets there."""
    fast_only = {_split_speed(e)[0] for e in TRAVEL.seen + TRAVEL.heldout if _split_speed(e)[1] == ("fast",)}
    slow_only = {_split_speed(e)[0] for e in TRAVEL.seen + TRAVEL.heldout if _split_speed(e)[1] == ("slow",)}
    assert fast_only and slow_only
    for wording in ("seen", "heldout"):
        config = SpritesConfig(wording=wording)
        for seed in range(300):
            scene = generate_scene(30_000 + seed, config)
            for text in _prompts(scene):
                assert not re.search(r"\broll", text.lower()), text
            for o in scene.objects:
                words = _words(o.motion_words)
                speed = o.spec.motion.speed
                if speed != "fast":
                    assert not words & fast_only, (o.motion_words, speed)
                if speed != "slow":
                    assert not words & slow_only, (o.motion_words, speed)
                if re.search(r"\bedge\b", o.motion_words) and o.spec.motion.kind in DIRECTIONS:
                    # The object's side ends within a few pixels of that edge.
                    side = o.motion_words.split(" edge")[0].split(" ")[-1]
                    x, y = o.track.center[-1]
                    r = o.spec.radius
                    gap = {"left": x, "right": 64 - x, "top": y, "bottom": 64 - y}[side]
                    assert gap < 2.0 * r + 2.0, (o.motion_words, o.track.center[-1])


def test_speed_pools_keep_speeds_apart():
    entries = {s: set(filter(None, SPEED_POOLS[s].seen + SPEED_POOLS[s].heldout)) for s in SPEEDS}
    assert not entries["slow"] & entries["fast"] and not entries["slow"] & entries["medium"]
    assert not entries["fast"] & entries["medium"]
    words = {s: set().union(*map(_words, entries[s])) for s in SPEEDS}
    assert not {"slow", "slowly", "gently"} & (words["medium"] | words["fast"])
    assert not {"fast", "quickly", "rapidly"} & (words["medium"] | words["slow"])


def test_names_are_unique_and_mixed():
    styles = defaultdict(int)
    for seed in range(400):
        scene = generate_scene(40_000 + seed, SpritesConfig(min_objects=3, max_objects=6, wording="seen"))
        names = [o.name for o in scene.objects]
        assert len(set(names)) == len(names), names
        for o in scene.objects:
            styles["shape" if o.name.endswith(o.spec.shape) else "noun"] += 1
            first = o.local_prompt.lower().lstrip()
            styles["pronoun"] += any(p in first for p in ("it ", "the object", "this object", "the thing", "the shape"))
            # Relative motions name their target by the target's own name.
            if o.spec.motion.target is not None:
                assert scene.objects[o.spec.motion.target - 1].name in o.motion_words
            # Every prompt form keeps the object's words.
            assert o.motion_words in o.local_prompt
            assert o.motion_words in scene.motion_prompt
    total = styles["shape"] + styles["noun"]
    assert 0.3 < styles["shape"] / total < 0.6
    assert styles["pronoun"] / total > 0.05


def test_text_is_reproducible_by_seed():
    a, b = generate_scene(50_001, SpritesConfig(wording="seen")), generate_scene(50_001, SpritesConfig(wording="seen"))
    assert _prompts(a) == _prompts(b)
    assert len({generate_scene(50_000 + i).motion_prompt for i in range(30)}) == 30


def test_saved_configs_without_a_wording_mean_classic():
    data = SpritesConfig(wording="seen").to_dict()
    assert data["wording"] == "seen" and SpritesConfig().wording == "classic"
    del data["wording"]
    assert SpritesConfig.from_dict(data).wording == "classic"
    with pytest.raises(ValueError, match="wording"):
        SpritesConfig(wording="other")


def test_classic_wording_keeps_the_small_language():
    from maskmotion.data.sprites.text import SPEED_WORDS, VERBS, WALL_WORDS

    known = set().union(*(_words(v) for table in (VERBS, SPEED_WORDS, WALL_WORDS) for vs in table.values() for v in vs))
    for seed in range(50):
        scene = generate_scene(20_000 + seed, SpritesConfig(wording="classic"))
        for o in scene.objects:
            assert o.name == f"{o.spec.colour} {o.spec.shape}"
            assert o.local_prompt == f"the {o.appearance} {o.motion_words}"
            assert _words(o.motion_words) - known - set(COLOURS) - {"the"} <= _words(" ".join(scene.names))


def test_pool_picks_respect_speed():
    pool = Pool(("moves", "zooms@fast", "creeps@slow"))
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert pool.pick(rng, "seen", "slow")[0] in ("moves", "creeps")
        assert pool.pick(rng, "seen", "fast")[0] in ("moves", "zooms")
    assert FRAMES.entries("heldout") == FRAMES.heldout
