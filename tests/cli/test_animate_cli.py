"""``maskmotion animate / plan / render`` as a user types them: real processes, files."""

import json

import numpy as np
from cli_helpers import run_cli
from PIL import Image

from maskmotion.trajectory import MaskTrajectory
from maskmotion.video import read_video

ANIMATE_FILES = ("a.mp4", "a.trajectory.mp4", "a.overlay.mp4", "a.trajectory.npz", "a.plan.json")


def _object_args(assets):
    return [a for name in assets.names for a in ("--object", name)]


def test_animate_a_sprites_scene(tmp_path, assets):
    # The real bundled MiniLM text encoder here, as a user gets it.
    res = run_cli(
        "animate", assets.image, "--prompt", assets.prompt, "--masks", assets.masks, *_object_args(assets),
        "--model", assets.model, "--steps", "2", "--seed", "3", "--out", tmp_path / "a.mp4",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ANIMATE_FILES)  # and no temporaries
    assert res.stdout.splitlines() == [f"wrote {tmp_path / name}" for name in ANIMATE_FILES]
    video = read_video(tmp_path / "a.mp4")
    assert video.shape == (4, 16, 16, 3)
    assert read_video(tmp_path / "a.overlay.mp4").shape == (4, 16, 32, 3)
    traj = MaskTrajectory.load(tmp_path / "a.trajectory.npz")
    assert [o.name for o in traj.objects] == list(assets.names) and all(o.prompt for o in traj.objects)
    decoded = MaskTrajectory.load(tmp_path / "a.trajectory.mp4", traj.objects)  # H.264 blurs 16x16 edges a little
    assert (decoded.ids != traj.ids).mean() < 0.02
    record = json.loads((tmp_path / "a.plan.json").read_text())
    assert record["format"] == "maskmotion-run" and record["command"] == "animate"
    assert record["argv"][:2] == ["maskmotion", "animate"]
    assert record["plan"]["global_prompt"] == assets.prompt
    s = record["settings"]
    assert (s["seed"], s["renderer"], s["num_frames"], s["device"]) == (3, "model", 4, "cpu")
    assert s["motion"]["num_inference_steps"] == 2 and s["video"]["num_inference_steps"] == 2
    assert {"visual_guidance_scale", "text_guidance_scale"} <= set(s["video"])
    assert len(record["model"]["motion"]["sha256"]) == 64 and record["model"]["name_or_path"] == str(assets.model)
    assert {"maskmotion", "torch", "python"} <= set(record["versions"])


def test_plan_edit_render_round_trip(tmp_path, assets):
    common = ("--model", assets.model, "--text-model", assets.text, "--steps", "2", "--seed", "7", "--quiet")
    scene = ("--prompt", assets.prompt, "--masks", assets.masks, *_object_args(assets))
    whole = run_cli("animate", assets.image, *scene, *common, "--out", tmp_path / "whole.mp4")
    assert whole.returncode == 0, whole.stderr
    planned = run_cli("plan", assets.image, *scene, *common, "--out", tmp_path / "p")
    assert planned.returncode == 0, planned.stderr
    assert {"p.trajectory.npz", "p.trajectory.mp4", "p.plan.json"} <= {p.name for p in tmp_path.iterdir()}
    rendered = run_cli(
        "render", assets.image, "--trajectory", tmp_path / "p.trajectory.npz", "--plan", tmp_path / "p.plan.json",
        *common, "--out", tmp_path / "r.mp4",
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    # Same seed, same trajectory: plan + render is the one-call animation, frame for frame.
    traj = MaskTrajectory.load(tmp_path / "p.trajectory.npz")
    assert traj == MaskTrajectory.load(tmp_path / "whole.trajectory.npz")
    assert np.array_equal(read_video(tmp_path / "r.mp4"), read_video(tmp_path / "whole.mp4"))
    assert json.loads((tmp_path / "r.plan.json").read_text())["inputs"]["prompt"] == assets.prompt

    # Edit: move the second object 3 pixels down in the last frame, re-prompt the first,
    # and preview with the warp renderer (no weights needed).
    ids = traj.ids.copy()
    last = ids[-1]
    moved = np.roll(np.where(last == 2, 2, 0), 3, axis=0).astype(np.uint8)
    ids[-1] = np.where(moved > 0, moved, np.where(last == 2, 0, last))
    traj.replace(ids=ids).save(tmp_path / "edited.npz")
    first = assets.names[0]
    edited = run_cli(
        "render", assets.image, "--trajectory", tmp_path / "edited.npz", "--object", f"{first}: the {first} spins",
        "--prompt", "a new prompt", "--renderer", "warp", "--model", tmp_path / "missing", "--out", tmp_path / "e.mp4",
    )  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    record = json.loads((tmp_path / "e.plan.json").read_text())
    assert record["inputs"]["local_prompts"][first] == f"the {first} spins" and record["plan"] is None
    assert read_video(tmp_path / "e.overlay.mp4").shape == (4, 16, 32, 3)


def _photo(path, width=160, height=100):
    """A photo-like RGBA image: a lit gradient with grain, an orange ball, a blue box and
    a transparent corner."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([90 + 0.4 * x, 120 + 0.5 * y, 140 + 0.2 * (x + y) / 2], axis=-1) + rng.normal(0, 6, (height, width, 3))
    ball = (x - 45) ** 2 + (y - 45) ** 2 < 22**2
    rgb[ball] = np.array([230, 120, 30]) + rng.normal(0, 10, (ball.sum(), 3))
    rgb[30:85, 100:140] = np.array([40, 60, 200]) + rng.normal(0, 8, (55, 40, 3))
    alpha = np.full((height, width), 255)
    alpha[:12, -20:] = 0
    rgba = np.concatenate([np.clip(rgb, 0, 255), alpha[..., None]], axis=-1).astype(np.uint8)
    Image.fromarray(rgba, mode="RGBA").save(path)
    return path


def test_warp_renderer_on_a_photo_keeps_its_aspect(tmp_path, assets):
    photo = _photo(tmp_path / "photo.png")
    out = tmp_path / "out"
    out.mkdir()
    res = run_cli(
        "animate", photo, "--prompt", "the ball bounces while the box slides left",
        "--box", "ball=18,18,74,74", "--box", "box=95,25,145,90", "--drag", "box: 120,57 100,57",
        "--renderer", "warp", "--model", assets.model, "--text-model", assets.text, "--steps", "2",
        "--max-size", "80", "--quiet", "--out", out / "photo.mp4",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    video = read_video(out / "photo.mp4")
    assert video.shape == (4, 50, 80, 3)  # 160x100 at a long side of 80
    traj = MaskTrajectory.load(out / "photo.trajectory.npz")
    assert traj.size == (50, 80) and [o.name for o in traj.objects] == ["ball", "box"]
    box = traj.centroids()[2]
    assert np.isclose(box[-1, 0] - box[0, 0], -10, atol=1.0)  # 20 input pixels at half size
    # GrabCut kept the objects, not their boxes: the ball (radius 11 at this size) is round.
    ball_area = (traj.ids[0] == 1).sum()
    assert 0.8 < ball_area / (np.pi * 11**2) < 1.2 and ball_area < 0.6 * 28 * 28
    # The box's old place, uncovered, is inpainted background rather than box blue.
    uncovered = (traj.ids[0] == 2) & (traj.ids[-1] == 0)
    assert uncovered.sum() > 20
    blue = video[-1][uncovered].astype(float)
    assert blue[:, 2].mean() - blue[:, 0].mean() < 100
    record = json.loads((out / "photo.plan.json").read_text())
    assert record["settings"]["renderer"] == "warp" and record["settings"]["dragged"] == ["box"]
    assert record["inputs"]["drags"] == {"box": "120,57 100,57"}
    assert "video" not in record["model"]  # no stage-2 weights were loaded


def test_plan_then_render_repeats_animate_on_a_photo(tmp_path, assets):
    """The trajectory file carries stage 1's tracks, so `render` warps exactly as `animate`
    did instead of fitting the motion to the masks again; no renderer is named, so both
    take "auto", which is warp on a photo."""
    photo = _photo(tmp_path / "photo.png")
    scene = ("--prompt", "the ball rolls to the right while the box slides left",
             "--box", "ball=18,18,74,74", "--box", "box=95,25,145,90")  # fmt: skip
    common = ("--model", assets.model, "--text-model", assets.text, "--steps", "2", "--seed", "4", "--quiet")
    whole = run_cli("animate", photo, *scene, *common, "--max-size", "80", "--out", tmp_path / "whole.mp4")
    assert whole.returncode == 0, whole.stderr
    planned = run_cli("plan", photo, *scene, *common, "--max-size", "80", "--out", tmp_path / "p")
    assert planned.returncode == 0, planned.stderr
    assert MaskTrajectory.load(tmp_path / "p.trajectory.npz").tracks is not None
    rendered = run_cli(
        "render", photo, "--trajectory", tmp_path / "p.trajectory.npz", "--plan", tmp_path / "p.plan.json",
        *common, "--out", tmp_path / "r.mp4",
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    assert np.array_equal(read_video(tmp_path / "r.mp4"), read_video(tmp_path / "whole.mp4"))
    record = json.loads((tmp_path / "whole.plan.json").read_text())
    assert record["settings"]["renderer"] == "warp" and "16x16" in record["settings"]["video"]["why_warp"]


def test_drag_everything_needs_no_weights(tmp_path, assets):
    res = run_cli(
        "plan", assets.image, "--prompt", assets.prompt, "--masks", assets.masks, *_object_args(assets),
        "--drag", f"{assets.names[0]}: 2,2 6,2", "--drag", f"{assets.names[1]}: 8,8 8,5", "--frames", "6",
        "--model", tmp_path / "no-weights-here", "--out", tmp_path / "d.mp4", "--quiet",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    traj = MaskTrajectory.load(tmp_path / "d.trajectory.npz")
    assert traj.num_frames == 6
    c = traj.centroids()
    assert np.isclose(c[2][-1, 1] - c[2][0, 1], -3, atol=0.6)
    assert json.loads((tmp_path / "d.plan.json").read_text())["settings"]["motion"] is None


def test_animate_from_an_edited_plan_file(tmp_path, assets):
    from maskmotion.cli import main
    from maskmotion.pipelines.outputs import load_plan_file

    common = ["--model", str(assets.model), "--text-model", str(assets.text), "--steps", "1", "--quiet"]
    scene = ["--prompt", assets.prompt, "--masks", str(assets.masks), *_object_args(assets)]
    assert main(["plan", str(assets.image), *scene, *common, "--out", str(tmp_path / "p")]) == 0
    plan = load_plan_file(tmp_path / "p.plan.json")
    edited = plan.with_local_prompts({assets.names[0]: "it turns blue"}).save(tmp_path / "edited.json")
    argv = ["animate", str(assets.image), "--plan", str(edited), "--renderer", "warp", *common]
    assert main([*argv, "--out", str(tmp_path / "e.mp4")]) == 0
    again = load_plan_file(tmp_path / "e.plan.json")
    assert again.object(assets.names[0]).local_prompt == "it turns blue" and again.first_ids.shape == (16, 16)
    assert main([*argv, "--prompt", "x", "--out", str(tmp_path / "f.mp4")]) == 2  # the plan holds the prompt
