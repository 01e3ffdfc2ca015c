"""SSIM against scikit-image, frame consistency, AD on known shifts, trajectory consistency."""

from __future__ import annotations

import numpy as np
import pytest

from maskmotion.data.sprites import SpritesConfig, generate_scene
from maskmotion.eval import average_displacement, frame_consistency, ssim, trajectory_consistency


def _noisy_pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a + rng.normal(0, 25, shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("shape", [(40, 50), (33, 47, 3)])
def test_ssim_matches_scikit_image(shape):
    metrics = pytest.importorskip("skimage.metrics")
    a, b = _noisy_pair(shape)
    ref = metrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
        channel_axis=-1 if len(shape) == 3 else None,
    )
    assert abs(ssim(a, b) - ref) < 1e-3


def test_ssim_basics():
    a, b = _noisy_pair((32, 32, 3))
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) < 0.97  # noise of std 25 on a full-range random image
    video = np.stack([a, b])
    assert ssim(video, video[::-1]) == pytest.approx(ssim(a, b))
    with pytest.raises(ValueError, match="equal shapes"):
        ssim(a, b[:16])


def test_frame_consistency_orders_still_over_flicker():
    a, b = _noisy_pair((32, 32, 3))
    still, flicker = np.stack([a] * 4), np.stack([a, b, a, b])
    assert frame_consistency(still) == pytest.approx(1.0)
    assert frame_consistency(flicker) < 0.97
    assert frame_consistency(flicker, "psnr") < frame_consistency(still, "psnr")
    with pytest.raises(ValueError, match="metric"):
        frame_consistency(still, "clip")


def test_average_displacement_on_known_shift():
    # A smooth real-ish texture panned by 2 px/frame: AD ~ 2; a still video: ~ 0.
    data = pytest.importorskip("skimage.data")
    img = data.astronaut()[::2, ::2]  # (256, 256, 3)
    moving = np.stack([img[40:168, 40 + 2 * t : 168 + 2 * t] for t in range(5)])
    still = np.stack([img[40:168, 40:168]] * 5)
    assert average_displacement(moving) == pytest.approx(2.0, abs=0.3)
    assert average_displacement(still) < 0.05


def test_trajectory_consistency_high_on_ground_truth_low_on_frozen_video():
    scene = generate_scene(2, SpritesConfig())
    good = trajectory_consistency(scene.video, scene.ids)
    assert good["mean"] >= 0.85 and set(good["per_object"]) == {1, 2, 3}
    frozen = np.repeat(scene.video[:1], len(scene.video), axis=0)
    bad = trajectory_consistency(frozen, scene.ids)
    assert bad["mean"] < good["mean"] - 0.1
    with pytest.raises(ValueError, match="uint8"):
        trajectory_consistency(scene.video, scene.ids.astype(np.int32))
