import numpy as np
import pytest
from PIL import Image

from maskmotion.errors import InputError
from maskmotion.plan import ImageLimits, load_image
from maskmotion.trajectory import fit_to_model

# These tests are about pixel formats: tiny pictures, below the default minimum side.
ANY_SIZE = ImageLimits(min_side=1)


def _rgb(h=12, w=20):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", ["png", "bmp", "tiff", "webp"])
def test_lossless_formats_round_trip(tmp_path, suffix):
    img = _rgb()
    path = tmp_path / f"x.{suffix}"
    Image.fromarray(img).save(path, **({"lossless": True} if suffix == "webp" else {}))
    out = load_image(path, limits=ANY_SIZE)
    assert out.dtype == np.uint8 and out.shape == (12, 20, 3)
    assert np.array_equal(out, img)


def test_jpeg(tmp_path):
    img = np.full((16, 16, 3), (200, 30, 90), np.uint8)
    Image.fromarray(img).save(tmp_path / "x.jpg", quality=95)
    out = load_image(tmp_path / "x.jpg", limits=ANY_SIZE)
    assert out.shape == (16, 16, 3) and np.abs(out.astype(int) - img).max() < 8


def test_rgba_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (255, 0, 0)
    rgba[:, :2, 3] = 255  # left half opaque red
    rgba[:, 2:, 3] = 0  # right half transparent
    rgba[0, 0, 3] = 128
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png", limits=ANY_SIZE)
    assert (out[1, 0] == (255, 0, 0)).all()
    assert (out[:, 2:] == 255).all()
    assert tuple(out[0, 0]) == (255, 127, 127)
    la = Image.fromarray(np.stack([np.full((3, 3), 0, np.uint8), np.zeros((3, 3), np.uint8)], -1), mode="LA")
    la.save(tmp_path / "la.png")
    assert (load_image(tmp_path / "la.png", limits=ANY_SIZE) == 255).all()


def test_palette_with_transparency(tmp_path):
    im = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), mode="P")
    im.putpalette([0, 0, 255, 0, 255, 0] + [0] * 762)
    im.save(tmp_path / "p.png", transparency=0)
    out = load_image(tmp_path / "p.png", limits=ANY_SIZE)
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[0, 1]) == (0, 255, 0)
    im.save(tmp_path / "p.gif")
    assert tuple(load_image(tmp_path / "p.gif", limits=ANY_SIZE)[0, 0]) == (0, 0, 255)


def test_greyscale_16bit_and_float(tmp_path):
    grey = np.array([[0, 128], [255, 7]], np.uint8)
    Image.fromarray(grey, mode="L").save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png", limits=ANY_SIZE)
    assert out.shape == (2, 2, 3) and (out[..., 0] == grey).all() and (out[..., 2] == grey).all()
    deep = np.array([[0, 65535], [32896, 257]], np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    assert load_image(tmp_path / "d.png", limits=ANY_SIZE)[..., 0].tolist() == [[0, 255], [128, 1]]
    Image.fromarray(np.array([[0.0, 1.0], [0.5, 0.25]], np.float32), mode="F").save(tmp_path / "f.tiff")
    assert load_image(tmp_path / "f.tiff", limits=ANY_SIZE)[..., 0].tolist() == [[0, 255], [128, 64]]
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "b.png")
    assert load_image(tmp_path / "b.png", limits=ANY_SIZE)[..., 1].tolist() == [[255, 0]]


def test_exif_orientation(tmp_path):
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, :10] = (255, 0, 0)  # red left half of a landscape picture
    pil = Image.fromarray(img)
    exif = pil.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    pil.save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    out = load_image(tmp_path / "r.jpg", limits=ANY_SIZE)
    assert out.shape == (20, 10, 3)  # upright: now portrait
    assert out[2, 5, 0] > 200 and out[-3, 5, 0] < 60  # red on top after the turn


def test_cmyk(tmp_path):
    Image.new("CMYK", (3, 2), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    out = load_image(tmp_path / "c.jpg", limits=ANY_SIZE)
    assert out.shape == (2, 3, 3) and out[0, 0, 0] > 200 and out[0, 0, 1] < 60


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_image(tmp_path / "none.png")
    with pytest.raises(InputError, match="not a file"):
        load_image(tmp_path)
    (tmp_path / "junk.png").write_bytes(b"definitely not a png")
    with pytest.raises(InputError, match="not an image or corrupt"):
        load_image(tmp_path / "junk.png")
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt"):
        load_image(tmp_path / "cut.png")


# ---- fitting --------------------------------------------------------------------------
def test_fit_wide_image_pads_top_and_bottom():
    img = np.zeros((30, 60, 3), np.uint8)
    img[:, :30] = (255, 0, 0)
    img[:, 30:] = (0, 0, 255)
    ids = np.zeros((30, 60), np.uint8)
    ids[5:25, 5:20] = 1
    ids[10:20, 40:55] = 2
    fitted, masks, fmap = fit_to_model(img, ids, 64)
    assert fitted.shape == (64, 64, 3) and masks.shape == (64, 64) and masks.dtype == np.uint8
    assert fmap.size == (64, 64) and (fmap.scaled_height, fmap.scaled_width) == (32, 64)
    assert fmap.canvas.top == 16 and fmap.canvas.left == 0
    assert (masks[:16] == 0).all() and (masks[48:] == 0).all()
    assert set(np.unique(masks)) == {0, 1, 2}
    assert (fitted[0, :20] == (255, 0, 0)).all() and (fitted[-1, -20:] == (0, 0, 255)).all()  # edge padding
    black, _, _ = fit_to_model(img, None, 64, pad="black")
    assert (black[:16] == 0).all()
    # back to the input's aspect ratio, and to its size
    back = fmap.restore(masks)
    assert back.shape == (32, 64)
    full = fmap.restore(masks, to_input_size=True)
    assert full.shape == (30, 60) and set(np.unique(full)) == {0, 1, 2}
    assert (full == ids).mean() > 0.95
    video = np.stack([fitted] * 3)  # (T, H, W, 3)
    assert fmap.restore(video).shape == (3, 32, 64, 3)
    assert fmap.restore(video, to_input_size=True).shape == (3, 30, 60, 3)
    ids_video = np.stack([masks] * 64)  # (T, H, W) with T == H == W
    assert fmap.restore(ids_video).shape == (64, 32, 64)


def test_fit_tall_image_and_non_square_model():
    img = _rgb(100, 40)
    fitted, masks, fmap = fit_to_model(img, None, (32, 48))
    assert masks is None and fitted.shape == (32, 48, 3)
    assert (fmap.scaled_height, fmap.scaled_width) == (32, 13) and fmap.canvas.left == 17
    assert fmap.restore(fitted).shape == (32, 13, 3)


def test_fit_upscales_small_images():
    img = _rgb(8, 16)
    fitted, _, fmap = fit_to_model(img, None, 64)
    assert (fmap.scaled_height, fmap.scaled_width) == (32, 64)
    assert fitted.dtype == np.uint8


def test_fit_errors():
    img = _rgb(30, 60)
    with pytest.raises(InputError, match=r"masks are 30x20 \(WxH\) but the image is 60x30"):
        fit_to_model(img, np.zeros((20, 30), np.uint8), 64)
    tiny = np.zeros((30, 60), np.uint8)
    tiny[5, 5] = 1
    tiny[10:20, 10:30] = 2
    with pytest.raises(InputError, match=r"object id\(s\) \[1\] are too small"):
        fit_to_model(img, tiny, 8)
    with pytest.raises(InputError, match="pad must be"):
        fit_to_model(img, None, 8, pad="mirror")
    with pytest.raises(InputError, match="positive"):
        fit_to_model(img, None, 0)
    _, _, fmap = fit_to_model(img, None, 16)
    with pytest.raises(InputError, match="not on the 16x16 model canvas"):
        fmap.restore(np.zeros((8, 8), np.uint8))
