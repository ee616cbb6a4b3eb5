"""Drawing of the live overlay: skeletons, crop boxes and labels on a frame (OpenCV), and the
one-line text of a decision."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgeact.live.decide import Decision

# Kinect v2 (NTU skeleton files) 25 joints: child -> parent
_KINECT_PARENTS = (-1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 6, 11, 10)
_COCO_EDGES = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (5, 11), (6, 12), (11, 12), (11, 13), (13, 15),
               (12, 14), (14, 16), (0, 1), (0, 2), (1, 3), (2, 4))


def skeleton_edges(num_joints: int) -> tuple[tuple[int, int], ...]:
    """Bones to draw for a known joint layout (COCO 17, Kinect 25); none for others."""
    if num_joints == 17:
        return _COCO_EDGES
    if num_joints == 25:
        return tuple((j, p) for j, p in enumerate(_KINECT_PARENTS) if p >= 0)
    return ()


def decision_text(d: Decision) -> str:
    """``"wave left hand 0.91"``, or ``"uncertain (wave left hand? 0.34)"`` below the threshold."""
    top = d.fine[0]
    return f"uncertain ({top.label}? {top.p:.2f})" if d.uncertain else f"{top.label} {top.p:.2f}"


LABEL_MIN_PX = 10               # smallest label capital height, in pixels: readable on 320x240
LABEL_HEIGHT_FRACTION = 1 / 45  # label capital height as a fraction of the frame height above that


@dataclass(frozen=True)
class LabelStyle:
    """How big labels are on a frame: drawn capital height ``text_px``, OpenCV ``font_scale`` and
    ``thickness``, and the ``pad`` of the filled box around each line (pixels)."""

    text_px: int
    font_scale: float
    thickness: int
    pad: int

    @property
    def line_px(self) -> int:
        """Height of one label line's box: text, room for descenders, and the pad above and below."""
        return self.text_px + self.descent + 2 * self.pad

    @property
    def descent(self) -> int:
        return int(math.ceil(0.35 * self.text_px))


@lru_cache(maxsize=8)
def _cap_height(thickness: int) -> int:
    """Rows of ink of a capital H drawn at font scale 1: measured, because ``getTextSize``'s height
    is not the drawn one and its metrics change between OpenCV versions."""
    import cv2

    canvas = np.zeros((120, 120), np.uint8)
    cv2.putText(canvas, "H", (20, 80), _FONT, 1.0, 255, thickness, cv2.LINE_8)
    rows = np.nonzero(canvas.any(axis=1))[0]
    return int(rows[-1] - rows[0] + 1)


def label_style(frame_height: int) -> LabelStyle:
    """Label size for a frame ``frame_height`` px tall: capitals ``LABEL_HEIGHT_FRACTION`` of it,
    at least ``LABEL_MIN_PX``."""
    text_px = max(LABEL_MIN_PX, int(round(frame_height * LABEL_HEIGHT_FRACTION)))
    thickness = max(1, int(round(text_px / 14)))
    return LabelStyle(text_px, text_px / _cap_height(thickness), thickness, max(2, int(round(text_px / 4))))


def draw_label(img: np.ndarray, lines: list[str], anchor: tuple[int, int, int, int], color: tuple[int, int, int],
               style: LabelStyle) -> tuple[int, int, int, int]:
    """Draw ``lines`` once each on filled boxes of ``color`` just above the box ``anchor``
    ``(x0, y0, x1, y1)`` (inside its top when there is no room above), kept within the frame;
    the text is black or white, whichever reads on ``color``. Returns the labels' extent
    ``(x0, y0, x1, y1)`` (exclusive ends)."""
    import cv2

    h, w = img.shape[:2]
    widths = [cv2.getTextSize(t, _FONT, style.font_scale, style.thickness)[0][0] for t in lines]
    box_w = min(w, max(widths) + 2 * style.pad)
    total = style.line_px * len(lines)
    x = min(max(0, anchor[0]), max(0, w - box_w))
    y = anchor[1] - total if anchor[1] - total >= 0 else max(0, min(anchor[1], h - total))
    ink = (0, 0, 0) if 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2] > 128 else (255, 255, 255)
    for i, (text, tw) in enumerate(zip(lines, widths)):
        top = y + i * style.line_px
        cv2.rectangle(img, (x, top), (x + min(box_w, tw + 2 * style.pad) - 1, top + style.line_px - 1), color, -1)
        cv2.putText(img, text, (x + style.pad, top + style.pad + style.text_px), _FONT, style.font_scale, ink,
                    style.thickness, cv2.LINE_AA)
    return x, y, x + box_w, y + total


def draw_overlay(image: np.ndarray, people, latest: dict[int, Decision]) -> np.ndarray:
    """A copy of ``image`` ``(H, W, 3)`` BGR with each person's skeleton and, for a track with a
    decision in ``latest``, the crop box and a label (the action, then each superclass level) on a
    filled box of the track's colour (yellow when uncertain), sized by :func:`label_style`."""
    import cv2

    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.35, min(w, h) / 600)
    style = label_style(h)
    for p in people:
        kp = np.asarray(p.keypoints, np.float64)
        color = track_color(p.track)
        for a, b in skeleton_edges(len(kp)):
            if np.isfinite(kp[[a, b]]).all():
                cv2.line(out, _pt(kp[a]), _pt(kp[b]), color, max(1, int(2 * scale)), cv2.LINE_AA)
        for xy in kp[np.isfinite(kp).all(axis=1)]:
            cv2.circle(out, _pt(xy), max(1, int(3 * scale)), color, -1, cv2.LINE_AA)
        d = latest.get(p.track)
        if d is None:
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in d.box)
        box_color = UNCERTAIN_COLOR if d.uncertain else color
        cv2.rectangle(out, (x0, y0), (x1, y1), box_color, max(1, int(2 * scale)))
        lines = [f"#{p.track} {decision_text(d)}"] + [f"{lv[0].label} {lv[0].p:.2f}" for lv in d.levels if lv]
        draw_label(out, lines, (x0, y0, x1, y1), box_color, style)
    return out


def _pt(xy: np.ndarray) -> tuple[int, int]:
    return int(round(float(xy[0]))), int(round(float(xy[1])))


_FONT = 0   # cv2.FONT_HERSHEY_SIMPLEX, without importing cv2 here
UNCERTAIN_COLOR = (0, 215, 255)
_PALETTE = ((80, 200, 80), (255, 140, 40), (60, 60, 230), (200, 80, 200), (40, 200, 220), (220, 220, 60))


def track_color(track: int) -> tuple[int, int, int]:
    """BGR colour of a track's skeleton, box and label."""
    return _PALETTE[track % len(_PALETTE)]
