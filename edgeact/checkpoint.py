"""Self-describing checkpoints, safe to load (``torch.load(..., weights_only=True)``).

A checkpoint is a plain dict of tensors and JSON text, never pickled objects::

    {"format": "edgeact-checkpoint", "version": 1,
     "meta": "<JSON>",            # model config, input spec, class list, hierarchy, pruning, metrics
     "state_dict": {...},         # model weights and pruning masks
     "train_state": {...}}        # optional: optimizer / scheduler / epoch, for resuming

``meta`` holds at least ``model`` (:class:`ModelConfig` dict), ``input`` (:class:`InputSpec`
dict) and ``classes`` (:class:`ClassList` dict); training adds ``hierarchy``, ``pruning`` and
``metrics``. Every tool (eval, live, export) loads any artifact through :func:`load_checkpoint`.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_bytes
from edgeact.models import HierarchicalI3D, ModelConfig, model_from_config
from edgeact.types import InputSpec

FORMAT = "edgeact-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model plus its metadata."""

    model: HierarchicalI3D
    meta: dict
    train_state: dict = field(default_factory=dict)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def classes(self) -> ClassList:
        return ClassList.from_dict(self.meta["classes"])

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec.from_dict(self.meta["input"])


def build_meta(model: HierarchicalI3D, classes: ClassList, spec: InputSpec, **extra: Any) -> dict:
    meta = {"model": model.config.to_dict(), "input": spec.to_dict(), "classes": classes.to_dict()}
    meta.update(extra)
    return meta


def save_checkpoint(path: str | Path, model: HierarchicalI3D, meta: dict,
                    train_state: Optional[dict] = None) -> Path:
    """Write a checkpoint atomically (a crash never leaves a half file under ``path``)."""
    meta = {**meta, "model": model.config.to_dict()}
    payload = {"format": FORMAT, "version": VERSION, "meta": json.dumps(meta),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    if train_state:
        payload["train_state"] = train_state
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def read_checkpoint(path: str | Path) -> dict:
    """The raw payload of a checkpoint, loaded with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise EdgeactError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EdgeactError(f"{path}: not a readable checkpoint ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise EdgeactError(f"{path}: not an edgeact checkpoint (no '{FORMAT}' marker)")
    if payload.get("version", 0) > VERSION:
        raise EdgeactError(f"{path}: checkpoint version {payload['version']} is newer than this edgeact")
    try:
        payload["meta"] = json.loads(payload["meta"])
    except (KeyError, TypeError, json.JSONDecodeError):
        raise EdgeactError(f"{path}: checkpoint metadata is missing or not JSON") from None
    return payload


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model a checkpoint describes and load its weights and masks."""
    payload = read_checkpoint(path)
    meta = payload["meta"]
    for key in ("model", "input", "classes"):
        if key not in meta:
            raise EdgeactError(f"{path}: checkpoint metadata lacks {key!r}")
    model = model_from_config(ModelConfig.from_dict(meta["model"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise EdgeactError(f"{path}: weights do not match the architecture it names "
                           f"({str(exc).splitlines()[0]})") from None
    return Checkpoint(model.to(map_location), meta, payload.get("train_state", {}))
