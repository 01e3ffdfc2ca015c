"""The ``maskmotion`` command line: a thin shell over the package's functions.

Exit codes: 0 ok, 2 bad input (one line naming the problem and the fix), 1 internal
error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .errors import InputError

logger = logging.getLogger("maskmotion")

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info logs")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    return common


def _add_sprites(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sprites",
        parents=[common],
        help="write scenes of the synthetic sprites world (video, masks, trajectory, prompts)",
        description="Write N scene folders of the seeded sprites world: first.png, masks.png, "
        "video.mp4, trajectory.npz, trajectory.mp4 and scene.json.",
    )
    p.add_argument("--count", type=int, default=1, help="number of scenes (default 1)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the first scene; scene i uses seed+i (default: the split's first seed)",
    )
    p.add_argument(
        "--split",
        choices=["train", "val", "test"],
        default="test",
        help="split whose seed range the seeds must lie in (default test)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--frames", type=int, default=16, help="frames per scene (default 16)")
    p.add_argument("--size", type=int, default=64, help="height and width in pixels (default 64)")
    p.set_defaults(run=_run_sprites)


def _run_sprites(args: argparse.Namespace) -> None:
    from .data.sprites import SpritesConfig, split_seeds, write_scenes

    if args.count < 1:
        raise InputError(f"--count must be at least 1, got {args.count}")
    if args.frames < 2 or args.size < 16:
        raise InputError("--frames must be at least 2 and --size at least 16")
    config = SpritesConfig(height=args.size, width=args.size, num_frames=args.frames)
    seed = args.seed if args.seed is not None else split_seeds(args.split).start
    folders = write_scenes(
        args.count, seed, args.out, config, split=args.split, progress=not args.quiet
    )
    logger.info("wrote %d scene(s) to %s", len(folders), args.out)


def _add_train(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from .train.cli import add_train_arguments, run_train

    p = sub.add_parser(
        "train",
        parents=[common],
        help="train a stage (or a baseline) from a config file; resumable",
        description="Train with the one training loop: stage 1, stage 2 or a baseline, as the "
        "config's task says (see configs/ and docs/training.md). --resume continues exactly "
        "from the newest checkpoint.",
    )
    add_train_arguments(p)
    p.set_defaults(run=run_train)


COMMANDS: Sequence[Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]] = (
    _add_sprites,
    _add_train,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="maskmotion",
        description="Through-The-Mask image-to-video generation: plan, mask trajectory, video.",
    )
    parser.add_argument("--version", action="version", version=f"maskmotion {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_options()
    for add in COMMANDS:
        add(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    try:
        args.run(args)
    except InputError as exc:
        print(f"maskmotion {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (PermissionError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        # File-system problems with the user's paths are bad input, not our bugs.
        print(f"maskmotion {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"maskmotion {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception:
        logger.exception("maskmotion %s: internal error (please report it)", args.command)
        return EXIT_INTERNAL
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
