"""The live loop: shared preprocessing, rolling windows, decisions, and the real loop end to end on
synthetic recordings replayed with their own skeletons."""

import json

import numpy as np
import pytest
import torch

from cli_ok import cli_ok as _ok
from cli_ok import runner
from edgeact.cli import app
from edgeact.data.cache import encode_pack, pack_path, read_index
from edgeact.data.classes import ClassList
from edgeact.data.clips import ClipDataset, clip_tensor, test_indices, window_clips
from edgeact.data.ntu import read_skeleton
from edgeact.errors import EdgeactError
from edgeact.geometry import crop_box, crop_resize
from edgeact.live.decide import Interpreter, softmax, superclass_names
from edgeact.live.frames import Frame, Person
from edgeact.live.window import Stride, WindowBank, WindowConfig
from edgeact.types import InputSpec
from live_clip import DecisionCollector
from video_frames import read_video

SPEC = InputSpec(frames=4, size=32, resize=40)


def _sample(root, action):
    video = sorted((root / "nturgb+d_rgb").glob(f"*A{action:03d}_rgb.avi"))[0]
    skel = root / "nturgb+d_skeletons" / (video.name[:20] + ".skeleton")
    return video, skel


def _decisions(path):
    """The decision lines of a JSONL file written by one run, after checking its start line."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows and rows[0]["event"] == "start" and {"time", "model", "source", "pose"} <= set(rows[0])
    assert not any("event" in r for r in rows[1:])
    return rows[1:]


def _decode(video):
    return read_video(video)[0]


# --------------------------------------------------------------------------- shared preprocessing


def test_window_clips_is_the_training_test_preprocessing(synth_root, tmp_path):
    """A window holding a whole recording gives the clip `prep` + ClipDataset give for it: the same
    box, the same sampled frames, the same pixels up to the cache's JPEG compression."""
    video, skel_path = _sample(synth_root, 2)
    frames = _decode(video)
    skel = read_skeleton(skel_path)
    points = skel.color_xy[:, 0]                                   # (T, 25, 2) the one body
    clips, box = window_clips(frames, points, SPEC, num_sets=5)

    # exactly the composition prep + ClipDataset apply (without the JPEG round trip)
    h, w = frames[0].shape[:2]
    want_box = crop_box(skel.color_xy, (w, h), 0.10)
    assert box == want_box
    sets = test_indices(len(frames), 5, SPEC.frames)
    rgb = [f[..., ::-1] for f in frames]
    want = torch.stack([clip_tensor(np.stack([crop_resize(rgb[i], want_box, SPEC.resize) for i in row]), SPEC)
                        for row in sets])
    assert clips.shape == (5, 3, SPEC.frames, SPEC.size, SPEC.size)
    assert torch.equal(clips, want)

    # and prep cropped exactly the same pixels: its frame pack is byte for byte the JPEG of these crops
    cache = tmp_path / "cache"
    _ok(["prep", "--dataset", "ntu", "--root", synth_root, "--out", cache, "--resize", SPEC.resize, "--workers", "1"])
    rec = next(s for s in read_index(cache)["samples"] if s["name"] == video.name[:20])
    assert rec["box"] == pytest.approx([round(v, 2) for v in box], abs=0.01)
    crops = [crop_resize(f, box, SPEC.resize) for f in rgb]
    assert encode_pack(crops) == pack_path(cache, rec["name"]).read_bytes()
    ds = ClipDataset(cache, "ntu60-xsub", "train", train=False, spec=SPEC, num_test_sets=5, names=[rec["name"]])
    cached, _ = ds[0]
    assert cached.shape == clips.shape       # the same sampling; pixels differ only by JPEG


def test_window_clips_without_any_joint_gives_nothing():
    frames = [np.zeros((60, 80, 3), np.uint8)] * 3
    assert window_clips(frames, np.full((3, 17, 2), np.nan), SPEC) == (None, None)


# --------------------------------------------------------------------------- windows


def _person(track, x=40.0):
    kp = np.array([[x, 20.0], [x + 10, 50.0]], np.float32)
    return Person(track=track, keypoints=kp, scores=np.ones(2, np.float32))


def _frame(i, fps=10.0):
    return Frame(index=i, t=i / fps, image=np.zeros((60, 80, 3), np.uint8))


def test_window_decides_when_filled_then_every_stride_and_flushes_at_the_end():
    # 10 fps, 1 s window, first decision once 0.8 s are covered (frame 8), then every 0.5 s
    bank = WindowBank(WindowConfig(seconds=1.0, stride=Stride(0.5), min_fill=0.8))
    decided = {}
    for i in range(20):
        for job in bank.push(_frame(i), [_person(7)], captured=float(i)):
            decided[i] = job
    assert sorted(decided) == [8, 13, 18]
    assert len(decided[8].frames) == 9 and decided[8].points.shape == (9, 2, 2)
    assert len(decided[18].frames) == 11                  # 1 s at 10 fps: t in [0.8, 1.8]
    assert decided[18].times[0] == pytest.approx(0.8) and decided[18].t == pytest.approx(1.8)
    final = bank.flush()
    assert [j.track for j in final] == [7] and final[0].final and final[0].frame_index == 19
    assert bank.flush() == [] or all(j.frame_index == 19 for j in bank.flush())


def test_window_counts_frames_for_a_frame_stride_and_marks_missed_frames_nan():
    bank = WindowBank(WindowConfig(seconds=1.0, stride=Stride(3, seconds=False), min_fill=0.5))
    decided = []
    for i in range(12):
        people = [] if i == 6 else [_person(1)]
        decided += [(i, j) for j in bank.push(_frame(i), people, captured=0.0)]
    assert [i for i, _ in decided] == [5, 8, 11]
    job = dict(decided)[8]
    missed = list(job.times).index(0.6)
    assert np.isnan(job.points[missed]).all() and np.isfinite(np.delete(job.points, missed, 0)).all()


def test_window_memory_stays_bounded_and_lost_tracks_are_forgotten():
    bank = WindowBank(WindowConfig(seconds=1.0, stride=Stride(0.5)))
    for i in range(2000):
        people = [_person(1)] + ([_person(2, 10.0)] if i < 100 else [])
        bank.push(_frame(i), people, captured=0.0)
        assert bank.frames_held <= 11
    assert bank.tracks == [1]


def test_a_track_appearing_late_windows_only_its_own_frames():
    bank = WindowBank(WindowConfig(seconds=1.0, stride=Stride(0.5), min_fill=0.5))
    jobs = []
    for i in range(10):
        people = [_person(1)] + ([_person(2, 10.0)] if i >= 4 else [])
        jobs += bank.push(_frame(i), people, captured=0.0)
    late = [j for j in jobs if j.track == 2]
    assert late and late[0].times[0] == pytest.approx(0.4)


@pytest.mark.parametrize("text,value,sec", [("0.5s", 0.5, True), ("8", 8, False), ("2S", 2, True)])
def test_stride_parses_frames_or_seconds(text, value, sec):
    assert Stride.parse(text) == Stride(value, sec)


@pytest.mark.parametrize("text", ["0", "-1s", "1.5", "abc", "s"])
def test_bad_stride_is_a_clear_error(text):
    with pytest.raises(EdgeactError, match="^stride: "):
        Stride.parse(text)


# --------------------------------------------------------------------------- decisions


def test_interpreter_averages_sets_smooths_tracks_and_flags_uncertain():
    classes = ClassList(names=("a", "b", "c"))
    interp = Interpreter(classes, {"assignments": [[0, 1, 1]]}, topk=2, threshold=0.58, smooth=2,
                         superclasses="heads")
    fine = np.log(np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1]]))       # two frame sets
    sup = np.log(np.array([[0.9, 0.1], [0.7, 0.3]]))
    d1 = interp.decide(3, [sup, fine], t=1.0, box=(0, 0, 10, 10), latency_ms=5.0)
    assert [s.label for s in d1.fine] == ["a", "b"]
    assert d1.fine[0].p == pytest.approx(0.6) and d1.fine[1].p == pytest.approx(0.3)
    assert not d1.uncertain
    assert d1.levels[0][0].label == "a" and d1.levels[0][0].p == pytest.approx(0.8)
    assert d1.levels[0][1].label == "b / c"
    d2 = interp.decide(3, [sup, np.log(np.array([[0.1, 0.8, 0.1]]))], t=1.5, box=(0, 0, 10, 10), latency_ms=5.0)
    assert d2.fine[0].label == "b" and d2.fine[0].p == pytest.approx((0.3 + 0.8) / 2)
    assert d2.uncertain                                   # 0.55 < 0.58: shown as uncertain
    other = interp.decide(4, [sup, fine], t=1.5, box=(0, 0, 10, 10), latency_ms=5.0)
    assert other.fine[0].label == "a"                     # smoothing is per track
    row = d2.to_json()
    assert set(row) >= {"t", "track", "box", "fine", "levels", "latency_ms"}
    assert row["fine"][0] == {"label": "b", "p": pytest.approx(0.55, abs=1e-4)}


def test_superclasses_from_the_fine_head_agree_with_the_action():
    """Default: a superclass scores the summed fine probabilities of its members, whatever its
    own head says (here the head prefers the other group)."""
    classes = ClassList(names=("a", "b", "c", "d"))
    hierarchy = {"assignments": [[0, 0, 1, 1], [0, 1, 2, 2]]}
    fine = np.log(np.array([[0.1, 0.2, 0.6, 0.1]]))
    heads = [np.log(np.array([[0.9, 0.1]])), np.log(np.array([[0.8, 0.1, 0.1]])), fine]
    d = Interpreter(classes, hierarchy, topk=3).decide(1, heads, t=0.0, box=(0, 0, 1, 1), latency_ms=1.0)
    assert d.fine[0].label == "c"
    assert [(s.label, round(s.p, 6)) for s in d.levels[0]] == [("c / d", 0.7), ("a / b", 0.3)]
    assert [(s.label, round(s.p, 6)) for s in d.levels[1]] == [("c / d", 0.7), ("b", 0.2), ("a", 0.1)]
    own = Interpreter(classes, hierarchy, topk=1, superclasses="heads").decide(1, heads, t=0.0, box=(0, 0, 1, 1),
                                                                              latency_ms=1.0)
    assert [lv[0].label for lv in own.levels] == ["a / b", "a"]
    with pytest.raises(EdgeactError, match="^superclasses: both: choose one of fine, heads"):
        Interpreter(classes, hierarchy, superclasses="both")


def test_softmax_is_stable_and_superclasses_are_named_by_members():
    p = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    assert np.allclose(p, [[0.5, 0.5], [0.25, 0.75]])
    names = superclass_names([0, 0, 0, 0, 1], ClassList(names=("a", "b", "c", "d", "e")))
    assert names == ["a / b +2", "e"]


# --------------------------------------------------------------------------- the loop, end to end


def test_replay_with_skeleton_writes_decisions_about_the_person(synth_root, tiny_model, tmp_path):
    video, skel = _sample(synth_root, 3)
    out = tmp_path / "d.jsonl"
    _ok(["live", "--video", video, "--skeleton", skel, "--model", tiny_model, "--no-realtime", "--quiet",
         "--jsonl", out, "--stride", "4", "--device", "cpu"])
    rows = _decisions(out)
    assert rows, "no decision written"
    skeleton = read_skeleton(skel)
    n = skeleton.num_frames
    want = crop_box(skeleton.color_xy, (160, 120), 0.10)
    for r in rows:
        assert set(r) >= {"t", "track", "box", "fine", "levels", "latency_ms"}
        assert r["track"] == 0 and 0 <= r["t"] <= n / 30
        assert len(r["fine"]) == 3 and all(0 <= f["p"] <= 1 for f in r["fine"])
        assert len(r["levels"]) == 1 and len(r["levels"][0]) == 2
        assert r["levels"][0][0]["label"] in ("wave left hand / raise left arm", "wave right hand / raise right arm")
        x0, y0, x1, y1 = r["box"]
        assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 120
    # the last decision's window is the whole clip (24 frames ~ the artifact's 0.8 s clip length)
    assert rows[-1]["box"] == pytest.approx(list(want), abs=0.06)
    assert rows[-1]["frame"] == n - 1


def test_a_file_that_is_not_an_artifact_is_a_one_line_error(synth_root, tmp_path):
    video, skel = _sample(synth_root, 1)
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"not a model")
    result = runner.invoke(app, ["live", "--video", str(video), "--skeleton", str(skel), "--model", str(bogus)])
    assert result.exit_code != 0
    assert isinstance(result.exception, EdgeactError) and "model.pt" in str(result.exception)


def test_loop_needs_a_video():
    result = runner.invoke(app, ["live", "--camera", "0", "--loop", "--quiet"])
    assert isinstance(result.exception, EdgeactError)
    assert str(result.exception).startswith("--loop: replays a video file; a camera")


def test_compile_reaches_the_runtime():
    """--compile goes to load_runtime: CUDA graphs on a CPU-only run are refused in one line."""
    result = runner.invoke(app, ["live", "--demo", "--compile", "reduce-overhead", "--device", "cpu", "--quiet"])
    assert isinstance(result.exception, EdgeactError)
    assert "reduce-overhead uses CUDA graphs and needs a CUDA device" in str(result.exception)


def test_missing_video_is_a_clear_error(tiny_model, tmp_path):
    result = runner.invoke(app, ["live", "--video", str(tmp_path / "nope.avi"), "--model", str(tiny_model),
                                 "--pose", "skeleton", "--skeleton", str(tmp_path / "nope.skeleton")])
    assert isinstance(result.exception, EdgeactError)
    assert "nope" in str(result.exception)


def _run(source, pose, model_path, **opts):
    from edgeact.live.app import LiveOptions, run_loop
    from edgeact.runtime import load_runtime

    collect = DecisionCollector()
    collected = collect.decisions
    runtime = load_runtime(model_path, device="cpu")
    stats = run_loop(source, pose, runtime, LiveOptions(realtime=False, quiet=True, **opts), [collect])
    return stats, collected


def test_the_ultralytics_path_runs_the_real_loop(synth_root, tiny_model):
    from edgeact.live.pose import UltralyticsPose
    from edgeact.live.sources import VideoSource

    video, _ = _sample(synth_root, 1)
    # an untrained network built offline from its YAML: at a tiny confidence it "sees" people,
    # which is all the loop needs to exercise tracking, windows and decisions
    pose = UltralyticsPose("yolo11n-pose.yaml", device="cpu", imgsz=160, conf=1e-4, tracker="iou")
    with VideoSource(video, realtime=False) as src:
        stats, decisions = _run(src, pose, tiny_model, stride="4")
    assert stats.frames == stats.posed == read_skeleton(_sample(synth_root, 1)[1]).num_frames
    assert decisions, "no decision from the YOLO path"
    for d in decisions:
        assert d.track >= 1 and len(d.fine) == 3 and len(d.levels) == 1
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 120


def test_the_realsense_path_runs_the_real_loop_with_depth_lifted_joints(tmp_path, tiny_model):
    from edgeact.live.pose import DepthLiftPose, PoseBackend
    from edgeact.live.sources import RealSenseSource
    from test_live_sources import N_RS, H, W, _record_realsense

    class TwoJoints(PoseBackend):
        """A fixed 2D detector; the depth backend lifts its keypoints with the recording's depth."""

        name, joint_names, num_joints = "fixed", ("a", "b"), 2

        def __call__(self, frame):
            return [Person(track=1, keypoints=np.array([[10.0, 8.0], [W - 12.0, H - 9.0]], np.float32),
                           scores=np.ones(2, np.float32))]

    lifted = []

    class Spy:
        def __init__(self, inner):
            self.inner = inner

        def __call__(self, frame):
            people = self.inner(frame)
            lifted.extend(p.joints3d for p in people)
            return people

    rec = _record_realsense(tmp_path / "rec.db3")
    with RealSenseSource(playback=rec, realtime=False) as src:
        stats, decisions = _run(src, Spy(DepthLiftPose(TwoJoints())), tiny_model, window_seconds=0.1, stride="2")
    assert stats.frames >= N_RS - 1
    assert lifted and all(np.isfinite(j).all() and 0.9 < j[0, 2] < 1.6 for j in lifted)   # 1.0-1.5 m deep
    assert decisions and all(d.track == 1 for d in decisions)


def test_demo_recognizes_the_synthetic_actions_with_the_bundled_model(tmp_path):
    """`edgeact live --demo`: held-out synthetic clips, their own skeletons, the shipped model."""
    out = tmp_path / "demo.jsonl"
    text = _ok(["live", "--demo", "--no-realtime", "--quiet", "--jsonl", out, "--device", "cpu"])
    rows = _decisions(out)
    last = {}
    for r in rows:
        assert set(r) >= {"t", "track", "box", "fine", "levels", "latency_ms", "clip", "truth"}
        assert len(r["levels"]) == 2 and [len(lv) for lv in r["levels"]] == [2, 3]
        last[r["clip"]] = r
    assert len(last) == 9                                  # a decision on every clip
    right = sum(r["fine"][0]["label"] == r["truth"] for r in last.values())
    assert right >= 6, f"{right}/9 clips recognized"        # 8/9 when shipped; chance is 1/9
    assert f"{right}/9 clips recognized" in text


def test_demo_refuses_another_source_naming_the_fields_and_on_the_cli_the_options():
    from edgeact.cli_options import name_option
    from edgeact.live.demo import check_demo_options
    from edgeact.live.options import LiveOptions
    from edgeact.live.sources_file import command_line_streams

    with pytest.raises(EdgeactError) as info:
        check_demo_options(LiveOptions(camera="0", pose="yolo"))
    assert str(info.value) == "the demo plays its own synthetic clips with their own skeletons: drop camera, pose"
    name_option(info.value, "live")
    assert str(info.value) == "the demo plays its own synthetic clips with their own skeletons: drop --camera, --pose"
    with pytest.raises(EdgeactError) as info:         # repeated --camera: several streams
        check_demo_options(LiveOptions(streams=command_line_streams(["0", "1"])))
    name_option(info.value, "live")
    assert str(info.value).endswith(": drop --sources (or several --camera/--video)")
    result = runner.invoke(app, ["live", "--demo", "--video", "x.mp4", "--quiet"])
    assert str(result.exception) == "the demo plays its own synthetic clips with their own skeletons: drop --video"


def test_a_lost_camera_with_exit_on_disconnect_exits_75_for_the_supervisor(synth_root, tiny_model, tmp_path):
    """A video file opened as a camera URL ends like an unplugged camera; with
    --exit-on-disconnect the process exits with EX_TEMPFAIL (75), not the bad-input status 2,
    and the JSONL file is closed properly (a file read as a camera runs unpaced, so it ends before
    a window fills)."""
    import subprocess
    import sys

    video, skel = _sample(synth_root, 2)
    out = tmp_path / "d.jsonl"
    proc = subprocess.run([sys.executable, "-m", "edgeact", "live", "--camera", str(video), "--skeleton", str(skel),
                           "--model", str(tiny_model), "--exit-on-disconnect", "--quiet", "--jsonl", str(out),
                           "--device", "cpu", "--window-seconds", "0.3", "--stride", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 75, proc.stderr
    assert "error:" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert out.is_file() and all(line.startswith("{") for line in out.read_text().splitlines())
    start = json.loads(out.read_text().splitlines()[0])
    assert start["source"] == "cam0" and start["input"] == f"camera {video}"


def test_interpreter_forgets_tracks_that_left_so_memory_stays_bounded():
    interp = Interpreter(ClassList(names=("a", "b")), None, smooth=3, forget_after=2.0)
    logits = [np.zeros((1, 2))]
    for i in range(1000):                      # a new person every second, each seen once
        interp.decide(i, logits, t=float(i), box=(0, 0, 1, 1), latency_ms=1.0)
    assert interp.tracks == [997, 998, 999]


def test_save_writes_the_overlay_video_with_every_frame(synth_root, tiny_model, tmp_path):
    import cv2

    video, skel = _sample(synth_root, 4)
    out = tmp_path / "overlay.avi"
    _ok(["live", "--video", video, "--skeleton", skel, "--model", tiny_model, "--no-realtime", "--quiet",
         "--save", out, "--device", "cpu", "--stride", "4"])
    cap = cv2.VideoCapture(str(out))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = cap.read()
    cap.release()
    assert ok and first.shape == (120, 160, 3)
    assert n == read_skeleton(skel).num_frames
    assert not list(tmp_path.glob(".*partial*"))          # written to a temporary name, then moved


def test_live_runs_an_exported_onnx_model_like_the_checkpoint(tmp_path):
    from edgeact.export import export_model
    from edgeact.live.app import DEMO_MODEL

    onnx = export_model(DEMO_MODEL, "onnx", tmp_path / "demo.onnx", device="cpu").path
    labels = {}
    for name, model in (("pt", "demo"), ("onnx", onnx)):
        out = tmp_path / f"{name}.jsonl"
        _ok(["live", "--demo", "--model", model, "--no-realtime", "--quiet", "--jsonl", out, "--device", "cpu"])
        rows = _decisions(out)
        labels[name] = [(r["clip"], r["fine"][0]["label"], r["fine"][0]["p"]) for r in rows]
    assert [row[:2] for row in labels["onnx"]] == [row[:2] for row in labels["pt"]]
    assert [row[2] for row in labels["onnx"]] == pytest.approx([row[2] for row in labels["pt"]], abs=1e-3)
