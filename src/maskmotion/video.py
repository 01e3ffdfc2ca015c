"""Video and image files: H.264 MP4 through PyAV, GIF through Pillow, PNG frames.

Frames are always ``(T, H, W, 3)`` uint8 RGB numpy arrays. Every writer is atomic.
"""

from __future__ import annotations

import functools
import logging
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import InputError
from .files import atomic_dir, atomic_path

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".gif")
WRITE_SUFFIXES = (".mp4", ".gif")
#: Most decoded bytes `read_video` holds (T x H x W x 3) before it gives up: 1 GiB.
MAX_VIDEO_BYTES = 1 << 30


class VideoError(InputError):
    """A video file that cannot be read or written; the message names the fix."""


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise VideoError(f"frames must be (T, H, W, 3), got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise VideoError(
            f"frames must be uint8, got {frames.dtype}; convert with "
            "(x.clip(0, 1) * 255).round().astype(np.uint8)"
        )
    if frames.shape[0] == 0:
        raise VideoError("cannot write a video with no frames")
    return np.ascontiguousarray(frames)


def write_video(
    path: str | os.PathLike, frames: np.ndarray, fps: float = 8, crf: int = 12
) -> Path:
    """Write frames to ``path``: H.264 MP4 (yuv420p, plays in browsers) or GIF.

    ``crf`` is the H.264 quality (0 best, 51 worst); the low default keeps mask
    colours and small sprites crisp. Odd sizes are padded by one edge pixel, as
    yuv420p needs even width and height. The same frames give the same bytes in every run,
    and across machines with the same PyAV build (see `_x264_cpu_options`).
    """
    path = Path(path)
    frames = _check_frames(frames)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise VideoError(f"cannot write {path}: use one of {', '.join(WRITE_SUFFIXES)}")
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            _write_gif(tmp, frames, fps)
        else:
            _write_mp4(tmp, frames, fps, crf)
    return path


def _write_mp4(path: Path, frames: np.ndarray, fps: float, crf: int) -> None:
    import av  # lazy: only video files need PyAV; PNG and array paths start faster without it

    _, h, w, _ = frames.shape
    pad_h, pad_w = h % 2, w % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    rate = Fraction(fps).limit_denominator(1000)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = w + pad_w, h + pad_h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium", **_x264_cpu_options()}
        # One encoder thread: x264's output depends on its thread count, so this gives the
        # same file on every machine. On 2 busy cores a 1024x768, 49-frame clip took 1.8 s
        # on one thread or on x264's own choice alike.
        stream.codec_context.thread_count = 1
        for t, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = t  # frame t at t / fps, in the stream's 1/fps time base
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# x264's names for the instruction sets below AVX-512, with the /proc/cpuinfo flag of each.
_X264_SETS = (
    ("MMX2", "sse"), ("SSE", "sse"), ("SSE2", "sse2"), ("SSE2Fast", "sse2"), ("SSE3", "pni"),
    ("SSSE3", "ssse3"), ("SSE4.1", "sse4_1"), ("SSE4.2", "sse4_2"), ("AVX", "avx"), ("XOP", "xop"),
    ("FMA4", "fma4"), ("FMA3", "fma"), ("BMI1", "bmi1"), ("BMI2", "bmi2"), ("AVX2", "avx2"), ("LZCNT", "abm"),
)


@functools.cache
def _x264_cpu_options() -> dict[str, str]:
    """x264 options that keep it off AVX-512, on CPUs that have it.

    x264's AVX-512 code reads uninitialised memory (in its macroblock-tree pass: turning
    that off also avoids it, at up to twice the bytes), so the same frames gave files that
    differ by up to 17 levels after decoding, run to run: seen at 64, 192 and 320 pixels
    wide (the bundled 64x64 output among them), not at 128 or 256. With every set up to
    AVX2 the files are equal, as fast, and as small.
    Elsewhere (no AVX-512, or no /proc/cpuinfo to read) x264 picks its own code."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    flags = next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())
    if "avx512f" not in flags:
        return {}
    names = [name for name, flag in _X264_SETS if flag in flags]
    return {"x264-params": "asm=" + ",".join(names)}


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    # One palette for the whole clip, fitted on a subsample of frames, then a plain
    # nearest-colour mapping per frame (no dithering): far faster than per-frame
    # adaptive quantisation and free of palette flicker between frames.
    step = max(1, len(frames) // 8)
    sample = np.concatenate(list(frames[::step]), axis=0)  # (k*H, W, 3)
    palette_image = Image.fromarray(sample).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    images = [
        Image.fromarray(f).quantize(palette=palette_image, dither=Image.Dither.NONE) for f in frames
    ]
    duration = max(1, round(1000 / fps))
    images[0].save(
        path, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0
    )


def read_video(path: str | os.PathLike, max_bytes: int = MAX_VIDEO_BYTES) -> np.ndarray:
    """Read a video (MP4/MOV/AVI/MKV/WebM/GIF) as (T, H, W, 3) uint8 RGB; a video whose
    frames would take more than ``max_bytes`` is refused (frame size first, from the
    header, then as frames decode)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise VideoError(
            f"cannot read {path}: unsupported type {suffix or '(none)'}; "
            f"use one of {', '.join(VIDEO_SUFFIXES)}"
        )
    try:
        frames = _read_gif(path, max_bytes) if suffix == ".gif" else _read_av(path, max_bytes)
    except VideoError:
        raise
    except Exception as exc:  # decoder libraries raise many types for bad bytes
        raise VideoError(
            f"cannot read video {path}: the file is corrupt or not a {suffix[1:]} video ({exc})"
        ) from None
    if len(frames) == 0:
        raise VideoError(f"video {path} holds no frames; the file is empty or corrupt")
    return np.stack(frames)


def _too_big(path: Path, max_bytes: int) -> VideoError:
    return VideoError(
        f"video {path} decodes to more than {max_bytes / 2**20:,.0f} MiB of frames; use a shorter or smaller video"
    )


def _read_av(path: Path, max_bytes: int) -> list[np.ndarray]:
    import av  # lazy: only video files need PyAV; PNG and array paths start faster without it

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoError(f"{path} holds no video stream")
        stream = container.streams.video[0]
        if stream.codec_context.width * stream.codec_context.height * 3 > max_bytes:
            raise _too_big(path, max_bytes)
        frames, total = [], 0
        for f in container.decode(video=0):
            total += f.width * f.height * 3
            if total > max_bytes:
                raise _too_big(path, max_bytes)
            frames.append(f.to_ndarray(format="rgb24"))
        return frames


def _read_gif(path: Path, max_bytes: int) -> list[np.ndarray]:
    frames = []
    with Image.open(path) as im:
        count = getattr(im, "n_frames", 1)
        if im.size[0] * im.size[1] * 3 * count > max_bytes:
            raise _too_big(path, max_bytes)
        for i in range(count):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
    return frames


def video_fps(path: str | os.PathLike) -> float:
    """Frames per second of a video file (GIFs: from the first frame's duration)."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        with Image.open(path) as im:
            return 1000.0 / max(1, im.info.get("duration", 125))
    import av  # lazy: only video files need PyAV; PNG and array paths start faster without it

    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
        return float(rate) if rate else 8.0


def write_png(path: str | os.PathLike, image: np.ndarray | Image.Image) -> Path:
    """Write one image as PNG, atomically. Accepts (H, W, 3) / (H, W) uint8 or a PIL image."""
    path = Path(path)
    im = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    with atomic_path(path) as tmp:
        im.save(tmp, format="PNG")
    return path


def write_png_frames(folder: str | os.PathLike, frames: np.ndarray) -> Path:
    """Write frames as ``frame_0000.png`` ... into ``folder`` (replaced atomically)."""
    frames = _check_frames(frames)
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        for t, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp / f"frame_{t:04d}.png", format="PNG")
    return folder


def read_png_frames(folder: str | os.PathLike) -> np.ndarray:
    """Read ``frame_*.png`` from ``folder`` in name order as (T, H, W, 3) uint8."""
    folder = Path(folder)
    files = sorted(folder.glob("frame_*.png"))
    if not files:
        raise VideoError(f"no frame_*.png files in {folder}")
    frames = []
    for f in files:
        try:
            with Image.open(f) as im:
                frames.append(np.asarray(im.convert("RGB")))
        except Exception as exc:
            raise VideoError(f"cannot read frame {f}: {exc}") from None
    sizes = {fr.shape for fr in frames}
    if len(sizes) > 1:
        raise VideoError(f"frames in {folder} differ in size: {sorted(sizes)}; all must match")
    return np.stack(frames)
