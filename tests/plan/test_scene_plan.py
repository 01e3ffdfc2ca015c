import json

import numpy as np
import pytest

from maskmotion.errors import InputError
from maskmotion.plan import ObjectRequest, PlanError, PlannedObject, PlanRequest, ScenePlan
from maskmotion.trajectory import MAX_OBJECTS, TrajectoryObject


def _ids(n=2, h=16, w=32):
    ids = np.zeros((h, w), np.uint8)
    for i in range(n):
        x0 = i * w // n
        ids[4:12, x0 + 1 : x0 + w // n - 1] = i + 1
    return ids


def _plan(**kw):
    args = dict(
        global_prompt="a dog and a cat; the dog jumps while the cat runs",
        motion_prompt="The dog jumps while the cat runs.",
        objects=(PlannedObject(1, "dog", "the dog jumps"), PlannedObject(2, "cat", "the cat runs")),
        first_ids=_ids(),
    )
    args.update(kw)
    return ScenePlan(**args)


def test_plan_fields_and_access():
    plan = _plan()
    assert plan.size == (16, 32)
    assert plan.local_prompts == ["the dog jumps", "the cat runs"]
    assert plan.object("cat").id == 2 and plan.object(1).name == "dog"
    with pytest.raises(KeyError):
        plan.object("bird")
    assert plan.trajectory_objects() == [TrajectoryObject(1, "dog", "the dog jumps"), TrajectoryObject(2, "cat", "the cat runs")]
    assert not plan.first_ids.flags.writeable


def test_objects_sorted_by_id():
    plan = _plan(objects=(PlannedObject(2, "cat", "c"), PlannedObject(1, "dog", "d")))
    assert [o.id for o in plan.objects] == [1, 2]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(objects=(PlannedObject(1, "dog", "x"), PlannedObject(1, "cat", "y"))), "unique"),
        (dict(objects=(PlannedObject(1, "dog", "x"), PlannedObject(2, "dog", "y"))), "names must be unique"),
        (dict(objects=(PlannedObject(1, "dog", "x"),)), "id(s) [2] with no object"),
        (dict(objects=(PlannedObject(1, "dog", "x"), PlannedObject(2, "cat", "y"), PlannedObject(3, "bird", "z"))), "no pixels"),
        (dict(objects=(PlannedObject(1, "dog", ""), PlannedObject(2, "cat", "y"))), "empty local prompt"),
        (dict(objects=(PlannedObject(1, " ", "x"), PlannedObject(2, "cat", "y"))), "non-empty name"),
        (dict(motion_prompt=" "), "motion prompt is empty"),
        (dict(global_prompt=""), "global prompt is empty"),
        (dict(first_ids=_ids().astype(np.int32)), "uint8"),
        (dict(first_ids=np.zeros((2, 3, 4), np.uint8)), "(H, W)"),
        (dict(objects=()), "at least one object"),
        (dict(objects=(PlannedObject(0, "dog", "x"),)), "outside"),
    ],
)
def test_validation(change, message):
    with pytest.raises(PlanError) as info:
        _plan(**change)
    assert message in str(info.value)
    assert isinstance(info.value, InputError)


def test_too_many_objects():
    ids = np.zeros((4, 64), np.uint8)
    objects = tuple(PlannedObject(i, f"o{i}", "x") for i in range(1, MAX_OBJECTS + 2))
    with pytest.raises(PlanError, match="at most"):
        _plan(first_ids=ids, objects=objects)


def test_json_round_trip_and_file(tmp_path):
    plan = _plan(warnings=("w1",), source="rules")
    data = json.loads(json.dumps(plan.to_json()))
    assert data["format"] == "maskmotion-plan" and data["version"] == 1
    assert ScenePlan.from_json(data) == plan
    path = plan.save(tmp_path / "plan.json")
    assert ScenePlan.load(path) == plan
    assert plan != _plan(motion_prompt="The dog jumps.")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("motion_prompt"), "missing field(s) ['motion_prompt']"),
        (lambda d: d.update(extra=1), "unknown field(s) ['extra']"),
        (lambda d: d.update(format="other"), "not a maskmotion plan"),
        (lambda d: d.update(version=99), "newer than this maskmotion"),
        (lambda d: d.update(version="1"), "positive integer"),
        (lambda d: d.update(objects={}), "must be a list"),
        (lambda d: d["objects"][0].update(id="1"), "objects[0].id must be an integer"),
        (lambda d: d["objects"][0].pop("local_prompt"), "objects[0] is missing"),
        (lambda d: d["objects"][0].update(colour=[1, 2, 3]), "objects[0] has unknown field(s) ['colour']"),
        (lambda d: d["first_ids"].update(data="!!!"), "corrupt"),
        (lambda d: d["first_ids"].update(shape=[3, 3]), "holds more values than shape [3, 3] needs"),
        (lambda d: d["first_ids"].update(encoding="png"), "encoding"),
        (lambda d: d.update(warnings=[1]), "warnings[] must be a str"),
        (lambda d: d.update(motion_prompt=3), "motion_prompt must be a str"),
    ],
)
def test_from_json_is_strict(edit, message):
    data = _plan().to_json()
    edit(data)
    with pytest.raises(PlanError) as info:
        ScenePlan.from_json(data)
    assert message in str(info.value)


def test_load_errors(tmp_path):
    with pytest.raises(PlanError, match="does not exist"):
        ScenePlan.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PlanError, match="not valid JSON"):
        ScenePlan.load(bad)
    with pytest.raises(PlanError, match=r"\.json"):
        _plan().save(tmp_path / "plan.txt")
    with pytest.raises(PlanError, match="does not exist"):
        _plan().save(tmp_path / "no" / "plan.json")


def test_with_local_prompts_and_replace():
    plan = _plan().with_local_prompts({"dog": "the dog sits"})
    assert plan.object("dog").local_prompt == "the dog sits"
    with pytest.raises(PlanError, match="no object named"):
        plan.with_local_prompts({"bird": "x"})
    with pytest.raises(PlanError):
        plan.replace(motion_prompt="")


def test_request_renames_same_named_objects_by_place():
    ids = np.zeros((10, 30), np.uint8)
    ids[2:5, 20:25] = 1  # right
    ids[2:5, 2:6] = 2  # left
    ids[6:9, 10:14] = 3
    req = PlanRequest("dogs", ids, (ObjectRequest(1, "dog"), ObjectRequest(2, "dog"), ObjectRequest(3, "cat")))
    assert [o.name for o in req.objects] == ["right dog", "left dog", "cat"]
    stacked = np.zeros((30, 10), np.uint8)
    stacked[2:5, 2:5], stacked[20:25, 2:5] = 1, 2
    req = PlanRequest("dogs", stacked, (ObjectRequest(1, "dog"), ObjectRequest(2, "dog")))
    assert [o.name for o in req.objects] == ["top dog", "bottom dog"]


def test_request_numbers_many_same_named_objects():
    ids = np.zeros((4, 40), np.uint8)
    for i in range(4):
        ids[1:3, 10 * i + 2 : 10 * i + 5] = 4 - i
    req = PlanRequest("birds", ids, tuple(ObjectRequest(i, "bird") for i in range(1, 5)))
    assert {o.id: o.name for o in req.objects} == {4: "bird 1", 3: "bird 2", 2: "bird 3", 1: "bird 4"}


def test_request_validation():
    with pytest.raises(PlanError, match="global prompt is empty"):
        PlanRequest(" ", _ids(), (ObjectRequest(1, "a"), ObjectRequest(2, "b")))
    with pytest.raises(PlanError, match="no object"):
        PlanRequest("x", _ids(), (ObjectRequest(1, "a"),))
