"""TTM training on the real backbones (Wan, AnimateDiff) in the one training loop.

Tasks ``backbone-stage1`` (the mask trajectory: widened input, no masked layers, text =
the motion prompt) and ``backbone-stage2`` (the video: masked self- and cross-attention,
local prompts). Task options (`BackboneTaskOptions`):

- ``backbone``: "wan" or "animatediff"; ``weights``: a weights folder (the layout of
  `maskmotion.pipelines.backbone`); the stage's model starts from ``weights/motion`` or
  ``weights/video``. When ``weights`` does not exist yet and ``base`` names a pretrained
  diffusers pipeline folder, the folder is made from it first (`backbone_from_base`:
  both stages = the base model, input widened with zero weights, stage 2's masked
  layers with zero output projections) at ``frames`` x ``height`` x ``width``.
- Data: the sprites world's train split at the weights folder's clip size, or with
  ``data = "shards:PATH/*.tar"`` the samples of ``maskmotion prepare`` (docs/data.md). The VAE
  latents and text states of each scene are computed once and cached on disk
  (``cache_dir``, by default ``<out_dir>/cache``; one safetensors file per scene, written
  atomically) under a key made of everything they depend on: the stage, the world's
  config, the folder's VAE, text encoder and tokenizer (configs and weight-file
  fingerprints) and the text length.
  The VAE and text encoder load only on a cache miss, on ``encode_device``. Stage 2's
  token groups (at the model's token grids) are cached beside them.
- ``gradient_checkpointing``: the adapter's checkpointing (masks restored on recompute).
- Export: ``final/weights`` is a complete weights folder (components hard-linked from
  ``weights`` where the file system allows, the other stage as it was, this stage
  trained), ready for ``maskmotion animate --backbone ... --weights OUT/final/weights``.

Objective per backbone (`BackboneKind.noisy`): Wan flow matching (velocity), AnimateDiff
v-prediction with zero terminal SNR; condition dropout as InstructPix2Pix (visual: zero
condition latents and all-background token groups; text: the empty prompt and no local
prompts).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load as load_safetensors
from safetensors.torch import load_file, save_file

from ..adapters.kinds import get_kind
from ..attention import BatchTokenGroups, TokenGrid, TokenGroups, build_token_groups
from ..data.sprites import SpritesConfig
from ..data.sprites.splits import seeds_for
from ..errors import InputError
from ..files import atomic_dir, atomic_path
from ..models.inputs import concat_local_states
from ..pipelines.backbone import CONFIG_NAME, COMPONENTS, BackboneTTM, read_backbone_config
from ..pipelines.backbone_init import backbone_from_base
from ..pipelines.backbone_latents import DTYPES, folder_fingerprint, latents_key, scene_latents, trim_text
from ..text import pad_states
from ..weights import STAGES
from .tasks import options_from_dict, register_task, resolve_cache_dir
from .ttm_tasks import _SceneTask

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
STAGE_FOLDERS = {1: "motion", 2: "video"}


@dataclass
class BackboneTaskOptions:
    backbone: str = "wan"
    weights: str = ""
    """The weights folder this stage starts from (and whose other parts the export keeps)."""
    base: str = ""
    """A pretrained diffusers pipeline folder; used only to make ``weights`` when it is missing."""
    base_motion_adapter: str = ""
    """AnimateDiff: a motion adapter folder when ``base/unet`` is SD 1.5's image U-Net."""
    masked_blocks: int = -1
    """Stage 2's masked blocks when ``weights`` is made from ``base``; -1 = the adapter's default."""
    frames: int = 0
    height: int = 0
    width: int = 0
    """Clip size when ``weights`` is made from ``base`` (0 = the backbone's default);
    with an existing folder, 0 or the folder's own values."""
    train_scenes: int = 8192
    visual_dropout: float = 0.05
    text_dropout: float = 0.05
    both_dropout: float = 0.05
    cache_dir: str | None = None
    """Where scene latents and text states are kept. Unset: ``<out_dir>/cache``; a
    relative path is taken from the run's ``out_dir`` (``"../cache"``: one cache for the
    runs beside it); empty = encode every time (tests)."""
    cache_dtype: str = "bfloat16"
    encode_device: str = "auto"
    """Device of the VAE and text encoder on cache misses (auto: the GPU if there is one)."""
    gradient_checkpointing: bool = False
    seed: int = 0
    data: str = ""
    """Training data: "" = the sprites world; ``"shards:PATH/*.tar"`` = clips made by
    ``maskmotion prepare`` at the weights folder's frames x height x width."""
    shuffle_buffer: int = 1000
    """Samples held by the shuffle buffer when reading shards (0: file order)."""


class BackboneTask(_SceneTask):
    """One TTM stage on a real backbone (shares seeds, scenes and dropout with the
    sprites tasks)."""

    def __init__(self, opts: BackboneTaskOptions, stage: int) -> None:
        self.opts, self.stage, self.name = opts, stage, f"backbone-stage{stage}"
        self.kind = get_kind(opts.backbone)
        if not opts.weights:
            raise InputError(f"task {self.name}: set task_options.weights to a weights folder (made from `base` if missing)")
        self.weights = Path(opts.weights)
        if not self.weights.exists():
            self._make_weights()
        self.config = read_backbone_config(self.weights, opts.backbone)
        for name in ("frames", "height", "width"):
            wanted = getattr(opts, name)
            if wanted and wanted != getattr(self.config, name):
                raise InputError(
                    f"task {self.name}: {name} = {wanted} but {self.weights} was made for {getattr(self.config, name)}; "
                    f"set {name} = 0 or use another weights folder"
                )
        c = self.config
        self.sprites = SpritesConfig(height=c.height, width=c.width, num_frames=c.frames)
        self.seeds = seeds_for("train", opts.train_scenes)
        self.use_shards(opts.data, opts.shuffle_buffer, (c.frames, c.height, c.width))
        vae_config = json.loads((self.weights / "vae" / "config.json").read_text())
        self.vae_config = SimpleNamespace(**vae_config)
        scheduler_class = self.kind.component_classes()["scheduler"]
        self.scheduler = scheduler_class.from_pretrained(self.weights / "scheduler")
        self.encodes = 0  # scenes encoded (cache misses), for tests and logs
        self.group_builds = 0  # token groups built (cache misses)
        self._encoders: Any = None
        self._empty: torch.Tensor | None = None
        self.cache = self._cache_folder()
        self.latents_key = latents_key(self.weights, self.kind.name, self.config.text_max_length, opts.cache_dtype)

    # ---- the weights folder ------------------------------------------------------------
    def _make_weights(self) -> None:
        o = self.opts
        if not o.base:
            raise InputError(
                f"task {self.name}: weights folder {self.weights} does not exist; set task_options.base to a "
                "pretrained diffusers pipeline folder to make it from, or point weights at an existing folder"
            )
        logger.info("making %s from %s", self.weights, o.base)
        ttm = backbone_from_base(
            o.base, o.backbone, motion_adapter=o.base_motion_adapter or None,
            masked_blocks=None if o.masked_blocks < 0 else o.masked_blocks,
            frames=o.frames or None, height=o.height or None, width=o.width or None,
        )  # fmt: skip
        ttm.save_pretrained(self.weights)

    def _cache_folder(self) -> Path | None:
        if not self.opts.cache_dir:
            return None
        c = self.config
        key = json.dumps(
            [self.name, self.kind.name, self.data_fingerprint(), c.text_max_length, self.opts.cache_dtype,
             [folder_fingerprint(self.weights / name) for name in ("vae", "text_encoder", "tokenizer")], CACHE_VERSION],
        )  # fmt: skip
        return Path(self.opts.cache_dir) / f"{self.name}-{c.backbone}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"

    # ---- encoding and the cache --------------------------------------------------------
    @property
    def encoders(self) -> Any:
        """The folder's VAE and text encoder (a `BackboneTTM` without stages), loaded on first use."""
        if self._encoders is None:
            device = self.opts.encode_device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            self._encoders = BackboneTTM.from_pretrained(self.weights, device=device, dtype=torch.float32, stages=())
        return self._encoders

    def _encode_scene(self, index: int) -> dict[str, torch.Tensor]:
        """Latents and text states of one scene (`scene_latents`)."""
        out = scene_latents(self.encoders, self.scene(index), self.stage, self.opts.cache_dtype)
        self.encodes += 1
        return out

    def _trim(self, states: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return trim_text(self.kind.name, states, tokens)

    def _stored(self, index: int, member: str) -> dict[str, torch.Tensor] | None:
        """Tensors that `maskmotion prepare --latents` stored in shard sample ``index`` for
        these encoders (same `latents_key`), or None."""
        if self.shards is None or self.shards.meta(index).get("latents", {}).get("key") != self.latents_key:
            return None
        data = self.shards.member(index, member)
        return load_safetensors(data) if data is not None else None

    def scene_tensors(self, index: int) -> dict[str, torch.Tensor]:
        """One scene's cached tensors: stored in the shards (`maskmotion prepare --latents`)
        under this task's key, else from the disk cache, else encoded (and written)."""
        stored = self._stored(index, f"stage{self.stage}.safetensors")
        if stored is not None:
            return stored
        path = self.cache / f"scene_{index:07d}.safetensors" if self.cache is not None else None
        if path is not None and path.is_file():
            return load_file(str(path))
        tensors = self._encode_scene(index)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                save_file(tensors, str(tmp))
        return tensors

    def empty_text(self) -> torch.Tensor:
        """(L, D) states of the empty prompt (the "no text" condition), cached like a scene."""
        if self._empty is None:
            stored = self._stored(0, "empty.safetensors")
            self._empty = stored["text"] if stored is not None else None
        if self._empty is None:
            path = self.cache / "empty_prompt.safetensors" if self.cache is not None else None
            if path is not None and path.is_file():
                self._empty = load_file(str(path))["text"]
            else:
                states, tokens = self.encoders.encode_text([""])
                self._empty = self._trim(states[0], tokens[0]).contiguous()
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(path) as tmp:
                        save_file({"text": self._empty}, str(tmp))
        return self._empty

    # ---- the Task interface ------------------------------------------------------------
    def build_model(self) -> torch.nn.Module:
        model = self.kind.ttm_class.from_pretrained(self.weights / STAGE_FOLDERS[self.stage])
        if self.opts.gradient_checkpointing:
            model.enable_gradient_checkpointing()
        return model.train()

    def batch(self, step: int, rank: int, world_size: int, batch_size: int) -> dict[str, Any]:
        idx = self.indices(step, rank, world_size, batch_size)
        scenes = [self.scene_tensors(i) for i in idx]
        length = self.config.text_max_length
        text, _ = pad_states([s["text"].float() for s in scenes], scenes[0]["text"].shape[-1], min_length=length)
        empty, _ = pad_states([self.empty_text().float()], text.shape[-1], min_length=length)
        batch = {
            "x0": torch.stack([s["x0"] for s in scenes]).float(),  # (B, C, t, h, w)
            "cond": torch.stack([s["cond"] for s in scenes]).float(),
            "target": torch.stack([s["target"] for s in scenes]).float(),
            "text": text[:, :length],  # (B, L, D)
            "empty": empty[:, :length],  # (1, L, D)
        }
        if self.stage == 2:
            owners = [s["object_ids"].tolist() for s in scenes]
            states = [[s[f"local_{k}"].float() for k in range(len(o))] for s, o in zip(scenes, owners)]
            batch["local"], batch["owner"] = concat_local_states(states, owners, text.shape[-1])
            batch["ids"] = torch.stack([s["ids"] for s in scenes])  # (B, T, H, W) uint8
            batch["num_objects"] = torch.tensor([max(o, default=0) for o in owners])
            batch["index"] = torch.tensor(idx)  # the scenes' pool indices: their cached groups
        return batch

    def loss(self, model, batch, generator):
        core = getattr(model, "module", model)
        x0 = batch["target"]
        dev, b = x0.device, x0.shape[0]
        noise = torch.randn(x0.shape, generator=generator).to(dev)
        x_t, t, target = self.kind.noisy(self.scheduler, x0, noise, generator)
        keep_visual, keep_text = (m.to(dev) for m in self.drop_masks(b, generator))
        cond = torch.cat([batch["x0"], batch["cond"]], dim=1) * keep_visual[:, None, None, None, None].to(x0.dtype)
        hidden = torch.cat([x_t, cond], dim=1)  # (B, 3C, t, h, w)
        text = torch.where(keep_text[:, None, None], batch["text"], batch["empty"].expand(b, -1, -1))
        kwargs: dict[str, Any] = {}
        if self.stage == 2 and core.layers:
            groups = self._groups(core, batch, keep_visual.tolist())
            kwargs = dict(groups=groups, local_states=batch["local"], local_ids=batch["owner"] * keep_text[:, None])
        pred = model(hidden, t, text, **kwargs).sample
        return F.mse_loss(pred.float(), target.float()), {}

    def _groups(self, model: torch.nn.Module, batch: dict[str, Any], keep_visual: list[bool]) -> Any:
        """The batch's token groups at every grid of ``model``'s masked layers; a row whose
        visual conditions were dropped is all background (no trajectory to attend by)."""
        per_grid = {}
        for key, grid in self.kind.group_grids(model, self.vae_config).items():
            samples = []
            for row, index in enumerate(batch["index"].tolist()):
                groups = self._scene_groups(index, key, grid, batch["ids"][row], int(batch["num_objects"][row]))
                if not keep_visual[row]:
                    groups = dataclasses.replace(
                        groups, labels=torch.zeros_like(groups.labels), membership=torch.zeros_like(groups.membership)
                    )
                samples.append(groups)
            per_grid[key] = BatchTokenGroups.from_samples(samples)
        return self.kind.batch_groups(per_grid)

    def _scene_groups(self, index: int, key: int, grid: TokenGrid, ids: torch.Tensor, num_objects: int) -> TokenGroups:
        """One scene's groups at one grid, from the cache (built and written on a miss).

        Building them at Wan's 480p x 81 grid takes ~0.3 s of CPU per clip, a tenth of a
        training step, so they are cached beside the scene's latents."""
        region = self.config.cross_region
        path = None
        if self.cache is not None:
            name = hashlib.sha1(json.dumps([dataclasses.asdict(grid), region]).encode()).hexdigest()[:12]
            path = self.cache / f"groups-{name}" / f"scene_{index:07d}_{key}.safetensors"
        shape = grid.token_shape(*ids.shape)
        if path is not None and path.is_file():
            saved = load_file(str(path))
            return TokenGroups(saved["labels"], saved["membership"], shape, saved["membership"].shape[1], region)
        groups = build_token_groups(ids.cpu(), grid, num_objects, region)
        self.group_builds += 1
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                save_file({"labels": groups.labels.contiguous(), "membership": groups.membership.contiguous()}, str(tmp))
        return groups

    def export(self, model, out_dir: Path) -> None:
        """``out_dir/weights``: the weights folder with this stage replaced by ``model``."""
        with atomic_dir(Path(out_dir) / "weights") as tmp:
            for name in (CONFIG_NAME, *COMPONENTS, *STAGES):
                if name != STAGE_FOLDERS[self.stage] and (self.weights / name).exists():
                    _link_or_copy(self.weights / name, tmp / name)
            model.save_pretrained(tmp / STAGE_FOLDERS[self.stage])


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard links (big components are not duplicated on one file system), else copies."""
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_link_or_copy_file)
    else:
        _link_or_copy_file(src, dst)


def _link_or_copy_file(src: str | Path, dst: str | Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _options(options: dict[str, Any], name: str, out_dir: str | Path | None = None) -> BackboneTaskOptions:
    opts = options_from_dict(BackboneTaskOptions, options, name)
    opts.cache_dir = str(resolve_cache_dir(opts.cache_dir, out_dir) or "")
    if opts.cache_dtype not in DTYPES:
        raise InputError(f"task {name}: cache_dtype must be float32, bfloat16 or float16, got {opts.cache_dtype!r}")
    return opts


@register_task("backbone-stage1")
def _stage1_factory(options: dict[str, Any], out_dir: str | Path | None = None) -> BackboneTask:
    return BackboneTask(_options(options, "backbone-stage1", out_dir), 1)


@register_task("backbone-stage2")
def _stage2_factory(options: dict[str, Any], out_dir: str | Path | None = None) -> BackboneTask:
    return BackboneTask(_options(options, "backbone-stage2", out_dir), 2)


__all__ = ["BackboneTask", "BackboneTaskOptions"]
