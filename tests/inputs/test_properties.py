"""Property-based checks of the loaders and parsers users feed: valid data round-trips,
anything else is an input error (never another exception)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskmotion.errors import InputError
from maskmotion.plan import PlannedObject, PlanError, ScenePlan, parse_box_arg
from maskmotion.trajectory import DragPath, MaskTrajectory, MotionTrack, TrajectoryObject
from maskmotion.trajectory.storage import load_trajectory

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def trajectories(draw):
    t, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
    ids_present = draw(st.lists(st.integers(1, 8), min_size=1, max_size=4, unique=True))
    ids = draw(st.lists(st.sampled_from([0, *ids_present]), min_size=t * h * w, max_size=t * h * w))
    objects = [TrajectoryObject(i, f"obj{i}", draw(st.text(max_size=12))) for i in sorted(ids_present)]
    tracks = None
    if draw(st.booleans()):
        finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
        tracks = {
            o.id: MotionTrack.from_array(np.array(draw(st.lists(st.tuples(finite, finite, st.floats(0.1, 3), st.floats(0.1, 3), finite),
                                                                min_size=t, max_size=t))))  # fmt: skip
            for o in objects
        }
    fps = draw(st.floats(0.5, 60))
    return MaskTrajectory(np.array(ids, np.uint8).reshape(t, h, w), objects, fps=fps, tracks=tracks)


@FAST
@given(traj=trajectories(), kind=st.sampled_from([".npz", ""]))
def test_trajectory_round_trip(tmp_path_factory, traj, kind):
    path = tmp_path_factory.mktemp("t") / f"t{kind}"
    traj.save(path)
    back = load_trajectory(path)
    assert np.array_equal(back.ids, traj.ids) and back.objects == traj.objects
    assert math.isclose(back.fps, traj.fps)
    if traj.tracks is None:
        assert not back.tracks
    else:
        for i, track in traj.tracks.items():
            assert np.allclose(back.tracks[i].as_array(), track.as_array())


@FAST
@given(traj=trajectories(), data=st.data())
def test_corrupt_trajectory_files_are_trajectory_errors(tmp_path_factory, traj, data):
    path = tmp_path_factory.mktemp("c") / "t.npz"
    traj.save(path)
    raw = bytearray(path.read_bytes())
    kind = data.draw(st.sampled_from(["cut", "flip", "junk"]))
    if kind == "cut":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    else:
        raw = bytearray(data.draw(st.binary(max_size=400)))
    path.write_bytes(bytes(raw))
    try:
        load_trajectory(path)
    except InputError:
        pass


@FAST
@given(st.text(alphabet="0123456789,.@/- eEnaifNI+", max_size=40))
def test_drag_paths_parse_or_refuse(text):
    try:
        path = DragPath.parse(text)
    except InputError:
        return
    array = np.asarray(path.points, dtype=float)
    assert np.isfinite(array).all() and len(path.points) >= 1


@pytest.mark.parametrize("bad", ["nan,0 1,1", "0,0 inf,1", "0,0 1,1@nan", "0,0 1,1/inf", "1e400,0 1,1"])
def test_drag_paths_refuse_non_finite_numbers(bad):
    with pytest.raises(InputError):
        DragPath.parse(bad)


@FAST
@given(st.text(max_size=30))
def test_box_arguments_parse_or_refuse(text):
    try:
        box = parse_box_arg(text)
    except InputError:
        return
    x0, y0, x1, y1 = box.box
    assert x1 > x0 and y1 > y0 and box.name.strip()


@FAST
@given(
    h=st.integers(1, 24), w=st.integers(1, 24), n=st.integers(1, 5), prompt=st.text(min_size=1, max_size=20).filter(str.strip),
    data=st.data(),
)
def test_plan_round_trip_and_corrupt_json(tmp_path_factory, h, w, n, prompt, data):
    ids = np.array(data.draw(st.lists(st.integers(0, n), min_size=h * w, max_size=h * w)), np.uint8).reshape(h, w)
    present = sorted(int(i) for i in np.unique(ids) if i)
    if not present:
        return
    objects = tuple(PlannedObject(i, f"o{i}", f"object {i}") for i in present)
    plan = ScenePlan(prompt, prompt, objects, ids)
    folder = tmp_path_factory.mktemp("p")
    plan.save(folder / "p.json")
    assert ScenePlan.load(folder / "p.json") == plan
    text = (folder / "p.json").read_text()
    cut = data.draw(st.integers(0, len(text) - 1))
    (folder / "bad.json").write_text(text[:cut] + data.draw(st.text(max_size=5)))
    try:
        ScenePlan.load(folder / "bad.json")
    except PlanError:
        pass
    entry = json.loads(text)
    key = data.draw(st.sampled_from(["shape", "data", "encoding"]))
    entry["first_ids"][key] = data.draw(st.one_of(st.integers(), st.text(max_size=8), st.lists(st.integers(-5, 10**9), max_size=3)))
    with pytest.raises(PlanError):
        ScenePlan.from_json(entry)
