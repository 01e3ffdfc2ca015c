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

    # plan, then render that plan: the same files, byte for byte, as the one-call animate.
    scene_args = args[2:out_index - 1] + args[out_index + 1 :]
    image = scene_args.pop(0)
    planned = subprocess.run(
        [sys.executable, "-m", "maskmotion", "plan", image, *scene_args, "--out", str(tmp_path / "p"), "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    rendered = subprocess.run(
        [sys.executable, "-m", "maskmotion", "render", image, "--trajectory", str(tmp_path / "p.trajectory.npz"),
         "--plan", str(tmp_path / "p.plan.json"), "--out", str(tmp_path / "r.mp4"), "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    assert (tmp_path / "p.trajectory.npz").read_bytes() == (tmp_path / "quick.trajectory.npz").read_bytes()
    assert (tmp_path / "r.mp4").read_bytes() == (tmp_path / "quick.mp4").read_bytes()
    assert (tmp_path / "r.overlay.mp4").read_bytes() == (tmp_path / "quick.overlay.mp4").read_bytes()


def test_default_video_model_renders_the_colour_words():
    """Stage 2 follows each object's colour word: on recolouring sprites (validation
    seeds) the last frame ends nearer the named colour than the warp preview (which keeps
    the old colour), and naming another colour moves it towards that one."""
    import dataclasses

    import torch

    from maskmotion.data.sprites import SpritesConfig, generate_scene
    from maskmotion.data.sprites.splits import seeds_for
    from maskmotion.data.sprites.world import COLOURS
    from maskmotion.models.io import load_model
    from maskmotion.pipelines import VideoInputs, VideoPipeline
    from maskmotion.render import warp_preview
    from maskmotion.text import TextEncoder
    from maskmotion.trajectory import MaskTrajectory

    pipe = VideoPipeline(load_model(resolve_model_folder("default", "video")).float().eval(), TextEncoder())

    def last_colour(scene, trajectory, prompt, warp, obj):
        video = pipe.sample([VideoInputs(scene.first_frame, trajectory, prompt, warp)], generator=torch.Generator().manual_seed(0))
        last = (video[0, :, -1].clamp(-1, 1) + 1) * 127.5  # (3, H, W)
        return last[:, torch.from_numpy(scene.ids[-1] == obj.id)].mean(1).numpy()

    model_gap, warp_gap, moved = [], [], []
    for seed in seeds_for("val", 60):
        # Stage 2 of the bundled default was trained on the classic wording.
        scene = generate_scene(seed, SpritesConfig(wording="classic"))
        objs = [o for o in scene.objects if o.spec.motion.kind == "recolour" and o.spec.motion.speed != "slow"]
        if not objs:
            continue
        obj, traj = objs[0], scene.trajectory
        named = np.asarray(COLOURS[obj.spec.motion.colour], float)
        warp = warp_preview(scene.first_frame, traj)
        got = last_colour(scene, traj, scene.global_prompt, warp, obj)
        model_gap.append(np.linalg.norm(got - named))
        warp_gap.append(np.linalg.norm(warp[-1][scene.ids[-1] == obj.id].mean(0) - named))
        # The same scene with another colour named in the object's words.
        other = "blue" if obj.spec.motion.colour != "blue" else "red"
        swap = [dataclasses.replace(o, prompt=o.prompt.replace(obj.spec.motion.colour, other)) if o.id == obj.id else o
                for o in traj.objects]
        swapped = last_colour(scene, MaskTrajectory(traj.ids, swap, traj.fps),
                              scene.global_prompt.replace(obj.spec.motion.colour, other), warp, obj)
        target = np.asarray(COLOURS[other], float)
        moved.append(np.linalg.norm(swapped - target) < np.linalg.norm(got - target))
        if len(moved) == 6:
            break
    assert len(moved) == 6
    assert np.mean(model_gap) < 0.75 * np.mean(warp_gap), (model_gap, warp_gap)
    assert sum(moved) >= 5, moved
