"""A run record given back with --plan names the weights it was made with; a new run
that loads other weights warns (no error) and its run record keeps both."""

import json
import logging

import torch

from maskmotion.cli import main
from maskmotion.models import MotionDiT, VideoDiT, motion_config, video_config
from maskmotion.models.io import save_model
from maskmotion.pipelines.provenance import model_differences, recorded_model


def _other_model(root):
    """A second tiny model folder with other random weights."""
    g = torch.Generator().manual_seed(123)
    for stage, model in (("motion", MotionDiT(motion_config("tiny"))), ("video", VideoDiT(video_config("tiny")))):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
        save_model(model, root / stage)
    return root


def _record(path):
    return json.loads(path.read_text())


def test_rendering_a_plan_with_other_weights_warns_and_records_both(tmp_path, assets, caplog):
    other = _other_model(tmp_path / "other")
    common = ["--text-model", str(assets.text), "--steps", "1", "--quiet"]
    names = [a for n in assets.names for a in ("--object", n)]
    first = ["animate", str(assets.image), "--prompt", assets.prompt, "--masks", str(assets.masks), *names]
    assert main([*first, "--model", str(assets.model), "--renderer", "model", *common, "--out", str(tmp_path / "a.mp4")]) == 0
    made = recorded_model(tmp_path / "a.plan.json")
    assert set(made) >= {"motion", "video"}

    # The same weights again: no warning, nothing differs.
    again = ["animate", str(assets.image), "--plan", str(tmp_path / "a.plan.json"), "--renderer", "model", *common]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main([*again, "--model", str(assets.model), "--out", str(tmp_path / "same.mp4")]) == 0
    assert "other weights" not in caplog.text
    source = _record(tmp_path / "same.plan.json")["plan_source"]
    assert source["model_compared"] and source["model_differences"] == []

    # Other weights: a warning naming both stages, exit 0, and the record keeps both.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main([*again, "--model", str(other), "--out", str(tmp_path / "b.mp4")]) == 0
    assert "made with other weights" in caplog.text and "motion weights sha256" in caplog.text
    record = _record(tmp_path / "b.plan.json")
    assert record["plan_source"]["model"] == made
    assert record["model"]["motion"]["sha256"] != made["motion"]["sha256"]
    assert len(record["plan_source"]["model_differences"]) == 2  # motion and video

    # render --plan: stage 2 only, compared with the record's stage 2.
    render = ["render", str(assets.image), "--trajectory", str(tmp_path / "a.trajectory.npz"),
              "--plan", str(tmp_path / "a.plan.json"), "--renderer", "model", *common]  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main([*render, "--model", str(other), "--out", str(tmp_path / "r.mp4")]) == 0
    assert "video weights sha256" in caplog.text and "motion weights" not in caplog.text
    assert _record(tmp_path / "r.plan.json")["plan_source"]["model_differences"][0].startswith("video weights")


def test_model_differences_between_records():
    small = {"motion": {"sha256": "a" * 64}, "video": {"sha256": "b" * 64}}
    assert model_differences(small, small) == ([], True)
    assert model_differences({"motion": {"sha256": "a" * 64}}, {"video": {"sha256": "b" * 64}}) == ([], False)
    diffs, compared = model_differences(small, {**small, "video": {"sha256": "c" * 64}})
    assert compared and len(diffs) == 1 and diffs[0].startswith("video weights")
    wan = {"backbone": "wan", "weights": "/w", "stages": ["motion"], "config_sha256": "1" * 64}
    assert model_differences(wan, wan) == ([], True)
    assert "config fingerprint" in model_differences(wan, {**wan, "config_sha256": "2" * 64})[0][0]
    assert "backbone wan" in model_differences(wan, small)[0][0]
