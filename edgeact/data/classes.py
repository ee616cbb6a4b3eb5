"""Class lists: names plus the declared mirror pairs that a horizontal flip swaps.

A horizontal flip turns "wave the left hand" into "wave the right hand". Which classes are mirror
images of each other is a property of the class list, declared once here, so the data loader
never special-cases a dataset: it flips the frames and maps the label through
:meth:`ClassList.flip_label`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeact.errors import EdgeactError


@dataclass(frozen=True)
class ClassList:
    """An ordered list of action names (index = label) and its mirror pairs.

    ``mirror`` holds pairs ``(i, j)`` of labels that a horizontal flip exchanges. A class not in
    any pair is its own mirror (flip-invariant). ``flip_unsafe`` lists classes whose mirror image
    is no class of the list (e.g. a handed action without its counterpart): clips of those classes
    must not be flipped at all.
    """

    names: tuple[str, ...]
    mirror: tuple[tuple[int, int], ...] = ()
    flip_unsafe: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.names)
        if n == 0:
            raise EdgeactError("a class list needs at least one class name")
        if len(set(self.names)) != n:
            raise EdgeactError("class names must be unique")
        seen: set[int] = set()
        for pair in self.mirror:
            if len(pair) != 2 or pair[0] == pair[1]:
                raise EdgeactError(f"mirror pair {pair!r} must name two different classes")
            for i in pair:
                if not 0 <= i < n:
                    raise EdgeactError(f"mirror pair {pair!r} names class {i}, outside [0, {n})")
                if i in seen:
                    raise EdgeactError(f"class {i} ({self.names[i]!r}) is in two mirror pairs")
                seen.add(i)
        for i in self.flip_unsafe:
            if not 0 <= i < n:
                raise EdgeactError(f"flip_unsafe class {i} is outside [0, {n})")

    def __len__(self) -> int:
        return len(self.names)

    def flip_map(self) -> np.ndarray:
        """The label each class becomes under a horizontal flip, shape ``(N,)`` int64."""
        out = np.arange(len(self.names), dtype=np.int64)
        for i, j in self.mirror:
            out[i], out[j] = j, i
        return out

    def flip_label(self, label: int) -> int:
        """The label of the horizontally flipped clip of class ``label``."""
        return int(self.flip_map()[label])

    def can_flip(self, label: int) -> bool:
        """False for classes whose mirror image is not in the list."""
        return label not in self.flip_unsafe

    def head(self, n: int) -> "ClassList":
        """The first ``n`` classes (NTU60 is the first 60 of NTU120), keeping the pairs inside."""
        return ClassList(self.names[:n], tuple(p for p in self.mirror if max(p) < n),
                         tuple(i for i in self.flip_unsafe if i < n))

    def to_dict(self) -> dict:
        """A JSON-safe form, stored in checkpoints and caches."""
        return {
            "names": list(self.names),
            "mirror": [list(p) for p in self.mirror],
            "flip_unsafe": list(self.flip_unsafe),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ClassList":
        return cls(
            names=tuple(d["names"]),
            mirror=tuple(tuple(p) for p in d.get("mirror", ())),
            flip_unsafe=tuple(d.get("flip_unsafe", ())),
        )
