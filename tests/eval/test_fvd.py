"""The Fréchet math against closed forms; the offline extractor; I3D loading errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskmotion.eval import I3DFeatures, RandomConv3DFeatures, VideoFeatureExtractor, frechet_distance, fvd
from maskmotion.eval.fvd import frechet_from_features


def test_frechet_diagonal_closed_form():
    # For diagonal covariances: |mu1-mu2|^2 + sum (s1 + s2 - 2 sqrt(s1 s2)) = ... + sum (sqrt s1 - sqrt s2)^2
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-9)


def test_frechet_full_covariance_shift_only():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    cov = a @ a.T + np.eye(6)
    mu = rng.normal(size=6)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(mu, cov, mu + 2.0, cov) == pytest.approx(6 * 4.0, rel=1e-6)


def test_frechet_from_samples():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 3))
    y = rng.normal(size=(4000, 3)) * 2.0 + 1.0
    assert frechet_from_features(x, x) == pytest.approx(0.0, abs=1e-6)
    # N(0, I) vs N(1, 4I): 3 * 1 + 3 * (1 - 2)^2 = 6
    assert frechet_from_features(x, y) == pytest.approx(6.0, rel=0.1)
    # Fewer samples than dimensions: singular covariances, still finite via the guard.
    assert np.isfinite(frechet_from_features(x[:5, :], y[:5, :]))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_from_features(x[:1], y)


def test_random_conv3d_extractor_is_seeded_and_separates():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (32, 8, 16, 16, 3), dtype=np.uint8)
    # Frozen clips: every frame the first one, so only the temporal statistics differ.
    frozen = np.repeat(rng.integers(0, 256, (16, 1, 16, 16, 3), dtype=np.uint8), 8, axis=1)
    ext = RandomConv3DFeatures(seed=0, size=16, width=4)
    assert isinstance(ext, VideoFeatureExtractor) and not ext.comparable_to_paper
    f = ext(noise)
    assert f.shape == (32, 14 * 4)
    np.testing.assert_allclose(f, RandomConv3DFeatures(seed=0, size=16, width=4)(noise))
    assert not np.allclose(f, RandomConv3DFeatures(seed=1, size=16, width=4)(noise))
    same = fvd(noise[:16], noise[16:], ext)  # two draws of the same distribution
    apart = fvd(noise[:16], frozen, ext)
    # Measured: same 0.39, apart 0.73. A random network is a weak discriminator; the
    # margin checks direction, not strength.
    assert apart > 1.5 * same, (same, apart)


def test_i3d_missing_checkpoint_and_torchscript(tmp_path):
    with pytest.raises(FileNotFoundError, match="RandomConv3DFeatures"):
        I3DFeatures(tmp_path / "i3d.pt")

    # A stand-in TorchScript with I3D's call signature exercises the real loading path.
    class Fake(torch.nn.Module):
        def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                    return_features: bool = True) -> torch.Tensor:
            return x.mean(dim=(2, 3, 4))

    path = tmp_path / "fake_i3d.pt"
    torch.jit.script(Fake()).save(str(path))
    ext = I3DFeatures(path, size=16, batch_size=2)
    videos = np.zeros((3, 4, 20, 20, 3), np.uint8)
    np.testing.assert_allclose(ext(videos), -1.0)

    # A state dict needs the architecture, and loading is strict.
    sd_path = tmp_path / "sd.pt"
    torch.save({"weight": torch.zeros(2, 2)}, sd_path)
    with pytest.raises(ValueError, match="not a TorchScript"):
        I3DFeatures(sd_path)
    with pytest.raises(ValueError, match="missing keys"):
        I3DFeatures(sd_path, model=torch.nn.Linear(2, 2))
