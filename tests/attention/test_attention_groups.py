"""Token groups against slow per-token references, and their edge cases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from attention_testing import (
    frames_per_token_time,
    random_trajectory,
    slow_box_membership,
    slow_pixel_labels_without_rescue,
)

from maskmotion.attention import (
    BatchTokenGroups,
    TokenGrid,
    bounding_boxes,
    box_token_membership,
    build_token_groups,
    pixel_token_labels,
)

GRIDS = [
    TokenGrid(),  # tokens = pixels
    TokenGrid(temporal_compression=2, spatial_compression=2, patch_size=(1, 2, 2)),
    TokenGrid(temporal_compression=4, causal_first_frame=True, spatial_compression=2, patch_size=(1, 2, 1)),
    TokenGrid(temporal_compression=1, spatial_compression=4, patch_size=(2, 1, 1)),
]


def _frames_for(grid: TokenGrid) -> int:
    return 9 if grid.causal_first_frame else 4


@pytest.mark.parametrize("grid", GRIDS)
def test_frame_layout_matches_independent_statement(grid: TokenGrid) -> None:
    num_frames = _frames_for(grid)
    slices = frames_per_token_time(num_frames, grid)
    mapping = grid.frame_to_token_time(num_frames)
    for s, frames in enumerate(slices):
        assert mapping[frames].tolist() == [s] * len(frames)
    assert grid.token_shape(num_frames, 16, 16)[0] == len(slices)


def test_wan_grid_shape() -> None:
    grid = TokenGrid.wan()
    assert grid.token_shape(81, 480, 832) == (21, 30, 52)  # Wan 2.1 480p: 32,760 tokens
    assert grid.frame_to_token_time(9).tolist() == [0, 1, 1, 1, 1, 2, 2, 2, 2]


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_pixel_labels_match_slow_reference(grid: TokenGrid, seed: int) -> None:
    """With large objects no rescue happens, so the plurality rule alone must match."""
    ids = random_trajectory(_frames_for(grid), 16, 16, num_objects=3, seed=seed)
    expected = slow_pixel_labels_without_rescue(ids, grid, 3)
    labels = pixel_token_labels(ids, grid, 3)
    # Tokens may only differ where a visible-but-unrepresented object was rescued.
    tokens_per_slice = int(np.prod(grid.token_shape(*ids.shape)[1:]))
    differ = (labels.numpy() != expected).nonzero()[0]
    for token in differ:
        s = token // tokens_per_slice
        plurality_labels = expected[s * tokens_per_slice : (s + 1) * tokens_per_slice]
        assert labels[token] > 0 and labels[token] not in plurality_labels  # a rescued tiny object
    groups = build_token_groups(ids, grid, 3, cross_region="pixel")
    assert torch.equal(groups.labels, labels)
    assert torch.equal(groups.membership, labels[:, None] == torch.arange(1, 4))


def test_every_visible_object_keeps_a_token_per_slice() -> None:
    grid = TokenGrid(temporal_compression=2, spatial_compression=2, patch_size=(1, 2, 2))
    for seed in range(4):
        ids = random_trajectory(4, 16, 16, num_objects=5, seed=seed)
        labels = pixel_token_labels(ids, grid, 5).view(2, -1)
        for s, frames in enumerate(frames_per_token_time(4, grid)):
            visible = set(np.unique(ids[frames]).tolist()) - {0}
            assert visible <= set(labels[s].tolist())


def test_tiny_object_keeps_its_best_covered_token() -> None:
    grid = TokenGrid(spatial_compression=4)  # 4x4 pixel tokens
    ids = np.zeros((1, 8, 8), dtype=np.uint8)
    ids[0, 0:4, 0:4] = 1  # a full token
    ids[0, 5, 5] = 2  # one pixel in token (1, 1)
    ids[0, 6:8, 4:5] = 2  # two pixels in token (1, 1) too
    ids[0, 7, 3] = 2  # one pixel in token (1, 0)
    labels = pixel_token_labels(ids, grid)
    assert labels.tolist() == [1, 0, 0, 2]  # token (1, 1) has the most of object 2


def test_tiny_object_does_not_orphan_another() -> None:
    grid = TokenGrid(spatial_compression=4)
    ids = np.zeros((1, 4, 8), dtype=np.uint8)
    ids[0, :, 0:4] = 1  # object 1 owns token 0 only
    ids[0, 0, 3] = 2  # object 2 best covers token 0 ...
    ids[0, 0, 4] = 2  # ... but also touches token 1 (background)
    ids[0, 0, 0] = 2
    labels = pixel_token_labels(ids, grid)
    assert labels.tolist() == [1, 2]


def test_objects_left_without_a_token_are_reported_once(caplog) -> None:
    """More objects than tokens: the ones left out are named in one warning per
    trajectory with the number of slices, not one line per slice."""
    grid = TokenGrid(spatial_compression=4)
    ids = np.zeros((3, 4, 4), dtype=np.uint8)  # one token per frame
    ids[:, :, :2] = 1
    ids[:, :, 2:] = 2
    with caplog.at_level("WARNING", logger="maskmotion.attention.groups"):
        labels = pixel_token_labels(ids, grid)
    assert labels.tolist() == [1, 1, 1]  # the tie goes to the smaller id
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "object 2 in 3 of 3" in warnings[0]


def test_temporal_compression_takes_the_union_of_frames() -> None:
    grid = TokenGrid(temporal_compression=4, causal_first_frame=True, spatial_compression=4)
    ids = np.zeros((5, 4, 8), dtype=np.uint8)
    ids[0, :, 0:4] = 1  # frame 0: its own latent frame
    ids[4, :, 4:8] = 2  # object 2 only in the last frame of latent frame 1
    labels = pixel_token_labels(ids, grid).view(2, 2)
    assert labels.tolist() == [[1, 0], [0, 2]]  # object 2 is visible in slice 1 -> keeps a token
    boxes = box_token_membership(ids, grid).view(2, 2, 2)
    assert boxes[1, :, 1].tolist() == [False, True]


def test_vanished_object_has_no_tokens_where_absent() -> None:
    grid = TokenGrid(spatial_compression=2)
    ids = np.zeros((3, 4, 4), dtype=np.uint8)
    ids[0, :2, :2] = 1
    ids[2, 2:, 2:] = 1  # leaves the frame in frame 1, comes back
    ids[:, 2:, :2] = 3  # object 2 absent everywhere
    groups = build_token_groups(ids, grid, num_objects=3, cross_region="box")
    labels = groups.labels.view(3, 4)
    assert (labels[1] != 1).all() and (labels == 2).sum() == 0
    assert not groups.membership[:, 1].any()
    assert groups.membership.view(3, 4, 3)[1, :, 0].sum() == 0


def test_box_membership_matches_slow_reference_and_overlaps() -> None:
    grid = TokenGrid(temporal_compression=2, spatial_compression=2)
    ids = random_trajectory(4, 12, 12, num_objects=3, seed=3, absent_prob=0.1)
    expected = slow_box_membership(ids, grid, 3)
    member = box_token_membership(ids, grid, 3).numpy()
    extra = member & ~expected
    assert not (expected & ~member).any()
    # Anything beyond the coverage rule is a rescued best token: at most one per object and slice.
    assert extra.reshape(2, -1, 3).sum(axis=1).max() <= 1
    # Two overlapping L shapes: their boxes overlap where neither has pixels.
    ids = np.zeros((1, 4, 4), dtype=np.uint8)
    ids[0, 0, :3] = 1
    ids[0, :3, 0] = 1
    ids[0, 3, 1:] = 2
    ids[0, 1:, 3] = 2
    member = box_token_membership(ids, TokenGrid(), 2).view(4, 4, 2)
    assert member[1, 1].tolist() == [True, True] and member[2, 2].tolist() == [True, True]
    assert member[0, 0].tolist() == [True, False] and member[3, 3].tolist() == [False, True]
    assert member[0, 3].tolist() == [False, False]


def test_bounding_boxes() -> None:
    ids = np.zeros((2, 5, 6), dtype=np.uint8)
    ids[0, 1:3, 2:5] = 2
    boxes = bounding_boxes(ids, 2)
    assert boxes[0, 1].tolist() == [1, 2, 2, 4]
    assert (boxes[0, 0] == -1).all() and (boxes[1] == -1).all()


def test_duck_typed_trajectory_and_torch_input() -> None:
    @dataclass
    class FakeTrajectory:
        ids: np.ndarray

    ids = random_trajectory(2, 8, 8, num_objects=2, seed=5)
    grid = TokenGrid(spatial_compression=2)
    from_array = build_token_groups(ids, grid)
    from_object = build_token_groups(FakeTrajectory(ids), grid)
    from_tensor = build_token_groups(torch.from_numpy(ids).int(), grid)
    assert torch.equal(from_array.labels, from_object.labels)
    assert torch.equal(from_array.membership, from_tensor.membership)
    assert from_array.grid_shape == (2, 4, 4) and from_array.num_tokens == 32


def test_token_order_is_patchify_order() -> None:
    """Labels line up with a (B, C, T, H, W) latent patchified and flattened (t, h, w)."""
    grid = TokenGrid(patch_size=(1, 2, 2))
    ids = np.zeros((2, 4, 6), dtype=np.uint8)
    ids[1, 2:4, 4:6] = 1  # token (t=1, h=1, w=2)
    labels = pixel_token_labels(ids, grid)
    latent = torch.from_numpy(ids).float()[None, None]  # (1, 1, T, H, W)
    patches = latent.unfold(3, 2, 2).unfold(4, 2, 2)  # (1, 1, T, h, w, 2, 2)
    tokens = patches.flatten(2, 4).mean(dim=(-1, -2))[0, 0]  # (N,) in (t, h, w) order
    assert torch.equal(labels, (tokens > 0.5).long())


@pytest.mark.parametrize(
    ("ids", "kwargs", "message"),
    [
        (np.zeros((4, 4), np.uint8), {}, "shape"),
        (np.zeros((1, 4, 4), np.float32), {}, "integers"),
        (np.full((1, 4, 4), 3, np.uint8), {"num_objects": 2}, "num_objects"),
        (np.zeros((3, 4, 4), np.uint8), {"grid": TokenGrid(temporal_compression=2)}, "multiple"),
        (np.zeros((4, 4, 4), np.uint8), {"grid": TokenGrid.wan()}, "1 \\+ k"),
        (np.zeros((1, 5, 4), np.uint8), {"grid": TokenGrid(spatial_compression=2)}, "resize"),
        (np.zeros((1, 4, 4), np.uint8), {"cross_region": "circle"}, "cross_region"),
    ],
)
def test_bad_input_raises_clear_errors(ids: np.ndarray, kwargs: dict, message: str) -> None:
    grid = kwargs.pop("grid", TokenGrid())
    with pytest.raises(ValueError, match=message):
        build_token_groups(ids, grid, **kwargs)


def test_batch_pads_objects_and_moves() -> None:
    grid = TokenGrid(spatial_compression=2)
    one = build_token_groups(random_trajectory(2, 8, 8, 1, seed=0, absent_prob=0), grid)
    three = build_token_groups(random_trajectory(2, 8, 8, 3, seed=1, absent_prob=0), grid)
    batch = BatchTokenGroups.from_samples([one, three])
    assert batch.membership.shape == (2, 32, 3) and batch.num_objects == (1, 3)
    assert not batch.membership[0, :, 1:].any()
    plan = batch.self_attention_plan()
    moved = batch.to("cpu")
    assert moved.self_attention_plan() is plan  # same device: cached plan kept
    repeated = batch.repeat(2)
    assert repeated.batch_size == 4 and torch.equal(repeated.labels[2:], batch.labels)
    other = build_token_groups(random_trajectory(4, 8, 8, 1, seed=0), grid)
    with pytest.raises(ValueError, match="token grid"):
        BatchTokenGroups.from_samples([one, other])
