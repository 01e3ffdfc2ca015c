"""The rule-based planner: offline, deterministic, no model.

It reads the global prompt as a list of clauses "SUBJECT PREDICATE", where the subject is
one or more object mentions ("the red crescent", "a dog and a cat", "both dogs") and
the predicate is what they do ("gently moves up"). Then:

- motion prompt: every object clause, objects by short name ("the red crescent gently
  moves up while the green cross slowly follows the red crescent");
- local prompt of object i: "the <richest description of i in the prompt> <its
  predicates>" ("the big red polka-dot crescent gently moves up").

docs/plan.md lists the rules with examples.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

from .phrases import (
    CONNECTORS,
    LEAD_WORDS,
    PREDICATE_BLOCKERS,
    QUANTIFIERS,
    Mention,
    ObjectKey,
    detokenize,
    find_mentions,
    is_adverb,
    is_word,
    looks_like_verb,
    object_key,
    sentences,
    singular_verb,
    tokenize,
)
from .positions import centroids
from .scene_plan import PlannedObject, PlanRequest, ScenePlan

logger = logging.getLogger(__name__)

STILL = "stays still"  # the motion of an object the prompt gives none (sprites' "stay")

# A comma tail that only places the scene ("..., on a plain olive background").
_SCENE_PREPOSITIONS = frozenset("on in against over under across inside near behind with".split())
_SCENE_NOUNS = frozenset("background backdrop backgrounds scene setting".split())
_SKIP_IN_LOCAL = frozenset({"both", "all", "each", "also", "then"})
# Openings that frame a clause without being part of it ("In this video the dog jumps").
_LEAD_PHRASES: tuple[tuple[str, ...], ...] = tuple(
    tuple(p.split())
    for p in (
        "in this video", "in the video", "in this clip", "in the clip", "in this footage", "in the footage",
        "in this scene", "in the scene", "we see that", "we see", "you can see", "you see", "watch as", "look",
        "here", "at the same time",
    )
)
# A subject that names no object by itself: "it" or a placeholder noun. It stands for
# the only object, or ("it") for the subject of the clause before.
_PRONOUNS = frozenset({"it"})
_PLACEHOLDERS = frozenset({"object", "thing", "shape", "item"})
# Words that start a clause after them only when a verb follows the subject: "the dog
# jumps after the cat lands", but "the cat runs after the dog, and ...".
_PREPOSITION_CONNECTORS = frozenset({"after", "before", "until"})


@dataclass
class Clause:
    """One "SUBJECT PREDICATE" clause of a sentence.

    ``subjects`` are the object ids the subject names, () for a clause about something
    that is not an object ("the sun sets"). ``joiner`` is the tokens that joined it to
    the previous clause of the same sentence (",", "while", ", and then"), None for the
    first clause of a sentence.
    """

    words: list[str] = field(repr=False)
    start: int  # first token of the subject
    subject_mentions: list[Mention]
    subjects: tuple[int, ...]
    pred_start: int
    pred_end: int
    lead: list[str]
    joiner: list[str] | None
    plural: bool
    mentions: list[Mention] = field(default_factory=list, repr=False)  # inside the predicate

    @property
    def predicate(self) -> list[str]:
        return self.words[self.pred_start : self.pred_end]

    @property
    def text(self) -> str:
        return detokenize(self.words[self.start : self.pred_end])


@dataclass
class ParsedPrompt:
    """All clauses and all mentions of a prompt, sentence by sentence."""

    sentences: list[list[str]]
    clauses: list[Clause]
    mentions: list[list[Mention]]  # per sentence


# ---- parsing --------------------------------------------------------------------------
def parse_prompt(text: str, keys: Sequence[ObjectKey]) -> ParsedPrompt:
    """Split ``text`` into clauses and object mentions."""
    sents = sentences(tokenize(text))
    clauses: list[Clause] = []
    mentions: list[list[Mention]] = []
    last: tuple[int, ...] = ()  # the subject of the clause before, for "it"
    for words in sents:
        ms = find_mentions(words, keys)
        found = _parse_sentence(words, ms)
        extra = _pronoun_mentions(words, ms, found, keys, last)
        if extra:
            ms = sorted(ms + extra, key=lambda m: m.start)
            found = _parse_sentence(words, ms)
        mentions.append(ms)
        clauses.extend(found)
        for c in found:
            if c.subjects:
                last = c.subjects
    return ParsedPrompt(sents, clauses, mentions)


def _pronoun_mentions(
    words: list[str], mentions: list[Mention], clauses: list[Clause], keys: Sequence[ObjectKey],
    last: tuple[int, ...],
) -> list[Mention]:
    """Mentions for subjects that name no object: "it" and "the object/thing/shape/item"
    stand for the only object of the scene; "it" with several objects for the single
    object that was the subject of the clause before. Only at a clause start."""
    low = [w.lower() for w in words]
    taken = {k for m in mentions for k in range(m.start, m.end)}
    out: list[Mention] = []
    for j, w in enumerate(low):
        placeholder = w in ("the", "this") and j + 1 < len(low) and low[j + 1] in _PLACEHOLDERS
        if not (w in _PRONOUNS or placeholder) or j in taken:
            continue
        if not _at_clause_start(low, j):
            continue
        if len(keys) == 1:
            target: tuple[int, ...] = (keys[0].id,)
        elif w in _PRONOUNS:
            before = [c.subjects for c in clauses if c.start < j and c.subjects]
            target = before[-1] if before else last
            if len(target) != 1:
                continue
        else:
            continue
        end = j + (2 if placeholder else 1)
        out.append(Mention(start=j, head=end - 1, end=end, objects=target, plural=False,
                           determiner=w if placeholder else None))
    return out


def _at_clause_start(low: list[str], j: int) -> bool:
    """Whether token ``j`` may open a clause: the sentence start, after a connector or
    after opening words."""
    k = j
    while True:
        if k == 0:
            return True
        prev = low[k - 1]
        if prev in CONNECTORS and prev not in _PREPOSITION_CONNECTORS:
            return True
        if prev in LEAD_WORDS or is_adverb(prev):
            k -= 1
            continue
        phrase = next((p for p in _LEAD_PHRASES if tuple(low[max(0, k - len(p)) : k]) == p), None)
        if phrase is None:
            return False
        k -= len(phrase)


def _parse_sentence(words: list[str], mentions: list[Mention]) -> list[Clause]:
    low = [w.lower() for w in words]
    by_start = {m.start: m for m in mentions}
    heads = {m.head for m in mentions}
    # A clause may start at the sentence start or right after a connector.
    starts = sorted({0} | {i + 1 for i, t in enumerate(low) if t in CONNECTORS and i + 1 < len(low)})
    found: list[tuple[int, int, list[Mention], list[str], int]] = []  # (pos, subj, mentions, lead, pred)
    skip_until = 0
    for p in starts:
        if p < skip_until:
            continue
        parsed = _subject_clause(low, p, by_start)
        if parsed is not None and p > 0 and low[p - 1] in _PREPOSITION_CONNECTORS:
            # "runs after the dog, and a cat ...": a clause only if a verb follows one subject.
            _, group, _, pred = parsed
            verb = pred + 1 if is_adverb(low[pred]) and pred + 1 < len(low) else pred
            if len(group) != 1 or not looks_like_verb(low[verb]):
                continue
        if parsed is None:
            parsed = _foreign_clause(low, p, heads)
        if parsed is None:
            continue
        subj_start, group, lead, pred = parsed
        found.append((p, subj_start, group, lead, pred))
        skip_until = pred  # connectors inside a subject group ("a dog and a cat") start nothing
    clauses = []
    prev_end = None
    for k, (p, subj_start, group, lead, pred) in enumerate(found):
        end = found[k + 1][0] if k + 1 < len(found) else len(words)
        end = _trim_end(low, pred, end)
        joiner = None if prev_end is None else [w.lower() for w in words[prev_end:subj_start]]
        objects: list[int] = []
        for m in group:
            objects.extend(i for i in m.objects if i not in objects)
        inside = [m for m in mentions if m.start >= pred and m.end <= end]
        clauses.append(
            Clause(
                words=words,
                start=subj_start,
                subject_mentions=group,
                subjects=tuple(objects),
                pred_start=pred,
                pred_end=end,
                lead=lead,
                joiner=joiner,
                plural=len(group) > 1 or any(m.plural for m in group),
                mentions=inside,
            )
        )
        prev_end = end
    return clauses


def _skip_lead(low: list[str], p: int, by_start: dict[int, Mention]) -> tuple[int, list[str]]:
    """Skip opening words ("then", "suddenly", "in this video", "slowly,") before a
    subject; adverbs among them are kept as ``lead``."""
    q, lead = p, []
    while q < len(low) and q not in by_start:
        phrase = next((ph for ph in _LEAD_PHRASES if tuple(low[q : q + len(ph)]) == ph), None)
        if phrase is not None:
            q += len(phrase)
        elif low[q] in LEAD_WORDS or is_adverb(low[q]):
            lead.append(low[q])
            q += 1
        elif low[q] == "," and (lead or q > p):
            q += 1  # "Slowly, the dog ...", "In the video, the dog ..."
        else:
            break
    return q, lead


def _subject_clause(
    low: list[str], p: int, by_start: dict[int, Mention]
) -> tuple[int, list[Mention], list[str], int] | None:
    """(subject start, subject mentions, lead words, predicate start) or None."""
    q, lead = _skip_lead(low, p, by_start)
    while q < len(low) and low[q] in QUANTIFIERS and q not in by_start:  # "both the dog and ..."
        q += 1
    if q not in by_start:
        return None
    subj_start = q
    group: list[Mention] = []
    while q in by_start:
        m = by_start[q]
        group.append(m)
        q = m.end
        r = q + 1 if q < len(low) and low[q] == "," else q
        r = r + 1 if r < len(low) and low[r] == "and" else r
        if r == q or r not in by_start:
            break
        q = r
    while q < len(low) and low[q] in QUANTIFIERS:  # "the dogs both jump"
        q += 1
    if q >= len(low) or not is_word(low[q]) or low[q] in PREDICATE_BLOCKERS:
        return None
    if low[q] in CONNECTORS and low[q] != "then":  # "the bear then sits down" is a clause
        return None
    if q in by_start:  # two noun phrases in a row: not a clause we understand
        return None
    return subj_start, group, lead, q


def _foreign_clause(low: list[str], p: int, heads: set[int]) -> tuple[int, list[Mention], list[str], int] | None:
    """A clause whose subject is not an object: 'the sun slowly sets'.

    Only recognised as determiner + up to 4 words + a verb-like word, so a list of
    things ("a dog on a plain background") is not mistaken for one.
    """
    q, lead = _skip_lead(low, p, {})
    if q >= len(low) or low[q] not in {"the", "a", "an", "its", "his", "her", "their"}:
        return None
    for k in range(q + 1, min(len(low), q + 6)):
        t = low[k]
        if not is_word(t) or t in CONNECTORS or t in PREDICATE_BLOCKERS or k in heads:
            return None
        if k > q + 1 and (looks_like_verb(t) or (is_adverb(t) and k + 1 < len(low) and looks_like_verb(low[k + 1]))):
            return q, [], lead, k
    return None


def _trim_end(low: list[str], pred: int, end: int) -> int:
    """Drop trailing connectors and a comma tail that only places the scene."""
    for k in range(pred, end):
        if low[k] == "," and k + 1 < end and low[k + 1] in _SCENE_PREPOSITIONS:
            if any(w in _SCENE_NOUNS for w in low[k + 1 : end]):
                end = k
                break
    while end > pred and (low[end - 1] in CONNECTORS or low[end - 1] in LEAD_WORDS):
        end -= 1
    return end


# ---- writing --------------------------------------------------------------------------
def _predicate_words(clause: Clause, keys: dict[int, ObjectKey], short: bool) -> list[str]:
    """The predicate with object mentions as short names ("the red crescent") when
    ``short``; as written otherwise."""
    out: list[str] = []
    k = clause.pred_start
    starts = {m.start: m for m in clause.mentions}
    while k < clause.pred_end:
        m = starts.get(k)
        if short and m is not None and m.objects and m.end <= clause.pred_end:
            out.extend(_short_list([keys[i] for i in m.objects]).split())
            k = m.end
            continue
        out.append(clause.words[k])
        k += 1
    return out


def _short_list(keys: Sequence[ObjectKey]) -> str:
    names = [k.short for k in keys]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _singular(words: list[str]) -> list[str]:
    """Predicate of a plural subject, for one of its objects: 'both jump' -> 'jumps'."""
    out = [w for w in words]
    for k, w in enumerate(out):
        if is_adverb(w) or w.lower() in _SKIP_IN_LOCAL or w.lower() == "together":
            continue
        out[k] = singular_verb(w)
        break
    return out


def _for_one(words: list[str], others: list[ObjectKey]) -> list[str]:
    """A group's predicate for one member: 'chase each other' -> 'chases the cat'."""
    low = [w.lower() for w in words]
    text: list[str] = []
    k = 0
    while k < len(words):
        pair = " ".join(low[k : k + 2])
        if others and pair in ("each other", "one another"):
            text.extend(_short_list(others).split())
            k += 2
            continue
        if others and low[k] == "together" and (k + 1 >= len(low) or low[k + 1] != "with"):
            text.extend(["together", "with", *_short_list(others).split()])
            k += 1
            continue
        if low[k] in QUANTIFIERS and k == 0:
            k += 1
            continue
        text.append(words[k])
        k += 1
    return _singular(text)


def _sentence_case(text: str) -> str:
    text = text.strip().rstrip(",;: ")
    if not text:
        return text
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def _join(joiner: list[str] | None) -> str:
    if not joiner:
        return ", "
    out = ""
    for t in joiner:
        out += t if t == "," else f" {t}"
    return out + " "


def _appearance(obj: ObjectKey, parsed: ParsedPrompt) -> str:
    """The richest singular noun phrase naming ``obj``, without its determiner."""
    best: list[str] | None = None
    name_words = {w.lower() for w in obj.name.split()}
    for words, ms in zip(parsed.sentences, parsed.mentions):
        for m in ms:
            if m.objects != (obj.id,) or m.plural or words[m.head].lower() in _PRONOUNS | _PLACEHOLDERS:
                continue
            start = m.start + (1 if m.determiner else 0)
            # Lower-case the name's own words ("Dog" at a sentence start), keep the rest.
            phrase = [w.lower() if w.lower() in name_words else w for w in words[start : m.end]]
            if best is None or len(phrase) > len(best):
                best = phrase
    return detokenize(best) if best else obj.name


@dataclass
class _Draft:
    motion_parts: list[str] = field(default_factory=list)
    predicates: dict[int, list[str]] = field(default_factory=dict)  # id -> its predicates
    affected: dict[int, list[str]] = field(default_factory=dict)  # id -> clauses about it
    warnings: list[str] = field(default_factory=list)

    def add_motion(self, text: str) -> None:
        if self.motion_parts:
            self.motion_parts.append(", ")
        self.motion_parts.append(text)

    def warn(self, message: str) -> None:
        logger.warning("plan: %s", message)
        self.warnings.append(message)


class RulePlanner:
    """Rule-based planner (see the module docstring and docs/plan.md)."""

    name = "rules"

    def plan(self, request: PlanRequest) -> ScenePlan:
        h, w = request.first_ids.shape
        where = centroids(request.first_ids, [o.id for o in request.objects])
        keys = {
            o.id: object_key(o.id, o.name, (where[o.id][0] / w, where[o.id][1] / h)) for o in request.objects
        }
        parsed = parse_prompt(request.global_prompt, list(keys.values()))
        draft = _Draft()
        self._read_clauses(parsed, keys, draft)
        objects = []
        for o in request.objects:
            key = keys[o.id]
            preds = draft.predicates.get(o.id)
            if o.local_prompt.strip():
                local = o.local_prompt.strip()
                if not preds:  # the prompt says nothing: the user's words give the motion
                    draft.add_motion(_motion_from_local(local, key))
            elif preds:
                local = f"the {_appearance(key, parsed)} {' and '.join(preds)}"
            elif o.id in draft.affected:
                # Only something else acts on it ("the girl throws the ball"): that is
                # its story; better than "stays still" for a thing that may well move.
                local = " and ".join(dict.fromkeys(draft.affected[o.id]))
                draft.warn(f"{o.name!r} does nothing itself; its local prompt is what happens to it: {local!r}")
            else:
                draft.warn(_no_motion_message(o.name, _mentioned(o.id, parsed)))
                local = f"the {_appearance(key, parsed)} {STILL}"
                draft.add_motion(f"{key.short} {STILL}")
            objects.append(PlannedObject(o.id, o.name, local))
        motion = "".join(draft.motion_parts)
        return ScenePlan(
            global_prompt=request.global_prompt,
            motion_prompt=_sentence_case(motion),
            objects=tuple(objects),
            first_ids=request.first_ids,
            source=self.name,
            warnings=tuple(draft.warnings),
        )

    @staticmethod
    def _read_clauses(parsed: ParsedPrompt, keys: dict[int, ObjectKey], draft: _Draft) -> None:
        prev_sentence = None
        for clause in parsed.clauses:
            for m in clause.subject_mentions:
                if m.ambiguous:
                    names = [keys[i].name for i in m.candidates]
                    draft.warn(
                        f"{detokenize(clause.words[m.start:m.end])!r} in {clause.text!r} could be any of "
                        f"{names}; name one (e.g. 'the {names[0]}')"
                    )
            if not clause.subjects:
                named = sorted({i for m in clause.mentions for i in m.objects})
                if clause.subject_mentions:
                    continue  # every subject was ambiguous: warned above
                if not named:
                    draft.warn(
                        f"{clause.text!r} names no object, so only the global prompt keeps it; "
                        "name the object it is about, or mark that thing as an object"
                    )
                    continue
                # "the ball hits the dog" (the ball is no object): about an object, but
                # not its own motion. The motion prompt keeps it; an object with no
                # clause of its own gets it as its local prompt (see `plan`).
                subject = clause.words[clause.start : clause.pred_start]
                text = detokenize([subject[0].lower(), *subject[1:], *_predicate_words(clause, keys, short=True)])
                for i in named:
                    draft.affected.setdefault(i, []).append(clause.text[:1].lower() + clause.text[1:])
            else:
                subjects = [keys[i] for i in clause.subjects]
                for m in clause.mentions:
                    for i in m.objects:
                        if i not in clause.subjects:
                            draft.affected.setdefault(i, []).append(clause.text[:1].lower() + clause.text[1:])
                pred = _predicate_words(clause, keys, short=True)
                if clause.plural and len(subjects) == 1:
                    pred = _singular(pred)
                text = f"{_short_list(subjects)} {detokenize(pred)}"
                written = clause.predicate
                adverbs = [w for w in clause.lead if is_adverb(w)]
                for i in clause.subjects:
                    others = [keys[j] for j in clause.subjects if j != i]
                    words = _for_one(written, others) if clause.plural else list(written)
                    draft.predicates.setdefault(i, []).append(detokenize(adverbs + words))
            same_sentence = prev_sentence is not None and prev_sentence is clause.words
            if not same_sentence:
                # A sentence's lead words ("Suddenly the dog ...") stay in the motion prompt.
                text = detokenize([w for w in clause.lead if w != "and"] + [text])
            if draft.motion_parts:
                draft.motion_parts.append(_join(clause.joiner if same_sentence else None))
            draft.motion_parts.append(text)
            prev_sentence = clause.words


def _mentioned(object_id: int, parsed: ParsedPrompt) -> bool:
    return any(object_id in m.objects or object_id in m.candidates for ms in parsed.mentions for m in ms)


def _no_motion_message(name: str, mentioned: bool) -> str:
    """Why an object is planned as staying still: its name never matched a word of the
    prompt, or it did but no clause gave it motion words."""
    fix = f"say what it does in the prompt or give it a local prompt (--object \"{name}: ...\")"
    if not mentioned:
        return f"the prompt gives {name!r} no motion: no word of it matches that name, so it stays still; {fix}"
    return (
        f"the prompt gives {name!r} no motion: it names it, but no motion words for it were found (the rule "
        f"planner reads clauses such as 'the {name} jumps'), so it stays still; {fix}"
    )


def _motion_from_local(local: str, key: ObjectKey) -> str:
    """The motion-prompt clause for an object whose only motion is the user's local
    prompt: 'the black dog runs left' -> 'the dog runs left'."""
    parsed = parse_prompt(local, [key])
    for clause in parsed.clauses:
        if clause.subjects == (key.id,):
            pred = clause.predicate
            if clause.plural:
                pred = _singular(pred)
            return f"{key.short} {detokenize(pred)}"
    text = local.strip().rstrip(".")
    return text[:1].lower() + text[1:]
