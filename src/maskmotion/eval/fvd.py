"""Fréchet video distance with a pluggable feature network.

The distance is the Fréchet (2-Wasserstein) distance between Gaussians fitted to two sets
of clip features. FVD proper uses I3D (Kinetics-400) features: :class:`I3DFeatures` loads
them from a local checkpoint. Offline, :class:`RandomConv3DFeatures` gives a fixed, seeded
random 3D-conv network: useful to rank variants against each other on the same data, but
it is NOT I3D, and its figures are not comparable with the paper's FVD.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg


# ---- the Fréchet math ------------------------------------------------------------------
def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)) for (D,) means and (D, D) covariances."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape}/{mu2.shape}, cov {cov1.shape}/{cov2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular products are handled just below
        warnings.simplefilter("ignore", RuntimeWarning)
        covmean = linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        # Singular product (fewer samples than dimensions): nudge both diagonals, as is usual.
        offset = np.eye(cov1.shape[0]) * eps
        covmean = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    # sqrtm of a product of PSD matrices is real in exact arithmetic; drop round-off imaginaries.
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm has a large imaginary part ({np.abs(covmean.imag).max():.3g}); features are degenerate")
        covmean = covmean.real
    value = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean)
    return float(max(value, 0.0))  # round-off can dip a hair below zero for identical sets


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of (N, D) features; needs N >= 2."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to (N, D) and (M, D) feature sets."""
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


# ---- feature extractors ----------------------------------------------------------------
@runtime_checkable
class VideoFeatureExtractor(Protocol):
    """Maps (N, T, H, W, 3) uint8 videos to (N, D) float64 features."""

    name: str
    comparable_to_paper: bool

    def __call__(self, videos: np.ndarray) -> np.ndarray: ...


def _videos_to_tensor(videos: np.ndarray, frames: int, size: int) -> torch.Tensor:
    """(N, T, H, W, 3) uint8 -> (N, 3, frames, size, size) float32 in [-1, 1].

    Frames are sampled evenly (repeated when T < frames); space is resized bilinearly.
    """
    if not isinstance(videos, np.ndarray) or videos.ndim != 5 or videos.shape[-1] != 3 or videos.dtype != np.uint8:
        raise ValueError(f"videos must be (N, T, H, W, 3) uint8, got {getattr(videos, 'shape', None)} {getattr(videos, 'dtype', None)}")
    idx = np.linspace(0, videos.shape[1] - 1, frames).round().astype(int)
    x = torch.from_numpy(videos[:, idx]).float().div(127.5).sub(1.0)  # (N, F, H, W, 3)
    x = x.permute(0, 1, 4, 2, 3).flatten(0, 1)  # (N*F, 3, H, W)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.unflatten(0, (videos.shape[0], frames)).permute(0, 2, 1, 3, 4).contiguous()  # (N, 3, F, S, S)


class RandomConv3DFeatures:
    """Offline stand-in: a fixed random 3D-conv network (seeded, CPU generator) over 16-frame clips.

    NOT I3D. Its distances rank videos by spatio-temporal statistics and are repeatable
    across machines for a given seed, but are on a different scale from FVD: never put
    them beside the paper's figures.
    """

    comparable_to_paper = False

    def __init__(self, seed: int = 0, frames: int = 16, size: int = 64, width: int = 32) -> None:
        self.name = f"random-conv3d(seed={seed})"
        self.frames, self.size = frames, size
        g = torch.Generator().manual_seed(seed)
        chans = [3, width, 2 * width, 4 * width]
        # (out, in, kt, kh, kw) He-scaled weights; stride 2 in time and space per layer.
        self.weights = [
            torch.randn(co, ci, 3, 3, 3, generator=g) * (2.0 / (ci * 27)) ** 0.5 for ci, co in zip(chans[:-1], chans[1:])
        ]

    @torch.no_grad()
    def __call__(self, videos: np.ndarray) -> np.ndarray:
        x = _videos_to_tensor(videos, self.frames, self.size)  # (N, 3, F, S, S)
        pooled = []
        for w in self.weights:
            x = F.leaky_relu(F.conv3d(x, w, stride=2, padding=1), 0.2)
            # (N, 2C): mean and spread of every channel, a multi-scale texture/motion summary
            pooled += [x.mean(dim=(2, 3, 4)), x.flatten(2).std(dim=2)]
        return torch.cat(pooled, dim=1).double().numpy()  # (N, 14 * width)


class I3DFeatures:
    """I3D (Kinetics-400) features from a local checkpoint, the network FVD is defined with.

    ``checkpoint_path``: a TorchScript file, e.g. the ``i3d_torchscript.pt`` used by common
    FVD code, called as ``model(x, rescale=False, resize=False, return_features=True)``
    on (N, 3, 16, 224, 224) floats in [-1, 1]; or a state dict (``.pt``/``.pth``) together
    with ``model``, an nn.Module of the matching architecture, loaded strictly. Not tested
    here with real weights (none ship offline).
    """

    comparable_to_paper = True

    def __init__(
        self, checkpoint_path: str | os.PathLike, model: torch.nn.Module | None = None,
        frames: int = 16, size: int = 224, batch_size: int = 8,
    ) -> None:
        path = Path(checkpoint_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"I3D checkpoint {path} not found; download an I3D (Kinetics-400) TorchScript "
                "checkpoint yourself, or use RandomConv3DFeatures offline (not comparable with the paper)"
            )
        self.name = f"i3d({path.name})"
        self.frames, self.size, self.batch_size = frames, size, batch_size
        self._torchscript = model is None
        if model is None:
            try:
                self.model = torch.jit.load(str(path), map_location="cpu").eval()
            except RuntimeError as e:
                raise ValueError(
                    f"{path} is not a TorchScript module ({e.__class__.__name__}); for a state dict "
                    "pass model=<the I3D nn.Module> to load it into"
                ) from e
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state:
                state = state["state_dict"]
            missing, unexpected = model.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise ValueError(f"{path} does not fit the model: missing keys {missing}, unexpected keys {unexpected}")
            self.model = model.eval()

    @torch.no_grad()
    def __call__(self, videos: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(videos), self.batch_size):
            x = _videos_to_tensor(videos[start : start + self.batch_size], self.frames, self.size)
            if self._torchscript:
                f = self.model(x, rescale=False, resize=False, return_features=True)
            else:
                f = self.model(x)
            out.append(f.reshape(f.shape[0], -1).double().numpy())
        return np.concatenate(out)


def fvd(real: np.ndarray, generated: np.ndarray, extractor: VideoFeatureExtractor | None = None) -> float:
    """Fréchet distance between feature Gaussians of two sets of (N, T, H, W, 3) uint8 videos.

    With the default (offline) extractor the result is NOT FVD in the paper's sense;
    pass ``I3DFeatures(path)`` for that.
    """
    extractor = extractor or RandomConv3DFeatures()
    return frechet_from_features(extractor(real), extractor(generated))
