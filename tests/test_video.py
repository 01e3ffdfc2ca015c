import subprocess
import sys

import numpy as np
import pytest

from maskmotion.video import (
    VideoError,
    read_png_frames,
    read_video,
    video_fps,
    write_png,
    write_png_frames,
    write_video,
)


def moving_square(t=12, h=48, w=64):
    frames = np.zeros((t, h, w, 3), np.uint8)
    frames[..., 2] = np.linspace(0, 200, w, dtype=np.uint8)  # gradient background
    for i in range(t):
        frames[i, 10:26, 4 + 3 * i : 20 + 3 * i] = (230, 40, 40)
    return frames


def psnr(a, b):
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * np.log10(255**2 / max(mse, 1e-10))


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_write_read_round_trip(tmp_path, suffix):
    frames = moving_square()
    path = write_video(tmp_path / f"v{suffix}", frames, fps=10)
    back = read_video(path)
    assert back.shape == frames.shape and back.dtype == np.uint8
    assert psnr(back, frames) > 30
    assert abs(video_fps(path) - 10) < 0.5


def test_mp4_is_h264_yuv420p(tmp_path):
    import av

    path = write_video(tmp_path / "v.mp4", moving_square())
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.format.name == "yuv420p"


def test_odd_sizes_are_padded_to_even(tmp_path):
    frames = moving_square(h=31, w=45)
    back = read_video(write_video(tmp_path / "odd.mp4", frames))
    assert back.shape[1:3] == (32, 46)
    assert psnr(back[:, :31, :45], frames) > 25


def test_reads_avi(tmp_path):
    import av

    frames = moving_square()
    path = tmp_path / "clip.avi"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mjpeg", rate=8)
        s.width, s.height, s.pix_fmt = 64, 48, "yuvj420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    back = read_video(path)
    assert back.shape == frames.shape and psnr(back, frames) > 25


def test_png_frames_round_trip_is_exact(tmp_path):
    frames = moving_square()
    assert np.array_equal(read_png_frames(write_png_frames(tmp_path / "f", frames)), frames)
    write_png(tmp_path / "one.png", frames[0])
    assert (tmp_path / "one.png").stat().st_size > 0


def test_bad_files_fail_clearly(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        read_video(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(VideoError, match="corrupt"):
        read_video(junk)
    good = write_video(tmp_path / "good.mp4", moving_square())
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(VideoError):
        read_video(cut)
    (tmp_path / "x.xyz").write_bytes(b"1")
    with pytest.raises(VideoError, match="unsupported"):
        read_video(tmp_path / "x.xyz")
    with pytest.raises(VideoError, match="uint8"):
        write_video(tmp_path / "f.mp4", moving_square().astype(np.float32))
    with pytest.raises(VideoError, match="use one of"):
        write_video(tmp_path / "f.webm", moving_square())


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    import maskmotion.video as video

    def boom(*a, **k):
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(video, "_write_mp4", boom)
    with pytest.raises(RuntimeError):
        write_video(tmp_path / "out.mp4", moving_square())
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_video(tmp_path / "no" / "out.mp4", moving_square())


_WRITE_AFTER_DIRTY_HEAP = """
import ctypes, sys
import numpy as np
from maskmotion.video import write_video
# Fill and free heap blocks with one byte value per seed, so that memory an encoder
# reads without initialising differs between the two processes.
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
rng = np.random.default_rng(int(sys.argv[2]))
blocks = []
for _ in range(2000):
    size = int(rng.integers(16, 200_000))
    block = libc.malloc(size)
    ctypes.memset(block, int(rng.integers(1, 255)), size)
    blocks.append(block)
for block in blocks:
    libc.free(block)
frames = np.load(sys.argv[1])
write_video(sys.argv[3], frames, fps=8)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="dirties the heap through glibc")
@pytest.mark.parametrize("scale", [1, 3])
def test_same_frames_give_the_same_file_whatever_the_heap_held(tmp_path, scale):
    """A sprites clip at 64 and 192 pixels wide (not multiples of 128, where x264's
    AVX-512 code read uninitialised memory): processes whose heaps held different bytes
    write identical files."""
    from maskmotion.data.sprites import generate_scene

    frames = generate_scene(3).video.repeat(scale, axis=1).repeat(scale, axis=2)  # (T, H, W, 3)
    np.save(tmp_path / "frames.npy", frames)
    script = tmp_path / "write.py"
    script.write_text(_WRITE_AFTER_DIRTY_HEAP)
    outputs = set()
    for seed in (1, 2, 3):
        out = tmp_path / f"v{seed}.mp4"
        done = subprocess.run([sys.executable, script, tmp_path / "frames.npy", str(seed), out], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outputs.add(out.read_bytes())
    assert len(outputs) == 1
