"""What a benchmark variant name means: which stage-2 weights render it, or which
model-free renderer.

- a name under the ablation folder (`ablation_dir`: ``--weights DIR``, else
  ``$MASKMOTION_ABLATION_WEIGHTS``, else ``weights/ablation/`` of a source checkout):
  that model. The ablation weights (21 MB) live in the repository, not in the installed
  package, which ships only the default model;
- ``default``: the bundled default's stage 2 (another size and budget than the ablation);
- ``warp``: the model-free warp preview (no stage 2), a reference row;
- ``reference``: the suite's own reference video, scored like the others (the ceiling of
  what the metrics, tracker included, can give);
- a path to a model folder: that model, named by its folder;
- any of the model names above followed by ``+sN`` (stage 2 samples N steps instead
  of ``--steps``), then ``+dcW-S`` (and optionally ``+lpX``): that model sampled with
  dual-clock denoising, background released at step W and objects at step S, masked
  cross-attention of the local prompts blended in at weight X (training-free TTM,
  `maskmotion.pipelines.dualclock`), e.g. ``ti2v+s10+dc2-5+lp1``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..pipelines.dualclock import DualClockSettings
from ..weights import resolve_model_folder

#: The ablation's stage-2 model folders in a source checkout (``weights/ablation/`` at the
#: repository root); not part of the installed package.
ABLATION_DIR = Path(__file__).resolve().parents[3] / "weights" / "ablation"
#: Where the ablation folders are when not running from a checkout.
ENV_ABLATION = "MASKMOTION_ABLATION_WEIGHTS"
#: The ablation of the paper's table, in the order it reads.
ABLATION_VARIANTS = ("ttm-paper", "no-masked", "cross-only", "self-only", "ti2v", "flow", "ttm-pixel", "ttm")
MODEL_FREE = ("warp", "reference")
#: Conditions that carry the motion (so the video can be checked against it).
MOTION_CONDITIONS = ("trajectory", "warp", "flow")


@dataclass(frozen=True)
class Variant:
    name: str
    folder: Path | None  # stage-2 model folder; None for a model-free renderer
    renderer: str = "model"
    dual_clock: DualClockSettings | None = None
    steps: int | None = None  # stage 2's sampler steps; None: the run's --steps


_SUFFIXES = re.compile(
    r"^(?P<base>.+?)(?:\+s(?P<steps>\d+))?(?:\+dc(?P<weak>\d+)-(?P<strong>\d+)(?:\+lp(?P<weight>[0-9.]+))?)?$"
)


def ablation_dir(weights: str | os.PathLike | None = None) -> Path:
    """The folder of ablation variants: ``weights`` if given, else
    ``$MASKMOTION_ABLATION_WEIGHTS``, else the checkout's ``weights/ablation/``."""
    if weights is not None:
        return Path(weights)
    env = os.environ.get(ENV_ABLATION, "").strip()
    return Path(env) if env else ABLATION_DIR


def resolve_variant(name: str, weights: str | os.PathLike | None = None) -> Variant:
    """The `Variant` for a name on the command line; errors list what exists."""
    name = name.strip()
    if not name:
        raise InputError("an empty variant name; give names separated by commas, e.g. ttm-paper,ti2v")
    match = _SUFFIXES.match(name)
    if match and (match["steps"] or match["weak"]):
        base = resolve_variant(match["base"], weights)
        if base.folder is None:
            raise InputError(f"variant {name}: +s and +dc need a model to sample with; {base.name!r} has none")
        settings = None
        if match["weak"]:
            weight = float(match["weight"]) if match["weight"] else 0.0
            settings = DualClockSettings(int(match["weak"]), int(match["strong"]), weight)
        return Variant(base.name + name[len(match["base"]):], base.folder, dual_clock=settings,
                       steps=int(match["steps"]) if match["steps"] else None)  # fmt: skip
    if "+dc" in name or "+s" in name:
        raise InputError(f"variant {name}: write NAME+sN, NAME+dcW-S or NAME+sN+dcW-S+lpX, e.g. ti2v+s10+dc2-5+lp1")
    if name in MODEL_FREE:
        return Variant(name, None, renderer=name)
    if name == "default":
        return Variant(name, resolve_model_folder("default", "video"))
    root = ablation_dir(weights)
    if (root / name / "config.json").is_file():
        return Variant(name, root / name)
    path = Path(name)
    if os.sep in name or path.exists():
        if not (path / "config.json").is_file():
            raise InputError(f"variant {name}: {path} is not a model folder (no config.json)")
        return Variant(path.name, path)
    have = sorted(p.name for p in root.iterdir() if (p / "config.json").is_file()) if root.is_dir() else []
    where = "" if root.is_dir() else (
        f" ({root} does not exist: the ablation weights are not installed with the package; run from a source "
        f"checkout, or give their folder with --weights DIR or ${ENV_ABLATION})"
    )
    raise InputError(
        f"no weights for variant {name!r} in {root}{where} (there: {', '.join(have) or 'none'}; also: default, warp); "
        "train it (python benchmarks/train_ablation.py) or give a model folder path"
    )
