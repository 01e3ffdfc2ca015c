"""Prompts for a scene, in the three forms of docs/method.md.

- global prompt c: every object's appearance, the background and what happens;
- motion prompt c_motion: only short names ("the red circle") and their motions;
- local prompt per object: its own appearance and its own motion.

Several templates and synonyms per motion keep a model from memorising sentences;
the choice is drawn from the scene's text generator, so it is reproducible by seed.
Within one scene an object keeps the same verb and speed words in all three prompts,
so the prompts never disagree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .motions import MotionSpec
from .world import TEXTURE_WORDS

SPEED_WORDS: dict[str, tuple[str, ...]] = {
    "slow": ("slowly", "gently", "at a slow pace"),
    "medium": ("", "steadily", "at a steady pace"),
    "fast": ("quickly", "fast", "rapidly"),
}

SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny"),
    "medium": ("", "medium-sized"),
    "large": ("big", "large"),
}

WALL_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("the left wall", "the left edge"),
    "right": ("the right wall", "the right edge"),
    "top": ("the ceiling", "the top edge"),
    "bottom": ("the floor", "the bottom edge"),
}

# Third-person verb phrases; {target}, {wall} and {colour} are filled in.
VERBS: dict[str, tuple[str, ...]] = {
    "move_left": ("moves left", "slides to the left", "drifts left", "travels to the left", "glides left"),
    "move_right": ("moves right", "slides to the right", "drifts right", "travels to the right", "glides right"),
    "move_up": ("moves up", "rises", "floats upward", "slides up", "glides upward"),
    "move_down": ("moves down", "sinks", "slides down", "drifts downward", "descends"),
    "move_up_left": ("moves up and to the left", "drifts diagonally up and left", "glides towards the top left"),
    "move_up_right": ("moves up and to the right", "drifts diagonally up and right", "glides towards the top right"),
    "move_down_left": ("moves down and to the left", "drifts diagonally down and left", "glides towards the bottom left"),
    "move_down_right": ("moves down and to the right", "drifts diagonally down and right", "glides towards the bottom right"),
    "jump": ("jumps", "hops", "jumps up and down", "leaps"),
    "fall": ("falls", "drops to the ground", "falls down", "drops"),
    "grow": ("grows", "gets bigger", "expands", "swells up"),
    "shrink": ("shrinks", "gets smaller", "contracts", "dwindles"),
    "spin_cw": ("spins clockwise", "rotates clockwise", "turns clockwise"),
    "spin_ccw": ("spins counterclockwise", "rotates anticlockwise", "turns counterclockwise"),
    "shake": ("shakes", "wobbles from side to side", "jitters", "trembles"),
    "stay": ("stays still", "does not move", "stays in place", "stands still", "rests"),
    "approach": ("moves towards the {target}", "approaches the {target}", "heads for the {target}", "goes to the {target}"),
    "follow": ("follows the {target}", "chases the {target}", "trails the {target}"),
    "bounce": ("bounces off {wall}", "hits {wall} and bounces back", "rebounds off {wall}"),
    "recolour": ("turns {colour}", "changes colour to {colour}", "becomes {colour}", "fades to {colour}"),
}


@dataclass(frozen=True)
class ObjectWords:
    """The words chosen for one object, shared by all three prompts."""

    name: str  # "red circle": colour + shape, unique in the scene
    appearance: str  # "small red striped circle"
    motion: str  # "slides to the left slowly"


def _choose(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def texture_word(kind: str, rng: np.random.Generator) -> str:
    """The adjective for a texture ("striped"), or "" for flat."""
    return _choose(rng, TEXTURE_WORDS[kind])


def _article(noun_phrase: str) -> str:
    return ("an " if noun_phrase[:1] in "aeiou" else "a ") + noun_phrase


def _join(words: list[str]) -> str:
    return " ".join(w for w in words if w)


def motion_phrase(spec: MotionSpec, rng: np.random.Generator, target_name: str | None = None) -> str:
    """A verb phrase with its speed words, e.g. 'slowly approaches the blue square'."""
    verb = _choose(rng, VERBS[spec.kind]).format(
        target=target_name or "",
        wall=_choose(rng, WALL_WORDS[spec.wall]) if spec.wall else "",
        colour=spec.colour or "",
    )
    if spec.kind == "stay":
        return verb  # a still object has no speed
    speed = _choose(rng, SPEED_WORDS[spec.speed])
    if not speed:
        return verb
    # One-word "-ly" adverbs may also lead ("slowly moves left"); phrases trail.
    if speed.endswith("ly") and rng.random() < 0.4:
        return f"{speed} {verb}"
    return f"{verb} {speed}"


def object_words(
    colour: str,
    shape: str,
    texture_word: str,
    size: str,
    spec: MotionSpec,
    rng: np.random.Generator,
    target_name: str | None,
) -> ObjectWords:
    size_word = _choose(rng, SIZE_WORDS[size])
    return ObjectWords(
        name=f"{colour} {shape}",
        appearance=_join([size_word, colour, texture_word, shape]),
        motion=motion_phrase(spec, rng, target_name),
    )


def _join_clauses(clauses: list[str], rng: np.random.Generator) -> str:
    if len(clauses) == 1:
        return clauses[0]
    if len(clauses) == 2:
        return f" {_choose(rng, ('and', 'while', 'as'))} ".join(clauses)
    style = int(rng.integers(3))
    if style == 0:
        return ", ".join(clauses[:-1]) + " and " + clauses[-1]
    if style == 1:
        return ", ".join(clauses[:-1]) + ", while " + clauses[-1]
    return ", ".join(clauses)


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _list(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def describe(
    words: list[ObjectWords], background: str, rng: np.random.Generator
) -> tuple[str, str, list[str]]:
    """(global prompt, motion prompt, local prompts) for objects in id order.

    ``background`` is a noun phrase such as 'a grey checkered background'.
    """
    short = [f"the {w.name} {w.motion}" for w in words]
    motion_prompt = _sentence(_join_clauses(short, rng))
    local = [f"the {w.appearance} {w.motion}" for w in words]
    objects = _list([_article(w.appearance) for w in words])
    template = int(rng.integers(4))
    if template == 0:
        global_prompt = f"{_sentence(objects + ' on ' + background)} {motion_prompt}"
    elif template == 1:
        global_prompt = _sentence(f"{background} with {objects}; {_join_clauses(short, rng)}")
    elif template == 2:
        global_prompt = _sentence(f"a video of {objects} on {background}: {_join_clauses(short, rng)}")
    else:
        full = [f"{_article(w.appearance)} {w.motion}" for w in words]
        global_prompt = _sentence(f"{_join_clauses(full, rng)}, on {background}")
    return global_prompt, motion_prompt, local
