"""``--point`` on the command line: bad points are one line and exit 2; good ones steer the cut."""

import numpy as np
from PIL import Image

from maskmotion.cli import main
from maskmotion.trajectory import MaskTrajectory


def _photo(path):
    rng = np.random.default_rng(0)
    img = np.clip(128 + rng.normal(0, 6, (64, 96, 3)), 0, 255)
    img[16:48, 12:44] = (235, 130, 30)  # the object
    img[20:44, 50:70] = (30, 60, 220)  # something else in the same box
    Image.fromarray(img.astype(np.uint8)).save(path)


def _args(tmp_path, *extra):
    _photo(tmp_path / "p.png")
    (tmp_path / "out").mkdir(exist_ok=True)
    return ["plan", str(tmp_path / "p.png"), "--prompt", "the box slides right", "--box", "box=6,10,76,54",
            "--drag", "box: 28,32 60,32", "--frames", "4", "--quiet", "--out", str(tmp_path / "out" / "a"), *extra]  # fmt: skip


def test_bad_points_are_one_line_and_exit_2(tmp_path, capsys):
    for point, expected in (
        ("box=1", "NAME=x,y"),
        ("cat=20,20", "names no box"),
        ("box=90,5", "outside box"),
    ):
        assert main(_args(tmp_path, "--point", point)) == 2, point
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], (point, lines)
    assert list((tmp_path / "out").iterdir()) == []
    assert main([*_args(tmp_path, "--point", "box=20,20"), "--segment", "box"]) == 2
    assert "--segment grabcut" in capsys.readouterr().err


def test_a_negative_point_takes_a_part_out_of_the_mask(tmp_path):
    assert main(_args(tmp_path, "--point", "box=-60,32")) == 0
    ids = MaskTrajectory.load(tmp_path / "out" / "a.trajectory.npz").ids[0]
    assert ids[32, 28] == 1 and ids[32, 60] == 0
