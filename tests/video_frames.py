"""Shared by the tests that look inside a video: every frame OpenCV decodes from it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_video(path: str | Path) -> tuple[list[np.ndarray], float]:
    """``(frames, fps)``: each decoded frame ``(H, W, 3)`` uint8 BGR, and the rate the file states.
    A file OpenCV cannot open fails the test naming it."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                return frames, fps
            frames.append(frame)
    finally:
        cap.release()
