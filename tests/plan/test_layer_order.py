"""Overlapping and nested boxes: who owns a pixel, and in which order objects are layered."""

import numpy as np
import pytest

from maskmotion.errors import InputError
from maskmotion.plan import BoxHint, first_frame_objects, order_boxes


def _nested():
    rng = np.random.default_rng(0)
    img = np.clip(128 + rng.normal(0, 6, (100, 140, 3)), 0, 255)
    img[15:85, 20:120] = (235, 130, 30)  # a big orange thing
    yy, xx = np.mgrid[:100, :140]
    img[np.hypot(xx - 70, yy - 50) < 14] = (30, 60, 220)  # a blue disc on it
    return img.astype(np.uint8)


def test_order_boxes():
    a, b, c = BoxHint("a", (0, 0, 10, 10)), BoxHint("b", (0, 0, 30, 30)), BoxHint("c", (0, 0, 30, 30))
    assert order_boxes([a, b, c], "list") == [a, b, c]
    assert order_boxes([a, b, c], "size") == [b, c, a]  # largest first, ties as listed
    with pytest.raises(InputError, match="layer order"):
        order_boxes([a], "depth")


def test_a_nested_box_keeps_its_pixels():
    img = _nested()
    small, big = BoxHint("disc", (52, 32, 89, 69)), BoxHint("thing", (12, 8, 128, 92))
    # Listed back to front, the nested disc is in front and keeps its pixels.
    ids, objects = first_frame_objects(img, boxes=[big, small])
    assert ids[50, 70] == 2 and ids[25, 30] == 1 and [o.name for o in objects] == ["thing", "disc"]
    # Listed front first, the container would hide it: an input error naming the fix ...
    with pytest.raises(InputError, match="--layer-order size"):
        first_frame_objects(img, boxes=[small, big])
    # ... and by size, the smaller box is in front whatever the list order.
    ids, objects = first_frame_objects(img, boxes=[small, big], layer_order="size")
    assert ids[50, 70] == 2 and ids[25, 30] == 1 and [o.name for o in objects] == ["thing", "disc"]


def test_overlapping_boxes_front_object_keeps_the_overlap():
    rng = np.random.default_rng(1)
    img = np.clip(128 + rng.normal(0, 6, (80, 140, 3)), 0, 255)
    img[20:60, 20:80] = (235, 130, 30)
    img[25:70, 60:110] = (30, 60, 220)  # overlaps the orange one, in front
    ids, _ = first_frame_objects(img.astype(np.uint8), boxes=[BoxHint("o", (14, 14, 86, 66)), BoxHint("b", (54, 19, 116, 76))])
    assert ids[40, 40] == 1 and ids[40, 70] == 2 and ids[65, 100] == 2
