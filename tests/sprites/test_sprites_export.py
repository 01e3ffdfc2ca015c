"""Scene folders: every file is written, and each loads back to the scene it came from."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maskmotion.data.sprites import SplitError, SpritesConfig, generate_scene, load_scene_folder, write_scenes
from maskmotion.data.sprites.export import SCENE_FILES
from maskmotion.trajectory import MaskTrajectory, load_id_png

SMALL = SpritesConfig(num_frames=8)


def test_write_scenes_and_load_back(tmp_path) -> None:
    folders = write_scenes(3, 10_000, tmp_path, SMALL, split="val", progress=False)
    assert [f.name for f in folders] == ["scene_00000", "scene_00001", "scene_00002"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
    index = json.loads((tmp_path / "index.json").read_text())
    assert [e["seed"] for e in index["scenes"]] == [10_000, 10_001, 10_002]
    for i, folder in enumerate(folders):
        assert sorted(p.name for p in folder.iterdir()) == sorted(SCENE_FILES)
        scene = generate_scene(10_000 + i, SMALL)
        loaded = load_scene_folder(folder)
        np.testing.assert_array_equal(loaded.trajectory.ids, scene.ids)
        assert [o.name for o in loaded.trajectory.objects] == scene.names
        np.testing.assert_array_equal(loaded.first_ids, scene.first_ids)
        np.testing.assert_array_equal(load_id_png(folder / "masks.png"), scene.first_ids)
        np.testing.assert_array_equal(loaded.first_frame, scene.first_frame)  # PNG is lossless
        assert loaded.video.shape == scene.video.shape
        assert np.abs(loaded.video.astype(int) - scene.video).mean() < 6  # H.264 is close
        # The colour trajectory video decodes back to the same ids.
        decoded = MaskTrajectory.load(folder / "trajectory.mp4")
        assert (decoded.ids == scene.ids).mean() > 0.98
        meta = loaded.meta
        assert meta["seed"] == 10_000 + i and meta["split"] == "validation"
        assert meta["global_prompt"] == scene.global_prompt and meta["motion_prompt"] == scene.motion_prompt
        assert [o["local_prompt"] for o in meta["objects"]] == scene.local_prompts
        assert np.allclose([o["track"]["angle"] for o in meta["objects"]], scene.params()[..., 4], atol=1e-4)
        assert loaded.config == SMALL
        np.testing.assert_array_equal(loaded.regenerate().video, scene.video)


def test_write_scenes_refuses_other_split(tmp_path) -> None:
    with pytest.raises(SplitError):
        write_scenes(2, 9_999, tmp_path / "x", SMALL, split="test", progress=False)
    assert not (tmp_path / "x").exists()


def test_write_scenes_resumes(tmp_path) -> None:
    write_scenes(2, 20_000, tmp_path, SMALL, progress=False)
    stamp = (tmp_path / "scene_00001" / "video.mp4").stat().st_mtime_ns
    write_scenes(2, 20_000, tmp_path, SMALL, progress=False)
    assert (tmp_path / "scene_00001" / "video.mp4").stat().st_mtime_ns == stamp  # kept
    write_scenes(2, 20_005, tmp_path, SMALL, progress=False)  # other seeds: replaced
    assert json.loads((tmp_path / "scene_00001" / "scene.json").read_text())["seed"] == 20_006
