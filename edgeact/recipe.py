"""Training recipes: one frozen dataclass, serialized as YAML (one file per benchmark in train/).

YAML keys, CLI flags (``--lr`` ...) and keyword arguments share names. Defaults are the paper's
(§4.1): Inflated ResNet-50, 20 epochs per pass, Adam lr 1e-4 divided by 10 when the validation
loss has not improved for 2 epochs, 8 frames, 224² crops of 256² frames, 5 test clips, 10 %
pruning per pass until two passes in a row fail to beat the best.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgeact.errors import EdgeactError

RESUME_SAFE_KEYS = frozenset({"workers"})
"""Recipe keys a run may change between its invocations: ``workers`` only decides how many
processes load clips, and every clip's sampling and augmentation depend on the seed, the epoch and
the clip alone (:class:`edgeact.data.clips.ClipDataset`), so the run computes the same numbers.
Every other key changes the model, the data or the optimization."""


class RecipeError(EdgeactError):
    """A recipe value is invalid; ``problem`` is the message without the source (``"epochs must
    be an integer, got 2.5"``), so a reader can name its file instead."""

    def __init__(self, problem: str):
        super().__init__(f"recipe: {problem}")
        self.problem = problem


@dataclass(frozen=True)
class Recipe:
    benchmark: str
    arch: str = "i3d_r50"
    levels: tuple[Optional[int], ...] = (2, 6, 20)
    loss_weights: tuple[float, ...] = (1 / 8, 1 / 4, 1 / 2, 1.0)
    width: float = 1.0
    frames: int = 8
    size: int = 224
    resize: int = 256
    epochs: int = 20
    prune_epochs: Optional[int] = None        # epochs of each pruning pass (default: epochs)
    lr: float = 1e-4
    lr_factor: float = 0.1
    lr_patience: int = 2
    weight_decay: float = 0.0
    batch_size: int = 16
    workers: int = 4
    flip_p: float = 0.5
    test_sets: int = 5
    val_fraction: float = 0.1
    val_source: str = "test"                  # "test" (the paper) or "train" (cleaner, see README)
    pass2_init: str = "pass1"                 # "pass1" weights or "scratch"
    prune_ratio: float = 0.1
    prune_scope: str = "global"               # "global" (altogether) or "layer"
    prune_patience: int = 2
    max_prune_passes: int = 10
    superclass_restarts: int = 1000
    init_from: Optional[str] = None           # a checkpoint whose backbone starts training (N-UCLA)
    pretrained_2d: Optional[str] = None       # torchvision 2D ResNet weights to inflate
    amp: bool = True                          # mixed precision on CUDA
    channels_last: bool = True                # channels_last_3d on CUDA
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # values keep their declared types whatever wrote them (YAML, a CLI flag, Python), so a
        # wrong one is named here, not met as a TypeError deep inside training
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _conform(f.name, getattr(self, f.name), _field_types()[f.name]))
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (0 < self.lr_factor < 1, "lr_factor must be in (0, 1)"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.workers >= 0, "workers must be >= 0"),
            (0 <= self.flip_p <= 1, "flip_p must be in [0, 1]"),
            (0 < self.val_fraction < 1, "val_fraction must be in (0, 1)"),
            (self.val_source in ("test", "train"), "val_source must be 'test' or 'train'"),
            (self.pass2_init in ("pass1", "scratch"), "pass2_init must be 'pass1' or 'scratch'"),
            (0 < self.prune_ratio < 1, "prune_ratio must be in (0, 1)"),
            (self.prune_scope in ("global", "layer"), "prune_scope must be 'global' or 'layer'"),
            (self.max_prune_passes >= 0, "max_prune_passes must be >= 0"),
            (self.frames >= 1 and self.size >= 32 and self.resize >= self.size,
             "need frames >= 1, size >= 32 and resize >= size"),
            (len(self.levels) in (0, 3), "levels must give 3 values (e.g. [2, 6, 20] or [null, 2, 5]) or none"),
        ]
        for ok, msg in checks:
            if not ok:
                raise RecipeError(msg)
        n_heads = sum(1 for m in self.levels if m is not None) + 1
        if len(self.loss_weights) != n_heads:
            raise RecipeError(f"loss_weights has {len(self.loss_weights)} values but the model has "
                              f"{n_heads} heads (levels {list(self.levels)} + the fine head)")

    @property
    def epochs_per_prune_pass(self) -> int:
        return self.prune_epochs or self.epochs

    def replace(self, **changes) -> "Recipe":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise EdgeactError(f"recipe: unknown option(s) {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["levels"], d["loss_weights"] = list(self.levels), list(self.loss_weights)
        return d

    @classmethod
    def from_dict(cls, d: dict, source: str = "recipe") -> "Recipe":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise EdgeactError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; "
                               f"valid keys: {', '.join(sorted(names))}")
        if "benchmark" not in d:
            raise EdgeactError(f"{source}: missing required key 'benchmark'")
        try:
            return cls(**d)
        except RecipeError as exc:
            raise EdgeactError(f"{source}: {exc.problem}") from None


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(Recipe)


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a mapping"}


def _conform(key: str, value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` declares (an int where a float is declared becomes a float,
    a list where a tuple is declared a tuple), or a :class:`RecipeError` naming ``key``."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Union:          # Optional[X]
        if value is None:
            return None
        inner = next(a for a in args if a is not type(None))
        try:
            return _conform(key, value, inner)
        except RecipeError:
            raise RecipeError(f"{key} must be {_KINDS.get(inner, inner)} or null, got {value!r}") from None
    if typing.get_origin(hint) is tuple:                 # tuple[X, ...]
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{key} must be a list, got {value!r}")
        return tuple(_conform(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
    # bool is an int in Python: neither stands in for the other
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str),
          dict: lambda v: isinstance(v, dict)}[hint]
    if not ok(value):
        raise RecipeError(f"{key} must be {_KINDS[hint]}, got {value!r}")
    return float(value) if hint is float else value


def _yaml_loader():
    """PyYAML's safe loader, reading exponent floats without a dot (``1e-3``, YAML 1.2) as floats:
    YAML 1.1, which PyYAML follows, makes them strings, and a recipe's ``lr: 1e-3`` means a number."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                                 re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))
    return Loader


def load_recipe(path: str | Path, **overrides) -> Recipe:
    """Read a YAML recipe and apply overrides (``None`` values are ignored)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise EdgeactError(f"{path}: no such recipe")
    try:
        data = yaml.load(path.read_text(), Loader=_yaml_loader()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise EdgeactError(f"{path}:{where} invalid YAML") from None
    if not isinstance(data, dict):
        raise EdgeactError(f"{path}: a recipe is a mapping of keys to values")
    recipe = Recipe.from_dict(data, source=str(path))
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return recipe.replace(**overrides) if overrides else recipe


def save_recipe(path: str | Path, recipe: Recipe) -> None:
    import yaml

    from edgeact.fileio import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(recipe.to_dict(), sort_keys=False))
