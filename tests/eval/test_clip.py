import logging

import numpy as np
import pytest

from maskmotion.errors import InputError
from maskmotion.eval.clip import ClipScorer, clip_scorer_or_none


def test_clip_scores_from_a_local_folder(clip_folder):
    scorer = ClipScorer(clip_folder)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    still = np.repeat(image[None], 4, axis=0)
    s = scorer.scores(still, "a red star slides left", image)
    assert s["clip_i"] == pytest.approx(100, abs=1e-3) and s["clip_cf"] == pytest.approx(100, abs=1e-3)
    noise = rng.integers(0, 256, (4, 48, 48, 3), dtype=np.uint8)
    n = scorer.scores(noise, "a red star slides left", image)
    assert n["clip_i"] < 99.9 and n["clip_cf"] < 99.9
    assert -100 <= n["clip_t"] <= 100
    # Same text, same frames: the same score (no hidden randomness).
    assert scorer.scores(noise, "a red star slides left", image) == n


def test_without_weights_scores_are_skipped_with_a_reason(monkeypatch, caplog, tmp_path):
    monkeypatch.delenv("MASKMOTION_CLIP", raising=False)
    with caplog.at_level(logging.INFO, logger="maskmotion.eval.clip"):
        assert clip_scorer_or_none(None) is None
    assert "--clip DIR" in caplog.text
    with pytest.raises(InputError, match="not a CLIP model folder"):
        ClipScorer(tmp_path)
