"""Images are bounded from their header, and big photos are planned at a working size
with the user's coordinates kept in original pixels."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from inputs_helpers import bounded, photo, run_main
from maskmotion.errors import InputError
from maskmotion.plan import (
    DEFAULT_LIMITS,
    ImageLimits,
    load_image,
    load_working_image,
    probe_image,
    resize_ids,
    scale_box,
    working_size,
)


def _png_claiming(path, width: int, height: int) -> None:
    """A PNG whose header says width x height but which holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_one_pixel_image_is_refused_with_exit_2(tmp_path, capsys):
    Image.new("RGB", (1, 1)).save(tmp_path / "one.png")
    code, err = run_main(capsys, "animate", tmp_path / "one.png", "--prompt", "x moves", "--box", "x=0,0,1,1",
                         "--renderer", "warp", "--drag", "x: 0,0 1,1", "--out", tmp_path / "o.mp4")  # fmt: skip
    assert code == 2 and len(err) == 1
    assert "1x1, too small" in err[0] and "at least 16" in err[0]


def test_header_over_the_pixel_limit_is_refused_before_decoding(tmp_path, capsys):
    _png_claiming(tmp_path / "huge.png", 40000, 30000)  # 1.2 gigapixels declared, a few bytes held
    with bounded(seconds=5, megabytes=50):
        code, err = run_main(capsys, "plan", tmp_path / "huge.png", "--prompt", "x moves", "--box", "x=0,0,9,9",
                             "--out", tmp_path / "o")  # fmt: skip
    assert code == 2 and len(err) == 1
    assert "40000x30000" in err[0] and "120 MP" in err[0] and "--max-pixels" in err[0]


def test_max_pixels_option_lowers_and_names_the_limit(tmp_path, capsys):
    photo(tmp_path / "p.jpg", 120, 180)
    code, err = run_main(capsys, "animate", tmp_path / "p.jpg", "--prompt", "x moves", "--box", "x=10,10,50,50",
                         "--drag", "x: 0,0 10,0", "--renderer", "warp", "--max-pixels", "10000",
                         "--out", tmp_path / "o.mp4")  # fmt: skip
    assert code == 2 and len(err) == 1 and "180x120 = 21,600 pixels" in err[0] and "--max-pixels 21600" in err[0]
    code, err = run_main(capsys, "render", tmp_path / "p.jpg", "--trajectory", tmp_path / "t.npz",
                         "--max-pixels", "10", "--out", tmp_path / "o.mp4")  # fmt: skip
    assert code == 2 and len(err) == 1 and "--max-pixels must be at least 256" in err[0]


def test_pillow_bomb_error_becomes_our_message(tmp_path):
    Image.new("RGB", (100, 100)).save(tmp_path / "a.png")
    with pytest.raises(InputError, match="limit of 1,000 pixels.*--max-pixels"):
        load_image(tmp_path / "a.png", limits=ImageLimits(max_pixels=1000))  # Pillow's own error: 2x over
    with pytest.raises(InputError, match="100x100 = 10,000 pixels, above the limit of 9,000 pixels"):
        probe_image(tmp_path / "a.png", limits=ImageLimits(max_pixels=9000))
    assert DEFAULT_LIMITS.max_pixels == 120_000_000 and DEFAULT_LIMITS.min_side == 16


def test_working_size_and_reduced_loading(tmp_path):
    assert working_size((4000, 6000), 512) == (683, 1024)
    assert working_size((4000, 6000), 1024) == (1365, 2048)
    assert working_size((600, 900), 512) == (600, 900)  # small images stay as they are
    photo(tmp_path / "big.jpg", 2000, 3000)
    with bounded(seconds=5, megabytes=60):  # full size would be 18 MB of RGB and more to decode
        image, source = load_working_image(tmp_path / "big.jpg", 512)
    assert source == (2000, 3000) and image.shape == (683, 1024, 3)
    full = np.asarray(Image.open(tmp_path / "big.jpg").resize((1024, 683), Image.Resampling.LANCZOS))
    assert np.abs(image.astype(int) - full).mean() < 3  # draft decoding looks like the full decode shrunk
    with pytest.raises(InputError, match="only shrinking"):
        load_image(tmp_path / "big.jpg", size=(4000, 6000))


def test_reduced_loading_keeps_exif_orientation_and_alpha(tmp_path):
    img = np.zeros((200, 400, 3), np.uint8)
    img[:, :200] = (255, 0, 0)
    pil = Image.fromarray(img)
    exif = pil.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    pil.save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    assert probe_image(tmp_path / "r.jpg").size == (400, 200)
    out = load_image(tmp_path / "r.jpg", size=(100, 50))
    assert out.shape == (100, 50, 3) and out[10, 25, 0] > 200 and out[-10, 25, 0] < 60
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :32, 3] = 255
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png", size=(32, 32))
    assert tuple(out[5, 3]) == (255, 0, 0) and tuple(out[5, 28]) == (255, 255, 255)


def test_boxes_and_ids_scale_to_the_working_image():
    assert scale_box((30, 60, 90, 120), (2000, 3000), (200, 300)) == (3, 6, 9, 12)
    assert scale_box((0, 0, 1, 1), (2000, 3000), (200, 300)) == (0, 0, 1, 1)  # keeps a pixel
    with pytest.raises(InputError, match="outside the 3000x2000 image"):
        scale_box((0, 0, 3001, 10), (2000, 3000), (200, 300), "dog")
    ids = np.zeros((40, 60), np.uint8)
    ids[10:20, 30:50] = 3
    small = resize_ids(ids, (20, 30))
    assert small.dtype == np.uint8 and set(np.unique(small)) == {0, 3} and small[7, 20] == 3


def test_big_photo_animates_with_coordinates_in_original_pixels(tmp_path, capsys):
    box = photo(tmp_path / "big.jpg", 1600, 2400)  # working size 683x1024
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    out = tmp_path / "o.mp4"
    code, err = run_main(capsys, "animate", tmp_path / "big.jpg", "--prompt", "the disc slides right", "--box",
                         f"disc={x0},{y0},{x1},{y1}", "--segment", "box", "--drag", f"disc: {cx},{cy} {cx + 600},{cy}",
                         "--renderer", "warp", "--frames", "4", "--max-size", "240", "-q", "--out", out)  # fmt: skip
    assert code == 0, err
    record = json.loads((tmp_path / "o.plan.json").read_text())
    assert record["inputs"]["image_size"] == [1600, 2400]
    assert record["inputs"]["working_size"] == [683, 1024]
    from maskmotion.trajectory import MaskTrajectory

    traj = MaskTrajectory.load(tmp_path / "o.trajectory.npz")
    assert traj.size == (160, 240)
    ys, xs = np.nonzero(traj.ids[0])
    f = 240 / 2400
    assert abs(xs.min() - x0 * f) <= 2 and abs(xs.max() - x1 * f) <= 2 and abs(ys.min() - y0 * f) <= 2
    ys, xs = np.nonzero(traj.ids[-1])
    assert abs(xs.mean() - (cx + 600) * f) <= 2  # the drag, given in original pixels, moved it 60 px
    # render takes the same original image and the plan made at the working size
    code, err = run_main(capsys, "render", tmp_path / "big.jpg", "--trajectory", tmp_path / "o.trajectory.npz",
                         "--plan", tmp_path / "o.plan.json", "--renderer", "warp", "-q", "--out", tmp_path / "r.mp4")  # fmt: skip
    assert code == 0, err
