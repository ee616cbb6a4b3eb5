"""The one device resolver: an edgeact device name -> a ``torch.device`` this machine has.

Every mode (train, eval, live, export, bench, the pose model) resolves its ``device`` here, so a
name means the same everywhere and a bad one is the same one-line :class:`EdgeactError`:

- ``auto``: the first CUDA GPU when torch sees one, else the CPU;
- ``cpu``, ``cuda`` (the current GPU), ``cuda:N``, or a bare ``N`` (ultralytics' spelling of
  ``cuda:N``); ``mps`` on Apple silicon.

ONNX Runtime and OpenVINO take the name, not the ``torch.device``: ONNX falls back to the CPU
with a warning when its build has no CUDA provider, and OpenVINO has device names of its own
(``GPU.1``, ``NPU``); both check the name's spelling with :func:`device_name` first.

torch is imported when a name is resolved, not with this module, so light modules (the CLI,
the ONNX backend) can import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeact.errors import EdgeactError

if TYPE_CHECKING:
    import torch

DEVICE_NAMES = "auto, cpu, cuda, cuda:N"
"""How the names are spelled, for help texts and errors."""

_TYPES = ("cpu", "cuda", "mps")


def device_name(name: str | torch.device) -> str:
    """The canonical spelling of ``name`` (``"0"`` -> ``"cuda:0"``, ``"CUDA"`` -> ``"cuda"``,
    ``"auto"`` kept) without asking whether this machine has it; an :class:`EdgeactError` for a
    name that is no device."""
    import torch

    if isinstance(name, torch.device):
        return str(name)
    text = str(name).strip().lower()
    if text == "auto":
        return text
    if text.isdigit():
        text = f"cuda:{text}"
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise EdgeactError(f"device {name!r}: not a device name ({DEVICE_NAMES})") from None
    if dev.type not in _TYPES:
        raise EdgeactError(f"device {name!r}: edgeact runs on {', '.join(_TYPES)} (names: {DEVICE_NAMES})")
    return str(dev)


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``name`` (see the module docstring) -> the ``torch.device`` to run on.

    An :class:`EdgeactError` when the name is no device, or names one this machine lacks: CUDA
    without a GPU torch can use, ``cuda:N`` past the last GPU, ``mps`` off Apple silicon.
    """
    import torch

    text = device_name(name)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(text)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise EdgeactError(f"device {text}: CUDA is not available on this machine")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise EdgeactError(f"device {text}: this machine has {count} CUDA device(s) "
                               f"(cuda:0{f' .. cuda:{count - 1}' if count > 1 else ''})")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise EdgeactError(f"device {text}: MPS is not available on this machine")
    return dev
