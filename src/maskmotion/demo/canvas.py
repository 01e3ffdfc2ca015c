"""The picture the page shows and takes clicks on: the image at a fixed display size with
the masks, boxes, pinned points and paths drawn over it, in each object's palette colour.

Small images are enlarged (nearest neighbour, so a 64x64 scene stays crisp and clickable)
and large ones reduced; `Canvas.to_source` maps a click back to the original's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..plan import resize_ids
from ..trajectory import PALETTE
from .state import DemoObject, ObjectPath

#: Long side of the canvas in screen pixels.
DISPLAY_LONG_SIDE = 512
MASK_ALPHA = 0.45


@dataclass(frozen=True)
class Canvas:
    """Maps between the original image (``source_size``, (H, W)) and the canvas."""

    source_size: tuple[int, int]

    @property
    def scale(self) -> float:
        return DISPLAY_LONG_SIDE / max(self.source_size)

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the canvas."""
        h, w = self.source_size
        return max(1, round(h * self.scale)), max(1, round(w * self.scale))

    def to_source(self, xy) -> tuple[int, int]:
        """A canvas pixel (x, y) as the original's pixel."""
        return int((xy[0] + 0.5) / self.scale), int((xy[1] + 0.5) / self.scale)

    def to_canvas(self, xy) -> tuple[int, int]:
        return int(round((xy[0] + 0.5) * self.scale - 0.5)), int(round((xy[1] + 0.5) * self.scale - 0.5))

    def fit(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 at the canvas size: nearest when enlarging, area when reducing."""
        h, w = self.size
        if image.shape[:2] == (h, w):
            return image
        enlarge = h > image.shape[0]
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_NEAREST if enlarge else cv2.INTER_AREA)

    def draw(
        self,
        image: np.ndarray,
        objects: list[DemoObject],
        first_ids: np.ndarray | None = None,
        selected: int | None = None,
        corner: tuple[int, int] | None = None,
        moving: int | None = None,
    ) -> np.ndarray:
        """The canvas picture: ``image`` (any size, the original's aspect) with the plan's
        first-frame masks (``first_ids``, ids in the objects' order) blended in and every
        object's box, points and path drawn."""
        out = self.fit(image).copy()
        if first_ids is not None:
            ids = resize_ids(first_ids, self.size)
            colours = PALETTE[np.minimum(ids, len(PALETTE) - 1)].astype(np.float32)
            inside = (ids > 0)[..., None]
            out = np.where(inside, (1 - MASK_ALPHA) * out + MASK_ALPHA * colours, out).round().astype(np.uint8)
        boxed = 0
        for i, obj in enumerate(objects):
            # Boxed objects get ids 1, 2, ... in list order, as the plan numbers them.
            boxed += obj.box is not None
            colour = tuple(int(c) for c in PALETTE[boxed]) if obj.box is not None else (160, 160, 160)
            thick = 3 if i == selected else 1
            if obj.box is not None:
                x0, y0 = self.to_canvas(obj.box[:2])
                x1, y1 = self.to_canvas((obj.box[2] - 1, obj.box[3] - 1))
                _outlined(cv2.rectangle, out, (x0, y0), (x1, y1), colour, thick)
                _label(out, obj.name + (" (drag)" if obj.drag else ""), (x0, y0), colour)
            for x, y, on in obj.points:
                c = self.to_canvas((x, y))
                cv2.circle(out, c, 6, (0, 0, 0), -1, cv2.LINE_AA)
                cv2.circle(out, c, 4, (60, 220, 60) if on else (230, 40, 40), -1, cv2.LINE_AA)
            if obj.path is not None:
                self._draw_path(out, obj.path, colour, i == selected, moving if i == selected else None)
        if corner is not None:
            c = self.to_canvas(corner)
            cv2.drawMarker(out, c, (255, 255, 255), cv2.MARKER_CROSS, 14, 3)
            cv2.drawMarker(out, c, (0, 0, 0), cv2.MARKER_CROSS, 14, 1)
        return out

    def _draw_path(self, out: np.ndarray, path: ObjectPath, colour, selected: bool, moving: int | None) -> None:
        pts = [self.to_canvas(p) for p in path.points]
        for a, b in zip(pts, pts[1:]):
            _outlined(cv2.line, out, a, b, colour, 3 if selected else 2)
        if len(pts) > 1 and pts[-1] != pts[-2]:
            cv2.arrowedLine(out, pts[-2], pts[-1], colour, 3 if selected else 2, cv2.LINE_AA, tipLength=0.25)
        for k, p in enumerate(pts):
            cv2.circle(out, p, 7 if k == moving else 5, (0, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(out, p, 5 if k == moving else 3, (255, 255, 255) if k == moving else colour, -1, cv2.LINE_AA)


def _outlined(draw, out: np.ndarray, a, b, colour, thick: int) -> None:
    # A dark outline keeps light colours visible on light images.
    draw(out, a, b, (0, 0, 0), thick + 2, cv2.LINE_AA)
    draw(out, a, b, colour, thick, cv2.LINE_AA)


def _label(out: np.ndarray, text: str, at: tuple[int, int], colour) -> None:
    x, y = at[0], max(14, at[1] - 4)
    cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
