"""The torch dataset: documented shapes and dtypes, cache shards written once and reused."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from maskmotion.data.sprites import MOTION_KINDS, SpritesConfig, SpritesDataset, collate_scenes, generate_scene

SMALL = SpritesConfig(num_frames=8, height=32, width=48)


def test_item_shapes_and_values() -> None:
    ds = SpritesDataset("train", 4, SMALL)
    item = ds[2]
    t, h, w, k = 8, 32, 48, SMALL.max_objects
    assert item["video"].shape == (t, 3, h, w) and item["video"].dtype == torch.float32
    assert item["video"].min() >= -1 and item["video"].max() <= 1
    assert item["first_frame"].shape == (3, h, w)
    assert torch.equal(item["first_frame"], item["video"][0])
    assert item["ids"].shape == (t, h, w) and item["ids"].dtype == torch.int64
    assert torch.equal(item["first_ids"], item["ids"][0])
    assert item["params"].shape == (k, t, 6) and item["colours"].shape == (k, t, 3)
    n = int(item["num_objects"])
    assert item["present"].tolist() == [True] * n + [False] * (k - n)
    assert (item["params"][n:] == 0).all() and (item["motion"][n:] == -1).all()
    assert len(item["local_prompts"]) == k and item["local_prompts"][n:] == [""] * (k - n)
    scene = generate_scene(item["seed"], SMALL)
    assert item["seed"] == ds.seeds[2]
    assert item["global_prompt"] == scene.global_prompt
    assert item["names"][:n] == scene.names
    np.testing.assert_array_equal(item["ids"].numpy(), scene.ids)
    expected = torch.from_numpy(scene.video).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.allclose(item["video"], expected)
    assert [MOTION_KINDS[i] for i in item["motion"][:n]] == [o.spec.motion.kind for o in scene.objects]
    assert torch.allclose(item["params"][:n], torch.from_numpy(scene.params()))


def test_cthw_layout() -> None:
    a = SpritesDataset("train", 1, SMALL)[0]["video"]
    b = SpritesDataset("train", 1, SMALL, layout="CTHW")[0]["video"]
    assert b.shape == (3, 8, 32, 48) and torch.equal(a.permute(1, 0, 2, 3), b)


def test_cache_is_written_once_and_reused(tmp_path) -> None:
    ds = SpritesDataset("validation", 10, SMALL, cache_dir=tmp_path, shard_size=4)
    fresh = SpritesDataset("validation", 10, SMALL)
    assert ds.prepare(progress=False) == 3
    shards = sorted(tmp_path.rglob("*.npz"))
    assert len(shards) == 3 and SMALL.fingerprint() in str(shards[0])
    stamps = [p.stat().st_mtime_ns for p in shards]
    # A second dataset (other size, same config) reads the same shards, touching nothing.
    again = SpritesDataset("validation", 6, SMALL, cache_dir=tmp_path, shard_size=4)
    assert again.prepare(progress=False) == 0
    for i in (0, 5):
        a, b = again[i], fresh[i]
        assert torch.equal(a["video"], b["video"]) and torch.equal(a["ids"], b["ids"])
        assert a["local_prompts"] == b["local_prompts"] and a["seed"] == b["seed"]
    assert [p.stat().st_mtime_ns for p in shards] == stamps
    # Another config never reads these shards.
    other = SpritesDataset("validation", 2, SpritesConfig(num_frames=4, height=32, width=32), cache_dir=tmp_path, shard_size=4)
    assert other[0]["video"].shape[0] == 4
    assert len(list(tmp_path.iterdir())) == 2


def test_dataloader_batches() -> None:
    loader = DataLoader(SpritesDataset("train", 6, SMALL), batch_size=3, collate_fn=collate_scenes)
    batch = next(iter(loader))
    assert batch["video"].shape == (3, 8, 3, 32, 48)
    assert batch["seed"].tolist() == [20_000, 20_001, 20_002]
    assert len(batch["local_prompts"]) == 3 and len(batch["local_prompts"][0]) == SMALL.max_objects
    assert isinstance(batch["global_prompt"][0], str)
