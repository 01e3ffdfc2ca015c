"""`TrainConfig`: the one typed description of a training run.

It is read from TOML or JSON, checked field by field (an unknown or mistyped key is an
`InputError` naming the key), and saved as ``config.json`` beside every checkpoint and
the final weights, so a set of weights always says how it was trained.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError
from ..files import parse_json

Schedule = Literal["constant", "cosine"]
Precision = Literal["no", "bf16", "fp16"]
Strategy = Literal["ddp", "fsdp", "deepspeed"]

# Fields that may differ between a checkpoint and the run that resumes it: they change
# how long we train, how often we log or save and where, never what a step computes.
RESUME_FREE = "resume_free"


def _free(default: Any) -> Any:
    return field(default=default, metadata={RESUME_FREE: True})


@dataclass
class TrainConfig:
    """Everything a run needs besides the code of its task.

    Steps count optimizer updates; ``batch_size`` is the global number of samples per
    update, split over processes and gradient-accumulation micro-batches.
    """

    # What to train.
    task: str = "toy"
    """Registered task name, or ``"package.module:factory"`` to import one."""
    task_options: dict[str, Any] = field(default_factory=dict)
    """Passed as-is to the task factory, which checks them."""

    # Where and how long.
    out_dir: str = _free("runs/train")
    steps: int = _free(1000)
    """Total optimizer steps; may be raised on resume to extend a run."""

    # Optimisation.
    batch_size: int = 32
    grad_accum_steps: int = 1
    """Micro-batches per update; raise it only when a batch does not fit in memory."""
    lr: float = 1e-4
    lr_scale: dict[str, float] = field(default_factory=dict)
    """Learning-rate multipliers by parameter-name prefix, e.g. ``{"head_condition." =
    50.0}``: modules added to trained weights (`init_from`) learn fast while the trained
    rest moves slowly. The longest matching prefix wins; one that matches no parameter
    is an error (a typo would silently do nothing)."""
    train_only: list[str] = field(default_factory=list)
    """Parameter-name prefixes to train; every other parameter is frozen (no gradient,
    no optimizer state, and no backward pass through the frozen layers in front of the
    trained ones). Empty trains everything. A prefix that matches nothing is an error."""
    warmup_steps: int = 0
    schedule: Schedule = "constant"
    min_lr_ratio: float = 0.0
    """Floor of the cosine schedule, as a fraction of ``lr``."""
    weight_decay: float = 0.0
    """AdamW decay, applied to matrices only (not to biases and norm scales)."""
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    grad_clip: float = 1.0
    """Max global grad norm; 0 disables clipping."""
    ema_decay: float = 0.9999
    """Decay of the fp32 weight average; 0 keeps no EMA."""
    ema_start: int = 0
    """Before this step the EMA just copies the weights."""
    seed: int = 0
    init_from: str = ""
    """A model folder (``config.json`` + ``model.safetensors``, e.g. an export or
    ``final/model``) whose weights start a fresh run instead of the random init; its
    model config must equal the task's. Ignored when resuming from a checkpoint."""

    # Devices.
    mixed_precision: Precision = "no"
    cpu: bool = _free(False)
    """Train on CPU even when a GPU is present."""
    strategy: Strategy = "ddp"
    strategy_options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of accelerate's FSDP or DeepSpeed plugin."""
    num_threads: int = _free(0)
    """torch.set_num_threads for each process; 0 leaves torch's default."""
    data_workers: int = _free(0)
    """Worker processes per training process that build the next batches while the
    model trains; 0 builds them in the loop. Batches are the same either way."""

    # Bookkeeping.
    log_every: int = _free(10)
    eval_every: int = _free(0)
    """Call the task's ``evaluate`` every N steps; 0 never."""
    checkpoint_every: int = _free(500)
    """Save every N steps; 0 saves only at the end and on a stop signal."""
    checkpoint_minutes: float = _free(0.0)
    """Also save when this many minutes passed since the last save; 0 disables."""
    keep_last: int = _free(3)
    """Checkpoints kept on disk; 0 keeps all."""
    progress: bool = _free(True)
    tensorboard: bool = _free(True)

    def __post_init__(self) -> None:
        self.validate()

    # -- checks -------------------------------------------------------------------

    def validate(self) -> None:
        """Raise `InputError` naming the first field that cannot work."""
        positive = ("steps", "batch_size", "grad_accum_steps", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        non_negative = (
            "warmup_steps", "weight_decay", "grad_clip", "ema_start", "num_threads", "data_workers",
            "eval_every", "checkpoint_every", "checkpoint_minutes", "keep_last",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if not self.lr > 0:
            raise InputError(f"lr must be positive, got {self.lr}")
        for prefix, scale in self.lr_scale.items():
            if not isinstance(scale, (int, float)) or not scale > 0:
                raise InputError(f"lr_scale[{prefix!r}] must be a positive number, got {scale!r}")
        for prefix in self.train_only:
            if not isinstance(prefix, str) or not prefix:
                raise InputError(f"train_only holds parameter-name prefixes (non-empty strings), got {prefix!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise InputError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise InputError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise InputError(f"betas must be two numbers in [0, 1), got {list(self.betas)}")
        for name in ("schedule", "mixed_precision", "strategy"):
            allowed = typing.get_args(_HINTS[name])
            if getattr(self, name) not in allowed:
                raise InputError(
                    f"{name} must be one of {', '.join(map(repr, allowed))}, "
                    f"got {getattr(self, name)!r}"
                )
        if not self.task:
            raise InputError("task must name a registered task or 'module:factory'")

    # -- files --------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> "TrainConfig":
        """Build from plain data, rejecting unknown keys and wrong types by name."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a table of settings, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(
                f"{where}: unknown key {unknown[0]!r}"
                + (f" (and {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else "")
                + f"; known keys: {', '.join(sorted(known))}"
            )
        values = {name: _coerce(name, value, _HINTS[name], where) for name, value in data.items()}
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "TrainConfig":
        """Read a ``.toml`` or ``.json`` file."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"config file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix == ".toml":
                data = tomllib.loads(text)
            elif path.suffix == ".json":
                data = parse_json(text, f"config file {path}", InputError)
            else:
                raise InputError(f"config file {path} must end in .toml or .json")
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"config file {path} is not valid {path.suffix[1:]}: {exc}") from exc
        return cls.from_dict(data, where=str(path))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` (or any path) as JSON; callers make it atomic."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    # -- resume -------------------------------------------------------------------

    def resume_conflicts(self, saved: "TrainConfig") -> list[str]:
        """Fields whose change would make a resumed run compute something else."""
        conflicts = []
        for f in dataclasses.fields(self):
            if f.metadata.get(RESUME_FREE):
                continue
            if getattr(self, f.name) != getattr(saved, f.name):
                conflicts.append(f.name)
        return conflicts


_HINTS = typing.get_type_hints(TrainConfig)


def _coerce(name: str, value: Any, hint: Any, where: str) -> Any:
    """Check one value against its annotation; accept ints for floats, lists for tuples."""
    origin = typing.get_origin(hint)

    def bad(expected: str) -> InputError:
        return InputError(f"{where}: {name} must be {expected}, got {value!r}")

    if origin is Literal:
        if value not in typing.get_args(hint):
            raise bad("one of " + ", ".join(map(repr, typing.get_args(hint))))
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise bad("a table")
        return dict(value)
    if origin is list:  # list[str]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return list(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            raise bad("a list of numbers")
        return tuple(float(v) for v in value)
    raise TypeError(f"no coercion for {name}: {hint}")  # a new field needs a branch here
