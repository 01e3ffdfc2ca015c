"""The ``maskmotion`` command line: a thin shell over the package's functions.

Exit codes: 0 ok, 2 bad input (one line naming the problem and the fix), 1 internal
error.

Each command imports what it needs when it runs, so `maskmotion --help` and argument
errors do not wait for torch to load.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .errors import InputError

logger = logging.getLogger("maskmotion")

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
BACKBONE_CHOICES = ("small", "wan", "animatediff", "wan-i2v", "cogvideox-i2v")
I2V_CHOICES = ("wan-i2v", "cogvideox-i2v")
TEXT_MODEL_HELP = (
    "local transformers text encoder (or all-mpnet-base-v2 by name) for the stages of its width; "
    "the others read the encoder their export names, else the bundled MiniLM"
)


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


# ---- animate / plan / render --------------------------------------------------------------
WARP_HELP = (
    "warp: no stage-2 model; each object's pixels are moved along its trajectory and the "
    "uncovered background is inpainted. The honest choice for real photos: the bundled "
    "model is trained on synthetic sprites and is out of its domain on photos"
)


def _add_scene_arguments(p: argparse.ArgumentParser, drags: bool = True) -> None:
    """IMAGE, the prompt, how objects are marked, and how the plan is made."""
    p.add_argument("image", type=Path, metavar="IMAGE", help="input image (PNG, JPEG, WebP, ...; any size)")
    p.add_argument("--prompt", help="what happens in the video, e.g. 'the dog jumps while the cat runs left'")
    p.add_argument(
        "--object",
        action="append",
        default=[],
        metavar='"NAME: LOCAL PROMPT"',
        help="name an object and optionally give its own prompt; with --masks the k-th --object names "
        "the k-th id, with --box it adds a prompt to the box of that name (repeatable)",
    )
    marks = p.add_mutually_exclusive_group()
    marks.add_argument(
        "--masks", "--mask", type=Path, metavar="PNG", help="first-frame masks: an id PNG (value = object id) "
        "or a PNG drawn in the trajectory palette, at the image's size",
    )  # fmt: skip
    marks.add_argument(
        "--box", action="append", default=[], metavar="NAME=x0,y0,x1,y1",
        help="an object's box in image pixels, refined by --segment (repeatable; list objects back to front)",
    )  # fmt: skip
    p.add_argument(
        "--point", action="append", default=[], metavar="NAME=x,y",
        help="with --box: a pixel of object NAME (NAME=x,y) or a pixel in its box that is not the object "
        "(NAME=-x,y), pinned for GrabCut (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--layer-order", choices=["list", "size"], default="list",
        help="depth of --box objects: list (default: back to front as given) or size (smaller boxes in "
        "front); the front object keeps the pixels where masks overlap",
    )  # fmt: skip
    marks.add_argument(
        "--plan", dest="plan_file", type=Path, metavar="PLAN.json",
        help="use a saved (possibly edited) plan instead of --prompt/--object/--masks/--box: "
        "OUT.plan.json of an earlier run, or a ScenePlan file",
    )  # fmt: skip
    if drags:
        p.add_argument(
            "--drag", action="append", default=[], metavar='"NAME: x,y x,y ..."',
            help="move an object along these points (image pixels; a point may add @scale and /angle, "
            "e.g. 60,40@1.5/90) instead of stage 1 (repeatable)",
        )  # fmt: skip
    p.add_argument("--planner", choices=["rules", "llm"], default="rules", help="prompt splitter (default rules: offline)")
    p.add_argument("--llm-url", help="OpenAI-compatible server for --planner llm (or $MASKMOTION_LLM_BASE_URL)")
    p.add_argument("--llm-model", help="model name for --planner llm (or $MASKMOTION_LLM_MODEL)")
    p.add_argument(
        "--segment", choices=["grabcut", "box", "sam2"], default="grabcut",
        help="how --box becomes a mask (default grabcut; sam2 needs the sam2 package and a checkpoint)",
    )  # fmt: skip
    p.add_argument("--sam2-checkpoint", type=Path, help="local SAM2 checkpoint for --segment sam2")
    p.add_argument("--sam2-config", help="SAM2 config name for --segment sam2")
    p.add_argument("--frames", type=int, help="frames (default: the model's; the model renderer needs that)")
    p.add_argument("--fps", type=float, default=8.0, help="frames per second of the written videos (default 8)")
    p.add_argument(
        "--max-size", type=int, default=512,
        help="long side of the output in pixels, at most (default 512); the aspect ratio is the input's",
    )  # fmt: skip
    _add_max_pixels(p)


def _add_max_pixels(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-pixels", type=int, default=None, metavar="N",
        help="refuse images with more than N pixels, read from the file header before decoding "
        "(default 120000000: 120 MP); images at least 16x16",
    )  # fmt: skip


def _add_model_arguments(p: argparse.ArgumentParser, renderer: bool = True, motion: bool = True, video: bool = True) -> None:
    if renderer:
        p.add_argument(
            "--renderer", choices=["auto", "model", "warp"], default="auto",
            help="auto (default): the stage-2 model where the image suits it, else warp (the bundled small "
            "model suits only the synthetic scenes it was trained on: a photo gets warp, and the log says why). "
            f"model: stage 2 renders the video. {WARP_HELP}",
        )  # fmt: skip
    p.add_argument("--steps", type=int, help="sampler steps per stage (default: each stage's own)")
    p.add_argument("--seed", type=int, default=0, help="seed; the same seed gives the same video on CPU (default 0)")
    if motion:
        p.add_argument("--motion-guidance", type=_pair, metavar="I,T", help="stage-1 guidance scales (visual, text)")
    if video:
        p.add_argument("--video-guidance", type=_pair, metavar="I,T", help="stage-2 guidance scales (visual, text)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default auto: a GPU if there is one")
    p.add_argument(
        "--model", default="default", metavar="NAME_OR_PATH",
        help="bundled model name or a folder with motion/ and video/ (default: the bundled 'default')",
    )  # fmt: skip
    p.add_argument("--text-model", type=Path, metavar="DIR", help=TEXT_MODEL_HELP)
    p.add_argument(
        "--backbone", choices=BACKBONE_CHOICES, default="small",
        help="small: the bundled small TTM model (--model, default); wan or animatediff: TTM on that real "
        "backbone, from --weights (see docs/backbones.md)",
    )  # fmt: skip
    p.add_argument(
        "--weights", type=Path, metavar="PATH",
        help="weights folder of --backbone wan/animatediff (maskmotion_backbone.json, vae/, text_encoder/, "
        "tokenizer/, scheduler/, motion/, video/)",
    )  # fmt: skip
    p.add_argument(
        "--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto",
        help="precision of --backbone wan/animatediff models (default auto: bfloat16 on a GPU, float32 on CPU)",
    )  # fmt: skip
    if video:
        _add_dual_clock_arguments(p)


def _add_dual_clock_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dual-clock (--backbone wan-i2v / cogvideox-i2v; docs/backbones.md)")
    g.add_argument("--t-weak", type=int, metavar="STEP",
                   help="step at which the background leaves the warp preview (default: wan-i2v 3, cogvideox-i2v 4, "
                   "for 50 steps; scaled to other --steps)")  # fmt: skip
    g.add_argument("--t-strong", type=int, metavar="STEP",
                   help="step at which the moving objects leave it (default: wan-i2v 7, cogvideox-i2v 9, for 50 steps)")
    g.add_argument("--local-prompt-weight", type=float, default=0.0, metavar="W",
                   help="blend masked cross-attention of the objects' local prompts into the first blocks, 0..1 "
                   "(default 0; wan-i2v only)")  # fmt: skip
    g.add_argument("--resolution", type=_resolution, metavar="HxW",
                   help="the backbone's canvas (default: wan-i2v 480x832, cogvideox-i2v 480x720; Wan2.2-TI2V-5B: "
                   "704x1280); the video is cut back to the input's aspect")  # fmt: skip
    g.add_argument("--offload", action="store_true", help="diffusers' model CPU offload (a GPU with 24 GB for the 14B model)")
    g.add_argument("--vae-tiling", action="store_true", help="decode the video in tiles (less GPU memory)")


def _resolution(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HxW in pixels, e.g. 480x832") from None
    if h < 16 or w < 16:
        raise argparse.ArgumentTypeError(f"{text!r}: height and width must be at least 16")
    return h, w


def _pair(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers 'visual,text', e.g. 1.0,1.5") from None
    return a, b


def _add_animate(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "animate",
        parents=[common],
        help="animate an image: plan, mask trajectory (stage 1), video (stage 2)",
        description="Animate IMAGE as --prompt says. Writes OUT.mp4, OUT.trajectory.mp4 (colour masks), "
        "OUT.overlay.mp4 (video | masks over it), OUT.trajectory.npz and OUT.plan.json (everything to "
        "repeat the run). Nothing is written unless the whole run succeeds. See docs/animate.md.",
    )
    _add_scene_arguments(p)
    _add_model_arguments(p)
    p.add_argument("--out", type=Path, required=True, metavar="OUT.mp4", help="output video (.mp4 or .gif)")
    p.set_defaults(run=_run_animate)


def _add_plan(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "plan",
        parents=[common],
        help="plan and run stage 1 only: the mask trajectory, to edit before rendering",
        description="Plan IMAGE and make its mask trajectory (stage 1, or --drag). Writes "
        "OUT.trajectory.npz, OUT.trajectory.mp4 and OUT.plan.json; render them with "
        "`maskmotion render IMAGE --trajectory OUT.trajectory.npz --plan OUT.plan.json --out V.mp4`.",
    )
    _add_scene_arguments(p)
    _add_model_arguments(p, renderer=False, video=False)
    p.add_argument("--out", type=Path, required=True, metavar="OUT", help="output name: OUT or OUT.mp4")
    p.set_defaults(run=_run_plan)


def _add_render(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "render",
        parents=[common],
        help="stage 2 only: render a video from an image and a (possibly edited) trajectory",
        description="Render IMAGE moving as --trajectory says. Writes OUT.mp4, OUT.overlay.mp4 and "
        "OUT.plan.json. Prompts come from --plan, the trajectory file, --prompt and --object.",
    )
    p.add_argument("image", type=Path, metavar="IMAGE", help="the image the trajectory was planned on")
    p.add_argument(
        "--trajectory", type=Path, required=True, metavar="TRAJ",
        help="OUT.trajectory.npz (exact, with prompts), a colour-mask .mp4, or a folder of PNG frames",
    )  # fmt: skip
    p.add_argument("--plan", dest="plan_file", type=Path, metavar="PLAN.json", help="names and prompts from this plan")
    _add_max_pixels(p)
    p.add_argument("--prompt", help="the global prompt (default: the plan's)")
    p.add_argument(
        "--object", action="append", default=[], metavar='"NAME: LOCAL PROMPT"',
        help="replace an object's local prompt (repeatable)",
    )  # fmt: skip
    _add_model_arguments(p, motion=False)
    p.add_argument("--out", type=Path, required=True, metavar="OUT.mp4", help="output video (.mp4 or .gif)")
    p.set_defaults(run=_run_render)


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda, but no CUDA GPU is visible; use --device cpu (or auto)")
    return name


#: Most sampler steps a command accepts. Each stage's own default is a few tens; a
#: thousand already takes a hundred times as long (hours for a real backbone on a GPU),
#: so a larger number is a typo, not a setting.
MAX_STEPS = 1000


def _check_steps(steps: int | None) -> None:
    if steps is None:
        return
    if steps < 1:
        raise InputError(f"--steps must be at least 1, got {steps}")
    if steps > MAX_STEPS:
        raise InputError(
            f"--steps {steps} is more than {MAX_STEPS}; each stage's default is a few tens of steps, and time "
            "grows with the step count (leave --steps out for the default)"
        )


def _check_numbers(args: argparse.Namespace) -> None:
    """Plain range checks, before any file is read."""
    if getattr(args, "frames", None) is not None and args.frames < 2:
        raise InputError(f"--frames must be at least 2, got {args.frames}")
    _check_steps(args.steps)
    if not 0 <= args.seed < 2**63:
        raise InputError(f"--seed must be from 0 to 2**63 - 1, got {args.seed}")
    if getattr(args, "max_size", 512) < 16:
        raise InputError(f"--max-size must be at least 16, got {args.max_size}")
    fps = getattr(args, "fps", 8.0)
    if not math.isfinite(fps) or fps <= 0:
        raise InputError(f"--fps must be a positive number, got {fps}")
    if getattr(args, "max_pixels", None) is not None and args.max_pixels < 256:
        raise InputError(f"--max-pixels must be at least 256 (16x16), got {args.max_pixels}")


def _image_limits(args: argparse.Namespace):
    from .plan import DEFAULT_LIMITS, ImageLimits

    return DEFAULT_LIMITS if args.max_pixels is None else ImageLimits(max_pixels=args.max_pixels)


def _quiet_libraries() -> None:
    # transformers shows its own weight-loading bar; ours are per stage.
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.disable_progress_bar()  # the image-to-video pipelines' loading bar
    except ImportError:  # pragma: no cover - a dependency
        pass


def _check_backbone(args: argparse.Namespace) -> None:
    """--backbone and --weights agree, and a real backbone's folder is readable (before
    any planning work)."""
    _check_dual_clock(args)
    if args.backbone in I2V_CHOICES:
        if args.model != "default":
            raise InputError(f"--model is the bundled small backbone's; --backbone {args.backbone} reads --weights (drop --model)")
        if args.weights is None:
            raise InputError(
                f"--backbone {args.backbone} needs --weights DIR, a local diffusers image-to-video folder "
                "(e.g. Wan2.1-I2V-14B-480P-Diffusers; see docs/backbones.md)"
            )
        from .pipelines.i2v import check_i2v_folder

        kind = check_i2v_folder(args.weights, args.backbone)
        if getattr(args, "frames", None) is not None:
            kind.check_frames(args.frames)
        return
    if args.backbone == "small":
        if args.weights is not None:
            raise InputError(
                "--weights is for --backbone wan or animatediff; the bundled small backbone reads --model "
                "(add --backbone wan|animatediff, or drop --weights)"
            )
        if args.text_model is not None:
            from .text import check_text_model_folder, named_text_model

            if named_text_model(args.text_model) is None:  # a named encoder is checked when it unpacks
                check_text_model_folder(args.text_model)  # config sizes and safetensors weights, before planning
        return
    ignored = [flag for flag, given in (("--model", args.model != "default"), ("--text-model", args.text_model)) if given]
    if ignored:
        raise InputError(
            f"{' and '.join(ignored)} belong to the bundled small backbone; --backbone {args.backbone} reads its models "
            "and text encoder from --weights (drop them)"
        )
    if args.weights is None:
        raise InputError(
            f"--backbone {args.backbone} needs --weights PATH, a local folder with maskmotion_backbone.json "
            "(see docs/backbones.md: `maskmotion train` writes one to OUT/final/weights)"
        )
    from .pipelines.backbone import read_backbone_config

    read_backbone_config(args.weights, args.backbone)


def _dual_clock_given(args: argparse.Namespace) -> list[str]:
    given = [("--t-weak", getattr(args, "t_weak", None) is not None), ("--t-strong", getattr(args, "t_strong", None) is not None),
             ("--local-prompt-weight", bool(getattr(args, "local_prompt_weight", 0.0))),
             ("--offload", getattr(args, "offload", False)), ("--vae-tiling", getattr(args, "vae_tiling", False)),
             ("--resolution", getattr(args, "resolution", None) is not None)]  # fmt: skip
    return [flag for flag, on in given if on]


def _check_dual_clock(args: argparse.Namespace) -> None:
    """The dual-clock options belong to the image-to-video backbones, and agree."""
    given = _dual_clock_given(args)
    if args.backbone not in I2V_CHOICES:
        if given:
            raise InputError(f"{' and '.join(given)} belong to --backbone wan-i2v or cogvideox-i2v (add one, or drop them)")
        return
    from .pipelines.dualclock import dual_clock_defaults

    dual_clock_defaults(args.backbone, args.steps, args.t_weak, args.t_strong, args.local_prompt_weight)


def _check_model_folders(args: argparse.Namespace, motion: bool, video: bool) -> None:
    """Find the bundled model folders that are surely needed before planning (GrabCut on a
    big photo takes a while); their weights are checked when they load."""
    from .weights import resolve_model_folder

    if args.backbone == "small":
        if video:
            resolve_model_folder(args.model, "video")
        if motion:
            resolve_model_folder(args.model, "motion")


def _load_pipeline(args: argparse.Namespace, stages: Sequence[str], device: str):
    import torch

    from .pipelines import AnimatePipeline

    _quiet_libraries()
    source = args.model if args.backbone == "small" else args.weights
    if stages:
        logger.info("loading %s (%s) from %s on %s", " and ".join(stages), args.backbone, source, device)
    dtype = None if args.dtype == "auto" else getattr(torch, args.dtype)
    extra = {}
    if args.backbone in I2V_CHOICES:
        from .pipelines.dualclock import dual_clock_defaults

        settings = dual_clock_defaults(args.backbone, args.steps, args.t_weak, args.t_strong, args.local_prompt_weight)
        extra = dict(dual_clock=settings, offload=args.offload, vae_tiling=args.vae_tiling,
                     frames=getattr(args, "frames", None), size=args.resolution)  # fmt: skip
    pipe = AnimatePipeline.from_pretrained(
        source, device, stages=stages, text_model=args.text_model, backbone=args.backbone, dtype=dtype, **extra
    )
    pipe.set_progress_bar_config(disable=args.quiet)
    return pipe


def _check_prompt(prompt: str | None) -> None:
    if prompt is None or not prompt.strip():
        what = "missing" if prompt is None else "empty"
        raise InputError(f"--prompt is {what}; describe the video, e.g. --prompt 'the dog jumps'")


def _scene(args: argparse.Namespace, device: str):
    """Step 1: the image and its plan, loaded from --plan or made from the marks."""
    from .pipelines.scene_files import scene_from_files
    from .plan import make_planner, parse_box_arg, parse_object_arg, parse_point_arg

    if args.plan_file is not None:
        given = [f for f, v in (("--prompt", args.prompt), ("--object", args.object), ("--point", args.point)) if v]
        if given:
            raise InputError(f"--plan holds the prompts already: drop {' and '.join(given)}, or edit the plan file")
        return scene_from_files(args.image, plan_file=args.plan_file, limits=_image_limits(args))
    _check_prompt(args.prompt)
    planner = make_planner("llm", args.llm_url, args.llm_model) if args.planner == "llm" else "rules"
    return scene_from_files(
        args.image, args.prompt, masks=args.masks, boxes=[parse_box_arg(b) for b in args.box],
        objects=[parse_object_arg(o) for o in args.object], points=[parse_point_arg(p) for p in args.point],
        planner=planner, segment=args.segment, sam2_checkpoint=args.sam2_checkpoint, sam2_config=args.sam2_config,
        layer_order=args.layer_order, device=device, max_size=args.max_size, limits=_image_limits(args),
    )  # fmt: skip


def _drags(args: argparse.Namespace) -> dict:
    from .pipelines.animate import parse_drag_arg

    drags = dict(parse_drag_arg(d) for d in args.drag)
    if len(drags) != len(args.drag):
        raise InputError("an object is dragged twice; give one --drag per object")
    return drags


def _motion_stages(scene, drags: dict) -> list[str]:
    from .pipelines.animate import resolve_drags

    return ["motion"] if len(resolve_drags(scene.plan, drags)) < len(scene.plan.objects) else []


def _inputs_record(args: argparse.Namespace, scene) -> dict:
    from .pipelines.scene_files import inputs_record

    drags = {d.partition(":")[0].strip(): d.partition(":")[2].strip() for d in getattr(args, "drag", [])}
    return inputs_record(scene, args.image, drags=drags)


def _plan_source(args: argparse.Namespace, pipe) -> dict:
    """With --plan OUT.plan.json: compare the weights that record names with the ones just
    loaded (a warning when they differ, no error: re-rendering with other weights may be
    the point) and return ``{"plan_source": ...}`` for the new run record, which so keeps
    both; ``{}`` without one."""
    if getattr(args, "plan_file", None) is None:
        return {}
    from .pipelines.provenance import check_plan_model

    entry = check_plan_model(args.plan_file, pipe.model_info)
    return {} if entry is None else {"plan_source": entry}


def _finish(paths: dict) -> None:
    for p in paths.values():
        print(f"wrote {p}")


def _run_animate(args: argparse.Namespace) -> None:
    from .pipelines.outputs import ANIMATE_OUTPUTS, OutputFiles, output_paths, run_record, write_result, write_run_record

    _check_numbers(args)
    paths = output_paths(args.out, ANIMATE_OUTPUTS)
    with OutputFiles(paths) as files:
        device = _device(args.device)
        _check_backbone(args)
        drags = _drags(args)
        _check_model_folders(args, motion=not drags, video=args.renderer == "model")
        scene = _scene(args, device)
        stages = _motion_stages(scene, drags) + ([] if args.renderer == "warp" else ["video"])
        pipe = _load_pipeline(args, stages, device)
        source = _plan_source(args, pipe)
        result = pipe(
            scene.image, scene.plan, drags, num_frames=args.frames, num_inference_steps=args.steps,
            motion_guidance=args.motion_guidance, video_guidance=args.video_guidance, seed=args.seed,
            renderer=args.renderer, max_size=args.max_size, fps=args.fps, source_size=scene.source_size,
        )  # fmt: skip
        write_result(files, result, fps=args.fps)
        settings = {**result.settings, "device": device}
        record = run_record("animate", settings, scene.plan, _inputs_record(args, scene), pipe.model_info, args.argv)
        write_run_record(files.tmp("record"), {**record, **source})
    _finish(paths)


def _run_plan(args: argparse.Namespace) -> None:
    from .pipelines.outputs import PLAN_OUTPUTS, OutputFiles, output_paths, run_record, write_result, write_run_record

    _check_numbers(args)
    paths = output_paths(args.out, PLAN_OUTPUTS)
    with OutputFiles(paths) as files:
        device = _device(args.device)
        _check_backbone(args)
        drags = _drags(args)
        _check_model_folders(args, motion=not drags, video=False)
        scene = _scene(args, device)
        pipe = _load_pipeline(args, _motion_stages(scene, drags), device)
        source = _plan_source(args, pipe)
        result = pipe.motion(
            scene, drags, num_frames=args.frames, num_inference_steps=args.steps, guidance=args.motion_guidance,
            seed=args.seed, max_size=args.max_size, fps=args.fps,
        )  # fmt: skip
        write_result(files, result, fps=args.fps)
        settings = {**result.settings, "device": device}
        record = run_record("plan", settings, scene.plan, _inputs_record(args, scene), pipe.model_info, args.argv)
        write_run_record(files.tmp("record"), {**record, **source})
    _finish(paths)


def _render_scene(args: argparse.Namespace):
    """The scene and trajectory of `render`: names and prompts from --plan, the trajectory
    file, --prompt and --object."""
    from .pipelines.scene_files import render_scene_from_files
    from .plan import parse_object_arg

    prompts = {}
    for text in args.object:
        hint = parse_object_arg(text)
        prompts[hint.name] = hint.local_prompt
    if args.plan_file is None:
        _check_prompt(args.prompt)
    elif args.prompt is not None:
        _check_prompt(args.prompt)
    try:
        return render_scene_from_files(
            args.image, args.trajectory, prompt=args.prompt, plan_file=args.plan_file, local_prompts=prompts,
            limits=_image_limits(args),
        )  # fmt: skip
    except InputError as exc:
        # Name the flag the user typed.
        raise InputError(f"--object {exc}" if "names no object of the trajectory" in str(exc) else str(exc)) from None


def _run_render(args: argparse.Namespace) -> None:
    from .pipelines.outputs import RENDER_OUTPUTS, OutputFiles, output_paths, run_record, write_result, write_run_record
    from .pipelines.scene_files import inputs_record

    _check_numbers(args)
    paths = output_paths(args.out, RENDER_OUTPUTS)
    with OutputFiles(paths) as files:
        device = _device(args.device)
        _check_backbone(args)
        if args.renderer == "model":
            _check_model_folders(args, motion=False, video=True)
        scene, traj = _render_scene(args)
        if args.backbone in I2V_CHOICES:
            args.frames = traj.num_frames  # an image-to-video backbone renders the trajectory's length (1 + 4k)
        pipe = _load_pipeline(args, [] if args.renderer == "warp" else ["video"], device)
        source = _plan_source(args, pipe)
        result = pipe.render(
            scene, traj, renderer=args.renderer, num_inference_steps=args.steps, guidance=args.video_guidance,
            seed=args.seed,
        )  # fmt: skip
        write_result(files, result, fps=traj.fps)
        inputs = inputs_record(scene, args.image, trajectory=str(args.trajectory), prompt=scene.plan.global_prompt,
                               local_prompts={o.name: o.prompt for o in traj.objects})  # fmt: skip
        settings = {**result.settings, "num_frames": traj.num_frames, "size": list(traj.size), "device": device}
        plan = scene.plan if scene.plan.source != "trajectory" else None
        record = run_record("render", settings, plan, inputs, pipe.model_info, args.argv)
        write_run_record(files.tmp("record"), {**record, **source})
    _finish(paths)


def _add_export(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "export",
        parents=[common],
        help="turn a training run's newest checkpoint into a model folder the pipelines load",
        description="Export the EMA (or raw) weights of a run's newest checkpoint, or of its final/ "
        "folder, as config.json + model.safetensors.",
    )
    p.add_argument("run_dir", type=Path, help="the run's out_dir (holds checkpoints/ or final/)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--raw", action="store_true", help="export the raw weights instead of the EMA")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"],
                   help="storage precision (float16 halves the file; loading casts back)")
    p.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> None:
    from .train.export import export_run

    folder = export_run(args.run_dir, args.out, use_ema=not args.raw, dtype=args.dtype)
    logger.info("exported %s", folder)


# ---- bench ---------------------------------------------------------------------------------
def _add_bench(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "bench",
        parents=[common],
        help="sample every variant on the same scenes and seeds; table, plots, HTML report",
        description="Run the benchmark (docs/benchmark.md): stage 1 once per scene and seed, "
        "then every variant's stage 2; writes results.json, results.md, plots/ and report.html. "
        "Rerunning with the same --out resumes, skipping finished samples.",
    )
    p.add_argument("--suite", default="sprites-test",
                   help="sprites-test[:N], sprites-val[:N] (default 48 scenes) or a JSONL manifest")
    p.add_argument("--variants", default="ttm-paper,ti2v,no-masked,cross-only,self-only,flow",
                   help="comma-separated: bundled ablation variants (ttm-paper, no-masked, cross-only, "
                   "self-only, ti2v, flow, ttm-pixel, ttm), 'default', 'warp', or model folder paths")
    p.add_argument("--out", type=Path, required=True, help="output folder (resumed if it exists)")
    p.add_argument("--scenes", type=int, default=None, help="keep the suite's first N cases")
    p.add_argument("--seeds", default="0", help="comma-separated sampling seeds (default 0)")
    p.add_argument("--weights", default=None, help="folder of variant model folders (default: $MASKMOTION_ABLATION_WEIGHTS, else weights/ablation of "
                   "a source checkout; not in the installed package)")
    p.add_argument("--motion", default="default", help="stage-1 model: bundled name or folder (default: default)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps for both stages (default: each stage's)")
    p.add_argument("--workers", type=int, default=1, help="local processes, one core each (default 1)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--clip", default=None, metavar="DIR",
                   help="local CLIP model folder for CLIP-T/I/CF scores (or $MASKMOTION_CLIP); skipped without one")
    p.add_argument("--no-videos", action="store_true", help="write records only (no GIFs, no pictures in the report)")
    p.set_defaults(run=_run_bench)


def _run_bench(args: argparse.Namespace) -> None:
    from .bench import BenchConfig, run_bench

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise InputError(f"--seeds must be integers separated by commas, got {args.seeds!r}") from None
    if args.scenes is not None and args.scenes < 1:
        raise InputError(f"--scenes must be at least 1, got {args.scenes}")
    _check_steps(args.steps)
    config = BenchConfig(
        suite=args.suite, variants=[v.strip() for v in args.variants.split(",") if v.strip()], out=str(args.out),
        seeds=seeds, limit=args.scenes, weights=args.weights, motion=args.motion, steps=args.steps,
        workers=args.workers, device=args.device, save_videos=not args.no_videos, clip=args.clip,
    )
    _quiet_libraries()
    results = run_bench(config, progress=not args.quiet)
    if results:
        print((Path(args.out) / "results.md").read_text(encoding="utf-8"))
        logger.info("report: %s", Path(args.out) / "report.html")


# ---- demo ----------------------------------------------------------------------------------
def _add_demo(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common],
        help="serve the web page: upload, mark objects, plan, edit paths, render, download",
        description="Serve the web page (needs the demo extra: pip install 'maskmotion[demo]'). "
        "It loads the model once and runs one job at a time; see docs/demo.md.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--share", choices=["off", "on"], default="off", help="on: a public gradio.live link (default off)")
    p.add_argument("--model", default="default", metavar="NAME_OR_PATH", help="bundled model name or folder (default: default)")
    p.add_argument("--backbone", choices=BACKBONE_CHOICES, default="small", help="small (default), wan or animatediff (with --weights)")
    p.add_argument("--weights", type=Path, metavar="PATH", help="weights folder of --backbone wan/animatediff")
    p.add_argument("--text-model", type=Path, metavar="DIR", help=TEXT_MODEL_HELP)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default auto: a GPU if there is one")
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto",
                   help="precision of --backbone wan/animatediff models (default auto)")
    _add_max_pixels(p)
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload in MB (default 50)")
    p.add_argument("--queue", type=int, default=8, help="jobs that may wait for the one running (default 8)")
    p.add_argument("--idle-minutes", type=float, default=60.0, help="drop a session unused this long, with its files (default 60)")
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    import importlib.util

    # Found, not imported: gradio reads where to keep its files when it is first imported.
    if importlib.util.find_spec("gradio") is None:
        raise InputError("the web page needs gradio: pip install 'maskmotion[demo]'")
    from .demo import DemoConfig, serve

    if not 0 < args.port < 65536:
        raise InputError(f"--port must be from 1 to 65535, got {args.port}")
    if args.max_upload_mb <= 0 or args.queue < 1:
        raise InputError("--max-upload-mb must be positive and --queue at least 1")
    if not (args.idle_minutes > 0 and math.isfinite(args.idle_minutes)):
        raise InputError(f"--idle-minutes must be a positive number of minutes, got {args.idle_minutes}")
    if getattr(args, "max_pixels", None) is not None and args.max_pixels < 256:
        raise InputError(f"--max-pixels must be at least 256 (16x16), got {args.max_pixels}")
    _check_backbone(args)
    device = _device(args.device)
    _quiet_libraries()
    serve(DemoConfig(
        host=args.host, port=args.port, share=args.share == "on", model=args.model, backbone=args.backbone,
        weights=None if args.weights is None else str(args.weights), text_model=args.text_model, device=device,
        limits=_image_limits(args), max_upload_bytes=int(args.max_upload_mb * 2**20), queue_size=args.queue,
        idle_seconds=args.idle_minutes * 60, dtype=None if args.dtype == "auto" else args.dtype,
    ))  # fmt: skip


# ---- prepare -------------------------------------------------------------------------------
def _add_prepare(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "prepare",
        parents=[common],
        help="turn real clips into training shards (windows, objects, tracks, filters, prompts)",
        description="Cut clips into windows, find the objects of each window's first frame (SA-V masklets, "
        "else moving regions), track them, filter, write prompts and WebDataset shards plus stats.json and "
        "stats.html (docs/data.md). Rerunning with the same --out resumes, skipping finished clips.",
    )
    p.add_argument("source", type=Path, help="a folder of videos (captions as NAME.txt beside them), a .csv/.jsonl "
                   "list of video, caption[, objects, motion_prompt], or an SA-V folder")
    p.add_argument("--out", type=Path, required=True, help="output folder (resumed if it exists)")
    p.add_argument("--frames", type=int, default=16, help="frames per window (default 16)")
    p.add_argument("--fps", type=float, default=8.0, help="frames per second of a window (default 8)")
    p.add_argument("--height", type=int, default=64, help="output height in pixels (default 64)")
    p.add_argument("--width", type=int, default=64, help="output width in pixels (default 64)")
    p.add_argument("--stride-seconds", type=float, default=0.0, help="seconds between window starts (default: back to back)")
    p.add_argument("--max-windows", type=int, default=0, help="windows per clip at most (default: all that fit)")
    p.add_argument("--layout", choices=["auto", "folder", "list", "sav"], default="auto", help="how to read SOURCE (default auto)")
    p.add_argument("--annotations", choices=["manual", "auto", "any"], default="manual", help="SA-V masklet files to use (default manual)")
    p.add_argument("--planner", choices=["rules", "llm"], default="rules",
                   help="writes the prompts a caption list leaves out (llm: $MASKMOTION_LLM_BASE_URL and _MODEL)")
    p.add_argument("--llm-url", default=None, help="OpenAI-compatible endpoint for --planner llm")
    p.add_argument("--llm-model", default=None, help="model name for --planner llm")
    p.add_argument("--max-objects", type=int, default=8, help="windows with more objects are dropped (default 8)")
    p.add_argument("--min-object-area", type=float, default=0.002, help="objects below this share of the frame are left out")
    p.add_argument("--min-motion", type=float, default=0.01, help="windows whose objects move less (share of the diagonal) are static")
    p.add_argument("--clips-per-shard", type=int, default=64, help="clips packed into one shard (default 64)")
    p.add_argument("--latents", default="", metavar="WEIGHTS",
                   help="a backbone weights folder: also store its VAE latents and text states for backbone-stage1/2")
    p.add_argument("--latents-dtype", choices=["bfloat16", "float16", "float32"], default="bfloat16",
                   help="dtype of stored latents; must match the task's cache_dtype (default bfloat16)")
    p.add_argument("--latents-device", default="cpu", help="device that encodes them (default cpu)")
    p.add_argument("--engine", choices=["local", "ray"], default="local", help="local: this process (default); ray: Ray Data")
    p.add_argument("--address", default=None, help="Ray cluster address (e.g. auto); default a local Ray instance")
    p.add_argument("--workers", type=int, default=0,
                   help="--engine ray: clips processed at once (default 0: one per CPU of the Ray cluster or this machine)")
    p.set_defaults(run=_run_prepare)


def _run_prepare(args: argparse.Namespace) -> None:
    from .data.video import FilterConfig
    from .prepare import PrepareOptions, prepare

    filters = FilterConfig(max_objects=args.max_objects, min_object_area=args.min_object_area, min_motion=args.min_motion)
    options = PrepareOptions(
        frames=args.frames, fps=args.fps, height=args.height, width=args.width, stride_seconds=args.stride_seconds,
        max_windows=args.max_windows, layout=args.layout, annotations=args.annotations, planner=args.planner,
        llm_url=args.llm_url, llm_model=args.llm_model, clips_per_shard=args.clips_per_shard, filters=filters,
        latents=args.latents, latents_dtype=args.latents_dtype, latents_device=args.latents_device,
    )  # fmt: skip
    stats = prepare(args.source, args.out, options, engine=args.engine, address=args.address, workers=args.workers,
                    progress=not args.quiet)  # fmt: skip
    dropped = ", ".join(f"{k} {v}" for k, v in stats["dropped"].items() if v) or "none"
    print(f"{stats['samples']} samples from {stats['clips']} clips in {args.out / 'shards'}; dropped windows: {dropped}")
    logger.info("report: %s", args.out / "stats.html")


def _add_sav_suite(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sav-suite",
        parents=[common],
        help="turn an SA-V-style folder and a prompt list (e.g. SA-V-128) into a benchmark suite",
        description="Write suite.jsonl (for maskmotion bench --suite) with each listed video's first frame, its "
        "first-frame masklets as the masks, and the clip and masklet trajectory as references (docs/data.md).",
    )
    p.add_argument("source", type=Path, help="folder with <id>.mp4 beside <id>_manual.json")
    p.add_argument("--prompts", type=Path, required=True, help=".jsonl/.csv: id, prompt[, motion_prompt, objects]")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--frames", type=int, default=16, help="frames per case (default 16)")
    p.add_argument("--fps", type=float, default=6.0, help="frames per second (default 6: every frame has masklets)")
    p.add_argument("--max-side", type=int, default=512, help="longest side in pixels (default 512)")
    p.set_defaults(run=_run_sav_suite)


def _run_sav_suite(args: argparse.Namespace) -> None:
    from .bench import sav_suite

    if args.frames < 2 or not args.fps > 0 or args.max_side < 16:
        raise InputError("--frames must be at least 2, --fps positive and --max-side at least 16")
    manifest = sav_suite(args.source, args.prompts, args.out, frames=args.frames, fps=args.fps, max_side=args.max_side)
    print(manifest)


COMMANDS: Sequence[Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None]] = (
    _add_animate,
    _add_bench,
    _add_demo,
    _add_export,
    _add_plan,
    _add_prepare,
    _add_render,
    _add_sav_suite,
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


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that `with` blocks clean up (an output set
    that was never committed leaves no temporary folder behind)."""


def _raise_terminated(signum, frame) -> None:  # noqa: ANN001 - signal handler signature
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command line as typed, for run records (OUT.plan.json).
    args.argv = ["maskmotion", *(sys.argv[1:] if argv is None else argv)]
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if _main_thread() else None
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
    except Terminated:
        print(f"maskmotion {args.command}: terminated", file=sys.stderr)
        return 143
    except MemoryError:
        print(f"maskmotion {args.command}: error: out of memory; use a smaller input or --max-size", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:
        if args.verbose:
            logger.exception("maskmotion %s: internal error (please report it)", args.command)
        else:
            what = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            print(
                f"maskmotion {args.command}: internal error: {what} (please report it; --verbose shows the traceback)",
                file=sys.stderr,
            )
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


def _main_thread() -> bool:
    # Signal handlers can only be set from the main thread (a web server may call main()).
    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
