"""The ``edgeact`` command line: thin Typer commands that parse options and call the library.

Every command validates its options, calls one library function and hands the result to
:mod:`edgeact.report`. This module holds the app, ``info``, ``train``, ``eval`` and ``ablate``,
and registers the commands of :mod:`edgeact.cli_live` (``live``), :mod:`edgeact.cli_data`
(``calibrate``, ``prep``, ``synth``) and :mod:`edgeact.cli_deploy` (``export``, ``bench``).
Options are declared through :mod:`edgeact.cli_options`, so an option name means one thing in
every command (the README's "Command-line options" table lists them all). Bad input raises
:class:`edgeact.errors.EdgeactError`, which :func:`main` prints as one line (exit status 2); an
``OSError`` (full disk, read-only folder) is one line naming the path (exit status 74). Heavy
imports (torch, cv2, ultralytics) happen inside the commands so ``edgeact --help`` is fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text

from edgeact.cli_data import calibrate, prep, synth
from edgeact.cli_deploy import bench_app, export
from edgeact.cli_live import live
from edgeact.cli_options import (
    ArchOpt,
    BackendOpt,
    CompileOpt,
    DataOpt,
    DeviceOpt,
    Group,
    LevelsOpt,
    NumClassesOpt,
    QuietOpt,
    RecipeOpt,
    RestartOpt,
    WidthOpt,
    opt,
    renamed,
)
from edgeact.errors import EXIT_IO, EdgeactError, os_error_message
from edgeact.recipe import recipe_keys
from edgeact.types import parse_levels

app = typer.Typer(
    name="edgeact",
    cls=Group,
    help="Real-time human action recognition for edge devices: train, prune, export and run a "
    "hierarchical Inflated ResNet on skeleton-cropped clips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
console = Console()
err_console = Console(stderr=True)


@app.command()
def info(
    arch: ArchOpt = "i3d_r50",
    num_classes: NumClassesOpt = 60,
    levels: LevelsOpt = "2,6,20",
    frames: Annotated[int, opt("--frames")] = 8,
    size: Annotated[int, opt("--size")] = 224,
    width: WidthOpt = 1.0,
    pretrained_2d: Annotated[Optional[Path], opt("--pretrained-2d")] = None,
) -> None:
    """Show a model's parameters and FLOPs per stack and head for an input size."""
    from edgeact.models.summary import model_summary, render_summary

    summary = model_summary(
        arch, num_classes=num_classes, levels=parse_levels(levels), width=width,
        frames=frames, size=size, pretrained_2d=pretrained_2d,
    )
    render_summary(summary, console)

app.command()(live)
app.command(cls=renamed("calibrate"))(calibrate)
app.command(cls=renamed("prep"))(prep)
app.command(cls=renamed("synth"))(synth)


def _key(key: str, detail: str = "") -> str:
    """A train flag's detail: the recipe key it sets."""
    return f"{detail} Sets the recipe key {key}.".strip()


@app.command()
def train(
    recipe: RecipeOpt,
    data: DataOpt,
    out: Annotated[Optional[Path], opt("--out", "The run folder (default runs/BENCHMARK); rerun to resume.")] = None,
    set_: Annotated[Optional[list[str]], opt("--set", f"Keys: {', '.join(recipe_keys())}.",
                                             metavar="KEY=VALUE")] = None,
    device: Annotated[str, opt("--device", "torchrun sets it per process.")] = "auto",
    epochs: Annotated[Optional[int], opt("--epochs", _key("epochs"))] = None,
    prune_epochs: Annotated[Optional[int], opt("--prune-epochs", _key("prune_epochs"))] = None,
    batch_size: Annotated[Optional[int], opt("--batch-size", _key("batch_size", "Per step and process."))] = None,
    workers: Annotated[Optional[int], opt("--workers", _key("workers", "They load clips (DataLoader)."))] = None,
    lr: Annotated[Optional[float], opt("--lr", _key("lr"))] = None,
    arch: Annotated[Optional[str], opt("--arch", _key("arch"))] = None,
    width: Annotated[Optional[float], opt("--width", _key("width"))] = None,
    frames: Annotated[Optional[int], opt("--frames", _key("frames"))] = None,
    size: Annotated[Optional[int], opt("--size", _key("size"))] = None,
    prune_scope: Annotated[Optional[str], opt("--prune-scope", _key("prune_scope"))] = None,
    max_prune_passes: Annotated[Optional[int], opt("--max-prune-passes", _key("max_prune_passes"))] = None,
    val_source: Annotated[Optional[str], opt("--val-source", _key("val_source"))] = None,
    pass2_init: Annotated[Optional[str], opt("--pass2-init", _key("pass2_init"))] = None,
    pretrained_2d: Annotated[Optional[str], opt("--pretrained-2d", _key("pretrained_2d"))] = None,
    init_from: Annotated[Optional[str], opt("--init-from", _key("init_from"))] = None,
    superclass_restarts: Annotated[Optional[int], opt("--superclass-restarts", _key("superclass_restarts"))] = None,
    seed: Annotated[Optional[int], opt("--seed", _key("seed"))] = None,
    restart: RestartOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Two-pass hierarchical training and iterative pruning from a recipe.

    Pass 1 trains with the fine-class loss; its confusion matrix on the validation set gives
    the superclasses of each level; pass 2 trains with the weighted hierarchical loss; then
    pruning passes zero 10 % of the alive filters and retrain until two passes in a row fail
    to beat the best validation top-1. Every epoch is checkpointed: rerun the same command to
    resume. A run folder belongs to one recipe and cache: a rerun with others is refused, naming
    what changed (only --workers may), and --restart starts it over. Multi-GPU:
    `torchrun --nproc-per-node 8 -m edgeact train ...`.

    Every recipe key can be overridden: `--set KEY=VALUE` (repeatable; VALUE read as YAML and
    checked against the key's type), or the flag where the key has one (`--epochs 3` is
    `--set epochs=3`; giving both is refused):
    `edgeact train --recipe train/ntu60-xsub.yaml --data cache/ntu60 --set lr_patience=3 --set amp=false`
    """
    from edgeact.recipe import load_recipe, parse_overrides
    from edgeact.report import print_train_summary
    from edgeact.training import Trainer

    flags = dict(epochs=epochs, prune_epochs=prune_epochs, batch_size=batch_size, workers=workers, lr=lr,
                 arch=arch, width=width, frames=frames, size=size, prune_scope=prune_scope,
                 max_prune_passes=max_prune_passes, val_source=val_source, pass2_init=pass2_init,
                 pretrained_2d=pretrained_2d, init_from=init_from, superclass_restarts=superclass_restarts,
                 seed=seed)
    flags = {k: v for k, v in flags.items() if v is not None}
    overrides = parse_overrides(set_ or [])
    for key in overrides:
        if key in flags:
            raise EdgeactError(f"--set {key}=... and --{key.replace('_', '-')}: the same recipe key twice; give one")
    r = load_recipe(recipe, **flags, **overrides)
    out = out or Path("runs") / r.benchmark
    trainer = Trainer(r, data, out, device=device, console=console, progress=not quiet, restart=restart)
    summary = trainer.run()
    if trainer.dist.main:
        print_train_summary(console, summary, out)


@app.command(name="eval")
def eval_(
    model: Annotated[str, opt("--model", "best.pt, any phase's final.pt, or its export.")],
    data: DataOpt,
    benchmark: Annotated[Optional[str], opt("--benchmark", "Default: the artifact's.")] = None,
    split: Annotated[str, opt("--split")] = "test",
    out: Annotated[Optional[Path], opt("--out", "A JSON report (holds top1, top5, levels, per-class).")] = None,
    plots: Annotated[Optional[Path], opt("--plots", "Default: beside --out.")] = None,
    device: DeviceOpt = "auto",
    batch_size: Annotated[int, opt("--batch-size", "Each clip is scored on --test-sets frame sets.")] = 4,
    workers: Annotated[int, opt("--workers", "They load clips (DataLoader).")] = 2,
    test_sets: Annotated[int, opt("--test-sets")] = 5,
    fp16: Annotated[bool, opt("--fp16", "For a .pt checkpoint on CUDA (exported artifacts keep their export "
                              "precision).")] = False,
    compile_mode: CompileOpt = None,
    backend: BackendOpt = "auto",
) -> None:
    """Evaluate a trained artifact on a benchmark split: top-1/top-5, superclass levels, per class."""
    from edgeact.evaluate import EvalOptions, evaluate_artifact, refuse_report_over_inputs, save_report
    from edgeact.report import eval_table, say, weakest_classes
    from edgeact.runtime import read_meta

    if benchmark is None:       # any artifact: checkpoint, ONNX, TorchScript, engine sidecar
        benchmark = read_meta(model).get("benchmark")
        if not benchmark:
            raise EdgeactError(f"{model}: names no benchmark; pass --benchmark")
    if plots is None and out is not None:
        plots = out.parent
    refuse_report_over_inputs(model, data, out, plots)     # before minutes of scoring, not after
    # notes (a cache resized on load) come before the minutes of scoring, not after them
    report = evaluate_artifact(model, data, EvalOptions(benchmark=benchmark, split=split, device=device,
                                                        batch_size=batch_size, workers=workers, test_sets=test_sets,
                                                        fp16=fp16, compile=compile_mode, backend=backend),
                               log=lambda note: say(console, note))
    written = save_report(report, out, plots)
    console.print(eval_table(report, model, benchmark, split))
    worst = weakest_classes(report)
    if worst:
        console.print(worst)
    for path in written:
        console.print(f"wrote {path}")


@app.command()
def ablate(
    recipe: RecipeOpt,
    data: Annotated[Path, opt("--data", "Skeleton-cropped (prep's default).")],
    uncropped: Annotated[Optional[Path], opt("--uncropped", "Without it the baseline row is left out.")] = None,
    out: Annotated[Path, opt("--out", "A folder for the runs and ablation.md/.json.")] = Path("runs/ablation"),
    device: DeviceOpt = "auto",
    epochs: Annotated[Optional[int], opt("--epochs", _key("epochs"))] = None,
    max_prune_passes: Annotated[Optional[int], opt("--max-prune-passes", _key("max_prune_passes"))] = None,
    restart: RestartOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Produce the paper's ablation table (Table 8): baseline, + cropping, + hierarchical loss, + each pruning pass."""
    from edgeact.ablation import ablation_markdown, run_ablation
    from edgeact.recipe import load_recipe

    r = load_recipe(recipe, epochs=epochs, max_prune_passes=max_prune_passes)
    table = run_ablation(r, data, uncropped, out, device=device, console=console, progress=not quiet,
                         restart=restart)
    console.print(ablation_markdown(table))
    console.print(f"wrote {out / 'ablation.md'} and {out / 'ablation.json'}", markup=False)


app.command(name="export", cls=renamed("export"))(export)
app.add_typer(bench_app, name="bench")


def main() -> None:
    """Console entry point: run the app. Bad input is one red line (exit status 2); a failed file
    operation (full disk, read-only folder) is one red line naming the path (exit status 74)."""
    try:
        app()
    except EdgeactError as exc:
        _fail(str(exc), exc.exit_code)
    except OSError as exc:
        _fail(os_error_message(exc), EXIT_IO)


def _fail(message: str, status: int) -> None:
    # the message holds user text (paths such as run[v2]/best.pt, pip extras): never parse it as markup
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    sys.exit(status)
