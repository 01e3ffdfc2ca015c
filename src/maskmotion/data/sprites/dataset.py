"""`SpritesDataset`: sprites scenes as torch tensors, generated on the fly or from a cache.

Scenes come from the seeds of one split only (see `splits.py`). Generation is cheap
(hundreds of scenes per second on one core), so the cache is for repeated epochs and
for many workers: shards of ``shard_size`` consecutive seeds, aligned to the split's
seed grid so datasets of different sizes share them, stored as uncompressed ``.npz``
under a folder named by the config's fingerprint (a changed config never reads stale
scenes). Shards are written atomically; two workers racing on one shard write the
same bytes, so the loser's rename is harmless.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ...files import atomic_path
from .config import SpritesConfig
from .motions import MOTION_KINDS, SPEEDS, Track
from .scene import Scene, generate_scene
from .splits import SPLITS, canonical_split, seeds_for

logger = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when the stored arrays change meaning
NUM_PARAMS = len(Track.PARAM_NAMES)


def scene_record(scene: Scene, max_objects: int) -> dict[str, np.ndarray]:
    """A scene as fixed-shape numpy arrays (objects padded to ``max_objects``)."""
    n, t = len(scene.objects), scene.config.num_frames
    if n > max_objects:
        raise ValueError(f"scene {scene.seed} has {n} objects, more than max_objects={max_objects}")
    params = np.zeros((max_objects, t, NUM_PARAMS), np.float32)
    colours = np.zeros((max_objects, t, 3), np.float32)
    motion = np.full(max_objects, -1, np.int64)
    speed = np.full(max_objects, -1, np.int64)
    target = np.zeros(max_objects, np.int64)
    params[:n] = scene.params()
    colours[:n] = scene.colours() / 255.0
    for i, o in enumerate(scene.objects):
        motion[i] = MOTION_KINDS.index(o.spec.motion.kind)
        speed[i] = SPEEDS.index(o.spec.motion.speed)
        target[i] = o.spec.motion.target or 0
    text = {
        "global_prompt": scene.global_prompt,
        "motion_prompt": scene.motion_prompt,
        "local_prompts": scene.local_prompts,
        "names": scene.names,
    }
    return {
        "video": scene.video,  # (T, H, W, 3) uint8
        "ids": scene.ids,  # (T, H, W) uint8
        "params": params,  # (K, T, 6)
        "colours": colours,  # (K, T, 3) in [0, 1]
        "num_objects": np.int64(n),
        "motion": motion,  # (K,) index into MOTION_KINDS, -1 = padding
        "speed": speed,  # (K,) index into SPEEDS, -1 = padding
        "target": target,  # (K,) target object id, 0 = none
        "seed": np.int64(scene.seed if scene.seed is not None else -1),
        "text": np.array(json.dumps(text)),
    }


class SpritesDataset(Dataset):
    """``size`` scenes of ``split``: seeds ``seed_at(split, start) ...`` in order.

    Each item is a dict:

    - ``video``: float32 in [-1, 1], (T, 3, H, W) for ``layout="TCHW"`` (default) or
      (3, T, H, W) for ``layout="CTHW"``;
    - ``first_frame``: float32 (3, H, W) in [-1, 1] (= frame 0 of ``video``);
    - ``ids``: int64 (T, H, W), 0 background, i = object i; ``first_ids``: (H, W);
    - ``params``: float32 (K, T, 6) per object and frame: x, y (px, pixel centres at
      +0.5), sx, sy, angle (radians, clockwise), visibility in [0, 1];
      K = ``config.max_objects``, rows past ``num_objects`` are zero;
    - ``colours``: float32 (K, T, 3) object base colour in [0, 1];
    - ``present``: bool (K,); ``num_objects``: int64;
    - ``motion``, ``speed``: int64 (K,) indices into ``MOTION_KINDS`` / ``SPEEDS``
      (-1 = padding); ``target``: int64 (K,) the target's id for approach/follow;
    - ``global_prompt``, ``motion_prompt``: str; ``local_prompts``, ``names``: list of
      K str ("" = padding); ``seed``: int.

    Use `collate_scenes` as the DataLoader's ``collate_fn`` to keep the string lists
    per sample.
    """

    def __init__(
        self,
        split: str,
        size: int,
        config: SpritesConfig | None = None,
        cache_dir: str | os.PathLike | None = None,
        start: int = 0,
        shard_size: int = 64,
        layout: str = "TCHW",
        max_shards_in_memory: int = 8,
    ) -> None:
        if layout not in ("TCHW", "CTHW"):
            raise ValueError(f"layout must be 'TCHW' or 'CTHW', got {layout!r}")
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.split = canonical_split(split)
        self.config = config or SpritesConfig()
        self.seeds = seeds_for(self.split, size, start)  # raises if it would cross the split
        self.layout = layout
        self.shard_size = shard_size
        self.cache_dir = None
        if cache_dir is not None:
            self.cache_dir = Path(cache_dir) / f"sprites-{self.config.fingerprint()}-v{CACHE_VERSION}"
        self._shards: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._max_shards = max(1, max_shards_in_memory)

    def __len__(self) -> int:
        return len(self.seeds)

    # ---- raw records ----------------------------------------------------------------
    def record(self, index: int) -> dict[str, np.ndarray]:
        """The numpy record of item ``index`` (uint8 video), from cache when enabled."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} scenes")
        seed = self.seeds[index]
        if self.cache_dir is None:
            return scene_record(generate_scene(seed, self.config), self.config.max_objects)
        shard_id, offset = divmod(seed - SPLITS[self.split][0], self.shard_size)
        shard = self._shard(shard_id)
        return _row(shard, offset)

    def shard_path(self, shard_id: int) -> Path:
        assert self.cache_dir is not None
        first = SPLITS[self.split][0] + shard_id * self.shard_size
        return self.cache_dir / f"{self.split}_{first:010d}_{self.shard_size}.npz"

    def _shard(self, shard_id: int) -> dict[str, np.ndarray]:
        if shard_id in self._shards:
            self._shards.move_to_end(shard_id)
            return self._shards[shard_id]
        path = self.shard_path(shard_id)
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                shard = {k: data[k] for k in data.files}
        else:
            shard = self._build_shard(shard_id, path)
        self._shards[shard_id] = shard
        while len(self._shards) > self._max_shards:
            self._shards.popitem(last=False)
        return shard

    def _build_shard(self, shard_id: int, path: Path) -> dict[str, np.ndarray]:
        lo, hi = SPLITS[self.split]
        first = lo + shard_id * self.shard_size
        seeds = range(first, min(first + self.shard_size, hi))
        records = [scene_record(generate_scene(s, self.config), self.config.max_objects) for s in seeds]
        shard = {k: np.stack([r[k] for r in records]) for k in records[0]}
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **shard)
        logger.debug("cached %d scenes in %s", len(seeds), path)
        return shard

    def prepare(self, progress: bool = True) -> int:
        """Fill the cache for every shard this dataset touches; returns shards built."""
        if self.cache_dir is None:
            raise ValueError("prepare() needs a cache_dir")
        lo = SPLITS[self.split][0]
        ids = sorted({(s - lo) // self.shard_size for s in (self.seeds[0], self.seeds[-1])}) if len(self) else []
        shard_ids = range(ids[0], ids[-1] + 1) if ids else range(0)
        built = 0
        for shard_id in tqdm(shard_ids, desc="sprites cache", unit="shard", disable=not progress):
            path = self.shard_path(shard_id)
            if not path.is_file():
                self._build_shard(shard_id, path)
                built += 1
        return built

    # ---- tensors --------------------------------------------------------------------
    def __getitem__(self, index: int) -> dict[str, Any]:
        return record_to_item(self.record(index), self.layout)


def _row(shard: dict[str, np.ndarray], offset: int) -> dict[str, np.ndarray]:
    return {k: v[offset] for k, v in shard.items()}


def record_to_item(rec: dict[str, np.ndarray], layout: str = "TCHW") -> dict[str, Any]:
    """Numpy record -> the tensors documented on `SpritesDataset`."""
    video = torch.from_numpy(np.ascontiguousarray(rec["video"])).permute(0, 3, 1, 2)  # (T, 3, H, W)
    video = video.float().div_(127.5).sub_(1.0)
    first = video[0].clone()
    if layout == "CTHW":
        video = video.permute(1, 0, 2, 3).contiguous()  # (3, T, H, W)
    ids = torch.from_numpy(np.ascontiguousarray(rec["ids"])).long()  # (T, H, W)
    text = json.loads(str(rec["text"]))
    k = rec["params"].shape[0]
    n = int(rec["num_objects"])
    pad = [""] * (k - n)
    return {
        "video": video,
        "first_frame": first,
        "ids": ids,
        "first_ids": ids[0].clone(),
        "params": torch.from_numpy(np.array(rec["params"], np.float32)),
        "colours": torch.from_numpy(np.array(rec["colours"], np.float32)),
        "present": torch.arange(k) < n,
        "num_objects": torch.tensor(n, dtype=torch.int64),
        "motion": torch.from_numpy(np.array(rec["motion"], np.int64)),
        "speed": torch.from_numpy(np.array(rec["speed"], np.int64)),
        "target": torch.from_numpy(np.array(rec["target"], np.int64)),
        "global_prompt": text["global_prompt"],
        "motion_prompt": text["motion_prompt"],
        "local_prompts": text["local_prompts"] + pad,
        "names": text["names"] + pad,
        "seed": int(rec["seed"]),
    }


def collate_scenes(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors; keep strings as lists (prompts: list of B; local_prompts: B lists of K)."""
    out: dict[str, Any] = {}
    for key, value in batch[0].items():
        values = [item[key] for item in batch]
        if isinstance(value, torch.Tensor):
            out[key] = torch.stack(values)
        elif key == "seed":
            out[key] = torch.tensor(values, dtype=torch.int64)
        else:
            out[key] = values
    return out
