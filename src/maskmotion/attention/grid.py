"""The backbone's token grid: which video pixels each attention token covers.

A video of T frames at H x W pixels becomes latent frames (temporal compression of the
VAE), latent pixels (spatial compression) and finally tokens (patchify with patch size
(pt, ph, pw)). Token order is (token_t, token_h, token_w) row-major, which is what a
patchify of a (B, C, T, H, W) latent followed by `flatten(2)` gives; every group and
attention mask in this package uses that order.

Two temporal layouts are supported:

- plain: latent frame i covers video frames [i*ct, (i+1)*ct) (ct = 1 means no compression);
- causal first frame (Wan, CogVideoX, HunyuanVideo VAEs): latent frame 0 covers video
  frame 0 alone, latent frame i >= 1 covers frames [1 + (i-1)*ct, 1 + i*ct), so a clip
  has 1 + k*ct frames and 1 + k latent frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TokenGrid"]


@dataclass(frozen=True)
class TokenGrid:
    """How a backbone turns a (T, H, W) video into a (t, h, w) grid of tokens.

    Args:
        temporal_compression: video frames per latent frame (ct); 1 = none.
        causal_first_frame: the first video frame gets a latent frame of its own
            (Wan-style causal VAE); the clip must then have 1 + k*ct frames.
        spatial_compression: video pixels per latent pixel along each side (e.g. 8).
        patch_size: (pt, ph, pw) latent frames / rows / columns per token.
    """

    temporal_compression: int = 1
    causal_first_frame: bool = False
    spatial_compression: int = 1
    patch_size: tuple[int, int, int] = (1, 1, 1)

    def __post_init__(self) -> None:
        if self.temporal_compression < 1 or self.spatial_compression < 1:
            raise ValueError(
                "temporal_compression and spatial_compression must be >= 1, got "
                f"{self.temporal_compression} and {self.spatial_compression}"
            )
        if len(self.patch_size) != 3 or min(self.patch_size) < 1:
            raise ValueError(f"patch_size must be three positive ints (pt, ph, pw), got {self.patch_size}")

    @classmethod
    def wan(cls, patch_size: tuple[int, int, int] = (1, 2, 2)) -> TokenGrid:
        """The Wan 2.1 grid: causal VAE (1 + 4k frames), 8x spatial, patch (1, 2, 2)."""
        return cls(temporal_compression=4, causal_first_frame=True, spatial_compression=8, patch_size=patch_size)

    @property
    def pixels_per_token(self) -> tuple[int, int]:
        """(rows, columns) of video pixels that one token covers in one frame."""
        return self.spatial_compression * self.patch_size[1], self.spatial_compression * self.patch_size[2]

    def num_latent_frames(self, num_frames: int) -> int:
        """Latent frames for a clip of `num_frames` video frames (raises if it does not fit)."""
        ct = self.temporal_compression
        if self.causal_first_frame:
            if num_frames < 1 or (num_frames - 1) % ct:
                raise ValueError(
                    f"a causal-first-frame VAE with temporal compression {ct} needs 1 + k*{ct} frames, "
                    f"got {num_frames}; trim or pad the trajectory to e.g. {1 + ((max(num_frames, 1) - 1) // ct) * ct}"
                )
            return 1 + (num_frames - 1) // ct
        if num_frames < 1 or num_frames % ct:
            raise ValueError(
                f"temporal compression {ct} needs a multiple of {ct} frames, got {num_frames}; "
                "trim or pad the trajectory"
            )
        return num_frames // ct

    def token_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(t, h, w) tokens for a video of (num_frames, height, width); N = t*h*w."""
        latent_t = self.num_latent_frames(num_frames)
        pt = self.patch_size[0]
        if latent_t % pt:
            raise ValueError(
                f"{latent_t} latent frames are not divisible by the temporal patch size {pt}; "
                "change the number of frames"
            )
        rows, cols = self.pixels_per_token
        if height % rows or width % cols:
            raise ValueError(
                f"frame size {height}x{width} is not a multiple of the token cell {rows}x{cols} "
                "(spatial compression x patch size); resize the trajectory (nearest) to the "
                "backbone's input resolution"
            )
        return latent_t // pt, height // rows, width // cols

    def cell_any(self, mask: np.ndarray) -> np.ndarray:
        """A (T, H, W) bool pixel mask on this grid: a cell (latent frame x patch, e.g. a
        latent pixel when patch_size is 1) is True where any pixel it spans is, over all
        the video frames that fold into it. Returns (t, h, w) bool."""
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 3:
            raise ValueError(f"mask must be (T, H, W), got shape {mask.shape}")
        t, h, w = self.token_shape(*mask.shape)
        rows, cols = self.pixels_per_token
        # Space: any pixel of each cell, frame by frame.
        per_frame = mask.reshape(mask.shape[0], h, rows, w, cols).any(axis=(2, 4))  # (T, h, w)
        # Time: any frame that folds into each cell's time index.
        out = np.zeros((t, h, w), dtype=bool)
        np.logical_or.at(out, self.frame_to_token_time(mask.shape[0]), per_frame)
        return out

    def frame_to_token_time(self, num_frames: int) -> np.ndarray:
        """For each video frame, the token-time index whose tokens span it: int64 (T,)."""
        latent_t = self.num_latent_frames(num_frames)
        frames = np.arange(num_frames)
        if self.causal_first_frame:
            # frame 0 -> latent 0; frame f >= 1 -> latent 1 + (f - 1) // ct
            latent = np.where(frames == 0, 0, 1 + (frames - 1) // self.temporal_compression)
        else:
            latent = frames // self.temporal_compression
        assert latent.max() == latent_t - 1
        return (latent // self.patch_size[0]).astype(np.int64)
