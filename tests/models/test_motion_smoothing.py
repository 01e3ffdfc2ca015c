"""The L1 trend filter on stage-1 motion, against a slow primal solve."""

import numpy as np
import pytest
from scipy.optimize import minimize

from maskmotion.models.motion_smoothing import smooth_motion, trend_filter


def _objective(x: np.ndarray, y: np.ndarray, strength: float) -> float:
    return 0.5 * float(((x - y) ** 2).sum()) + strength * float(np.abs(np.diff(x, 2)).sum())


def _reference(y: np.ndarray, strength: float) -> np.ndarray:
    """The primal problem as a smooth constrained one (x and slack t, |D2 x| <= t) with
    frame 0 fixed, solved by SLSQP: slow, and independent of the dual route."""
    n = len(y) - 1  # free frames 1..T-1
    d = np.zeros((len(y) - 2, len(y)))
    for i in range(len(y) - 2):
        d[i, i : i + 3] = (1.0, -2.0, 1.0)
    d_free, d_fixed = d[:, 1:], d[:, 0] * y[0]

    def f(v):
        x, t = v[:n], v[n:]
        return 0.5 * ((x - y[1:]) ** 2).sum() + strength * t.sum()

    cons = [
        {"type": "ineq", "fun": lambda v: v[n:] - (d_free @ v[:n] + d_fixed)},
        {"type": "ineq", "fun": lambda v: v[n:] + (d_free @ v[:n] + d_fixed)},
    ]
    start = np.concatenate([y[1:], np.abs(d @ y) + 1.0])
    res = minimize(f, start, constraints=cons, method="SLSQP", options={"maxiter": 2000, "ftol": 1e-12})
    return np.concatenate([[y[0]], res.x[:n]])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("strength", [0.01, 0.1, 0.5])
def test_matches_a_slow_primal_solve(seed, strength):
    rng = np.random.default_rng(seed)
    t = np.arange(16.0)
    y = 0.05 * t + 0.3 * np.maximum(t - 7, 0) + rng.normal(0, 0.05, 16)
    y[0] = 0.0
    fast = trend_filter(y, strength)
    slow = _reference(y, strength)
    assert _objective(fast, y, strength) <= _objective(slow, y, strength) + 1e-7
    np.testing.assert_allclose(fast, slow, atol=2e-4)


def test_lines_stay_lines_and_wobble_is_flattened():
    t = np.arange(16.0)
    line = np.stack([-0.7 * t, 0 * t, 0.02 * t])  # slide, still, slow growth
    np.testing.assert_allclose(trend_filter(line, 0.3), line, atol=1e-9)
    wobble = np.random.default_rng(0).normal(0, 0.02, (3, 16))
    wobble[:, 0] = 0
    out = trend_filter(line + wobble, 0.3)
    steps = np.diff(out, axis=1)
    # Each row is one straight line now: every step equals the row's mean step.
    np.testing.assert_allclose(steps, np.broadcast_to(steps.mean(1, keepdims=True), steps.shape), atol=1e-6)
    assert np.abs(steps - np.diff(line, axis=1)).max() < np.abs(np.diff(wobble, axis=1)).max()


def test_a_large_turn_survives_a_small_strength():
    t = np.arange(16.0)
    bounce = np.where(t < 8, t, 16 - t) * 1.0  # out and back
    out = trend_filter(bounce, 0.05)
    assert np.abs(out - bounce).max() < 0.05
    assert out.argmax() == 8


def test_frame_zero_is_kept_and_zero_strength_is_identity():
    y = np.random.default_rng(3).normal(0, 1, (2, 4, 16))
    np.testing.assert_array_equal(trend_filter(y, 0.0), y)
    out = trend_filter(y, 0.2)
    assert out.shape == y.shape
    np.testing.assert_array_equal(out[..., 0], y[..., 0])
    with pytest.raises(ValueError, match="0 or more"):
        trend_filter(y, -1.0)


def test_smooth_motion_measures_strength_in_each_channels_scale():
    # The same wobble relative to each channel's scale is smoothed alike in every channel.
    rng = np.random.default_rng(4)
    scale = np.array([0.25, 0.25, 0.3, 0.3, 1.0])
    wobble = rng.normal(0, 0.05, (2, 16, 1))  # (L, T, 1) in model units
    wobble[:, 0] = 0
    out = smooth_motion(wobble * scale, 0.05, scale) / scale  # (L, T, C)
    np.testing.assert_allclose(out, np.broadcast_to(out[..., :1], out.shape), atol=1e-9)
    assert np.abs(np.diff(out, 2, axis=1)).sum() < 0.5 * np.abs(np.diff(wobble, 2, axis=1)).sum() * 5


def _object(dx: np.ndarray, log_s: np.ndarray) -> np.ndarray:
    """(T, 5) raw motion with the given translation x and log-scale (both axes)."""
    z = np.zeros_like(dx)
    return np.stack([dx, z, log_s, log_s, z], axis=1)


def test_the_gate_keeps_structured_motion_and_smooths_wobble():
    rng = np.random.default_rng(5)
    t = np.arange(16.0)
    scale = np.array([0.25, 0.25, 0.3, 0.3, 1.0])
    wobble = rng.normal(0, 0.004, 16)
    wobble[0] = 0
    shake = 0.04 * np.sin(2 * np.pi * 0.25 * t)  # a shake of 2.5 px at 64 px
    slide = -0.025 * t + wobble  # a steady slide with wobble
    growth = 0.03 * t + 0.5 * wobble
    motion = np.stack([_object(shake, growth), _object(slide, 0 * t)])  # (L=2, T, 5)
    out = smooth_motion(motion, 0.1, scale, keep_above=0.02)
    # Object 0: the shake stays exactly as sampled; its wobbly growth is smoothed on its own.
    np.testing.assert_array_equal(out[0, :, :2], motion[0, :, :2])
    assert np.abs(np.diff(out[0, :, 2], 2)).max() < 0.2 * np.abs(np.diff(motion[0, :, 2], 2)).max()
    # Object 1: the slide is a straight line now.
    steps = np.diff(out[1, :, 0])
    np.testing.assert_allclose(steps, np.full_like(steps, steps.mean()), atol=1e-6)
    # Without the gate the same filter flattens the shake.
    flat = smooth_motion(motion, 0.1, scale)
    assert np.abs(flat[0, :, 0]).mean() < 0.3 * np.abs(shake).mean()
