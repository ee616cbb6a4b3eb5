"""The command line's vocabulary: every option name has one meaning, declared once.

:data:`MEANINGS` gives each option name its meaning. A command declares an option with
:func:`opt` (or one of the ``Annotated`` aliases below, for options every command words alike);
its help text is the meaning, followed by what the option does in that command (a default, a
range) when there is more to say. So ``--size`` is the model's crop side wherever it appears, and
``--width`` the channel multiplier.

Old spellings (:data:`RENAMED`) are still accepted for one release: :func:`renamed` makes a
command class that rewrites them to the new name before parsing and prints a one-line note (on
stdout, with the command's other notes: stderr stays the one error line); they are not listed in
``--help``.

Library errors name the keyword argument they are about (``batch: must be >= 1``); the CLI
prints the option that sets it (``--batch-size: must be >= 1``): the app's groups are
:class:`Group`, which rewords such an error through :data:`PARAMETERS` where the two are spelled
differently.

:func:`option_table` renders every command x option with its meaning as Markdown (the README's
"Command-line options" section is this table). Nothing here imports the commands: the table takes
the Typer app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

MEANINGS: dict[str, str] = {
    # the model and its input
    "--arch": "Architecture: i3d_r18, i3d_r34, i3d_r50 or i3d_r101.",
    "--num-classes": "Number of fine action classes.",
    "--levels": "Superclass counts of the heads after stacks 1-3, coarse to fine: 'none' for a stack without a "
                "head (N-UCLA: none,2,5), empty for no superclass heads.",
    "--width": "Channel width multiplier of the network (1.0 = the paper).",
    "--frames": "Input frames T of a clip (the paper: 8).",
    "--size": "Input crop side S in pixels: clips are (3, T, S, S) (the paper: 224).",
    "--resize": "Side in pixels of the cached square frames that crops are taken from (the paper: 256).",
    "--pretrained-2d": "A torchvision 2D ResNet state dict (.pth) of the same depth, inflated into the model.",
    "--model": "An artifact edgeact wrote (.pt checkpoint, .onnx, .ts, .engine), or `demo` for the bundled "
               "synthetic-trained model.",
    # where and how it runs
    "--device": "Where models run: auto (the first CUDA GPU, else the CPU), cpu, cuda, cuda:N or N; OpenVINO "
                "takes cpu, gpu, npu, GPU.1, ...",
    "--backend": "Runtime that reads the classifier: auto (the artifact's own) or openvino for an .onnx (fp32, "
                 "fp16 or INT8 Q/DQ from `edgeact export --format onnx`; Intel CPUs/GPUs, --device cpu or gpu; "
                 "pip install 'edgeact[openvino]').",
    "--backends": "Comma list of runtimes to time side by side: torch, torch-compile, torch-cudagraphs (CUDA), "
                  "onnx, openvino, torchscript, tensorrt.",
    "--fp16": "Half precision (float16).",
    "--compile": "torch.compile a .pt checkpoint: default, reduce-overhead (adds CUDA graphs; CUDA only) or "
                 "max-autotune. Compiles once at start (a minute or more); pays off on GPUs, measure with "
                 "`edgeact bench model --backends torch,torch-compile`.",
    "--batch-size": "Clips per batch.",
    "--max-batch": "Largest batch of a TensorRT engine.",
    "--threads": "CPU threads the benchmark runs with (restored after it).",
    "--precision": "Comma list of precisions to time: fp32, fp16, bf16, int8.",
    # data
    "--data": "A cache made by `edgeact prep`.",
    "--dataset": "Dataset kind: ntu (NTU RGB+D 60/120, or `edgeact synth` output) or nucla.",
    "--root": "Dataset root folder.",
    "--benchmark": "Benchmark and split protocol, e.g. ntu60-xsub.",
    "--split": "Split of the benchmark: train or test.",
    "--calibration": "Projection coefficients (paper Eq. 1): a JSON file from `edgeact calibrate`.",
    "--margin": "Crop margin on each side, as a fraction of the skeleton's box (the paper: 0.10).",
    "--no-crop": "Cache whole frames (the ablation's uncropped baseline).",
    "--fallback-uncropped": "Keep samples without a usable skeleton, uncropped, instead of leaving them out.",
    "--keep-damaged": "Cache damaged samples too (frames that do not decode or are all black, video and skeleton "
                      "frame counts that differ); they are listed either way.",
    "--limit": "Only the first N samples (a quick look).",
    "--uncropped": "Whole-frame cache (`edgeact prep --no-crop`) for the ablation's baseline row.",
    "--workers": "Worker processes.",
    "--seed": "Random seed.",
    # recipes and training
    "--recipe": "A YAML training recipe, e.g. train/ntu60-xsub.yaml (the paper's settings).",
    "--set": "Override any recipe key: KEY=VALUE, repeatable, VALUE read as YAML (--set lr=3e-4 "
             "--set levels=[null,2,5] --set amp=false).",
    "--epochs": "Epochs per training pass (the paper: 20).",
    "--prune-epochs": "Epochs per pruning pass (default: --epochs).",
    "--lr": "Adam learning rate (the paper: 1e-4).",
    "--prune-scope": "Which filters compete when pruning: global (all layers together) or layer.",
    "--max-prune-passes": "Upper bound on pruning passes.",
    "--val-source": "Where validation clips come from: test (the paper: a tenth of the test split) or train "
                    "(held out of the training split; no test clip steers training).",
    "--pass2-init": "Pass 2 starts from pass1 (inherit its weights) or scratch.",
    "--init-from": "A checkpoint whose backbone starts training (N-UCLA starts from the NTU60 cross-subject "
                   "model).",
    "--superclass-restarts": "Greedy restarts of the superclass search (the paper: 1000).",
    "--restart": "Delete the run's own files (recipe.yaml, state.json, log.csv, hierarchy, phase checkpoints, "
                 "best.pt; nothing else in the folder) and train from the start. Without it a rerun resumes, and "
                 "refuses another recipe or cache (only --workers may change).",
    "--test-sets": "Frame sets averaged per prediction (the paper's test protocol: 5; each costs one more model "
                   "call).",
    # outputs
    "--out": "Where the command writes its result.",
    "--json": "Write the report as JSON.",
    "--md": "Write the report as a Markdown table.",
    "--plots": "Folder for confusion.png and superclasses.png.",
    "--quiet": "No progress bars or live view (services, scripts); errors still go to stderr.",
    "--force": "Replace an existing --out that `edgeact calibrate` did not write (e.g. a shipped calibration "
               "file); its own earlier output is replaced without it.",
    "--overwrite": "Regenerate into a non-empty folder.",
    "--resume": "Finish an interrupted run with the same settings.",
    # export
    "--format": "Artifact to write: onnx, engine (TensorRT) or torchscript.",
    "--int8": "INT8, calibrated on --int8-data.",
    "--int8-data": "A cache made by `edgeact prep` whose train clips calibrate INT8 (test preprocessing).",
    "--int8-clips": "Clips of the train split that calibrate an INT8 ONNX (default 64), spread over the split.",
    "--int8-method": "How an INT8 ONNX's ranges are chosen: minmax (default), entropy or percentile (99.999).",
    "--opset": "ONNX opset (>= 17).",
    "--tolerance": "Largest allowed absolute logit difference to PyTorch (fp32); beyond it nothing is written "
                   "and the command fails.",
    "--compact": "Physically remove pruned filters before exporting.",
    "--via": "Engine route: onnx (alias tensorrt: the TensorRT Python API parses the ONNX; writes .engine + "
             ".engine.json) or torch-tensorrt (writes a TorchScript holding TensorRT engines).",
    # benchmarks
    "--warmup": "Untimed calls before timing.",
    "--iters": "Timed calls.",
    "--seconds": "Length of the synthetic recording, in seconds.",
    # live sources
    "--camera": "Camera index (0, 1, ...) or stream URL (rtsp://...).",
    "--video": "Video file, paced at its frame rate.",
    "--sources": "YAML list of streams run in one process (id and one of camera, video, realsense, bag; "
                 "skeleton, calibration per stream): pose and classifier batched across them.",
    "--streams": "Stream counts to measure, e.g. 1,2,4,8: N real-time streams in one process (and N "
                 "one-stream processes up to 4).",
    "--realsense": "The connected Intel RealSense camera.",
    "--bag": "A RealSense recording (.bag, or .db3 from SDK 2.59+).",
    "--demo": "No camera, no download: synthetic clips through the whole pipeline with the bundled demo model.",
    "--no-realtime": "Process files as fast as possible, every frame, nothing dropped (default: pace at the "
                     "file's frame rate).",
    "--loop": "Play --video again from the start at its end (kiosks, demos); a --skeleton replay restarts "
              "with it.",
    "--exit-on-disconnect": "Exit when the camera is lost instead of retrying with back-off (let systemd "
                            "restart us).",
    "--skeleton": "Replay a dataset recording with its own skeleton file (NTU .skeleton, row t = video "
                  "frame t).",
    # pose
    "--pose": "Pose backend: yolo (an ultralytics model), skeleton (the recording's own) or depth (YOLO "
              "keypoints lifted with RealSense depth, projected with --calibration).",
    "--pose-model": "Ultralytics pose model: a name ultralytics fetches on a connected machine (.pt), a model "
                    "YAML (built untrained, offline), or a local .pt, .onnx, .engine or OpenVINO export folder.",
    "--pose-conf": "Minimum person confidence of the pose model.",
    "--pose-imgsz": "Pose model input size in pixels (square, a multiple of 32).",
    # live decisions and outputs
    "--window-seconds": "Seconds of video per decision.",
    "--stride": "A new decision every N frames (`8`) or seconds (`0.5s`).",
    "--max-window-mb": "Cap on the frames a window holds, in MB (10^6 bytes). A window over it keeps its frames "
                       "downscaled to fit (noted); one that would need them below the model's crop size is "
                       "refused.",
    "--smooth": "Average each person's last N decisions (1 = off).",
    "--threshold": "Below this top-1 probability a decision is shown as uncertain, not as a label.",
    "--topk": "Labels per head in the JSON lines.",
    "--superclasses": "How superclasses are scored: fine (the fine head's probabilities summed per superclass, so "
                      "they always agree with the action shown) or heads (each superclass head's own output, as in "
                      "the paper).",
    "--show": "OpenCV window with skeletons, boxes and labels (q quits).",
    "--save": "Write the overlay (skeletons, boxes, labels) to a video (out.mp4).",
    "--jsonl": "Append one JSON line per decision: t, track, box, fine, levels, latency_ms, uncertain; each run "
               "starts with a line {\"event\": \"start\", \"time\", \"model\", \"source\", ...}.",
    "--mqtt": "Publish to an MQTT broker, mqtt://[user:pass@]host[:port][/prefix] (mqtts:// for TLS; prefix "
              "edgeact): each person's action as new/update/end events, a retained state per stream, online/offline "
              "availability (pip install 'edgeact[mqtt]'). An unreachable broker is retried; refused credentials "
              "stop the start.",
    "--mqtt-every": "With --mqtt, also publish every decision (PREFIX/SOURCE/TRACK/decision).",
    "--mqtt-level": "The action MQTT events follow: fine (the fine label) or a superclass level 1..L (1 = coarsest).",
    "--serve": "Serve a remote view and Prometheus metrics on HOST:PORT (PORT alone: 127.0.0.1; port 0: a free "
               "one): the page at /, /video/SOURCE.mjpg, /status.json, /metrics (pip install 'edgeact[serve]').",
    "--serve-token": "Bearer token every --serve route then asks for (required off loopback): Authorization: "
                     "Bearer TOKEN, or ?token=TOKEN once in a browser.",
    # calibrate
    "--pairs": "CSV of correspondences with a header naming the columns X,Y,Z,u,v (camera-space 3D point, its "
               "pixel).",
    "--ntu-skeletons": "An NTU RGB+D .skeleton file or a folder of them: tracked joints' x y z against their "
                       "colorX colorY.",
    "--ntu-camera": "Only this NTU camera's skeleton files (C001, C002, C003: different Kinects).",
    "--per-camera": "Fit each NTU camera alone, one file each (OUT-C001.json, ...).",
    "--max-files": "Read only the first N files of a folder (name order).",
    "--projection": "Projection model: eq1 (u = cx·X/Z + bx) or offset (u = cx·(X - tx)/Z + bx, for a colour "
                    "camera beside the 3D sensor, Kinect v2 / NTU; needs points at several depths).",
    "--bx": "Principal point u in pixels, fixed unless --fit-center.",
    "--by": "Principal point v in pixels, fixed unless --fit-center.",
    "--fit-center": "Fit bx, by too instead of fixing them.",
    # synth
    "--performers": "Performers P001..PNNN.",
    "--cameras": "Views C001..C00N (at -45, 0, +45 degrees), 1-3.",
    "--setups": "Setups S001..SNNN.",
    "--replications": "Replications R001..R00N, 1-2.",
    "--video-frames": "Length of a rendered video in frames.",
    "--video-width": "Width of a rendered video in pixels.",
    "--video-height": "Height of a rendered video in pixels.",
    "--fps": "Video frame rate.",
    "--color-offset": "Colour camera offset along X from the depth camera in metres (Kinect v2: 0.052; 0 for a "
                      "pure Eq. 1 pinhole).",
    "--empty-start": "Up to this many leading frames without a body.",
    "--spurious-rate": "Probability of a ghost second body per clip.",
}
"""Each option name's one meaning, the first sentence(s) of its help in every command."""

RENAMED: dict[str, dict[str, str]] = {
    "prep": {"--size": "--resize", "--calib": "--calibration"},
    "synth": {"--frames": "--video-frames", "--width": "--video-width", "--height": "--video-height",
              "--classes": "--num-classes"},
    "calibrate": {"--model": "--projection", "--camera": "--ntu-camera"},
    "export": {"--batch": "--batch-size", "--calib-data": "--int8-data", "--calib-clips": "--int8-clips",
               "--calib-method": "--int8-method"},
    "bench model": {"--batch": "--batch-size", "--calib-data": "--int8-data"},
    "bench pose": {"--imgsz": "--pose-imgsz"},
    "bench live": {"--width": "--video-width", "--height": "--video-height"},
}
"""Per command, the old spellings still accepted (with a note) for one release: old -> new."""


PARAMETERS: dict[str, dict[str, str]] = {
    "live": {"index_or_url": "--camera", "cameras": "--camera", "videos": "--video", "streams": "--sources"},
    "export": {"fmt": "--format", "batch": "--batch-size", "calib_data": "--int8-data", "calib_clips": "--int8-clips",
               "calib_method": "--int8-method"},
    "bench model": {"batches": "--batch-size", "precisions": "--precision", "calib_data": "--int8-data"},
    "bench pose": {"imgsz": "--pose-imgsz", "half": "--fp16"},
    "bench live": {"width": "--video-width", "height": "--video-height"},
    "prep": {"size": "--resize", "calib": "--calibration"},
    "synth": {"frames": "--video-frames", "width": "--video-width", "height": "--video-height",
              "classes": "--num-classes", "out_dir": "--out"},
    "calibrate": {"model": "--projection", "camera": "--ntu-camera"},
    "eval": {"out_json": "--out", "plots_dir": "--plots"},
}
"""Per command, the library's keyword arguments that its option spells otherwise: parameter ->
option. Any other parameter ``some_name`` is set by ``--some-name``."""


def help_for(name: str, detail: str = "") -> str:
    """The help text of option ``name``: its meaning, then ``detail`` (what it does in this command)."""
    meaning = MEANINGS[name]
    return f"{meaning} {detail}" if detail else meaning


def opt(name: str, detail: str = "", *aliases: str, **kwargs: Any) -> Any:
    """``typer.Option(name, *aliases)`` whose help is :func:`help_for` ``(name, detail)``."""
    return typer.Option(name, *aliases, help=help_for(name, detail), **kwargs)


# options every command words alike (the default goes in the signature: ``device: DeviceOpt = "auto"``)
DeviceOpt = Annotated[str, opt("--device")]
DataOpt = Annotated[Path, opt("--data")]
RecipeOpt = Annotated[Path, opt("--recipe")]
CompileOpt = Annotated[Optional[str], opt("--compile")]
BackendOpt = Annotated[str, opt("--backend")]
RestartOpt = Annotated[bool, opt("--restart")]
QuietOpt = Annotated[bool, opt("--quiet")]
JsonOpt = Annotated[Optional[Path], opt("--json")]
MdOpt = Annotated[Optional[Path], opt("--md")]
ArchOpt = Annotated[str, opt("--arch")]
NumClassesOpt = Annotated[int, opt("--num-classes")]
LevelsOpt = Annotated[str, opt("--levels")]
WidthOpt = Annotated[float, opt("--width")]
WarmupOpt = Annotated[int, opt("--warmup")]
ItersOpt = Annotated[int, opt("--iters")]


def renamed(command: str) -> type[TyperCommand]:
    """The command class of ``command`` (a key of :data:`RENAMED`, e.g. ``"bench model"``): it
    accepts the old spellings, each rewritten to its new name with a one-line note."""
    table = RENAMED[command]

    class Renamed(TyperCommand):
        renamed_options = table

        def parse_args(self, ctx, args: list[str]) -> list[str]:
            return super().parse_args(ctx, rename_args(args, table))

    Renamed.__name__ = Renamed.__qualname__ = f"Renamed[{command}]"
    return Renamed


def rename_args(args: list[str], table: dict[str, str]) -> list[str]:
    """``args`` with every old spelling in ``table`` (``--size 72`` or ``--size=72``) replaced by the
    new one, noting each. The old and the new spelling together are refused: which one meant the
    value?"""
    from edgeact.errors import EdgeactError

    out = []
    for arg in args:
        if arg == "--":
            out.extend(args[len(out):])
            break
        name, eq, value = arg.partition("=")
        new = table.get(name)
        if new is None:
            out.append(arg)
            continue
        if any(a == new or a.startswith(new + "=") for a in args):
            raise EdgeactError(f"{name} is the old spelling of {new}: give {new} only")
        print(f"note: {name} is now {new} (the old spelling is accepted for this release)")
        out.append(new + eq + value)
    return out


def option_for(command: str, param: str) -> str:
    """The option of ``command`` (e.g. ``"bench model"``) that sets the library's keyword argument
    ``param``: :data:`PARAMETERS`, else ``--param-name``."""
    return PARAMETERS.get(command, {}).get(param, "--" + param.replace("_", "-"))


def name_option(exc: Exception, command: str) -> None:
    """Reword ``exc`` in place for the CLI: an :class:`~edgeact.errors.EdgeactError` about keyword
    arguments (``params``) names the options of ``command`` that set them instead; its type (and
    so its exit status) stays."""
    if getattr(exc, "params", ()) or getattr(exc, "mentions", ()):
        exc.args = (exc.render(lambda p: option_for(command, p)),)
        exc.params = exc.mentions = ()


class Group(TyperGroup):
    """The CLI's command groups: an error about a keyword argument leaves a command naming the
    command's option (:func:`name_option`), so the CLI's one error line speaks its vocabulary."""

    def invoke(self, ctx):
        from edgeact.errors import EdgeactError

        try:
            return super().invoke(ctx)
        except EdgeactError as exc:
            path, outer = [ctx.invoked_subcommand or ""], ctx
            while outer.parent is not None:         # the root's name is the program's (python -m edgeact)
                path.insert(0, outer.info_name)
                outer = outer.parent
            name_option(exc, " ".join(path).strip())
            raise


def _commands(app: typer.Typer):
    """``(command path, click command)`` of every command of ``app``, sub-apps included, in name order."""
    import typer.main
    from typer.core import TyperGroup

    def walk(cmd, path):
        if isinstance(cmd, TyperGroup):
            for name in sorted(cmd.commands):
                yield from walk(cmd.commands[name], [*path, name])
        else:
            yield " ".join(path), cmd

    yield from walk(typer.main.get_command(app), [])


def command_options(app: typer.Typer) -> list[tuple[str, tuple[str, ...], str]]:
    """``(command, names, help)`` of every visible option of every command (``--help`` left out);
    ``names`` is the option's spellings, the first the one :data:`MEANINGS` knows."""
    from typer.core import TyperOption

    rows = []
    for path, cmd in _commands(app):
        for param in cmd.params:
            if isinstance(param, TyperOption) and not param.hidden:
                rows.append((path, (*param.opts, *param.secondary_opts), " ".join((param.help or "").split())))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def option_table(app: typer.Typer) -> str:
    """Markdown: every option with its one meaning and the commands that take it, then the old
    spellings still accepted."""
    used: dict[tuple[str, ...], set[str]] = {}
    for path, names, _ in command_options(app):
        used.setdefault(names, set()).add(path)
    lines = ["| option | meaning | commands |", "| --- | --- | --- |"]
    for names in sorted(used, key=lambda n: n[0].lstrip("-")):
        meaning = MEANINGS.get(names[0], "(no meaning declared)")
        spelled = ", ".join(f"`{n}`" for n in names)
        lines.append(f"| {spelled} | {_cell(meaning)} | {', '.join(f'`{c}`' for c in sorted(used[names]))} |")
    lines += ["", "Old spellings, accepted for this release with a note:", "",
              "| command | old | new |", "| --- | --- | --- |"]
    for command in sorted(RENAMED):
        for old, new in RENAMED[command].items():
            lines.append(f"| `{command}` | `{old}` | `{new}` |")
    return "\n".join(lines) + "\n"


README_BEGIN = "<!-- option-table: generated by edgeact.cli_options.option_table; do not edit by hand -->"
README_END = "<!-- /option-table -->"


def update_readme(app: typer.Typer, path: str | Path = "README.md") -> bool:
    """Write :func:`option_table` between the README's markers; True when the file changed."""
    path = Path(path)
    text = path.read_text()
    head, _, rest = text.partition(README_BEGIN)
    _, _, tail = rest.partition(README_END)
    new = f"{head}{README_BEGIN}\n{option_table(app)}{README_END}{tail}"
    if new == text:
        return False
    path.write_text(new)
    return True
