import numpy as np
import pytest
from PIL import Image

from maskmotion.data.sprites import SpritesConfig, generate_scene
from maskmotion.errors import InputError
from maskmotion.plan import (
    BoxHint,
    ObjectHint,
    ObjectRequest,
    first_frame_objects,
    grabcut_mask,
    mask_from_png,
    masks_from_boxes,
    masks_from_sam2,
    objects_for_boxes,
    objects_for_mask,
    parse_box_arg,
    parse_object_arg,
    plan_scene,
)
from maskmotion.trajectory import PALETTE, save_id_png


# ---- command-line strings -------------------------------------------------------------
@pytest.mark.parametrize(
    "text, hint",
    [
        ("dog: the black dog jumps", ObjectHint("dog", "the black dog jumps")),
        ("  red crescent :the crescent rises: fast ", ObjectHint("red crescent", "the crescent rises: fast")),
        ("dog", ObjectHint("dog", "")),
        ("dog:", ObjectHint("dog", "")),
    ],
)
def test_parse_object_arg(text, hint):
    assert parse_object_arg(text) == hint


def test_parse_object_arg_errors():
    with pytest.raises(InputError, match=r"--object ': jumps' has no name"):
        parse_object_arg(": jumps")


def test_parse_box_arg():
    assert parse_box_arg("dog=10,20,110,140") == BoxHint("dog", (10, 20, 110, 140))
    assert parse_box_arg("big dog = 1, 2, 3, 4") == BoxHint("big dog", (1, 2, 3, 4))
    assert parse_box_arg("a=b=0,0,1,1").name == "a=b"


@pytest.mark.parametrize(
    "text, message",
    [
        ("10,20,30,40", "must look like NAME=x0,y0,x1,y1"),
        ("=1,2,3,4", "must look like NAME"),
        ("dog=1,2,3", "not four integers"),
        ("dog=1.5,2,3,4", "not four integers"),
        ("dog=a,b,c,d", "not four integers"),
        ("dog=30,2,10,4", "x1 > x0"),
        ("dog=1,40,10,4", "x1 > x0 and y1 > y0"),
    ],
)
def test_parse_box_arg_errors(text, message):
    with pytest.raises(InputError) as info:
        parse_box_arg(text)
    assert message in str(info.value) and repr(text) in str(info.value)


# ---- mask PNGs ------------------------------------------------------------------------
def _id_map():
    ids = np.zeros((20, 30), np.uint8)
    ids[2:8, 2:8] = 1
    ids[10:18, 15:25] = 3
    return ids


def test_mask_from_id_png_palette_and_rgb(tmp_path):
    ids = _id_map()
    save_id_png(tmp_path / "p.png", ids)  # palette PNG
    assert np.array_equal(mask_from_png(tmp_path / "p.png", (20, 30)), ids)
    Image.fromarray(ids, mode="L").save(tmp_path / "g.png")  # greyscale values = ids
    assert np.array_equal(mask_from_png(tmp_path / "g.png", (20, 30)), ids)
    Image.fromarray(PALETTE[ids]).save(tmp_path / "c.png")  # RGB drawn in palette colours
    assert np.array_equal(mask_from_png(tmp_path / "c.png", (20, 30)), ids)


def test_mask_png_errors(tmp_path):
    ids = _id_map()
    save_id_png(tmp_path / "p.png", ids)
    with pytest.raises(InputError, match=r"mask .* is 30x20 \(WxH\) but the image is 60x40"):
        mask_from_png(tmp_path / "p.png", (40, 60))
    with pytest.raises(InputError, match="does not exist"):
        mask_from_png(tmp_path / "none.png", (20, 30))
    save_id_png(tmp_path / "empty.png", np.zeros((20, 30), np.uint8))
    with pytest.raises(InputError, match="all background"):
        mask_from_png(tmp_path / "empty.png", (20, 30))
    Image.fromarray(np.full((20, 30, 3), 77, np.uint8)).save(tmp_path / "odd.png")
    with pytest.raises(InputError, match="not in the trajectory palette"):
        mask_from_png(tmp_path / "odd.png", (20, 30))


def test_objects_for_mask():
    ids = _id_map()
    assert objects_for_mask(ids, []) == [ObjectRequest(1, "object_1"), ObjectRequest(3, "object_3")]
    got = objects_for_mask(ids, [ObjectHint("dog", "the dog jumps"), ObjectHint("cat")])
    assert got == [ObjectRequest(1, "dog", "the dog jumps"), ObjectRequest(3, "cat")]
    with pytest.raises(InputError, match=r"holds 2 object\(s\) \(ids \[1, 3\]\) but 1 --object"):
        objects_for_mask(ids, [ObjectHint("dog")])


def test_objects_for_boxes():
    boxes = [BoxHint("dog", (0, 0, 5, 5)), BoxHint("cat", (5, 5, 9, 9)), BoxHint("dog", (1, 1, 3, 3))]
    got = objects_for_boxes(boxes, [ObjectHint("dog", "first"), ObjectHint("Dog", "second"), ObjectHint("cat")])
    assert got == [ObjectRequest(1, "dog", "first"), ObjectRequest(2, "cat", ""), ObjectRequest(3, "dog", "second")]
    with pytest.raises(InputError, match=r"--object 'bird' has no box .* add --box bird="):
        objects_for_boxes(boxes, [ObjectHint("bird")])
    with pytest.raises(InputError, match="has no box"):
        objects_for_boxes(boxes, [ObjectHint("cat"), ObjectHint("cat")])


# ---- boxes ----------------------------------------------------------------------------
def _disc_image():
    """A textured background with a flat orange disc and a flat blue square."""
    rng = np.random.default_rng(0)
    img = (rng.integers(0, 60, (64, 96, 3)) + np.array([40, 90, 40])).astype(np.uint8)
    yy, xx = np.mgrid[:64, :96]
    disc = (yy - 30) ** 2 + (xx - 25) ** 2 < 12**2
    img[disc] = (240, 140, 30)
    square = (yy >= 20) & (yy < 44) & (xx >= 60) & (xx < 84)
    img[square] = (40, 60, 230)
    return img, disc, square


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_grabcut_refines_boxes():
    img, disc, square = _disc_image()
    ids = masks_from_boxes(img, [BoxHint("ball", (10, 15, 41, 46)), BoxHint("box", (55, 15, 90, 50))])
    assert _iou(ids == 1, disc) > 0.9
    assert _iou(ids == 2, square) > 0.9


def test_grabcut_collapse_falls_back_to_box(caplog):
    flat = np.full((32, 32, 3), 128, np.uint8)  # nothing to separate
    assert grabcut_mask(flat, (4, 4, 20, 20)) is None
    ids = masks_from_boxes(flat, [BoxHint("thing", (4, 4, 20, 20))])
    assert (ids == 1).sum() == 16 * 16 and ids[4:20, 4:20].all()
    assert "using the box itself" in caplog.text
    img, _, _ = _disc_image()
    assert grabcut_mask(img, (0, 0, 96, 64)) is None  # whole image: no background to learn


def test_box_method_and_overlap_order():
    img, _, _ = _disc_image()
    boxes = [BoxHint("back", (0, 0, 40, 40)), BoxHint("front", (20, 20, 60, 60))]
    ids = masks_from_boxes(img, boxes, method="box")
    assert ids[10, 10] == 1 and ids[30, 30] == 2 and ids[50, 50] == 2 and ids[62, 90] == 0
    with pytest.raises(InputError, match="'back' .* hidden entirely by later boxes"):
        masks_from_boxes(img, [BoxHint("back", (25, 25, 30, 30)), BoxHint("front", (20, 20, 60, 60))], method="box")


@pytest.mark.parametrize(
    "box, message",
    [((0, 0, 100, 10), "outside the 96x64 image"), ((-1, 0, 10, 10), "outside")],
)
def test_box_bounds(box, message):
    img, _, _ = _disc_image()
    with pytest.raises(InputError, match=message):
        masks_from_boxes(img, [BoxHint("x", box)])


def test_box_input_errors():
    img, _, _ = _disc_image()
    with pytest.raises(InputError, match="no boxes"):
        masks_from_boxes(img, [])
    with pytest.raises(InputError, match="'grabcut' or 'box'"):
        masks_from_boxes(img, [BoxHint("x", (0, 0, 4, 4))], method="magic")
    with pytest.raises(InputError, match=r"\(H, W, 3\) uint8"):
        masks_from_boxes(img[..., 0], [BoxHint("x", (0, 0, 4, 4))])
    with pytest.raises(InputError, match="at most"):
        masks_from_boxes(img, [BoxHint(f"o{i}", (0, 0, 4, 4)) for i in range(20)])


def test_sam2_path_with_a_stand_in_predictor(tmp_path):
    img, disc, _ = _disc_image()

    class FakePredictor:
        def set_image(self, image):
            self.image = image

        def predict(self, box, multimask_output):
            assert box.dtype == np.float32 and multimask_output is False
            m = np.zeros(self.image.shape[:2], np.float32)
            x0, y0, x1, y1 = box.astype(int)
            m[y0:y1, x0:x1] = 1
            return m[None], np.ones(1), None

    seen = {}

    def factory(checkpoint, config, device):
        seen.update(checkpoint=checkpoint, config=config, device=device)
        return FakePredictor()

    ids = masks_from_sam2(img, [BoxHint("ball", (10, 15, 41, 46))], "w.pt", "cfg.yaml", predictor_factory=factory)
    assert (ids == 1).sum() == 31 * 31
    assert seen == {"checkpoint": "w.pt", "config": "cfg.yaml", "device": "cpu"}


def test_sam2_missing_checkpoint_or_package(tmp_path):
    img, _, _ = _disc_image()
    with pytest.raises(InputError, match="checkpoint .* does not exist"):
        masks_from_sam2(img, [BoxHint("b", (0, 0, 4, 4))], tmp_path / "none.pt", "cfg")
    ckpt = tmp_path / "w.pt"
    ckpt.write_bytes(b"x")
    try:
        import sam2  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="pip install sam2"):
            masks_from_sam2(img, [BoxHint("b", (0, 0, 4, 4))], ckpt, "cfg")


def test_first_frame_objects(tmp_path):
    img, disc, square = _disc_image()
    ids, objects = first_frame_objects(
        img,
        boxes=[BoxHint("ball", (10, 15, 41, 46)), BoxHint("box", (55, 15, 90, 50))],
        hints=[ObjectHint("box", "the blue box slides left")],
    )
    assert objects == [ObjectRequest(1, "ball"), ObjectRequest(2, "box", "the blue box slides left")]
    plan = plan_scene("the ball bounces", ids, objects)
    assert plan.local_prompts == ["the ball bounces", "the blue box slides left"]
    assert plan.motion_prompt == "The ball bounces, the box slides left."
    save_id_png(tmp_path / "m.png", ids)
    ids2, objects2 = first_frame_objects(img, mask_path=tmp_path / "m.png", hints=[ObjectHint("ball"), ObjectHint("box")])
    assert np.array_equal(ids2, ids) and [o.name for o in objects2] == ["ball", "box"]
    with pytest.raises(InputError, match="either a mask PNG or boxes"):
        first_frame_objects(img, mask_path=tmp_path / "m.png", boxes=[BoxHint("b", (0, 0, 4, 4))])
    with pytest.raises(InputError, match="no objects marked"):
        first_frame_objects(img)
    with pytest.raises(InputError, match="unknown segmenter"):
        first_frame_objects(img, boxes=[BoxHint("b", (0, 0, 4, 4))], segment="magic")
    with pytest.raises(InputError, match="--sam2-checkpoint"):
        first_frame_objects(img, boxes=[BoxHint("b", (0, 0, 4, 4))], segment="sam2")


def test_grabcut_on_a_sprites_scene_then_plan():
    # Classic wording: the local prompts are then exactly what the planner writes.
    scene = generate_scene(1, SpritesConfig(wording="classic"))
    boxes = []
    for o in scene.objects:
        ys, xs = np.nonzero(scene.first_ids == o.id)
        boxes.append(BoxHint(o.name, (max(0, xs.min() - 3), max(0, ys.min() - 3), xs.max() + 4, ys.max() + 4)))
    ids, objects = first_frame_objects(scene.first_frame, boxes=boxes)
    for o in scene.objects:
        assert _iou(ids == o.id, scene.first_ids == o.id) > 0.8
    plan = plan_scene(scene.global_prompt, ids, objects)
    assert plan.local_prompts == scene.local_prompts
