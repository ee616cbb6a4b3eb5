"""Inputs that are not files, user text that looks like markup, and a --save that cannot be written:
every reader refuses a FIFO (reading one blocks until a writer comes: forever, for a command), paths
with brackets print as written, and an overlay video OpenCV cannot write is one line before the run.

The CLI runs in a subprocess with a timeout, so a reader that blocks again fails the test instead of
hanging it; data is made here with `edgeact synth`."""

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console

from edgeact.calibration import load_calibration, ntu_skeleton_files, pairs_from_csv
from edgeact.cli_options import name_option
from edgeact.data.ntu import read_skeleton
from edgeact.data.nucla import read_nucla_skeleton_file
from edgeact.errors import EdgeactError
from edgeact.fileio import refuse_output_over_input, require_regular_file
from edgeact.live.decide import Decision, Scored
from edgeact.live.output import RichView, check_video_output
from edgeact.live.pipeline import LiveStats
from test_live import _sample
from test_trust_live import FAST, _live

NOT_REGULAR = "not a regular file (a folder, FIFO or device)"


def _edgeact(*args, cwd, timeout=60):
    """``edgeact ARGS`` in a subprocess (wide terminal: no line is wrapped), killed after ``timeout`` s."""
    env = {**os.environ, "COLUMNS": "400"}
    try:
        return subprocess.run([sys.executable, "-m", "edgeact", *[str(a) for a in args]], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"edgeact {' '.join(map(str, args))}: still blocked after {timeout} s")


def _within(seconds, fn):
    """``(fn()'s value, None)`` or ``(None, the exception it raised)``, failing the test if ``fn``
    blocks longer than ``seconds``."""
    out = []

    def run():
        try:
            out.append((fn(), None))
        except Exception as exc:  # noqa: BLE001  (handed to the test)
            out.append((None, exc))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert out, f"still blocked after {seconds} s"
    return out[0]


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


# --------------------------------------------------------------------------- FIFOs


@pytest.mark.parametrize("args, what", [
    (["calibrate", "--ntu-skeletons", "{fifo}"], ".skeleton file"),
    (["calibrate", "--pairs", "{fifo}", "--bx", "320", "--by", "240"], "CSV file"),
    (["prep", "--dataset", "nucla", "--root", ".", "--out", "cache", "--calibration", "{fifo}"], "calibration file"),
])
def test_a_fifo_given_to_prep_or_calibrate_is_one_line_not_a_hang(tmp_path, fifo, args, what):
    result = _edgeact(*[a.format(fifo=fifo) for a in args], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"error: {fifo}: {NOT_REGULAR}; {what} expected"
    assert not (tmp_path / "cache").exists()


def test_every_reader_refuses_a_fifo_before_opening_it(fifo):
    readers = [(read_skeleton, "skeleton file"), (load_calibration, "calibration file"), (pairs_from_csv, "CSV file"),
               (read_nucla_skeleton_file, "skeleton file")]
    for read, what in readers:
        _, exc = _within(20, lambda read=read: read(fifo))
        assert isinstance(exc, EdgeactError) and str(exc) == f"{fifo}: {NOT_REGULAR}; {what} expected"


def test_the_check_itself(tmp_path, fifo):
    real = tmp_path / "a.json"
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert require_regular_file(link, "x") == link           # a link to a file is that file
    with pytest.raises(EdgeactError, match=r"nope.json: no such calibration file$"):
        require_regular_file(tmp_path / "nope.json", "calibration file")
    with pytest.raises(EdgeactError, match=f"{tmp_path}: not a regular file"):
        require_regular_file(tmp_path, "calibration file")


def test_an_output_over_an_input_names_the_keyword_and_the_cli_its_option(tmp_path):
    src = tmp_path / "m.pt"
    src.write_bytes(b"x")
    with pytest.raises(EdgeactError) as info:
        refuse_output_over_input(src, [None, src], param="out_json")
    assert str(info.value) == f"out_json: {src}: is an input of this command ({src}); write the output elsewhere"
    name_option(info.value, "eval")                            # eval's report is --out
    assert str(info.value).startswith(f"--out: {src}: is an input of this command")
    refuse_output_over_input(tmp_path / "new.json", [src], param="out")   # not an input: nothing to say


def test_a_realsense_recording_that_is_a_fifo_is_refused(fifo):
    pytest.importorskip("pyrealsense2", reason="pyrealsense2 (and libusb-1.0) not installed")
    from edgeact.calibration import intrinsics_from_realsense
    from edgeact.live.sources import RealSenseSource

    for read in (lambda: RealSenseSource(playback=fifo), lambda: intrinsics_from_realsense(fifo)):
        _, exc = _within(20, read)
        assert isinstance(exc, EdgeactError) and str(exc) == f"{fifo}: {NOT_REGULAR}; RealSense recording expected"


def test_a_fifo_among_skeleton_files_is_passed_over_with_a_note(synth_root, tmp_path):
    folder = tmp_path / "skeletons"
    folder.mkdir()
    _, skel = _sample(synth_root, 1)
    shutil.copy(skel, folder)
    os.mkfifo(folder / "S001C001P001R001A002.skeleton")
    (files, notes), exc = _within(20, lambda: ntu_skeleton_files(folder))
    assert exc is None
    assert files == [folder / skel.name]
    assert notes == ("1 .skeleton name(s) in the folder are not regular files (a folder, FIFO or device) and were "
                     "passed over (e.g. S001C001P001R001A002.skeleton)",)


# --------------------------------------------------------------------------- markup


@pytest.fixture
def bracketed(synth_root, tmp_path):
    """A copy of the synthetic dataset under ``d[v2]/syn``, relative to ``tmp_path``."""
    shutil.copytree(synth_root, tmp_path / "d[v2]" / "syn")
    return Path("d[v2]") / "syn"


def test_prep_prints_paths_with_brackets_as_written(bracketed, tmp_path):
    cut = bracketed / "nturgb+d_skeletons" / "S001C001P001R001A002.skeleton"
    (tmp_path / cut).write_bytes((tmp_path / cut).read_bytes()[:3000])   # left out, the reason names the file
    result = _edgeact("prep", "--dataset", "ntu", "--root", bracketed, "--out", "cache[v2]", "--workers", "1",
                      cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "frames/s (" in result.stdout and "per worker) -> cache[v2]\n" in result.stdout
    assert f"{cut}:" in result.stdout and "file ends early" in result.stdout   # the left-out table's reason cell


def test_calibrate_prints_paths_with_brackets_as_written(bracketed, tmp_path):
    skeletons = bracketed / "nturgb+d_skeletons"
    result = _edgeact("calibrate", "--ntu-skeletons", skeletons, "--out", "run[v2]/c.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "wrote run[v2]/c.json" in out.splitlines()
    assert f"calibration (eq1) from {skeletons}" in " ".join(out.split())          # the table title
    assert f"note: principal point 80/60: the centre of the 160x120 colour frames ({bracketed}/synth_meta.json)" \
        in out.splitlines()
    assert (tmp_path / "run[v2]" / "c.json").is_file()


def test_the_live_view_shows_labels_with_brackets_as_written():
    console = Console(record=True, width=200, force_terminal=False)
    view = RichView(console, title="edgeact live: cam[1].mp4", level_count=1)
    sure = Decision(t=1.0, track=1, box=(0, 0, 1, 1), fine=(Scored("wave [left] hand", 0.9),),
                    levels=((Scored("[arms]", 0.8),),), latency_ms=5.0, uncertain=False)
    unsure = Decision(t=1.0, track=2, box=(0, 0, 1, 1), fine=(Scored("kick [b]", 0.3),),
                      levels=((Scored("legs", 0.6),),), latency_ms=5.0, uncertain=True)
    view.tick(LiveStats(), {1: sure, 2: unsure})
    view.close(None)
    text = console.export_text()
    for shown in ("edgeact live: cam[1].mp4", "wave [left] hand 0.90", "[arms] 0.80", "uncertain (kick [b]? 0.30)"):
        assert shown in text, text


# --------------------------------------------------------------------------- --save


def test_save_with_an_extension_opencv_cannot_write_is_one_line_before_the_run(synth_root, tiny_model, tmp_path):
    video, skel = _sample(synth_root, 1)
    jsonl = tmp_path / "d.jsonl"
    for name, ext in (("out.skeleton", "the extension .skeleton"), ("out", "no extension")):
        save = tmp_path / "new[x]" / name
        result, exc = _live("--video", video, "--skeleton", skel, "--model", tiny_model, "--save", save,
                            "--jsonl", jsonl, *FAST)
        assert isinstance(exc, EdgeactError), result.output
        assert str(exc) == f"--save: {save}: OpenCV cannot write a video with {ext}; use .mp4, .avi or .mkv"
        assert not jsonl.exists() and not save.parent.exists()       # refused before anything started
    assert os.listdir(tmp_path) == []                                # the probe left nothing behind


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_the_containers_opencv_writes_pass_the_check_and_leave_nothing(tmp_path, suffix):
    check_video_output(tmp_path / f"out{suffix}")
    check_video_output(tmp_path / "not" / "yet" / f"out{suffix}")    # a folder the run will create
    assert os.listdir(tmp_path) == []


def test_a_real_run_with_a_bad_extension_no_longer_ends_in_a_missing_file_error(synth_root, tiny_model, tmp_path):
    """The CLI as a user runs it: one red line and exit 2 (it ran to the end, then failed with
    'No such file or directory' on the unwritten partial video, exit 74)."""
    video, skel = _sample(synth_root, 1)
    result = _edgeact("live", "--video", video, "--skeleton", skel, "--model", tiny_model, "--save", "out.skeleton",
                      *FAST, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --save: out.skeleton: OpenCV cannot write a video with the extension "
                                     ".skeleton; use .mp4, .avi or .mkv")
    assert os.listdir(tmp_path) == []
