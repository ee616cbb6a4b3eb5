"""Inflate a torchvision 2D ResNet's weights into the 3D model.

Names map one to one (``layerK.*`` -> ``backbone.stacks.{K-1}.*``, ``conv1``/``bn1`` ->
``backbone.stem.*``); the ImageNet ``fc`` is dropped because our heads differ. A 2D kernel
``(O, I, kH, kW)`` becomes ``(O, I, kT, kH, kW)``:

- ``mode="center"`` (default) puts the 2D kernel at the middle temporal tap and zeros elsewhere.
  The inflated network then computes exactly the 2D network on every frame, including the first
  and last (whose temporal neighbours are zero padding), so a clip of identical frames gives each
  stack's 2D output at every time step.
- ``mode="mean"`` is I3D's "bootstrapping": the kernel repeated over ``kT`` taps and divided by
  ``kT``. It matches the 2D network on identical frames only away from the temporal borders,
  because the zero padding in time removes part of the sum there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Mapping

import torch
from torch import nn

from edgeact.errors import EdgeactError
from edgeact.models.registry import ARCHS

_MASK_SUFFIXES = (".filter_mask", ".channel_mask")


def _key_3d(key_2d: str) -> str | None:
    """torchvision 2D key -> our 3D key, ``None`` for keys we do not use (the ImageNet fc)."""
    if key_2d.startswith("fc."):
        return None
    m = re.match(r"layer([1-4])\.(.*)", key_2d)
    if m:
        return f"backbone.stacks.{int(m.group(1)) - 1}.{m.group(2)}"
    if key_2d.startswith(("conv1.", "bn1.")):
        return f"backbone.stem.{key_2d}"
    return key_2d  # unknown: reported as unexpected below


def _describe_2d(state_dict: Mapping[str, torch.Tensor]) -> str:
    """A short guess of the depth a 2D ResNet state dict has, for error messages."""
    blocks = []
    for k in range(1, 5):
        ids = {int(m.group(1)) for key in state_dict if (m := re.match(rf"layer{k}\.(\d+)\.", key))}
        blocks.append(len(ids))
    kind = "bottleneck" if any(".conv3." in key for key in state_dict) else "basic"
    known = {("basic", (2, 2, 2, 2)): "resnet18", ("basic", (3, 4, 6, 3)): "resnet34",
             ("bottleneck", (3, 4, 6, 3)): "resnet50", ("bottleneck", (3, 4, 23, 3)): "resnet101",
             ("bottleneck", (3, 8, 36, 3)): "resnet152"}
    return known.get((kind, tuple(blocks)), f"a {kind} ResNet with blocks {tuple(blocks)}")


def _inflate_tensor(w2d: torch.Tensor, target: torch.Tensor, mode: str) -> torch.Tensor:
    if w2d.dim() == 4 and target.dim() == 5:
        kt = target.shape[2]
        if mode == "center":
            out = torch.zeros_like(target)
            out[:, :, kt // 2] = w2d
            return out
        return w2d.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt
    return w2d


def inflate_2d_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *,
                       mode: Literal["center", "mean"] = "center", source: str = "state dict") -> nn.Module:
    """Fill ``model``'s backbone from a torchvision 2D ResNet ``state_dict`` of the same depth.

    Heads are left as they are. Raises :class:`EdgeactError` naming ``source`` when the state
    dict does not match the architecture (depth, width, missing or unexpected keys).
    Returns ``model`` for chaining.
    """
    if mode not in ("center", "mean"):
        raise EdgeactError(f"inflation mode must be 'center' or 'mean', got {mode!r}")
    arch = getattr(getattr(model, "config", None), "arch", type(model).__name__)
    own = model.state_dict()
    wanted = {k for k in own if k.startswith("backbone.") and not k.endswith(_MASK_SUFFIXES)}
    looks_like = _describe_2d(state_dict)
    needs = ARCHS.get(arch, (None, None, None))[2]
    if needs is not None and looks_like != needs:
        raise EdgeactError(f"{source}: looks like {looks_like} weights, but {arch} needs {needs} weights")
    updates: dict[str, torch.Tensor] = {}
    for key_2d, w2d in state_dict.items():
        key = _key_3d(key_2d)
        if key is None:
            continue
        if key not in own:
            raise EdgeactError(f"{source}: unexpected key {key_2d!r}; it looks like {looks_like}, "
                               f"which does not match {arch}")
        target = own[key]
        if not torch.is_tensor(w2d):
            raise EdgeactError(f"{source}: value of {key_2d!r} is not a tensor")
        expected_2d = target.shape if target.dim() != 5 else target.shape[:2] + target.shape[3:]
        if tuple(w2d.shape) != tuple(expected_2d):
            raise EdgeactError(f"{source}: {key_2d!r} has shape {tuple(w2d.shape)} but {arch} needs "
                               f"{tuple(expected_2d)}; it looks like {looks_like} (or a different width)")
        updates[key] = _inflate_tensor(w2d.to(target.dtype), target, mode)
    missing = sorted(wanted - set(updates))
    if missing:
        raise EdgeactError(f"{source}: {len(missing)} backbone tensor(s) missing, first {missing[0]!r}; "
                           f"it looks like {looks_like}, which does not match {arch}")
    with torch.no_grad():
        for key, value in updates.items():
            own[key].copy_(value)
    return model


def load_2d_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a torchvision ResNet checkpoint safely (``weights_only=True``).

    Accepts a plain state dict or one nested under ``state_dict``/``model`` and strips a DDP
    ``module.`` prefix.
    """
    path = Path(path)
    if not path.is_file():
        raise EdgeactError(f"{path}: no such file (expected a torchvision ResNet state dict, .pth)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeactError(f"{path}: cannot be read as a weights-only torch checkpoint ({first})") from None
    for nest in ("state_dict", "model"):
        if isinstance(obj, dict) and nest in obj and isinstance(obj[nest], dict):
            obj = obj[nest]
    if not isinstance(obj, dict) or not obj:
        raise EdgeactError(f"{path}: does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in obj.items()}
