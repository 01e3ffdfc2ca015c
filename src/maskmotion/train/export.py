"""Turning a training run's checkpoint into a model folder that pipelines load.

    maskmotion export runs/stage2 --out src/maskmotion/weights/default/video --dtype float16

The run's ``config.json`` names the task, which rebuilds the model; the EMA weights
(or the raw ones) of the newest checkpoint, or of ``final/``, are loaded strictly and
saved with `maskmotion.models.io.save_model`, with the run's step and task recorded.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from ..errors import InputError
from ..models.io import save_model
from .checkpoint import find_latest, load_weights_into, read_config, read_state
from .tasks import get_task

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def export_run(
    run_dir: str | os.PathLike, out: str | os.PathLike, use_ema: bool = True, dtype: str = "float32"
) -> Path:
    """Export the newest checkpoint of ``run_dir`` (or its ``final/``) to ``out``."""
    run_dir = Path(run_dir)
    if dtype not in DTYPES:
        raise InputError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    checkpoint = find_latest(run_dir / "checkpoints")
    source = checkpoint if checkpoint is not None else run_dir / "final"
    if not (source / "config.json").is_file():
        raise InputError(f"{run_dir} holds no checkpoint and no final/ folder; train first")
    config = read_config(source)
    task = get_task(config.task, config.task_options, out_dir=run_dir)
    torch.manual_seed(config.seed)
    model = task.build_model()
    weights = source / ("ema.safetensors" if use_ema else "model.safetensors")
    if not weights.is_file():
        raise InputError(f"{weights} is missing (ema_decay = 0 keeps no EMA: export with use_ema=False)")
    load_weights_into(model, weights)
    step = read_state(source).get("step") if (source / "state.json").is_file() else None
    extra = {
        "task": config.task,
        "task_options": config.task_options,
        "step": step,
        "weights": "ema" if use_ema else "raw",
        "source": str(source),
    }
    return save_model(model.eval(), out, extra=extra, dtype=DTYPES[dtype])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--raw", action="store_true", help="export the raw weights instead of the EMA")
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    args = p.parse_args(argv)
    folder = export_run(args.run_dir, args.out, use_ema=not args.raw, dtype=args.dtype)
    print(json.dumps({"exported": str(folder)}))


if __name__ == "__main__":
    main()
