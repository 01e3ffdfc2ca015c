"""Seeded byte-level corruption of every kind of file a user gives: images, videos,
trajectory files, plans, model configs. Only input errors may come out."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from maskmotion.errors import InputError
from maskmotion.models.io import read_model_config
from maskmotion.plan import ScenePlan, load_image, probe_image
from maskmotion.trajectory import MaskTrajectory, TrajectoryObject
from maskmotion.trajectory.storage import load_trajectory

ROUNDS = 12


def _variants(data: bytes, seed: int):
    """Truncations, bit flips and random bytes of ``data``, reproducibly."""
    rng = np.random.default_rng(seed)
    for _ in range(ROUNDS):
        yield data[: int(rng.integers(0, len(data)))]
        flipped = bytearray(data)
        for pos in rng.integers(0, len(data), size=int(rng.integers(1, 16))):
            flipped[pos] ^= 1 << int(rng.integers(0, 8))
        yield bytes(flipped)
        head = int(rng.integers(0, min(len(data), 64)))
        yield data[:head] + rng.integers(0, 256, size=int(rng.integers(1, 512)), dtype=np.uint8).tobytes()


def _fuzz(tmp_path, name: str, data: bytes, load, seed: int) -> None:
    for k, variant in enumerate(_variants(data, seed)):
        path = tmp_path / f"{k}_{name}"
        path.write_bytes(variant)
        try:
            load(path)
        except InputError:
            pass


@pytest.mark.parametrize("suffix", ["png", "jpg", "gif", "webp", "tiff"])
def test_corrupt_images(tmp_path, suffix):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / f"x.{suffix}")
    data = (tmp_path / f"x.{suffix}").read_bytes()
    _fuzz(tmp_path, f"x.{suffix}", data, load_image, seed=2)
    _fuzz(tmp_path, f"y.{suffix}", data, lambda p: load_image(p, size=(20, 24)), seed=3)
    _fuzz(tmp_path, f"z.{suffix}", data, probe_image, seed=4)


def _trajectory() -> MaskTrajectory:
    ids = np.zeros((4, 24, 32), np.uint8)
    ids[:, 4:12, 4:14] = 1
    ids[:, 14:20, 18:30] = 2
    return MaskTrajectory(ids, [TrajectoryObject(1, "a", "an a"), TrajectoryObject(2, "b")])


@pytest.mark.parametrize("suffix", [".npz", ".mp4", ".gif"])
def test_corrupt_trajectory_files(tmp_path, suffix):
    _trajectory().save(tmp_path / f"t{suffix}")
    _fuzz(tmp_path, f"t{suffix}", (tmp_path / f"t{suffix}").read_bytes(), load_trajectory, seed=5)


def test_corrupt_json_files(tmp_path):
    ids = np.zeros((16, 16), np.uint8)
    ids[2:9, 3:7] = 1
    from maskmotion.plan import PlannedObject

    ScenePlan("a dog", "a dog", (PlannedObject(1, "dog", "a dog"),), ids).save(tmp_path / "p.json")
    _fuzz(tmp_path, "p.json", (tmp_path / "p.json").read_bytes(), ScenePlan.load, seed=6)
    config = json.dumps({"model_type": "motion_dit", "config": {"dim": 64, "depth": 2}}).encode()

    def load_config(path):
        folder = path.with_suffix("")
        folder.mkdir()
        (folder / "config.json").write_bytes(path.read_bytes())
        return read_model_config(folder)

    _fuzz(tmp_path, "c.bin", config, load_config, seed=7)
