"""The SA-V layout: COCO RLE through pycocotools, masklet files read back exactly, and a
prepared SA-V sample whose trajectories are the masklets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maskmotion.data.video import decode_rle, encode_rle, find_sav_videos, list_clips, read_masklets
from maskmotion.errors import InputError

pytest.importorskip("pycocotools")


def test_rle_round_trip_and_known_counts():
    rng = np.random.default_rng(0)
    mask = rng.random((37, 53)) > 0.7
    rle = encode_rle(mask)
    assert rle["size"] == [37, 53] and isinstance(rle["counts"], str)
    assert np.array_equal(decode_rle(json.loads(json.dumps(rle))), mask)
    # Uncompressed RLE (column-major runs, starting with background): a 3x2 mask with
    # its middle row set, i.e. column runs 1 off, 1 on, 2 off, 1 on, 1 off.
    small = decode_rle({"size": [3, 2], "counts": [1, 1, 2, 1, 1]})
    assert small.tolist() == [[False, False], [True, True], [False, False]]
    with pytest.raises(InputError, match="size"):
        decode_rle({"size": [3], "counts": "x"})


def test_masklets_read_back_exactly(sav_folder):
    root, maps = sav_folder
    [entry] = find_sav_videos(root)
    assert entry.video_id == "sav_000001" and entry.video.name == "sav_000001.mp4"
    masklets = read_masklets(entry.annotation)
    assert masklets.stride == 4 and masklets.num_annotated == 12 and masklets.masklet_ids == [0, 1]
    for k in range(12):
        assert np.array_equal(masklets.id_map(k), maps[k])
    assert masklets.annotated_index(8) == 2 and masklets.annotated_index(9) is None
    [clip] = list_clips(root)  # the layout is recognised by its annotation files
    assert clip.masklets == entry.annotation


def test_bad_annotation_names_the_file(tmp_path):
    bad = tmp_path / "sav_000002_manual.json"
    bad.write_text(json.dumps({"masklet": [[{"size": [4, 4], "counts": "x"}]], "masklet_id": [0, 1]}))
    with pytest.raises(InputError, match="sav_000002_manual.json: annotated frame 0 has 1 masks for 2 masklets"):
        read_masklets(bad)
    with pytest.raises(InputError, match="no SA-V videos"):
        find_sav_videos(tmp_path)


def test_prepared_sav_sample_uses_the_masklets_as_the_track(sav_folder, tmp_path):
    from maskmotion.data.video import ShardSet
    from maskmotion.data.video.windows import crop_resize_ids
    from maskmotion.prepare import PrepareOptions, prepare

    root, maps = sav_folder
    # 6 fps on a 24 fps video: every window frame is an annotated frame.
    stats = prepare(root, tmp_path / "out", PrepareOptions(frames=4, fps=6, height=36, width=44), progress=False)
    assert stats["samples"] == 3 and stats["windows_dropped"] == 0
    shards = ShardSet(f"shards:{tmp_path}/out/shards/*.tar", buffer=0)
    for i in range(len(shards)):
        sample = shards.sample(i)
        assert sample.meta["source"]["objects_from"] == "masklets"
        frames = sample.meta["source"]["frames"]
        assert frames == [16 * i + 4 * t for t in range(4)]
        expected = np.stack([crop_resize_ids(maps[f // 4], (36, 44)) for f in frames])
        # Objects are found at the tracking size and brought down to the output size, so
        # the ids match the masklets resized straight down up to a pixel along edges.
        for oid in (1, 2):
            got, want = sample.ids == oid, expected == oid
            assert (got & want).sum() / (got | want).sum() > 0.85, oid
        assert [o.name for o in sample.objects] == ["object 1", "object 2"]


def test_a_masklet_file_of_another_video_is_counted_not_fatal(sav_folder, tmp_path):
    import shutil

    from maskmotion.data.video import write_masklets
    from maskmotion.prepare import PrepareOptions, prepare

    root, maps = sav_folder
    bad = tmp_path / "sav"
    bad.mkdir()
    shutil.copy(root / "sav_train" / "sav_000" / "sav_000001.mp4", bad / "sav_000002.mp4")
    write_masklets(bad / "sav_000002_manual.json", "sav_000002", maps[:, :50, :60], video_frame_count=48)
    stats = prepare(bad, tmp_path / "out", PrepareOptions(frames=4, fps=6, height=36, width=44), progress=False)
    assert stats["samples"] == 0 and stats["dropped"]["unreadable"] == 1
    record = json.loads((tmp_path / "out" / "parts" / "sav_000002.json").read_text())
    assert "belongs to another video" in record["error"]
