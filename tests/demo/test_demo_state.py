"""The page's pieces without a server: session state, clicks on the canvas, paths from a
trajectory, and the upload checks (with a real pipeline object that holds no models)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from maskmotion.demo.canvas import DISPLAY_LONG_SIDE, Canvas
from maskmotion.demo.engine import DemoConfig, DemoEngine
from maskmotion.demo.state import ObjectPath, Session, paths_from_trajectory
from maskmotion.errors import InputError
from maskmotion.pipelines import AnimatePipeline
from maskmotion.plan import ImageLimits
from maskmotion.trajectory import DragPath, MaskTrajectory, TrajectoryObject


@pytest.fixture
def engine():
    e = DemoEngine(DemoConfig(limits=ImageLimits(max_pixels=100 * 80), max_upload_bytes=20_000), pipe=AnimatePipeline())
    yield e
    e.close()
    assert not e.root.exists()


def _png(path, w, h):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def test_canvas_maps_clicks_to_the_original_pixels():
    canvas = Canvas((60, 80))  # H, W
    assert max(canvas.size) == DISPLAY_LONG_SIDE and canvas.size == (384, 512)
    for xy in [(0, 0), (79, 59), (33, 17)]:
        assert canvas.to_source(canvas.to_canvas(xy)) == xy
    big = Canvas((3000, 4000))
    assert big.to_source((511, 383)) == (3996, 2996)  # the last canvas pixel is near the far corner
    picture = canvas.draw(np.zeros((60, 80, 3), np.uint8), [], first_ids=np.ones((60, 80), np.uint8))
    assert picture.shape == (384, 512, 3) and (picture[..., 0] > 100).all()  # object 1's red over all


def test_box_clicks_points_and_names(tmp_path):
    s = Session(tmp_path, image_path=tmp_path / "x.png", source_size=(60, 80))
    assert not s.click_box((50, 40))  # the first corner; an object is added for it
    assert s.click_box((10, 5))
    assert s.current.name == "object 1" and s.current.box == (10, 5, 51, 41)
    s.click_point((20, 20), on_object=False)
    with pytest.raises(InputError, match="outside the box"):
        s.click_point((70, 50), on_object=True)
    s.add_object("dog")
    with pytest.raises(InputError, match="already"):
        s.rename_selected("object 1", "")
    with pytest.raises(InputError, match="may not hold"):
        s.rename_selected("a:b", "")
    s.rename_selected("black dog", "the dog jumps")
    boxes, objects, points = s.hints()
    assert [b.name for b in boxes] == ["object 1"]  # the dog has no box yet
    assert points[0].positive is False and points[0].xy == (20, 20)
    assert [o.prompt for o in s.objects] == ["", "the dog jumps"]
    s.remove_selected()
    assert s.names() == ["object 1"] and s.selected == 0


def test_path_text_round_trip_and_moving_a_point(tmp_path):
    path = ObjectPath([(10.0, 20.0), (30.0, 20.0)], [1.0, 1.5], [0.0, 90.0])
    assert path.text() == "10,20 30,20@1.50/90"
    assert ObjectPath.parse(path.text()) == path
    with pytest.raises(InputError, match="cannot read drag point"):
        ObjectPath.parse("10,20 oops")
    s = Session(tmp_path, image_path=tmp_path / "x.png", source_size=(60, 80))
    s.add_object("star").box = (0, 0, 40, 40)
    s.current.path = path
    with pytest.raises(InputError, match="no path point there"):
        s.click_path_move((70, 50), reach=3)
    assert not s.click_path_move((29, 21), reach=3) and s.moving == 1
    assert s.click_path_move((50, 45), reach=3)
    assert s.current.drag and s.current.path.points[1] == (50.0, 45.0)
    assert s.drags()["star"].points == [(10.0, 20.0), (50.0, 45.0)]


def test_drawing_a_new_path_starts_at_the_centre(tmp_path):
    s = Session(tmp_path, image_path=tmp_path / "x.png", source_size=(60, 80))
    s.add_object("star").box = (0, 0, 40, 40)
    s.current.path = ObjectPath([(20.0, 20.0), (5.0, 20.0)], [1.0, 1.0], [0.0, 0.0])  # stage 1's, not a drag
    s.click_path_add((60, 30), centre=(19.5, 19.5))
    s.click_path_add((95, 30), centre=(19.5, 19.5))  # clamped into the image
    assert s.current.drag and s.current.path.points == [(19.5, 19.5), (60.0, 30.0), (79.0, 30.0)]


def test_paths_from_a_dragged_trajectory_come_back_as_its_keyframes():
    first = np.zeros((32, 48), np.uint8)
    first[10:16, 8:14] = 1
    objects = [TrajectoryObject(1, "box", "")]
    drag = DragPath([(10.5, 12.5), (30.5, 20.5)])
    traj = MaskTrajectory.from_drag(first, objects, {"box": drag}, num_frames=9)
    paths = paths_from_trajectory(traj, source_size=(64, 96))  # the original is twice as large
    got = paths["box"].points
    assert len(got) == 5
    start, end = np.array(got[0]), np.array(got[-1])
    np.testing.assert_allclose(end - start, [40.0, 16.0], atol=0.5)  # (20, 8) at the trajectory's size, x2
    np.testing.assert_allclose(paths["box"].scales, 1.0)


def test_uploads_are_checked_before_they_are_kept(engine, tmp_path):
    session = engine.new_session()
    with pytest.raises(InputError, match="not an image file the page takes"):
        engine.take_upload(session, tmp_path / "notes.txt")
    with pytest.raises(InputError, match="above the limit of 8,000 pixels"):
        big = tmp_path / "big.png"
        Image.new("RGB", (100, 81), (10, 20, 30)).save(big)  # small in bytes, too many pixels
        engine.take_upload(session, big)
    noisy = _png(tmp_path / "noisy.png", 90, 80)
    assert noisy.stat().st_size > 20_000
    with pytest.raises(InputError, match=r"noisy.png is 2\d\.\d kB, above the upload limit of 19.5 kB"):
        engine.take_upload(session, noisy)
    assert session.image_path is None
    engine.take_upload(session, _png(tmp_path / "ok.png", 60, 40), "ok.png")
    assert session.source_size == (40, 60) and session.image_path.parent == session.folder
    with pytest.raises(InputError, match="no object has a box yet"):
        engine.scene(session, "the dog jumps")


def test_paths_without_tracks_follow_the_mask_centroids_through_hidden_frames():
    ids = np.zeros((5, 20, 20), np.uint8)
    for t, x in enumerate([2, 4, 6, 8, 10]):
        ids[t, 5:9, x : x + 4] = 1
    ids[2] = 0  # hidden in the middle frame
    traj = MaskTrajectory(ids, [TrajectoryObject(1, "dot", "")])
    assert traj.tracks is None
    points = paths_from_trajectory(traj, source_size=(20, 20))["dot"].points
    assert [x for x, _ in points] == [3.5, 5.5, 5.5, 9.5, 11.5]  # frame 2 keeps frame 1's place


def test_the_engine_drops_idle_sessions_with_their_folders_but_never_a_busy_one():
    idle = 0.3
    engine = DemoEngine(DemoConfig(idle_seconds=idle), pipe=AnimatePipeline())
    try:
        left = engine.claim(None)  # an event makes the session, ...
        engine.release(left)  # ... and its idle time starts when the event ends
        working = engine.claim(None)  # an event still running (a long render)
        (left.folder / "input.png").write_bytes(b"x")
        engine.drop(working)  # gradio's own expiry leaves a busy session alone
        assert working.folder.is_dir()
        assert engine.drop_idle() == []  # nothing idle yet
        deadline = time.monotonic() + 5
        while left.folder.exists():  # the engine's own sweep, no call from here
            assert time.monotonic() < deadline, "the idle session's folder was kept"
            time.sleep(0.02)
        assert time.monotonic() - left.last_used >= idle
        time.sleep(idle * 2)
        assert working.folder.is_dir(), "a session in use was dropped"
        engine.release(working)
        assert engine.claim(left) is not left  # the page goes on, in a new session
        assert engine.claim(working) is working
    finally:
        engine.close()
    with pytest.raises(InputError, match="the idle time of a session must be positive"):
        DemoEngine(DemoConfig(idle_seconds=0), pipe=AnimatePipeline())


def test_a_drag_from_the_page_is_read_as_both_ends_or_refused():
    from maskmotion.demo.app import parse_drag

    assert parse_drag("3,4 50,61 7") == ((3, 4), (50, 61))
    for bad in ("", "3,4", "3,4 x,5 1", "3,4,5 6,7 1"):
        with pytest.raises(InputError, match="reload the page"):
            parse_drag(bad)
