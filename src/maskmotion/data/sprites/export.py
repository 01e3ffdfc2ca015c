"""Scene folders on disk: what ``maskmotion sprites`` writes and how to read it back.

One folder per scene::

    scene_00000/
        first.png        the first frame x0, (H, W, 3) RGB
        masks.png        first-frame id map s0 as a palette PNG (palette = trajectory palette)
        video.mp4        the RGB video (H.264, lossy; regenerate from seed for exact pixels)
        trajectory.npz   the mask trajectory s, exact, with object names and local prompts
        trajectory.mp4   the mask trajectory as a colour video (what stage 1 generates)
        scene.json       prompts, objects, motions, per-frame parameters, seed, config

Each file is written atomically, and the folder appears under its final name only once
all six are complete, so an interrupted run never leaves a half scene behind.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ...files import atomic_dir, write_text_atomic
from ...trajectory import MaskTrajectory, load_id_png, save_id_png
from ...video import read_video, write_png, write_video
from .config import SpritesConfig
from .scene import Scene, generate_scene
from .splits import check_seed
from .text import WORDINGS

logger = logging.getLogger(__name__)

SCENE_FILES = ("first.png", "masks.png", "video.mp4", "trajectory.npz", "trajectory.mp4", "scene.json")


_NUMBER_LIST = re.compile(r"\[\s*([-+0-9.eE,\s]*?)\s*\]")


def scene_json(scene: Scene) -> str:
    """``scene.json`` text: indented, but lists of numbers kept on one line each."""
    text = json.dumps(scene.to_dict(), indent=1)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text) + "\n"


def scene_folder_name(index: int) -> str:
    return f"scene_{index:05d}"


def write_scene(scene: Scene, folder: str | os.PathLike) -> Path:
    """Write one scene's six files into ``folder`` (replaced atomically)."""
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        write_png(tmp / "first.png", scene.first_frame)
        save_id_png(tmp / "masks.png", scene.first_ids)
        write_video(tmp / "video.mp4", scene.video, fps=scene.config.fps)
        scene.trajectory.save(tmp / "trajectory.npz")
        scene.trajectory.save(tmp / "trajectory.mp4")
        # scene.json last: its presence marks a complete scene for `_is_done`.
        write_text_atomic(tmp / "scene.json", scene_json(scene))
    return folder


def _is_done(folder: Path, seed: int, config: SpritesConfig) -> bool:
    meta = folder / "scene.json"
    if not all((folder / f).is_file() for f in SCENE_FILES):
        return False
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return data.get("seed") == seed and data.get("config") == config.to_dict()


def write_scenes(
    count: int,
    seed: int,
    out_dir: str | os.PathLike,
    config: SpritesConfig | None = None,
    split: str | None = None,
    progress: bool = True,
    skip_existing: bool = True,
) -> list[Path]:
    """Write ``count`` scenes with seeds ``seed .. seed+count-1`` as ``scene_00000/`` ...

    ``split``: when given, every seed must belong to it (`SplitError` before anything
    is written). ``skip_existing``: a folder already holding the same seed and config is
    kept, so an interrupted run resumes where it stopped. Also writes ``index.json``
    (folder, seed and prompts per scene). Returns the scene folders in order.
    """
    config = config or SpritesConfig()
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    seeds = range(seed, seed + count)
    if split is not None:
        for s in (seeds[0], seeds[-1]) if count else ():
            check_seed(s, split)  # ranges are contiguous, so the ends decide
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folders: list[Path] = []
    index: list[dict[str, Any]] = []
    skipped = 0
    for i, s in enumerate(tqdm(seeds, desc="sprites", unit="scene", disable=not progress)):
        folder = out / scene_folder_name(i)
        if skip_existing and _is_done(folder, s, config):
            skipped += 1
            meta = json.loads((folder / "scene.json").read_text(encoding="utf-8"))
        else:
            scene = generate_scene(s, config)
            write_scene(scene, folder)
            meta = scene.to_dict()
        folders.append(folder)
        index.append(
            {
                "folder": folder.name,
                "seed": s,
                "global_prompt": meta["global_prompt"],
                "motion_prompt": meta["motion_prompt"],
                "num_objects": len(meta["objects"]),
            }
        )
    if skipped:
        logger.info("kept %d existing scene(s) with matching seed and config", skipped)
    write_text_atomic(
        out / "index.json",
        json.dumps({"config": config.to_dict(), "split": split, "scenes": index}, indent=1) + "\n",
    )
    return folders


@dataclass
class SceneFolder:
    """A scene read back from disk. ``video`` is decoded from H.264, so it is close to,
    not equal to, the rendered pixels; ``trajectory`` and ``first_ids`` are exact."""

    path: Path
    meta: dict[str, Any]
    first_frame: np.ndarray  # (H, W, 3) uint8
    first_ids: np.ndarray  # (H, W) uint8
    video: np.ndarray  # (T, H, W, 3) uint8
    trajectory: Any  # MaskTrajectory

    @property
    def seed(self) -> int:
        return int(self.meta["seed"])

    @property
    def config(self) -> SpritesConfig:
        return SpritesConfig.from_dict(self.meta["config"])

    def regenerate(self) -> Scene:
        """The exact scene (lossless pixels) from its seed and config."""
        return generate_scene(self.seed, self.config)


def load_scene_folder(folder: str | os.PathLike) -> SceneFolder:

    folder = Path(folder)
    missing = [f for f in SCENE_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"scene folder {folder} lacks {missing}")
    with Image.open(folder / "first.png") as im:
        first = np.asarray(im.convert("RGB"))
    return SceneFolder(
        path=folder,
        meta=json.loads((folder / "scene.json").read_text(encoding="utf-8")),
        first_frame=first,
        first_ids=load_id_png(folder / "masks.png"),
        video=read_video(folder / "video.mp4"),
        trajectory=MaskTrajectory.load(folder / "trajectory.npz"),
    )


# ------------------------------------------------------------------------------- CLI


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """World options beyond --count/--seed/--out, for a CLI that wants them."""
    parser.add_argument("--min-objects", type=int, default=1, help="fewest objects per scene (default 1)")
    parser.add_argument("--max-objects", type=int, default=4, help="most objects per scene (default 4)")
    parser.add_argument(
        "--motions", nargs="+", default=None, metavar="KIND", help="restrict to these motion kinds (see docs/sprites.md)"
    )
    parser.add_argument(
        "--wording", default="classic", choices=list(WORDINGS),
        help="how prompts are worded: classic (the v1-v3 language the shipped models know, default), seen (the "
             "wide training language), heldout (evaluation-only words)",
    )


def config_from_args(args: argparse.Namespace, **overrides: Any) -> SpritesConfig:
    """A `SpritesConfig` from what `add_cli_arguments` added, plus keyword overrides."""
    fields: dict[str, Any] = {"min_objects": args.min_objects, "max_objects": args.max_objects}
    if getattr(args, "wording", None):
        fields["wording"] = args.wording
    if args.motions:
        fields["motions"] = tuple(args.motions)
    fields.update(overrides)
    return SpritesConfig(**fields)
