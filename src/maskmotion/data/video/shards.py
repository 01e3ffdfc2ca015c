"""Training shards: WebDataset tar files, one sample per window.

A sample is the tar members ``<key>.mp4`` (the frames, H.264), ``<key>.npz`` (the mask
trajectory, `MaskTrajectory`'s exact format, local prompts in its objects) and
``<key>.json`` (`SAMPLE_FORMAT`: prompts, source clip and window, measured stats).
Any WebDataset reader streams them (``webdataset.WebDataset("shards/shard-{000000..000009}.tar")``);
`ShardSet` adds what training needs here: random access by sample index (one header
scan per shard) and a per-epoch order that is what a streaming reader with a shuffle
buffer would produce, computed from (seed, epoch) alone, so a run resumed mid-epoch
continues with exactly the samples an uninterrupted run would have seen.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ...files import atomic_path, parse_json
from ...trajectory import MaskTrajectory
from ...video import read_video, write_video

SAMPLE_FORMAT = "maskmotion-sample"
SAMPLE_VERSION = 1
SHARD_PREFIX = "shards:"
#: Members of every sample; writers may add others (e.g. cached latents).
MEMBERS = ("mp4", "npz", "json")


def encode_sample(key: str, frames: np.ndarray, trajectory: MaskTrajectory, meta: dict[str, Any], crf: int = 12) -> dict[str, Any]:
    """One sample as WebDataset members: ``{"__key__", "mp4", "npz", "json"}`` bytes."""
    if "." in key:
        raise ValueError(f"sample key {key!r} holds a dot; WebDataset splits keys at the first dot")
    with tempfile.TemporaryDirectory(prefix="maskmotion-sample-") as tmp:
        # Deterministic encoding: a rerun, another engine or another worker writes the same bytes.
        write_video(Path(tmp) / "frames.mp4", frames, fps=trajectory.fps, crf=crf)
        trajectory.save(Path(tmp) / "trajectory.npz")
        video = (Path(tmp) / "frames.mp4").read_bytes()
        npz = (Path(tmp) / "trajectory.npz").read_bytes()
    header = {"format": SAMPLE_FORMAT, "version": SAMPLE_VERSION, **meta}
    return {"__key__": key, "mp4": video, "npz": npz, "json": json.dumps(header, sort_keys=True).encode("utf-8")}


def write_tar(path: str | os.PathLike, samples: list[dict[str, Any]]) -> Path:
    """Write samples (`encode_sample`'s dicts) to one tar, atomically and byte for byte
    reproducibly (fixed owner, mode and time stamps)."""
    import webdataset as wds  # optional: only writing and streaming shards need it

    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            writer = wds.TarWriter(f, user="maskmotion", group="maskmotion", mtime=0.0, encoder=False)
            for sample in samples:
                writer.write(sample)
            writer.close()
    return path


def read_tar(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every sample of one tar as ``{"__key__": key, ext: bytes, ...}``, in file order."""
    samples: dict[str, dict[str, Any]] = {}
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, _, ext = member.name.partition(".")
            data = tar.extractfile(member).read()
            samples.setdefault(key, {"__key__": key})[ext] = data
    return list(samples.values())


@dataclass
class SampleObject:
    id: int
    name: str
    local_prompt: str


@dataclass
class ShardSample:
    """One decoded sample, shaped like a sprites `Scene` for the training tasks:
    video (T, H, W, 3) uint8, ids (T, H, W) uint8, prompts and objects."""

    key: str
    video: np.ndarray = field(repr=False)
    trajectory: MaskTrajectory = field(repr=False)
    meta: dict[str, Any] = field(repr=False)

    @property
    def ids(self) -> np.ndarray:
        return self.trajectory.ids

    @property
    def first_frame(self) -> np.ndarray:
        return self.video[0]

    @property
    def first_ids(self) -> np.ndarray:
        return self.trajectory.ids[0]

    @property
    def objects(self) -> list[SampleObject]:
        return [SampleObject(o.id, o.name, o.prompt) for o in self.trajectory.objects]

    @property
    def global_prompt(self) -> str:
        return self.meta["global_prompt"]

    @property
    def motion_prompt(self) -> str:
        return self.meta["motion_prompt"]

    @property
    def local_prompts(self) -> list[str]:
        return [o.prompt for o in self.trajectory.objects]


@dataclass
class SamplePrompts:
    """A sample's prompts alone, read from its JSON (for encoding text without video)."""

    global_prompt: str
    motion_prompt: str
    local_prompts: list[str]


def decode_sample(sample: dict[str, Any], where: str = "sample") -> ShardSample:
    """A `ShardSample` from a sample's member bytes (errors name ``where``)."""
    missing = [m for m in MEMBERS if m not in sample]
    if missing:
        raise InputError(f"{where}: missing member(s) {missing}; shards hold .mp4, .npz and .json per sample")
    meta = parse_json(sample["json"], f"{where}.json", InputError)
    if not isinstance(meta, dict) or meta.get("format") != SAMPLE_FORMAT:
        raise InputError(f"{where}.json is not a maskmotion sample; make shards with `maskmotion prepare`")
    with tempfile.TemporaryDirectory(prefix="maskmotion-sample-") as tmp:
        (Path(tmp) / "t.npz").write_bytes(sample["npz"])
        (Path(tmp) / "v.mp4").write_bytes(sample["mp4"])
        trajectory = MaskTrajectory.load(Path(tmp) / "t.npz")
        video = read_video(Path(tmp) / "v.mp4")
    if video.shape[:3] != trajectory.ids.shape:
        raise InputError(f"{where}: frames {video.shape[:3]} and trajectory {trajectory.ids.shape} differ in size")
    return ShardSample(sample["__key__"], video, trajectory, meta)


def expand_pattern(pattern: str) -> list[Path]:
    """Shard paths of ``"shards:PATH/*.tar"`` (the prefix optional; glob wildcards and
    ``{a..b}`` / ``{x,y}`` ranges as WebDataset writes them), sorted."""
    if pattern.startswith(SHARD_PREFIX):
        pattern = pattern[len(SHARD_PREFIX) :]
    try:
        from braceexpand import braceexpand  # comes with webdataset

        patterns = list(braceexpand(pattern))
    except ImportError:
        patterns = [pattern]
    paths = sorted({Path(p) for pat in patterns for p in glob.glob(os.path.expanduser(pat))})
    if not paths:
        raise InputError(f"no shard files match {pattern!r}; give data = \"shards:FOLDER/*.tar\" (made by maskmotion prepare)")
    return paths


@dataclass(frozen=True)
class _Entry:
    shard: int
    key: str
    members: tuple[tuple[str, int, int], ...]  # (extension, data offset, size)


class ShardSet:
    """Random access to the samples of a set of shards, and their per-epoch order.

    ``order(epoch)``: the shards in a permutation drawn from (seed, epoch), their samples
    streamed through a shuffle buffer of ``buffer`` samples (each incoming sample
    replaces a randomly drawn buffered one, which is emitted; the rest is emitted
    shuffled at the end). ``buffer`` = 0 keeps file order within each shard.
    """

    def __init__(self, pattern: str, seed: int = 0, buffer: int = 1000) -> None:
        if buffer < 0:
            raise InputError(f"shuffle_buffer must be 0 or more, got {buffer}")
        self.paths = expand_pattern(pattern)
        self.seed, self.buffer = seed, buffer
        self.entries: list[_Entry] = []
        self.shard_ranges: list[range] = []
        for s, path in enumerate(self.paths):
            start = len(self.entries)
            self.entries.extend(self._scan(s, path))
            self.shard_ranges.append(range(start, len(self.entries)))
        if not self.entries:
            raise InputError(f"the shards {pattern!r} hold no samples")
        self._orders: dict[int, np.ndarray] = {}

    @staticmethod
    def _scan(shard: int, path: Path) -> list[_Entry]:
        groups: dict[str, list[tuple[str, int, int]]] = {}
        try:
            with tarfile.open(path, "r:") as tar:
                for m in tar:  # headers only: data is skipped, not read
                    if m.isfile():
                        key, _, ext = m.name.partition(".")
                        groups.setdefault(key, []).append((ext, m.offset_data, m.size))
        except (tarfile.TarError, OSError) as exc:
            raise InputError(f"cannot read shard {path}: {exc}; remake it with maskmotion prepare") from None
        return [_Entry(shard, key, tuple(members)) for key, members in groups.items()]

    def __len__(self) -> int:
        return len(self.entries)

    @cached_property
    def fingerprint(self) -> str:
        """Changes when any shard's name, size or sample keys do (for caches keyed on samples)."""
        digest = hashlib.sha1()
        for path in self.paths:
            digest.update(f"{path.name}:{path.stat().st_size};".encode())
        for e in self.entries:
            digest.update(e.key.encode())
        return digest.hexdigest()[:16]

    def raw(self, index: int) -> dict[str, Any]:
        """Sample ``index``'s member bytes."""
        entry = self.entries[index]
        out: dict[str, Any] = {"__key__": entry.key}
        with open(self.paths[entry.shard], "rb") as f:
            for ext, offset, size in entry.members:
                f.seek(offset)
                out[ext] = f.read(size)
        return out

    def member(self, index: int, ext: str) -> bytes | None:
        """One member of sample ``index`` (``"mp4"``, ``"stage2.safetensors"``...), or None."""
        entry = self.entries[index]
        for name, offset, size in entry.members:
            if name == ext:
                with open(self.paths[entry.shard], "rb") as f:
                    f.seek(offset)
                    return f.read(size)
        return None

    def meta(self, index: int) -> dict[str, Any]:
        """Sample ``index``'s JSON (prompts, source, stats) without decoding its video."""
        entry = self.entries[index]
        for ext, offset, size in entry.members:
            if ext == "json":
                with open(self.paths[entry.shard], "rb") as f:
                    f.seek(offset)
                    return parse_json(f.read(size), f"{self.paths[entry.shard]}:{entry.key}.json", InputError)
        raise InputError(f"{self.paths[entry.shard]}: sample {entry.key} has no .json; remake the shard with maskmotion prepare")

    def prompts(self, index: int) -> "SamplePrompts":
        meta = self.meta(index)
        return SamplePrompts(meta["global_prompt"], meta["motion_prompt"], [o["prompt"] for o in meta["objects"]])

    def sample(self, index: int) -> ShardSample:
        entry = self.entries[index]
        return decode_sample(self.raw(index), f"{self.paths[entry.shard]}:{entry.key}")

    def order(self, epoch: int) -> np.ndarray:
        """(len(self),) sample indices in the order epoch ``epoch`` reads them."""
        if epoch not in self._orders:
            rng = np.random.default_rng([self.seed, epoch])
            stream = (i for s in rng.permutation(len(self.paths)) for i in self.shard_ranges[s])
            out: list[int] = []
            held: list[int] = []
            for i in stream:
                if len(held) < self.buffer:
                    held.append(i)
                    continue
                j = int(rng.integers(len(held))) if held else 0
                if held:
                    out.append(held[j])
                    held[j] = i
                else:
                    out.append(i)
            out.extend(held[k] for k in rng.permutation(len(held)))
            self._orders = {epoch: np.asarray(out, dtype=np.int64)}  # keep one epoch in memory
        return self._orders[epoch]

    def position(self, samples_seen: int) -> dict[str, int]:
        """Where a reader that has consumed ``samples_seen`` samples stands."""
        epoch, offset = divmod(samples_seen, len(self))
        return {"epoch": epoch, "offset": offset, "samples_seen": samples_seen}

    def at(self, position: int) -> int:
        """The sample index read at global ``position`` (epoch after epoch)."""
        epoch, offset = divmod(position, len(self))
        return int(self.order(epoch)[offset])
