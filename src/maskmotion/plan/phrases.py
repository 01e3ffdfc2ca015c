"""Words, noun phrases and object mentions: the small grammar the rule planner uses.

No tagger, no model: a prompt is split into word tokens, and an object is *mentioned*
where its name's last word (the head noun, or its plural) appears, with the words back
to the nearest determiner as its noun phrase ("a big red polka-dot crescent" mentions
the object named "red crescent"). That is enough for the prompts our model is trained
on (docs/sprites.md) and for plain English such as "the dog jumps while the cat runs".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

# Scripts written without spaces between words (Chinese characters, Japanese kana): each
# character is a token of its own, so a name such as "猫" is found inside "猫跳起来".
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Words in any script (letters and digits, Unicode-aware), keeping hyphens and
# apostrophes inside ("polka-dot", "dog's"), single unspaced-script characters, and the
# punctuation that separates clauses.
_LETTER = rf"(?:(?![{_UNSPACED}])[^\W_])"
_TOKEN_RE = re.compile(rf"{_LETTER}+(?:[-'\u2019]{_LETTER}+)*|[{_UNSPACED}]|[.,;:!?]|\n")
# Full-width and ideographic punctuation read as its ASCII form.
_PUNCTUATION = str.maketrans({"，": ",", "、": ",", "。": ".", "；": ";", "：": ":", "！": "!", "？": "?"})

SENTENCE_ENDS = frozenset({".", ";", ":", "!", "?", "\n"})

DETERMINERS = frozenset(
    "the a an this that these those its his her their my our your both two three four five "
    "each every all another one".split()
)
PLURAL_DETERMINERS = frozenset("these those both two three four five all".split())

# Words that may join two clauses ("A, while B"; "A and then B").
CONNECTORS = frozenset(
    ", and while whilst as whereas but then when meanwhile so or after before until".split()
)

# Words that may come between a connector and the subject ("..., then the cat runs").
LEAD_WORDS = frozenset(
    "then meanwhile suddenly also finally now afterwards later next simultaneously and".split()
)

# Quantifiers around a subject group ("both the dog and the cat jump", "the dogs both jump").
QUANTIFIERS = frozenset({"both", "all", "each"})

# A predicate never starts with one of these: "a dog on a plain background" lists an
# object, it does not say what the object does.
PREDICATE_BLOCKERS = frozenset(
    "on in at with of against over under near beside behind by from into onto across above "
    "below inside outside and or but to for next between among like than , 's".split()
) | DETERMINERS

# Words that name a place in the frame, normalised ("leftmost" -> "left").
POSITION_WORDS = {
    "left": "left",
    "leftmost": "left",
    "right": "right",
    "rightmost": "right",
    "top": "top",
    "topmost": "top",
    "upper": "top",
    "uppermost": "top",
    "bottom": "bottom",
    "bottommost": "bottom",
    "lower": "bottom",
    "lowest": "bottom",
    "middle": "middle",
    "center": "middle",
    "centre": "middle",
    "central": "middle",
}

_IRREGULAR_PLURALS = {
    "mouse": "mice",
    "person": "people",
    "child": "children",
    "man": "men",
    "woman": "women",
    "goose": "geese",
    "foot": "feet",
    "tooth": "teeth",
    "leaf": "leaves",
    "wolf": "wolves",
    "knife": "knives",
    "calf": "calves",
    "sheep": "sheep",
    "fish": "fish",
    "deer": "deer",
}

# Verbs that a clause about an unnamed thing may use ("the sun sets", "the leaves fall").
COMMON_VERBS = frozenset(
    "move moves run runs jump jumps fall falls fly flies walk walks swim swims roll rolls "
    "turn turns spin spins sway sways set sets rise rises shine shines blow blows "
    "pan pans zoom zooms tilt tilts drift drifts float floats flow flows wave waves grow grows "
    "shrink shrinks bounce bounces shake shakes sit sits stand stands stay stays "
    "is are was were has have appears appear disappears disappear".split()
)

_MODALS = frozenset("can could will would should may might must".split())
_SINGULAR_VERBS = {"are": "is", "have": "has", "were": "was", "do": "does", "go": "goes"}


def tokenize(text: str) -> list[str]:
    """Word and punctuation tokens; other characters (quotes, brackets) are dropped.
    Words are letters and digits of any script; in Chinese and Japanese text each
    character is a token."""
    return _TOKEN_RE.findall(text.translate(_PUNCTUATION))


def _unspaced(token: str) -> bool:
    return bool(re.match(f"[{_UNSPACED}]", token))


def sentences(tokens: Sequence[str]) -> list[list[str]]:
    """Split tokens at sentence-ending punctuation (. ; : ! ? and new lines)."""
    out: list[list[str]] = [[]]
    for t in tokens:
        if t in SENTENCE_ENDS:
            if out[-1]:
                out.append([])
        else:
            out[-1].append(t)
    return [s for s in out if s]


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens with spaces, commas attached to the word before."""
    text = ""
    previous = ""
    for t in tokens:
        if t in (",", ".", ";", ":", "!", "?") or (_unspaced(t) and _unspaced(previous)):
            text += t  # no space between two characters of an unspaced script either
        else:
            text += (" " if text else "") + t
        previous = t
    return text


def is_word(token: str) -> bool:
    return bool(token) and token[0].isalnum()


def plural_of(noun: str) -> str:
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if len(noun) > 1 and noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def singular_verb(word: str) -> str:
    """Third-person singular of a plural verb: 'jump' -> 'jumps', 'are' -> 'is'."""
    low = word.lower()
    if low in _SINGULAR_VERBS:
        return _SINGULAR_VERBS[low]
    if low in _MODALS or low.endswith("s") and not low.endswith("ss"):
        return word  # "can jump"; already singular ("both jumps" is the user's typo)
    if low.endswith(("sh", "ch", "x", "z", "o", "ss")):
        return word + "es"
    if len(low) > 1 and low.endswith("y") and low[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def looks_like_verb(word: str) -> bool:
    """A guess, used only to tell a clause about an unnamed thing from a noun list."""
    low = word.lower()
    if low in COMMON_VERBS:
        return True
    return len(low) > 3 and low.endswith("s") and not low.endswith(("ss", "us", "is", "ous"))


def is_adverb(word: str) -> bool:
    low = word.lower()
    return len(low) > 3 and low.endswith("ly") and low not in {"only", "family", "fly", "belly"}


# ---- object names ---------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectKey:
    """How the planner recognises one object in text."""

    id: int
    name: str
    head: str  # "crescent" for "red crescent"
    modifiers: frozenset[str]  # {"red"}; position words normalised
    position: tuple[float, float] | None = None  # first-frame centroid (x, y) in [0, 1]

    @property
    def short(self) -> str:
        """The short form used in motion prompts: 'the red crescent'."""
        words = self.name.split()
        if len(words) > 1 and words[0].lower() in DETERMINERS:
            words = words[1:]  # a name given as "the dog"
        return "the " + " ".join(words)


def name_words(name: str) -> list[str]:
    """Lower-case words of a name, without a leading determiner or a trailing
    prepositional phrase ("man with a hat" -> ["man"])."""
    words = [t.lower() for t in tokenize(name) if is_word(t)]
    while words and words[0] in DETERMINERS:
        words = words[1:]
    for i, w in enumerate(words):
        if i > 0 and w in PREDICATE_BLOCKERS:
            words = words[:i]
            break
    return words


def object_key(object_id: int, name: str, position: tuple[float, float] | None = None) -> ObjectKey:
    words = name_words(name)
    if not words:
        words = [name.strip().lower()]
    # "dog 2": the number tells same-named objects apart; the noun is still "dog".
    numbers = [w for w in words if w.isdigit()]
    words = [w for w in words if not w.isdigit()] or words
    mods = frozenset(POSITION_WORDS.get(w, w) for w in words[:-1]) | frozenset(numbers)
    return ObjectKey(object_id, name, words[-1], mods, position)


# ---- mentions -------------------------------------------------------------------------
@dataclass(frozen=True)
class Mention:
    """A noun phrase in a sentence that names one or more objects.

    ``start``..``end`` (exclusive) is the phrase, determiner and a trailing
    position phrase ("on the left") included; ``head`` is the head noun's index.
    ``objects`` is empty when the phrase fits several objects equally ("the dog" with
    two dogs); ``candidates`` then lists them.
    """

    start: int
    head: int
    end: int
    objects: tuple[int, ...]
    plural: bool
    candidates: tuple[int, ...] = ()
    determiner: str | None = None

    @property
    def ambiguous(self) -> bool:
        return not self.objects and len(self.candidates) > 1


def _head_forms(keys: Sequence[ObjectKey]) -> dict[str, list[tuple[ObjectKey, bool]]]:
    """word -> [(object, is_plural_form)]."""
    forms: dict[str, list[tuple[ObjectKey, bool]]] = {}
    for k in keys:
        forms.setdefault(k.head, []).append((k, False))
        plural = plural_of(k.head)
        if plural != k.head:
            forms.setdefault(plural, []).append((k, True))
    return forms


_MAX_MODIFIERS = 6  # words between a determiner and its head noun


def find_mentions(words: Sequence[str], keys: Sequence[ObjectKey]) -> list[Mention]:
    """Every object mention in one sentence's tokens, left to right."""
    low = [w.lower() for w in words]
    forms = _head_forms(keys)
    heads = set(forms)
    found: list[Mention] = []
    for j, w in enumerate(low):
        if w not in forms:
            continue
        plural = forms[w][0][1]
        start, det = _phrase_start(low, j, heads)
        if det is None:
            # No determiner ("小猫跳", "Red crescent moves"): the name's own words
            # directly before the head still belong to the phrase.
            own = {POSITION_WORDS.get(x, x) for k, _ in forms[w] for x in k.modifiers}
            while start > 0 and POSITION_WORDS.get(low[start - 1], low[start - 1]) in own:
                start -= 1
        end, positions = _position_tail(low, j)
        span = {POSITION_WORDS.get(x, x) for x in low[start:j]} | positions
        if det is not None:
            span.discard(det)
        objects, candidates = _resolve([k for k, _ in forms[w]], span, plural)
        found.append(Mention(start, j, end, objects, plural, candidates, det))
    # "the teddy bear": if "teddy" and "bear" both name objects, the inner head is a
    # modifier of the outer phrase, not a mention of its own.
    return [
        m
        for m in found
        if not any(o is not m and o.objects and o.start <= m.head < o.head for o in found)
    ]


def _phrase_start(low: Sequence[str], head: int, heads: set[str]) -> tuple[int, str | None]:
    """Index where the noun phrase ending at ``head`` starts, and its determiner."""
    for k in range(head - 1, max(-1, head - 1 - _MAX_MODIFIERS), -1):
        t = low[k]
        if t in DETERMINERS:
            # "both the dogs": the quantifier stays outside; the subject parser skips it.
            return k, t
        if not is_word(t) or t in CONNECTORS or t in PREDICATE_BLOCKERS or t in heads or looks_like_verb(t):
            break
    # No determiner: only position words directly before the head belong to it.
    start = head
    while start > 0 and low[start - 1] in POSITION_WORDS:
        start -= 1
    return start, None


def _position_tail(low: Sequence[str], head: int) -> tuple[int, set[str]]:
    """A position phrase right after the head: "the dog on the left" -> (end, {"left"})."""
    tail = list(low[head + 1 : head + 4])
    if len(tail) == 3 and tail[0] in ("on", "at", "in") and tail[1] == "the" and tail[2] in POSITION_WORDS:
        end = head + 4
        if end < len(low) and low[end] in ("side", "edge", "corner"):
            end += 1
        return end, {POSITION_WORDS[tail[2]]}
    return head + 1, set()


_PLACES = frozenset(POSITION_WORDS.values())


def _descriptive(words: frozenset[str] | set[str]) -> set[str]:
    """Words that describe the object itself: not its place, not a number."""
    return {w for w in words if w not in _PLACES and not w.isdigit()}


def _resolve(
    keys: Sequence[ObjectKey], span: set[str], plural: bool
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(objects the phrase names, candidates when it is ambiguous)."""
    described = _descriptive(span)
    if plural:
        # "both dogs", "the balls": every object with this head whose descriptive
        # (non-position) name words the phrase carries; all of them if it carries none.
        fits = [k for k in keys if _descriptive(k.modifiers) <= described]
        return tuple(k.id for k in (fits if described and fits else keys)), ()
    strict = [k for k in keys if k.modifiers <= span]
    if strict:
        best = max(len(k.modifiers) for k in strict)
        top = [k for k in strict if len(k.modifiers) == best]
        if len(top) == 1:
            return (top[0].id,), ()
        placed = _by_place(top, span & _PLACES)
        return ((placed.id,), ()) if placed else ((), tuple(k.id for k in top))
    # "the crescent" for the only object named "... crescent"; a phrase with other
    # words ("the blue crescent") is about something else.
    if len(keys) == 1 and not described:
        return (keys[0].id,), ()
    # "the top bird" when the birds are named "bird 1", "bird 2": their places decide.
    loose = [k for k in keys if _descriptive(k.modifiers) <= described]
    placed = _by_place(loose, span & _PLACES) if len(loose) > 1 else None
    if placed:
        return (placed.id,), ()
    return (), tuple(k.id for k in keys)


def _by_place(keys: Sequence[ObjectKey], places: set[str]) -> ObjectKey | None:
    """The one object that is clearly the leftmost/topmost/... of ``keys``, if any."""
    if len(places) != 1 or any(k.position is None for k in keys):
        return None
    place = next(iter(places))
    if place == "middle":
        if len(keys) != 3:
            return None
        xs = sorted(keys, key=lambda k: k.position[0])  # type: ignore[index]
        ys = sorted(keys, key=lambda k: k.position[1])  # type: ignore[index]
        spread_x = xs[-1].position[0] - xs[0].position[0]  # type: ignore[index]
        spread_y = ys[-1].position[1] - ys[0].position[1]  # type: ignore[index]
        return (xs if spread_x >= spread_y else ys)[1]
    axis, sign = {"left": (0, 1), "right": (0, -1), "top": (1, 1), "bottom": (1, -1)}[place]
    ranked = sorted(keys, key=lambda k: sign * k.position[axis])  # type: ignore[index]
    gap = abs(ranked[1].position[axis] - ranked[0].position[axis])  # type: ignore[index]
    return ranked[0] if gap > 0.05 else None  # too close to call
