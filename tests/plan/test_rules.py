import logging
import re

import numpy as np
import pytest

from maskmotion.data.sprites import SpritesConfig, generate_scene
from maskmotion.plan import ObjectRequest, RulePlanner, plan_scene
from maskmotion.plan.phrases import find_mentions, object_key, singular_verb, tokenize
from maskmotion.plan.rules import parse_prompt


def _ids(n, layout="row"):
    """n objects in a row (left to right = id order) or a column (top to bottom)."""
    ids = np.zeros((40, 40 * n) if layout == "row" else (40 * n, 40), np.uint8)
    for i in range(n):
        if layout == "row":
            ids[10:30, 40 * i + 10 : 40 * i + 30] = i + 1
        else:
            ids[40 * i + 10 : 40 * i + 30, 10:30] = i + 1
    return ids


def _plan(prompt, names, local=None, layout="row"):
    local = local or {}
    objects = [ObjectRequest(i + 1, n, local.get(i + 1, "")) for i, n in enumerate(names)]
    return plan_scene(prompt, _ids(len(names), layout), objects)


def _locals(plan):
    return {o.name: o.local_prompt for o in plan.objects}


# ---- the sprites forms ----------------------------------------------------------------
def test_sprites_example_from_the_brief():
    plan = _plan(
        "A video of a big red polka-dot crescent and a small green striped cross on a plain plum "
        "background: the red crescent gently moves up as the green cross slowly follows the red crescent.",
        ["red crescent", "green cross"],
    )
    assert plan.motion_prompt == "The red crescent gently moves up as the green cross slowly follows the red crescent."
    assert _locals(plan) == {
        "red crescent": "the big red polka-dot crescent gently moves up",
        "green cross": "the small green striped cross slowly follows the red crescent",
    }
    assert plan.warnings == () and plan.source == "rules"


@pytest.mark.parametrize(
    "prompt",
    [
        # the four sprites templates
        "A big white striped crescent and a large red spotted star on a mottled black background. "
        "The white crescent falls gently while the red star slides to the left at a steady pace.",
        "A mottled black background with a big white striped crescent and a large red spotted star; "
        "the white crescent falls gently while the red star slides to the left at a steady pace.",
        "A video of a big white striped crescent and a large red spotted star on a mottled black "
        "background: the white crescent falls gently while the red star slides to the left at a steady pace.",
        "A big white striped crescent falls gently while a large red spotted star slides to the left "
        "at a steady pace, on a mottled black background.",
    ],
)
def test_sprites_templates(prompt):
    plan = _plan(prompt, ["white crescent", "red star"])
    assert plan.motion_prompt == "The white crescent falls gently while the red star slides to the left at a steady pace."
    assert plan.local_prompts == [
        "the big white striped crescent falls gently",
        "the large red spotted star slides to the left at a steady pace",
    ]


def _clauses(motion):
    # The sprites motion prompt draws its own joiners ("and"/"while"/"as"), independent
    # of the global prompt's, so compare clause by clause.
    return re.split(r", while |, and |, | while | as | and (?=the )", motion.lower().rstrip("."))


@pytest.mark.parametrize(
    "config",
    [SpritesConfig(wording="classic"), SpritesConfig(wording="classic", min_objects=4, max_objects=8)],
    ids=["default", "crowded"],
)
def test_sprites_round_trip(config, caplog):
    """Given a classic-worded sprites scene's global prompt and its object names, the
    planner recovers the scene's own local prompts exactly and its motion prompt clause
    by clause."""
    scenes = 150
    local_ok = local_total = motion_ok = 0
    for seed in range(scenes):
        scene = generate_scene(seed, config)
        objects = [ObjectRequest(o.id, o.name) for o in scene.objects]
        with caplog.at_level(logging.ERROR):
            plan = plan_scene(scene.global_prompt, scene.first_ids, objects)
        local_ok += sum(p == e for p, e in zip(plan.local_prompts, scene.local_prompts))
        local_total += len(scene.objects)
        motion_ok += _clauses(plan.motion_prompt) == _clauses(scene.motion_prompt)
        assert not plan.warnings, (seed, plan.warnings)
    assert local_ok == local_total
    assert motion_ok == scenes


@pytest.mark.parametrize(
    "config",
    [
        SpritesConfig(),
        SpritesConfig(min_objects=4, max_objects=8),
        SpritesConfig(wording="heldout"),
    ],
    ids=["seen", "seen-crowded", "heldout"],
)
def test_sprites_wide_wording_splits_per_object(config, caplog):
    """The wide language (frames such as "In this video", "here", fronted adverbs,
    everyday nouns, "it" / "the thing" for the only object, "runs after the dog"): the
    planner gives every object its own motion words, and warns about nothing. (The local
    prompts' frames and pronouns are not in the global prompt, so no exact round trip.)"""
    scenes = 120
    for seed in range(scenes):
        scene = generate_scene(seed, config)
        objects = [ObjectRequest(o.id, o.name) for o in scene.objects]
        with caplog.at_level(logging.ERROR):
            plan = plan_scene(scene.global_prompt, scene.first_ids, objects)
        assert not plan.warnings, (seed, scene.global_prompt, plan.warnings)
        for o, local in zip(scene.objects, plan.local_prompts):
            assert o.motion_words.lower() in local.lower(), (seed, scene.global_prompt, o.name, local)
            assert o.motion_words.lower() in plan.motion_prompt.lower(), (seed, scene.global_prompt, plan.motion_prompt)


@pytest.mark.parametrize(
    "prompt, names, local",
    [
        # Openings that frame the clause.
        ("In this video the ball rolls quickly to the right.", ["ball"], ["the ball rolls quickly to the right"]),
        ("Here the cat stays put while the dog runs after the cat.", ["cat", "dog"],
         ["the cat stays put", "the dog runs after the cat"]),
        ("Watch as the bird flies up, and the boat sails left.", ["bird", "boat"],
         ["the bird flies up", "the boat sails left"]),
        ("Slowly, the leaf drifts down.", ["leaf"], ["the leaf slowly drifts down"]),
        # A pronoun or placeholder subject: the only object, or the subject before.
        ("A red ball on a table. It bounces off the floor.", ["red ball"], ["the red ball bounces off the floor"]),
        ("The thing does not move.", ["cup"], ["the cup does not move"]),
        ("The dog jumps and then it runs left, while the cat sits still.", ["dog", "cat"],
         ["the dog jumps and runs left", "the cat sits still"]),
        # Names written differently from the object names.
        ("The red balloon floats up as the little boat sails right.", ["balloon", "boat"],
         ["the red balloon floats up", "the little boat sails right"]),
        ("Both the dog and the cat walk to the left.", ["dog", "cat"],
         ["the dog walks to the left", "the cat walks to the left"]),
        ("The dog and the cat chase each other.", ["dog", "cat"], ["the dog chases the cat", "the cat chases the dog"]),
    ],
)
def test_wide_sprites_phrasings(prompt, names, local):
    plan = _plan(prompt, names)
    assert plan.local_prompts == local, plan.local_prompts
    assert plan.warnings == ()


# ---- free text ------------------------------------------------------------------------
def test_brief_free_text_example():
    plan = _plan("a dog and a cat play; the dog jumps while the cat runs left", ["dog", "cat"])
    assert plan.motion_prompt == "The dog and the cat play, the dog jumps while the cat runs left."
    assert _locals(plan) == {"dog": "the dog plays and jumps", "cat": "the cat plays and runs left"}


@pytest.mark.parametrize(
    "prompt, names, motion, local",
    [
        ("The monster and the squirrel shake hands.", ["monster", "squirrel"],
         "The monster and the squirrel shake hands.",
         {"monster": "the monster shakes hands", "squirrel": "the squirrel shakes hands"}),
        ("the dog is running to the left, and the cat is sleeping", ["dog", "cat"],
         "The dog is running to the left, and the cat is sleeping.",
         {"dog": "the dog is running to the left", "cat": "the cat is sleeping"}),
        ("A dog, a cat, and a mouse run in a circle", ["dog", "cat", "mouse"],
         "The dog, the cat and the mouse run in a circle.",
         {"dog": "the dog runs in a circle", "cat": "the cat runs in a circle", "mouse": "the mouse runs in a circle"}),
        ("the dog runs left and jumps over the fence", ["dog"],
         "The dog runs left and jumps over the fence.", {"dog": "the dog runs left and jumps over the fence"}),
        ("A fluffy white cat stretches, then the brown dog barks.", ["cat", "dog"],
         "The cat stretches, then the dog barks.",
         {"cat": "the fluffy white cat stretches", "dog": "the brown dog barks"}),
        ("the dog chases the small brown cat", ["dog", "cat"],
         "The dog chases the cat.",
         {"dog": "the dog chases the small brown cat", "cat": "the dog chases the small brown cat"}),
        ("Suddenly the dog and the cat chase each other, then the cat climbs a tree", ["dog", "cat"],
         "Suddenly the dog and the cat chase each other, then the cat climbs a tree.",
         {"dog": "the dog suddenly chases the cat", "cat": "the cat suddenly chases the dog and climbs a tree"}),
        ("the dog and the cat play together", ["dog", "cat"],
         "The dog and the cat play together.",
         {"dog": "the dog plays together with the cat", "cat": "the cat plays together with the dog"}),
        ("A teddy bear waves. The bear then sits down.", ["teddy bear"],
         "The teddy bear waves, the teddy bear then sits down.",
         {"teddy bear": "the teddy bear waves and then sits down"}),
        ("the birds fly away", ["bird"], "The bird flies away.", {"bird": "the bird flies away"}),
        # A pronoun subject stands for the only object.
        ("The dog: it jumps high.", ["dog"], "The dog jumps high.", {"dog": "the dog jumps high"}),
        # "fish" is its own plural: read as singular, the verb is kept as written.
        ("the fish swim while the mice hide", ["fish", "mouse"], "The fish swim while the mouse hides.",
         {"fish": "the fish swim", "mouse": "the mouse hides"}),
    ],
)
def test_free_text(prompt, names, motion, local):
    plan = _plan(prompt, names)
    assert plan.motion_prompt == motion
    assert _locals(plan) == local


def test_both_and_plural_name_all_same_named_objects():
    plan = _plan("Both dogs jump while the cat sleeps", ["dog", "dog", "cat"])
    assert plan.motion_prompt == "The left dog and the right dog jump while the cat sleeps."
    assert _locals(plan) == {"left dog": "the left dog jumps", "right dog": "the right dog jumps", "cat": "the cat sleeps"}
    plan = _plan("the dog and the cat both jump", ["dog", "cat"])
    assert plan.local_prompts == ["the dog jumps", "the cat jumps"]
    plan = _plan("both the dog and the cat are sleeping", ["dog", "cat"])
    assert plan.local_prompts == ["the dog is sleeping", "the cat is sleeping"]
    plan = _plan("the balls roll left", ["red ball", "blue ball"])
    assert plan.local_prompts == ["the red ball rolls left", "the blue ball rolls left"]
    plan = _plan("Three birds fly", ["bird"] * 3)
    assert plan.motion_prompt == "The left bird, the middle bird and the right bird fly."


def test_left_and_right_disambiguate_same_named_objects():
    plan = _plan("the right dog barks, while the dog on the left runs away", ["dog", "dog"])
    assert _locals(plan) == {"left dog": "the dog on the left runs away", "right dog": "the right dog barks"}
    assert plan.motion_prompt == "The right dog barks, while the left dog runs away."
    plan = _plan("The leftmost bird sings and the rightmost bird sleeps", ["bird", "bird", "bird"])
    assert _locals(plan)["left bird"] == "the leftmost bird sings"
    assert _locals(plan)["right bird"] == "the rightmost bird sleeps"
    assert _locals(plan)["middle bird"] == "the middle bird stays still"


def test_top_and_bottom_decide_by_mask_place():
    plan = _plan("the top bird flies away while the lower bird stays", ["bird", "bird"], layout="column")
    assert _locals(plan) == {"top bird": "the top bird flies away", "bottom bird": "the lower bird stays"}
    # Names without place words: the masks' places still decide.
    plan = _plan("the upper balloon rises", ["balloon 1", "balloon 2"], layout="column")
    assert _locals(plan)["balloon 1"] == "the upper balloon rises"


def test_ambiguous_mention_warns():
    plan = _plan("the dog jumps", ["dog", "dog"])
    assert any("could be any of ['left dog', 'right dog']" in w for w in plan.warnings)
    assert plan.local_prompts == ["the left dog stays still", "the right dog stays still"]


def test_clause_without_object_is_left_to_the_global_prompt(caplog):
    with caplog.at_level(logging.WARNING):
        plan = _plan("the dog runs while the sun slowly sets", ["dog"])
    assert plan.motion_prompt == "The dog runs."
    assert plan.global_prompt == "the dog runs while the sun slowly sets"
    assert any("'the sun slowly sets' names no object" in w for w in plan.warnings)
    assert "names no object" in caplog.text
    plan = _plan("The camera pans left. The dog sits.", ["dog"])
    assert plan.motion_prompt == "The dog sits."
    assert len(plan.warnings) == 1


def test_object_absent_from_prompt_stays_still():
    plan = _plan("the cat sleeps on the sofa", ["cat", "dog"])
    assert _locals(plan) == {"cat": "the cat sleeps on the sofa", "dog": "the dog stays still"}
    assert plan.motion_prompt == "The cat sleeps on the sofa, the dog stays still."
    assert any("'dog' no motion" in w and '--object "dog: ...' in w for w in plan.warnings)


def test_listed_but_unmoving_object_keeps_its_looks():
    plan = _plan("A small grey mouse and a big orange cat; the cat yawns.", ["mouse", "cat"])
    assert _locals(plan) == {"mouse": "the small grey mouse stays still", "cat": "the big orange cat yawns"}


def test_object_acted_on_gets_the_clause_about_it():
    plan = _plan("A man walks his dog while a bird flies overhead.", ["man", "dog", "bird"])
    assert plan.motion_prompt == "The man walks the dog while the bird flies overhead."
    assert _locals(plan)["dog"] == "a man walks his dog"
    plan = _plan("the ball hits the dog", ["dog"])
    assert plan.motion_prompt == "The ball hits the dog."
    assert plan.local_prompts == ["the ball hits the dog"]


def test_user_local_prompts_override():
    plan = _plan("the cat jumps over the dog, the dog barks", ["cat", "dog"], {2: "the big dog wags its tail"})
    assert _locals(plan)["dog"] == "the big dog wags its tail"
    assert plan.motion_prompt == "The cat jumps over the dog, the dog barks."
    # The prompt says nothing about the dog: its motion comes from the user's local prompt.
    plan = _plan("a cat sleeps", ["cat", "dog"], {2: "The brown dog runs in circles."})
    assert plan.motion_prompt == "The cat sleeps, the dog runs in circles."
    assert not plan.warnings
    plan = _plan("a cat sleeps", ["cat", "dog"], {2: "wagging happily"})
    assert plan.motion_prompt == "The cat sleeps, wagging happily."


def test_partial_and_wrong_names():
    # "the crescent" is the only crescent; "the blue crescent" is not the red one.
    assert _plan("the crescent spins", ["red crescent"]).local_prompts == ["the crescent spins"]
    plan = _plan("the blue crescent spins", ["red crescent"])
    assert plan.local_prompts == ["the red crescent stays still"]
    # The more specific name wins: "the red crescent" is not the plain crescent.
    plan = _plan("the red crescent spins while the crescent sinks", ["crescent", "red crescent"])
    assert _locals(plan) == {"crescent": "the crescent sinks", "red crescent": "the red crescent spins"}


def test_names_with_determiners_and_case():
    plan = _plan("The Dog jumps", ["the dog"])
    assert plan.local_prompts == ["the dog jumps"]
    assert plan.motion_prompt == "The dog jumps."
    assert plan.objects[0].name == "the dog"


def test_mentions_and_parsing_helpers():
    keys = [object_key(1, "red crescent"), object_key(2, "green cross")]
    words = tokenize("a big red polka-dot crescent and a small green striped cross")
    ms = find_mentions(words, keys)
    assert [(m.start, m.head, m.objects) for m in ms] == [(0, 4, (1,)), (6, 10, (2,))]
    parsed = parse_prompt("the red crescent rises as the green cross follows the red crescent", keys)
    assert [c.subjects for c in parsed.clauses] == [(1,), (2,)]
    assert parsed.clauses[1].joiner == ["as"]
    assert [singular_verb(v) for v in ["jump", "are", "fly", "watch", "can", "jumps", "play"]] == [
        "jumps", "is", "flies", "watches", "can", "jumps", "plays"
    ]


def test_planner_is_deterministic():
    a = _plan("a dog and a cat play; the dog jumps", ["dog", "cat"])
    b = _plan("a dog and a cat play; the dog jumps", ["dog", "cat"])
    assert a == b
    assert RulePlanner.name == "rules"


# ---- other scripts --------------------------------------------------------------------
@pytest.mark.parametrize(
    "prompt, names, local",
    [
        ("собака бежит влево, кошка прыгает", ["собака", "кошка"], ["the собака бежит влево", "the кошка прыгает"]),
        ("猫跳起来，狗在跑。", ["猫", "狗"], ["the 猫 跳起来", "the 狗 在跑"]),
        ("小猫跳起来，狗在跑", ["小猫", "狗"], ["the 小猫 跳起来", "the 狗 在跑"]),
        ("the 猫 jumps and the dog runs", ["猫", "dog"], ["the 猫 jumps", "the dog runs"]),
        ("the café sign swings while the niño waves", ["café sign", "niño"], ["the café sign swings", "the niño waves"]),
    ],
)
def test_names_and_motion_words_in_other_scripts(prompt, names, local):
    plan = _plan(prompt, names)
    assert plan.local_prompts == local and plan.warnings == ()


def test_tokenizer_reads_any_script():
    assert tokenize("Die Katze läuft, собака бежит") == ["Die", "Katze", "läuft", ",", "собака", "бежит"]
    assert tokenize("猫跳起来，狗在跑。") == ["猫", "跳", "起", "来", ",", "狗", "在", "跑", "."]


def test_a_name_the_prompt_never_matches_is_still_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        plan = _plan("the cat jumps", ["猫", "dog"])
    assert _locals(plan)["猫"] == "the 猫 stays still"
    warning = next(w for w in plan.warnings if "'猫'" in w)
    assert "no word of it matches that name" in warning and "stays still" in warning
    assert "no word of it matches that name" in caplog.text
    # Named, but in clause forms the rules do not read: said so, not silently still.
    plan = _plan("Die Katze springt, der Hund läuft", ["Katze", "Hund"])
    assert all("it names it, but no motion words" in w for w in plan.warnings) and len(plan.warnings) == 2
