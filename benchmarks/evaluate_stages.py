"""Quality of trained stage models on the sprites test split, beside trivial baselines.

    python benchmarks/evaluate_stages.py --motion runs/stage1-motion/final/model \
        --video runs/stage2/final/model --scenes 200 --out runs/eval.json

Stage 1 (compact motion model or the pixel-level video model): mean per-object IoU vs
the ground-truth trajectory and vs repeating the first-frame mask, motion adherence,
split by the scene's object count. Stage 2 given the ground-truth trajectory: pooled
PSNR on object pixels and whole frames, for the model, copying the first frame, and the
warp preview, also on the objects whose motion a warp cannot render, on the static
background and on the background that objects reveal.

``--wording`` picks how the test scenes are worded (data/sprites/text.py): "classic" (the
v1-v3 language every shipped model was trained on, default), "seen" (the wide training
language), "heldout" (verbs, speed words, frames and nouns no model is trained on: how
far motion meaning carries to new words) or "heldout-verbs" (only the verbs held out).
Stage-1 figures are also given by motion kind.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from maskmotion.data.sprites import SpritesConfig
from maskmotion.data.sprites.splits import seeds_for
from maskmotion.data.sprites.text import WORDINGS
from maskmotion.eval.sprites import (
    evaluate_end_to_end,
    evaluate_mask_video_model,
    evaluate_read_back_ceiling,
    evaluate_motion_model,
    evaluate_video_model,
    summarise_objects,
)
from maskmotion.files import write_text_atomic
from maskmotion.models import MotionDiT
from maskmotion.models.io import load_model
from maskmotion.pipelines import MotionPipeline, VideoPipeline
from maskmotion.text import TextEncoder


def _log_by_kind(summary: dict, wording: str) -> None:
    logging.info("stage 1, %s wording: adherence %.1f%%, IoU %.3f", wording,
                 100 * summary["all"]["adherence"], summary["all"]["iou"])
    for kind, m in summary["by_motion"].items():
        logging.info("  %-16s %4d objects  adherence %5.1f%%  IoU %.3f", kind, m["objects"], 100 * m["adherence"], m["iou"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motion", type=Path, help="stage-1 model folder (motion or pixel-level)")
    p.add_argument("--video", type=Path,
                   help="stage-2 model folder; with --end-to-end also 'warp' (the model-free warp preview renders) "
                        "or 'reference' (the true videos read back: the tracker's ceiling; no --motion needed)")
    p.add_argument("--end-to-end", action="store_true",
                   help="with --motion (compact) and --video: stage 1 then stage 2, motion read back with the tracker")
    p.add_argument("--scenes", type=int, default=200, help="test scenes (default 200)")
    p.add_argument("--split", default="test", choices=["test", "val"])
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the pipeline's)")
    p.add_argument("--text-guidance", type=float, default=None)
    p.add_argument("--visual-guidance", type=float, default=None)
    p.add_argument("--noise-scale", type=float, default=None, help="stage 1's starting noise scale (temperature; default: the pipeline's)")
    p.add_argument("--smoothing", type=float, default=None, help="stage 1's trend-filter strength (default: the pipeline's)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--text-model", default=None, metavar="DIR",
                   help="the frozen text encoder the models were trained with (default: the bundled MiniLM)")
    p.add_argument("--wording", default="classic", choices=list(WORDINGS),
                   help="how test prompts are worded: classic (default: the language the shipped models were "
                        "trained on), seen (the wide training language), heldout (evaluation-only words), "
                        "heldout-verbs (only the verbs held out)")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    seeds = seeds_for(args.split, args.scenes)
    text = TextEncoder(args.text_model)
    guidance = {k: v for k, v in (("text_guidance_scale", args.text_guidance), ("visual_guidance_scale", args.visual_guidance)) if v is not None}
    motion_options = {k: v for k, v in (("noise_scale", args.noise_scale), ("smoothing", args.smoothing)) if v is not None}
    results: dict = {"split": args.split, "scenes": args.scenes, "wording": args.wording}
    w = args.wording
    if args.motion:
        model = load_model(args.motion)
        sprites = SpritesConfig(num_frames=model.cfg.frames, wording=w)
        start = time.time()
        if isinstance(model, MotionDiT):
            rows = evaluate_motion_model(model, text, seeds, sprites, args.steps or MotionPipeline.default_steps, **guidance,
                                         **motion_options)
        else:
            rows = evaluate_mask_video_model(model, text, seeds, sprites, args.steps or 20)
        results["stage1"] = {**summarise_objects(rows), "seconds": time.time() - start}
        _log_by_kind(results["stage1"], args.wording)
    warp_only = str(args.video) == "warp"
    reference = str(args.video) == "reference"
    if (warp_only or reference) and not args.end_to_end:
        p.error(f"--video {args.video} is for --end-to-end only")
    if args.video and not (warp_only or reference):
        model = load_model(args.video)
        sprites = SpritesConfig(height=model.cfg.height, width=model.cfg.width, num_frames=model.cfg.frames, wording=w)
        start = time.time()
        steps = args.steps or VideoPipeline.default_steps
        results["stage2"] = {**evaluate_video_model(model, text, seeds, sprites, steps, **guidance), "steps": steps,
                             "seconds": time.time() - start}
    if args.end_to_end and reference:
        start = time.time()
        rows = evaluate_read_back_ceiling(seeds, SpritesConfig(wording=w))
        results["end_to_end_reference"] = {**summarise_objects(rows), "seconds": time.time() - start}
    elif args.end_to_end:
        if not (args.motion and args.video):
            p.error("--end-to-end needs --motion and --video")
        motion = load_model(args.motion)
        video = None if warp_only else load_model(args.video)
        sprites = SpritesConfig(wording=w) if video is None else SpritesConfig(
            height=video.cfg.height, width=video.cfg.width, num_frames=video.cfg.frames, wording=w)
        start = time.time()
        rows = evaluate_end_to_end(motion, video, text, seeds, sprites)
        results["end_to_end"] = {**summarise_objects(rows), "seconds": time.time() - start}
    text_out = json.dumps(results, indent=2)
    print(text_out)
    if args.out:
        write_text_atomic(args.out, text_out)


if __name__ == "__main__":
    main()
