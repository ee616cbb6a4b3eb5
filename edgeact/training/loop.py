"""The training procedure: :class:`Trainer` runs pass 1, the superclasses, pass 2 and the pruning
passes (see :mod:`edgeact.training`); :meth:`Trainer.train_phase` is one phase's epoch loop, its
checkpoint bookkeeping in :mod:`edgeact.training.state`.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler

from edgeact.checkpoint import build_meta, load_checkpoint, read_checkpoint, save_checkpoint
from edgeact.data.clips import ClipDataset, frame_scale_note
from edgeact.device import resolve_device
from edgeact.engine import EpochStats, predict, train_epoch
from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_json, refuse_output_over_input
from edgeact.hierarchy import Hierarchy, build_hierarchy, hierarchical_loss, level_labels
from edgeact.metrics import confusion_matrix, hierarchical_nll, level_accuracies, nll, topk_accuracy
from edgeact.models import HierarchicalI3D, create_model, inflate_2d_weights, load_2d_state_dict
from edgeact.pruning import keep_pruned, mask_baked, prune_filters, pruning_report
from edgeact.recipe import Recipe, save_recipe
from edgeact.training.setup import DATASET_FPS, init_distributed, make_splits
from edgeact.training.state import (
    check_same_run,
    data_record,
    read_state,
    reset_run,
    resume_phase,
    run_files,
    save_epoch,
)
from edgeact.types import InputSpec


@dataclass
class PhaseResult:
    name: str
    val_top1: float
    val_loss: float
    epochs: int
    alive_filters: int
    total_filters: int
    levels: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


class Trainer:
    """Runs a recipe on a prepared cache into ``out``; see the module docstring.

    Before anything is trained or written: the cache's frames are checked against the recipe's
    ``resize`` (:func:`edgeact.data.clips.frame_scale_note`: a note, or a refusal), no run file
    may be one of the run's inputs, and an existing run must have this recipe and cache
    (:func:`check_same_run`) unless ``restart`` deletes it first.
    """

    def __init__(self, recipe: Recipe, cache: str | Path, out: str | Path, *, device: str = "auto",
                 console=None, progress: bool = True, max_epochs: Optional[int] = None,
                 stop_after: Optional[str] = None, restart: bool = False):
        self.recipe, self.cache, self.out = recipe, Path(cache), Path(out)
        self.dist, self.device = init_distributed(resolve_device(device))
        self.console = console
        self.show_progress = progress and self.dist.main
        self.max_epochs = max_epochs  # stop after this many epochs in this process (tests, time boxes)
        self._epochs_run = 0
        self.stop_after = stop_after  # "pass1": the flat baseline only (ablation)
        self.spec = InputSpec(frames=recipe.frames, size=recipe.size, resize=recipe.resize)
        self.splits = make_splits(self.cache, recipe)
        self.scale_note = frame_scale_note(self.cache, self.spec)
        inputs = [recipe.init_from, recipe.pretrained_2d, self.cache / "index.json"]
        for f in run_files(self.out, recipe):
            refuse_output_over_input(f, inputs, param="out")
        if restart and self.dist.main:
            gone = reset_run(self.out)
            self.log(f"restarting: deleted {len(gone)} file(s) of the previous run in {self.out}" if gone
                     else f"restarting: no previous run in {self.out}")
        self.dist.barrier()
        self.state_path = self.out / "state.json"
        self.state = read_state(self.state_path)
        data = data_record(self.cache, recipe.benchmark)
        check_same_run(self.out, recipe, self.state, data)
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            # written once, when the run starts: it is the recipe the run was trained with
            if not (self.out / "recipe.yaml").is_file():
                save_recipe(self.out / "recipe.yaml", recipe)
            if "data" not in self.state:
                self.state["data"] = data
                self._save_state()
        if self.scale_note and self.dist.main and self.console is not None:
            self.console.print(self.scale_note, markup=False, highlight=False, soft_wrap=True)

    # ------------------------------------------------------------------ helpers

    def log(self, msg: str) -> None:
        if self.dist.main and self.console is not None:
            self.console.print(msg)

    def _loader(self, names: list[str], split: str, *, train: bool, sets: int = 1) -> DataLoader:
        ds = ClipDataset(self.cache, self.recipe.benchmark, split, train=train, spec=self.spec,
                         num_test_sets=sets, flip_p=self.recipe.flip_p, names=names, seed=self.recipe.seed)
        sampler = DistributedSampler(ds, shuffle=True, seed=self.recipe.seed) if (train and self.dist.world > 1) else None
        return DataLoader(ds, batch_size=self.recipe.batch_size if train else max(1, self.recipe.batch_size // sets),
                          shuffle=train and sampler is None, sampler=sampler, num_workers=self.recipe.workers,
                          pin_memory=self.device.type == "cuda", drop_last=False,
                          persistent_workers=False)

    def _new_model(self) -> HierarchicalI3D:
        r = self.recipe
        # the initial weights follow the recipe's seed, so a rerun (or a resumed run, which rebuilds
        # the model before loading last.pt) starts from the same point as the original
        torch.manual_seed(r.seed)
        init = read_checkpoint(r.init_from) if r.init_from else None
        # a compacted (physically pruned) backbone keeps its narrow widths: the new model is built
        # with them, so fine-tuning from it stays small and fast
        channels = init["meta"]["model"].get("channels") if init else None
        if channels and r.pretrained_2d:
            raise EdgeactError(f"{r.init_from}: a compacted backbone cannot take the full-width 2D weights of "
                               f"pretrained_2d ({r.pretrained_2d}); drop one of the two from the recipe")
        model = create_model(r.arch, num_classes=len(self.splits.classes), levels=r.levels, width=r.width,
                             channels=channels)
        if r.pretrained_2d:
            inflate_2d_weights(model, load_2d_state_dict(r.pretrained_2d), source=r.pretrained_2d)
        if init is not None:
            load_backbone(model, r.init_from, checkpoint=init)
        return model

    def _meta(self, model: HierarchicalI3D, phase: str, hierarchy: Optional[Hierarchy]) -> dict:
        return build_meta(model, self.splits.classes, self.spec, phase=phase, benchmark=self.recipe.benchmark,
                          recipe=self.recipe.to_dict(),
                          hierarchy=hierarchy.to_dict() if hierarchy else None,
                          pruning=pruning_report(model).to_dict(),
                          phases={k: v for k, v in self.state["phases"].items()},
                          # `live` sizes its rolling window to the clips the model was trained on
                          clip={"frames": self.splits.clip_frames, "fps": DATASET_FPS})

    def _save_state(self) -> None:
        if self.dist.main:
            atomic_write_json(self.state_path, self.state)

    def _csv(self, row: dict) -> None:
        if not self.dist.main:
            return
        path = self.out / "log.csv"
        new = not path.is_file()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)

    def _loss_fn(self, hierarchy: Optional[Hierarchy]) -> Callable:
        if hierarchy is None:
            return lambda logits, y: F.cross_entropy(logits[-1], y)
        weights = self.recipe.loss_weights

        def loss(logits, y):
            return hierarchical_loss(logits, level_labels(y, hierarchy.assignments), weights)

        return loss

    def evaluate(self, model: HierarchicalI3D, which: str, hierarchy: Optional[Hierarchy], sets: int) -> dict:
        """Top-1 / loss / per-level accuracy and the fine confusion matrix on the validation
        (``which="val"``) or test (``"test"``) clips."""
        names, split = ((self.splits.val, self.recipe.val_source) if which == "val" else (self.splits.test, "test"))
        probs, labels = predict(model, self._loader(names, split, train=False, sets=sets), self.device,
                                amp=self.recipe.amp, channels_last=self.recipe.channels_last)
        fine = probs[-1]
        out = {"top1": topk_accuracy(fine, labels, 1), "top5": topk_accuracy(fine, labels, 5),
               "loss": nll(fine, labels),
               "confusion": confusion_matrix(fine.argmax(1), labels, fine.shape[1])}
        if hierarchy is not None:
            out["levels"] = level_accuracies(probs[:-1], labels, hierarchy.assignments)
            out["loss"] = hierarchical_nll(probs, labels, hierarchy.assignments, self.recipe.loss_weights)
        return out

    # ------------------------------------------------------------------ one phase

    def train_phase(self, name: str, model: HierarchicalI3D, hierarchy: Optional[Hierarchy], epochs: int) -> PhaseResult:
        """Train ``model`` for ``epochs`` (resuming ``name/last.pt``), keep its final weights."""
        r = self.recipe
        phase_dir = self.out / name
        model.to(self.device)
        if r.channels_last and self.device.type == "cuda":
            model.to(memory_format=torch.channels_last_3d)
        net = model
        if self.dist.world > 1:
            # pass 1 trains the fine head only: the superclass heads get no gradient there
            net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.dist.local_rank] if self.device.type == "cuda" else None,
                find_unused_parameters=hierarchy is None and len(model.heads.active) > 1)
        optimizer = torch.optim.Adam(net.parameters(), lr=r.lr, weight_decay=r.weight_decay)
        keep_pruned(optimizer, model)
        # ReduceLROnPlateau cuts once the bad-epoch count *exceeds* patience: patience - 1 makes the
        # cut come on the 2nd epoch in a row without a better validation loss, as the paper says
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=r.lr_factor,
                                                               patience=max(r.lr_patience - 1, 0))
        scaler = torch.amp.GradScaler("cuda", enabled=self.device.type == "cuda" and r.amp
                                      and not torch.cuda.is_bf16_supported())
        last = phase_dir / "last.pt"
        start_epoch, history = resume_phase(last, model, optimizer, scheduler)
        if start_epoch:
            self.log(f"[cyan]{name}[/]: resuming after epoch {start_epoch} of {epochs}")
        train_loader = self._loader(self.splits.train, "train", train=True)
        loss_fn = self._loss_fn(hierarchy)
        for epoch in range(start_epoch, epochs):
            if self.max_epochs is not None and self._epochs_run >= self.max_epochs:
                raise Interrupted(f"stopped after {self._epochs_run} epoch(s) as asked")
            if isinstance(train_loader.sampler, DistributedSampler):
                train_loader.sampler.set_epoch(epoch)
            torch.manual_seed(r.seed * 1000 + epoch)  # each epoch's shuffling
            train_loader.dataset.set_epoch(epoch)     # and its augmentations
            stats = self._run_epoch(net, train_loader, loss_fn, optimizer, scaler, f"{name} {epoch + 1}/{epochs}")
            if self.dist.world > 1:
                # batch-norm statistics drift apart per shard; take rank 0's so that every rank
                # evaluates the same model and reaches the same decisions
                for buf in model.buffers():
                    torch.distributed.broadcast(buf, 0)
            val = self.evaluate(model, "val", hierarchy, sets=1)
            scheduler.step(val["loss"])
            row = {"phase": name, "epoch": epoch + 1, "train_loss": round(stats.loss, 5),
                   "train_acc": round(stats.accuracy, 5), "val_loss": round(val["loss"], 5),
                   "val_top1": round(val["top1"], 5), "lr": optimizer.param_groups[0]["lr"],
                   "clips_per_s": round(stats.clips_per_second, 2), "seconds": round(stats.seconds, 2)}
            history.append(row)
            self._csv(row)
            self.log(f"[cyan]{name}[/] epoch {epoch + 1}/{epochs}: loss {stats.loss:.4f} acc {stats.accuracy:.3f} "
                     f"| val loss {val['loss']:.4f} top-1 {val['top1']:.3f} | lr {row['lr']:.1e} "
                     f"| {stats.clips_per_second:.1f} clips/s")
            if self.dist.main:
                save_epoch(last, model, self._meta(model, name, hierarchy), epoch=epoch, optimizer=optimizer,
                           scheduler=scheduler, history=history)
            self.dist.barrier()
            self._epochs_run += 1
        final = self.evaluate(model, "val", hierarchy, sets=r.test_sets)
        report = pruning_report(model)
        result = PhaseResult(name, final["top1"], final["loss"], epochs, report.alive, report.total,
                             final.get("levels", []))
        self.state["phases"][name] = result.to_dict()
        if self.dist.main:
            save_checkpoint(phase_dir / "final.pt", model, self._meta(model, name, hierarchy))
            if name == "pass1":
                np.save(self.out / "pass1_confusion.npy", final["confusion"])
        self._save_state()
        self.dist.barrier()
        return result

    def _run_epoch(self, net, loader, loss_fn, optimizer, scaler, label: str) -> EpochStats:
        r = self.recipe
        if not self.show_progress:
            return train_epoch(net, loader, loss_fn, optimizer, self.device, amp=r.amp,
                               channels_last=r.channels_last, scaler=scaler)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("[cyan]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.3f} lr {task.fields[lr]:.1e} "
                                 "{task.fields[cps]:.1f} clips/s"), TimeRemainingColumn(),
                      console=self.console, transient=True) as bar:
            task = bar.add_task(label, total=len(loader.dataset) // max(self.dist.world, 1), loss=0.0, acc=0.0,
                                lr=optimizer.param_groups[0]["lr"], cps=0.0)
            t0 = time.perf_counter()
            done = 0

            def on_batch(n, loss, acc):
                nonlocal done
                done += n
                bar.update(task, advance=n, loss=loss, acc=acc, cps=done / max(time.perf_counter() - t0, 1e-9))

            return train_epoch(net, loader, loss_fn, optimizer, self.device, amp=r.amp,
                               channels_last=r.channels_last, scaler=scaler, on_batch=on_batch)

    # ------------------------------------------------------------------ the procedure

    def _phase_model(self, name: str) -> Optional[HierarchicalI3D]:
        path = self.out / name / "final.pt"
        return load_checkpoint(path).model if path.is_file() and name in self.state["phases"] else None

    def hierarchy(self) -> Optional[Hierarchy]:
        path = self.out / "hierarchy.json"
        if path.is_file():
            return Hierarchy.from_dict(json.loads(path.read_text()))
        if not any(m is not None for m in self.recipe.levels):
            return None
        confusion = np.load(self.out / "pass1_confusion.npy")
        h = build_hierarchy(confusion, levels=self.recipe.levels, restarts=self.recipe.superclass_restarts,
                            seed=self.recipe.seed)
        if self.dist.main:
            atomic_write_json(path, h.to_dict())
        self.log(f"superclasses from pass 1's confusion matrix: levels {[m for m in self.recipe.levels if m]}")
        return h

    def run(self) -> dict:
        """Run (or continue) every phase; returns the summary also written to ``summary.json``."""
        r = self.recipe
        if "pass1" not in self.state["phases"]:
            self.train_phase("pass1", self._new_model(), None, r.epochs)
        if self.stop_after == "pass1":
            return {"best": "pass1", "best_val_top1": self.state["phases"]["pass1"]["val_top1"],
                    "phases": self.state["phases"]}
        hierarchy = self.hierarchy()
        if "pass2" not in self.state["phases"]:
            start = self._phase_model("pass1") if r.pass2_init == "pass1" else self._new_model()
            self.train_phase("pass2", start, hierarchy, r.epochs)
        # the best of pass 2 and the pruning passes is kept (pass 1 has no superclass heads trained)
        best_name, best = "pass2", self.state["phases"]["pass2"]["val_top1"]
        misses, k = 0, 0
        while k < r.max_prune_passes and misses < r.prune_patience:
            k += 1
            name = f"prune{k}"
            if name not in self.state["phases"]:
                start = self._phase_model(f"prune{k - 1}" if k > 1 else "pass2")
                if not (self.out / name / "last.pt").is_file():
                    rep = prune_filters(start, r.prune_ratio, scope=r.prune_scope)
                    self.log(f"[cyan]{name}[/]: pruned {rep.pruned_now} filters, {rep.alive}/{rep.total} alive")
                self.train_phase(name, start, hierarchy, r.epochs_per_prune_pass)
            top1 = self.state["phases"][name]["val_top1"]
            if top1 > best:
                best, best_name, misses = top1, name, 0
            else:
                misses += 1
        self.state["best"] = best_name
        self._save_state()
        summary = {"best": best_name, "best_val_top1": best, "phases": self.state["phases"]}
        if self.dist.main:
            src = self.out / best_name / "final.pt"
            ck = load_checkpoint(src)
            meta = {**ck.meta, "phases": self.state["phases"], "best": best_name}
            test = self.evaluate(ck.model.to(self.device), "test", hierarchy, sets=r.test_sets)
            meta["metrics"] = {"test_top1": test["top1"], "test_top5": test["top5"], "levels": test.get("levels", [])}
            summary["test"] = meta["metrics"]
            save_checkpoint(self.out / "best.pt", ck.model, meta)
            atomic_write_json(self.out / "summary.json", summary)
        self.dist.barrier()
        return summary


class Interrupted(Exception):
    """Training stopped on request (``max_epochs``) after a saved epoch; rerun to continue."""


def load_backbone(model: HierarchicalI3D, path: str | Path, *, checkpoint: Optional[dict] = None) -> None:
    """Start from another checkpoint's backbone (N-UCLA from NTU60): heads are rebuilt.

    A compacted checkpoint's backbone loads only into a model built with the same per-layer
    widths (``ModelConfig.channels``); the channels it baked to 0 are masked again, so they stay
    pruned through training. ``checkpoint``: ``read_checkpoint(path)`` if already read.
    """
    ck = checkpoint if checkpoint is not None else read_checkpoint(path)
    theirs = ck["meta"]["model"]
    if theirs.get("arch") != model.config.arch or float(theirs.get("width", 1.0)) != model.config.width:
        raise EdgeactError(f"{path}: backbone is {theirs.get('arch')} (width {theirs.get('width')}), "
                           f"but the recipe builds {model.config.arch} (width {model.config.width})")
    if (theirs.get("channels") or None) != (model.config.channels or None):
        what = "a compacted (physically pruned) backbone" if theirs.get("channels") else "a full-width backbone"
        raise EdgeactError(f"{path}: {what}, but the model it should load into has "
                           f"{'other compacted widths' if model.config.channels else 'full widths'}; build the "
                           "model with the checkpoint's meta['model']['channels']")
    backbone = {k: v for k, v in ck["state_dict"].items() if k.startswith("backbone.")}
    missing, unexpected = model.load_state_dict(backbone, strict=False)
    missing = [k for k in missing if k.startswith("backbone.")]
    if missing or unexpected:
        raise EdgeactError(f"{path}: backbone does not match ({len(missing)} missing, {len(unexpected)} unexpected tensors)")
    # channels the compaction had to keep but baked to 0 stay pruned while fine-tuning
    mask_baked(model)
