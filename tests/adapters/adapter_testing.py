"""Helpers for the adapter tests: token groups and trained-looking output layers."""

from __future__ import annotations

import torch

from maskmotion.attention import BatchTokenGroups, labels_to_membership


def make_groups(labels: torch.Tensor, grid_shape: tuple[int, int, int], num_objects: int = 2) -> BatchTokenGroups:
    """Pixel-mode groups from (B, N) labels at a token grid."""
    membership = labels_to_membership(labels, num_objects)
    return BatchTokenGroups(labels, membership, (num_objects,) * labels.shape[0], grid_shape)


def random_labels(batch: int, tokens: int, num_objects: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_objects + 1, (batch, tokens), generator=generator)
    labels[:, : num_objects + 1] = torch.arange(num_objects + 1)  # every group present
    return labels


def randomize_outputs(model: torch.nn.Module, seed: int = 0) -> None:
    """Give the new layers' zero output projections random weights (a trained state)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layers in model.layers:
            for name in ("self_attn", "cross_attn"):
                attn = getattr(layers, name, None)
                if attn is None:
                    continue
                linear = attn.to_out[0]
                linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * 0.3)
                if linear.bias is not None:
                    linear.bias.copy_(torch.randn(linear.bias.shape, generator=generator) * 0.1)
