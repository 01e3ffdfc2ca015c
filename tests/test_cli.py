"""The command line as a user types it: real processes, exit codes, files."""

import json
import os
import subprocess
import sys

import numpy as np

from maskmotion.trajectory import MaskTrajectory, load_id_png
from maskmotion.video import read_video


def run(*args, cwd=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "maskmotion", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_sprites_writes_scene_folders(tmp_path):
    out = tmp_path / "scenes"
    res = run("sprites", "--count", "2", "--seed", "20000", "--split", "train", "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert [p.name for p in folders] == ["scene_00000", "scene_00001"]
    for folder in folders:
        names = {p.name for p in folder.iterdir()}
        assert {"first.png", "masks.png", "video.mp4", "trajectory.npz", "trajectory.mp4", "scene.json"} <= names
        scene = json.loads((folder / "scene.json").read_text())
        traj = MaskTrajectory.load(folder / "trajectory.npz")
        assert np.array_equal(load_id_png(folder / "masks.png"), traj.ids[0])
        assert read_video(folder / "video.mp4").shape == (16, 64, 64, 3)
        assert [o.name for o in traj.objects] == [o["name"] for o in scene["objects"]]
        assert scene["global_prompt"] and scene["motion_prompt"]


def test_bad_input_exits_2_with_one_line(tmp_path):
    res = run("sprites", "--count", "1", "--seed", "5", "--split", "train", "--out", str(tmp_path / "x"))
    assert res.returncode == 2
    lines = [l for l in res.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in res.stderr
    res = run("sprites", "--count", "0", "--out", str(tmp_path / "y"))
    assert res.returncode == 2 and "--count" in res.stderr
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = run("sprites", "--count", "1", "--out", str(blocker / "sub"))
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_train_rejects_a_bad_config(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('task = "toy"\nnot_a_field = 3\n')
    res = run("train", "--config", str(cfg))
    assert res.returncode == 2 and "not_a_field" in res.stderr


def test_version_and_help():
    res = run("--version")
    assert res.returncode == 0 and "maskmotion" in res.stdout
    res = run("--help")
    assert res.returncode == 0 and "sprites" in res.stdout and "train" in res.stdout
