"""`maskmotion animate/plan/render --backbone wan|animatediff --weights PATH` as a user types it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from maskmotion.cli import main


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "maskmotion.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)  # fmt: skip


SCENE_ARGS = ("--prompt", "the ball rolls left while the box slides right", "--object", "ball: a red ball",
              "--object", "box: a blue box", "--steps", "2", "-q")  # fmt: skip


def test_animate_with_wan_weights_writes_the_usual_outputs(weights, scene, tmp_path):
    out = tmp_path / "clip.mp4"
    done = run_cli("animate", scene.image_path, "--masks", scene.masks_path, *SCENE_ARGS, "--backbone", "wan",
                   "--weights", weights["wan"], "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in ("clip.mp4", "clip.trajectory.mp4", "clip.overlay.mp4", "clip.trajectory.npz", "clip.plan.json"):
        assert (tmp_path / name).is_file(), name
    record = json.loads((tmp_path / "clip.plan.json").read_text())
    assert record["model"]["backbone"] == "wan"
    assert record["settings"]["num_frames"] == 5 and record["settings"]["size"] == [24, 40]
    assert record["argv"][record["argv"].index("--backbone") + 1] == "wan"


def test_plan_then_render_with_animatediff(weights, scene, tmp_path, capsys):
    common = ("--backbone", "animatediff", "--weights", str(weights["animatediff"]))
    assert main(["plan", str(scene.image_path), "--masks", str(scene.masks_path), *SCENE_ARGS, *common,
                 "--out", str(tmp_path / "p")]) == 0  # fmt: skip
    assert main(["render", str(scene.image_path), "--trajectory", str(tmp_path / "p.trajectory.npz"), "--plan",
                 str(tmp_path / "p.plan.json"), "--steps", "2", "-q", *common, "--out", str(tmp_path / "v.mp4")]) == 0  # fmt: skip
    assert (tmp_path / "v.mp4").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--backbone", "wan"), "--backbone wan needs --weights PATH"),
        (("--backbone", "wan", "--weights", "{missing}"), "does not exist"),
        (("--backbone", "wan", "--weights", "{animatediff}"), "holds 'animatediff' weights, not 'wan'"),
        (("--weights", "{wan}"), "--weights is for --backbone wan or animatediff"),
        (("--backbone", "wan", "--weights", "{wan}", "--model", "default-x"), "--model belong to the bundled small"),
    ],
)
def test_bad_backbone_input_is_a_clear_error(extra, message, weights, scene, tmp_path, capsys):
    paths = {"missing": tmp_path / "nowhere", "wan": weights["wan"], "animatediff": weights["animatediff"]}
    extra = [e.format(**paths) for e in extra]
    code = main(["animate", str(scene.image_path), "--masks", str(scene.masks_path), *SCENE_ARGS, *extra,
                 "--out", str(tmp_path / "x.mp4")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert not list(tmp_path.glob("x*"))  # nothing written
