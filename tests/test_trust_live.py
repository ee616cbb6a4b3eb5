"""`edgeact live` can be trusted with its input and its outputs: damaged or mismatched replays
are reported, options that would be ignored are refused, the JSONL log is appended to (and
survives logrotate's copytruncate), no output lands on an input, and start-up checks the display,
the source and the model before anything slow or downloaded."""

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from cli_ok import cli_ok as _ok
from cli_ok import runner
from edgeact.cli import app
from edgeact.cli_options import name_option
from edgeact.data.ntu import Skeleton, read_skeleton, write_skeleton
from edgeact.data.synth_render import encode_avi_mjpeg
from edgeact.errors import EdgeactError, SourceLost
from edgeact.live.decide import Decision, Scored
from edgeact.live.output import JsonlSink
from test_live import _decode, _sample

FAST = ["--no-realtime", "--quiet", "--device", "cpu", "--stride", "4"]


def _live(*args):
    """``edgeact live ARGS`` in-process: (result, its exception)."""
    result = runner.invoke(app, ["live", *[str(a) for a in args]])
    return result, result.exception


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def _within(seconds, fn):
    """``fn()``, failing the test (instead of hanging it) if ``fn`` blocks longer than ``seconds``."""
    done = []
    t = threading.Thread(target=lambda: done.append(fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert done, f"still blocked after {seconds} s"
    return done[0]


# --------------------------------------------------------------------------- damaged or mismatched replays


def test_a_video_shorter_than_its_skeleton_is_a_warning_with_both_counts(synth_root, tiny_model, tmp_path):
    video, skel = _sample(synth_root, 2)
    rows = read_skeleton(skel).num_frames
    short = tmp_path / "short_rgb.avi"
    short.write_bytes(encode_avi_mjpeg(np.stack(_decode(video)[:10]), 30.0))
    result, exc = _live("--video", short, "--skeleton", skel, "--model", tiny_model, *FAST)
    assert exc is None, result.output
    want = f"warning: {short} has 10 frames but {skel} has {rows} rows (row t is read for frame t)"
    assert want in result.output


def test_a_video_cut_in_half_is_reported_when_it_ends_early(synth_root, tiny_model, tmp_path):
    video, skel = _sample(synth_root, 2)
    frames = read_skeleton(skel).num_frames
    half = tmp_path / "half_rgb.avi"
    data = video.read_bytes()
    half.write_bytes(data[: len(data) // 2])     # the header still announces every frame
    result, exc = _live("--video", half, "--skeleton", skel, "--model", tiny_model, *FAST)
    assert exc is None, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith(f"warning: {half}: it ended after"))
    played = int(line.split("ended after ")[1].split()[0])
    assert 0 < played < frames and f"of the {frames} frames its header announces" in line


def test_a_skeleton_of_a_larger_recording_is_refused(synth_root, tiny_model, tmp_path):
    """1080p-style pixels over the 160x120 video: every crop would miss the person (0 decisions
    and exit 0 before); the skeleton can never fit this frame, so it is an error."""
    video, skel = _sample(synth_root, 3)
    sk = read_skeleton(skel)
    big = tmp_path / "big.skeleton"
    write_skeleton(big, Skeleton.build(sk.joints[:, :1], color_xy=sk.color_xy[:, :1] * 12,
                                       tracking=sk.tracking[:, :1]))
    out = tmp_path / "d.jsonl"
    result, exc = _live("--video", video, "--skeleton", big, "--model", tiny_model, "--jsonl", out, *FAST)
    assert isinstance(exc, EdgeactError)
    m = re.fullmatch(rf"{re.escape(str(big))}: skeleton pixels span up to (\d+)x(\d+) but the video is 160x120 "
                     rf"\({re.escape(str(video))}\): they belong to a recording of another size", str(exc))
    assert m and int(m[1]) > 1.25 * 160 and int(m[2]) > 1.25 * 120, str(exc)
    assert not out.exists()                      # refused before any output was opened


def test_a_matching_replay_has_no_warning(synth_root, tiny_model):
    video, skel = _sample(synth_root, 4)
    result, exc = _live("--video", video, "--skeleton", skel, "--model", tiny_model, *FAST)
    assert exc is None and "warning" not in result.output


# --------------------------------------------------------------------------- options that would be ignored


def test_calibration_where_no_pose_uses_it_is_an_error(synth_root, tiny_model):
    video, skel = _sample(synth_root, 1)
    calib = "calibration/nucla.json"
    _, exc = _live("--video", video, "--skeleton", skel, "--model", tiny_model, "--calibration", calib, *FAST)
    assert isinstance(exc, EdgeactError)
    assert str(exc).startswith(f"--calibration: {calib}: only the depth pose projects with it")
    assert "the skeleton pose uses the recording's own skeleton pixels" in str(exc)
    _, exc = _live("--camera", "0", "--model", tiny_model, "--calibration", calib, "--quiet")
    assert isinstance(exc, EdgeactError) and "the yolo pose uses the keypoints as YOLO finds them" in str(exc)
    _, exc = _live("--demo", "--calibration", calib, "--quiet")
    assert isinstance(exc, EdgeactError) and "drop --calibration" in str(exc)


def test_skeleton_or_depth_with_a_pose_that_cannot_use_them_is_an_error(synth_root, tiny_model):
    video, skel = _sample(synth_root, 1)
    _, exc = _live("--video", video, "--skeleton", skel, "--pose", "yolo", "--model", tiny_model, "--quiet")
    assert isinstance(exc, EdgeactError)
    assert str(exc) == f"--skeleton, --pose: {skel} is not read by the yolo pose; drop one of them"
    _, exc = _live("--video", video, "--pose", "depth", "--model", tiny_model, "--quiet")
    assert isinstance(exc, EdgeactError) and str(exc).startswith("--pose: depth lifts keypoints with RealSense depth: it needs")


def test_degenerate_calibration_is_refused_by_live_through_the_one_loader(tiny_model, tmp_path):
    calib = tmp_path / "flat.json"
    calib.write_text(json.dumps({"cx": 0.0, "cy": 500.0, "bx": 320.0, "by": 240.0}))
    _, exc = _live("--bag", tmp_path / "room.db3", "--calibration", calib, "--model", tiny_model, "--quiet")
    assert isinstance(exc, EdgeactError) and str(exc).startswith(f"{calib}: cx = 0 is degenerate")


def test_a_fifo_as_skeleton_or_calibration_is_refused_instead_of_blocking(synth_root, tiny_model, tmp_path):
    video, _ = _sample(synth_root, 1)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    _, exc = _within(60, lambda: _live("--video", video, "--skeleton", fifo, "--model", tiny_model, *FAST))
    assert isinstance(exc, EdgeactError) and str(exc) == (f"{fifo}: not a regular file (a folder, FIFO or device); "
                                                          "skeleton file expected")
    _, exc = _within(60, lambda: _live("--bag", tmp_path / "room.db3", "--calibration", fifo, "--model",
                                       tiny_model, "--quiet"))
    assert isinstance(exc, EdgeactError) and str(exc) == (f"{fifo}: not a regular file (a folder, FIFO or device); "
                                                          "calibration file expected")


# --------------------------------------------------------------------------- the JSONL log


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jsonl_is_appended_to_and_each_run_starts_with_a_start_line(synth_root, tiny_model, tmp_path):
    video, skel = _sample(synth_root, 3)
    out = tmp_path / "actions.jsonl"
    _ok(["live", "--video", video, "--skeleton", skel, "--model", tiny_model, "--jsonl", out, *FAST])
    first = _lines(out)
    _ok(["live", "--video", video, "--skeleton", skel, "--model", tiny_model, "--jsonl", out, *FAST])
    both = _lines(out)
    assert both[: len(first)] == first           # the first run's lines are kept
    starts = [i for i, r in enumerate(both) if "event" in r]
    assert starts == [0, len(first)]
    start = both[len(first)]
    assert start["event"] == "start" and start["model"] == str(tiny_model) and start["source"] == "cam0"
    assert start["input"] == str(video)
    assert start["pose"] == f"skeleton {skel.name}" and start["time"].endswith("+00:00")
    assert len(both) == 2 * len(first) and len(first) > 1     # the same decisions again


def _decision(t):
    return Decision(t=t, track=0, box=(0.0, 0.0, 10.0, 10.0), fine=(Scored("wave", 0.9),), levels=(),
                    latency_ms=1.0, uncertain=False)


def test_jsonl_after_copytruncate_has_no_nul_bytes(tmp_path):
    """logrotate's copytruncate empties the file under the open writer: with the file opened for
    writing at an offset, the next line landed behind that many NUL bytes."""
    path = tmp_path / "actions.jsonl"
    sink = JsonlSink(path, start={"model": "m.pt"})
    sink.decision(_decision(0.0))
    sink.decision(_decision(0.5))
    os.truncate(path, 0)                         # what copytruncate does after copying
    sink.decision(_decision(1.0))
    sink.close(None)
    data = path.read_bytes()
    assert b"\0" not in data
    assert [r["t"] for r in _lines(path)] == [1.0]


def test_jsonl_line_left_unfinished_by_a_crash_stays_its_own_line(tmp_path):
    path = tmp_path / "actions.jsonl"
    path.write_text('{"t": 0.0, "track"')       # a run killed mid-line
    JsonlSink(path, start={"model": "m.pt"}).close(None)
    lines = path.read_text().splitlines()
    assert lines[0] == '{"t": 0.0, "track"' and json.loads(lines[1])["event"] == "start"


def test_a_jsonl_that_cannot_be_written_names_the_keyword_and_on_the_cli_the_option(synth_root, tiny_model, tmp_path):
    video, skel = _sample(synth_root, 3)
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    out = blocker / "d.jsonl"                    # a file where its folder should be
    with pytest.raises(EdgeactError, match=rf"^path: {re.escape(str(out))}: cannot write \("):
        JsonlSink(out)
    _, exc = _live("--video", video, "--skeleton", skel, "--model", tiny_model, "--jsonl", out, *FAST)
    assert isinstance(exc, EdgeactError) and str(exc).startswith(f"--jsonl: {out}: cannot write (")


def test_a_save_opencv_cannot_write_names_path_and_from_live_options_save(tmp_path):
    from edgeact.live.options import LiveOptions, check_outputs
    from edgeact.live.output import check_video_output

    save = tmp_path / "out.skeleton"
    with pytest.raises(EdgeactError) as info:
        check_video_output(save)
    assert str(info.value) == f"path: {save}: OpenCV cannot write a video with the extension .skeleton; use .mp4, .avi or .mkv"
    with pytest.raises(EdgeactError) as info:
        check_outputs(LiveOptions(save=save))
    assert str(info.value) == f"save: {save}: OpenCV cannot write a video with the extension .skeleton; use .mp4, .avi or .mkv"
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- outputs never over inputs


def test_jsonl_or_save_over_the_model_or_an_input_is_refused_and_the_input_kept(synth_root, tiny_model, tmp_path):
    video, skel = _sample(synth_root, 2)
    model = tmp_path / "model.pt"
    model.write_bytes(tiny_model.read_bytes())
    kept = {p: _md5(p) for p in (model, video, skel)}
    base = ["--video", video, "--skeleton", skel, "--model", model, *FAST]
    for option, target in (("--jsonl", model), ("--jsonl", video), ("--save", video), ("--save", skel)):
        _, exc = _live(*base, option, target)
        assert isinstance(exc, EdgeactError), (option, target)
        assert str(exc).startswith(f"{option}: {target}: is an input of this command")
    _, exc = _live(*base, "--jsonl", tmp_path / "o.avi", "--save", tmp_path / "o.avi")
    assert isinstance(exc, EdgeactError) and "name the same file" in str(exc)
    assert {p: _md5(p) for p in kept} == kept
    _, exc = _live("--demo", "--jsonl", "edgeact/assets/demo.pt", "--quiet")
    assert isinstance(exc, EdgeactError) and "is an input of this command" in str(exc)


# --------------------------------------------------------------------------- start-up order


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY / WAYLAND_DISPLAY are Linux's")
def test_show_without_a_display_fails_first_with_one_line(monkeypatch, tiny_model, tmp_path):
    """Before: everything loaded, then OpenCV's Qt backend aborted the process at the first frame."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    missing = tmp_path / "nope.avi"               # not reached: --show is checked first
    _, exc = _live("--video", missing, "--model", tiny_model, "--show", "--quiet")
    assert isinstance(exc, EdgeactError)
    assert str(exc) == ("--show: no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); "
                        "use --save (a .mp4 file) for the overlay")
    from edgeact.live.options import LiveOptions, check_options

    with pytest.raises(EdgeactError) as info:      # from Python: the LiveOptions fields
        check_options(LiveOptions(video=missing, model=str(tiny_model), show=True))
    assert str(info.value) == ("show: no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); "
                               "use save (a .mp4 file) for the overlay")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="an X display name")
def test_show_on_a_display_opencv_cannot_reach_fails_first_with_one_line(monkeypatch, tiny_model, tmp_path):
    monkeypatch.setenv("DISPLAY", ":97")           # no X server behind it
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _, exc = _live("--video", tmp_path / "nope.avi", "--model", tiny_model, "--show", "--quiet")
    assert isinstance(exc, EdgeactError)
    assert str(exc).startswith("--show: OpenCV cannot open a window here (") and "\n" not in str(exc)


def test_a_missing_source_is_reported_before_the_pose_model_is_resolved(tiny_model, tmp_path):
    """Offline, the default pose model cannot be downloaded: the missing video or recording was
    reported as that download failure."""
    for option, name, msg in (("--video", "nope.mp4", "no such video file"),
                              ("--bag", "nope.bag", "no such RealSense recording")):
        start = time.monotonic()
        _, exc = _live(option, tmp_path / name, "--model", tiny_model, "--quiet", "--device", "cpu")
        assert isinstance(exc, EdgeactError) and str(exc) == f"{tmp_path / name}: {msg}"
        assert time.monotonic() - start < 30


def test_a_camera_missing_at_start_exits_75_with_exit_on_disconnect(tiny_model):
    """A USB camera enumerating late at boot is retried by systemd like a lost one (status 75);
    without --exit-on-disconnect it stays bad input (status 2)."""
    _, exc = _live("--camera", "97", "--model", tiny_model, "--quiet")
    assert type(exc) is EdgeactError and str(exc).startswith("camera 97: cannot be opened")
    proc = subprocess.run([sys.executable, "-m", "edgeact", "live", "--camera", "97", "--model", str(tiny_model),
                           "--exit-on-disconnect", "--quiet", "--device", "cpu"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 75, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: camera 97: cannot be opened (no such device, or in use by another program); "
                      "exiting for the supervisor to retry (--exit-on-disconnect)"]
    from edgeact.live.sources import CameraSource

    with pytest.raises(SourceLost) as info:        # from Python: the keyword
        CameraSource(97, exit_on_disconnect=True)
    assert str(info.value).endswith("; exiting for the supervisor to retry (exit_on_disconnect)")


def test_camera_opened_before_the_models_load_counts_no_start_up_drops(tmp_path):
    """The camera now opens before the classifier and pose model load: frames its thread passes
    over meanwhile are not frames the loop dropped."""
    from edgeact.live.sources import CameraSource
    from test_live_sources import _frame_id, _write_video

    path = _write_video(tmp_path / "cam.avi", 30)
    src = CameraSource(str(path), retry=False)
    deadline = time.monotonic() + 20
    while src.running and time.monotonic() < deadline:     # "loading models" while the camera runs
        time.sleep(0.02)
    frame = src.read()
    assert _frame_id(frame.image) == frame.index == 29 and src.dropped == 0
    assert src.read() is None
    src.close()


def test_a_realsense_recording_opened_early_loses_no_frames(tmp_path):
    """The recording opens before the models load; played in real time, it used to run on
    unread meanwhile (1 of 25 frames left after a 1 s wait): now it starts at the first read."""
    from edgeact.live.sources import RealSenseSource
    from test_live_sources import _record_realsense

    rec = _record_realsense(tmp_path / "rec.db3", frames=25)
    src = RealSenseSource(playback=rec, realtime=True)
    time.sleep(1.0)                                          # 25 frames at 30 fps would be over
    ids = [int(round(f.image[0, 0, 0] / 10)) for f in src]
    src.close()
    # played in real time, a busy machine may still skip a frame or two once it plays: not the lot
    assert ids[0] <= 3 and len(ids) >= 12 and ids[-1] == 24


def test_source_lost_is_what_exit_on_disconnect_raises_for_a_missing_realsense():
    rs = pytest.importorskip("pyrealsense2", reason="pyrealsense2 (and libusb-1.0) not installed")
    if len(rs.context().query_devices()):
        pytest.skip("a RealSense camera is connected")
    from edgeact.live.sources import open_source

    with pytest.raises(SourceLost, match="^no RealSense camera connected") as lost:
        open_source(realsense=True, exit_on_disconnect=True)
    assert str(lost.value) == ("no RealSense camera connected (use bag to play a recording); exiting for the "
                               "supervisor to retry (exit_on_disconnect)")
    name_option(lost.value, "live")
    assert str(lost.value) == ("no RealSense camera connected (use --bag to play a recording); exiting for the "
                               "supervisor to retry (--exit-on-disconnect)")
    with pytest.raises(EdgeactError, match="^no RealSense camera connected") as info:
        open_source(realsense=True)
    assert type(info.value) is EdgeactError
