"""Token groups: which object each backbone token belongs to, computed once per sample.

Masked self-attention needs one label per token (0 = background, 1..L = object); masked
cross-attention needs a membership matrix (N, L) saying which objects' prompts a token
may read. Both come from the mask trajectory's ids at the backbone's token grid (see
`TokenGrid`; token order is (t, h, w) row-major).

Rules (docs/method.md, stage 2, "Our answer"):

- pixel labels: a token takes the label covering the most of its pixel-frames, counted
  over every video frame it spans (a plurality vote; ties go to the smaller id, so
  background wins a tie with an object).
- box membership: per video frame, each object's bounding box; a token is a member of
  every object whose boxes, united over the frames it spans, cover at least
  `box_coverage` of its pixels. Boxes may overlap, so a token can have several objects.
- tiny objects: an object visible in the frames a token-time slice spans keeps at least
  one token there: the token it covers most (in pixel mode taken from its current owner
  unless that would leave that owner with no token; in box mode simply added).
- vanished objects own no tokens in the slices where they are absent; an absent object
  has an all-False membership column and an unused label.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from .grid import TokenGrid
from .plan import MAX_ATTENTION_OBJECTS, AttentionPlan, build_cross_attention_plan, build_self_attention_plan

__all__ = [
    "TokenGroups",
    "BatchTokenGroups",
    "build_token_groups",
    "pixel_token_labels",
    "box_token_membership",
    "bounding_boxes",
    "labels_to_membership",
]

logger = logging.getLogger(__name__)

CrossRegion = Literal["box", "pixel"]


def _as_ids(trajectory: Any) -> torch.Tensor:
    """Accept a (T, H, W) integer array/tensor or anything with `.ids` (a MaskTrajectory)."""
    ids = trajectory.ids if hasattr(trajectory, "ids") else trajectory
    if isinstance(ids, np.ndarray):
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"mask ids must be integers (uint8/int), got dtype {ids.dtype}")
        ids = torch.from_numpy(np.ascontiguousarray(ids))
    elif isinstance(ids, torch.Tensor):
        if ids.dtype.is_floating_point or ids.dtype == torch.bool or ids.is_complex():
            raise ValueError(f"mask ids must be integers (uint8/int), got dtype {ids.dtype}")
        ids = ids.detach().cpu()
    else:
        raise ValueError(
            f"expected a (T, H, W) numpy array / torch tensor of ids or an object with `.ids`, got {type(trajectory)}"
        )
    if ids.ndim != 3:
        raise ValueError(
            f"mask ids must have shape (T, H, W), got {tuple(ids.shape)}; add a frame axis for a single image"
        )
    if ids.dtype != torch.uint8:  # uint8 (the trajectory format) stays compact; others widen
        ids = ids.long()
    if ids.numel() and int(ids.min()) < 0:
        raise ValueError("mask ids must be >= 0 (0 = background, 1..L = objects)")
    return ids


def _resolve_num_objects(ids: torch.Tensor, num_objects: int | None) -> int:
    max_id = int(ids.max()) if ids.numel() else 0
    if num_objects is None:
        num_objects = max_id
    if max_id > num_objects:
        raise ValueError(
            f"mask ids go up to {max_id} but num_objects={num_objects}; pass num_objects >= {max_id}"
        )
    if num_objects > MAX_ATTENTION_OBJECTS:
        raise ValueError(f"at most {MAX_ATTENTION_OBJECTS} objects are supported, got num_objects={num_objects}")
    return num_objects


def _token_counts(values: torch.Tensor, num_values: int, grid: TokenGrid) -> torch.Tensor:
    """Count pixel-frames of each value per token: int64 (t, h, w, num_values).

    `values` is (T, H, W) with entries in [0, num_values). One bincount per frame keeps
    memory at a frame's worth of indices even for long, large clips.
    """
    num_frames, height, width = values.shape
    t, h, w = grid.token_shape(num_frames, height, width)
    rows, cols = grid.pixels_per_token
    cell_of_pixel = (torch.arange(height) // rows)[:, None] * w + (torch.arange(width) // cols)[None, :]  # (H, W)
    slice_of_frame = grid.frame_to_token_time(num_frames)
    counts = torch.zeros(t, h * w * num_values, dtype=torch.int64)
    for frame in range(num_frames):
        flat = (cell_of_pixel * num_values + values[frame].long()).reshape(-1)
        counts[slice_of_frame[frame]] += torch.bincount(flat, minlength=h * w * num_values)
    return counts.view(t, h, w, num_values)


def pixel_token_labels(
    trajectory: Any, grid: TokenGrid, num_objects: int | None = None
) -> torch.Tensor:
    """Pixel-mode object label of every token: LongTensor (N,), 0 = background, 1..L.

    Plurality of pixel-frames over the frames a token spans; then every object visible in
    a token-time slice but owning no token there takes its best-covered token (see module
    docstring).
    """
    ids = _as_ids(trajectory)
    num_objects = _resolve_num_objects(ids, num_objects)
    counts = _token_counts(ids, num_objects + 1, grid)  # (t, h, w, L+1)
    t, h, w, _ = counts.shape
    counts = counts.view(t, h * w, num_objects + 1)
    labels = counts.argmax(dim=-1)  # (t, h*w); ties -> smaller id
    left_out: dict[int, int] = {}  # object -> slices where it has no token
    for s in range(t):
        for obj in _keep_tiny_objects(labels[s], counts[s]):
            left_out[obj] = left_out.get(obj, 0) + 1
    if left_out:  # one line per trajectory, not one per slice
        logger.warning(
            "the token grid is too coarse for every object: %s kept no token in some slices "
            "(all their tokens are other objects' only ones); they go without masked attention there",
            ", ".join(f"object {o} in {n} of {t}" for o, n in sorted(left_out.items())),
        )
    return labels.reshape(-1)


def _keep_tiny_objects(labels: torch.Tensor, counts: torch.Tensor) -> list[int]:
    """Give every visible object of one slice at least one token (in place).

    labels: (P,) labels of the slice's P tokens; counts: (P, L+1) pixel-frames per label.
    Returns the objects that could not get one.
    """
    failed = []
    visible = counts[:, 1:].sum(dim=0) > 0  # (L,)
    owned = torch.bincount(labels, minlength=counts.shape[1])  # (L+1,)
    for obj in (torch.nonzero(visible).flatten() + 1).tolist():
        if owned[obj] > 0:
            continue
        candidates = torch.argsort(counts[:, obj], descending=True, stable=True)
        for token in candidates.tolist():
            if counts[token, obj] == 0:
                break
            owner = int(labels[token])
            # Do not orphan another object that owns only this token.
            if owner == 0 or owned[owner] > 1:
                labels[token] = obj
                owned[owner] -= 1
                owned[obj] += 1
                break
        if owned[obj] == 0:  # every token it touches is another object's only token
            failed.append(obj)
    return failed


def bounding_boxes(trajectory: Any, num_objects: int | None = None) -> torch.Tensor:
    """Per-frame bounding box of each object: int64 (T, L, 4) as (top, bottom, left, right),
    inclusive pixel indices; -1 everywhere for an object absent from a frame."""
    ids = _as_ids(trajectory)
    num_objects = _resolve_num_objects(ids, num_objects)
    num_frames, height, width = ids.shape
    boxes = torch.full((num_frames, num_objects, 4), -1, dtype=torch.int64)
    for obj in range(1, num_objects + 1):
        mask = ids == obj  # (T, H, W), one pass over the video per object
        rows, cols = mask.any(dim=2), mask.any(dim=1)  # (T, H), (T, W)
        present = rows.any(dim=1)  # (T,)
        # argmax of a bool row gives its first True; on the flipped row, its last.
        top, bottom = rows.byte().argmax(dim=1), height - 1 - rows.flip(1).byte().argmax(dim=1)
        left, right = cols.byte().argmax(dim=1), width - 1 - cols.flip(1).byte().argmax(dim=1)
        box = torch.stack([top, bottom, left, right], dim=1)  # (T, 4)
        boxes[present, obj - 1] = box[present]
    return boxes


def box_token_membership(
    trajectory: Any, grid: TokenGrid, num_objects: int | None = None, box_coverage: float = 0.5
) -> torch.Tensor:
    """Box-mode membership: BoolTensor (N, L); a token may belong to several objects.

    A token is a member of object i when the union of i's per-frame boxes over the frames
    the token spans covers at least `box_coverage` of the token's pixels; an object visible
    in a slice with no such token gets its best-covered token of that slice.
    """
    if not 0.0 < box_coverage <= 1.0:
        raise ValueError(f"box_coverage must be in (0, 1], got {box_coverage}")
    ids = _as_ids(trajectory)
    num_objects = _resolve_num_objects(ids, num_objects)
    num_frames, height, width = ids.shape
    t, h, w = grid.token_shape(num_frames, height, width)
    rows, cols = grid.pixels_per_token
    boxes = bounding_boxes(ids, num_objects).tolist()  # (T, L, 4)
    slice_of_frame = grid.frame_to_token_time(num_frames)
    coverage = torch.zeros(t, h, w, num_objects)  # fraction of each token's pixels in the box union
    for s in range(t):
        frames = np.nonzero(slice_of_frame == s)[0].tolist()
        for obj in range(num_objects):
            rects = [boxes[frame][obj] for frame in frames if boxes[frame][obj][0] >= 0]
            if not rects:
                continue  # absent from every frame of this slice
            # Rasterise the union only over the token cells its extent touches.
            cell_top, cell_left = min(r[0] for r in rects) // rows, min(r[2] for r in rects) // cols
            cell_bottom, cell_right = max(r[1] for r in rects) // rows + 1, max(r[3] for r in rects) // cols + 1
            y0, x0 = cell_top * rows, cell_left * cols
            union = torch.zeros((cell_bottom - cell_top) * rows, (cell_right - cell_left) * cols, dtype=torch.bool)
            for top, bottom, left, right in rects:
                union[top - y0 : bottom + 1 - y0, left - x0 : right + 1 - x0] = True
            covered = union.view(cell_bottom - cell_top, rows, cell_right - cell_left, cols).sum(
                dim=(1, 3), dtype=torch.float32
            )
            coverage[s, cell_top:cell_bottom, cell_left:cell_right, obj] = covered / (rows * cols)
    coverage = coverage.view(t, h * w, num_objects)
    membership = coverage >= box_coverage - 1e-9  # (t, h*w, L)
    # Tiny objects: keep the best-covered token wherever the object is visible.
    visible = coverage.amax(dim=1) > 0  # (t, L)
    missing = visible & ~membership.any(dim=1)  # (t, L)
    for s, obj in torch.nonzero(missing).tolist():
        membership[s, coverage[s, :, obj].argmax(), obj] = True
    return membership.reshape(t * h * w, num_objects)


def labels_to_membership(labels: torch.Tensor, num_objects: int) -> torch.Tensor:
    """Pixel-mode membership from labels: (..., N) long -> (..., N, L) bool (background: no object)."""
    objects = torch.arange(1, num_objects + 1, device=labels.device)
    return labels.unsqueeze(-1) == objects  # (..., N, L)


@dataclass(frozen=True)
class TokenGroups:
    """One sample's token groups at a backbone's token grid.

    Attributes:
        labels: LongTensor (N,) pixel-mode label per token, 0 = background, 1..L.
        membership: BoolTensor (N, L), which objects' prompts a token may read
            (box or pixel region, see `cross_region`).
        grid_shape: (t, h, w) tokens; N = t*h*w, order (t, h, w) row-major.
        num_objects: L.
        cross_region: "box" or "pixel", how `membership` was made.
    """

    labels: torch.Tensor
    membership: torch.Tensor
    grid_shape: tuple[int, int, int]
    num_objects: int
    cross_region: CrossRegion = "box"

    @property
    def num_tokens(self) -> int:
        return self.labels.shape[0]


def build_token_groups(
    trajectory: Any,
    grid: TokenGrid,
    num_objects: int | None = None,
    cross_region: CrossRegion = "box",
    box_coverage: float = 0.5,
) -> TokenGroups:
    """Compute a sample's token groups once, for every masked layer and denoising step.

    Args:
        trajectory: mask ids (T, H, W) uint8/int numpy array or tensor (0 = background),
            or an object with an `.ids` attribute holding one (a `MaskTrajectory`).
        grid: the backbone's token grid (compression and patch size).
        num_objects: L; defaults to the largest id present. Objects may be absent.
        cross_region: "box" (the paper's choice) or "pixel" region for cross-attention.
        box_coverage: fraction of a token's pixels a box union must cover (box mode).
    """
    if cross_region not in ("box", "pixel"):
        raise ValueError(f"cross_region must be 'box' or 'pixel', got {cross_region!r}")
    ids = _as_ids(trajectory)
    num_objects = _resolve_num_objects(ids, num_objects)
    grid_shape = grid.token_shape(*ids.shape)
    labels = pixel_token_labels(ids, grid, num_objects)
    if cross_region == "pixel":
        membership = labels_to_membership(labels, num_objects)
    else:
        membership = box_token_membership(ids, grid, num_objects, box_coverage)
    return TokenGroups(labels, membership, grid_shape, num_objects, cross_region)


@dataclass
class BatchTokenGroups:
    """Token groups for a batch; samples may have different object counts.

    Attributes:
        labels: LongTensor (B, N).
        membership: BoolTensor (B, N, L_max); columns past a sample's own L are False.
        num_objects: each sample's L.
        grid_shape: (t, h, w) shared by the batch.

    The self-attention plan (see `plan.py`) is built on first use and cached, so every
    masked layer and denoising step reuses it; it moves with `.to(device)`.
    """

    labels: torch.Tensor
    membership: torch.Tensor
    num_objects: tuple[int, ...]
    grid_shape: tuple[int, int, int]
    _self_plan: AttentionPlan | None = field(default=None, init=False, repr=False, compare=False)
    # (key_object_ids tensor, its version, plan): the last cross-attention plan, reused while
    # the same, unmodified key id tensor comes back (every masked block, every step).
    _cross_cache: tuple[torch.Tensor, int, AttentionPlan] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.labels.ndim != 2 or self.membership.ndim != 3:
            raise ValueError(
                f"labels must be (B, N) and membership (B, N, L); got {tuple(self.labels.shape)} "
                f"and {tuple(self.membership.shape)}"
            )
        if self.membership.shape[:2] != self.labels.shape:
            raise ValueError(
                f"labels {tuple(self.labels.shape)} and membership {tuple(self.membership.shape)} "
                "disagree on (B, N)"
            )
        if len(self.num_objects) != self.labels.shape[0]:
            raise ValueError(f"num_objects has {len(self.num_objects)} entries for a batch of {self.labels.shape[0]}")

    @classmethod
    def from_samples(cls, samples: Sequence[TokenGroups]) -> BatchTokenGroups:
        """Stack per-sample groups, padding L to the batch maximum."""
        if not samples:
            raise ValueError("need at least one sample's TokenGroups")
        grid_shape = samples[0].grid_shape
        for i, sample in enumerate(samples):
            if sample.grid_shape != grid_shape:
                raise ValueError(
                    f"sample {i} has token grid {sample.grid_shape}, sample 0 has {grid_shape}; "
                    "a batch must share one token grid (same frames and resolution)"
                )
        max_objects = max(s.num_objects for s in samples)
        num_tokens = samples[0].num_tokens
        membership = torch.zeros(len(samples), num_tokens, max_objects, dtype=torch.bool)
        for i, sample in enumerate(samples):
            membership[i, :, : sample.num_objects] = sample.membership
        labels = torch.stack([s.labels for s in samples])  # (B, N)
        return cls(labels, membership, tuple(s.num_objects for s in samples), grid_shape)

    @property
    def batch_size(self) -> int:
        return self.labels.shape[0]

    @property
    def num_tokens(self) -> int:
        return self.labels.shape[1]

    @property
    def max_objects(self) -> int:
        return self.membership.shape[2]

    @property
    def device(self) -> torch.device:
        return self.labels.device

    def to(self, device: torch.device | str) -> BatchTokenGroups:
        moved = replace(self, labels=self.labels.to(device), membership=self.membership.to(device))
        if self._self_plan is not None:
            moved._self_plan = self._self_plan.to(device)
        return moved

    def repeat(self, times: int) -> BatchTokenGroups:
        """The batch repeated `times` times, in the order `torch.cat([x] * times)` gives
        (e.g. for classifier-free guidance batches)."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        return BatchTokenGroups(
            self.labels.repeat(times, 1),
            self.membership.repeat(times, 1, 1),
            self.num_objects * times,
            self.grid_shape,
        )

    def self_attention_plan(self) -> AttentionPlan:
        """The cached partition plan for masked self-attention."""
        if self._self_plan is None:
            self._self_plan = build_self_attention_plan(self.labels)
        return self._self_plan

    def cross_attention_plan(self, key_object_ids: torch.Tensor) -> AttentionPlan:
        """The masked cross-attention plan for prompt keys owned by `key_object_ids` (B, M).

        Cached for the last key-id tensor seen, so pass the same tensor to every layer.
        """
        cached = self._cross_cache
        if cached is not None and cached[0] is key_object_ids and cached[1] == key_object_ids._version:
            return cached[2]
        plan = build_cross_attention_plan(self.membership, key_object_ids.to(self.device))
        self._cross_cache = (key_object_ids, key_object_ids._version, plan)
        return plan
