"""The defaults of ``edgeact live``, in one dataclass.

:class:`edgeact.live.options.LiveOptions`, :class:`edgeact.live.pipeline.LiveConfig`,
:class:`edgeact.live.decide.Interpreter` and the ``live`` command's options all read them from
:data:`LIVE`, so a Python caller and the command line decide alike. The pose model and the window
cap keep their home beside the code that uses them (:mod:`edgeact.live.pose`,
:mod:`edgeact.live.window`); neither module imports torch, so the command line reads this one
without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeact.live.pose import DEFAULT_POSE_MODEL
from edgeact.live.window import DEFAULT_MAX_WINDOW_MB


@dataclass(frozen=True)
class LiveDefaults:
    test_sets: int = 1            # frame sets averaged per decision (the paper's test protocol: 5)
    topk: int = 3                 # labels per head in a decision
    threshold: float = 0.5        # below this top-1 probability a decision is shown as uncertain
    smooth: int = 3               # decisions averaged per track
    superclasses: str = "fine"    # fine (summed fine probabilities) or heads (their own output)
    stride: str = "0.5s"          # a new decision every N frames ("8") or seconds ("0.5s")
    max_window_mb: float = DEFAULT_MAX_WINDOW_MB
    pose_model: str = DEFAULT_POSE_MODEL
    pose_conf: float = 0.25       # minimum person confidence of the pose model
    pose_imgsz: int = 640         # pose model input side
    fallback_window_seconds: float = 2.0   # the window of artifacts that do not record their clip length


LIVE = LiveDefaults()
