"""The paper's offline procedure: pass 1, superclasses, pass 2, iterative pruning (§3.3-3.4, §4.1).

Phases, each a folder of the run directory::

    pass1/    fine-class loss only
    hierarchy.json   superclasses per level from pass 1's confusion matrix on the validation set
    pass2/    weighted hierarchical loss (from pass-1 weights or from scratch)
    prune1/ prune2/ ...   zero 10 % of the alive filters, retrain with inherited weights
    best.pt   the best of pass 2 and the pruning passes by validation top-1

Every epoch ends with an atomic ``<phase>/last.pt`` (weights, masks, optimizer, scheduler,
history); a finished phase writes ``<phase>/final.pt`` and is recorded in ``state.json``. A run
started again with the same ``--out`` continues after the last finished epoch; a run folder belongs
to one recipe and one cache (``recipe.yaml``, and the cache's fingerprint in ``state.json``), so
continuing it with others is refused (:func:`check_same_run`) and ``restart`` deletes the run's own
files first (:func:`reset_run`). Under ``torchrun``
each process trains on its shard (DDP); every process evaluates the (small) validation set itself
so all reach the same decisions without messages, and only rank 0 writes files.
"""

from edgeact.training.loop import Interrupted, Trainer, load_backbone
from edgeact.training.setup import make_splits, split_validation
from edgeact.training.state import check_same_run, read_state, reset_run

__all__ = [
    "Interrupted", "Trainer", "check_same_run", "load_backbone", "make_splits", "read_state", "reset_run",
    "split_validation",
]
