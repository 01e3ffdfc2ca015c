"""A real photo through the warp renderer: scikit-image ships "chelsea" (a cat) offline."""

import json

import numpy as np
import pytest
from PIL import Image

from cli_helpers import run_cli
from maskmotion.trajectory import MaskTrajectory
from maskmotion.video import read_video

data = pytest.importorskip("skimage.data", reason="scikit-image (the dev extra) ships the photo")


def test_a_real_photo_animates_with_the_warp_renderer(tmp_path):
    photo = data.chelsea()  # (300, 451, 3)
    Image.fromarray(photo).save(tmp_path / "cat.jpg", quality=92)
    out = tmp_path / "out" / "cat.mp4"
    out.parent.mkdir()
    res = run_cli(
        "animate", tmp_path / "cat.jpg", "--prompt", "the cat slides to the right",
        "--box", "cat=120,20,330,280", "--drag", "cat: 225,150 285,150",
        "--renderer", "warp", "--frames", "8", "--seed", "0", "--out", out, "--quiet",
    )
    assert res.returncode == 0, res.stderr
    video = read_video(out)
    assert video.shape[0] == 8
    assert abs(video.shape[2] / video.shape[1] - 451 / 300) < 0.02  # the input's aspect ratio
    traj = MaskTrajectory.load(out.with_name("cat.trajectory.npz"))
    cents = traj.centroids()[traj.object("cat").id]
    # The drag moves the cat 60 input pixels right; the trajectory is in its own pixels.
    assert cents[-1, 0] - cents[0, 0] == pytest.approx(60 * traj.size[1] / 451, abs=3)
    # The cat's pixels moved right; the far-left background stayed where it was.
    first, last = video[0].astype(float), video[-1].astype(float)
    assert np.abs(first[:, :20] - last[:, :20]).mean() < 6
    assert np.abs(first[:, 200:300] - last[:, 200:300]).mean() > 10
    record = json.loads(out.with_name("cat.plan.json").read_text())
    assert "warp" in json.dumps(record)
    for name in ("cat.trajectory.mp4", "cat.overlay.mp4"):
        assert (out.parent / name).stat().st_size > 0
