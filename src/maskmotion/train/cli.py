"""``maskmotion train``: read a config file, apply the command-line overrides, train.

The command only configures; `maskmotion.train.train` does the work, so a script or a
notebook gets the same run from the same config.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import tomllib
from pathlib import Path

from ..errors import InputError
from .config import TrainConfig

logger = logging.getLogger(__name__)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="TrainConfig as .toml or .json")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in the output folder (starts fresh if none)",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (overrides out_dir)")
    parser.add_argument(
        "--steps", type=int, default=None, help="total optimizer steps (overrides steps)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per process (overrides num_threads)",
    )
    parser.add_argument(
        "--data-workers",
        type=int,
        default=None,
        help="worker processes that build the next batches ahead (overrides data_workers)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config field; VALUE is TOML (quote strings), dotted keys reach "
        "into tables, e.g. --set task_options.variant='\"ti2v\"' --set lr=1e-4 (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def parse_override(text: str) -> tuple[list[str], object]:
    """``"a.b=VALUE"`` -> (["a", "b"], value), VALUE read as a TOML value; a bare word
    that is not TOML (``ti2v``) is taken as a string, so shells need no extra quotes."""
    key, sep, raw = text.partition("=")
    path = [part.strip() for part in key.split(".")]
    if not sep or not all(path):
        raise InputError(f"--set expects KEY=VALUE (e.g. task_options.variant=ti2v), got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """A copy of config ``data`` with each ``--set`` applied (tables created as needed)."""
    out = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        table = out
        for part in path[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise InputError(f"--set {text!r}: {part!r} is not a table in the config")
        table[path[-1]] = value
    return out


def config_from_args(args: argparse.Namespace):
    config = TrainConfig.from_file(args.config)
    if getattr(args, "overrides", None):
        config = TrainConfig.from_dict(apply_overrides(config.to_dict(), args.overrides), where=f"{args.config} with --set")
    changes: dict = {}
    if args.out is not None:
        changes["out_dir"] = str(args.out)
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.threads is not None:
        changes["num_threads"] = args.threads
    if args.data_workers is not None:
        changes["data_workers"] = args.data_workers
    if args.no_progress or getattr(args, "quiet", False):
        changes["progress"] = False
    return config.replace(**changes) if changes else config


def run_train(args: argparse.Namespace) -> dict:
    """Run the ``train`` subcommand; raises `InputError` for a bad config."""
    from .loop import train  # lazy: the loop imports torch and accelerate; building the CLI must not

    config = config_from_args(args)
    summary = train(config, resume=args.resume)
    if not summary["is_main"]:
        return summary
    if summary["stopped"]:
        logger.warning(
            "stopped at step %d of %d; checkpoint %s; continue with --resume",
            summary["step"], summary["steps"], summary["checkpoint"],
        )
    else:
        logger.info(
            "done: step %d, loss %s, weights in %s",
            summary["step"], summary["loss"], summary["final"],
        )
    logger.debug("summary: %s", json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    """``python -m maskmotion.train`` (also what torchrun and accelerate launch run)."""
    parser = argparse.ArgumentParser(prog="python -m maskmotion.train", description="Train a task.")
    add_train_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    try:
        run_train(args)
    except InputError as exc:
        print(f"maskmotion train: error: {exc}", file=sys.stderr)
        return 2
    finally:
        _end_distributed()
    return 0


def _end_distributed() -> None:
    # Leave no process group behind (torch warns at exit otherwise).
    import torch.distributed as dist  # lazy: keeps torch out of the CLI's start-up

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
