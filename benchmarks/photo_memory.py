"""Peak memory and wall time of `maskmotion animate --renderer warp` on big photos.

    python benchmarks/photo_memory.py [--megapixels 1,12,40] [--formats jpg,png] [--keep DIR]

Synthetic photo-like pictures (a smooth two-colour gradient, sensor-like noise, a few
soft-edged shapes, so JPEG and PNG files are about as large as a camera's) are written
to a temporary folder at each size (3:2, landscape), then each is animated by a fresh
`maskmotion animate` process with one ``--box`` around the largest shape, the bundled
model for stage 1 and the warp renderer, at the default ``--max-size`` 512. The peak
resident set of that process (``os.wait4``'s ``ru_maxrss``) and its wall time are
printed as a Markdown table. The goal: a 40-MP photo in at most 30 s and 3 GB on a
2-core machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_photo(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A photo-like (H, W, 3) uint8 picture and the box x0,y0,x1,y1 of its main shape.

    Built in bands of rows so a 100-MP picture needs little more memory than itself."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.uint8)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    top, bottom = np.array([70, 120, 190], np.float32), np.array([150, 130, 90], np.float32)
    band = 1024
    for y0 in range(0, height, band):
        y1 = min(height, y0 + band)
        y = np.linspace(y0 / height, y1 / height, y1 - y0, endpoint=False, dtype=np.float32)[:, None, None]
        base = top * (1 - y) + bottom * y + 25.0 * np.sin(6.0 * x + 3.0 * y)
        noise = rng.normal(0.0, 6.0, (y1 - y0, width, 3)).astype(np.float32)
        img[y0:y1] = np.clip(base + noise, 0, 255).astype(np.uint8)
    s = min(height, width)
    shapes = [
        ("ellipse", (int(0.55 * width), int(0.55 * height)), (int(0.16 * s), int(0.12 * s)), (200, 60, 40)),
        ("circle", (int(0.22 * width), int(0.30 * height)), (int(0.08 * s),) * 2, (240, 220, 60)),
        ("ellipse", (int(0.80 * width), int(0.25 * height)), (int(0.06 * s), int(0.10 * s)), (40, 160, 80)),
    ]
    for _, centre, axes, colour in shapes:
        cv2.ellipse(img, centre, axes, 0, 0, 360, colour, -1, lineType=cv2.LINE_AA)
    (cx, cy), (ax, ay) = shapes[0][1], shapes[0][2]
    pad = int(0.03 * s)
    box = (max(0, cx - ax - pad), max(0, cy - ay - pad), min(width, cx + ax + pad), min(height, cy + ay + pad))
    return img, box


def write_photo(folder: Path, megapixels: float, fmt: str) -> tuple[Path, tuple[int, int, int, int]]:
    width = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    height = int(round(width / 1.5))
    img, box = make_photo(height, width)
    path = folder / f"photo_{megapixels:g}mp.{fmt}"
    options = {"quality": 90} if fmt == "jpg" else {"compress_level": 6}
    Image.fromarray(img).save(path, **options)
    return path, box


def run_animate(image: Path, box: tuple[int, int, int, int], out: Path) -> tuple[float, float, int]:
    """(seconds, peak resident GiB, exit code) of one `maskmotion animate` process."""
    cmd = [
        sys.executable, "-m", "maskmotion", "animate", str(image), "--prompt", "the red ball rolls to the right",
        "--box", "ball=" + ",".join(str(v) for v in box), "--renderer", "warp", "--device", "cpu", "-q",
        "--out", str(out),
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    if proc.returncode:
        print(f"{image.name}: exit {proc.returncode}: {err.splitlines()[-1] if err else ''}", file=sys.stderr)
    return seconds, usage.ru_maxrss / 2**20, proc.returncode  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", default="1,12,40", help="comma-separated sizes (default 1,12,40)")
    parser.add_argument("--formats", default="jpg,png", help="comma-separated: jpg, png (default both)")
    parser.add_argument("--keep", type=Path, help="write the pictures and videos here instead of a temporary folder")
    args = parser.parse_args()
    sizes = [float(v) for v in args.megapixels.split(",") if v.strip()]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for mp in sizes:
            for fmt in formats:
                image, box = write_photo(folder, mp, fmt)
                with Image.open(image) as im:
                    w, h = im.size
                seconds, gib, code = run_animate(image, box, folder / f"{image.stem}_{fmt}.mp4")
                rows.append((fmt.upper(), f"{w}x{h}", f"{w * h / 1e6:.0f}", f"{image.stat().st_size / 2**20:.1f}",
                             f"{seconds:.1f}", f"{gib:.2f}", "ok" if code == 0 else f"exit {code}"))  # fmt: skip
                print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    print("| format | size | MP | file MiB | wall s | peak RSS GiB | result |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
