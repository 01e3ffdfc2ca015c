"""Propagate first-frame object masks through a video.

Each frame, every object's mask is carried forward by DIS optical flow, then re-decided
pixel by pixel from appearance (a Lab colour histogram per object against one for the
background), with a learned depth order settling overlaps. Each object also keeps an
*amodal* mask (its full extent, hidden parts included) that coasts at the object's last
velocity while occluded, so the id is still there when the object comes out again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from ..trajectory import MAX_OBJECTS

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class TrackerError(ValueError):
    """Bad input to the tracker (shapes, dtypes, ids)."""


@dataclass(frozen=True)
class TrackerConfig:
    """Knobs of :class:`MaskTracker`; the defaults were tuned on sprites and real clips."""

    flow_preset: str = "medium"
    # Frames smaller than this (short side, px) are upscaled before flow: DIS works on
    # 8 px patches over a pyramid, which has almost no levels on 64x64 sprites.
    min_flow_side: int = 128
    # Lab histogram bins (L, a, b); coarse L so shading changes move few pixels out.
    bins: tuple[int, int, int] = (8, 16, 16)
    # Weight of a uniform mixed into every histogram, so a colour that neither model has
    # seen scores 0.5 (undecided) whatever the two models' pixel counts.
    hist_prior: float = 0.02
    # Weight of the current frame when the colour models are refreshed (0 = frozen).
    hist_update: float = 0.05
    # Blur (px, at the frame's own scale) of the warped mask: how far appearance may grow it.
    grow_sigma: float = 1.0
    # A pixel joins an object when blurred_prediction * appearance >= this.
    accept: float = 0.25
    # Colour evidence (appearance score) a pixel outside the predicted core needs to join.
    grow_evidence: float = 0.6
    # Appearance margin that counts as clear evidence of which object is in front.
    depth_margin: float = 0.2
    # Fewest visible pixels from which an object's own velocity is measured.
    min_pixels: int = 4

    def __post_init__(self) -> None:
        if self.flow_preset not in _PRESETS:
            raise TrackerError(f"flow_preset must be one of {sorted(_PRESETS)}, got {self.flow_preset!r}")
        if not 0.0 < self.accept < 1.0:
            raise TrackerError(f"accept must lie in (0, 1), got {self.accept}")
        if not 0.0 < self.hist_prior < 1.0:
            raise TrackerError(f"hist_prior must lie in (0, 1), got {self.hist_prior}")
        if not 0.0 <= self.hist_update <= 1.0:
            raise TrackerError(f"hist_update must lie in [0, 1], got {self.hist_update}")


def _check_inputs(video: np.ndarray, first_ids: np.ndarray) -> None:
    if not isinstance(video, np.ndarray) or video.ndim != 4 or video.shape[-1] != 3:
        raise TrackerError(f"video must be a (T, H, W, 3) array, got {getattr(video, 'shape', type(video))}")
    if video.dtype != np.uint8:
        raise TrackerError(f"video must be uint8 RGB, got {video.dtype}")
    if video.shape[0] < 1:
        raise TrackerError("video has no frames")
    if not isinstance(first_ids, np.ndarray) or first_ids.shape != video.shape[1:3]:
        raise TrackerError(
            f"first_ids must be (H, W) = {video.shape[1:3]}, got {getattr(first_ids, 'shape', type(first_ids))}"
        )
    if first_ids.dtype != np.uint8:
        raise TrackerError(f"first_ids must be uint8, got {first_ids.dtype}")
    if first_ids.max() > MAX_OBJECTS:
        raise TrackerError(f"first_ids holds id {first_ids.max()} > MAX_OBJECTS = {MAX_OBJECTS}")


class _ColourModel:
    """A normalised Lab histogram (n_bins,) mixed with a uniform of weight ``prior``."""

    def __init__(self, codes: np.ndarray, n_bins: int, prior: float) -> None:
        self.n_bins, self.prior = n_bins, prior
        self.p = self._hist(codes)

    def _hist(self, codes: np.ndarray) -> np.ndarray:
        h = np.bincount(codes, minlength=self.n_bins).astype(np.float64)
        h = h / h.sum() if h.sum() > 0 else np.full(self.n_bins, 1.0 / self.n_bins)
        return (1 - self.prior) * h + self.prior / self.n_bins

    def update(self, codes: np.ndarray, rate: float) -> None:
        if rate > 0 and codes.size:
            self.p = (1 - rate) * self.p + rate * self._hist(codes)


class MaskTracker:
    """Propagates first-frame instance masks through a video.

    >>> tracker = MaskTracker()
    >>> ids = tracker.track(video, first_ids)          # (T, H, W) uint8, ids[0] == first_ids
    >>> for t, ids_t in tracker.propagate(video, first_ids): ...   # frame by frame

    Ids keep their values: an object never changes id, and one that is fully hidden or
    has left the frame is simply absent (zero pixels) in those frames.
    """

    def __init__(self, config: TrackerConfig | None = None, **overrides: object) -> None:
        base = config or TrackerConfig()
        self.config = TrackerConfig(**{**base.__dict__, **overrides}) if overrides else base
        self._dis = cv2.DISOpticalFlow_create(_PRESETS[self.config.flow_preset])

    # ---- public API -----------------------------------------------------------------
    def track(self, video: np.ndarray, first_ids: np.ndarray) -> np.ndarray:
        """Ids for every frame, (T, H, W) uint8 (MaskTrajectory-compatible)."""
        _check_inputs(video, first_ids)
        out = np.zeros(video.shape[:3], np.uint8)
        for t, ids_t in self.propagate(video, first_ids):
            out[t] = ids_t
        return out

    def propagate(self, video: np.ndarray, first_ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(t, ids_t)`` with ids_t (H, W) uint8, starting at t = 0 (= first_ids)."""
        _check_inputs(video, first_ids)
        cfg = self.config
        T, H, W, _ = video.shape
        object_ids = [int(i) for i in np.unique(first_ids) if i != 0]
        K = len(object_ids)
        codes = self._codes(video[0])  # (H, W) histogram bin of each pixel
        n_bins = int(np.prod(cfg.bins))
        bg_model = _ColourModel(codes[first_ids == 0], n_bins, cfg.hist_prior)
        models = [_ColourModel(codes[first_ids == k], n_bins, cfg.hist_prior) for k in object_ids]
        visible = np.stack([(first_ids == k) for k in object_ids]).astype(np.float32) if K else np.zeros((0, H, W), np.float32)
        amodal = visible.copy()  # (K, H, W) full extent, hidden parts included
        velocity = np.zeros((K, 2), np.float32)  # (K, [dx, dy]) px per frame
        residual = np.zeros((K, 2), np.float32)  # sub-pixel part of the coasting not yet applied
        hidden_for = np.zeros(K, np.int64)  # frames since the object last mostly showed
        in_front = np.zeros((K, K), np.float64)  # [k, j]: evidence that k covers j
        yield 0, first_ids.copy()

        grid = np.stack(np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32)), -1)  # (H, W, 2)
        prev_gray = self._gray(video[0])
        for t in range(1, T):
            gray = self._gray(video[t])
            if K == 0:
                prev_gray = gray
                yield t, np.zeros((H, W), np.uint8)
                continue
            fwd = self._flow(prev_gray, gray)  # (H, W, 2): where each pixel of t-1 goes
            bwd = self._flow(gray, prev_gray)  # (H, W, 2): where each pixel of t came from
            codes = self._codes(video[t])

            # 1. Predict: visible parts ride the flow; hidden parts coast at the object's velocity.
            maps = grid + bwd
            pred = np.zeros_like(amodal)
            for i in range(K):
                vis = visible[i] > 0.5
                # Flow along an occlusion edge is smeared by the occluder, so the velocity is
                # only re-measured while at least half of the object shows; else it coasts.
                if vis.sum() >= max(cfg.min_pixels, 0.5 * (amodal[i] > 0.5).sum()):
                    velocity[i] = np.median(fwd[vis], axis=0)
                    hidden_for[i] = 0
                else:
                    hidden_for[i] += 1
                warped = cv2.remap(visible[i], maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderValue=0)
                # The whole amodal mask coasts too: the flow inside an occluder follows the
                # occluder, so only the object's own velocity can carry it behind one. Whole
                # pixel steps (the remainder carried over) keep the binary mask from eroding.
                step = np.round(velocity[i] + residual[i])
                residual[i] += velocity[i] - step
                coasted = _shift(amodal[i] > 0.5, int(step[0]), int(step[1])).astype(np.float32)
                pred[i] = np.maximum(warped, coasted)

            # 2. Appearance: p(object colour) / (p(object) + p(background)) per pixel, (K, H, W).
            p_bg = bg_model.p[codes]
            app = np.stack([m.p[codes] / (m.p[codes] + p_bg) for m in models])
            soft = np.stack([cv2.GaussianBlur(p, (0, 0), cfg.grow_sigma) for p in pred]) if cfg.grow_sigma > 0 else pred
            # A hidden object's whereabouts grow less certain each frame (its coasting speed
            # is a guess): give it a search halo that widens with the frames it has been
            # hidden, where a pixel of its colour (app > grow_evidence) passes `accept`.
            for i in np.nonzero(hidden_for)[0]:
                r = int(np.ceil(hidden_for[i] * (1.0 + float(np.abs(velocity[i]).max()))))
                kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
                halo = cv2.dilate((pred[i] > 0.5).astype(np.uint8), kernel).astype(np.float32)
                soft[i] = np.maximum(soft[i], 0.5 * halo)
            score = np.maximum(soft, pred) * app
            # Outside the predicted core a pixel needs positive colour evidence: an unseen
            # colour scores ~0.5 and would otherwise let masks creep outwards frame by frame.
            candidate = (score >= cfg.accept) & ((pred > 0.5) | (app > cfg.grow_evidence))
            # A prediction that found none of its object's colour has lost a sudden mover
            # (a jump leaves faster than the flow and the coasting say): look again within
            # about one object size of it, on colour evidence alone.
            for i in range(K):
                if not candidate[i].any() and (pred[i] > 0.5).any():
                    r = int(np.ceil(np.sqrt((pred[i] > 0.5).sum())))
                    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
                    near = cv2.dilate((pred[i] > 0.5).astype(np.uint8), kernel).astype(bool)
                    candidate[i] = near & (app[i] > cfg.grow_evidence)

            # 3. Decide overlaps: best appearance wins; a small depth bonus breaks ties.
            rank = (in_front > in_front.T).sum(axis=1) / max(K, 1)  # (K,) 0 = behind all
            key = np.where(candidate, app + 0.05 * rank[:, None, None], -np.inf)
            winner = key.argmax(axis=0)  # (H, W) index into object_ids
            labelled = candidate.any(axis=0)
            new_visible = np.stack([(winner == i) & labelled for i in range(K)]).astype(np.float32)

            # 4. Learn the depth order from clear appearance wins inside predicted overlaps.
            core = pred > 0.5
            for i in range(K):
                for j in range(K):
                    if i != j:
                        clear = core[i] & core[j] & (new_visible[i] > 0) & (app[i] - app[j] > cfg.depth_margin)
                        in_front[i, j] += clear.sum()

            # 5. Amodal: what shows, plus the predicted part that an object in front now covers.
            covered_by = np.zeros((K, H, W), bool)
            for i in range(K):
                front = [j for j in range(K) if j != i and in_front[j, i] >= in_front[i, j]]
                if front:
                    covered_by[i] = new_visible[front].max(axis=0) > 0
            amodal = np.maximum(new_visible, (core & covered_by).astype(np.float32))
            # An object that lost every pixel without anything in front of it (a fast,
            # small mover the flow missed) keeps coasting where it was predicted, so the
            # search halo can find it again; otherwise it would be gone for good.
            for i in range(K):
                if not new_visible[i].any() and not amodal[i].any():
                    amodal[i] = core[i]
            visible = new_visible

            # 6. Refresh the colour models slowly (lighting drift on real footage).
            if cfg.hist_update > 0:
                ids_now = self._to_ids(visible, object_ids)
                bg_model.update(codes[ids_now == 0], cfg.hist_update)
                for i, m in enumerate(models):
                    m.update(codes[visible[i] > 0], cfg.hist_update)
            prev_gray = gray
            yield t, self._to_ids(visible, object_ids)

    # ---- helpers -------------------------------------------------------------------
    @staticmethod
    def _to_ids(visible: np.ndarray, object_ids: list[int]) -> np.ndarray:
        ids = np.zeros(visible.shape[1:], np.uint8)
        for i, k in enumerate(object_ids):
            ids[visible[i] > 0] = k
        return ids

    @staticmethod
    def _gray(frame: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)

    def _codes(self, frame: np.ndarray) -> np.ndarray:
        """(H, W) int64 histogram bin of each pixel's Lab colour."""
        lab = cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(np.int64)  # 8-bit Lab: all in 0..255
        bl, ba, bb = self.config.bins
        q = [(lab[..., c] * n) // 256 for c, n in enumerate((bl, ba, bb))]
        return (q[0] * ba + q[1]) * bb + q[2]

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """DIS flow from gray a to gray b, (H, W, 2) float32 in a's pixel units."""
        H, W = a.shape
        s = max(1.0, self.config.min_flow_side / min(H, W))
        if s > 1.0:
            size = (round(W * s), round(H * s))
            a = cv2.resize(a, size, interpolation=cv2.INTER_LINEAR)
            b = cv2.resize(b, size, interpolation=cv2.INTER_LINEAR)
        flow = self._dis.calc(a, b, None)
        if s > 1.0:
            flow = cv2.resize(flow, (W, H), interpolation=cv2.INTER_AREA) / s
        return flow.astype(np.float32)


def _shift(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """(H, W) bool mask moved by whole pixels; what leaves the frame is dropped."""
    H, W = mask.shape
    out = np.zeros_like(mask)
    if abs(dx) >= W or abs(dy) >= H:
        return out
    out[max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = mask[
        max(-dy, 0) : H + min(-dy, 0), max(-dx, 0) : W + min(-dx, 0)
    ]
    return out


def optical_flow(video: np.ndarray, preset: str = "medium", min_side: int = 128) -> np.ndarray:
    """DIS flow between consecutive frames of a (T, H, W, 3) uint8 video, (T-1, H, W, 2) float32."""
    if not isinstance(video, np.ndarray) or video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise TrackerError(f"video must be (T, H, W, 3) uint8, got {getattr(video, 'shape', None)} {getattr(video, 'dtype', None)}")
    tracker = MaskTracker(flow_preset=preset, min_flow_side=min_side)
    grays = [tracker._gray(f) for f in video]
    if len(grays) < 2:
        return np.zeros((0, *video.shape[1:3], 2), np.float32)
    return np.stack([tracker._flow(a, b) for a, b in zip(grays[:-1], grays[1:])])
