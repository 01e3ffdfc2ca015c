"""Masked attention for TTM stage 2: token groups, masked self-/cross-attention, layers.

Typical use (see docs/attention.md):

    grid = TokenGrid.wan()                                   # the backbone's token grid
    groups = BatchTokenGroups.from_samples(
        [build_token_groups(trajectory, grid, cross_region="box") for trajectory in batch]
    )
    layer = MaskedSelfAttention(dim=1536, num_heads=12)      # zero-init residual layer
    hidden_states = layer(hidden_states, groups)             # (B, N, D), token order (t, h, w)

Backends ("reference", "grouped", "flex", "varlen") sit behind `backend=`; "auto" picks
grouped on CPU and flex on CUDA.
"""

from .grid import TokenGrid
from .groups import (
    BatchTokenGroups,
    TokenGroups,
    bounding_boxes,
    box_token_membership,
    build_token_groups,
    labels_to_membership,
    pixel_token_labels,
)
from .layers import MaskedCrossAttention, MaskedSelfAttention
from .ops import (
    BACKENDS,
    Backend,
    grouped_attention,
    masked_attention,
    masked_cross_attention,
    masked_self_attention,
    reference_attention,
    resolve_backend,
)
from .plan import (
    MAX_ATTENTION_OBJECTS,
    AttentionPlan,
    build_cross_attention_plan,
    build_plan,
    build_self_attention_plan,
    cross_attention_codes,
    self_attention_codes,
)
from .processors import LocalPromptBlendProcessor, MaskContext, MaskedCrossAttnProcessor, MaskedSelfAttnProcessor
from .varlen import varlen_available

__all__ = [
    "MAX_ATTENTION_OBJECTS",
    "BACKENDS",
    "Backend",
    "TokenGrid",
    "TokenGroups",
    "BatchTokenGroups",
    "build_token_groups",
    "pixel_token_labels",
    "box_token_membership",
    "bounding_boxes",
    "labels_to_membership",
    "AttentionPlan",
    "build_plan",
    "build_self_attention_plan",
    "build_cross_attention_plan",
    "self_attention_codes",
    "cross_attention_codes",
    "masked_attention",
    "masked_self_attention",
    "masked_cross_attention",
    "reference_attention",
    "grouped_attention",
    "resolve_backend",
    "varlen_available",
    "MaskedSelfAttention",
    "MaskedCrossAttention",
    "MaskContext",
    "MaskedSelfAttnProcessor",
    "MaskedCrossAttnProcessor",
    "LocalPromptBlendProcessor",
]
