"""The architectures by name, as timm exposes its models: :func:`list_models` names them and
:func:`create_model` builds one with keyword-only options; :func:`model_from_config` rebuilds the
model an artifact's :class:`~edgeact.models.network.ModelConfig` describes."""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Optional, Sequence

from edgeact.errors import EdgeactError
from edgeact.models.network import HierarchicalI3D, ModelConfig
from edgeact.models.resnet3d import ResNet3d, channel_keys

# name -> (block kind, blocks per stack, the torchvision 2D model of the same depth)
ARCHS: dict[str, tuple[str, tuple[int, int, int, int], str]] = {
    "i3d_r18": ("basic", (2, 2, 2, 2), "resnet18"),
    "i3d_r34": ("basic", (3, 4, 6, 3), "resnet34"),
    "i3d_r50": ("bottleneck", (3, 4, 6, 3), "resnet50"),
    "i3d_r101": ("bottleneck", (3, 4, 23, 3), "resnet101"),
}


def list_models() -> list[str]:
    """The architecture names :func:`create_model` accepts, sorted."""
    return sorted(ARCHS)


def _check_levels(levels: Sequence[Optional[int]], num_classes: int) -> tuple[Optional[int], ...]:
    levels = tuple(levels)
    if len(levels) not in (0, 3):
        raise EdgeactError(
            f"levels must give the superclass counts after stacks 1, 2, 3 (e.g. 2,6,20 or none,2,5), "
            f"got {len(levels)} value(s): {levels}")
    for m in levels:
        if m is None:
            continue
        if not isinstance(m, int) or m < 1:
            raise EdgeactError(f"superclass count {m!r} must be a positive integer or None")
        if m > num_classes:
            raise EdgeactError(f"superclass count {m} exceeds the {num_classes} fine classes")
    return levels


def _check_channels(channels: Optional[Mapping[str, int]], block: str, layers: tuple[int, int, int, int],
                    name: str) -> Optional[dict[str, int]]:
    if channels is None:
        return None
    allowed = set(channel_keys(block, layers))
    for key, value in channels.items():
        if key not in allowed:
            raise EdgeactError(f"channels: {key!r} is not a stream ('stacks.K') or inner conv of {name}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise EdgeactError(f"channels: width of {key!r} must be a positive integer, got {value!r}")
    return dict(channels)


def create_model(name: str, *, num_classes: int, levels: Sequence[Optional[int]] = (), width: float = 1.0,
                 in_channels: int = 3, channels: Optional[Mapping[str, int]] = None) -> HierarchicalI3D:
    """Build an architecture of :func:`list_models`, untrained.

    Args:
        name: ``i3d_r18``, ``i3d_r34``, ``i3d_r50`` or ``i3d_r101``.
        num_classes: fine action classes (the head after stack 4).
        levels: superclass counts after stacks 1, 2, 3, coarse to fine; ``None`` for a stack
            without a head (N-UCLA: ``(None, 2, 5)``); ``()`` for the fine head only.
        width: channel multiplier (1.0 is the paper's network; small values for tests).
        in_channels: input channels ``C`` (3 for RGB).
        channels: optional per-layer widths of a compacted model (``ModelConfig.channels``).

    Returns:
        A model mapping ``(B, C, T, H, W)`` to a tuple of logits, one per active head, fine last.
    """
    if name not in ARCHS:
        raise EdgeactError(f"unknown architecture {name!r}; choose one of: {', '.join(list_models())}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise EdgeactError(f"num_classes must be a positive integer, got {num_classes!r}")
    if not width > 0:
        raise EdgeactError(f"width must be > 0, got {width!r}")
    levels = _check_levels(levels, num_classes)
    block, layers, _ = ARCHS[name]
    channels = _check_channels(channels, block, layers, name)
    config = ModelConfig(arch=name, num_classes=num_classes, levels=levels, width=width,
                         in_channels=in_channels, channels=channels)
    try:
        backbone = ResNet3d(block, layers, width=width, in_channels=in_channels, channels=channels)
    except ValueError as exc:  # only inconsistent ``channels`` get here: the rest is checked above
        raise EdgeactError(f"channels: {exc}") from None
    return HierarchicalI3D(config, backbone)


def model_from_config(config: ModelConfig) -> HierarchicalI3D:
    """Rebuild the (untrained) model an artifact describes, ``extra`` included."""
    model = create_model(config.arch, num_classes=config.num_classes, levels=config.levels,
                         width=config.width, in_channels=config.in_channels, channels=config.channels)
    if config.extra:
        model.config = replace(model.config, extra=dict(config.extra))
    return model
