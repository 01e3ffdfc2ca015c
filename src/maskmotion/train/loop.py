"""`train()`: the one training loop, for every stage and baseline.

Accelerate places the model (one CPU, one GPU, many processes); the task supplies
model, batches and loss. Each step:

    1. for each micro-batch: batch(step, shard) -> device -> loss under autocast -> backward
    2. clip the global grad norm, AdamW step, LR schedule step, zero grads
    3. fold the weights into the fp32 EMA (main process)
    4. every log_every steps: average the loss over processes, write metrics
    5. evaluate / checkpoint when due, or when a stop signal arrived

Nothing in the loop holds iterator state: batches come from the step number and the
loss noise from a generator reseeded per (seed, step, shard), so restoring weights,
optimizer, scheduler and the global RNG states is all a bit-exact resume needs.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import random
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm
from accelerate import Accelerator, DeepSpeedPlugin, FullyShardedDataParallelPlugin
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import DistributedDataParallelKwargs

from ..errors import InputError
from ..files import atomic_dir
from ..models.io import load_model_folder_into
from .batches import BatchSource
from .checkpoint import (
    CheckpointWriter,
    capture_rng,
    find_latest,
    find_resumable,
    load_checkpoint,
    read_config,
    restore_rng,
    save_weights,
    write_text_atomic,
)
from .config import TrainConfig
from .ema import EMA
from .logs import RunLog
from .stop import StopRequest
from .tasks import Task, get_task

logger = logging.getLogger(__name__)


def train(config: TrainConfig, task: Task | None = None, resume: bool = False) -> dict[str, Any]:
    """Train ``task`` (default: the registered ``config.task``) as ``config`` says.

    With ``resume=True`` the run continues from the newest checkpoint in
    ``config.out_dir`` (or starts fresh when there is none); the fields that may differ
    from the checkpoint's config are the bookkeeping ones (steps, intervals, out_dir).
    Returns a summary: step reached, whether a signal stopped the run, the last logged
    loss, and the paths of the last checkpoint and of ``final/``.
    """
    config.validate()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    task = task if task is not None else get_task(config.task, config.task_options, out_dir=config.out_dir)
    accelerator = _make_accelerator(config)
    is_main = accelerator.is_main_process
    world = accelerator.num_processes
    shards = world * config.grad_accum_steps
    if config.batch_size % shards:
        raise InputError(
            f"batch_size {config.batch_size} must divide evenly over {world} process(es) x "
            f"{config.grad_accum_steps} accumulation step(s); use a multiple of {shards}"
        )

    out_dir = Path(config.out_dir)
    ckpt_root = out_dir / "checkpoints"
    latest = find_latest(ckpt_root)
    if latest is not None and not resume:
        raise InputError(
            f"{out_dir} already holds checkpoints (newest {latest.name}); pass --resume to "
            "continue it, or choose another --out"
        )
    if resume and latest is not None:
        latest = find_resumable(ckpt_root)  # the newest one that reads; warns about any skipped
        _check_resumable(config, read_config(latest), latest)
    elif resume and accelerator.is_main_process:
        logger.info("no checkpoint in %s; starting from scratch", ckpt_root)
        latest = None

    # Same seed on every process, so every rank builds identical initial weights.
    _seed_all(config.seed)
    model = task.build_model()
    if config.init_from and latest is None:
        _init_from(model, config.init_from)
    if config.train_only:
        _freeze_all_but(model, config.train_only)
    optimizer = torch.optim.AdamW(
        _param_groups(model, config.weight_decay, config.lr, config.lr_scale), lr=config.lr, betas=config.betas,
        eps=config.eps,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(lr_factor, config))
    # The scheduler is stepped by hand once per update; accelerate's wrapper would step
    # it once per process.
    model, optimizer = accelerator.prepare(model, optimizer)
    ema = (
        EMA(accelerator.unwrap_model(model), config.ema_decay, config.ema_start)
        if is_main and config.ema_decay > 0
        else None
    )

    start_step, seconds_before, rng = 0, 0.0, None
    if latest is not None:
        state, rng = load_checkpoint(latest, accelerator, model, ema, optimizer, scheduler)
        start_step, seconds_before = state["step"], state.get("train_seconds", 0.0)
        _set_lr(optimizer, scheduler)  # `steps` may have changed the schedule
        if state.get("world_size", world) != world or rng is None:
            logger.warning("the checkpoint was written by %d process(es), this run has %d: "
                           "continuing, but not bit-exactly (per-process RNG states differ)",
                           state.get("world_size", world), world)
        if is_main:
            logger.info("resuming from %s", latest)
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out_dir / "config.json", config.to_json())

    writer = CheckpointWriter(ckpt_root, accelerator, config.keep_last)
    resume_step = start_step if latest is not None else None
    run_log = RunLog(out_dir, is_main, config.tensorboard, resume_step)
    progress = tqdm(
        total=config.steps, initial=start_step, disable=not (is_main and config.progress),
        unit="step", dynamic_ncols=True, desc="train",
    )
    loop = _Loop(
        config, task, accelerator, model, optimizer, scheduler, ema, writer, run_log, progress
    )
    try:
        with StopRequest() as stop:
            # Per-process randomness (dropout) starts here, after every shared draw.
            if rng is not None:
                restore_rng(rng)
            else:
                _seed_all(_mix(config.seed, "rank", accelerator.process_index))
            summary = loop.run(start_step, seconds_before, stop, latest)
    finally:
        progress.close()
        run_log.close()
    if not summary["stopped"]:
        summary["final"] = str(_export(config, task, accelerator, model, ema, out_dir / "final"))
    return summary


class _Loop:
    """The step loop and its bookkeeping; one instance per `train` call."""

    def __init__(
        self,
        config: TrainConfig,
        task: Task,
        accelerator: Any,
        model: nn.Module,
        optimizer: Any,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        ema: EMA | None,
        writer: CheckpointWriter,
        run_log: RunLog,
        progress: Any,
    ) -> None:
        self.c, self.task, self.acc = config, task, accelerator
        self.model, self.optimizer, self.scheduler, self.ema = model, optimizer, scheduler, ema
        self.writer, self.log, self.progress = writer, run_log, progress
        self.device = accelerator.device
        self.last_lr = float("nan")
        # accelerate's optimizer wrapper probes for optional packages on every step
        # (~0.2 ms of Python); with no grad scaler and plain DDP it only forwards the
        # call, so step the inner optimizer directly there.
        plain = accelerator.distributed_type.name in ("NO", "MULTI_CPU", "MULTI_GPU")
        direct = plain and accelerator.scaler is None
        self.inner_optimizer = optimizer.optimizer if direct else optimizer
        # Stop and clock flags are agreed every step. On GPUs do it over a CPU (gloo)
        # group, so the check never waits for the device to finish the step.
        self.flag_group = None
        on_device = accelerator.num_processes > 1 and self.device.type != "cpu"
        if on_device and dist.is_gloo_available():
            self.flag_group = dist.new_group(backend="gloo")

    def run(
        self, start_step: int, seconds_before: float, stop: StopRequest, resumed_from: Path | None
    ) -> dict[str, Any]:
        c, acc = self.c, self.acc
        t_start = time.perf_counter()
        self.model.train()  # evaluation switches back to train mode itself
        if start_step >= c.steps:
            logger.info("already at step %d of %d; nothing to train", start_step, c.steps)
        self.batches = BatchSource(
            self.task, start_step, c.steps, acc.process_index, c.grad_accum_steps, acc.num_processes,
            c.batch_size, workers=c.data_workers,
        )
        try:
            return self._run_steps(start_step, seconds_before, stop, resumed_from, t_start)
        finally:
            self.batches.close()

    def _run_steps(
        self, start_step: int, seconds_before: float, stop: StopRequest, resumed_from: Path | None, t_start: float
    ) -> dict[str, Any]:
        c, acc = self.c, self.acc
        t_log = t_saved = t_start
        step = start_step
        loss_sum, logs_sum, n_logged = torch.zeros((), device=self.device), {}, 0
        last_loss, last_ckpt = None, resumed_from
        while step < c.steps:
            loss, logs = self.step(step)
            step += 1
            loss_sum += loss
            for k, v in logs.items():
                logs_sum[k] = logs_sum.get(k, 0.0) + v
            n_logged += 1
            self.progress.update(1)

            stopping, time_due = self._flags(stop, t_saved)
            if step % c.log_every == 0 or step == c.steps or stopping:
                now = time.perf_counter()
                values = self._reduce_logs(loss_sum, logs_sum, n_logged)
                last_loss = values["loss"]
                if not math.isfinite(last_loss):
                    raise FloatingPointError(
                        f"loss is {last_loss} at step {step}; resume from the last checkpoint "
                        f"({last_ckpt or 'none yet'}) with a lower lr or a grad_clip"
                    )
                values["lr"] = self.last_lr
                values["samples_per_s"] = n_logged * c.batch_size / max(now - t_log, 1e-9)
                values["time"] = seconds_before + now - t_start
                self.log.write(step, values)
                self.progress.set_postfix(
                    loss=f"{last_loss:.4g}", samples_s=f"{values['samples_per_s']:.3g}"
                )
                loss_sum, logs_sum, n_logged = torch.zeros((), device=self.device), {}, 0
                t_log = now
            if c.eval_every and step % c.eval_every == 0:
                self._evaluate(step)
            due = (c.checkpoint_every and step % c.checkpoint_every == 0) or time_due or stopping
            if due or step == c.steps:
                last_ckpt = self._save(step, seconds_before + time.perf_counter() - t_start)
                t_saved = time.perf_counter()
            if stopping:
                if acc.is_main_process:
                    logger.warning("stopped by %s at step %d", stop.signal_name, step)
                break
        return {
            "step": step,
            "steps": c.steps,
            "stopped": step < c.steps,
            "loss": last_loss,
            "train_seconds": seconds_before + time.perf_counter() - t_start,
            "checkpoint": str(last_ckpt) if last_ckpt else None,
            "out_dir": str(c.out_dir),
            "final": None,
            "is_main": acc.is_main_process,
        }

    def step(self, step: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """One optimizer update at 0-based ``step``; returns the mean micro-batch loss."""
        c, acc, model = self.c, self.acc, self.model
        self.last_lr = self.optimizer.param_groups[0]["lr"]
        accum = c.grad_accum_steps
        total = torch.zeros((), device=self.device)
        logs_total: dict[str, Any] = {}
        for micro in range(accum):
            shard = acc.process_index * accum + micro
            batch = _to_device(self.batches.get(step, micro), self.device)
            generator = torch.Generator().manual_seed(_mix(c.seed, step, shard))
            # Skip the gradient all-reduce on all but the last micro-batch.
            sync = acc.no_sync(model) if micro < accum - 1 else nullcontext()
            with sync, acc.autocast():
                loss, logs = self.task.loss(model, batch, generator)
            acc.backward(loss / accum)
            total += loss.detach().float() / accum
            for k, v in logs.items():
                v = v.detach().float() if torch.is_tensor(v) else v
                logs_total[k] = logs_total.get(k, 0.0) + v / accum
        if c.grad_clip > 0:
            logs_total["grad_norm"] = acc.clip_grad_norm_(model.parameters(), c.grad_clip)
        self.inner_optimizer.step()
        self.scheduler.step()
        self.inner_optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(step + 1)
        return total, logs_total

    def _flags(self, stop: StopRequest, t_saved: float) -> tuple[bool, bool]:
        """(stop, time-based checkpoint due), agreed by all processes."""
        minutes = self.c.checkpoint_minutes
        time_due = bool(minutes) and time.perf_counter() - t_saved >= 60 * minutes
        if self.acc.num_processes == 1:
            return stop.requested, time_due
        device = "cpu" if self.flag_group is not None else self.device
        flags = torch.tensor([float(stop.requested), float(time_due)], device=device)
        dist.all_reduce(flags, group=self.flag_group)  # sum: any process can ask
        return bool(flags[0] > 0), bool(flags[1] > 0)

    def _reduce_logs(
        self, loss_sum: torch.Tensor, logs_sum: dict[str, Any], n: int
    ) -> dict[str, float]:
        # One all-reduce for the loss and the task logs together.
        names = sorted(logs_sum)
        extra = [torch.as_tensor(logs_sum[k], dtype=torch.float32, device=self.device)
                 for k in names]
        packed = torch.stack([loss_sum.float(), *extra]) / n
        if self.acc.num_processes > 1:
            packed = self.acc.reduce(packed, reduction="mean")
        values = packed.tolist()
        return {"loss": values[0], **dict(zip(names, values[1:]))}

    def _evaluate(self, step: int) -> None:
        evaluate = getattr(self.task, "evaluate", None)
        if evaluate is None:
            return
        if self.acc.is_main_process:
            module = self.acc.unwrap_model(self.model)
            saved = capture_rng()  # evaluation must not shift the training randomness
            module.eval()
            try:
                with torch.no_grad():
                    metrics = evaluate(module)
            finally:
                module.train()
                restore_rng(saved)
            values = {f"eval/{k}": float(v) for k, v in metrics.items()}
            self.log.write(step, values)
            logger.info("step %d: %s", step, ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
        self.acc.wait_for_everyone()

    def _save(self, step: int, seconds: float) -> Path:
        t0 = time.perf_counter()
        state = {"train_seconds": seconds, "world_size": self.acc.num_processes}
        # Tasks that stream samples (shards) say where the next step reads: a record for
        # people and tools; the batches themselves follow from the step alone.
        position = getattr(self.task, "data_position", None)
        if callable(position):
            state["data"] = position(step, self.c.batch_size)
        path = self.writer.save(
            step, self.model, self.ema, self.optimizer, self.scheduler, self.c, state
        )
        logger.debug("saved %s in %.2f s", path, time.perf_counter() - t0)
        return path


# -- pieces ----------------------------------------------------------------------------


def lr_factor(config: TrainConfig, step: int) -> float:
    """LR multiplier for the update at 0-based ``step``: linear warmup, then constant or
    cosine down to ``min_lr_ratio``. Reads ``config.steps`` live, so extending a run
    stretches the cosine."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine


def _set_lr(optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
    for group, base, fn in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["lr"] = base * fn(scheduler.last_epoch)
    scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]


def _param_groups(
    model: nn.Module, weight_decay: float, lr: float, lr_scale: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """AdamW groups: decay on matrices (linear, conv, embedding weights), none on biases and
    norm scales; each split again by ``lr_scale`` (longest matching name prefix). The
    unscaled groups come first, so group 0's lr is the run's base lr."""
    lr_scale = lr_scale or {}
    prefixes = sorted(lr_scale, key=len, reverse=True)
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    used: set[str] = set()
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        prefix = next((q for q in prefixes if name.startswith(q)), None)
        if prefix is not None:
            used.add(prefix)
        scale = 1.0 if prefix is None else float(lr_scale[prefix])
        groups.setdefault((scale, p.ndim >= 2), []).append(p)
    _check_prefixes_used("lr_scale", set(lr_scale) - used, model)
    order = sorted(groups, key=lambda k: (k[0] != 1.0, k[0], not k[1]))
    return [
        {"params": groups[k], "weight_decay": weight_decay if k[1] else 0.0, "lr": lr * k[0]} for k in order
    ]


def _freeze_all_but(model: nn.Module, prefixes: list[str]) -> None:
    """Freeze every parameter whose name starts with none of ``prefixes``."""
    used: set[str] = set()
    trained = 0
    for name, p in model.named_parameters():
        mine = [q for q in prefixes if name.startswith(q)]
        used.update(mine)
        p.requires_grad_(bool(mine))
        trained += p.numel() if mine else 0
    _check_prefixes_used("train_only", set(prefixes) - used, model)
    total = sum(p.numel() for p in model.parameters())
    logger.info("training %d of %d parameters (train_only %s)", trained, total, prefixes)


def _check_prefixes_used(option: str, unused: set[str], model: nn.Module) -> None:
    """A name prefix that matches no parameter is a typo that would silently do nothing."""
    if unused:
        raise InputError(f"{option}: no parameter name starts with {sorted(unused)}; names look like "
                         f"{[n for n, _ in model.named_parameters()][:3]}")


def _init_from(model: nn.Module, folder: str) -> None:
    if not Path(folder).is_dir():
        raise InputError(f"init_from: {folder} is not a folder; give a model folder written by export or final/")
    load_model_folder_into(model, folder)
    logger.info("starting from the weights in %s", folder)


def _mix(*parts: Any) -> int:
    """A 63-bit seed from the parts; neighbouring steps get unrelated streams."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _to_device(obj: Any, device: torch.device) -> Any:
    if torch.is_tensor(obj):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


def _check_resumable(config: TrainConfig, saved: TrainConfig, path: Path) -> None:
    conflicts = config.resume_conflicts(saved)
    if conflicts:
        detail = "; ".join(
            f"{k}: checkpoint {getattr(saved, k)!r}, now {getattr(config, k)!r}" for k in conflicts
        )
        raise InputError(
            f"cannot resume {path}: the config changed in fields that alter training ({detail}); "
            "undo those changes or start a new run in another --out"
        )
    if config.steps != saved.steps and config.schedule == "cosine":
        logger.warning("steps changed %d -> %d: the cosine schedule stretches from here on",
                       saved.steps, config.steps)


def _make_accelerator(config: TrainConfig) -> Any:
    cpu = config.cpu or not torch.cuda.is_available()
    if config.mixed_precision == "fp16" and cpu:
        raise InputError("mixed_precision 'fp16' needs a GPU; use 'bf16' or 'no' on CPU")
    kwargs: dict[str, Any] = {}
    options = dict(config.strategy_options)
    if config.strategy == "ddp":
        kwargs["kwargs_handlers"] = [DistributedDataParallelKwargs(**options)]
    elif config.strategy == "fsdp":
        kwargs["fsdp_plugin"] = FullyShardedDataParallelPlugin(**options)
    else:
        kwargs["deepspeed_plugin"] = DeepSpeedPlugin(**options)
    if config.strategy != "ddp" and config.ema_decay > 0:
        raise InputError(
            f"EMA needs unsharded weights; set ema_decay = 0 with strategy {config.strategy!r}"
        )
    # accelerate keeps process-wide state; forget the previous run's precision and
    # accumulation settings (the process group itself is kept) so train() can be called
    # again in one process.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    return Accelerator(cpu=cpu, mixed_precision=config.mixed_precision, **kwargs)


def _export(
    config: TrainConfig,
    task: Task,
    accelerator: Any,
    model: nn.Module,
    ema: EMA | None,
    final_dir: Path,
) -> Path:
    """Write ``final/``: model and EMA weights, config.json, and the task's own export."""
    weights = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        with atomic_dir(final_dir) as tmp:
            save_weights(weights, tmp / "model.safetensors")
            config.save(tmp / "config.json")
            export_model = accelerator.unwrap_model(model)
            if ema is not None:
                save_weights(ema.state_dict(), tmp / "ema.safetensors")
                export_model = copy.deepcopy(export_model)
                ema.copy_to(export_model)
            export = getattr(task, "export", None)
            if export is not None:
                export_model.eval()
                export(export_model, tmp)
        logger.info("final weights in %s", final_dir)
    accelerator.wait_for_everyone()
    return final_dir
