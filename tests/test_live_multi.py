"""Several sources in one live run: a --sources file of synthetic replays through the real loop
(every stream's decisions, a stream that ends early, per-stream ids), streams that fail alone,
one batched pose call per round, per-stream overlays, and the sources file's bad input."""

import collections
import json
from pathlib import Path

import numpy as np
import pytest

from edgeact.data.ntu import NtuName
from edgeact.data.synth import SynthConfig, write_sample
from edgeact.errors import EdgeactError
from edgeact.live.app import LiveOptions, run_live
from edgeact.live.frames import Frame, Person
from edgeact.live.sources_file import StreamSpec, command_line_streams, read_sources_file
from live_clip import DecisionCollector

# (id, action, frames): the demo model knows these performances of P003; "desk" is shorter
STREAMS = (("door", 2, 48), ("hall", 3, 48), ("lab", 6, 48), ("desk", 7, 30))
FAST = dict(realtime=False, quiet=True, device="cpu", stride="4")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """``{id: (video, skeleton, action label, frames)}``, and the sources file naming them."""
    root = tmp_path_factory.mktemp("multi")
    out = {}
    for sid, action, frames in STREAMS:
        cfg = SynthConfig(frames=frames)
        name = NtuName(1, 2, 3, 1, action)
        video, skel, n = write_sample(cfg, root / sid, name)
        out[sid] = (video, skel, cfg.class_list.names[name.label], n)
    lines = [f"- id: {sid}\n  video: {sid}/nturgb+d_rgb/{v.name}\n  skeleton: {sid}/nturgb+d_skeletons/{s.name}\n"
             for sid, (v, s, _, _) in out.items()]
    (root / "sources.yaml").write_text("".join(lines))
    return out, root / "sources.yaml"


def _rows(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in rows if "event" in r], [r for r in rows if "event" not in r]


def test_four_replays_in_one_run_each_decide_their_own_action(clips, tmp_path):
    info, sources = clips
    out = tmp_path / "d.jsonl"
    stats = run_live(LiveOptions(streams=read_sources_file(sources), jsonl=out, **FAST))
    starts, rows = _rows(out)
    assert [s["source"] for s in starts] == list(info)          # one start line per stream, named
    assert all(s["input"] == str(info[s["source"]][0]) and s["pose"].startswith("skeleton ") for s in starts)
    by = collections.defaultdict(list)
    for r in rows:
        by[r["source"]].append(r)
    assert set(by) == set(info)                                 # every decision names its stream
    for sid, (_, _, truth, frames) in info.items():
        labels = collections.Counter(r["fine"][0]["label"] for r in by[sid])
        assert labels.most_common(1)[0][0] == truth, (sid, labels)
        assert all(r["track"] == 0 for r in by[sid])            # track ids are the stream's own (body slot 0)
        assert max(r["frame"] for r in by[sid]) == frames - 1
    # desk ended early, the others went on deciding after it
    desk_end = max(r["t"] for r in by["desk"])
    assert all(max(r["t"] for r in by[sid]) > desk_end for sid in ("door", "hall", "lab"))
    assert stats.sources["desk"].status == "ended" and stats.sources["desk"].frames == info["desk"][3]
    assert stats.decisions == len(rows) and stats.windows_dropped == 0 and stats.batch_mean > 1


def test_each_stream_decides_as_it_would_alone(clips, tmp_path):
    """Batching across streams changes nothing a stream decides: the same windows, the same labels
    and probabilities (to float rounding) as a one-source run of the same clip."""
    info, sources = clips
    both = tmp_path / "both.jsonl"
    run_live(LiveOptions(streams=read_sources_file(sources)[:2], jsonl=both, **FAST))
    _, rows = _rows(both)
    for sid in ("door", "hall"):
        alone = tmp_path / f"{sid}.jsonl"
        video, skel, _, _ = info[sid]
        run_live(LiveOptions(video=video, skeleton=skel, jsonl=alone, **FAST))
        starts, single = _rows(alone)
        assert [s["source"] for s in starts] == ["cam0"] and {r["source"] for r in single} == {"cam0"}
        mine = [r for r in rows if r["source"] == sid]
        assert [(r["t"], r["fine"][0]["label"]) for r in mine] == [(r["t"], r["fine"][0]["label"]) for r in single]
        np.testing.assert_allclose([r["fine"][0]["p"] for r in mine], [r["fine"][0]["p"] for r in single],
                                   atol=2e-3)


def test_save_writes_one_overlay_video_per_stream(clips, tmp_path):
    import cv2

    info, sources = clips
    run_live(LiveOptions(streams=read_sources_file(sources)[2:], save=tmp_path / "out.avi", **FAST))
    for sid in ("lab", "desk"):
        cap = cv2.VideoCapture(str(tmp_path / f"out_{sid}.avi"))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        assert n == info[sid][3]
    assert not (tmp_path / "out.avi").exists() and not list(tmp_path.glob(".*partial*"))


def _loop_with(sources, pose, tmp_path):
    """A LiveLoop over fake sources with the demo model."""
    from edgeact.live.app import DEMO_MODEL
    from edgeact.live.decide import Interpreter
    from edgeact.live.pipeline import LiveConfig, LiveLoop, Stream
    from edgeact.live.window import Stride, WindowConfig
    from edgeact.runtime import load_runtime

    runtime = load_runtime(DEMO_MODEL, device="cpu")
    cfg = LiveConfig(window=WindowConfig(seconds=0.5, stride=Stride(2, seconds=False)), drop_stale=False)
    interp = Interpreter(runtime.classes, runtime.hierarchy)
    collect = DecisionCollector()
    decisions = collect.decisions
    loop = LiveLoop([Stream(k, s, pose) for k, s in sources.items()], runtime, interp, cfg, [collect])
    return loop, decisions


class _Frames:
    """``n`` frames at 10 fps of a grey image; raises ``fail`` instead of the frame after them."""

    fps = 10.0

    def __init__(self, n, fail=None):
        self.n, self.fail, self.i = n, fail, 0

    def read(self):
        if self.i >= self.n:
            if self.fail is not None:
                raise self.fail
            return None
        self.i += 1
        return Frame(index=self.i - 1, t=(self.i - 1) / 10, image=np.full((96, 128, 3), 127, np.uint8))


class _Batched:
    """A pose backend shared by streams: one person per frame; records each call's keys."""

    def __init__(self):
        self.calls = []

    def __call__(self, frame):
        raise AssertionError("a shared backend is called once per round with pose_batch")

    def pose_batch(self, frames, keys):
        self.calls.append(tuple(keys))
        pts = np.array([[40, 20], [60, 20], [50, 60], [45, 90], [55, 90]], np.float32)
        return [[Person(track=1, keypoints=pts, scores=np.ones(5, np.float32))] for _ in frames]


def test_a_failing_stream_ends_alone_and_its_error_is_raised_at_the_end(tmp_path):
    from edgeact.errors import SourceLost

    pose = _Batched()
    loop, decisions = _loop_with({"ok": _Frames(30), "bad": _Frames(8, fail=SourceLost("camera bad: lost"))},
                                 pose, tmp_path)
    with pytest.raises(SourceLost, match="camera bad: lost"):
        loop.run()
    stats = loop.stats
    assert stats.sources["bad"].status == "stopped: camera bad: lost" and stats.sources["bad"].frames == 8
    assert stats.sources["ok"].frames == 30 and stats.sources["ok"].status == "ended"
    ok = [d for d in decisions if d.source == "ok"]
    assert ok and max(d.frame_index for d in ok) == 29      # the healthy stream ran to its end
    assert {d.source for d in decisions} == {"ok", "bad"} and all(d.track == 1 for d in decisions)
    # one call per round for both streams while both ran, then the survivor alone
    assert pose.calls[0] == ("ok", "bad") and pose.calls[-1] == ("ok",)
    assert "bad: stopped (camera bad: lost); the other streams run on" in stats.notes


def test_command_line_sources_get_ids_cam0_cam1_in_order():
    specs = command_line_streams(["0", "rtsp://cam/2"], [Path("a.mp4")])
    assert [(s.id, s.kind, s.value) for s in specs] == [("cam0", "camera", 0), ("cam1", "camera", "rtsp://cam/2"),
                                                        ("cam2", "video", Path("a.mp4"))]


def test_source_flags_name_their_keywords_and_the_cli_its_options(tmp_path):
    from edgeact.cli_options import name_option
    from edgeact.live.sources_file import source_flags

    with pytest.raises(EdgeactError) as info:
        source_flags(tmp_path / "s.yaml", ["0"])
    assert str(info.value) == f"sources: {tmp_path / 's.yaml'} names every stream: drop cameras/videos, or add them to the file"
    name_option(info.value, "live")
    assert str(info.value) == (f"--sources: {tmp_path / 's.yaml'} names every stream: drop --camera/--video, or add "
                               "them to the file")
    with pytest.raises(EdgeactError, match=r"^path: .*none.yaml: no such file$"):
        read_sources_file(tmp_path / "none.yaml")
    with pytest.raises(EdgeactError, match=r"^sources: .*none.yaml: no such file$"):
        source_flags(tmp_path / "none.yaml")


def test_a_sources_file_reads_every_kind_with_paths_from_its_folder(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"x")
    (tmp_path / "c.json").write_text("{}")
    (tmp_path / "r.bag").write_bytes(b"x")
    f = tmp_path / "s.yaml"
    f.write_text("- {id: a, camera: 0}\n- {id: b, camera: 'rtsp://x/1'}\n- {id: c, video: v.mp4}\n"
                 "- {id: d, realsense: true, calibration: c.json}\n- {id: e, realsense: '0123'}\n- {id: f, bag: r.bag}\n")
    specs = read_sources_file(f)
    assert [(s.id, s.kind, s.value) for s in specs] == [
        ("a", "camera", 0), ("b", "camera", "rtsp://x/1"), ("c", "video", tmp_path / "v.mp4"),
        ("d", "realsense", None), ("e", "realsense", "0123"), ("f", "bag", tmp_path / "r.bag")]
    assert specs[3].calibration == tmp_path / "c.json" and isinstance(specs[0], StreamSpec)


@pytest.mark.parametrize("text, problem", [
    ("- {id: a, camera: 0, fps: 30}\n", "entry 1 (a): unknown key fps; valid: id, camera, video, realsense, bag, "
                                        "skeleton, calibration"),
    ("- {id: a, camera: 0}\n- {id: a, camera: 1}\n", "entry 2: id 'a' is already the id of another entry"),
    ("- {camera: 0}\n", "entry 1: no id (each stream needs one, e.g. id: door)"),
    ("- {id: a}\n", "entry 1 (a): give exactly one of camera, video, realsense, bag (got none)"),
    ("- {id: a, camera: 0, video: x.mp4}\n", "entry 1 (a): give exactly one of camera, video, realsense, bag "
                                             "(got camera and video)"),
    ("- {id: a, video: gone.mp4}\n", "entry 1 (a): video: {dir}/gone.mp4: no such file"),
    ("- {id: a, video: v.mp4, skeleton: gone.skeleton}\n", "entry 1 (a): skeleton: {dir}/gone.skeleton: no such file"),
    ("- {id: 'a b', camera: 0}\n", "entry 1: id 'a b' must be letters, digits, _ . or -"),
    ("{id: a, camera: 0}\n", "expected a YAML list of sources"),
    ("- [unclosed\n", "not a YAML list of sources (line"),
])
def test_bad_sources_files_are_one_line_naming_the_file_entry_and_problem(tmp_path, text, problem):
    (tmp_path / "v.mp4").write_bytes(b"x")
    f = tmp_path / "s.yaml"
    f.write_text(text)
    with pytest.raises(EdgeactError) as e:
        read_sources_file(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: ") and problem.format(dir=tmp_path) in msg and "\n" not in msg


def test_several_sources_refuse_flags_that_name_one_stream(clips):
    _, sources = clips
    streams = read_sources_file(sources)
    for extra, says in ((dict(video=Path("x.mp4")), r"^several sources \(streams or repeated camera/video\) name every "
                                                    r"stream: drop video$"),
                        (dict(skeleton=Path("x.skeleton")), r"^skeleton: x.skeleton: with several sources give each "
                                                            r"stream its own skeleton \(in its entry of a sources file\)"),
                        (dict(calibration=Path("c.json")), r"^calibration: c.json: with several sources")):
        with pytest.raises(EdgeactError, match=says):
            run_live(LiveOptions(streams=streams, **FAST, **extra))
    # a per-stream problem names the stream
    bad = (StreamSpec("cam0", "video", streams[0].value, skeleton=streams[0].skeleton),
           StreamSpec("cam1", "camera", 0, calibration=streams[0].skeleton))
    with pytest.raises(EdgeactError, match=r"^calibration: cam1: .*only the depth pose"):
        run_live(LiveOptions(streams=bad, **FAST))


def test_bench_live_streams_rows(monkeypatch):
    from edgeact.live.bench import run_streams_bench

    report = run_streams_bench(streams=(2,), seconds=1.5, width=160, height=120, device="cpu", processes_up_to=2)
    assert [(r["mode"], r["streams"]) for r in report["rows"]] == [("one process", 2), ("2 processes", 2)]
    for r in report["rows"]:
        assert set(r) == {"mode", "streams", "decisions_per_s", "latency_ms_p50", "latency_ms_p95", "frames_dropped",
                          "windows_dropped", "batch_mean", "rss_mb"}
        assert r["decisions_per_s"] > 0 and r["batch_mean"] >= 1 and r["rss_mb"] > 0
    assert {"cpus", "load_1min", "model", "pose"} <= set(report)
    with pytest.raises(EdgeactError, match="^streams: "):
        run_streams_bench(streams=(0,))


def test_the_live_command_takes_a_sources_file_or_repeated_videos(clips, tmp_path):
    import subprocess
    import sys

    info, sources = clips
    out = tmp_path / "d.jsonl"
    (door_v, door_s, _, _), (hall_v, _, _, _) = info["door"], info["hall"]
    base = [sys.executable, "-m", "edgeact", "live", "--no-realtime", "--quiet", "--device", "cpu", "--stride", "8"]
    run = subprocess.run([*base, "--sources", str(sources), "--jsonl", str(out)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    starts, rows = _rows(out)
    assert [s["source"] for s in starts] == list(info) and {r["source"] for r in rows} == set(info)
    # repeated --video: ids cam0, cam1 (poses from YOLO: none here, so no skeleton with two sources)
    run = subprocess.run([*base, "--video", str(door_v), "--video", str(hall_v), "--skeleton", str(door_s)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (f"error: --skeleton: {door_s}: with several sources give each stream "
                                                   "its own skeleton (in its entry of a sources file)")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {id: a, camera: 0}\n- {id: a, camera: 1}\n")
    run = subprocess.run([*base, "--sources", str(bad)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert f"{bad}: entry 2: id 'a' is already the id of another entry" in run.stderr
    run = subprocess.run([*base, "--sources", str(sources), "--video", str(door_v)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (f"error: --sources: {sources} names every stream: drop "
                                                   "--camera/--video, or add them to the file")
    run = subprocess.run([*base, "--sources", str(tmp_path / "none.yaml")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr.strip() == f"error: --sources: {tmp_path / 'none.yaml'}: no such file"
