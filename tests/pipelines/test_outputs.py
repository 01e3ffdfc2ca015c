"""A run's outputs appear all together or not at all."""

import os
from pathlib import Path

import pytest

from maskmotion.pipelines.outputs import ANIMATE_OUTPUTS, OutputFiles, output_paths


def test_a_failed_move_puts_everything_back(tmp_path, monkeypatch):
    paths = output_paths(tmp_path / "v.mp4", ANIMATE_OUTPUTS)
    paths["video"].write_bytes(b"the previous run's video")
    real_replace = os.replace
    moved = []

    def failing_replace(src, dst):
        # The third output's move fails, after two have been moved into place.
        if Path(dst) in paths.values():
            moved.append(Path(dst))
            if len(moved) == 3:
                raise OSError("disk full")
        real_replace(src, dst)

    with pytest.raises(OSError, match="disk full"):
        with OutputFiles(paths) as files:
            for key in paths:
                files.tmp(key).write_bytes(key.encode())
            monkeypatch.setattr(os, "replace", failing_replace)
    monkeypatch.undo()
    assert paths["video"].read_bytes() == b"the previous run's video"  # restored, not replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]  # nothing new, no temporary folder
