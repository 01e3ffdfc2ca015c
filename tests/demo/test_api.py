"""The page's API through gradio_client (no browser): load the bundled example, plan,
render, and check the files it hands back; then stop the server and check that its
temporary files went with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maskmotion.trajectory import MaskTrajectory
from maskmotion.video import read_video

from demo_server import stop_server

PROMPT = "the white crescent falls gently while the red star slides to the left at a steady pace"


def _path(value) -> str:
    # A video output comes back as a path, or as a dict holding one.
    return value["video"] if isinstance(value, dict) else value


def test_example_plan_render_through_the_api(demo_server, tmp_path):
    gradio_client = pytest.importorskip("gradio_client")
    client = gradio_client.Client(demo_server.url, verbose=False, download_files=str(tmp_path))  # not /tmp/gradio

    loaded = client.predict("crescent and star (bundled example)", api_name="/load_example")
    assert "Masks: white crescent, red star" in loaded[-2]  # status, then the prompt

    planned = client.predict(PROMPT, 0, api_name="/plan")
    assert planned[-2].startswith("Planned 16 frames at 64x64"), planned[-2]
    assert read_video(_path(planned[-1])).shape == (16, 64, 128, 3)  # the image | masks over it

    refused = client.predict("  ", 0, "auto", api_name="/render")
    assert refused[-4].startswith("**Problem:** the prompt is empty"), refused[-4]

    rendered = client.predict(PROMPT, 0, "warp", api_name="/render")
    status, video, overlay, downloads = rendered[-4:]
    assert status.startswith("Rendered with the warp renderer"), status
    assert read_video(_path(video)).shape == (16, 64, 64, 3)
    assert read_video(_path(overlay)).shape == (16, 64, 128, 3)
    files = {Path(f).name: Path(f) for f in downloads}
    assert set(files) == {"maskmotion.mp4", "maskmotion.trajectory.npz", "maskmotion.plan.json", "maskmotion.input.png"}
    record = json.loads(files["maskmotion.plan.json"].read_text())
    assert record["command"] == "demo" and record["settings"]["renderer"] == "warp"
    assert [o["name"] for o in record["plan"]["objects"]] == ["white crescent", "red star"]
    traj = MaskTrajectory.load(files["maskmotion.trajectory.npz"])
    crescent = traj.centroids()[traj.object("white crescent").id]
    assert crescent[-1, 1] > crescent[0, 1] + 3  # stage 1 lets the crescent fall

    root = demo_server.temp_root()
    assert root.is_dir() and any(root.rglob("maskmotion.plan.json"))
    client.close()
    assert stop_server(demo_server) == 143  # SIGTERM, reported as such
    assert not root.exists(), "the page's temporary files outlived it"
