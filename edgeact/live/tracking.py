"""Tracking people across the frames of one stream without extra packages: :class:`IouTracker`
(greedy box overlap) and :func:`box_iou`."""

from __future__ import annotations

import numpy as np

from edgeact.errors import EdgeactError


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU ``(N, M)`` of boxes ``a`` ``(N, 4)`` and ``b`` ``(M, 4)``, ``(x0, y0, x1, y1)``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


class IouTracker:
    """Greedy IoU tracker: each detection takes the id of the unclaimed track whose last box
    overlaps it most (IoU >= ``iou_threshold``), highest overlaps first; other detections start new
    tracks (ids 1, 2, ...); a track unseen for more than ``max_age`` updates is forgotten.
    Needs nothing beyond numpy (ultralytics' trackers need the ``lap`` package)."""

    def __init__(self, iou_threshold: float = 0.3, max_age: int = 30):
        if not (0 < iou_threshold <= 1):
            raise EdgeactError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
        self.iou_threshold, self.max_age = float(iou_threshold), int(max_age)
        self._boxes: dict[int, np.ndarray] = {}
        self._seen: dict[int, int] = {}
        self._step = 0
        self._next_id = 1

    def update(self, boxes: np.ndarray) -> np.ndarray:
        """Ids ``(N,)`` int64 for this frame's boxes ``(N, 4)``."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self._step += 1
        for tid in [t for t, s in self._seen.items() if self._step - s > self.max_age]:
            del self._boxes[tid], self._seen[tid]
        ids = np.zeros(len(boxes), np.int64)
        tids = list(self._boxes)
        taken = np.zeros(len(boxes), bool)
        if tids and len(boxes):
            iou = box_iou(np.stack([self._boxes[t] for t in tids]), boxes)   # (tracks, detections)
            for flat in np.argsort(-iou, axis=None, kind="stable"):
                ti, di = divmod(int(flat), len(boxes))
                if iou[ti, di] < self.iou_threshold:
                    break
                if taken[di] or tids[ti] is None:
                    continue
                ids[di], taken[di] = tids[ti], True
                tids[ti] = None  # type: ignore[call-overload]
        for di in np.flatnonzero(~taken):
            ids[di] = self._next_id
            self._next_id += 1
        for tid, box in zip(ids, boxes):
            self._boxes[int(tid)] = box
            self._seen[int(tid)] = self._step
        return ids
