"""The ``edgeact`` command line: thin Typer commands that parse options and call the library.

Every command validates its options, calls one library function and prints the result. Bad input
raises :class:`edgeact.errors.EdgeactError`, which :func:`main` prints as one line (exit status 2).
Heavy imports (torch, cv2, ultralytics) happen inside the commands so ``edgeact --help`` is fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from edgeact.errors import EdgeactError

app = typer.Typer(
    name="edgeact",
    help="Real-time human action recognition for edge devices: train, prune, export and run a "
    "hierarchical Inflated ResNet on skeleton-cropped clips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)

NOT_BUILT_EXIT = 3
_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def _not_built(command: str, issue: int) -> None:
    err_console.print(
        f"[bold red]edgeact {command} is not built yet[/] (tracked in issue #{issue}); "
        "nothing was run."
    )
    raise typer.Exit(NOT_BUILT_EXIT)


def _parse_levels(text: str) -> tuple[Optional[int], ...]:
    """``"2,6,20"`` -> ``(2, 6, 20)``; ``"none,2,5"`` -> ``(None, 2, 5)``; ``""`` -> ``()``."""
    if not text.strip():
        return ()
    out: list[Optional[int]] = []
    for part in text.split(","):
        part = part.strip().lower()
        if part in ("none", "-", "0"):
            out.append(None)
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise EdgeactError(
                f"--levels: {part!r} is not an integer or 'none' (expected e.g. 2,6,20 or none,2,5)"
            ) from None
    return tuple(out)


@app.command()
def info(
    arch: str = typer.Option("i3d_r50", "--arch", help="Architecture: i3d_r18, i3d_r34, i3d_r50, i3d_r101."),
    num_classes: int = typer.Option(60, "--num-classes", help="Number of fine action classes."),
    levels: str = typer.Option(
        "2,6,20", "--levels",
        help="Superclass counts of the heads after stacks 1-3, coarse to fine; 'none' for a stack "
        "without a head (N-UCLA: none,2,5); empty for no superclass heads.",
    ),
    frames: int = typer.Option(8, "--frames", help="Input frames T."),
    size: int = typer.Option(224, "--size", help="Input height and width."),
    width: float = typer.Option(1.0, "--width", help="Channel width multiplier (1.0 = the paper)."),
    pretrained_2d: Optional[Path] = typer.Option(
        None, "--pretrained-2d",
        help="A torchvision 2D ResNet state dict (.pth) of the same depth to inflate into the model.",
    ),
) -> None:
    """Show a model's parameters and FLOPs per stack and head for an input size."""
    from edgeact.models.summary import model_summary, render_summary

    summary = model_summary(
        arch, num_classes=num_classes, levels=_parse_levels(levels), width=width,
        frames=frames, size=size, pretrained_2d=pretrained_2d,
    )
    render_summary(summary, console)


@app.command(context_settings=_PASSTHROUGH)
def live() -> None:
    """Recognize actions live from a camera, video file, RealSense or recording."""
    _not_built("live", 5)


@app.command(context_settings=_PASSTHROUGH)
def calibrate() -> None:
    """Fit the 3D-to-2D projection coefficients (Eq. 1) from correspondences."""
    _not_built("calibrate", 3)


@app.command(context_settings=_PASSTHROUGH)
def prep() -> None:
    """Decode, skeleton-crop and cache a dataset for fast training."""
    _not_built("prep", 3)


@app.command(context_settings=_PASSTHROUGH)
def synth() -> None:
    """Generate a synthetic dataset in the exact NTU RGB+D layout."""
    _not_built("synth", 3)


@app.command(context_settings=_PASSTHROUGH)
def train() -> None:
    """Two-pass hierarchical training and iterative pruning from a recipe."""
    _not_built("train", 4)


@app.command(name="eval", context_settings=_PASSTHROUGH)
def eval_() -> None:
    """Evaluate a trained artifact on a benchmark split (top-1/top-5, per level)."""
    _not_built("eval", 4)


@app.command(context_settings=_PASSTHROUGH)
def ablate() -> None:
    """Produce the paper's ablation table (baseline, +crop, +hierarchy, +pruning)."""
    _not_built("ablate", 4)


@app.command(context_settings=_PASSTHROUGH)
def export() -> None:
    """Export a checkpoint to ONNX, TensorRT or TorchScript."""
    _not_built("export", 6)


@app.command(context_settings=_PASSTHROUGH)
def bench() -> None:
    """Measure latency and throughput per backend and precision."""
    _not_built("bench", 6)


def main() -> None:
    """Console entry point: run the app, printing user errors as one line (exit status 2)."""
    try:
        app()
    except EdgeactError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
