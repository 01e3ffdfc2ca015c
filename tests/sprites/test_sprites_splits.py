"""The split rule: disjoint seed ranges, and nothing hands out a seed across them."""

from __future__ import annotations

import pytest

from maskmotion.data.sprites import SPLITS, SplitError, SpritesDataset, check_seed, seed_at, seeds_for, split_of, split_seeds
from maskmotion.errors import InputError


def test_ranges_are_disjoint_and_ordered() -> None:
    spans = sorted(SPLITS.values())
    assert spans[0][0] == 0
    for (lo, hi), (lo2, _) in zip(spans, spans[1:]):
        assert lo < hi == lo2
    assert split_of(0) == "test" and split_of(9_999) == "test"
    assert split_of(10_000) == "validation" and split_of(20_000) == "train"


def test_refuses_crossing() -> None:
    assert check_seed(10_500, "val") == 10_500
    with pytest.raises(SplitError):
        check_seed(5, "train")
    with pytest.raises(SplitError):
        check_seed(20_000, "validation")
    with pytest.raises(SplitError):
        seeds_for("test", 11, start=9_990)  # would run into validation
    assert list(seeds_for("test", 10, start=9_990)) == list(range(9_990, 10_000))
    with pytest.raises(SplitError):
        seed_at("validation", 10_000)
    with pytest.raises(SplitError):
        split_of(-1)
    with pytest.raises(SplitError):
        split_seeds("holdout")
    assert issubclass(SplitError, InputError)  # the CLI reports it as bad input


def test_dataset_stays_in_its_split() -> None:
    ds = SpritesDataset("test", 5, start=9_995)
    assert all(split_of(s) == "test" for s in ds.seeds)
    with pytest.raises(SplitError):
        SpritesDataset("test", 6, start=9_995)
    assert split_seeds("train").start == 20_000
