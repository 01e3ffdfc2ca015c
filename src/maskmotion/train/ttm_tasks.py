"""The TTM training tasks on the sprites world: stage 1 (compact motion, or the paper's
pixel-level mask video), stage 2 (video from the trajectory) and the baselines.

Every batch is a pure function of the step: scene seeds come from a per-epoch
permutation of a fixed pool of train-split seeds, scenes are regenerated from their
seed, and prompt encodings come from a `PromptBank` that always encodes the same
chunk of prompts together (so a resumed run sees bit-identical text states).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..attention import BatchTokenGroups, build_token_groups
from ..data.sprites import SpritesConfig, generate_scene, tracks_from_sprite_params
from ..data.sprites.splits import seed_at, seeds_for
from ..data.sprites.text import HELDOUT_WORDINGS
from ..eval.sprites import evaluate_mask_video_model, evaluate_motion_model, evaluate_video_model, summarise_objects
from ..data.video import ShardSet
from ..errors import InputError
from ..files import atomic_path
from ..models import (
    MotionConditions, MotionDiT, VideoConditions, VideoDiT, interpolate, motion_config, sample_times, video_config,
)
from ..models.examples import stage1_example, stage2_example
from ..models.io import save_model
from ..models.inputs import concat_local_states, to_model_range, video_condition
from ..text import TextEncoder, pad_states
from ..trajectory import PALETTE
from ..render import flow_render
from .shard_data import open_shards
from .tasks import options_from_dict, register_task, resolve_cache_dir

logger = logging.getLogger(__name__)

# Named stage-2 variants: the paper's ablations plus our extensions. Every variant keeps
# the same layers (parameter-matched); "masked_*" False makes that extra layer unmasked.
# The ablations use the paper's form (first frame + trajectory) so that they answer the
# paper's questions; "ttm" adds our warp preview, "ttm-pixel" exact-pixel regions.
_PAPER = dict(cond_names=["first_frame", "trajectory"], output_base="")
VIDEO_VARIANTS: dict[str, dict[str, Any]] = {
    # Ours: TTM with the warp preview as an extra condition and the output a residual over it.
    "ttm": dict(),
    # The paper's stage 2: first frame + trajectory, masked layers with box regions for
    # masked cross-attention.
    "ttm-paper": dict(_PAPER),
    "ttm-pixel": dict(_PAPER, cross_region="pixel"),
    "no-masked": dict(_PAPER, masked_self=False, masked_cross=False),
    "cross-only": dict(_PAPER, masked_self=False),
    "self-only": dict(_PAPER, masked_cross=False),
    # The optical-flow trajectory (rendered as colour) in place of the mask trajectory;
    # without masks there are no groups, so the extra layers are unmasked.
    "flow": dict(cond_names=["first_frame", "flow"], output_base="", masked_self=False, masked_cross=False),
    # Single stage: the first frame only, the extra layers unmasked.
    "ti2v": dict(cond_names=["first_frame"], output_base="", masked_self=False, masked_cross=False),
}


class PromptBank:
    """Prompt states by scene index, encoded a chunk of scenes at a time.

    A chunk is always encoded as one batch, whatever order steps ask for it in, so the
    states never depend on what was cached before. Stored as float16, in memory (LRU
    over chunks) and, with ``cache_dir``, on disk, so a resumed run does not encode
    the pool again.
    """

    def __init__(
        self,
        encoder: TextEncoder,
        prompts_of: Callable[[int], list[str]],
        size: int,
        chunk: int = 64,
        max_chunks: int = 512,
        cache_dir: Path | None = None,
    ):
        self.encoder = encoder
        self.prompts_of = prompts_of
        self.size = size
        self.chunk = chunk
        self.max_chunks = max_chunks
        self.cache_dir = cache_dir
        self._chunks: OrderedDict[int, list[list[torch.Tensor]]] = OrderedDict()

    def _load_or_encode(self, cid: int) -> list[list[torch.Tensor]]:

        path = self.cache_dir / f"chunk_{cid:06d}.safetensors" if self.cache_dir else None
        if path is not None and path.is_file():
            flat = load_file(str(path))
            out, i = [], 0
            for scene in range(int(flat["num_scenes"])):
                n = int(flat["counts"][scene])
                out.append([flat[f"p{i + k}"] for k in range(n)])
                i += n
            return out
        # Whole chunks, even past the pool's end, so a chunk never depends on the pool size.
        indices = range(cid * self.chunk, (cid + 1) * self.chunk)
        per_scene = [self.prompts_of(i) for i in indices]
        flat_prompts = [p for ps in per_scene for p in ps]
        states = [s.half() for s in self.encoder.encode_uncached(flat_prompts)]
        it = iter(states)
        out = [[next(it) for _ in ps] for ps in per_scene]
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tensors = {f"p{i}": s.contiguous() for i, s in enumerate(states)}
            tensors["counts"] = torch.tensor([len(ps) for ps in per_scene])
            tensors["num_scenes"] = torch.tensor(len(per_scene))
            with atomic_path(path) as tmp:
                save_file(tensors, str(tmp))
        return out

    def get(self, index: int) -> list[torch.Tensor]:
        if not 0 <= index < self.size:
            raise IndexError(f"scene index {index} outside the pool of {self.size}")
        cid, offset = divmod(index, self.chunk)
        if cid not in self._chunks:
            self._chunks[cid] = self._load_or_encode(cid)
            while len(self._chunks) > self.max_chunks:
                self._chunks.popitem(last=False)
        self._chunks.move_to_end(cid)
        return [s.float() for s in self._chunks[cid][offset]]


@dataclass
class SceneOptions:
    """Options every TTM task shares."""

    train_scenes: int = 8192
    """Size of the pool of train-split seeds (epochs reshuffle it)."""
    eval_scenes: int = 16
    """Validation scenes sampled by ``evaluate``."""
    eval_steps: int = 10
    frames: int = 16
    size: int = 64
    preset: str = "default"
    model: dict[str, Any] = field(default_factory=dict)
    """Model config fields overriding the preset."""
    visual_dropout: float = 0.05
    text_dropout: float = 0.05
    both_dropout: float = 0.05
    text_model: str = ""
    """Local text-encoder folder; empty = the bundled MiniLM."""
    cache_dir: str | None = None
    """Where encoded prompts are kept, so a resumed run does not encode them again.
    Unset: ``<out_dir>/cache``; a relative path is taken from the run's ``out_dir``
    (``"../cache"``: one cache for the runs beside it); empty = memory only."""
    seed: int = 0
    wording: str = "seen"
    """How the sprites prompts are worded (`SpritesConfig.wording`): "seen" (the wide
    language), "classic" (the v1-v3 language); "heldout" and "heldout-verbs" are for
    evaluation only and refused here."""
    data: str = ""
    """Training data: "" = the sprites world; ``"shards:PATH/*.tar"`` = clips made by
    ``maskmotion prepare`` (their size must be ``frames`` x ``size`` x ``size``)."""
    shuffle_buffer: int = 1000
    """Samples held by the shuffle buffer when reading shards (0: file order)."""


class _SceneTask:
    """Seeds, scenes, prompts and condition dropout, shared by the stage tasks.

    With ``data = "shards:..."`` the pool is the shards' samples instead of sprites
    seeds: `scene` decodes a sample, `indices` follows the shards' per-epoch order."""

    shards: ShardSet | None = None

    def __init__(self, opts: SceneOptions, name: str):
        self.opts = opts
        self.name = name
        if opts.wording in HELDOUT_WORDINGS:  # training on them would void the measure they exist for
            raise InputError(
                f"wording {opts.wording!r} is for evaluation only (benchmarks/evaluate_stages.py --wording); "
                "train on 'seen' or 'classic'"
            )
        self.sprites = SpritesConfig(height=opts.size, width=opts.size, num_frames=opts.frames, wording=opts.wording)
        self.seeds = seeds_for("train", opts.train_scenes)
        self.eval_seeds = seeds_for("val", opts.eval_scenes)
        self._text: TextEncoder | None = None
        self._bank: PromptBank | None = None
        self.use_shards(opts.data, opts.shuffle_buffer, (opts.frames, opts.size, opts.size))

    def use_shards(self, data: str, buffer: int, size: tuple[int, int, int]) -> None:
        """Train on prepared shards (``data`` "shards:PATH/*.tar"); "" keeps the sprites world."""
        if data:
            self.shards = open_shards(data, self.opts.seed, buffer, size, self.name)
            self.seeds = range(len(self.shards))

    def data_fingerprint(self) -> str:
        """What the pool's samples depend on: the world's config, or the shards' names and sizes."""
        return f"shards-{self.shards.fingerprint}" if self.shards is not None else self.sprites.fingerprint()

    def export_meta(self, **fields) -> dict:
        """What an exported model folder's config.json says besides the model: the task,
        ``fields``, and the frozen text encoder where it is not the bundled one (it is part
        of the model's input)."""
        text = {"text_model": self.opts.text_model} if self.opts.text_model else {}
        return {"task": self.name, **fields, **text}

    def data_position(self, step: int, batch_size: int) -> dict[str, int]:
        """Where the sample stream stands once ``step`` steps of ``batch_size`` are done."""
        seen = step * batch_size
        epoch, offset = divmod(seen, len(self.seeds))
        return {"epoch": epoch, "offset": offset, "samples_seen": seen}

    @property
    def text(self) -> TextEncoder:
        if self._text is None:
            self._text = TextEncoder(self.opts.text_model or None)
        return self._text

    def scene(self, index: int):
        """The ``index``-th scene of the train split (pool indices are split indices), or
        the ``index``-th sample of the shards."""
        if self.shards is not None:
            return self.shards.sample(index)
        return generate_scene(seed_at("train", index), self.sprites)

    def _prompts_at(self, index: int) -> list[str]:
        if self.shards is None:
            return self.prompts(self.scene(index))
        # The bank encodes whole chunks, past the pool's end too: those are never read.
        return self.prompts(self.shards.prompts(index)) if index < len(self.shards) else [""]

    def prompts(self, scene) -> list[str]:
        raise NotImplementedError

    @property
    def bank(self) -> PromptBank:
        if self._bank is None:
            cache = None
            if self.opts.cache_dir:
                # Everything the states depend on names the folder: a changed world,
                # text model or prompt kind never reads stale states.
                key = json.dumps([self.name, self.data_fingerprint(), self.opts.text_model, "train", PromptBank.__name__, 1])
                cache = Path(self.opts.cache_dir) / f"prompts-{hashlib.sha1(key.encode()).hexdigest()[:12]}"
            self._bank = PromptBank(self.text, self._prompts_at, len(self.seeds), cache_dir=cache)
        return self._bank

    def _permutation(self, epoch: int) -> np.ndarray:
        if getattr(self, "_perm_epoch", None) != epoch:
            self._perm = np.random.default_rng([self.opts.seed, epoch]).permutation(len(self.seeds))
            self._perm_epoch = epoch
        return self._perm

    def indices(self, step: int, rank: int, world_size: int, batch_size: int) -> list[int]:
        """This shard's pool indices for ``step``: a per-epoch permutation, sliced."""
        out = []
        for pos in range(step * batch_size, (step + 1) * batch_size):
            if self.shards is not None:
                out.append(self.shards.at(pos))
                continue
            epoch, offset = divmod(pos, len(self.seeds))
            out.append(int(self._permutation(epoch)[offset]))
        return out[rank::world_size]

    def drop_masks(self, b: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(visual kept, text kept) per sample; IP2P: drop image, text, or both."""
        u = torch.rand(b, generator=generator)
        o = self.opts
        drop_visual = (u < o.visual_dropout) | ((u >= o.visual_dropout + o.text_dropout) & (u < o.visual_dropout + o.text_dropout + o.both_dropout))
        drop_text = (u >= o.visual_dropout) & (u < o.visual_dropout + o.text_dropout + o.both_dropout)
        return ~drop_visual, ~drop_text


# ---- stage 1, compact form ---------------------------------------------------------------
@dataclass
class MotionTaskOptions(SceneOptions):
    step_weight: float = 0.0
    """Extra loss weight on the error of each frame-to-frame step (the velocity error
    differenced over frames). A per-frame loss weighs an error shared by neighbouring
    frames like one that alternates between them, though only the second makes the
    object jitter or stall; this term weighs the second more."""
    text_noise: float = 0.0
    """Training only: add to every prompt token state Gaussian noise shaped like the
    spread of the pool's token states (their covariance, times this squared), so the
    motion is learned over a neighbourhood of each phrase along the directions in which
    real words differ, not at the phrase alone. 0 = off."""


#: Token states sampled to estimate their covariance for ``text_noise``.
_NOISE_SAMPLE_SCENES = 256


class MotionTask(_SceneTask):
    """Stage 1: flow matching over per-object motion tracks (`MotionDiT`)."""

    def __init__(self, opts: MotionTaskOptions):
        super().__init__(opts, "stage1-motion")
        if self.shards is not None:
            raise InputError(
                "task stage1-motion learns from the sprites world's motion parameters, which shards do not hold; "
                "train stage1-pixel or backbone-stage1 from shards"
            )
        self.model_config = motion_config(opts.preset, frames=opts.frames, **opts.model)
        self._noise_factor: torch.Tensor | None = None  # (D, D), for text_noise; built on first use

    def prompts(self, scene) -> list[str]:
        return [scene.motion_prompt, *scene.local_prompts]

    def build_model(self) -> MotionDiT:
        return MotionDiT(self.model_config)

    def batch(self, step: int, rank: int, world_size: int, batch_size: int) -> dict[str, Any]:
        idx = self.indices(step, rank, world_size, batch_size)
        examples = [stage1_example(self.scene(i)) for i in idx]
        texts = [self.bank.get(i) for i in idx]
        n_obj = max(len(e.object_ids) for e in examples)
        b, t = len(examples), self.opts.frames
        feats = torch.zeros(b, n_obj, self.model_config.feature_dim)
        motion = torch.zeros(b, n_obj, t, 5)
        present = torch.zeros(b, n_obj, dtype=torch.bool)
        for k, e in enumerate(examples):
            n = len(e.object_ids)
            feats[k, :n] = torch.from_numpy(e.features)
            motion[k, :n] = torch.from_numpy(e.motion)
            present[k, :n] = True
        text, text_mask = pad_states([s[0] for s in texts], self.text.dim)
        local, owner = concat_local_states([s[1:] for s in texts], [list(range(1, len(s))) for s in texts], self.text.dim)
        return dict(features=feats, motion=motion, present=present, text=text, text_mask=text_mask, local=local, owner=owner)

    def loss(self, model, batch, generator):
        core = getattr(model, "module", model)
        x0 = core.normalise(batch["motion"])
        b = x0.shape[0]
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        t = sample_times(b, generator, x0.device)
        keep_visual, keep_text = (m.to(x0.device) for m in self.drop_masks(b, generator))
        text, local = batch["text"], batch["local"]
        if self.opts.text_noise:
            text, local = (s + self._text_noise(s.shape, generator).to(s.device) for s in (text, local))
        cond = MotionConditions(
            features=batch["features"], object_mask=batch["present"], text_states=text,
            text_mask=batch["text_mask"], local_states=local, local_ids=batch["owner"],
        )
        v = model(interpolate(x0, noise, t), t, cond.dropped(visual=keep_visual, text=keep_text))
        error = v - (noise - x0)  # (B, L, T, C)
        err = error.square().mean(dim=(2, 3))  # (B, L)
        if self.opts.step_weight:
            err = err + self.opts.step_weight * error.diff(dim=2).square().mean(dim=(2, 3))
        loss = (err * batch["present"]).sum() / batch["present"].sum()
        return loss, {}

    def _text_noise(self, shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
        """(…, D) noise ~ N(0, text_noise² Σ), Σ the covariance of the pool's token states
        (estimated once from the first scenes' prompts)."""
        if self._noise_factor is None:
            n = min(_NOISE_SAMPLE_SCENES, len(self.seeds))
            tokens = torch.cat([st for i in range(n) for st in self.bank.get(i)])  # (N, D)
            cov = torch.cov(tokens.double().T)  # (D, D)
            evals, evecs = torch.linalg.eigh(cov)
            self._noise_factor = (evecs * evals.clamp(min=0).sqrt()).float()  # (D, D): Σ = F Fᵀ
        z = torch.randn(shape, generator=generator)  # (…, D)
        return self.opts.text_noise * z @ self._noise_factor.T

    @torch.no_grad()
    def evaluate(self, model) -> dict[str, float]:
        rows = evaluate_motion_model(model, self.text, self.eval_seeds, self.sprites, self.opts.eval_steps)
        return summarise_objects(rows)["all"]

    def export(self, model, out_dir: Path) -> None:
        save_model(model, Path(out_dir) / "model", extra=self.export_meta())


# ---- stage 2 and the paper's pixel-level stage 1 ----------------------------------------
@dataclass
class VideoTaskOptions(SceneOptions):
    variant: str = "ttm"
    object_weight: float = 4.0
    """Extra loss weight on object pixels (their first-frame and current masks): most
    pixels are static background, and the objects are what stage 2 is judged on."""
    residual_weight: float = 0.0
    """Extra loss weight per unit of |target − output base| (the warp preview; mean over
    colour channels, [−1, 1] scale): the pixels the base gets wrong (a colour change, a
    revealed background, a spin's texture) are what a refining model must learn, and
    they are few. Needs a variant whose output is a residual (``output_base``)."""


class VideoTask(_SceneTask):
    """Stage 2 (and its ablations): the video from the first frame and the trajectory."""

    def __init__(self, opts: VideoTaskOptions, name: str = "stage2"):
        super().__init__(opts, name)
        if opts.variant not in VIDEO_VARIANTS:
            raise ValueError(f"unknown stage-2 variant {opts.variant!r}; choose from {sorted(VIDEO_VARIANTS)}")
        if self.shards is not None and opts.variant == "flow":
            raise InputError("variant flow renders the sprites world's motion parameters, which shards do not hold; pick another variant")
        fields = {**VIDEO_VARIANTS[opts.variant], **opts.model}
        names = fields.pop("cond_names", ["first_frame", "trajectory", "warp"])
        self.model_config = video_config(
            opts.preset, frames=opts.frames, height=opts.size, width=opts.size,
            cond_names=names, cond_channels=3 * len(names), **fields,
        )
        if opts.residual_weight and not self.model_config.output_base:
            raise ValueError(f"residual_weight needs an output base; variant {opts.variant!r} has none")

    def prompts(self, scene) -> list[str]:
        return [scene.global_prompt, *scene.local_prompts]

    def build_model(self) -> VideoDiT:
        return VideoDiT(self.model_config)

    def _images(self, scene) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Condition images, target video (T, H, W, 3) and the trajectory ids."""
        names = self.model_config.cond_names
        images = {"first_frame": scene.first_frame, "trajectory": PALETTE[scene.ids]}
        if "warp" in names:
            images["warp"] = stage2_example(scene).warp
        if "flow" in names:
            oids = [o.id for o in scene.objects]
            tracks = tracks_from_sprite_params(scene.params(), scene.first_ids, oids)
            images["flow"] = flow_render(scene.ids, dict(zip(oids, tracks)))
        return images, scene.video, scene.ids

    def batch(self, step: int, rank: int, world_size: int, batch_size: int) -> dict[str, Any]:
        idx = self.indices(step, rank, world_size, batch_size)
        cfg = self.model_config
        conds, targets, ids, owners = [], [], [], []
        for i in idx:
            sc = self.scene(i)
            images, target, traj_ids = self._images(sc)
            conds.append(video_condition(images, cfg.cond_names, cfg.frames))
            targets.append(to_model_range(target).movedim(-3, 0))  # (3, T, H, W)
            ids.append(torch.from_numpy(traj_ids))
            owners.append([o.id for o in sc.objects])
        texts = [self.bank.get(i) for i in idx]
        text, text_mask = pad_states([s[0] for s in texts], self.text.dim)
        # Tasks without local prompts (the pixel-level stage 1) give only the first prompt.
        local_owners = [o if len(s) > 1 else [] for o, s in zip(owners, texts)]
        local, owner = concat_local_states([s[1:] for s in texts], local_owners, self.text.dim)
        ids_t = torch.stack(ids)
        batch = dict(video=torch.stack(targets), cond=torch.stack(conds), ids=ids_t, text=text,
                     text_mask=text_mask, local=local, owner=owner)
        if cfg.needs_groups:
            batch["groups"] = _groups(cfg, ids_t, [max(o) for o in owners])
        return batch

    def loss(self, model, batch, generator):
        x0 = batch["video"]
        dev = x0.device
        b = x0.shape[0]
        noise = torch.randn(x0.shape, generator=generator).to(dev)
        t = sample_times(b, generator, dev)
        keep_visual, keep_text = (m.to(dev) for m in self.drop_masks(b, generator))
        groups = batch.get("groups")
        cond = VideoConditions(
            images=batch["cond"], text_states=batch["text"], text_mask=batch["text_mask"],
            groups=groups.to(dev) if groups is not None else None, local_states=batch["local"], local_ids=batch["owner"],
            trajectory_ids=batch["ids"].to(dev) if self.model_config.needs_ids else None,
        )
        pred = model(interpolate(x0, noise, t), t, cond.dropped(visual=keep_visual, text=keep_text))
        ids = batch["ids"].to(dev)
        objects = (ids > 0) | (ids[:, :1] > 0)  # (B, T, H, W): current and first-frame object pixels
        weight = 1.0 + self.opts.object_weight * objects[:, None].float()  # (B, 1, T, H, W)
        if self.opts.residual_weight:
            i = self.model_config.cond_names.index(self.model_config.output_base)
            base = batch["cond"][:, 3 * i : 3 * i + 3].to(dev)
            weight = weight + self.opts.residual_weight * (x0 - base).abs().mean(dim=1, keepdim=True)
        loss = (weight * (pred - x0).square()).mean() / weight.mean()
        return loss, {}

    @torch.no_grad()
    def evaluate(self, model) -> dict[str, float]:
        return evaluate_video_model(model, self.text, self.eval_seeds, self.sprites, self.opts.eval_steps)

    def export(self, model, out_dir: Path) -> None:
        save_model(model, Path(out_dir) / "model", extra=self.export_meta(variant=self.opts.variant))


class MaskVideoTask(VideoTask):
    """Stage 1 in the paper's form: the colour-mask video generated by the video DiT from
    [noise | first frame | first-frame mask render], text = the motion prompt, no masked
    layers. Kept beside the compact `MotionTask` so the benchmark can compare them."""

    def __init__(self, opts: VideoTaskOptions):
        opts.variant = "ttm"  # unused: the layout below is fixed
        _SceneTask.__init__(self, opts, "stage1-pixel")
        names = ["first_frame", "first_mask"]
        fields = {"masked_blocks": 0, "output_base": "", **opts.model}
        self.model_config = video_config(
            opts.preset, frames=opts.frames, height=opts.size, width=opts.size,
            cond_names=names, cond_channels=6, **fields,
        )
        if opts.residual_weight:
            raise ValueError("residual_weight needs an output base; the pixel-level stage 1 has none")

    def prompts(self, scene) -> list[str]:
        return [scene.motion_prompt]

    def _images(self, scene):
        render = PALETTE[scene.ids]
        return {"first_frame": scene.first_frame, "first_mask": render[0]}, render, scene.ids

    @torch.no_grad()
    def evaluate(self, model) -> dict[str, float]:
        rows = evaluate_mask_video_model(model, self.text, self.eval_seeds, self.sprites, self.opts.eval_steps)
        return summarise_objects(rows)["all"]


def _groups(cfg, ids: torch.Tensor, num_objects: list[int]):
    return BatchTokenGroups.from_samples(
        [build_token_groups(ids[i], cfg.token_grid, num_objects[i], cfg.cross_region) for i in range(len(ids))]
    )


# ---- registry -----------------------------------------------------------------------------
def _with_cache(opts, out_dir: str | Path | None):
    """``opts`` with ``cache_dir`` resolved against the run's output folder
    (`resolve_cache_dir`); "" when there is no disk cache."""
    opts.cache_dir = str(resolve_cache_dir(opts.cache_dir, out_dir) or "")
    return opts


@register_task("stage1-motion")
def _motion_factory(options: dict[str, Any], out_dir: str | Path | None = None) -> MotionTask:
    return MotionTask(_with_cache(options_from_dict(MotionTaskOptions, options, "stage1-motion"), out_dir))


@register_task("stage1-pixel")
def _mask_video_factory(options: dict[str, Any], out_dir: str | Path | None = None) -> MaskVideoTask:
    return MaskVideoTask(_with_cache(options_from_dict(VideoTaskOptions, options, "stage1-pixel"), out_dir))


@register_task("stage2")
def _video_factory(options: dict[str, Any], out_dir: str | Path | None = None) -> VideoTask:
    return VideoTask(_with_cache(options_from_dict(VideoTaskOptions, options, "stage2"), out_dir))
