"""Where objects sit in the first frame, in words: the planners use it to tell two
objects of the same name apart ("the left dog", "the right dog")."""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)


def centroids(first_ids: np.ndarray, ids: Sequence[int]) -> dict[int, tuple[float, float]]:
    """Per id: (x, y) centroid in pixels; ids without pixels are left out."""
    out = {}
    for i in ids:
        ys, xs = np.nonzero(first_ids == i)
        if len(xs):
            out[int(i)] = (float(xs.mean()), float(ys.mean()))
    return out


def describe_position(xy: tuple[float, float], size: tuple[int, int]) -> str:
    """'top left', 'middle', 'bottom right'... for a point in an (H, W) frame."""
    h, w = size
    col = ("left", "middle", "right")[min(2, int(3 * xy[0] / max(w, 1)))]
    row = ("top", "middle", "bottom")[min(2, int(3 * xy[1] / max(h, 1)))]
    if row == col == "middle":
        return "middle"
    if row == "middle":
        return f"middle {col}"
    if col == "middle":
        return f"{row} middle"
    return f"{row} {col}"


def _rank_words(count: int, low: str, high: str) -> list[str] | None:
    if count == 2:
        return [low, high]
    if count == 3:
        return [low, "middle", high]
    return None


def unique_names(named: Sequence[tuple[int, str]], first_ids: np.ndarray) -> dict[int, str]:
    """Names made unique by position, for (id, name) pairs.

    Same-named objects get position words: two 'dog's become 'left dog' and 'right dog'
    ('top'/'bottom' when they are stacked), three get 'middle' too, more get numbers
    left to right ('dog 1', 'dog 2', ...). Unique names are kept as they are.
    """
    groups: dict[str, list[tuple[int, str]]] = {}
    for i, name in named:
        groups.setdefault(name.strip().lower(), []).append((i, name.strip()))
    out = {i: name for i, name in named}
    taken = set(out.values())
    where = centroids(first_ids, [i for i, _ in named])
    h, w = first_ids.shape
    for group in groups.values():
        if len(group) < 2:
            continue
        pts = [where.get(i, (0.0, 0.0)) for i, _ in group]
        xs = [p[0] / w for p in pts]
        ys = [p[1] / h for p in pts]
        # Order along the axis the objects are spread on.
        horizontal = (max(xs) - min(xs)) >= (max(ys) - min(ys))
        key = xs if horizontal else ys
        order = sorted(range(len(group)), key=lambda k: (key[k], k))
        words = _rank_words(len(group), *(("left", "right") if horizontal else ("top", "bottom")))
        distinct = len({round(v, 3) for v in key}) == len(group)
        if words is not None and distinct:
            names = {group[k][0]: f"{words[r]} {group[k][1]}" for r, k in enumerate(order)}
        else:
            names = {}
        if not names or set(names.values()) & taken:
            order = sorted(range(len(group)), key=lambda k: (xs[k], ys[k], k))
            names = {group[k][0]: f"{group[k][1]} {r + 1}" for r, k in enumerate(order)}
        out.update(names)
        taken |= set(names.values())
        logger.info("same-named objects renamed by position: %s", sorted(names.values()))
    return out
