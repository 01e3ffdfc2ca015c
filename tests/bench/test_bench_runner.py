import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from maskmotion.bench import BenchConfig, load_suite, resolve_variant, run_bench, score_sample
from maskmotion.errors import InputError
from maskmotion.trajectory import MaskTrajectory, TrajectoryObject


def _config(out, weights, **kw):
    base = dict(suite="sprites-test:2", variants=["ttm-paper", "ti2v", "flow", "warp", "reference"], out=str(out),
                seeds=[0], weights=str(weights), steps=2)
    return BenchConfig(**{**base, **kw})


def test_bench_runs_every_variant_writes_the_report_and_resumes(tmp_path, variant_weights):
    out = tmp_path / "bench"
    results = run_bench(_config(out, variant_weights), progress=False)
    names = ["ttm-paper", "ti2v", "flow", "warp", "reference"]
    assert list(results["variants"]) == names
    ref = results["variants"]["reference"]["all"]
    assert ref["gt_iou"] > 0.8 and ref["psnr"] is None and ref["cond_iou"] is None
    for v in names:
        summary = results["variants"][v]
        assert summary["all"]["samples"] == 2
        assert set(summary["by_object_count"])  # split by object count
        assert 0 <= summary["all"]["gt_iou"] <= 1 and summary["fvd"] is not None
    # TI2V is not conditioned on the motion: no IoU against a condition.
    assert results["variants"]["ti2v"]["all"]["cond_iou"] is None
    assert results["variants"]["warp"]["all"]["cond_iou"] > 0.8  # the warp follows its trajectory
    for name in ("results.json", "results.md", "report.html", "bench.json"):
        assert (out / name).is_file()
    assert any((out / "plots").glob("*.png"))
    table = (out / "results.md").read_text()
    assert all(f"| {v} |" in table for v in names) and "by number of objects" in table
    page = (out / "report.html").read_text()
    for case in load_suite("sprites-test:2"):
        for v in names:
            assert f"videos/{case.case_id}/{v}_s0.gif" in page
            assert (out / "videos" / case.case_id / f"{v}_s0.gif").is_file()

    # Resume: nothing is redone; a new seed adds only its samples.
    stamps = {p: p.stat().st_mtime_ns for p in (out / "records").rglob("*.json")}
    run_bench(_config(out, variant_weights), progress=False)
    assert {p: p.stat().st_mtime_ns for p in (out / "records").rglob("*.json")} == stamps
    run_bench(_config(out, variant_weights, seeds=[0, 1], variants=["warp"]), progress=False)
    assert len(list((out / "records" / "warp").glob("*.json"))) == 4
    assert "By sampling seed" in (out / "results.md").read_text()
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    # Other settings in the same folder would mix samples: refused.
    with pytest.raises(InputError, match="other settings"):
        run_bench(_config(out, variant_weights, steps=3), progress=False)
    # Retrained weights under a name already sampled would mix two models: refused too.
    import shutil

    from maskmotion.models.io import load_model, save_model

    other = tmp_path / "other"
    shutil.copytree(variant_weights, other)
    again = tmp_path / "again"
    run_bench(_config(again, other, variants=["flow"], suite="sprites-test:1"), progress=False)
    model = load_model(other / "flow")
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    save_model(model, other / "flow")
    with pytest.raises(InputError, match=r"other settings \(the weights of flow\)"):
        run_bench(_config(again, other, variants=["flow"], suite="sprites-test:1"), progress=False)


def test_workers_in_separate_processes_give_the_same_records(tmp_path, variant_weights):
    one = run_bench(_config(tmp_path / "one", variant_weights, variants=["ttm-paper", "warp"]), progress=False)
    two = run_bench(_config(tmp_path / "two", variant_weights, variants=["ttm-paper", "warp"], workers=2), progress=False)
    for v in ("ttm-paper", "warp"):
        assert one["variants"][v]["all"] == _close(two["variants"][v]["all"])


def test_ground_truth_scores_top_and_a_frozen_video_does_not():
    case = load_suite("sprites-test:6")[5]
    traj = MaskTrajectory(case.reference_ids, [TrajectoryObject(i, n, p) for i, n, p in case.objects])
    variant = resolve_variant("warp")
    perfect = score_sample(case, traj, case.reference_video, variant, ["first_frame", "trajectory"])
    assert all(o["adherent"] for o in perfect["objects"])
    assert min(o["gt_iou"] for o in perfect["objects"]) > 0.8
    assert perfect["video"]["psnr"] > 60 and perfect["video"]["ssim"] > 0.999
    frozen = np.repeat(case.image[None], 16, axis=0)
    still = score_sample(case, traj, frozen, variant, ["first_frame"])
    moving = [o for o in still["objects"] if o["kind"] not in ("stay", "recolour")]
    assert moving and not any(o["adherent"] for o in moving)
    assert still["video"]["ad"] < 0.05 < perfect["video"]["ad"]
    assert "cond_iou" not in still["objects"][0]


def test_unknown_variants_and_bad_settings_are_clear_errors(tmp_path, variant_weights):
    with pytest.raises(InputError, match="no weights for variant 'nope'.*ttm-paper"):
        resolve_variant("nope", variant_weights)
    with pytest.raises(InputError, match="twice"):
        run_bench(_config(tmp_path, variant_weights, variants=["warp", "warp"]))
    with pytest.raises(InputError, match="not a model folder"):
        resolve_variant(str(tmp_path))


def test_bench_command_line_on_a_manifest(tmp_path, variant_weights):
    from maskmotion.bench import write_sprites_manifest

    manifest = write_sprites_manifest(tmp_path / "suite", "test", 2)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "maskmotion.cli", "bench", "--suite", str(manifest), "--variants", "flow,warp",
           "--weights", str(variant_weights), "--out", str(out), "--steps", "2", "--seeds", "0", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "| flow |" in proc.stdout and "| warp |" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["variants"]["warp"]["all"]["samples"] == 2
    bad = subprocess.run(cmd[:-2] + ["zero"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--seeds must be integers" in bad.stderr


def test_clip_columns_appear_with_local_weights(tmp_path, variant_weights, clip_folder):
    results = run_bench(_config(tmp_path / "b", variant_weights, suite="sprites-test:1", variants=["warp"], clip=str(clip_folder)), progress=False)
    assert results["variants"]["warp"]["all"]["clip_t"] is not None
    table = (tmp_path / "b" / "results.md").read_text()
    assert "CLIP-T" in table and "CLIP scores skipped" not in table
    plain = run_bench(_config(tmp_path / "c", variant_weights, suite="sprites-test:1", variants=["warp"]), progress=False)
    assert plain["variants"]["warp"]["all"]["clip_t"] is None
    assert "CLIP scores skipped" in (tmp_path / "c" / "results.md").read_text()


def test_two_ranks_under_torchrun_share_the_jobs_and_rank0_reports(tmp_path, variant_weights):
    out = tmp_path / "ranks"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "maskmotion.cli", "bench", "--suite", "sprites-test:3", "--variants", "ttm-paper,warp",
           "--weights", str(variant_weights), "--out", str(out), "--steps", "2", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("Suite `sprites-test:3`") == 1  # only rank 0 prints the tables
    results = json.loads((out / "results.json").read_text())
    assert all(results["variants"][v]["all"]["samples"] == 3 for v in ("ttm-paper", "warp"))
    alone = run_bench(_config(tmp_path / "alone", variant_weights, suite="sprites-test:3", variants=["ttm-paper", "warp"]), progress=False)
    # The photo renderer's solvers may sum in another order with another thread count.
    assert alone["variants"]["warp"]["all"] == _close(results["variants"]["warp"]["all"])


def _close(summary: dict) -> dict:
    """``summary`` with its numbers compared to a relative 1e-5 (None stays exact)."""
    return {k: v if v is None or isinstance(v, (str, bool)) else pytest.approx(v, rel=1e-5) for k, v in summary.items()}
