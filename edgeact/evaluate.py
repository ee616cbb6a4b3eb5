"""``edgeact eval``: how the paper reports results (Tables 5-10), for any edgeact artifact.

The artifact (checkpoint, ONNX, TorchScript, TensorRT engine) is loaded through
:func:`edgeact.runtime.load_runtime`; nothing here depends on which backend runs it.

Each test clip is scored on 5 frame sets whose softmax scores are averaged; the report gives
top-1 and top-5 over the fine classes, the accuracy of every superclass level (the fine label
mapped through the artifact's superclass assignment), per-class accuracy, and the confusion
matrix, plus two figures: the confusion matrix and the superclass groups (like the paper's Fig. 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from torch.utils.data import DataLoader

from edgeact.data.classes import ClassList
from edgeact.data.clips import ClipDataset
from edgeact.engine import predict_with
from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_bytes, atomic_write_json, refuse_output_over_input
from edgeact.hierarchy import level_probs
from edgeact.metrics import confusion_matrix, level_accuracies, per_class_accuracy, topk_accuracy
from edgeact.runtime import Runtime, load_runtime


@dataclass(frozen=True)
class EvalOptions:
    """``benchmark`` ``None``: the one the artifact's metadata names. ``fp16`` (CUDA) and
    ``compile`` (a ``torch.compile`` mode) apply to checkpoints; exported artifacts keep their
    export precision and are compiled by their own runtime."""

    benchmark: Optional[str] = None
    split: str = "test"
    device: str = "auto"
    batch_size: int = 4
    workers: int = 2
    test_sets: int = 5
    names: Optional[Sequence[str]] = None
    fp16: bool = False
    compile: Optional[str] = None         # torch.compile mode (checkpoints only)
    backend: Optional[str] = None         # None/auto: the artifact's own; openvino for an ONNX


def predict_runtime(runtime: Runtime, loader, *,
                    on_batch: Optional[Callable[[int], None]] = None) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`edgeact.engine.predict_with` through any backend: a checkpoint scores exactly as it
    does during training."""
    return predict_with(runtime, loader, on_batch)


def evaluate_artifact(model_path: str | Path, cache: str | Path, opts: EvalOptions,
                      log: Optional[Callable[[str], None]] = None) -> dict:
    """Score ``model_path`` (any edgeact artifact) on the ``opts.split`` split of
    ``opts.benchmark`` in ``cache``. Notes on how the clips are read (a cache resized on load) go
    to ``log`` before scoring starts, and into the report's ``notes``."""
    runtime = load_runtime(model_path, opts.device, fp16=opts.fp16, compile=opts.compile, backend=opts.backend)
    benchmark = opts.benchmark or runtime.meta.get("benchmark")
    if not benchmark:
        raise EdgeactError(f"{model_path}: names no benchmark; give one", param="benchmark")
    ds = ClipDataset(cache, benchmark, opts.split, train=False, spec=runtime.input_spec,
                     num_test_sets=opts.test_sets, names=opts.names)
    classes = runtime.classes
    if ds.classes.names[: len(classes)] != classes.names:
        raise EdgeactError(f"{model_path}: trained on {len(classes)} classes that differ from the "
                           f"{len(ds.classes)} classes of {cache}")
    if log and ds.scale_note:
        log(ds.scale_note)
    loader = DataLoader(ds, batch_size=opts.batch_size, num_workers=opts.workers)
    probs, labels = predict_runtime(runtime, loader)
    # the report keeps how its clips were read (a cache resized on load says so)
    return build_report(probs, labels, classes, runtime.hierarchy, artifact=str(model_path), data=str(cache),
                        benchmark=benchmark, split=opts.split, backend=runtime.backend, precision=runtime.precision,
                        notes=[ds.scale_note] if ds.scale_note else [])


def build_report(probs: list[np.ndarray], labels: np.ndarray, classes: ClassList, hierarchy: Optional[dict],
                 **info) -> dict:
    """Metrics from averaged scores: ``probs`` one ``(N, M_l)`` array per head, fine last."""
    fine = probs[-1]
    n_cls = len(classes)
    pred = fine.argmax(1)
    cm = confusion_matrix(pred, labels, n_cls)
    counts = cm.sum(1)
    per_class = [{"label": i, "name": classes.names[i], "count": int(counts[i]), "accuracy": acc}
                 for i, acc in enumerate(per_class_accuracy(cm))]
    assignments = (hierarchy or {}).get("assignments") or []
    # each superclass head's own accuracy, and that of the fine head's probabilities summed per
    # superclass (what `live --superclasses fine` shows)
    from_fine = level_accuracies(level_probs(fine, assignments), labels, assignments)
    levels = [{"level": k + 1, "superclasses": int(p.shape[1]), "accuracy": acc, "accuracy_from_fine": ff}
              for k, (p, acc, ff) in enumerate(zip(probs[:-1], level_accuracies(probs[:-1], labels, assignments),
                                                    from_fine))]
    return {**info, "clips": int(len(labels)), "top1": topk_accuracy(fine, labels, 1),
            "top5": topk_accuracy(fine, labels, 5), "levels": levels, "per_class": per_class,
            "confusion": cm.tolist(), "classes": list(classes.names), "hierarchy": hierarchy}


def report_files(out_json: Optional[Path], plots_dir: Optional[Path]) -> list[Path]:
    """The files :func:`save_report` may write."""
    plots = [Path(plots_dir) / n for n in ("confusion.png", "superclasses.png")] if plots_dir is not None else []
    return ([Path(out_json)] if out_json is not None else []) + plots


def refuse_report_over_inputs(model_path: str | Path, cache: str | Path, out_json: Optional[Path],
                              plots_dir: Optional[Path]) -> None:
    """No report file may land on what ``eval`` reads: the artifact (and an engine's sidecar), the
    cache's ``index.json`` or one of its frame packs; nor on a folder."""
    from edgeact.runtime.tensorrt_backend import sidecar_path

    inputs = [model_path, sidecar_path(model_path), Path(cache) / "index.json"]
    for path in report_files(out_json, plots_dir):
        param = "out_json" if path == out_json else "plots_dir"
        if path.is_dir():
            raise EdgeactError(f"{path}: is a folder; name a file", param=param)
        refuse_output_over_input(path, [*inputs, Path(cache) / "frames" / path.name], param=param)


def save_report(report: dict, out_json: Optional[Path], plots_dir: Optional[Path]) -> list[Path]:
    """Write the JSON report and the figures; returns the files written. Refused before anything
    is written when one of them would replace an input the report names (:func:`refuse_report_over_inputs`)."""
    if report.get("artifact") and report.get("data"):
        refuse_report_over_inputs(report["artifact"], report["data"], out_json, plots_dir)
    written = []
    if out_json is not None:
        atomic_write_json(out_json, report)
        written.append(Path(out_json))
    if plots_dir is not None:
        cm_png = Path(plots_dir) / "confusion.png"
        atomic_write_bytes(cm_png, plot_confusion(np.asarray(report["confusion"]), report["classes"]))
        written.append(cm_png)
        if report.get("hierarchy") and report["hierarchy"].get("assignments"):
            groups_png = Path(plots_dir) / "superclasses.png"
            atomic_write_bytes(groups_png, plot_superclasses(report["hierarchy"]["assignments"], report["classes"]))
            written.append(groups_png)
    return written


def _png(fig) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_confusion(cm: np.ndarray, names: Sequence[str]) -> bytes:
    """Row-normalized confusion matrix as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(names)
    side = min(4 + 0.28 * n, 30)
    fig, ax = plt.subplots(figsize=(side, side))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ticks = range(n)
    labels = [f"{i + 1} {s[:28]}" for i, s in enumerate(names)] if n <= 60 else [str(i + 1) for i in ticks]
    ax.set_xticks(list(ticks), labels, rotation=90, fontsize=7)
    ax.set_yticks(list(ticks), labels, fontsize=7)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title("confusion (rows normalized)")
    return _png(fig)


def plot_superclasses(assignments: Sequence[Sequence[int]], names: Sequence[str]) -> bytes:
    """The superclass groups of every level, coarse (top) to fine (bottom), as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_levels = len(assignments)
    max_groups = max(max(a) + 1 for a in assignments)
    per_group = max(int(np.bincount(np.asarray(a)).max()) for a in assignments)
    fig, axes = plt.subplots(n_levels, 1, figsize=(min(2.2 * max_groups + 1, 40), (0.22 * per_group + 0.8) * n_levels),
                             squeeze=False)
    cmap = plt.get_cmap("tab20")
    for row, assign in enumerate(assignments):
        ax = axes[row, 0]
        assign = np.asarray(assign)
        m = int(assign.max()) + 1
        ax.set_xlim(0, m)
        ax.set_ylim(0, 1)
        ax.axis("off")
        ax.set_title(f"level {row + 1}: {m} superclasses", fontsize=9, loc="left")
        for g in range(m):
            members = [names[i][:24] for i in np.flatnonzero(assign == g)]
            ax.add_patch(plt.Rectangle((g + 0.04, 0.02), 0.92, 0.96, color=cmap(g % 20), alpha=0.35))
            ax.text(g + 0.5, 0.5, "\n".join(members), ha="center", va="center", fontsize=6)
    return _png(fig)
