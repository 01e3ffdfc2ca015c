"""The web page's engine with a real backbone's weights folder (`maskmotion demo
--backbone wan --weights PATH`): the same steps as the page, on tiny random weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("gradio", reason="the demo extra is not installed")

from maskmotion.demo import DemoConfig, DemoEngine  # noqa: E402
from maskmotion.video import read_video, write_png  # noqa: E402


def test_page_renders_with_a_wan_weights_folder(weights, tmp_path):
    image = np.full((24, 40, 3), 90, np.uint8)
    image[4:12, 4:14] = (220, 40, 40)
    image[12:20, 24:36] = (40, 40, 220)
    path = write_png(tmp_path / "two.png", image)
    engine = DemoEngine(DemoConfig(backbone="wan", weights=str(weights["wan"]), max_size=64))
    try:
        session = engine.new_session()
        engine.take_upload(session, path, "two.png")
        for name, box in (("ball", (3, 3, 15, 13)), ("box", (23, 11, 37, 21))):
            session.add_object(name).box = box
        files = engine.render(session, "the ball rolls left while the box slides right", 0, "model")
        assert files.renderer == "model"
        record = json.loads(files.downloads[2].read_text())
        assert record["model"]["backbone"] == "wan" and record["settings"]["size"] == [24, 40]
        frames = read_video(files.video)
        assert frames.shape[1:] == (24, 40, 3) and len(frames) == record["settings"]["num_frames"]
    finally:
        engine.close()
    assert not engine.root.exists()
