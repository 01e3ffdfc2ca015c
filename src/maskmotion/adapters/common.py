"""What both backbone adapters share: a widened input layer, the splice that inserts the
two masked layers into a block, and the adapter's config and files.

The splice. Both backbones' blocks (Wan's `WanTransformerBlock`, SD's
`BasicTransformerBlock`) run

    h = h + gate * attn1(norm1(h))          # 1. self-attention
    h = h + attn2(norm2(h), text)           # 3. cross-attention to the global prompt
    h = h + ff(norm3(h))

and TTM wants two residual layers in between (docs/method.md, stage 2):

    h = h + masked_self(h)                  # 2.
    h = h + attn2(norm2(h), text)           # 3.
    h = h + masked_cross(h, local prompts)  # 4.

Three hooks do it without touching the block's code or its parameter names: a pre-hook
on `norm2` records the stream `h` after step 1; a pre-hook on `attn2` adds the masked
self-attention update `s` and hands `attn2` `norm2(h + s)` instead; a hook on `attn2`'s
output adds `s` and the masked cross-attention update `m`, so the block's own
`h + attn2(...)` becomes `h + s + c + m`, i.e. exactly steps 2-4 in order. With the new
layers' output projections at zero, `s = m = 0` and the block is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.hooks import RemovableHandle

from ..attention import MaskContext

__all__ = [
    "TTMAdapterConfig",
    "TTMLayers",
    "widen_input_conv",
    "splice_block",
    "zero_output",
    "TTMModel",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
]

CONFIG_NAME = "ttm_config.json"
WEIGHTS_NAME = "ttm_layers.safetensors"
BACKBONE_FOLDER = "backbone"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TTMAdapterConfig:
    """Everything needed to rebuild an adapter on top of its (widened) backbone.

    Attributes:
        backbone: "wan" or "animatediff".
        original_in_channels: the backbone's input channels before widening.
        extra_in_channels: channels added for the concatenated conditions.
        blocks: module paths (inside the backbone) of the blocks that got masked layers;
            empty for a model with the widened input only (stage 1).
        masked_self: whether those blocks have masked self-attention.
        masked_cross: whether they have masked cross-attention.
        text_dim: width of the local prompts' token states as passed in.
        backend: masked attention backend ("auto", "grouped", ...).
    """

    backbone: str
    original_in_channels: int
    extra_in_channels: int
    blocks: tuple[str, ...]
    masked_self: bool = True
    masked_cross: bool = True
    text_dim: int | None = None
    backend: str = "auto"
    format_version: int = field(default=FORMAT_VERSION)

    def __post_init__(self) -> None:
        if self.extra_in_channels < 0:
            raise ValueError(f"extra_in_channels must be >= 0, got {self.extra_in_channels}")
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if not self.blocks:
            # Input widening only (stage 1 of docs/method.md): no masked layers of either kind.
            object.__setattr__(self, "masked_self", False)
            object.__setattr__(self, "masked_cross", False)
        elif not (self.masked_self or self.masked_cross):
            raise ValueError("masked_self and masked_cross are both False: nothing to add")

    def save(self, folder: Path) -> None:
        (folder / CONFIG_NAME).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> TTMAdapterConfig:
        path = folder / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: not a folder written by save_pretrained of a TTM adapter")
        data: dict[str, Any] = json.loads(path.read_text())
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"{path}: format_version {version}, this code reads {FORMAT_VERSION}")
        return cls(**data)


@torch.no_grad()
def widen_input_conv(conv: nn.Conv2d | nn.Conv3d, extra_in_channels: int) -> nn.Conv2d | nn.Conv3d:
    """A copy of `conv` with `extra_in_channels` more inputs whose weights are zero.

    The old channels keep their weights (and the bias), so on inputs whose extra channels
    carry anything the widened layer gives what the old one gave on the old channels.
    """
    if conv.groups != 1:
        raise ValueError("cannot widen a grouped convolution")
    wider = type(conv)(
        conv.in_channels + extra_in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    wider.weight.zero_()
    wider.weight[:, : conv.in_channels] = conv.weight  # (out, in + extra, *kernel)
    if conv.bias is not None:
        wider.bias.copy_(conv.bias)
    return wider


class TTMLayers(nn.Module):
    """The two new layers of one block; subclasses say how they see the block's stream.

    `self_delta(h)` and `cross_delta(h)` return the residual updates of masked self- and
    cross-attention for the stream `h` exactly as the block holds it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls = {"self": 0, "cross": 0}  # how often each layer ran (tests, debugging)
        # The splice's per-call state (set and cleared inside one block call).
        self._stream: torch.Tensor | None = None
        self._after_self: torch.Tensor | None = None
        self._self_update: torch.Tensor | None = None
        self._renorming = False

    @property
    def has_self(self) -> bool:
        raise NotImplementedError

    @property
    def has_cross(self) -> bool:
        raise NotImplementedError

    def self_delta(self, hidden_states: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def cross_delta(self, hidden_states: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def renorm(self, block: nn.Module, hidden_states: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """What the block feeds attn2 for stream `hidden_states` (its own norm2 step)."""
        return block.norm2(hidden_states).to(like.dtype)


def _first_arg(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def splice_block(block: nn.Module, layers: TTMLayers) -> list[RemovableHandle]:
    """Insert `layers` into `block` (see the module docstring); returns the hook handles."""
    for name in ("norm2", "attn2"):
        if not isinstance(getattr(block, name, None), nn.Module):
            raise ValueError(f"{type(block).__name__} has no `{name}` module: cannot splice TTM layers into it")

    def record_stream(module: nn.Module, args: tuple) -> None:
        if not layers._renorming:  # our own norm2 call below must not overwrite it
            layers._stream = args[0]

    def before_cross(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        normed = _first_arg(args, kwargs)
        if layers._stream is None:
            raise RuntimeError("TTM splice: attn2 ran without norm2 before it; the block's layout is unsupported")
        stream = layers._stream.to(normed.dtype)  # (.., tokens, D); Wan's norm2 input is an fp32 copy
        layers._stream = None
        if not layers.has_self:
            layers._after_self, layers._self_update = stream, None
            return None
        update = layers.self_delta(stream)
        layers.calls["self"] += 1
        layers._after_self, layers._self_update = stream + update, update
        layers._renorming = True
        try:
            normed = layers.renorm(block, layers._after_self, like=normed)
        finally:
            layers._renorming = False
        if args:
            return (normed, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": normed}

    def after_cross(module: nn.Module, args: tuple, kwargs: dict, output: torch.Tensor) -> torch.Tensor:
        after_self, self_update = layers._after_self, layers._self_update
        layers._after_self = layers._self_update = None
        if after_self is None:
            raise RuntimeError("TTM splice: attn2's output hook ran without its input hook")
        total = output if self_update is None else self_update + output
        if layers.has_cross:
            total = total + layers.cross_delta(after_self + output)
            layers.calls["cross"] += 1
        return total

    return [
        block.norm2.register_forward_pre_hook(record_stream),
        block.attn2.register_forward_pre_hook(before_cross, with_kwargs=True),
        block.attn2.register_forward_hook(after_cross, with_kwargs=True),
    ]


def zero_output(attn: nn.Module) -> None:
    """Zero a diffusers attention module's output projection: the new layer adds nothing yet."""
    with torch.no_grad():
        linear = attn.to_out[0]
        linear.weight.zero_()
        if linear.bias is not None:
            linear.bias.zero_()


def _context_state(context: MaskContext) -> tuple[Any, Any, Any]:
    """(groups, prompt_states, prompt_object_ids) currently set in `context`."""
    return context.state()


def check_loading_info(where: str, info: dict[str, list]) -> None:
    """Strict loading for diffusers' `from_pretrained(..., output_loading_info=True)`."""
    bad = {key: info.get(key) for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")}
    bad = {key: value for key, value in bad.items() if value}
    if bad:
        raise ValueError(f"loading {where} was not strict: {bad}")


class TTMModel(nn.Module):
    """A diffusers backbone with TTM layers spliced in; subclasses name the backbone class.

    Attributes:
        backbone: the (input-widened) diffusers model; its parameter names are unchanged.
        layers: one `TTMLayers` per masked block, in `config.blocks` order.
        config: the `TTMAdapterConfig`, saved beside the weights.

    Files (`save_pretrained(folder)`): `folder/backbone/` is the backbone's own
    `save_pretrained` (its config records the widened input), `folder/ttm_config.json` the
    adapter config, `folder/ttm_layers.safetensors` every parameter outside the backbone.
    """

    backbone_class: type[nn.Module]
    backbone_name: str  # TTMAdapterConfig.backbone for this adapter
    widen_hint: str  # the function that widens this backbone's input

    def __init__(self, backbone: nn.Module, config: TTMAdapterConfig) -> None:
        super().__init__()
        if not isinstance(backbone, self.backbone_class):
            raise ValueError(f"expected a {self.backbone_class.__name__}, got {type(backbone).__name__}")
        if config.backbone != self.backbone_name:
            raise ValueError(f"config is for backbone {config.backbone!r}, not {self.backbone_name!r}")
        if backbone.config.in_channels != config.original_in_channels + config.extra_in_channels:
            raise ValueError(
                f"the {self.backbone_class.__name__} takes {backbone.config.in_channels} channels, the adapter "
                f"config says {config.original_in_channels} + {config.extra_in_channels}; widen it with {self.widen_hint}"
            )
        self.backbone = backbone
        self.config = config
        self.layers = nn.ModuleList()
        self._handles: list[RemovableHandle] = []

    def adapter_state_dict(self) -> dict[str, torch.Tensor]:
        """Every parameter and buffer that is not the backbone's."""
        return {key: value for key, value in self.state_dict().items() if not key.startswith("backbone.")}

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(folder / BACKBONE_FOLDER, safe_serialization=True)
        state = {key: value.detach().contiguous() for key, value in self.adapter_state_dict().items()}
        save_file(state, str(folder / WEIGHTS_NAME))
        self.config.save(folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path, **backbone_kwargs: Any) -> TTMModel:
        """Load a folder written by `save_pretrained`, strictly (bad keys raise, named).

        `backbone_kwargs` go to the backbone's `from_pretrained` (e.g. `torch_dtype`).
        """
        folder = Path(folder)
        config = TTMAdapterConfig.load(folder)
        backbone, info = cls.backbone_class.from_pretrained(
            folder / BACKBONE_FOLDER, output_loading_info=True, **backbone_kwargs
        )
        check_loading_info(str(folder / BACKBONE_FOLDER), info)
        model = cls(backbone, config)
        model._load_adapter(folder / WEIGHTS_NAME)
        return model

    def _load_adapter(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found")
        state = load_file(str(path))
        expected = set(self.adapter_state_dict())
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise ValueError(f"{path}: missing keys {missing[:8]}, unexpected keys {unexpected[:8]}")
        self.load_state_dict(state, strict=False)  # shapes are checked by load_state_dict

    def mask_contexts(self) -> list[MaskContext]:
        """Every `MaskContext` the new layers read."""
        raise NotImplementedError

    def enable_gradient_checkpointing(self) -> None:
        """The backbone's gradient checkpointing, with the masks restored for the recompute.

        Checkpointed blocks run again during `backward`, usually after `mask_context` has
        exited; each checkpoint remembers the masks of its forward call and sets them again
        while it recomputes (torch's `context_fn`).
        """
        contexts = self.mask_contexts()

        def checkpoint(module: nn.Module, *args: Any) -> Any:
            saved = [_context_state(context) for context in contexts]

            @contextmanager
            def restored() -> Iterator[None]:
                with ExitStack() as stack:
                    for context, state in zip(contexts, saved):
                        if state[0] is not None:
                            stack.enter_context(context.use(*state))
                    yield

            return torch.utils.checkpoint.checkpoint(
                module.__call__, *args, use_reentrant=False, context_fn=lambda: (nullcontext(), restored())
            )

        self.backbone.enable_gradient_checkpointing(gradient_checkpointing_func=checkpoint)

    def disable_gradient_checkpointing(self) -> None:
        self.backbone.disable_gradient_checkpointing()

    def remove_hooks(self) -> None:
        """Take the layers out of the backbone's blocks (the backbone runs as before)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for path in self.config.blocks:
            self.backbone.get_submodule(path)._ttm_spliced = False
