"""Small value objects passed between stages and stored in artifacts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

from edgeact.errors import EdgeactError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """What the classifier eats: ``frames`` sampled frames, cropped to ``size``² from frames
    resized to ``resize``², RGB scaled to [0, 1] then normalized by ``mean``/``std``."""

    frames: int = 8
    size: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        return cls(frames=int(d["frames"]), size=int(d["size"]), resize=int(d.get("resize", 256)),
                   mean=tuple(d.get("mean", IMAGENET_MEAN)), std=tuple(d.get("std", IMAGENET_STD)))


def parse_levels(levels: str) -> tuple[Optional[int], ...]:
    """The ``--levels`` option: ``"2,6,20"`` -> ``(2, 6, 20)``; ``"none,2,5"`` -> ``(None, 2, 5)``;
    ``""`` -> ``()``."""
    if not levels.strip():
        return ()
    out: list[Optional[int]] = []
    for part in levels.split(","):
        part = part.strip().lower()
        if part in ("none", "-", "0"):
            out.append(None)
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise EdgeactError(f"{part!r} is not an integer or 'none' (expected e.g. 2,6,20 or none,2,5)",
                               param="levels") from None
    return tuple(out)
