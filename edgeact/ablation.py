"""``edgeact ablate``: the rows of the paper's Table 8 on any dataset.

baseline (uncropped frames, flat loss) -> + cropping (flat loss) -> full model (+ hierarchical
loss) -> + each pruning pass, for both pruning scopes ("altogether" = global, "by layers").
The uncropped baseline trains on a cache made with ``edgeact prep --no-crop``; the cropped runs
share pass 1 and pass 2, and the layer-scope run starts from a copy of the global run's pass 2.
Every number is top-1 on the test split (minus the validation part), 5-clip averaged.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from edgeact.checkpoint import load_checkpoint
from edgeact.fileio import atomic_write_json, atomic_write_text
from edgeact.recipe import Recipe, save_recipe
from edgeact.training import Trainer, read_state, reset_run


def _test_top1(trainer: Trainer, phase: str) -> float:
    ck = load_checkpoint(trainer.out / phase / "final.pt")
    hierarchy = trainer.hierarchy() if phase != "pass1" else None
    return trainer.evaluate(ck.model.to(trainer.device), "test", hierarchy, sets=trainer.recipe.test_sets)["top1"]


def _seed_layer_run(src: Path, dst: Path, recipe: Recipe) -> None:
    """Give the layer-scope run (``recipe``) the global run's pass 1, superclasses and pass 2,
    and the record of the cache they were trained on."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("pass1", "pass2"):
        if (src / name).is_dir() and not (dst / name).exists():
            shutil.copytree(src / name, dst / name)
    for name in ("hierarchy.json", "pass1_confusion.npy"):
        if (src / name).is_file() and not (dst / name).exists():
            shutil.copy2(src / name, dst / name)
    state = read_state(src / "state.json")
    phases = {k: v for k, v in state["phases"].items() if k in ("pass1", "pass2")}
    if not (dst / "state.json").is_file():
        data = {"data": state["data"]} if "data" in state else {}
        atomic_write_json(dst / "state.json", {"phases": phases, **data})
    if not (dst / "recipe.yaml").is_file():
        save_recipe(dst / "recipe.yaml", recipe)


def run_ablation(recipe: Recipe, cropped: Path, uncropped: Optional[Path], out: Path, *, device: str = "auto",
                 console=None, progress: bool = True, restart: bool = False) -> dict:
    """Train what the table needs (resumable, like ``train``: each run refuses another recipe or
    cache) and return its rows. ``restart`` first deletes the runs' own files (:func:`reset_run`)."""
    out = Path(out)
    if restart:
        for name in ("uncropped", "cropped-global", "cropped-layer"):
            reset_run(out / name)
    rows: dict[str, dict[str, Optional[float]]] = {}
    if uncropped is not None:
        base = Trainer(recipe, uncropped, out / "uncropped", device=device, console=console, progress=progress,
                       stop_after="pass1")
        base.run()
        top1 = _test_top1(base, "pass1")
        rows["baseline"] = {"global": top1, "layer": top1}
    runs = {}
    for scope in ("global", "layer"):
        run_dir = out / f"cropped-{scope}"
        scoped = recipe.replace(prune_scope=scope)
        if scope == "layer":
            _seed_layer_run(out / "cropped-global", run_dir, scoped)
        t = Trainer(scoped, cropped, run_dir, device=device, console=console, progress=progress)
        t.run()
        runs[scope] = t
    for label, phase in (("baseline + cropping", "pass1"), ("full model", "pass2")):
        top1 = _test_top1(runs["global"], phase)
        rows[label] = {"global": top1, "layer": top1}
    k = 1
    while any(f"prune{k}" in t.state["phases"] for t in runs.values()):
        rows[f"full model + {k}-pass pruning"] = {
            scope: (_test_top1(t, f"prune{k}") if f"prune{k}" in t.state["phases"] else None)
            for scope, t in runs.items()}
        k += 1
    table = {"benchmark": recipe.benchmark, "metric": "test top-1 (5-clip average)", "rows": rows}
    atomic_write_json(out / "ablation.json", table)
    atomic_write_text(out / "ablation.md", ablation_markdown(table))
    return table


def ablation_markdown(table: dict) -> str:
    def cell(v: Optional[float]) -> str:
        return "–" if v is None else f"{100 * v:.2f}%"

    lines = [f"Ablation on {table['benchmark']} ({table['metric']})", "",
             "| method | pruning altogether | pruning by layers |", "| --- | --- | --- |"]
    lines += [f"| {name} | {cell(r['global'])} | {cell(r['layer'])} |" for name, r in table["rows"].items()]
    return "\n".join(lines) + "\n"
