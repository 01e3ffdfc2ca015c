"""Windows of T frames at a target frame rate, and reading just their frames.

A window is a list of source frame indices: ``start + round(i * source_fps / fps)``.
Frames are cropped to the output's aspect ratio (centred) and resized while they are
decoded, so a long HD clip never sits in memory whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ...video import VideoError


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    height: int
    width: int


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame count, rate and size from the container (counted by demuxing when the
    header has no count)."""
    import av  # lazy: PyAV is only needed once a video is opened

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path} holds no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0) or 24.0
            count = stream.frames or sum(1 for p in container.demux(stream) if p.size)
            return VideoInfo(int(count), fps, stream.codec_context.height, stream.codec_context.width)
    except VideoError:
        raise
    except Exception as exc:  # PyAV raises many types for unreadable files
        raise VideoError(f"cannot read video {path}: {exc}") from None


def plan_windows(
    info: VideoInfo, frames: int, fps: float, stride_s: float = 0.0, max_windows: int = 0, align: int = 1
) -> list[list[int]]:
    """Source frame indices of each window.

    ``stride_s``: seconds between window starts (0: back to back). ``align``: starts
    are multiples of it (SA-V masklets exist on every 4th frame). ``max_windows`` > 0
    keeps the first that many. A source slower than ``fps`` repeats no frames: its
    windows use every source frame (and say so by their indices).
    """
    step = max(1.0, info.fps / fps)
    span = (frames - 1) * step  # source frames from the first to the last of a window
    stride = stride_s * info.fps if stride_s > 0 else span + step
    out, start = [], 0.0
    while True:
        first = int(np.ceil(start / align) * align)
        indices = [first + round(i * step) for i in range(frames)]
        if indices[-1] >= info.frames:
            break
        out.append(indices)
        if max_windows and len(out) >= max_windows:
            break
        start = max(start + stride, first + 1)
    return out


def crop_box(height: int, width: int, aspect: float) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the centred crop of an H x W frame with width/height ``aspect``."""
    if width / height > aspect:
        w = max(1, round(height * aspect))
        x0 = (width - w) // 2
        return 0, height, x0, x0 + w
    h = max(1, round(width / aspect))
    y0 = (height - h) // 2
    return y0, y0 + h, 0, width


def work_size(info: VideoInfo, out_hw: tuple[int, int], min_side: int) -> tuple[int, int]:
    """The size tracking runs at: the output size scaled up until its short side is
    ``min_side`` (flow and colour models need pixels), never above the source crop."""
    h, w = out_hw
    y0, y1, x0, x1 = crop_box(info.height, info.width, w / h)
    scale = max(1.0, min_side / min(h, w))
    scale = min(scale, (y1 - y0) / h)
    return max(h, round(h * scale)), max(w, round(w * scale))


def read_frames(path: str | os.PathLike, indices: list[int], size: tuple[int, int]) -> np.ndarray:
    """(len(indices), H, W, 3) uint8: the given source frames, centre-cropped to the
    aspect of ``size`` = (H, W) and resized (area filter) as they are decoded."""
    import av  # lazy: PyAV is only needed once a video is opened

    path = Path(path)
    wanted = {}
    for k, i in enumerate(indices):
        wanted.setdefault(i, []).append(k)
    out = np.zeros((len(indices), size[0], size[1], 3), np.uint8)
    last = max(indices)
    found = 0
    try:
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i in wanted:
                    image = frame.to_ndarray(format="rgb24")
                    y0, y1, x0, x1 = crop_box(image.shape[0], image.shape[1], size[1] / size[0])
                    image = cv2.resize(image[y0:y1, x0:x1], (size[1], size[0]), interpolation=cv2.INTER_AREA)
                    for k in wanted[i]:
                        out[k] = image
                    found += len(wanted[i])
                if i >= last:
                    break
    except Exception as exc:  # PyAV raises many types for corrupt streams
        raise VideoError(f"cannot decode {path}: {exc}") from None
    if found < len(indices):
        raise VideoError(f"{path} ended before frame {last}; its header overstates its length")
    return out


def resize_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., H, W) ids resized to ``size`` by nearest neighbour at pixel centres (target
    pixel i samples source floor((i + 0.5) * H / size), as `MaskTrajectory.resize`
    does): a mask resized in two steps lands where one step puts it."""
    h, w = ids.shape[-2:]
    rows = np.minimum(((np.arange(size[0]) + 0.5) * h / size[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * w / size[1]).astype(np.int64), w - 1)
    return np.ascontiguousarray(ids[..., rows, :][..., cols])


def crop_resize_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., H, W) source-size ids centre-cropped to the aspect of ``size`` and resized (nearest)."""
    y0, y1, x0, x1 = crop_box(ids.shape[-2], ids.shape[-1], size[1] / size[0])
    return resize_ids(np.ascontiguousarray(ids[..., y0:y1, x0:x1]), size)
