import json

import numpy as np
import pytest

from maskmotion.bench import load_manifest, load_suite, write_sprites_manifest
from maskmotion.errors import InputError


def test_sprites_suite_carries_the_ground_truth():
    cases = load_suite("sprites-test:3")
    assert [c.case_id for c in cases] == ["test-00000", "test-00001", "test-00002"]
    for c in cases:
        assert c.image.shape == (64, 64, 3) and c.first_ids.shape == (64, 64)
        assert c.reference_video.shape == (16, 64, 64, 3) and c.reference_ids.shape == (16, 64, 64)
        assert np.array_equal(c.reference_ids[0], c.first_ids)
        assert set(c.kinds) == {o[0] for o in c.objects} == set(c.reference_curves)
        plan = c.plan()
        assert plan.motion_prompt == c.motion_prompt and plan.local_prompts == [p for _, _, p in c.objects]
    assert len(load_suite("sprites-val", limit=2)) == 2


def test_manifest_round_trip(tmp_path):
    manifest = write_sprites_manifest(tmp_path / "suite", "test", 2)
    direct = load_suite("sprites-test:2")
    loaded = load_suite(str(manifest))
    assert [c.case_id for c in loaded] == [c.case_id for c in direct]
    for a, b in zip(loaded, direct):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.first_ids, b.first_ids)
        assert np.array_equal(a.reference_ids, b.reference_ids)
        assert a.kinds == b.kinds and a.objects == b.objects and a.motion_prompt == b.motion_prompt
        # The reference video went through H.264 (4:2:0 chroma on 64x64 sprites): close, not equal.
        err = np.abs(a.reference_video.astype(int) - b.reference_video.astype(int)).mean()
        assert err < 5.0


def test_manifest_without_optional_fields_plans_with_the_rules(tmp_path):
    manifest = write_sprites_manifest(tmp_path / "suite", "test", 1)
    entry = json.loads(manifest.read_text().splitlines()[0])
    names = [o["name"] for o in entry["objects"]]
    slim = {"id": "x1", "image": entry["image"], "masks": entry["masks"], "prompt": entry["prompt"],
            "objects": [{"name": n} for n in names]}
    (tmp_path / "suite" / "slim.jsonl").write_text(json.dumps(slim) + "\n")
    (case,) = load_manifest(tmp_path / "suite" / "slim.jsonl")
    assert case.reference_video is None and case.kinds == {}
    plan = case.plan()
    assert [o.name for o in plan.objects] == names and all(plan.local_prompts) and plan.motion_prompt


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "not valid JSON"),
        ('{"id": "a", "image": "i.png", "prompt": "p"}', "missing field(s) ['masks']"),
        ('{"id": "a", "image": "i.png", "prompt": "p", "masks": "m.png", "colour": 1}', "unknown field(s) ['colour']"),
        ('{"id": "a/b", "image": "i.png", "prompt": "p", "masks": "m.png"}', "may hold only"),
    ],
)
def test_manifest_errors_name_the_line_and_the_problem(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n" + line + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2") as err:
        load_manifest(path)
    assert message in str(err.value)


def test_duplicate_ids_and_unknown_suites_are_errors(tmp_path):
    manifest = write_sprites_manifest(tmp_path / "suite", "test", 1)
    line = manifest.read_text().splitlines()[0]
    manifest.write_text(line + "\n" + line + "\n")
    with pytest.raises(InputError, match="appears twice"):
        load_manifest(manifest)
    with pytest.raises(InputError, match="sprites-test"):
        load_suite("no-such-suite")
    with pytest.raises(InputError, match="number of scenes"):
        load_suite("sprites-test:many")
