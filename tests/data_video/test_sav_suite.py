"""An SA-V-style folder and a prompt list as a benchmark suite that `maskmotion bench` loads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maskmotion.bench import load_suite
from maskmotion.cli import main
from maskmotion.data.video.windows import crop_resize_ids

pytest.importorskip("pycocotools")


def test_sav_folder_to_suite(sav_folder, tmp_path, capsys):
    root, maps = sav_folder
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "sav_000001", "prompt": "a box slides right past a falling ball",
                                   "objects": [{"name": "box", "prompt": "the box slides right"},
                                               {"name": "ball", "prompt": "the ball falls"}]}) + "\n"
                       + json.dumps({"id": "sav_999999", "prompt": "not in the folder"}) + "\n")  # fmt: skip
    assert main(["sav-suite", str(root), "--prompts", str(prompts), "--out", str(tmp_path / "suite"), "--frames", "8",
                 "--max-side", "88", "-q"]) == 0  # fmt: skip
    manifest = capsys.readouterr().out.strip()
    [case] = load_suite(manifest)
    assert case.case_id == "sav_000001" and case.image.shape == (72, 88, 3)
    assert [(i, n) for i, n, _ in case.objects] == [(1, "box"), (2, "ball")]
    assert case.reference_video.shape == (8, 72, 88, 3) and case.reference_ids.shape == (8, 72, 88)
    # 6 fps on the 24 fps video: frame t is annotated frame t, resized like the video.
    for t in (0, 7):
        want = crop_resize_ids(maps[t], (72, 88))
        assert (case.reference_ids[t] == want).mean() > 0.98
    assert np.array_equal(case.first_ids, case.reference_ids[0])
    assert main(["sav-suite", str(root), "--prompts", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "x")]) == 2
