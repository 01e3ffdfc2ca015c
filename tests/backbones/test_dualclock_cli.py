"""`maskmotion animate --backbone wan-i2v|cogvideox-i2v --weights DIR` as a user types it,
on tiny random folders of the real pipeline classes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from i2v_testing import save_folder
from maskmotion.cli import main
from maskmotion.video import read_video

SCENE_ARGS = ("--prompt", "the ball rolls left while the box slides right", "--object", "ball: a red ball rolls",
              "--object", "box: a blue box slides", "--steps", "4", "--frames", "9", "--resolution", "32x32", "-q")  # fmt: skip


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("i2v-cli")
    return {"wan-i2v": save_folder("wan21", root / "wan"), "cogvideox-i2v": save_folder("cogvideox", root / "cog")}


@pytest.mark.parametrize("backbone", ["wan-i2v", "cogvideox-i2v"])
def test_animate_writes_a_video_and_records_the_dual_clock(backbone, folders, scene, tmp_path):
    out = tmp_path / "clip.mp4"
    extra = ("--local-prompt-weight", "0.5") if backbone == "wan-i2v" else ()
    code = main(["animate", str(scene.image_path), "--masks", str(scene.masks_path), *SCENE_ARGS, "--backbone", backbone,
                 "--weights", str(folders[backbone]), "--t-weak", "1", "--t-strong", "2", *extra, "--out", str(out)])  # fmt: skip
    assert code == 0
    video = read_video(out)
    assert video.shape[0] == 9 and video.shape[1:3] == (24, 40)  # cut back to the input's aspect (40x24)
    record = json.loads((tmp_path / "clip.plan.json").read_text())
    assert record["model"]["backbone"] == backbone
    assert record["settings"]["video"]["kind"] == backbone
    assert record["settings"]["video"]["dual_clock"] == {
        "t_weak": 1, "t_strong": 2, "local_prompt_weight": 0.5 if extra else 0.0,
    }  # fmt: skip
    assert record["settings"]["video"]["canvas"] == [32, 32]


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--backbone", "wan-i2v", "--weights", "{wan-i2v}", "--t-weak", "3", "--t-strong", "2"), "--t-strong (2) is before --t-weak (3)"),
        (("--backbone", "wan-i2v", "--weights", "{cogvideox-i2v}"), "holds a CogVideoXImageToVideoPipeline, not a WanImageToVideoPipeline"),
        (("--backbone", "wan-i2v", "--weights", "{wan-i2v}", "--frames", "8"), "renders 1 + 4k frames, not 8"),
        (("--backbone", "cogvideox-i2v", "--weights", "{cogvideox-i2v}", "--local-prompt-weight", "1"), "no separate text cross-attention"),
        (("--backbone", "wan-i2v"), "needs --weights DIR"),
        (("--backbone", "wan-i2v", "--weights", "{wan-i2v}", "--resolution", "40x40"), "multiples of 16 pixels, not 40x40"),
        (("--t-weak", "2"), "--t-weak and --resolution belong to --backbone wan-i2v or cogvideox-i2v"),
    ],
)
def test_bad_combinations_exit_2_with_one_line(extra, message, folders, scene, tmp_path, capsys):
    extra = [e.format(**{k: str(v) for k, v in folders.items()}) for e in extra]
    args = [a for a in SCENE_ARGS if a not in ("--frames", "9")] if "--frames" in extra else list(SCENE_ARGS)
    code = main(["animate", str(scene.image_path), "--masks", str(scene.masks_path), *args, *extra,
                 "--out", str(tmp_path / "x.mp4")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x.mp4").exists()


def test_wan_i2v_kind_drives_a_ttm_trained_folder_from_the_cli(weights, scene, tmp_path):
    out = tmp_path / "clip.mp4"
    code = main(["animate", str(scene.image_path), "--masks", str(scene.masks_path), "--prompt", "the ball rolls left",
                 "--object", "ball: a red ball", "--object", "box: a blue box", "--steps", "3", "-q",
                 "--backbone", "wan-i2v", "--weights", str(weights["wan"]), "--out", str(out)])  # fmt: skip
    assert code == 0 and out.is_file()
    record = json.loads((tmp_path / "clip.plan.json").read_text())
    assert record["settings"]["video"]["kind"] == "wan"
    assert record["settings"]["video"]["dual_clock"]["t_strong"] >= record["settings"]["video"]["dual_clock"]["t_weak"]


def test_plan_then_render_keeps_the_trajectory_length(folders, scene, tmp_path):
    common = ("--backbone", "wan-i2v", "--weights", str(folders["wan-i2v"]), "--resolution", "32x32")
    assert main(["plan", str(scene.image_path), "--masks", str(scene.masks_path), "--prompt", "the ball rolls left",
                 "--object", "ball: a red ball", "--object", "box: a blue box", "--frames", "9", "-q",
                 "--out", str(tmp_path / "p")]) == 0  # fmt: skip
    assert main(["render", str(scene.image_path), "--trajectory", str(tmp_path / "p.trajectory.npz"), "--plan",
                 str(tmp_path / "p.plan.json"), "--steps", "3", "-q", *common, "--out", str(tmp_path / "v.mp4")]) == 0  # fmt: skip
    assert read_video(tmp_path / "v.mp4").shape[0] == 9
