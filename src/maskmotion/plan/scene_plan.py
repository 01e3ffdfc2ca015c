"""`ScenePlan`: what the plan step hands to stage 1 and stage 2.

The plan (docs/method.md) turns (x0, c) into first-frame instance masks s0, a motion-only
prompt c_motion and one local prompt per object. A `ScenePlan` holds exactly that, plus the
global prompt c, so one object can be saved, edited by hand and rendered later.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..files import atomic_path, read_json_file
from ..trajectory import MAX_OBJECTS, TrajectoryError, TrajectoryObject
from .images import DEFAULT_MAX_PIXELS
from .positions import unique_names

FORMAT_NAME = "maskmotion-plan"
FORMAT_VERSION = 1
_IDS_ENCODING = "zlib-base64-uint8"
#: Most pixels a plan's first-frame id map may declare: the image limit's default (a plan
#: is made at a working size, far below it). Checked before anything is decompressed.
MAX_PLAN_PIXELS = DEFAULT_MAX_PIXELS


class PlanError(InputError):
    """An invalid plan or plan request; the message names the problem and the fix."""


@dataclass(frozen=True)
class ObjectRequest:
    """One object the user marked in the first frame.

    Attributes:
        id: its value in the first-frame id map (1..MAX_OBJECTS).
        name: short name ("dog", "red crescent"); matched against the prompt.
        local_prompt: the user's own local prompt; "" lets the planner write one.
    """

    id: int
    name: str
    local_prompt: str = ""


@dataclass(frozen=True)
class PlannedObject:
    """One object of a plan: its id in ``first_ids``, short name and local prompt."""

    id: int
    name: str
    local_prompt: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "local_prompt": self.local_prompt}


def check_first_ids(first_ids: np.ndarray, object_ids: Sequence[int], names: Sequence[str]) -> None:
    """The checks a plan and a plan request share; raises `PlanError`.

    ids unique and in 1..MAX_OBJECTS, names unique and non-empty, every nonzero id in
    the map has an object, every object has pixels.
    """
    if not isinstance(first_ids, np.ndarray) or first_ids.ndim != 2 or first_ids.dtype != np.uint8:
        got = f"{first_ids.shape} {first_ids.dtype}" if isinstance(first_ids, np.ndarray) else type(first_ids).__name__
        raise PlanError(f"first_ids must be an (H, W) uint8 id map, got {got}")
    if min(first_ids.shape) == 0:
        raise PlanError(f"first_ids is empty (shape {first_ids.shape})")
    if not object_ids:
        raise PlanError("a plan needs at least one object; mark objects with a mask PNG or boxes")
    if len(object_ids) > MAX_OBJECTS:
        raise PlanError(f"{len(object_ids)} objects, but at most {MAX_OBJECTS} are supported; merge or drop some")
    for i in object_ids:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 1 <= int(i) <= MAX_OBJECTS:
            raise PlanError(f"object id {i!r} is outside 1..{MAX_OBJECTS}")
    if len(set(object_ids)) != len(object_ids):
        raise PlanError(f"object ids must be unique, got {list(object_ids)}")
    for n in names:
        if not isinstance(n, str) or not n.strip():
            raise PlanError(f"every object needs a non-empty name, got {n!r}")
    if len(set(names)) != len(names):
        raise PlanError(f"object names must be unique, got {list(names)}")
    counts = np.bincount(first_ids.ravel(), minlength=MAX_OBJECTS + 1)
    if len(counts) > MAX_OBJECTS + 1:
        raise PlanError(f"first_ids holds value {len(counts) - 1}, above the largest id {MAX_OBJECTS}")
    present = {int(i) for i in np.flatnonzero(counts[1:]) + 1}
    unknown = sorted(present - {int(i) for i in object_ids})
    if unknown:
        raise PlanError(
            f"the mask holds object id(s) {unknown} with no object; name every object "
            f"(one --object per id) or clear those pixels"
        )
    empty = [(int(i), n) for i, n in zip(object_ids, names) if counts[int(i)] == 0]
    if empty:
        raise PlanError(f"object(s) {empty} have no pixels in the first-frame mask; draw them or drop them")


@dataclass(frozen=True, eq=False)
class PlanRequest:
    """What a planner gets: the global prompt, first-frame ids and the named objects.

    Same-named objects are renamed by position on construction (`unique_names`).
    """

    global_prompt: str
    first_ids: np.ndarray = field(repr=False)
    objects: tuple[ObjectRequest, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.global_prompt, str) or not self.global_prompt.strip():
            raise PlanError("the global prompt is empty; describe the video, e.g. 'the dog jumps'")
        objects = tuple(sorted(self.objects, key=lambda o: o.id))
        for o in objects:
            if not isinstance(o, ObjectRequest):
                raise PlanError(f"objects must be ObjectRequest, got {type(o).__name__}")
        if isinstance(self.first_ids, np.ndarray) and self.first_ids.ndim == 2:
            # Two objects called "dog" become "left dog" / "right dog": names must be
            # unique, and position words are what a prompt uses to tell them apart.
            names = unique_names([(o.id, o.name) for o in objects], self.first_ids)
            objects = tuple(dataclasses.replace(o, name=names[o.id]) for o in objects)
        object.__setattr__(self, "objects", objects)
        check_first_ids(self.first_ids, [o.id for o in objects], [o.name for o in objects])


@dataclass(frozen=True, eq=False)
class ScenePlan:
    """The plan: global prompt c, motion prompt c_motion, objects, first-frame ids s0.

    Attributes:
        global_prompt: the user's prompt c (appearance + motion of everything).
        motion_prompt: c_motion, motion only, objects by short name ("the dog jumps").
        objects: in id order; object ``o`` owns the pixels ``first_ids == o.id``.
        first_ids: (H, W) uint8, 0 = background.
        source: which planner wrote it ("rules", "llm:<model>", "user", ...).
        warnings: what the planner could not do (saved, so an edited plan keeps them).
    """

    global_prompt: str
    motion_prompt: str
    objects: tuple[PlannedObject, ...]
    first_ids: np.ndarray = field(repr=False)
    source: str = "rules"
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        objects = tuple(self.objects)
        for o in objects:
            if not isinstance(o, PlannedObject):
                raise PlanError(f"objects must be PlannedObject, got {type(o).__name__}")
        objects = tuple(sorted(objects, key=lambda o: o.id))
        object.__setattr__(self, "objects", objects)
        object.__setattr__(self, "warnings", tuple(self.warnings))
        for label, text in (("global prompt", self.global_prompt), ("motion prompt", self.motion_prompt)):
            if not isinstance(text, str) or not text.strip():
                raise PlanError(f"the plan's {label} is empty; write one")
        check_first_ids(self.first_ids, [o.id for o in objects], [o.name for o in objects])
        for o in objects:
            if not isinstance(o.local_prompt, str) or not o.local_prompt.strip():
                raise PlanError(f"object {o.id} ({o.name!r}) has an empty local prompt; write one")
        self.first_ids.setflags(write=False)  # a plan is a value; edit through replace()

    # ---- access ------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the first-frame masks."""
        return self.first_ids.shape[0], self.first_ids.shape[1]

    @property
    def local_prompts(self) -> list[str]:
        """Local prompts in id order."""
        return [o.local_prompt for o in self.objects]

    def object(self, key: int | str) -> PlannedObject:
        """An object by id or by name."""
        for o in self.objects:
            if o.id == key or o.name == key:
                return o
        raise KeyError(f"no object {key!r}; objects: {[(o.id, o.name) for o in self.objects]}")

    def trajectory_objects(self) -> list[TrajectoryObject]:
        """The objects as `TrajectoryObject`s (local prompt -> ``prompt``)."""
        try:
            return [TrajectoryObject(o.id, o.name, o.local_prompt) for o in self.objects]
        except TrajectoryError as exc:  # same rules, but say it is the plan that is wrong
            raise PlanError(f"plan objects: {exc}") from None

    def replace(self, **changes: Any) -> "ScenePlan":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def with_local_prompts(self, prompts: dict[str, str]) -> "ScenePlan":
        """A copy with local prompts replaced by object name."""
        unknown = sorted(set(prompts) - {o.name for o in self.objects})
        if unknown:
            raise PlanError(f"no object named {unknown}; objects: {[o.name for o in self.objects]}")
        objects = tuple(dataclasses.replace(o, local_prompt=prompts.get(o.name, o.local_prompt)) for o in self.objects)
        return self.replace(objects=objects)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScenePlan):
            return NotImplemented
        return (
            self.global_prompt == other.global_prompt
            and self.motion_prompt == other.motion_prompt
            and self.objects == other.objects
            and self.source == other.source
            and self.warnings == other.warnings
            and self.first_ids.shape == other.first_ids.shape
            and np.array_equal(self.first_ids, other.first_ids)
        )

    __hash__ = None  # type: ignore[assignment]

    # ---- JSON --------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; the id map is embedded (zlib + base64, row-major)."""
        h, w = self.size
        data = base64.b64encode(zlib.compress(np.ascontiguousarray(self.first_ids).tobytes(), 9)).decode("ascii")
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "global_prompt": self.global_prompt,
            "motion_prompt": self.motion_prompt,
            "objects": [o.to_json() for o in self.objects],
            "first_ids": {"shape": [h, w], "encoding": _IDS_ENCODING, "data": data},
            "source": self.source,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: Any, max_size: tuple[int, int] | None = None) -> "ScenePlan":
        """Inverse of `to_json`; strict: unknown or missing fields are errors.

        ``max_size``: (H, W) of the image the plan is for; a plan whose masks are larger
        is refused before its id map is decompressed."""
        _check_fields(data, "plan", required=_TOP_REQUIRED, optional=("source", "warnings"))
        if data["format"] != FORMAT_NAME:
            raise PlanError(f"not a maskmotion plan (format {data['format']!r}, expected {FORMAT_NAME!r})")
        version = data["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise PlanError(f"plan version must be a positive integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise PlanError(
                f"plan format version {version} is newer than this maskmotion understands "
                f"({FORMAT_VERSION}); upgrade maskmotion"
            )
        for key in ("global_prompt", "motion_prompt"):
            _check_type(data[key], str, key)
        _check_type(data["objects"], list, "objects")
        objects = []
        for k, entry in enumerate(data["objects"]):
            where = f"objects[{k}]"
            _check_fields(entry, where, required=("id", "name", "local_prompt"))
            if isinstance(entry["id"], bool) or not isinstance(entry["id"], int):
                raise PlanError(f"{where}.id must be an integer, got {entry['id']!r}")
            _check_type(entry["name"], str, f"{where}.name")
            _check_type(entry["local_prompt"], str, f"{where}.local_prompt")
            objects.append(PlannedObject(entry["id"], entry["name"], entry["local_prompt"]))
        source = data.get("source", "user")
        _check_type(source, str, "source")
        warnings = data.get("warnings", [])
        _check_type(warnings, list, "warnings")
        for w in warnings:
            _check_type(w, str, "warnings[]")
        return cls(
            global_prompt=data["global_prompt"],
            motion_prompt=data["motion_prompt"],
            objects=tuple(objects),
            first_ids=_decode_ids(data["first_ids"], max_size),
            source=source,
            warnings=tuple(warnings),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the plan as a ``.json`` file (atomically)."""
        path = Path(path)
        if path.suffix.lower() != ".json":
            raise PlanError(f"save a plan as a .json file, got {path}")
        try:
            with atomic_path(path) as tmp:
                Path(tmp).write_text(json.dumps(self.to_json(), indent=2) + "\n")
        except FileNotFoundError as exc:
            raise PlanError(str(exc)) from None
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, max_size: tuple[int, int] | None = None) -> "ScenePlan":
        """Read a plan written by `save` (or by hand in the same format); ``max_size`` as
        in `from_json`."""
        path = Path(path)
        if not path.is_file():
            raise PlanError(f"plan file {path} does not exist")
        data = read_json_file(path, PlanError, "fix the file or plan again")
        try:
            return cls.from_json(data, max_size)
        except InputError as exc:
            raise PlanError(f"{path}: {exc}") from None


_TOP_REQUIRED = ("format", "version", "global_prompt", "motion_prompt", "objects", "first_ids")


def _check_type(value: Any, kind: type, where: str) -> None:
    if not isinstance(value, kind):
        raise PlanError(f"plan field {where} must be a {kind.__name__}, got {type(value).__name__}")


def _check_fields(data: Any, where: str, required: Sequence[str], optional: Sequence[str] = ()) -> None:
    if not isinstance(data, dict):
        raise PlanError(f"{where} must be a JSON object, got {type(data).__name__}")
    missing = [k for k in required if k not in data]
    if missing:
        raise PlanError(f"{where} is missing field(s) {missing}")
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        raise PlanError(f"{where} has unknown field(s) {unknown}; allowed: {sorted([*required, *optional])}")


def _decode_ids(entry: Any, max_size: tuple[int, int] | None = None) -> np.ndarray:
    """The id map, decompressed only after its declared shape passed the limits, and
    never past that shape's byte count."""
    _check_fields(entry, "first_ids", required=("shape", "encoding", "data"))
    if entry["encoding"] != _IDS_ENCODING:
        raise PlanError(f"first_ids.encoding must be {_IDS_ENCODING!r}, got {str(entry['encoding'])[:50]!r}")
    shape = entry["shape"]
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
    ):
        raise PlanError(f"first_ids.shape must be [H, W] with positive integers, got {str(shape)[:80]}")
    h, w = shape
    if h * w > MAX_PLAN_PIXELS:
        raise PlanError(
            f"first_ids.shape {shape} is {h * w:,} pixels, more than a plan may hold ({MAX_PLAN_PIXELS:,}); "
            "plan again on the image"
        )
    if max_size is not None and (h > max_size[0] or w > max_size[1]):
        raise PlanError(
            f"the plan's masks ({w}x{h}) are larger than the image ({max_size[1]}x{max_size[0]}); "
            "use the image it was planned on"
        )
    _check_type(entry["data"], str, "first_ids.data")
    count = h * w
    # zlib never grows data by more than a few bytes per 16 kB block; base64 is 4/3.
    if len(entry["data"]) > 4 * ((count + count // 1000 + 64) // 3 + 1):
        raise PlanError(f"first_ids.data holds more values than shape {shape} needs ({count}); re-plan or re-save the plan")
    try:
        packed = base64.b64decode(entry["data"], validate=True)
        inflate = zlib.decompressobj()
        raw = inflate.decompress(packed, count + 1)  # at most one byte past the size
    except (ValueError, zlib.error) as exc:
        raise PlanError(f"first_ids.data is corrupt ({exc}); re-plan or re-save the plan") from None
    if len(raw) != count or not inflate.eof:
        what = f"{len(raw)} values but" if len(raw) < count else "more values than"
        raise PlanError(f"first_ids.data holds {what} shape {shape} needs ({count}); re-plan or re-save the plan")
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()
