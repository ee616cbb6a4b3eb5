"""A run folder's bookkeeping: ``state.json`` (finished phases, the cache trained on), the checks
that a rerun continues the same run (:func:`check_same_run`), what ``restart`` deletes
(:func:`reset_run`), and a phase's ``last.pt`` written after every epoch and read back to resume
(:func:`save_epoch`, :func:`resume_phase`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from edgeact.checkpoint import read_checkpoint, save_checkpoint
from edgeact.data.cache import cache_fingerprint
from edgeact.errors import EdgeactError
from edgeact.recipe import RESUME_SAFE_KEYS, Recipe, load_recipe

RUN_FILES = ("recipe.yaml", "state.json", "log.csv", "hierarchy.json", "pass1_confusion.npy", "summary.json",
             "best.pt")
PHASE_FILES = ("last.pt", "final.pt")
PHASE_DIR = re.compile(r"^(pass1|pass2|prune[1-9][0-9]*)$")
RESTART_HINT = "pass {restart} to delete this run's files and train from the start"   # mention="restart"


def read_state(path: Path) -> dict:
    """A run's ``state.json`` (``{"phases": {...}, ...}``), or a fresh state when there is none."""
    if not path.is_file():
        return {"phases": {}}
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise EdgeactError(f"{path}: corrupt run state (invalid JSON{where}): restore it from a backup, or "
                           f"{RESTART_HINT}", mention="restart") from None
    if not isinstance(state, dict) or not isinstance(state.get("phases"), dict):
        raise EdgeactError(f"{path}: not a run state (no 'phases' mapping): restore it, or {RESTART_HINT}",
                           mention="restart")
    return state


def data_record(cache: Path, benchmark: str) -> dict:
    """What ``state.json`` keeps of the cache a run trains on."""
    return {"cache": str(cache.resolve()), "fingerprint": cache_fingerprint(cache, benchmark)}


def check_same_run(out: Path, recipe: Recipe, state: dict, data: dict) -> None:
    """Refuse to continue the run in ``out`` with another recipe or cache.

    Only :data:`edgeact.recipe.RESUME_SAFE_KEYS` may differ from the run's ``recipe.yaml``; a cache
    may move, but not change (same fingerprint). A fresh folder passes.
    """
    saved = out / "recipe.yaml"
    if not saved.is_file():
        if state["phases"]:
            raise EdgeactError(f"{out}: a run without its recipe.yaml: cannot tell what it was trained with; "
                               f"train into another {{out}}, or {RESTART_HINT}", mention=("out", "restart"))
        return
    try:
        before = load_recipe(saved).to_dict()
    except EdgeactError as exc:
        raise EdgeactError(f"{exc}: the run's recipe cannot be read; restore it, or {RESTART_HINT}",
                           mention="restart") from None
    now = recipe.to_dict()
    changes = [f"{k} {before.get(k)!r} -> {now[k]!r}" for k in now
               if k not in RESUME_SAFE_KEYS and before.get(k) != now[k]]
    old_data = state.get("data")
    if old_data and old_data.get("fingerprint") != data["fingerprint"]:
        changes.append(f"data {old_data.get('cache')} -> {data['cache']}"
                       + (" (re-prepared since)" if old_data.get("cache") == data["cache"] else ""))
    if changes:
        raise EdgeactError(f"{out}: this run was trained with other settings: {', '.join(changes)}; its recipe.yaml "
                           f"is left as it was. Repeat the run's settings (only {', '.join(sorted(RESUME_SAFE_KEYS))} "
                           f"may change), train into another {{out}}, or {RESTART_HINT}", mention=("out", "restart"))


def run_files(out: Path, recipe: Recipe) -> list[Path]:
    """Every file a run of ``recipe`` writes in ``out``."""
    phases = ["pass1", "pass2", *(f"prune{k}" for k in range(1, recipe.max_prune_passes + 1))]
    return [out / f for f in RUN_FILES] + [out / p / f for p in phases for f in PHASE_FILES]


def reset_run(out: Path) -> list[Path]:
    """Delete the files of the edgeact run in ``out`` (:data:`RUN_FILES`, and :data:`PHASE_FILES`
    of its phase folders, which go when left empty); anything else there (a report, notes) stays.
    Returns the files deleted. A folder without ``state.json`` or ``recipe.yaml`` is not a run:
    refused, untouched."""
    if not out.exists():
        return []
    if not out.is_dir() or not any((out / f).is_file() for f in ("state.json", "recipe.yaml")):
        raise EdgeactError(f"{out}: not an edgeact run folder (no state.json or recipe.yaml): nothing there is "
                           "deleted; choose the run's folder or another output folder", param="restart")
    gone = []
    for phase in sorted(d for d in out.iterdir() if d.is_dir() and PHASE_DIR.match(d.name)):
        for f in PHASE_FILES:
            if (phase / f).is_file():
                (phase / f).unlink()
                gone.append(phase / f)
        if not any(phase.iterdir()):
            phase.rmdir()
    for f in RUN_FILES:
        if (out / f).is_file():
            (out / f).unlink()
            gone.append(out / f)
    return gone


# --------------------------------------------------------------------------- a phase's last epoch


def resume_phase(last: Path, model, optimizer, scheduler) -> tuple[int, list[dict]]:
    """Load a phase's ``last.pt`` (weights, optimizer, scheduler) into ``model``, ``optimizer`` and
    ``scheduler``; returns ``(first epoch to run, history rows so far)``: ``(0, [])`` without one."""
    if not last.is_file():
        return 0, []
    ck = read_checkpoint(last)
    model.load_state_dict(ck["state_dict"])
    ts = ck.get("train_state", {})
    optimizer.load_state_dict(ts["optimizer"])
    scheduler.load_state_dict(ts["scheduler"])
    return int(ts["epoch"]) + 1, json.loads(ts.get("history", "[]"))


def save_epoch(last: Path, model, meta: dict, *, epoch: int, optimizer, scheduler, history: list[dict]) -> None:
    """Write ``last.pt`` (atomically) after ``epoch``: what :func:`resume_phase` reads back."""
    save_checkpoint(last, model, meta, train_state={
        "epoch": epoch, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "history": json.dumps(history)})
