"""The bundled default model: it loads offline and animates the bundled example."""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

from maskmotion.trajectory import MaskTrajectory
from maskmotion.video import read_video
from maskmotion.weights import bundled_names, resolve_model_folder

ROOT = Path(__file__).resolve().parents[1]


def test_default_is_bundled_with_a_model_card():
    assert "default" in bundled_names()
    for stage in ("motion", "video"):
        assert (resolve_model_folder("default", stage) / "model.safetensors").is_file()
    assert (resolve_model_folder("default", "motion").parent / "MODEL_CARD.md").is_file()


def test_quick_start_animate_runs_on_the_bundled_example(tmp_path):
    import re

    readme = (ROOT / "README.md").read_text()
    command = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)[0].split("&&")[-1]
    args = shlex.split(command)
    assert args[:2] == ["maskmotion", "animate"]
    out_index = args.index("--out") + 1
    args[out_index] = str(tmp_path / "quick.mp4")
    args = [str(ROOT / a) if a.startswith("examples/") else a for a in args]
    res = subprocess.run([sys.executable, "-m", "maskmotion", *args[1:], "--quiet"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    video = read_video(tmp_path / "quick.mp4")
    assert video.shape == (16, 64, 64, 3)
    traj = MaskTrajectory.load(tmp_path / "quick.trajectory.npz")
    assert [o.name for o in traj.objects] == ["white crescent", "red star"]
    record = json.loads((tmp_path / "quick.plan.json").read_text())
    assert "default" in json.dumps(record)
    assert np.abs(video[-1].astype(int) - video[0].astype(int)).mean() > 1  # something moved
