"""How high can a filled background score? An upper bound on the composite suite.

    python benchmarks/photo_fill_bound.py

The revealed background of each case in `photo_composites.py` is filled by an *oracle*
that knows the true background blurred at scale sigma (pixels) -- knowledge no fill has,
since the truth behind an object is not in the input -- plus the high frequencies of the
shipped photo renderer's own fill, scaled by alpha (alpha 0: the oracle's blur alone).
The table gives revealed-background PSNR (dB) / sharpness for each (sigma, alpha) next
to `warp_preview`'s ("before"). Where even the oracle at sigma 8 cannot gain 1 dB at a
sharpness of 0.4, no fill that continues the visible texture can.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photo_composites as pc  # noqa: E402

from maskmotion.render import photo_render, warp_preview  # noqa: E402


def _blur(frames: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(f.astype(np.float32), (0, 0), sigma) for f in frames])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--sigmas", default="2,4,8", help="blur scales of the oracle's knowledge, in pixels")
    p.add_argument("--alphas", default="0,0.4,0.6", help="strengths of the renderer's texture added on top")
    args = p.parse_args(argv)
    sigmas = [float(s) for s in args.sigmas.split(",")]
    alphas = [float(a) for a in args.alphas.split(",")]
    print("| case | before | " + " | ".join(f"s{s:g} a{a:g}" for s in sigmas for a in alphas) + " |")
    print("| --- " * (2 + len(sigmas) * len(alphas)) + "|")
    for case in pc.cases(args.frames):
        case.build()
        first = case.truth[0]
        before = pc.evaluate(case, warp_preview(first, case.trajectory, case.tracks))
        after = photo_render(first, case.trajectory, case.tracks)  # (T, H, W, 3) uint8
        footprint = case.cover[0] > 0.01
        revealed = np.stack([footprint & (c < 0.01) for c in case.cover])  # (T, H, W)
        cells = [f"{before['revealed psnr']:.2f} / {before['sharpness']:.2f}"]
        for sigma in sigmas:
            truth_low = cv2.GaussianBlur(case.background.astype(np.float32), (0, 0), sigma)  # (H, W, 3)
            texture = after.astype(np.float32) - _blur(after, sigma)  # the fill's own detail
            for alpha in alphas:
                fill = np.clip(truth_low[None] + alpha * texture + 0.5, 0, 255)
                video = np.where(revealed[..., None], fill, after).astype(np.uint8)
                e = pc.evaluate(case, video)
                cells.append(f"{e['revealed psnr']:.2f} / {e['sharpness']:.2f}")
        print(f"| {case.name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
