"""Small value objects passed between stages and stored in artifacts."""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
