"""Boxes refined by GrabCut, alpha matting and points, on images whose objects are known."""

import cv2
import numpy as np
import pytest

from maskmotion.errors import InputError
from maskmotion.plan import BoxHint, PointHint, first_frame_objects, masks_from_boxes, parse_point_arg
from maskmotion.plan.masks import points_by_box, refine_box


def _noisy(h, w, colour, seed):
    rng = np.random.default_rng(seed)
    return np.clip(np.asarray(colour, float) + rng.normal(0, 6, (h, w, 3)), 0, 255)


def _scene():
    """A soft-edged orange disc and, inside the same box, a blue square, on grey."""
    h, w = 120, 160
    img = _noisy(h, w, (128, 128, 128), 0)
    yy, xx = np.mgrid[:h, :w]
    alpha = np.clip((30 - np.hypot(xx - 60, yy - 60)) / 2.0 + 0.5, 0, 1)
    img = alpha[..., None] * _noisy(h, w, (235, 130, 30), 1) + (1 - alpha[..., None]) * img
    img[45:75, 100:124] = _noisy(30, 24, (30, 60, 220), 2)
    return img.round().astype(np.uint8), alpha


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_parse_point_arg():
    assert parse_point_arg("dog=12,40") == PointHint("dog", (12, 40), True)
    assert parse_point_arg(" big dog = -12 , 40") == PointHint("big dog", (12, 40), False)
    for bad in ("dog", "dog=1", "=1,2", "dog=1.5,2", "dog=a,b", "dog=1,-2"):
        with pytest.raises(InputError, match="NAME=x,y"):
            parse_point_arg(bad)


def test_points_must_name_a_box_and_lie_in_it():
    boxes = [BoxHint("dog", (10, 10, 50, 50)), BoxHint("dog", (60, 10, 90, 50))]
    assert points_by_box(boxes, [PointHint("Dog", (70, 20))]) == [([], []), ([(70, 20)], [])]
    with pytest.raises(InputError, match="names no box"):
        points_by_box(boxes, [PointHint("cat", (20, 20))])
    with pytest.raises(InputError, match="outside box"):
        points_by_box(boxes, [PointHint("dog", (55, 20), False)])


def test_grabcut_and_matting_follow_a_soft_edge():
    img, alpha = _scene()
    mask = refine_box(img, (25, 25, 96, 96))
    assert _iou(mask, alpha >= 0.5) > 0.95


def test_a_negative_point_drops_a_part_of_the_box():
    img, alpha = _scene()
    box = (25, 25, 130, 96)  # disc and square
    both = refine_box(img, box)
    assert both[60, 112] and both[60, 60]  # GrabCut alone keeps both
    disc = refine_box(img, box, bg_points=[(112, 60)])
    assert not disc[50:70, 104:120].any() and disc[60, 60]
    assert _iou(disc, alpha >= 0.5) > 0.9


def test_points_go_through_first_frame_objects():
    img, _ = _scene()
    boxes = [BoxHint("disc", (25, 25, 130, 96))]
    ids, _ = first_frame_objects(img, boxes=boxes, points=[parse_point_arg("disc=-112,60")])
    assert ids[60, 60] == 1 and ids[60, 112] == 0
    with pytest.raises(InputError, match="mask PNG"):
        first_frame_objects(img, np.ones((120, 160), np.uint8), points=[parse_point_arg("disc=1,1")])
    with pytest.raises(InputError, match="--segment grabcut"):
        masks_from_boxes(img, boxes, "box", [parse_point_arg("disc=60,60")])


def test_a_positive_point_is_kept():
    img, _ = _scene()
    box = (25, 25, 130, 96)
    kept = refine_box(img, box, fg_points=[(112, 60)], bg_points=[(60, 60)])
    assert kept[60, 112] and not kept[60, 60]
