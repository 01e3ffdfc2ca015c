"""`--engine ray` on a local Ray instance with two workers writes the default path's shards."""

from __future__ import annotations

import pytest
from clip_testing import TINY

from maskmotion.prepare import PrepareOptions, prepare

pytest.importorskip("ray.data")


def test_ray_engine_gives_the_same_shards(clip_folder, prepared, tmp_path):
    stats = prepare(clip_folder, tmp_path / "ray", PrepareOptions(**TINY, max_windows=4, clips_per_shard=1),
                    engine="ray", workers=2, progress=False)  # fmt: skip
    assert stats["run"] == {**stats["run"], "engine": "ray", "workers": 2, "clips_processed": 2}
    local = {p.name: p.read_bytes() for p in (prepared / "shards").glob("*.tar")}
    ray = {p.name: p.read_bytes() for p in (tmp_path / "ray" / "shards").glob("*.tar")}
    assert local and ray == local
    assert (tmp_path / "ray" / "stats.json").is_file()
