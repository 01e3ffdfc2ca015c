"""What one browser session holds: the image, the marked objects and their paths.

All coordinates are in the original image's pixels, as on the command line (``--box``,
``--point``, ``--drag``); the page's canvas converts its clicks with `Canvas`. Nothing
here runs a model: `maskmotion.demo.engine` turns this state into pipeline calls.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..plan import BoxHint, ObjectHint, PointHint
from ..trajectory import DragPath, MaskTrajectory
from ..trajectory.palette import MAX_OBJECTS

#: Keyframes of a path taken from stage 1's motion (a few, so each can be moved by hand).
PATH_KEYFRAMES = 5


@dataclass
class ObjectPath:
    """An object's path: keyframe centres (x, y) with a scale and an angle (degrees) each,
    spread evenly over the clip; the `DragPath` of ``--drag "NAME: x,y@s/a ..."``."""

    points: list[tuple[float, float]]
    scales: list[float]
    angles: list[float]

    @classmethod
    def still(cls, centre: tuple[float, float]) -> "ObjectPath":
        return cls([centre], [1.0], [0.0])

    def drag(self) -> DragPath:
        return DragPath(list(self.points), scales=list(self.scales), angles=list(self.angles))

    def text(self) -> str:
        """The ``--drag`` form: ``x,y`` per keyframe, ``@scale``/``/angle`` where not neutral."""
        parts = []
        for (x, y), s, a in zip(self.points, self.scales, self.angles):
            token = f"{x:.0f},{y:.0f}"
            if abs(s - 1.0) > 5e-3:
                token += f"@{s:.2f}"
            if abs(a) > 0.5:
                token += f"/{a:.0f}"
            parts.append(token)
        return " ".join(parts)

    @classmethod
    def parse(cls, text: str) -> "ObjectPath":
        """The path written as ``--drag`` points (raises `InputError` naming the fix)."""
        path = DragPath.parse(text)
        k = len(path.points)
        return cls(
            [(float(x), float(y)) for x, y in path.points],
            list(path.scales or [1.0] * k),
            list(path.angles or [0.0] * k),
        )

    def nearest(self, xy: tuple[float, float]) -> tuple[int, float]:
        """Index of the keyframe nearest ``xy`` and its distance."""
        d = [math.dist(p, xy) for p in self.points]
        i = int(np.argmin(d))
        return i, d[i]


@dataclass
class DemoObject:
    """One marked object: a box (x0, y0, x1, y1; x1, y1 exclusive), pinned points, its own
    prompt, and, in drag mode, the path it follows instead of stage 1's."""

    name: str
    box: tuple[int, int, int, int] | None = None
    points: list[tuple[int, int, bool]] = field(default_factory=list)  # (x, y, on the object)
    prompt: str = ""
    drag: bool = False
    path: ObjectPath | None = None  # stage 1's (shown) or the user's (drag mode)


@dataclass
class Session:
    """One page's state. ``folder`` holds its image and run outputs and is removed with it."""

    folder: Path
    image_path: Path | None = None
    image_label: str = ""
    source_size: tuple[int, int] | None = None  # (H, W) of the original
    objects: list[DemoObject] = field(default_factory=list)
    selected: int | None = None
    corner: tuple[int, int] | None = None  # a box's first corner, waiting for the second
    moving: int | None = None  # the path keyframe picked up, waiting for where it goes
    first_ids: np.ndarray | None = None  # the plan's first-frame masks (working size)
    trajectory: MaskTrajectory | None = None  # stage 1's latest result
    picture: np.ndarray | None = None  # the image as the canvas shows it (decoded once)
    runs: int = 0
    # Kept by `DemoEngine.claim` / `release`: events using it now, and when the last ended.
    busy: int = 0
    last_used: float = field(default_factory=time.monotonic)

    # ---- objects ----------------------------------------------------------------------
    @property
    def current(self) -> DemoObject:
        if self.selected is None or not 0 <= self.selected < len(self.objects):
            raise InputError("no object is selected; add one with 'Add object' or pick one in the list")
        return self.objects[self.selected]

    def names(self) -> list[str]:
        return [o.name for o in self.objects]

    def add_object(self, name: str = "") -> DemoObject:
        if self.image_path is None:
            raise InputError("load an image first: upload one or pick an example")
        if len(self.objects) >= MAX_OBJECTS:
            raise InputError(f"at most {MAX_OBJECTS} objects; remove one first")
        name = name.strip() or self._free_name()
        self._check_name(name)
        self.objects.append(DemoObject(name))
        self.selected = len(self.objects) - 1
        self.corner = self.moving = None
        return self.objects[-1]

    def remove_selected(self) -> None:
        del self.objects[self.objects.index(self.current)]
        self.selected = len(self.objects) - 1 if self.objects else None
        self.corner = self.moving = None

    def select(self, name: str | None) -> None:
        names = self.names()
        self.selected = names.index(name) if name in names else (self.selected if self.objects else None)
        self.corner = self.moving = None

    def rename_selected(self, name: str, prompt: str) -> None:
        obj = self.current
        name = name.strip()
        if name != obj.name:
            self._check_name(name)
            obj.name = name
        obj.prompt = prompt.strip()

    def _check_name(self, name: str) -> None:
        if not name:
            raise InputError("an object needs a name, e.g. 'red star'")
        if ":" in name or "=" in name:
            raise InputError(f"object name {name!r} may not hold ':' or '='; use words, e.g. 'red star'")
        if name in self.names():
            raise InputError(f"there is an object named {name!r} already; give another name")

    def _free_name(self) -> str:
        k = len(self.objects) + 1
        while f"object {k}" in self.names():
            k += 1
        return f"object {k}"

    # ---- clicks -----------------------------------------------------------------------
    def click_box(self, xy: tuple[int, int]) -> bool:
        """A box corner; True when the second corner completed the selected object's box
        (an object is added when none is selected)."""
        if self.selected is None:
            self.add_object()
        if self.corner is None:
            self.corner = self._clamp(xy)
            return False
        (ax, ay), (bx, by) = self.corner, self._clamp(xy)
        self.corner = None
        x0, x1, y0, y1 = min(ax, bx), max(ax, bx) + 1, min(ay, by), max(ay, by) + 1
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise InputError("the box is too small: click two opposite corners of the object")
        obj = self.current
        obj.box = (x0, y0, x1, y1)
        obj.points = [p for p in obj.points if x0 <= p[0] < x1 and y0 <= p[1] < y1]
        return True

    def click_point(self, xy: tuple[int, int], on_object: bool) -> None:
        obj = self.current
        if obj.box is None:
            raise InputError(f"draw a box around {obj.name!r} first; points refine the mask inside its box")
        x, y = self._clamp(xy)
        x0, y0, x1, y1 = obj.box
        if not (x0 <= x < x1 and y0 <= y < y1):
            raise InputError(f"the point ({x}, {y}) is outside the box of {obj.name!r}; click inside it")
        obj.points.append((x, y, on_object))

    def click_path_add(self, xy: tuple[int, int], centre: tuple[float, float]) -> None:
        """Add a keyframe to the selected object's drawn path; a path that was stage 1's is
        replaced by a new one starting at the object's centre."""
        obj = self.current
        if not obj.drag or obj.path is None:
            obj.path = ObjectPath.still(centre)
            obj.drag = True
        x, y = self._clamp(xy)
        obj.path.points.append((float(x), float(y)))
        obj.path.scales.append(obj.path.scales[-1])
        obj.path.angles.append(obj.path.angles[-1])

    def click_path_move(self, xy: tuple[int, int], reach: float) -> bool:
        """First click picks up the path keyframe within ``reach`` pixels, the second puts
        it down; True when a keyframe moved (the object is then in drag mode)."""
        obj = self.current
        if obj.path is None:
            raise InputError(f"{obj.name!r} has no path yet: press Plan, or draw one with 'path: add points'")
        if self.moving is None:
            i, d = obj.path.nearest(xy)
            if d > reach:
                raise InputError("no path point there: click on one of the path's dots to pick it up")
            self.moving = i
            return False
        x, y = self._clamp(xy)
        obj.path.points[self.moving] = (float(x), float(y))
        obj.drag = True
        self.moving = None
        return True

    def _clamp(self, xy: tuple[int, int]) -> tuple[int, int]:
        h, w = self.source_size
        return int(min(max(xy[0], 0), w - 1)), int(min(max(xy[1], 0), h - 1))

    # ---- what the pipeline takes -----------------------------------------------------
    def boxed(self) -> list[DemoObject]:
        return [o for o in self.objects if o.box is not None]

    def hints(self) -> tuple[list[BoxHint], list[ObjectHint], list[PointHint]]:
        """Boxes (in list order: back to front), names with prompts, and pinned points."""
        boxed = self.boxed()
        boxes = [BoxHint(o.name, o.box) for o in boxed]
        objects = [ObjectHint(o.name, o.prompt) for o in boxed]
        points = [PointHint(o.name, (x, y), on) for o in boxed for x, y, on in o.points]
        return boxes, objects, points

    def drags(self) -> dict[str, DragPath]:
        return {o.name: o.path.drag() for o in self.boxed() if o.drag and o.path is not None}

    def forget_plan(self) -> None:
        """The masks or objects changed: stage 1's paths no longer hold."""
        self.trajectory = None
        for o in self.objects:
            if not o.drag:
                o.path = None

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def paths_from_trajectory(trajectory: MaskTrajectory, source_size: tuple[int, int]) -> dict[str, ObjectPath]:
    """Each object's path in ``trajectory`` as `PATH_KEYFRAMES` keyframes in the original
    image's pixels: its first-frame centre moved by its track (scale and angle included),
    or its mask centroids where the stage gave no track."""
    t = trajectory.num_frames
    frames = np.rint(np.linspace(0, t - 1, min(PATH_KEYFRAMES, t))).astype(int)
    h, w = trajectory.size
    fx, fy = source_size[1] / w, source_size[0] / h
    centroids = trajectory.centroids()
    tracks = trajectory.tracks or {}
    paths = {}
    for o in trajectory.objects:
        c = centroids[o.id]  # (T, 2) x, y; NaN where the object is hidden
        track = tracks.get(o.id)
        if track is not None and np.isfinite(c[0]).all():
            xs, ys = c[0, 0] + track.dx[frames], c[0, 1] + track.dy[frames]
            scales = np.sqrt(track.sx[frames] * track.sy[frames])
            angles = track.angle[frames]
        else:
            seen = np.isfinite(c[:, 0])
            if not seen.any():
                continue
            # A hidden frame keeps the place it was last seen (before that, the first one).
            filled, last = c.copy(), c[np.argmax(seen)]
            for i in range(t):
                last = c[i] if seen[i] else last
                filled[i] = last
            xs, ys = filled[frames, 0], filled[frames, 1]
            scales, angles = np.ones(len(frames)), np.zeros(len(frames))
        points = [(float(x * fx), float(y * fy)) for x, y in zip(xs, ys)]
        paths[o.name] = ObjectPath(points, [float(s) for s in scales], [float(a) for a in angles])
    return paths


def mask_centre(first_ids: np.ndarray | None, index: int, source_size: tuple[int, int], box) -> tuple[float, float]:
    """The centre of object ``index`` (0-based, plan order) in original pixels: its mask's
    centroid, else its box's centre."""
    if first_ids is not None:
        ys, xs = np.nonzero(first_ids == index + 1)
        if len(xs):
            fy, fx = source_size[0] / first_ids.shape[0], source_size[1] / first_ids.shape[1]
            return float((xs.mean() + 0.5) * fx - 0.5), float((ys.mean() + 0.5) * fy - 0.5)
    x0, y0, x1, y1 = box
    return (x0 + x1 - 1) / 2.0, (y0 + y1 - 1) / 2.0
