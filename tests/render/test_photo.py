"""The photo renderer's parts on synthetic images whose truth is known: matting (alpha and
foreground colour), PatchMatch fills of textured holes, and the layered composite."""

import cv2
import numpy as np
import pytest

from maskmotion.render import fill_holes, object_layers, photo_render, trimap_from_mask
from maskmotion.render import matting
from maskmotion.trajectory import MaskTrajectory, MotionTrack, TrajectoryObject, warp_masks


def _soft_disc(h=120, w=160, centre=(80, 60), radius=32.0, edge=3.0):
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(xx - centre[0], yy - centre[1])
    return np.clip((radius - r) / edge + 0.5, 0.0, 1.0)


def _textures(h, w):
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    fg = np.stack([200 + 30 * np.sin(xx / 7), 60 + 0 * xx, 40 + 20 * np.cos(yy / 5)], axis=2)
    bg = np.stack([40 + 0 * xx, 120 + 40 * np.sin((xx + yy) / 9), 200 + 0 * xx], axis=2)
    return fg, bg


def _compose(alpha, fg, bg):
    return (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).round().clip(0, 255).astype(np.uint8)


def _stripes(h, w, period=8):
    """A sharp, regular texture: vertical stripes with a little texture of their own."""
    yy, xx = np.mgrid[:h, :w]
    base = np.where((xx // (period // 2)) % 2 == 0, 60, 190).astype(np.float64)
    img = np.stack([base, base * 0.8 + 20 * ((yy // 3) % 2), 255 - base], axis=2)
    return img.clip(0, 255).astype(np.uint8)


def _grad(img):
    g = img.astype(np.float64).mean(axis=2)
    return np.hypot(cv2.Sobel(g, cv2.CV_64F, 1, 0), cv2.Sobel(g, cv2.CV_64F, 0, 1))


def test_trimap_marks_a_ring_and_pins_points():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    tri = trimap_from_mask(mask, 2, fg_points=[(5, 5)], bg_points=[(20, 20)], point_radius=1)
    assert tri[20, 11] == 0.5 and tri[20, 8] == 0.5 and tri[20, 15] == 1.0 and tri[20, 35] == 0.0
    assert tri[5, 5] == 1.0 and tri[20, 20] == 0.0


def test_matting_recovers_a_known_alpha_and_colour():
    alpha = _soft_disc()
    fg, bg = _textures(*alpha.shape)
    image = _compose(alpha, fg, bg)
    layer = object_layers(image, (alpha >= 0.5).astype(np.uint8))[0]
    ring = (alpha > 0) & (alpha < 1)
    hard_error = np.abs((alpha >= 0.5) - alpha)[ring].mean()
    error = np.abs(layer.alpha - alpha)[ring].mean()
    assert error < 0.05 and error < hard_error / 5, (error, hard_error)
    mixed = ring & (alpha > 0.2)
    # The old background is taken out of the soft edge's colour.
    assert np.abs(layer.colour - fg)[mixed].mean() < 10 < np.abs(image - fg)[mixed].mean()
    assert layer.hard.sum() == (alpha >= 0.5).sum()


def test_without_pymatting_the_edge_is_feathered(monkeypatch):
    monkeypatch.setattr(matting, "matting_available", lambda: False)
    alpha = _soft_disc()
    fg, bg = _textures(*alpha.shape)
    layer = object_layers(_compose(alpha, fg, bg), (alpha >= 0.5).astype(np.uint8))[0]
    ring = (alpha > 0) & (alpha < 1)
    assert ((layer.alpha > 0) & (layer.alpha < 1)).any()
    assert np.abs(layer.alpha - alpha)[ring].mean() < 0.25


def test_patchmatch_fills_a_textured_hole_sharply():
    truth = _stripes(96, 128)
    hole = np.zeros(truth.shape[:2], bool)
    hole[30:70, 40:90] = True  # a sixth of the image
    filled = fill_holes(truth, hole)
    smear = cv2.inpaint(truth, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    inner = cv2.erode(hole.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    sharp = _grad(filled)[inner].mean() / _grad(truth)[inner].mean()
    assert sharp >= 0.6, sharp
    assert _grad(smear)[inner].mean() / _grad(truth)[inner].mean() < sharp
    assert np.array_equal(filled[~hole], truth[~hole])
    assert np.array_equal(fill_holes(truth, hole), filled)  # deterministic


def test_fill_never_copies_from_avoided_pixels():
    image = np.full((64, 64, 3), 100, np.uint8)
    image[10:30, 10:30] = (255, 0, 0)  # an object, not to be copied
    hole = np.zeros((64, 64), bool)
    hole[40:55, 40:55] = True
    avoid = np.zeros_like(hole)
    avoid[8:32, 8:32] = True
    out = fill_holes(image, hole, avoid=avoid)
    assert np.abs(out[hole].astype(int) - 100).max() <= 2


def _scene(first_ids, tracks, frames):
    objects = [TrajectoryObject(i, f"object {i}", "") for i in sorted(tracks)]
    return MaskTrajectory(warp_masks(first_ids, tracks, frames), objects, tracks=tracks)


def _slide(dx, dy, frames):
    return MotionTrack.from_array(np.array([(dx * t, dy * t, 1, 1, 0) for t in range(frames)], float))


def test_moved_object_leaves_no_halo_and_a_still_plate():
    """A soft disc on stripes slides right: its soft edge carries none of the stripes it
    left, and the uncovered background is one fill, the same in every frame."""
    h, w, frames = 120, 200, 6
    alpha = _soft_disc(h, w, centre=(60, 60), radius=26)
    fg = np.zeros((h, w, 3))
    fg[...] = (230, 40, 40)
    bg = _stripes(h, w).astype(np.float64)
    image = _compose(alpha, fg, bg)
    ids = (alpha >= 0.5).astype(np.uint8)
    traj = _scene(ids, {1: _slide(12, 0, frames)}, frames)
    video = photo_render(image, traj)
    assert video.shape == (frames, h, w, 3)
    last = video[-1].astype(float)
    moved = _soft_disc(h, w, centre=(120, 60), radius=26)
    truth = _compose(moved, fg, bg)
    edge = (moved > 0.3) & (moved < 1)
    # Edge colours match the truth (object over its new background), not a halo.
    assert np.abs(last - truth)[edge].mean() < 25
    # Uncovered pixels are filled once: where frames 3.. all show background, they agree.
    gone = (alpha > 0) & ~np.any([traj.ids[t] > 0 for t in range(3, frames)], axis=0)
    gone = cv2.erode(gone.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert gone.any()
    for t in range(4, frames):
        assert np.array_equal(video[t][gone], video[3][gone])


def test_back_object_stays_behind_a_still_front_one_and_objects_leave_the_frame():
    h, w, frames = 96, 160, 8
    image = _stripes(h, w)
    ids = np.zeros((h, w), np.uint8)
    ids[30:60, 20:50] = 1  # behind, slides right under object 2 and out of the frame
    ids[20:80, 80:110] = 2  # in front, still
    image[30:60, 20:50] = (250, 0, 250)
    image[20:80, 80:110] = (0, 0, 250)
    tracks = {1: _slide(20, 0, frames), 2: MotionTrack.still(frames)}
    traj = _scene(ids, tracks, frames)
    video = photo_render(image, traj)
    magenta = (video[..., 0] > 200) & (video[..., 1] < 60) & (video[..., 2] > 200)
    # Frame 3: object 1 spans x 80..110, all of it behind object 2; frame 7: x 160..190.
    assert not magenta[3][22:78, 84:106].any()
    assert (video[3][22:78, 84:106, 2] > 200).all()
    assert not magenta[-1].any()  # gone out of the right border
    assert magenta[0][32:58, 22:48].all()


def test_matting_leaves_torch_threads_alone():
    """pymatting's numba pool must not change how many threads torch uses afterwards:
    with OMP_NUM_THREADS=1 it raised torch's count to 2, and stage 1 after planning ran
    many times slower on a busy machine. A fresh process, as a user's run."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, torch\n"
        "from maskmotion.render.matting import estimate_alpha, estimate_layers, trimap_from_mask\n"
        "image = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)\n"
        "mask = np.zeros((48, 48), bool); mask[12:36, 12:36] = True\n"
        "estimate_layers(image, estimate_alpha(image, trimap_from_mask(mask, 3)))\n"
        "print(torch.get_num_threads())\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "1"
