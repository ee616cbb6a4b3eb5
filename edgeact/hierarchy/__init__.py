"""Superclasses from a confusion matrix and the hierarchical loss (paper §3.3).

One module per part: :mod:`~edgeact.hierarchy.search` (the balanced partition search on the
pass-1 confusion matrix, :func:`assign_superclasses`), :mod:`~edgeact.hierarchy.levels`
(:class:`Hierarchy`, :func:`build_hierarchy`, and the label maps :func:`level_labels` and
:func:`level_probs`) and :mod:`~edgeact.hierarchy.loss` (:func:`hierarchical_loss`). The public
names are re-exported here.
"""

from edgeact.hierarchy.levels import Hierarchy, build_hierarchy, level_labels, level_probs
from edgeact.hierarchy.loss import hierarchical_loss
from edgeact.hierarchy.search import assign_superclasses, canonical_labels, partition_cost

__all__ = ["Hierarchy", "assign_superclasses", "build_hierarchy", "canonical_labels", "hierarchical_loss",
           "level_labels", "level_probs", "partition_cost"]
