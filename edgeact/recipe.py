"""Training recipes: one frozen dataclass, serialized as YAML (one file per benchmark in train/).

YAML keys, CLI flags (``--lr`` ...) and keyword arguments share names, and every key can be
overridden from the command line: ``edgeact train --set KEY=VALUE`` (:func:`parse_overrides`, the
value read as YAML) or a flag where the key has one. Defaults are the paper's (§4.1): Inflated
ResNet-50, 20 epochs per pass, Adam lr 1e-4 divided by 10 when the validation loss has not
improved for 2 epochs, 8 frames, 224² crops of 256² frames, 5 test clips, 10 % pruning per pass
until two passes in a row fail to beat the best.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

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
    """Every setting of a training run; the comments say what each key means."""

    benchmark: str                            # benchmark and split protocol, e.g. ntu60-xsub
    arch: str = "i3d_r50"                     # i3d_r18, i3d_r34, i3d_r50 or i3d_r101
    levels: tuple[Optional[int], ...] = (2, 6, 20)   # superclasses of the heads after stacks 1-3 (null: none)
    loss_weights: tuple[float, ...] = (1 / 8, 1 / 4, 1 / 2, 1.0)   # per head, coarse to fine
    width: float = 1.0                        # channel width multiplier (1.0 = the paper)
    frames: int = 8                           # input frames T
    size: int = 224                           # crop side S
    resize: int = 256                         # side of the frames crops are taken from (prep's cache)
    epochs: int = 20                          # epochs per pass
    prune_epochs: Optional[int] = None        # epochs of each pruning pass (default: epochs)
    lr: float = 1e-4                          # Adam learning rate
    lr_factor: float = 0.1                    # lr multiplier when the validation loss stalls
    lr_patience: int = 2                      # epochs without improvement before it does
    weight_decay: float = 0.0
    batch_size: int = 16                      # clips per step and process
    workers: int = 4                          # DataLoader worker processes
    flip_p: float = 0.5                       # probability of a horizontal flip in training
    test_sets: int = 5                        # frame sets averaged per test clip
    val_fraction: float = 0.1                 # share of val_source's clips that validate
    val_source: str = "test"                  # "test" (the paper) or "train" (cleaner, see README)
    pass2_init: str = "pass1"                 # "pass1" weights or "scratch"
    prune_ratio: float = 0.1                  # share of the alive filters zeroed per pass
    prune_scope: str = "global"               # "global" (altogether) or "layer"
    prune_patience: int = 2                   # pruning passes in a row that fail to beat the best before stopping
    max_prune_passes: int = 10
    superclass_restarts: int = 1000           # greedy restarts of the superclass search
    init_from: Optional[str] = None           # a checkpoint whose backbone starts training (N-UCLA)
    pretrained_2d: Optional[str] = None       # torchvision 2D ResNet weights to inflate
    amp: bool = True                          # mixed precision on CUDA
    channels_last: bool = True                # channels_last_3d on CUDA
    seed: int = 0

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
            # a negative weight rewards a head's error, a NaN one makes every step NaN
            (all(math.isfinite(w) and w >= 0 for w in self.loss_weights),
             f"loss_weights must be finite and >= 0, got {list(self.loss_weights)}"),
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
        names = set(recipe_keys())
        if d.get("extra") == {}:
            # run folders' recipe.yaml of earlier releases hold an empty ``extra`` mapping: it carried nothing
            d = {k: v for k, v in d.items() if k != "extra"}
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


def recipe_keys() -> tuple[str, ...]:
    """Every key of a recipe, in the dataclass's order."""
    return tuple(f.name for f in dataclasses.fields(Recipe))


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


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
          str: lambda v: isinstance(v, str)}[hint]
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


def parse_overrides(items: Sequence[str], option: str = "--set") -> dict[str, Any]:
    """``["lr=3e-4", "levels=[null, 2, 5]"]`` -> ``{"lr": 0.0003, "levels": (None, 2, 5)}``.

    Each item is ``KEY=VALUE`` with KEY a recipe key and VALUE read as YAML (as a recipe file
    reads it: ``1e-3`` is a number, ``null`` is None, ``[2, 6, 20]`` a list), then conformed to the
    key's declared type. A malformed item, an unknown key, a key given twice or a value of the
    wrong type is an :class:`EdgeactError` naming the item (and the key's type)."""
    import yaml

    hints = _field_types()
    out: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise EdgeactError(f"{option} {item!r}: expected KEY=VALUE, e.g. {option} lr=3e-4")
        if key not in hints:
            close = difflib.get_close_matches(key, hints, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise EdgeactError(f"{option} {item}: {key!r} is not a recipe key{hint}; keys: {', '.join(recipe_keys())}")
        if key in out:
            raise EdgeactError(f"{option} {key}: given twice")
        try:
            value = yaml.load(text, Loader=_yaml_loader())
        except yaml.YAMLError:
            raise EdgeactError(f"{option} {item}: {text!r} is not a YAML value") from None
        try:
            out[key] = _conform(key, value, hints[key])
        except RecipeError as exc:
            raise EdgeactError(f"{option} {item}: {exc.problem}") from None
    return out


def load_recipe(path: str | Path, **overrides) -> Recipe:
    """Read a YAML recipe and apply overrides (``None`` values are ignored). A combination the
    recipe refuses (``size`` over ``resize``) is an :class:`EdgeactError` naming the file and the
    overridden keys."""
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
    if not overrides:
        return recipe
    try:
        return recipe.replace(**overrides)
    except RecipeError as exc:
        raise EdgeactError(f"{path} with {', '.join(f'{k}={v!r}' for k, v in overrides.items())}: "
                           f"{exc.problem}") from None


def save_recipe(path: str | Path, recipe: Recipe) -> None:
    import yaml

    from edgeact.fileio import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(recipe.to_dict(), sort_keys=False))
