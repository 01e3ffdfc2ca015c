import json
import zipfile

import numpy as np
import pytest

from maskmotion.trajectory import (
    MAX_OBJECTS,
    PALETTE,
    DragPath,
    MaskTrajectory,
    MotionTrack,
    TrajectoryError,
    TrajectoryObject,
    decode_palette,
    fit_aspect,
    load_id_png,
    save_id_png,
    shift_canvas,
)


def random_trajectory(num_objects=4, t=8, h=64, w=64, seed=0):
    """Blocky random masks: objects as moving rectangles, some leaving the frame."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((t, h, w), np.uint8)
    for oid in range(1, num_objects + 1):
        y, x = rng.integers(0, h - 12), rng.integers(0, w - 12)
        vy, vx = rng.integers(-3, 4, size=2)
        sh, sw = rng.integers(6, 16, size=2)
        for f in range(t):
            y0, x0 = y + vy * f, x + vx * f
            ids[f, max(0, y0) : max(0, y0 + sh), max(0, x0) : max(0, x0 + sw)] = oid
    objects = [TrajectoryObject(i, f"obj{i}", f"object {i} moves") for i in range(1, num_objects + 1)]
    return MaskTrajectory(ids, objects)


def test_palette_is_well_separated_and_large_enough():
    assert MAX_OBJECTS >= 8
    p = PALETTE.astype(float)
    d = np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1)) + np.eye(len(p)) * 1e9
    assert d.min() >= 120


def test_render_decode_round_trip_is_exact_on_clean_input():
    traj = random_trajectory(num_objects=MAX_OBJECTS, seed=1)
    assert np.array_equal(decode_palette(traj.render()), traj.ids)
    back = MaskTrajectory.from_render(traj.render(), traj.objects)
    assert back == traj


def test_object_colour_is_fixed_by_id():
    assert TrajectoryObject(3, "x").colour == tuple(PALETTE[3])
    with pytest.raises(TrajectoryError, match="palette fixes"):
        TrajectoryObject(3, "x", colour=(1, 2, 3))
    with pytest.raises(TrajectoryError, match="outside"):
        TrajectoryObject(MAX_OBJECTS + 1, "x")


def test_unknown_ids_and_bad_dtype_fail_clearly():
    ids = np.zeros((2, 8, 8), np.uint8)
    ids[0, 0, 0] = 5
    with pytest.raises(TrajectoryError, match=r"object id\(s\) \[5\]"):
        MaskTrajectory(ids, [TrajectoryObject(1, "a")])
    with pytest.raises(TrajectoryError, match="uint8"):
        MaskTrajectory(ids.astype(np.int32), [TrajectoryObject(5, "a")])
    with pytest.raises(TrajectoryError, match=r"\(T, H, W\)"):
        MaskTrajectory(ids[0], [TrajectoryObject(5, "a")])


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_decode_survives_video_compression(tmp_path, suffix):
    traj = random_trajectory(num_objects=6, t=16, seed=2)
    path = traj.save(tmp_path / f"traj{suffix}")
    known = MaskTrajectory.load(path, traj.objects)
    assert (known.ids == traj.ids).mean() >= 0.99
    # Without the object list, colours are found and codec blends are not objects.
    found = MaskTrajectory.load(path)
    assert found.object_ids == traj.object_ids
    assert (found.ids == traj.ids).mean() >= 0.99


def test_npz_and_png_folder_round_trips_are_exact(tmp_path):
    traj = random_trajectory(seed=3)
    assert MaskTrajectory.load(traj.save(tmp_path / "t.npz")) == traj
    folder = traj.save(tmp_path / "frames")
    assert sorted(p.name for p in folder.iterdir())[:2] == ["frame_0000.png", "frame_0001.png"]
    assert MaskTrajectory.load(folder) == traj


def _write_npz(path, ids, meta):
    with open(path, "wb") as f:
        np.savez(f, ids=ids, meta=np.array(json.dumps(meta)))


def test_bad_npz_files_fail_naming_the_problem(tmp_path):
    traj = random_trajectory(num_objects=2, seed=4)
    good = tmp_path / "good.npz"
    traj.save(good)
    with np.load(good) as d:
        meta = json.loads(str(d["meta"]))
    cases = {
        "missing field": (traj.ids, {k: v for k, v in meta.items() if k != "objects"}, "missing field"),
        "wrong dtype": (traj.ids.astype(np.int16), meta, "uint8"),
        "size mismatch": (traj.ids[:, :32], meta, "metadata says"),
        "unknown id": (traj.ids, {**meta, "objects": meta["objects"][:1]}, r"object id\(s\) \[2\]"),
        "object field": (traj.ids, {**meta, "objects": [{"id": 1}]}, "missing field"),
    }
    for name, (ids, m, pattern) in cases.items():
        p = tmp_path / f"{name}.npz"
        _write_npz(p, ids, m)
        with pytest.raises(TrajectoryError, match=pattern):
            MaskTrajectory.load(p)
    p = tmp_path / "no_meta.npz"
    with open(p, "wb") as f:
        np.savez(f, ids=traj.ids)
    with pytest.raises(TrajectoryError, match="missing array"):
        MaskTrajectory.load(p)
    p = tmp_path / "corrupt.npz"
    p.write_bytes(good.read_bytes()[:100])
    with pytest.raises(TrajectoryError, match="corrupt"):
        MaskTrajectory.load(p)
    with pytest.raises(TrajectoryError, match="does not exist"):
        MaskTrajectory.load(tmp_path / "nope.npz")
    with pytest.raises(TrajectoryError, match="use .npz"):
        traj.save(tmp_path / "x.txt")


def test_png_folder_with_mismatched_frame_sizes_fails(tmp_path):
    traj = random_trajectory(num_objects=2, seed=5)
    folder = traj.save(tmp_path / "frames")
    save_id_png(folder / "frame_0003.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(TrajectoryError, match="differ in size"):
        MaskTrajectory.load(folder)


def test_id_png_forms(tmp_path):
    from PIL import Image

    ids = np.zeros((16, 20), np.uint8)
    ids[2:6, 3:9], ids[8:12, 10:18] = 1, 7
    assert np.array_equal(load_id_png(save_id_png(tmp_path / "p.png", ids)), ids)
    Image.fromarray(ids, mode="L").save(tmp_path / "grey.png")
    assert np.array_equal(load_id_png(tmp_path / "grey.png"), ids)
    Image.fromarray(PALETTE[ids]).save(tmp_path / "rgb.png")
    assert np.array_equal(load_id_png(tmp_path / "rgb.png"), ids)
    rgb = PALETTE[ids].copy()
    rgb[0, 0] = (10, 200, 30)
    Image.fromarray(rgb).save(tmp_path / "bad.png")
    with pytest.raises(TrajectoryError, match="not in the trajectory palette"):
        load_id_png(tmp_path / "bad.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(TrajectoryError, match="cannot read mask image"):
        load_id_png(tmp_path / "junk.png")


def test_resize_nearest_keeps_labels():
    traj = random_trajectory(seed=6)
    up = traj.resize(128, 128)
    assert up.size == (128, 128)
    assert set(np.unique(up.ids)) <= set(np.unique(traj.ids))
    # Doubling then halving with pixel-centre sampling is the identity.
    assert np.array_equal(up.resize(64, 64).ids, traj.ids)


def test_to_aspect_pad_and_crop_map_back():
    traj = random_trajectory(t=2, h=40, w=64, seed=7)
    padded, cmap = traj.to_aspect(1.0, "pad")
    assert padded.size == (64, 64) and (cmap.top, cmap.left) == (12, 0)
    assert np.array_equal(shift_canvas(padded.ids, cmap.inverse()), traj.ids)
    cropped, cmap = traj.to_aspect(1.0, "crop")
    assert cropped.size == (40, 40) and (cmap.top, cmap.left) == (0, -12)
    assert np.array_equal(cropped.ids, traj.ids[:, :, 12:52])
    img = np.zeros((40, 64, 3), np.uint8)
    assert shift_canvas(img, fit_aspect((40, 64), 16 / 9, "pad")).shape[:2] == (40, 71)


def test_boxes_centroids_areas_against_direct_computation():
    traj = random_trajectory(seed=8)
    boxes, cents, areas = traj.boxes(), traj.centroids(), traj.areas()
    for oid in traj.object_ids:
        for t in range(traj.num_frames):
            ys, xs = np.nonzero(traj.ids[t] == oid)
            assert areas[oid][t] == len(xs)
            if len(xs) == 0:
                assert np.isnan(boxes[oid][t]).all() and np.isnan(cents[oid][t]).all()
            else:
                assert tuple(boxes[oid][t]) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
                assert np.allclose(cents[oid][t], (xs.mean(), ys.mean()))


def _scene():
    ids = np.zeros((64, 64), np.uint8)
    ids[10:20, 10:20] = 1  # 10x10 square, centroid (14.5, 14.5)
    ids[30:40, 30:50] = 2
    objects = [TrajectoryObject(1, "square"), TrajectoryObject(2, "bar")]
    return ids, objects


def test_drag_translates_along_the_path():
    ids, objects = _scene()
    traj = MaskTrajectory.from_drag(ids, objects, {"square": DragPath.parse("0,0 30,0 30,-8")}, num_frames=5)
    c = traj.centroids()[1]
    assert np.allclose(c[:, 0], 14.5 + np.array([0, 15, 30, 30, 30]))
    assert np.allclose(c[:, 1], 14.5 + np.array([0, 0, 0, -4, -8]))
    assert (traj.areas()[1] == 100).all()
    assert (traj.ids == 2).sum(axis=(1, 2)).tolist() == [200] * 5  # the other object stays


def test_drag_scale_and_rotation_interpolate():
    ids, objects = _scene()
    path = DragPath(points=[(0, 0), (0, 0)], scales=[1.0, 2.0], angles=[0.0, 90.0])
    traj = MaskTrajectory.from_drag(ids, objects, {2: path}, num_frames=3)
    areas = traj.areas()[2]
    assert abs(areas[-1] / areas[0] - 4.0) < 0.1
    assert abs(areas[1] / areas[0] - 2.0) < 0.2  # log-space: sqrt(2)^2; 45° rasterises coarsely
    box = traj.boxes()[2][-1]
    # A 20-wide, 10-tall bar turned 90 degrees and doubled: 20 wide, 40 tall.
    assert abs((box[2] - box[0]) - 20) <= 1 and abs((box[3] - box[1]) - 40) <= 1


def test_drag_clips_at_border_and_keeps_occlusion_order():
    ids, objects = _scene()
    traj = MaskTrajectory.from_drag(ids, objects, {"square": DragPath.parse("0,0 -15,0")}, num_frames=2)
    assert traj.areas()[1][-1] == 50  # half the square left the frame
    over = MaskTrajectory.from_drag(ids, objects, {"square": DragPath.parse("0,0 25,25")}, num_frames=2)
    assert (over.ids[-1][35:40, 35:40] == 2).all()  # bar (id 2) is on top by default
    under = MaskTrajectory.from_drag(
        ids, objects, {"square": DragPath.parse("0,0 25,25")}, num_frames=2, depth_order=["bar", "square"]
    )
    assert (under.ids[-1][35:40, 35:40] == 1).all()


def test_motion_track_matrix_moves_points_as_documented():
    tr = MotionTrack.from_array(np.array([[5.0, -3.0, 2.0, 2.0, 90.0]]))
    m = tr.matrices((10.0, 10.0))[0]
    # (11, 10) is one pixel right of the centre; scaled x2 and turned 90 degrees
    # counter-clockwise on screen it ends two pixels *above* the moved centre.
    assert np.allclose(m @ np.array([11.0, 10.0, 1.0]), (15.0, 5.0))


def test_drag_errors():
    ids, objects = _scene()
    with pytest.raises(TrajectoryError, match="not an object"):
        MaskTrajectory.from_drag(ids, objects, {"dog": DragPath.parse("0,0 1,1")}, num_frames=3)
    with pytest.raises(TrajectoryError, match="cannot read drag point"):
        DragPath.parse("1,2 3")
    with pytest.raises(TrajectoryError, match="scales"):
        DragPath([(0, 0), (1, 1)], scales=[1.0])


@pytest.mark.parametrize(
    "text, what",
    [("0,0 nan,5", "points"), ("0,0 inf,5", "points"), ("0,0 5,5@nan", "scales"), ("0,0 5,5@inf", "scales"),
     ("0,0 5,5/nan", "angles"), ("0,0 5,5/-inf", "angles"), ("0,0 1e9,5", "points"), ("0,0 5,5@1e7", "scales")],
)  # fmt: skip
def test_drag_path_rejects_non_finite_and_absurd_numbers(text, what):
    with pytest.raises(TrajectoryError, match=f"drag {what} must"):
        DragPath.parse(text)
    with pytest.raises(TrajectoryError, match="finite"):
        DragPath([(0.0, 0.0), (1.0, 1.0)], times=[0.0, float("nan")])
