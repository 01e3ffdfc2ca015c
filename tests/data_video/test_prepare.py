"""`maskmotion prepare` on real clips: samples, stats, resume, filters, the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from clip_testing import TINY

from maskmotion.cli import main
from maskmotion.data.video import REASONS, FilterConfig, ShardSet, list_clips
from maskmotion.data.video import filters as checks
from maskmotion.errors import InputError
from maskmotion.prepare import PrepareOptions, prepare
from maskmotion.video import read_video


def test_prepared_samples_and_stats(prepared):
    stats = json.loads((prepared / "stats.json").read_text())
    assert stats["clips"] == 2 and stats["samples"] >= 4
    assert set(stats["dropped"]) == set(REASONS)
    assert sum(stats["objects_per_sample"]["counts"]) == stats["samples"]
    assert "Windows dropped, by reason" in (prepared / "stats.html").read_text()
    shards = ShardSet(f"shards:{prepared}/shards/*.tar", buffer=0)
    assert len(shards) == stats["samples"]
    captions = set()
    for i in range(len(shards)):
        sample = shards.sample(i)
        assert sample.video.shape == (5, 32, 32, 3) and sample.ids.shape == (5, 32, 32)
        assert sample.ids[0].any() and sample.meta["size"] == [5, 32, 32]
        # Objects move (the static filter kept none that stand still) and stay whole.
        assert max(checks.motion_amounts(sample.ids).values()) >= 0.01
        captions.add(sample.global_prompt)
        assert sample.motion_prompt == sample.global_prompt  # unnamed objects: the caption
    assert captions <= {"people ride bikes through the city", "a man talks on the phone in a car"}


def test_rerun_skips_finished_clips_and_rebuilds_the_same_shards(clip_folder, prepared, tmp_path):
    options = PrepareOptions(**TINY, max_windows=4, clips_per_shard=1)
    before = {p.name: p.read_bytes() for p in (prepared / "shards").glob("*.tar")}
    again = prepare(clip_folder, prepared, options, progress=False)
    assert again["run"]["clips_processed"] == 0
    # Lose one clip's record and shard (a run killed before packing): only it is redone.
    victim = sorted(before)[-1]
    (prepared / "shards" / victim).unlink()
    (prepared / "parts" / "carphone_pristine.json").unlink()
    redo = prepare(clip_folder, prepared, options, progress=False)
    assert redo["run"]["clips_processed"] == 1
    assert {p.name: p.read_bytes() for p in (prepared / "shards").glob("*.tar")} == before
    with pytest.raises(InputError, match="other options"):
        prepare(clip_folder, prepared, PrepareOptions(**{**TINY, "frames": 6}, clips_per_shard=1), progress=False)


def test_an_interrupted_run_keeps_the_finished_clips(clip_folder, tmp_path, monkeypatch):
    import maskmotion.prepare.job as job

    real = job.process_clip
    calls = []

    def stop_on_second(clip, options):
        calls.append(clip.key)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(clip, options)

    monkeypatch.setattr(job, "process_clip", stop_on_second)
    options = PrepareOptions(**TINY, max_windows=1)
    with pytest.raises(KeyboardInterrupt):
        prepare(clip_folder, tmp_path / "out", options, progress=False)
    assert [p.name for p in (tmp_path / "out" / "parts").glob("*.json")] == ["bikes.json"]
    monkeypatch.setattr(job, "process_clip", real)
    stats = prepare(clip_folder, tmp_path / "out", options, progress=False)
    assert stats["run"]["clips_processed"] == 1 and stats["clips"] == 2


def test_caption_list_prompts_reach_the_samples(clip_folder, tmp_path):
    rows = [{"id": "car", "video": str(clip_folder / "carphone_pristine.mp4"), "caption": "a man talks in a car",
             "motion_prompt": "the man nods"}]  # fmt: skip
    (tmp_path / "list.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    [clip] = list_clips(tmp_path / "list.jsonl")
    assert clip.key == "car" and clip.motion_prompt == "the man nods"
    prepare(tmp_path / "list.jsonl", tmp_path / "out", PrepareOptions(**TINY, max_windows=1), progress=False)
    sample = ShardSet(f"shards:{tmp_path}/out/shards/*.tar").sample(0)
    assert sample.global_prompt == "a man talks in a car" and sample.motion_prompt == "the man nods"
    assert sample.meta["source"]["clip"] == "car"


def test_filters_on_real_frames(clip_folder):
    car = read_video(clip_folder / "carphone_pristine.mp4")[:8]
    bikes = read_video(clip_folder / "bikes.mp4")[:8]
    import cv2

    bikes = np.stack([cv2.resize(f, (car.shape[2], car.shape[1])) for f in bikes])
    assert checks.scene_cut(car, 0.5) is None
    assert checks.scene_cut(np.concatenate([car[:5], bikes[:3]]), 0.5) == 5
    ids = np.zeros((4, 20, 20), np.uint8)
    ids[:, 5:10, 5:10] = 1
    cfg = FilterConfig()
    assert checks.check_track(ids, cfg) == "static"
    moving = ids.copy()
    moving[2:] = 0
    moving[2:, 5:10, 8:13] = 1
    assert checks.check_track(moving, cfg) is None
    lost = moving.copy()
    lost[3] = 0
    lost[3, 5, 8] = 1
    assert checks.check_track(lost, cfg) == "object lost"
    swapped = np.zeros((2, 20, 20), np.uint8)
    swapped[:, 2:8, 2:8] = 1
    swapped[:, 12:18, 12:18] = 2
    swapped[1] = np.where(swapped[0] == 1, 2, np.where(swapped[0] == 2, 1, 0))
    assert checks.check_track(swapped, cfg) == "identity swap"


def test_command_line(clip_folder, tmp_path, capsys):
    code = main(["prepare", str(clip_folder), "--out", str(tmp_path / "o"), "--frames", "5", "--height", "32",
                 "--width", "32", "--max-windows", "1", "-q"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0 and "samples from 2 clips" in out.out
    assert main(["prepare", str(tmp_path / "missing"), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    assert main(["prepare", str(clip_folder), "--out", str(tmp_path / "o3"), "--max-objects", "99"]) == 2
    assert "max_objects must be from 1 to" in capsys.readouterr().err
    assert main(["prepare", str(clip_folder), "--out", str(tmp_path / "o4"), "--workers", "2"]) == 2
    assert "needs --engine ray" in capsys.readouterr().err
