"""Where clips come from: a folder of videos, a CSV or JSONL list of (video, caption[,
per-object prompts]), or an SA-V folder (videos with their masklet files).

Every source gives `Clip` records with a unique ``key`` (letters, digits, ``-`` and
``_`` only: WebDataset splits sample keys at the first dot), sorted by key, so every
engine and every rerun sees the same clips in the same order.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import InputError
from ...files import parse_json
from ...video import VIDEO_SUFFIXES
from .sav import find_sav_videos

LAYOUTS = ("auto", "folder", "list", "sav")
#: Largest caption list read (a million clips is a few hundred MB; split bigger lists).
MAX_LIST_BYTES = 1 << 30


@dataclass(frozen=True)
class ObjectPrompt:
    """A caption file's prompt for one object; the k-th names object id k."""

    name: str
    prompt: str = ""


@dataclass(frozen=True)
class Clip:
    key: str
    path: Path
    caption: str = ""
    motion_prompt: str = ""
    objects: tuple[ObjectPrompt, ...] = ()
    masklets: Path | None = None

    def to_json(self) -> dict:
        return {
            "key": self.key, "path": str(self.path), "caption": self.caption, "motion_prompt": self.motion_prompt,
            "objects": [[o.name, o.prompt] for o in self.objects],
            "masklets": str(self.masklets) if self.masklets else None,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict) -> "Clip":
        return cls(
            data["key"], Path(data["path"]), data["caption"], data["motion_prompt"],
            tuple(ObjectPrompt(n, p) for n, p in data["objects"]), Path(data["masklets"]) if data["masklets"] else None,
        )  # fmt: skip


def clip_key(text: str) -> str:
    """A sample-key-safe name: runs of other characters become one ``_``."""
    return re.sub(r"[^A-Za-z0-9-]+", "_", text).strip("_") or "clip"


def list_clips(source: str | os.PathLike, layout: str = "auto", annotations: str = "manual") -> list[Clip]:
    """The clips of ``source`` (see the module docstring), sorted by key.

    ``layout`` "auto": a ``.csv`` / ``.jsonl`` file is a list; a folder holding SA-V
    annotation files is SA-V; any other folder is a folder of videos."""
    source = Path(source)
    if layout not in LAYOUTS:
        raise InputError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if not source.exists():
        raise InputError(f"clip source {source} does not exist; give a folder of videos, a .csv/.jsonl list or an SA-V folder")
    if layout == "auto":
        if source.is_file():
            layout = "list"
        elif next(source.rglob("*_manual.json"), None) or next(source.rglob("*_auto.json"), None):
            layout = "sav"
        else:
            layout = "folder"
    if layout == "list":
        clips = _from_list(source)
    elif layout == "sav":
        clips = [Clip(clip_key(e.video_id), e.video, masklets=e.annotation) for e in find_sav_videos(source, annotations)]
    else:
        clips = _from_folder(source)
    if not clips:
        raise InputError(f"{source} holds no videos ({', '.join(VIDEO_SUFFIXES)})")
    return _unique(clips, source)


def _from_folder(root: Path) -> list[Clip]:
    if not root.is_dir():
        raise InputError(f"{root} is not a folder; give a folder of videos or use a .csv/.jsonl list")
    clips = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()):
        # A caption may sit beside the video as <name>.txt.
        caption_file = path.with_suffix(".txt")
        caption = caption_file.read_text(encoding="utf-8").strip() if caption_file.is_file() else ""
        clips.append(Clip(clip_key(str(path.relative_to(root).with_suffix(""))), path, caption))
    return clips


def _from_list(path: Path) -> list[Clip]:
    if path.stat().st_size > MAX_LIST_BYTES:
        raise InputError(f"{path} is larger than {MAX_LIST_BYTES >> 20} MiB; split the list into several files")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                row = parse_json(line, f"{path}:{lineno}", InputError)
                if not isinstance(row, dict):
                    raise InputError(f"{path}:{lineno}: each line must be a JSON object with 'video' and 'caption'")
                rows.append((f"{path}:{lineno}", row))
    elif suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        rows = [(f"{path}:{n}", dict(row)) for n, row in enumerate(reader, 2)]
    else:
        raise InputError(f"clip list {path} must end in .csv or .jsonl")
    return [_clip_from_row(row, where, path.parent) for where, row in rows]


def _clip_from_row(row: dict, where: str, root: Path) -> Clip:
    video = row.get("video") or row.get("path")
    if not video or not isinstance(video, str):
        raise InputError(f"{where}: missing 'video' (the clip's path, relative to the list's folder)")
    path = (root / video) if not Path(video).is_absolute() else Path(video)
    if not path.is_file():
        raise InputError(f"{where}: video {path} does not exist")
    objects = row.get("objects") or []
    if isinstance(objects, str):  # CSV cell: a JSON list, like the JSONL field
        objects = parse_json(objects, f"{where}: objects", InputError) if objects.strip() else []
    if not isinstance(objects, list):
        raise InputError(f"{where}: 'objects' must be a list of {{\"name\", \"prompt\"}} objects")
    prompts = []
    for k, o in enumerate(objects, 1):
        if not isinstance(o, dict) or not isinstance(o.get("name"), str) or not o["name"].strip():
            raise InputError(f"{where}: object {k} needs a non-empty 'name' (and optionally a 'prompt')")
        prompts.append(ObjectPrompt(o["name"].strip(), str(o.get("prompt") or "")))
    masklets = row.get("masklets")
    key = row.get("id") or str(Path(video).with_suffix(""))
    return Clip(
        clip_key(str(key)), path, str(row.get("caption") or ""), str(row.get("motion_prompt") or ""), tuple(prompts),
        (root / masklets) if masklets else None,
    )  # fmt: skip


def _unique(clips: list[Clip], source: Path) -> list[Clip]:
    seen: dict[str, Clip] = {}
    for clip in clips:
        if clip.key in seen:
            raise InputError(
                f"{source}: clips {seen[clip.key].path} and {clip.path} share the key {clip.key!r}; "
                "give each an 'id' in the list or rename one"
            )
        seen[clip.key] = clip
    return [seen[k] for k in sorted(seen)]
