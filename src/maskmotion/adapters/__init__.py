"""TTM adapters for public diffusers backbones (see docs/backbones.md).

- `add_ttm_to_wan(transformer, extra_in_channels, masked_blocks=None, text_dim=None)` ->
  `WanTTM`: Wan 2.1's DiT, flow matching.
- `add_ttm_to_animatediff(unet, extra_in_channels=8, ...)` -> `AnimateDiffTTM`:
  AnimateDiff's `UNetMotionModel`, v-prediction with zero terminal SNR and DDIM
  (`ttm_ddim_scheduler()`).

Both widen the input layer (new weights zero), splice masked self- and cross-attention
into the leading blocks (output projections zero, so the model is unchanged at step 0),
take their masks through `mask_context(...)`, and save/load strictly with
`save_pretrained` / `from_pretrained`.
"""

from .animatediff import (
    AnimateDiffTTM,
    add_ttm_to_animatediff,
    encoder_transformer_blocks,
    ttm_ddim_scheduler,
)
from .common import TTMAdapterConfig, TTMLayers, TTMModel, widen_input_conv
from .wan import WanTTM, add_ttm_to_wan, default_masked_blocks

__all__ = [
    "TTMAdapterConfig",
    "TTMLayers",
    "TTMModel",
    "widen_input_conv",
    "WanTTM",
    "add_ttm_to_wan",
    "default_masked_blocks",
    "AnimateDiffTTM",
    "add_ttm_to_animatediff",
    "encoder_transformer_blocks",
    "ttm_ddim_scheduler",
]
