"""The photo renderer against the warp preview on composites whose truth is known.

    python benchmarks/photo_composites.py [--frames 12] [--strips docs/images/photo_composites]
                                          [--megapixel] [--json out.json]

Real objects are cut, at run time, out of photos that scikit-image ships (nothing is
downloaded): the coffee cup, the astronaut's head and the shuttle model behind her, the
rocket on its pad (each from a box by GrabCut and closed-form matting, so each carries a
soft alpha and its colour with the old background taken out), scikit-image's logo (whose
alpha ships with it) and the cat's face in "chelsea" (a hand-drawn feathered ellipse).
They are moved along known paths over other photos (grass, gravel and brick textures,
the cat, the coffee table, the astronaut) and composited with their alpha: the true video.
So the true background behind every object, the pixels each frame uncovers and the true
object pixels are all known.

Both renderers get the same first frame, the same hard first-frame ids (alpha >= 0.5,
nearer objects over farther ones), the same mask trajectory and the true tracks, so the
figures compare rendering alone, not motion fitting:

- before: `warp_preview` (the stage-2 model's condition; what ``--renderer warp`` drew
  until the photo renderer);
- after: `photo_render` (what `WarpVideo` draws now: matted layers, one PatchMatch fill).

Reported per case: PSNR / SSIM on the revealed background (pixels some object covered in
frame 0 and none covers now), on the objects plus a 3-pixel band around them, and on whole
frames, pooled over frames 1..T-1; sharpness of the revealed background (mean gradient
magnitude there over the truth's); seconds per clip. ``--megapixel`` also times
`maskmotion animate` end to end on a 12-MP photo with two boxed objects (drags, warp).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from maskmotion.plan.masks import refine_box
from maskmotion.render import photo_render, warp_preview
from maskmotion.render.inpaint import DETAIL
from maskmotion.render.matting import edge_band, estimate_alpha, estimate_foreground, trimap_from_mask
from maskmotion.trajectory import MaskTrajectory, MotionTrack, TrajectoryObject

try:
    from skimage import data
    from skimage.metrics import structural_similarity
except ImportError:  # pragma: no cover - the dev extra ships it
    raise SystemExit("this benchmark needs scikit-image (pip install -e '.[dev]')") from None

ROOT = Path(__file__).resolve().parents[1]
SIZE = (384, 512)  # (H, W) of every clip: the default output size of a 4:3 photo
BAND = 3  # pixels around the objects counted with them


# ---- objects with a known alpha --------------------------------------------------------
@dataclass
class Sprite:
    """An object cut out of a photo: straight colour (H, W, 3) float32 and alpha (H, W)."""

    name: str
    colour: np.ndarray
    alpha: np.ndarray

    def scaled(self, width: int) -> "Sprite":
        h, w = self.alpha.shape
        size = (width, max(1, round(h * width / w)))
        prem = cv2.resize(self.colour * self.alpha[..., None], size, interpolation=cv2.INTER_AREA)
        alpha = np.clip(cv2.resize(self.alpha, size, interpolation=cv2.INTER_AREA), 0, 1)
        colour = np.where(alpha[..., None] > 1e-3, prem / np.maximum(alpha[..., None], 1e-3), 0)
        return Sprite(self.name, np.clip(colour, 0, 255).astype(np.float32), alpha.astype(np.float32))


def _cut(name: str, image: np.ndarray, box: tuple[int, int, int, int]) -> Sprite:
    """GrabCut + matting from a box, cropped to the object."""
    hard = refine_box(image, box)
    assert hard is not None, name
    alpha = estimate_alpha(image, trimap_from_mask(hard, edge_band(image.shape[:2])))
    colour = estimate_foreground(image, alpha)
    ys, xs = np.nonzero(alpha > 0.01)
    crop = np.s_[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return Sprite(name, colour[crop], alpha[crop])


def _ellipse(name: str, image: np.ndarray, centre, axes, feather: float) -> Sprite:
    """A hand-drawn feathered ellipse: alpha falls from 1 to 0 over ``feather`` pixels."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((xx - centre[0]) / axes[0], (yy - centre[1]) / axes[1])
    alpha = np.clip((1 - r) * min(axes) / feather + 0.5, 0, 1).astype(np.float32)
    ys, xs = np.nonzero(alpha > 0)
    crop = np.s_[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return Sprite(name, image[crop].astype(np.float32), alpha[crop])


def sprites() -> dict[str, Sprite]:
    logo = data.logo()
    return {
        "cup": _cut("cup", data.coffee(), (70, 25, 530, 385)),
        "head": _cut("head", data.astronaut(), (140, 10, 320, 200)),
        "shuttle": _cut("shuttle", data.astronaut(), (350, 0, 470, 250)),
        "rocket": _cut("rocket", data.rocket(), (290, 90, 350, 420)),
        "logo": Sprite("logo", logo[..., :3].astype(np.float32), logo[..., 3].astype(np.float32) / 255.0),
        "cat face": _ellipse("cat face", data.chelsea(), (225, 150), (125, 105), 6.0),
    }


def _fit(image: np.ndarray) -> np.ndarray:
    """A photo (grey ones as RGB) centre-cropped to 4:3 and resized to SIZE."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    h, w = image.shape[:2]
    target = SIZE[1] / SIZE[0]
    if w / h > target:
        cw = round(h * target)
        image = image[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = round(w / target)
        image = image[(h - ch) // 2 : (h - ch) // 2 + ch]
    return cv2.resize(np.ascontiguousarray(image), (SIZE[1], SIZE[0]), interpolation=cv2.INTER_AREA)


# ---- a case: objects on known paths over a background ---------------------------------
@dataclass
class Placed:
    sprite: Sprite
    xy: tuple[int, int]  # top-left in frame 0
    path: list[tuple[float, float, float, float, float]]  # (dx, dy, sx, sy, angle) per frame


@dataclass
class Case:
    name: str
    background: np.ndarray
    objects: list[Placed]  # back to front
    notes: str = ""
    truth: np.ndarray = field(init=False)
    cover: np.ndarray = field(init=False)  # (T, H, W) union alpha of the objects
    trajectory: MaskTrajectory = field(init=False)
    tracks: dict[int, MotionTrack] = field(init=False)

    def build(self) -> "Case":
        h, w = SIZE
        frames = len(self.objects[0].path)
        truth = np.repeat(self.background.astype(np.float32)[None], frames, axis=0)
        cover = np.zeros((frames, h, w), np.float32)
        ids = np.zeros((frames, h, w), np.uint8)
        self.tracks = {}
        for k, obj in enumerate(self.objects, start=1):
            sh, sw = obj.sprite.alpha.shape
            x, y = obj.xy
            layer = np.zeros((h, w, 4), np.float32)
            # The sprite may stick out of the frame: paste the part inside.
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + sw, w), min(y + sh, h)
            a = obj.sprite.alpha[y0 - y : y1 - y, x0 - x : x1 - x]
            layer[y0:y1, x0:x1, :3] = obj.sprite.colour[y0 - y : y1 - y, x0 - x : x1 - x] * a[..., None]
            layer[y0:y1, x0:x1, 3] = a
            hard0 = layer[..., 3] >= 0.5
            ys, xs = np.nonzero(hard0)
            track = MotionTrack.from_array(np.array(obj.path, float))
            self.tracks[k] = track
            mats = track.matrices((float(xs.mean()), float(ys.mean())))
            for t in range(frames):
                moved = cv2.warpAffine(layer, mats[t], (w, h), flags=cv2.INTER_LINEAR)
                alpha = moved[..., 3]
                truth[t] = moved[..., :3] + (1 - alpha[..., None]) * truth[t]
                cover[t] = 1 - (1 - cover[t]) * (1 - alpha)
                ids[t][alpha >= 0.5] = k
        self.truth = np.clip(truth + 0.5, 0, 255).astype(np.uint8)
        self.cover = cover
        objects = [TrajectoryObject(k, o.sprite.name, "") for k, o in enumerate(self.objects, start=1)]
        self.trajectory = MaskTrajectory(ids, objects, tracks=self.tracks)
        return self


def _slide(frames: int, dx: float, dy: float, turn: float = 0.0, grow: float = 0.0):
    return [(dx * t / (frames - 1), dy * t / (frames - 1), 1 + grow * t / (frames - 1),
             1 + grow * t / (frames - 1), turn * t / (frames - 1)) for t in range(frames)]  # fmt: skip


def cases(frames: int) -> list[Case]:
    s = sprites()
    grass, gravel, brick = _fit(data.grass()), _fit(data.gravel()), _fit(data.brick())
    return [
        Case("cup over grass", grass, [Placed(s["cup"].scaled(300), (40, 90), _slide(frames, 170, -20))],
             "a quarter of the frame uncovered"),
        Case("shuttle over the cat", _fit(data.chelsea()), [Placed(s["shuttle"].scaled(90), (80, 60), _slide(frames, 250, 60, turn=-20))]),
        Case("logo over brick", brick, [Placed(s["logo"].scaled(200), (40, 40), _slide(frames, 220, 120))]),
        Case("head over the coffee table", _fit(data.coffee()), [Placed(s["head"].scaled(170), (60, 120), _slide(frames, 230, -40, grow=0.1))]),
        Case("rocket over gravel", gravel, [Placed(s["rocket"].scaled(50), (120, 20), _slide(frames, 240, 30))]),
        Case("face behind logo, leaving; over the astronaut", _fit(data.astronaut()), [
            Placed(s["cat face"].scaled(170), (30, 110), _slide(frames, 500, 20)),
            Placed(s["logo"].scaled(150), (260, 150), _slide(frames, 0, 0)),
        ], "two objects: the face passes behind a still logo and leaves the frame"),  # fmt: skip
    ]


# ---- metrics ---------------------------------------------------------------------------
def _psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    if not mask.any():
        return float("nan")
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2)[mask].mean())
    return 10 * math.log10(255.0**2 / max(mse, 1e-10))


def _grad(img: np.ndarray) -> np.ndarray:
    g = img.astype(np.float64).mean(axis=2)
    return np.hypot(cv2.Sobel(g, cv2.CV_64F, 1, 0), cv2.Sobel(g, cv2.CV_64F, 0, 1))


def evaluate(case: Case, video: np.ndarray) -> dict[str, float]:
    t_frames = range(1, video.shape[0])
    footprint = case.cover[0] > 0.01
    k = np.ones((2 * BAND + 1, 2 * BAND + 1), np.uint8)
    revealed = np.stack([footprint & (case.cover[t] < 0.01) for t in range(video.shape[0])])
    band = np.stack([cv2.dilate((case.cover[t] > 0.01).astype(np.uint8), k).astype(bool) for t in range(video.shape[0])])
    ssim_maps = {t: structural_similarity(case.truth[t], video[t], channel_axis=2, data_range=255, full=True)[1].mean(axis=2)
                 for t in t_frames}  # fmt: skip
    sel = np.zeros_like(revealed)
    sel[1:] = True
    out = {}
    for region, mask in (("revealed", revealed & sel), ("object", band & sel), ("frame", sel)):
        out[f"{region} psnr"] = _psnr(video, case.truth, mask)
        vals = np.concatenate([ssim_maps[t][mask[t]] for t in t_frames])
        out[f"{region} ssim"] = float(vals.mean()) if vals.size else float("nan")
    mask = revealed & sel
    g_true = sum(_grad(case.truth[t])[mask[t]].sum() for t in t_frames)
    g_out = sum(_grad(video[t])[mask[t]].sum() for t in t_frames)
    out["sharpness"] = float(g_out / g_true) if g_true else float("nan")
    return out


def run_case(case: Case, detail: float = DETAIL) -> dict[str, dict[str, float]]:
    first = case.truth[0]
    results = {}
    for name, render in (
        ("before", lambda: warp_preview(first, case.trajectory, case.tracks)),
        ("after", lambda: photo_render(first, case.trajectory, case.tracks, detail=detail)),
    ):
        start = time.perf_counter()
        video = render()
        seconds = time.perf_counter() - start
        results[name] = {**evaluate(case, video), "seconds": seconds}
        results[name]["video"] = video  # type: ignore[assignment]
    return results


def strip(case: Case, results: dict, path: Path, width: int = 150) -> None:
    """Rows truth / before / after; columns frames 0, middle, last; small PNG."""
    t_last = case.truth.shape[0] - 1
    picks = [0, t_last // 2, t_last]
    rows = []
    for video in (case.truth, results["before"]["video"], results["after"]["video"]):
        tiles = [cv2.resize(video[t], (width, round(width * SIZE[0] / SIZE[1])), interpolation=cv2.INTER_AREA) for t in picks]
        rows.append(np.concatenate([np.pad(t, ((1, 1), (1, 1), (0, 0)), constant_values=255) for t in tiles], axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    # 256 colours keep the file small; the fills' texture stays visible.
    Image.fromarray(np.concatenate(rows, axis=0)).quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)


# ---- a 12-MP photo end to end --------------------------------------------------------
def megapixel(tmp: Path) -> dict[str, float]:
    """`maskmotion animate` on a 4000x3000 photo with two boxed objects (drags, warp
    renderer, default output size): wall seconds of the whole command, process start
    included."""
    s = sprites()
    h, w = 3000, 4000
    bg = cv2.resize(data.coffee(), (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    boxes = []
    for sprite, (x, y) in ((s["logo"].scaled(900), (500, 600)), (s["shuttle"].scaled(350), (2800, 900))):
        sh, sw = sprite.alpha.shape
        a = sprite.alpha[..., None]
        bg[y : y + sh, x : x + sw] = sprite.colour * a + (1 - a) * bg[y : y + sh, x : x + sw]
        boxes.append((x - 40, y - 40, x + sw + 40, y + sh + 40))
    photo = tmp / "big.jpg"
    Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8)).save(photo, quality=92)
    (tmp / "out").mkdir(exist_ok=True)
    (lx0, ly0, lx1, ly1), (sx0, sy0, sx1, sy1) = boxes
    cmd = [
        sys.executable, "-m", "maskmotion", "animate", str(photo), "--prompt", "the logo and the shuttle move",
        "--box", f"logo={lx0},{ly0},{lx1},{ly1}", "--box", f"shuttle={sx0},{sy0},{sx1},{sy1}",
        "--drag", f"logo: {(lx0 + lx1) // 2},{(ly0 + ly1) // 2} {(lx0 + lx1) // 2 + 900},{(ly0 + ly1) // 2 + 300}",
        "--drag", f"shuttle: {(sx0 + sx1) // 2},{(sy0 + sy1) // 2} {(sx0 + sx1) // 2 - 700},{(sy0 + sy1) // 2}",
        "--renderer", "warp", "--frames", "16", "--quiet", "--out", str(tmp / "out" / "big.mp4"),
    ]  # fmt: skip
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"animate failed on the 12-MP photo: {res.stderr.strip()}")
    return {"seconds": seconds, "megapixels": h * w / 1e6}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--strips", type=Path, help="write one before/after frame strip PNG per case here")
    p.add_argument("--megapixel", action="store_true", help="also time animate on a 12-MP photo")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--detail", type=float, default=DETAIL, help=f"texture share of the fill (default {DETAIL})")
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    report = {}
    header = ("| case | renderer | revealed PSNR / SSIM | object+edge PSNR / SSIM | frame PSNR / SSIM "
              "| sharpness | s / clip |")  # fmt: skip
    print(header)
    print("|" + " --- |" * 7)
    for case in cases(args.frames):
        case.build()
        res = run_case(case, args.detail)
        for name in ("before", "after"):
            r = res[name]
            print(
                f"| {case.name} | {name} | {r['revealed psnr']:.2f} / {r['revealed ssim']:.3f} | "
                f"{r['object psnr']:.2f} / {r['object ssim']:.3f} | {r['frame psnr']:.2f} / {r['frame ssim']:.3f} | "
                f"{r['sharpness']:.2f} | {r['seconds']:.2f} |",
                flush=True,
            )
        if args.strips:
            strip(case, res, args.strips / (case.name.split(",")[0].replace(" ", "_") + ".png"))
        report[case.name] = {n: {k: v for k, v in r.items() if k != "video"} for n, r in res.items()}
    if args.megapixel:
        with tempfile.TemporaryDirectory() as tmp:
            mp = megapixel(Path(tmp))
        print(f"\n12-MP photo, two objects, `maskmotion animate --renderer warp` end to end: {mp['seconds']:.1f} s")
        report["12-MP animate"] = mp
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
