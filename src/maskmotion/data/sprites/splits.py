"""Which seeds belong to which split: the one place that decides it.

Seed ranges, fixed forever (changing them would leak test scenes into training):

    test        [0, 10_000)
    validation  [10_000, 20_000)
    train       [20_000, 2**31)

Ranges rather than hashes make a split easy to read off a seed and let later code ask
for "the first N validation scenes" cheaply. Code that needs seeds asks `seeds_for`
`seed_at` or `split_seeds`, which refuse to hand out a seed of another split.
"""

from __future__ import annotations

from ...errors import InputError

SPLITS: dict[str, tuple[int, int]] = {
    "test": (0, 10_000),
    "validation": (10_000, 20_000),
    "train": (20_000, 2**31),
}
ALIASES = {"val": "validation", "valid": "validation", "eval": "validation"}


class SplitError(InputError):
    """A seed asked for from a split it does not belong to."""


def canonical_split(split: str) -> str:
    name = ALIASES.get(split, split)
    if name not in SPLITS:
        raise SplitError(f"unknown split {split!r}; choose from {sorted(SPLITS)} (or 'val')")
    return name


def split_of(seed: int) -> str:
    for name, (lo, hi) in SPLITS.items():
        if lo <= seed < hi:
            return name
    raise SplitError(f"seed {seed} is in no split; seeds are in [0, {2**31})")


def check_seed(seed: int, split: str) -> int:
    """Return ``seed`` if it belongs to ``split``; raise `SplitError` otherwise."""
    name = canonical_split(split)
    lo, hi = SPLITS[name]
    if not lo <= seed < hi:
        raise SplitError(f"seed {seed} belongs to {split_of(seed)!r}, not {name!r} ([{lo}, {hi}))")
    return seed


def split_seeds(split: str) -> range:
    """Every seed of ``split``, as a range."""
    lo, hi = SPLITS[canonical_split(split)]
    return range(lo, hi)


def seed_at(split: str, index: int) -> int:
    """The ``index``-th seed of ``split``."""
    name = canonical_split(split)
    lo, hi = SPLITS[name]
    if index < 0 or lo + index >= hi:
        raise SplitError(f"index {index} is outside split {name!r}, which holds {hi - lo} seeds")
    return lo + index


def seeds_for(split: str, count: int, start: int = 0) -> range:
    """``count`` consecutive seeds of ``split`` from its ``start``-th; refuses to cross."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    first = seed_at(split, start)
    if count:
        seed_at(split, start + count - 1)  # raises if the range runs past the split
    return range(first, first + count)
