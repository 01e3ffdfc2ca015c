"""Bad input to ``animate``/``plan``/``render``: one line naming the fix, exit code 2, and
no output file (not even a temporary one) left behind."""

import shutil

import numpy as np
import pytest
from cli_helpers import run_cli
from PIL import Image

from maskmotion.cli import main


def _scene_args(assets, out):
    names = [a for n in assets.names for a in ("--object", n)]
    return [str(assets.image), "--prompt", assets.prompt, "--masks", str(assets.masks), *names,
            "--model", str(assets.model), "--text-model", str(assets.text), "--steps", "1", "--quiet",
            "--out", str(out)]  # fmt: skip


def _replace(args, flag, value):
    args = list(args)
    args[args.index(flag) + 1] = str(value)
    return args


def _boxes(n):
    return [a for k in range(n) for a in ("--box", f"o{k}={k},0,{k + 1},2")]


def _bad_cases(assets, tmp):
    """(name, argv after the command, expected text in the error)."""
    out = tmp / "out" / "a.mp4"
    base = _scene_args(assets, out)
    (tmp / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp / "small_masks.png")
    off = np.zeros((16, 16, 3), np.uint8)
    off[2:6, 2:6] = (12, 34, 56)
    Image.fromarray(off).save(tmp / "off_palette.png")
    broken = tmp / "broken_model"
    shutil.copytree(assets.model, broken)
    (broken / "video" / "model.safetensors").write_bytes(b"\x00" * 100)
    no_masks = [a for a in base if a not in ("--masks", str(assets.masks))]
    no_masks = [a for a in no_masks if a not in ("--object", *assets.names)]
    return [
        ("missing image", [str(tmp / "nope.png")] + base[1:], "does not exist"),
        ("corrupt image", [str(tmp / "corrupt.png")] + base[1:], "cannot read image"),
        ("masks of another size", _replace(base, "--masks", tmp / "small_masks.png"), "image's size"),
        ("unknown palette colours", _replace(base, "--masks", tmp / "off_palette.png"), "not in the trajectory palette"),
        ("too many objects", no_masks + _boxes(15), "at most 14"),
        ("--object naming nothing", no_masks + ["--box", "dog=0,0,8,8", "--object", "cat: runs"], "no box"),
        ("--box without a name", no_masks + ["--box", "=0,0,8,8"], "NAME=x0,y0,x1,y1"),
        ("--box outside the image", no_masks + ["--box", "dog=0,0,40,8"], "outside the 16x16 image"),
        ("--drag naming nothing", base + ["--drag", "unicorn: 1,1 5,5"], "not an object"),
        ("--drag without points", base + ["--drag", f"{assets.names[0]}: here"], "x,y"),
        ("empty prompt", _replace(base, "--prompt", "  "), "--prompt is empty"),
        ("--object count off", base + ["--object", "extra"], "one --object per id"),
        ("output folder missing", _replace(base, "--out", tmp / "no" / "such" / "a.mp4"), "does not exist"),
        ("output under a file", _replace(base, "--out", tmp / "corrupt.png" / "a.mp4"), "not a folder"),
        ("output not a video", _replace(base, "--out", tmp / "out" / "a.txt"), ".mp4 or .gif"),
        ("missing weights folder", _replace(base, "--model", tmp / "no_model"), "does not exist"),
        ("corrupt safetensors", _replace(base, "--model", broken), "corrupt"),
        ("frames the model cannot render", base + ["--frames", "6"], "renders 4 frames"),
        ("--drag with a nan point", base + ["--drag", f"{assets.names[0]}: 1,1 nan,5"], "finite"),
        ("--drag with an infinite scale", base + ["--drag", f"{assets.names[0]}: 1,1 5,5@inf"], "finite"),
        ("--drag with a nan angle", base + ["--drag", f"{assets.names[0]}: 1,1 5,5/nan"], "finite"),
        ("--drag far off", base + ["--drag", f"{assets.names[0]}: 1,1 1e300,5"], "within"),
        ("--steps in the millions", _replace(base, "--steps", 1000000), "more than 1000"),
    ]


def test_each_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, assets, capsys):
    (tmp_path / "out").mkdir()
    for name, argv, expected in _bad_cases(assets, tmp_path):
        code = main(["animate", *argv])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2, f"{name}: exit {code}, stderr {err!r}"
        assert len(lines) == 1 and lines[0].startswith("maskmotion animate: error:"), f"{name}: {err!r}"
        assert expected in lines[0], f"{name}: {lines[0]!r}"
        assert list((tmp_path / "out").iterdir()) == [], f"{name} left files behind"


def test_bad_input_in_real_processes(tmp_path, assets):
    (tmp_path / "out").mkdir()
    cases = {c[0]: c for c in _bad_cases(assets, tmp_path)}
    for name in ("corrupt image", "corrupt safetensors", "empty prompt"):
        _, argv, expected = cases[name]
        res = run_cli("animate", *argv)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert res.stderr.strip().count("\n") == 0 and expected in res.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_plan_and_render_reject_bad_input(tmp_path, assets, capsys):
    out = tmp_path / "out"
    out.mkdir()
    base = _scene_args(assets, out / "p")
    assert main(["plan", *_replace(base, "--prompt", "")]) == 2
    assert "--prompt is empty" in capsys.readouterr().err
    render = [str(assets.image), "--trajectory", str(tmp_path / "none.npz"), "--prompt", "x", "--out", str(out / "r.mp4")]
    assert main(["render", *render]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["plan", *base]) == 0  # a real trajectory to render
    capsys.readouterr()
    made = {p.name for p in out.iterdir()}
    render = _replace(render, "--trajectory", out / "p.trajectory.npz")
    for extra, expected in (
        (["--object", "unicorn: flies"], "names no object"),
        (["--renderer", "model", "--model", str(tmp_path / "no_model")], "does not exist"),
    ):
        assert main(["render", *render, *extra, "--quiet"]) == 2
        assert expected in capsys.readouterr().err
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((16, 40, 3), np.uint8)).save(wide)
    assert main(["render", str(wide), *render[1:], "--renderer", "warp", "--quiet"]) == 2
    assert "aspect ratio" in capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == made


def test_help_says_warp_is_the_honest_choice_for_photos(capsys):
    with pytest.raises(SystemExit):
        main(["animate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "honest choice for real photos" in text and "out of its domain on photos" in text
