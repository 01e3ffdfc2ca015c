"""Prompts for a scene, in the three forms of docs/method.md.

- global prompt c: every object's appearance, the background and what happens;
- motion prompt c_motion: only short names ("the red circle", "the dog") and their motions;
- local prompt per object: its own appearance and its own motion.

Three wordings (`SpritesConfig.wording`):

- ``"seen"`` (the default): the wide language of everyday prompts. Each motion kind has
  many verbs, speed and amount words, stillness and negation phrasing; sentence frames and
  clause orders vary; objects are named by colour and shape ("the red circle"), by an
  everyday noun ("the ball", "the red dog") or, in their own local prompt, by a pronoun
  ("it", "the object"), so the noun never decides the motion.
- ``"heldout"``: the same grammar, but every slot that has held-out entries draws from
  them: verbs, speed adverbs, amounts, sentence frames, clause joiners and nouns that
  ``"seen"`` never uses. Evaluation only: it measures how far the model carries motion
  meaning to words it was not trained on. The split is fixed here, entry by entry (the
  ``heldout`` side of every `Pool`), and `heldout_tokens` lists the words that mark it.
- ``"heldout-verbs"``: only the verb slots (the verbs of travel and the other kinds'
  verb phrases) draw held-out entries; speed words, amounts, frames, joiners and nouns
  are seen ones. Evaluation only: beside ``"heldout"`` it tells how much of the loss is
  the verbs.
- ``"classic"``: the small language of the v1-v3 models, word for word (scene files
  written before wordings existed regenerate with it).

Words stay honest to the motion: a sprite that moves does not turn, so nothing here
"rolls"; speed-laden verbs ("zooms", "creeps") appear only with their speed; "all the way
to the left edge" only when the object gets there. Choices are drawn from the scene's
text generator, so text is reproducible by seed, and within one scene an object keeps
the same name, verb and speed words in all three prompts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from .motions import DIRECTIONS, MotionSpec
from .world import TEXTURE_WORDS

WORDINGS: tuple[str, ...] = ("seen", "heldout", "heldout-verbs", "classic")
#: Wordings that draw held-out entries: for evaluation only.
HELDOUT_WORDINGS = frozenset({"heldout", "heldout-verbs"})

# ------------------------------------------------------------------ classic language (v1-v3)

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

# ------------------------------------------------------------------ the wide language


@dataclass(frozen=True)
class Pool:
    """Interchangeable phrases for one slot, split into the wording used for training
    (``seen``) and the one kept for evaluation (``heldout``).

    An entry may end in ``@slow``, ``@medium`` or ``@fast`` (several joined by ``+``):
    it then carries that speed and is only drawn for it ("zooms@fast")."""

    seen: tuple[str, ...]
    heldout: tuple[str, ...] = ()
    verb: bool = False  # a verb slot: held out in "heldout-verbs" too

    def entries(self, wording: str) -> tuple[str, ...]:
        held = wording == "heldout" or (wording == "heldout-verbs" and self.verb)
        return self.heldout if held and self.heldout else self.seen

    def pick(self, rng: np.random.Generator, wording: str, speed: str | None = None) -> tuple[str, bool]:
        """(phrase, whether it carries the speed itself)."""
        options = [_split_speed(e) for e in self.entries(wording)]
        if speed is not None:
            fitting = [(t, s) for t, s in options if s is None or speed in s]
            options = fitting or [(t, s) for t, s in options if s is None]
        text, speeds = options[int(rng.integers(len(options)))]
        return text, speeds is not None


def _split_speed(entry: str) -> tuple[str, tuple[str, ...] | None]:
    if "@" not in entry:
        return entry, None
    text, speeds = entry.split("@")
    return text, tuple(speeds.split("+"))


# Speed adverbs; "" (medium) says nothing, which also means medium.
SPEEDS = {
    "slow": Pool(
        ("slowly", "gently", "at a slow pace", "lazily", "unhurriedly", "little by little", "bit by bit",
         "at a gentle pace", "very slowly", "calmly"),
        ("sluggishly", "leisurely", "at a snail's pace"),
    ),
    "medium": Pool(
        ("", "", "", "steadily", "at a steady pace", "at a moderate speed", "at a normal pace", "at an even pace",
         "at a regular speed", "evenly", "at an average speed"),
        ("", "at a comfortable speed", "at a measured pace"),
    ),
    "fast": Pool(
        ("quickly", "fast", "rapidly", "swiftly", "at high speed", "speedily", "in a hurry", "briskly",
         "at full speed", "very fast", "hastily", "at a fast pace", "very quickly"),
        ("like lightning", "in a flash", "at breakneck speed"),
    ),
}

# Verbs of travel that take a direction ("slides" + "to the left").
TRAVEL = Pool(
    ("moves", "slides", "drifts", "glides", "travels", "goes", "heads", "shifts", "walks", "runs", "floats",
     "flies", "sails", "swims", "scoots", "zooms@fast", "races@fast", "darts@fast", "rushes@fast",
     "speeds@fast", "hurries@fast", "creeps@slow", "crawls@slow", "inches@slow", "strolls@slow", "edges@slow"),
    ("cruises", "coasts", "marches", "trundles@slow", "ambles@slow", "scurries@fast", "hurtles@fast", "zips@fast"),
    verb=True,
)
# Verbs that say the direction themselves.
UP_VERBS = Pool(("rises", "climbs", "ascends", "goes up", "floats up", "heads up"), ("soars",), verb=True)
DOWN_VERBS = Pool(("sinks", "descends", "goes down", "comes down", "heads down"), ("dips",), verb=True)

DIRECTION_WORDS: dict[str, tuple[str, ...]] = {
    "move_left": ("left", "to the left", "leftward", "towards the left", "to the left side", "over to the left"),
    "move_right": ("right", "to the right", "rightward", "towards the right", "to the right side", "over to the right"),
    "move_up": ("up", "upward", "upwards", "towards the top", "up the frame", "higher"),
    "move_down": ("down", "downward", "downwards", "towards the bottom", "down the frame", "lower"),
    "move_up_left": ("up and to the left", "diagonally up and left", "towards the top left", "to the upper left",
                     "up and left"),
    "move_up_right": ("up and to the right", "diagonally up and right", "towards the top right", "to the upper right",
                      "up and right"),
    "move_down_left": ("down and to the left", "diagonally down and left", "towards the bottom left",
                       "to the lower left", "down and left"),
    "move_down_right": ("down and to the right", "diagonally down and right", "towards the bottom right",
                        "to the lower right", "down and right"),
}
# Where a straight move may end, said when the object gets there.
EDGE_WORDS = Pool(
    ("all the way to the {side} edge", "to the {side} edge", "until it reaches the {side} edge",
     "all the way to the {side}"),
    ("right up to the {side} border",),
)
EDGE_SIDE = {"move_left": "left", "move_right": "right", "move_up": "top", "move_down": "bottom"}
# How far: only with the speed that makes it true.
AMOUNTS = {
    "slow": Pool(("a little", "a short way", "a bit", "slightly"), ("a tad",)),
    "fast": Pool(("a long way", "far"), ("a great distance",)),
}
SCALE_AMOUNTS = {
    "slow": Pool(("a little", "a bit", "slightly"), ("a tad",)),
    "fast": Pool(("a lot", "a great deal"), ("enormously",)),
}

# The other kinds, as whole verb phrases; {target}, {wall}, {colour}, {turn} are filled in.
PHRASES: dict[str, Pool] = {
    "jump": Pool(
        ("jumps", "hops", "jumps up and down", "leaps", "hops up and down", "bounces up and down",
         "keeps jumping", "jumps in place", "hops on the spot", "leaps up and down", "jumps around", "hops around",
         "leaps about", "keeps hopping", "jumps on the spot"),
        ("bobs up and down", "springs up and down", "skips up and down"),
    ),
    "fall": Pool(
        ("falls", "drops to the ground", "falls down", "drops", "falls to the floor", "drops to the bottom",
         "falls to the ground", "comes falling down", "plunges@fast", "drops down", "tumbles down", "topples down",
         "drops straight down@fast", "sinks to the floor", "falls to the bottom", "comes down to the ground"),
        ("plops down", "crashes down", "plummets@fast"),
    ),
    "grow": Pool(
        ("grows", "gets bigger", "expands", "swells up", "swells", "becomes larger", "scales up", "enlarges",
         "gets larger", "inflates", "puffs up", "grows bigger", "increases in size", "balloons@fast", "gets huge",
         "blows up", "becomes bigger", "bulks up", "gets bigger and bigger", "becomes huge", "grows larger",
         "expands outward", "gains size", "grows in size", "swells larger", "fattens up"),
        ("magnifies", "mushrooms", "widens and heightens"),
    ),
    "shrink": Pool(
        ("shrinks", "gets smaller", "contracts", "dwindles", "becomes smaller", "scales down", "deflates",
         "shrinks down", "decreases in size", "gets tinier", "gets littler", "shrivels", "shrivels up", "becomes tiny",
         "reduces in size", "compresses", "collapses inward", "wanes", "gets smaller and smaller", "becomes little",
         "loses size", "shrinks away", "narrows down", "gets reduced"),
        ("diminishes", "withers", "condenses"),
    ),
    "spin_cw": Pool(
        ("spins {turn}", "rotates {turn}", "turns {turn}", "twirls {turn}", "whirls {turn}", "goes round {turn}",
         "turns around {turn}", "spins around {turn}", "swivels {turn}", "gyrates {turn}", "spins round {turn}",
         "rotates around {turn}", "twists {turn}"),
        ("pirouettes {turn}", "revolves {turn}"),
    ),
    "shake": Pool(
        ("shakes", "wobbles from side to side", "jitters", "trembles", "wiggles", "jiggles", "vibrates", "quivers",
         "shakes from side to side", "wiggles back and forth", "shakes back and forth", "wobbles", "rattles",
         "shudders", "twitches", "jolts from side to side", "waggles", "rocks from side to side",
         "sways from side to side", "flutters", "jerks back and forth", "vibrates on the spot", "shivers",
         "wobbles back and forth", "jitters about", "quakes", "fidgets", "wags from side to side"),
        ("shimmies", "judders", "oscillates sideways"),
    ),
    "stay": Pool(
        ("stays still", "does not move", "stays in place", "stands still", "rests", "stays put",
         "remains where it is", "doesn't move", "does not move at all", "sits still", "holds still",
         "is motionless", "stays where it is", "keeps still", "remains still", "holds its position",
         "is not moving", "stays in one spot", "never moves", "doesn't move at all", "remains motionless",
         "isn't moving", "stays perfectly still", "does nothing", "just sits there", "is still", "stays fixed",
         "stays unmoving", "keeps its place", "is at rest"),
        ("remains stationary", "never budges", "is frozen in place"),
    ),
    "approach": Pool(
        ("moves towards the {target}", "approaches the {target}", "heads for the {target}", "goes to the {target}",
         "comes up to the {target}", "makes its way to the {target}", "walks over to the {target}",
         "runs to the {target}@fast", "drifts towards the {target}", "creeps up on the {target}@slow",
         "goes over to the {target}", "travels to the {target}", "moves closer to the {target}",
         "draws near to the {target}", "comes towards the {target}", "goes up to the {target}",
         "advances on the {target}", "gets closer to the {target}", "sidles up to the {target}",
         "heads towards the {target}", "makes for the {target}", "converges on the {target}",
         "moves in on the {target}", "zeroes in on the {target}", "comes near the {target}",
         "goes toward the {target}", "hurries to the {target}@fast", "rushes to the {target}@fast",
         "inches towards the {target}@slow", "reaches the {target}", "steers towards the {target}"),
        ("closes in on the {target}", "nears the {target}", "homes in on the {target}"),
    ),
    "follow": Pool(
        ("follows the {target}", "chases the {target}", "trails the {target}", "goes after the {target}",
         "runs after the {target}", "comes after the {target}", "follows behind the {target}",
         "tags along behind the {target}", "keeps following the {target}", "moves after the {target}",
         "runs behind the {target}", "goes behind the {target}", "keeps behind the {target}", "hunts the {target}",
         "stalks the {target}", "tracks the {target}", "sticks close behind the {target}",
         "keeps up with the {target}", "trails after the {target}", "chases after the {target}",
         "walks behind the {target}", "hurries after the {target}@fast", "races after the {target}@fast",
         "creeps after the {target}@slow", "stays on the heels of the {target}", "copies the path of the {target}"),
        ("tails the {target}", "pursues the {target}", "shadows the {target}"),
    ),
    "bounce": Pool(
        ("bounces off {wall}", "hits {wall} and bounces back", "rebounds off {wall}", "hits {wall} and comes back",
         "bumps into {wall} and turns back", "bounces back from {wall}", "runs into {wall} and bounces back",
         "bumps off {wall}", "glances off {wall}", "turns back at {wall}",
         "reverses at {wall}", "hits {wall} and reverses"),
        ("ricochets off {wall}", "caroms off {wall}"),
    ),
    "recolour": Pool(
        ("turns {colour}", "changes colour to {colour}", "becomes {colour}", "fades to {colour}",
         "changes to {colour}", "switches to {colour}", "goes {colour}", "takes on a {colour} colour",
         "changes its colour to {colour}", "gradually becomes {colour}@slow+medium", "turns to {colour}",
         "changes into {colour}", "transforms to {colour}", "is tinted {colour}", "gets painted {colour}",
         "becomes coloured {colour}", "shades into {colour}", "is recoloured {colour}", "takes a {colour} tint",
         "changes color to {colour}", "goes from its colour to {colour}", "is dyed {colour}"),
        ("morphs into {colour}", "shifts its hue to {colour}"),
    ),
}
PHRASES = {kind: replace(pool, verb=True) for kind, pool in PHRASES.items()}  # each is a verb phrase
PHRASES["spin_ccw"] = PHRASES["spin_cw"]
TURN_WORDS = {
    "spin_cw": Pool(("clockwise", "in a clockwise direction")),
    "spin_ccw": Pool(("counterclockwise", "anticlockwise", "counter-clockwise", "in a counterclockwise direction")),
}
# For kinds whose centre stays put: saying so is honest, and teaches the negation.
IN_PLACE = Pool(("in place", "on the spot", "without moving", "without going anywhere"), ("without budging",))
IN_PLACE_KINDS = frozenset({"grow", "shrink", "spin_cw", "spin_ccw", "recolour"})
WALLS = {
    "left": Pool(("the left wall", "the left edge", "the left side")),
    "right": Pool(("the right wall", "the right edge", "the right side")),
    "top": Pool(("the ceiling", "the top edge", "the top", "the top wall")),
    "bottom": Pool(("the floor", "the bottom edge", "the ground", "the bottom wall")),
}

# Everyday nouns: an object may be called any of them whatever its shape, so that the
# motion is read from the verb, never from the noun.
NOUNS = Pool(
    ("ball", "cat", "dog", "car", "bird", "cup", "person", "boat", "leaf", "rocket", "balloon", "box", "fish",
     "horse", "bus", "bike", "apple", "toy", "robot", "plane", "train", "duck", "frog", "mouse", "rabbit",
     "bear", "truck", "bottle", "hat", "flower", "cloud", "coin", "egg", "sheep", "cow", "child", "man",
     "woman", "girl", "boy", "drone", "ship", "bee", "butterfly", "turtle", "snail", "pig", "chair", "lamp",
     "book", "shoe", "ghost", "kite", "astronaut", "baby", "stone", "sock", "puppy", "monkey", "pencil", "ladybug"),
    ("penguin", "tractor", "umbrella", "squirrel", "scooter", "jellyfish", "pumpkin", "helicopter", "dolphin",
     "teapot", "owl", "giraffe"),
)
PRONOUNS = Pool(("it", "the object", "this object", "the thing", "the shape"), ("the item", "this item"))
# Local prompt frames; {s} is the subject, {m} the motion phrase.
FRAMES = Pool(
    ("{s} {m}", "{s} {m}", "{s} {m}", "{s} {m}", "here {s} {m}", "in this video {s} {m}", "in the video, {s} {m}",
     "{s} {m} in this clip", "{s} {m} in the video", "now {s} {m}", "we see that {s} {m}"),
    ("watch as {s} {m}", "look, {s} {m}", "in this footage {s} {m}", "{s} {m} on screen"),
)
# Between clauses of the motion prompt.
JOINERS = Pool(
    (" and ", " while ", " as ", ", and ", "; ", ". ", ", meanwhile ", " and meanwhile "),
    (" whilst ", ". At the same time, ", " and simultaneously "),
)
MOTION_FRAMES = Pool(
    ("{c}", "{c}", "{c}", "in this video {c}", "here {c}"),
    ("watch as {c}", "in this footage {c}"),
)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def _all_entries(side: str) -> list[str]:
    pools: list[Pool] = [
        *SPEEDS.values(), TRAVEL, UP_VERBS, DOWN_VERBS, EDGE_WORDS, *AMOUNTS.values(), *SCALE_AMOUNTS.values(),
        *PHRASES.values(), *TURN_WORDS.values(), IN_PLACE, *WALLS.values(), NOUNS, PRONOUNS, FRAMES, JOINERS,
        MOTION_FRAMES,
    ]
    out = [_split_speed(e)[0] for p in pools for e in getattr(p, side)]
    if side == "seen":
        # Words every wording shares: names, appearance, directions, the classic language.
        out += [w for ws in DIRECTION_WORDS.values() for w in ws]
        out += [w for ws in (*SIZE_WORDS.values(), *TEXTURE_WORDS.values(), *WALL_WORDS.values()) for w in ws]
        out += [v for vs in VERBS.values() for v in vs] + [w for ws in SPEED_WORDS.values() for w in ws]
    return out


def heldout_tokens() -> frozenset[str]:
    """Words that only the held-out wording uses: none of them is in any seen entry.
    Every held-out entry contains at least one (tests check both)."""
    seen = set().union(*map(_words, _all_entries("seen")))
    return frozenset(set().union(*map(_words, _all_entries("heldout"))) - seen)


# ------------------------------------------------------------------ per object


@dataclass(frozen=True)
class ObjectWords:
    """The words chosen for one object, shared by all three prompts."""

    name: str  # "red circle", "dog", "red dog": unique in the scene
    appearance: str  # "small red striped circle", "small red striped dog"
    motion: str  # "slides to the left slowly"
    subject: str = ""  # the local prompt's subject: "the " + appearance, "it", ...
    front: str = ""  # a speed word that opens the local prompt ("Slowly, ...")


@dataclass(frozen=True)
class ObjectFacts:
    """What the text of one object may say: its look, its motion, where it ends."""

    colour: str
    shape: str
    texture: str  # a texture kind ("stripes")
    size: str
    motion: MotionSpec
    edge: str | None = None  # the frame edge a straight move reaches by the end, if any


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
    """The classic verb phrase with its speed words, e.g. 'slowly approaches the blue square'."""
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


def wide_motion_phrase(
    spec: MotionSpec, rng: np.random.Generator, wording: str, target_name: str | None = None,
    edge: str | None = None,
) -> tuple[str, str]:
    """(verb phrase, speed word for the front of a local prompt or "") in the wide language."""
    kind, speed = spec.kind, spec.speed
    carries = False
    if kind in DIRECTIONS:
        specific = {"move_up": UP_VERBS, "move_down": DOWN_VERBS}.get(kind)
        if specific is not None and rng.random() < 0.3:
            verb, carries = specific.pick(rng, wording, speed)
            where = ""
        else:
            verb, carries = TRAVEL.pick(rng, wording, speed)
            where = _choose(rng, DIRECTION_WORDS[kind])
        if edge is not None and kind in EDGE_SIDE and rng.random() < 0.5:
            where = EDGE_WORDS.pick(rng, wording)[0].format(side=EDGE_SIDE[kind])
        elif speed in AMOUNTS and rng.random() < 0.3:
            where = _join([AMOUNTS[speed].pick(rng, wording)[0], where or DIRECTION_WORDS[kind][1]])
        core = _join([verb, where])
    else:
        phrase, carries = PHRASES[kind].pick(rng, wording, speed)
        core = phrase.format(
            target=target_name or "",
            wall=WALLS[spec.wall].pick(rng, wording)[0] if spec.wall else "",
            colour=spec.colour or "",
            turn=TURN_WORDS[kind].pick(rng, wording)[0] if kind in TURN_WORDS else "",
        )
        if kind in ("grow", "shrink") and speed in SCALE_AMOUNTS and rng.random() < 0.25:
            core = _join([core, SCALE_AMOUNTS[speed].pick(rng, wording)[0]])
        if kind in IN_PLACE_KINDS and rng.random() < 0.2:
            core = _join([core, IN_PLACE.pick(rng, wording)[0]])
    if kind == "stay":
        return core, ""  # a still object has no speed
    if carries and rng.random() < 0.5:
        return core, ""  # "zooms left": the verb says the speed
    adverb = SPEEDS[speed].pick(rng, wording)[0]
    if not adverb:
        return core, ""
    place = rng.random()
    if place < 0.12:
        return core, adverb  # the local prompt opens with it
    if " " not in adverb and adverb.endswith("ly") and place < 0.4:
        return f"{adverb} {core}", ""
    return f"{core} {adverb}", ""


def object_words(
    colour: str,
    shape: str,
    texture_word: str,
    size: str,
    spec: MotionSpec,
    rng: np.random.Generator,
    target_name: str | None,
) -> ObjectWords:
    """The classic words of one object."""
    size_word = _choose(rng, SIZE_WORDS[size])
    appearance = _join([size_word, colour, texture_word, shape])
    return ObjectWords(
        name=f"{colour} {shape}",
        appearance=appearance,
        motion=motion_phrase(spec, rng, target_name),
        subject=f"the {appearance}",
    )


def _names(facts: list[ObjectFacts], rng: np.random.Generator, wording: str) -> list[tuple[str, str, bool]]:
    """Per object (name, head noun, named by a pronoun in its local prompt); names are
    unique in the scene."""
    out: list[tuple[str, str, bool]] = []
    used: set[str] = set()
    nouns = NOUNS.entries(wording)
    for f in facts:
        style = rng.random()
        if style < 0.45:
            head, name = f.shape, f"{f.colour} {f.shape}"
        else:
            head = _choose(rng, nouns)
            while head in {n.split(" ")[-1] for n in used} and rng.random() < 0.9:
                head = _choose(rng, nouns)
            name = head if rng.random() < 0.5 else f"{f.colour} {head}"
        if name in used:
            name = f"{f.colour} {head}"
        if name in used:  # the same colour and noun twice: fall back to the unique colour + shape
            head, name = f.shape, f"{f.colour} {f.shape}"
        used.add(name)
        out.append((name, head, rng.random() < 0.15))
    return out


def wide_object_words(facts: list[ObjectFacts], rng: np.random.Generator, wording: str) -> list[ObjectWords]:
    """The words of every object of a scene in the wide language (targets need the names
    of the others, so the whole scene is worded at once)."""
    names = _names(facts, rng, wording)
    out = []
    for f, (name, head, pronoun) in zip(facts, names):
        texture = texture_word(f.texture, rng)
        # A name with the colour keeps it in the appearance too; otherwise it is mostly said.
        with_colour = name.startswith(f.colour + " ") or rng.random() < 0.9
        appearance = _join([_choose(rng, SIZE_WORDS[f.size]), f.colour if with_colour else "", texture, head])
        target = names[f.motion.target - 1][0] if f.motion.target is not None else None
        motion, front = wide_motion_phrase(f.motion, rng, wording, target, f.edge)
        if pronoun:
            subject = PRONOUNS.pick(rng, wording)[0]
        else:
            subject = "the " + (appearance if rng.random() < 0.6 else name)
        out.append(ObjectWords(name=name, appearance=appearance, motion=motion, subject=subject, front=front))
    return out


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


def _wide_join(clauses: list[str], rng: np.random.Generator, wording: str) -> str:
    if len(clauses) == 1:
        return clauses[0]
    if rng.random() < 0.4:
        return _join_clauses(clauses, rng)
    out = clauses[0]
    for c in clauses[1:]:
        joiner = JOINERS.pick(rng, wording)[0]
        out += joiner + (c[:1].upper() + c[1:] if joiner.endswith(". ") else c)
    return out


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
    """Classic (global prompt, motion prompt, local prompts) for objects in id order.

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


def describe_wide(
    words: list[ObjectWords], background: str, rng: np.random.Generator, wording: str
) -> tuple[str, str, list[str]]:
    """(global prompt, motion prompt, local prompts) in the wide language."""
    local = []
    for w in words:
        frame = FRAMES.pick(rng, wording)[0] if w.subject != "it" and not w.front else "{s} {m}"
        text = frame.format(s=w.subject, m=w.motion)
        if w.front:
            text = f"{w.front}, {text}"
        local.append(_sentence(text) if rng.random() < 0.5 else text)
    order = list(range(len(words)))
    if len(order) > 1 and rng.random() < 0.4:
        order = [int(i) for i in rng.permutation(len(order))]
    if len(words) == 1 and rng.random() < 0.15:
        short = [f"{PRONOUNS.pick(rng, wording)[0]} {words[0].motion}"]
    else:
        short = [f"the {words[i].name} {words[i].motion}" for i in order]
    clauses = _wide_join(short, rng, wording)
    motion_prompt = _sentence(MOTION_FRAMES.pick(rng, wording)[0].format(c=clauses))
    objects = _list([_article(w.appearance) for w in words])
    template = int(rng.integers(3))
    if template == 0:
        global_prompt = f"{_sentence(objects + ' on ' + background)} {motion_prompt}"
    elif template == 1:
        global_prompt = _sentence(f"a video of {objects} on {background}: {clauses}")
    else:
        full = [f"{_article(w.appearance)} {w.motion}" for w in words]
        global_prompt = _sentence(f"{_wide_join(full, rng, wording)}, on {background}")
    return global_prompt, motion_prompt, local


def scene_text(
    facts: list[ObjectFacts], background: str, rng: np.random.Generator, wording: str = "seen",
) -> tuple[list[ObjectWords], str, str, list[str]]:
    """(per-object words, global prompt, motion prompt, local prompts) for objects in id
    order, in the given wording (see the module docstring)."""
    if wording not in WORDINGS:
        raise ValueError(f"unknown wording {wording!r}; choose from {WORDINGS}")
    if wording == "classic":
        words: list[ObjectWords] = []
        for f in facts:
            target = facts[f.motion.target - 1] if f.motion.target is not None else None
            adjective = texture_word(f.texture, rng)
            words.append(object_words(f.colour, f.shape, adjective, f.size, f.motion, rng,
                                      f"{target.colour} {target.shape}" if target else None))
        return (words, *describe(words, background, rng))
    words = wide_object_words(facts, rng, wording)
    return (words, *describe_wide(words, background, rng, wording))


def reached_edge(kind: str, center: tuple[float, float], extent: dict[str, float], width: float, height: float,
                 slack: float) -> str | None:
    """The edge a straight move (left/right/up/down) ends at: the object's side within
    ``slack`` px of the frame's, or beyond it. ``extent``: px from the centre to the
    object's left/right/top/bottom."""
    x, y = center
    gap = {
        "move_left": x - extent["left"],
        "move_right": width - (x + extent["right"]),
        "move_up": y - extent["top"],
        "move_down": height - (y + extent["bottom"]),
    }.get(kind)
    if gap is None or gap > slack:
        return None
    return EDGE_SIDE[kind]
