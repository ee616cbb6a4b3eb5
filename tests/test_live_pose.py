"""Pose backends of `edgeact live`: depth lifting (hand-computed), the IoU tracker, skeleton replay
on a synthetic NTU recording, and the ultralytics backend on an untrained model built offline."""

import importlib.util

import numpy as np
import pytest

from edgeact.calibration import Calibration, project, save_calibration
from edgeact.data.synth import SynthConfig, generate, sample_names, synthesize
from edgeact.errors import EdgeactError
from edgeact.geometry import crop_box
from edgeact.live.frames import Frame, Intrinsics, Person
from edgeact.live.pose import (
    COCO_KEYPOINTS,
    KINECT_JOINTS,
    DepthLiftPose,
    IouTracker,
    PoseBackend,
    SkeletonReplay,
    UltralyticsPose,
    box_iou,
    lift_keypoints,
    open_pose,
)
from edgeact.live.sources import VideoSource

INTR = Intrinsics(fx=100.0, fy=200.0, ppx=5.0, ppy=4.0, width=10, height=8)


# --------------------------------------------------------------------------- lifting


def _depth():
    d = np.full((8, 10), 2000, np.uint16)   # 2 m everywhere at 1 mm per unit
    return d


def test_lift_keypoints_hand_computed():
    d = _depth()
    kp = np.array([[7.5, 2.25],     # pixel (7, 2), above the principal point: Y > 0 (Y up)
                   [5.0, 4.0],      # the principal point: straight ahead
                   [2.0, 6.5]],     # below and left: X < 0, Y < 0
                  np.float32)
    j = lift_keypoints(kp, d, 0.001, INTR, patch=5)
    assert j.dtype == np.float32 and j.shape == (3, 3)
    np.testing.assert_allclose(j[0], [(7.5 - 5) * 2 / 100, (4 - 2.25) * 2 / 200, 2.0], rtol=1e-6)  # 0.05, 0.0175
    np.testing.assert_allclose(j[1], [0, 0, 2.0], atol=1e-7)
    np.testing.assert_allclose(j[2], [-0.06, -0.025, 2.0], rtol=1e-6)


def test_lift_keypoints_median_ignores_zero_depth_and_misses_are_nan():
    d = _depth()
    # the 3x3 window around pixel (col 3, row 3): five zeros (no depth) and 1000, 1000, 3000, 4000
    d[2:5, 2:5] = [[0, 1000, 0], [3000, 0, 4000], [0, 1000, 0]]
    d[6:8, 7:10] = 0                       # a hole in the bottom right
    kp = np.array([[3.2, 3.9],             # window above: median(1000, 1000, 3000, 4000) = 2000
                   [8.5, 7.5],             # inside the hole with patch 3 -> no depth
                   [-0.01, 3.0],           # left of the image
                   [10.0, 3.0],            # right edge is outside: pixels are [0, 10)
                   [9.99, 0.0],            # last column, first row: inside
                   [np.nan, 2.0]], np.float32)
    j = lift_keypoints(kp, d, 0.001, INTR, patch=3)
    np.testing.assert_allclose(j[0], [(3.2 - 5) * 2 / 100, -(3.9 - 4) * 2 / 200, 2.0], rtol=1e-5)
    assert np.isnan(j[1:4]).all() and np.isnan(j[5]).all()
    np.testing.assert_allclose(j[4, 2], 2.0)
    # a larger window reaches valid depth around the hole (cut at the border)
    assert np.isfinite(lift_keypoints(kp[1:2], d, 0.001, INTR, patch=7)).all()
    # patch 1: exactly the keypoint's pixel, here a zero
    assert np.isnan(lift_keypoints(np.array([[3.5, 3.5]]), d, 0.001, INTR, patch=1)).all()


def test_lift_then_project_round_trip():
    rng = np.random.default_rng(0)
    d = rng.integers(500, 6000, (8, 10)).astype(np.uint16)
    kp = np.c_[rng.uniform(0, 10, 20), rng.uniform(0, 8, 20)].astype(np.float32)
    j = lift_keypoints(kp, d, 0.00025, INTR, patch=1)
    np.testing.assert_allclose(j[:, 2], d[kp[:, 1].astype(int), kp[:, 0].astype(int)] * 0.00025, rtol=1e-6)
    # the pinhole with Y up is Eq. 1 with cy = -fy: back to the input pixels
    calib = Calibration(cx=INTR.fx, cy=-INTR.fy, bx=INTR.ppx, by=INTR.ppy)
    np.testing.assert_allclose(project(j, calib), kp, atol=1e-4)


@pytest.mark.parametrize("kwargs,msg", [
    (dict(patch=4), "odd integer"), (dict(patch=0), "odd integer"), (dict(depth_scale=0.0), "depth_scale"),
    (dict(keypoints=np.zeros((3, 3))), r"shape \(J, 2\)"), (dict(depth=np.zeros((2, 2, 2))), r"\(H, W\)"),
])
def test_lift_keypoints_bad_input(kwargs, msg):
    args = dict(keypoints=np.zeros((2, 2)), depth=_depth(), depth_scale=0.001, intrinsics=INTR, patch=5)
    args.update(kwargs)
    with pytest.raises(EdgeactError, match=msg):
        lift_keypoints(**args)


class Fixed(PoseBackend):
    """Hands on the people it was given, whatever the frame (the 2D stage under the lifting)."""

    name, joint_names = "fixed", ("a", "b", "c")

    def __init__(self, people):
        self.people = people
        self.closed = False

    def __call__(self, frame):
        return list(self.people)

    def close(self):
        self.closed = True


def _depth_frame(depth=None):
    img = np.zeros((8, 10, 3), np.uint8)
    return Frame(index=0, t=0.0, image=img, depth=_depth() if depth is None else depth, depth_scale=0.001,
                 intrinsics=INTR)


def test_depth_lift_pose_with_and_without_calibration(tmp_path):
    kp = np.array([[7.5, 2.25], [5.0, 4.0], [1.0, 1.0]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    depth = _depth()
    depth[:3, :3] = 0                                     # the third keypoint has no depth
    inner = Fixed([Person(track=3, keypoints=kp, scores=scores)])
    (p,) = DepthLiftPose(inner, patch=3)(_depth_frame(depth))
    assert p.track == 3 and p.scores is scores and p.keypoints is kp
    np.testing.assert_allclose(p.joints3d[:2], [[0.05, 0.0175, 2.0], [0, 0, 2.0]], atol=1e-6)
    assert np.isnan(p.joints3d[2]).all()

    # a calibration (as JSON from `edgeact calibrate`) re-projects: here one that shifts by (+10, -20) px
    path = tmp_path / "cal.json"
    save_calibration(path, Calibration(cx=100.0, cy=-200.0, bx=15.0, by=-16.0))
    lift = DepthLiftPose(inner, path, patch=3)
    assert lift.name == "fixed+depth" and lift.joint_names == ("a", "b", "c") and lift.num_joints == 3
    (p,) = lift(_depth_frame(depth))
    np.testing.assert_allclose(p.keypoints[:2], kp[:2] + [10, -20], atol=1e-4)
    np.testing.assert_array_equal(p.keypoints[2], kp[2])  # not lifted: keeps its 2D position
    assert p.keypoints.dtype == np.float32
    lift.close()
    assert inner.closed
    # RealSense intrinsics as `edgeact calibrate --bag` writes them (Y-down space, cy = +fy):
    # the Y-up joints are handed over with Y negated, and project back onto the 2D keypoints
    rs_calib = Calibration(cx=INTR.fx, cy=INTR.fy, bx=INTR.ppx, by=INTR.ppy, rmse_px=0.0)
    (p,) = DepthLiftPose(inner, rs_calib, patch=3)(_depth_frame(depth))
    np.testing.assert_allclose(p.keypoints, kp, atol=1e-4)


def test_depth_lift_pose_needs_depth_frames():
    lift = DepthLiftPose(Fixed([]))
    assert lift(_depth_frame()) == []
    with pytest.raises(EdgeactError, match=r"needs frames with aligned depth and colour intrinsics: use a RealSense "
                                           r"camera or recording as the source$"):
        lift(Frame(index=0, t=0.0, image=np.zeros((8, 10, 3), np.uint8)))
    with pytest.raises(EdgeactError, match="depth image 5x4 is not aligned to the 10x8 colour image"):
        lift(_depth_frame(np.ones((4, 5), np.uint16)))
    with pytest.raises(EdgeactError, match="^patch: must be an odd integer"):
        DepthLiftPose(Fixed([]), patch=2)
    with pytest.raises(EdgeactError, match="no such calibration file"):
        DepthLiftPose(Fixed([]), "missing.json")


# --------------------------------------------------------------------------- tracking


def test_box_iou_hand_computed():
    a = np.array([[0, 0, 10, 10], [0, 0, 2, 2]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0, 1], [0, 0, 4 / 100]])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_iou_tracker_keeps_ids_and_forgets_old_tracks():
    tr = IouTracker(iou_threshold=0.3, max_age=2)
    a, b = [0, 0, 10, 20], [50, 0, 60, 20]
    np.testing.assert_array_equal(tr.update(np.array([a, b])), [1, 2])
    # moved a little and listed in the other order: each keeps its id; a far box is new
    a2, b2, c = [2, 0, 12, 20], [51, 1, 61, 21], [100, 100, 110, 120]
    np.testing.assert_array_equal(tr.update(np.array([b2, c, a2])), [2, 3, 1])
    # two boxes wanting one track: the better overlap gets it
    np.testing.assert_array_equal(tr.update(np.array([[4, 0, 14, 20], [2, 0, 12, 20]])), [4, 1])
    tr.update(np.zeros((0, 4)))
    tr.update(np.zeros((0, 4)))
    tr.update(np.zeros((0, 4)))           # three updates unseen > max_age 2: forgotten
    assert tr.update(np.array([a2]))[0] == 5


# --------------------------------------------------------------------------- skeleton replay


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    cfg = SynthConfig(classes=2, performers=1, cameras=1, setups=1, replications=1, frames=16, width=160,
                      height=120)
    out = tmp_path_factory.mktemp("synth")
    generate(out, cfg)
    return cfg, out, sample_names(cfg)[0]


def test_skeleton_replay_keypoints_land_on_the_drawn_person(synth):
    cfg, out, name = synth
    video = out / "nturgb+d_rgb" / f"{name.name}_rgb.avi"
    replay = SkeletonReplay(out / "nturgb+d_skeletons" / f"{name.name}.skeleton")
    assert replay.joint_names == KINECT_JOINTS and replay.num_joints == 25
    drawn = synthesize(cfg, name).frames                   # the rendered video frames, before JPEG
    empty = synthesize(cfg, name, person=False).frames     # the same scene without the person
    n = 0
    with VideoSource(video, realtime=False) as src:
        for frame in src:
            (p,) = replay(frame)
            assert p.track == 0 and p.keypoints.shape == (25, 2) and p.joints3d.shape == (25, 3)
            assert p.keypoints.dtype == np.float32 and set(np.unique(p.scores)) <= {0.5, 1.0}
            np.testing.assert_array_equal(p.joints3d, replay.skeleton.joints[frame.index, 0])
            # the decoded frame is rendered frame `index` (JPEG noise aside)
            assert np.abs(frame.image.astype(int) - drawn[frame.index]).mean() < 6
            person = np.abs(drawn[frame.index].astype(int) - empty[frame.index]).sum(-1) > 0
            x0, y0, x1, y1 = (int(round(v)) for v in crop_box(p.keypoints, frame.size, min_size=1))
            inside = person[y0:y1, x0:x1].sum()
            # the skeleton's box (paper crop, 10 % margin) holds the drawn person (a shadow or a
            # hand may poke out) and not much else
            assert person.sum() > 100 and inside > 0.9 * person.sum()
            assert (x1 - x0) * (y1 - y0) < 4 * person.sum()
            # and every keypoint lies on a drawn pixel of the person (within one pixel)
            near = np.pad(person, 1)
            near = np.max([near[1 + dy:121 + dy, 1 + dx:161 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
            col, row = np.floor(p.keypoints).astype(int).T
            assert near[row, col].all()
            n += 1
    assert n == replay.num_frames
    assert replay(Frame(index=n, t=0.0, image=empty[0])) == []
    assert replay(Frame(index=-1, t=0.0, image=empty[0])) == []


def test_skeleton_replay_scores_and_missing_file(tmp_path):
    from edgeact.data.ntu import Skeleton, write_skeleton

    joints = np.full((3, 1, 25, 3), np.nan, np.float32)
    joints[1, 0] = np.c_[np.zeros(25), np.zeros(25), np.full(25, 2.0)] + np.arange(25)[:, None] * 0.01
    color = np.zeros((3, 1, 25, 2), np.float32)
    color[1, 0] = np.c_[np.arange(25) + 100, np.arange(25) + 200]
    color[1, 0, 7] = 0                          # Kinect's "no data" pixel
    tracking = np.full((3, 1, 25), 2, np.int8)
    tracking[1, 0, :3] = (0, 1, 2)
    path = tmp_path / "S001C001P001R001A001.skeleton"
    write_skeleton(path, Skeleton.build(joints, color_xy=color, tracking=tracking))
    replay = SkeletonReplay(path)
    img = np.zeros((4, 4, 3), np.uint8)
    assert replay(Frame(0, 0.0, img)) == [] and replay(Frame(2, 0.0, img)) == []
    (p,) = replay(Frame(1, 1 / 30, img))
    # a looped video's second lap: index 4, position 1 in the file -> the file's row 1
    (q,) = replay(Frame(4, 4 / 30, img, position=1))
    np.testing.assert_array_equal(q.joints3d, p.joints3d)
    assert replay(Frame(1, 1 / 30, img, position=2)) == []
    np.testing.assert_array_equal(p.scores[:4], [0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(p.keypoints[3], [103, 203])
    assert np.isnan(p.keypoints[7]).all()
    with pytest.raises(EdgeactError, match="nope.skeleton: no such skeleton file"):
        SkeletonReplay(tmp_path / "nope.skeleton")


# --------------------------------------------------------------------------- ultralytics


def _scene(seed=0):
    return Frame(index=0, t=0.0, image=np.random.default_rng(seed).integers(0, 255, (120, 160, 3), dtype=np.uint8))


def test_ultralytics_pose_untrained_model_with_iou_tracker():
    pose = UltralyticsPose("yolo11n-pose.yaml", device="cpu", imgsz=160, conf=1e-4, tracker="iou")
    assert pose.joint_names == COCO_KEYPOINTS and pose.num_joints == 17 and pose.name == "yolo yolo11n-pose.yaml"
    frame = _scene()
    people = pose(frame)
    assert people, "an untrained model at conf 1e-4 should still detect something"
    tracks = [p.track for p in people]
    assert all(isinstance(t, int) and t >= 1 for t in tracks) and len(set(tracks)) == len(tracks)
    for p in people:
        assert p.keypoints.shape == (17, 2) and p.keypoints.dtype == np.float32
        assert p.scores.shape == (17,) and p.scores.dtype == np.float32
        assert np.all((p.scores >= 0) & (p.scores <= 1))
        np.testing.assert_array_equal(np.isnan(p.keypoints).any(1), p.scores < 0.5)
        assert p.joints3d is None
    # the same image again: the same boxes, so every person keeps its track
    again = pose(frame)
    assert [p.track for p in again] == tracks
    np.testing.assert_array_equal(again[0].keypoints, people[0].keypoints)
    pose.close()
    with pytest.raises(EdgeactError, match="used after close"):
        pose(frame)


def test_ultralytics_pose_handles_frames_with_nobody():
    pose = UltralyticsPose("yolo11n-pose.yaml", device="cpu", imgsz=160, conf=0.99, tracker="iou")
    black = Frame(index=0, t=0.0, image=np.zeros((120, 160, 3), np.uint8))
    assert pose(black) == [] and pose(_scene(1)) == []
    with pytest.raises(EdgeactError, match=r"\(H, W, 3\) uint8"):
        pose(Frame(index=0, t=0.0, image=np.zeros((120, 160), np.uint8)))


@pytest.mark.skipif(importlib.util.find_spec("lap") is None, reason="ultralytics trackers need the lap package")
def test_ultralytics_pose_bytetrack(tmp_path):
    # ByteTrack as shipped starts tracks at box confidence 0.25, which an untrained model never
    # reaches: the same tracker with thresholds for its ~1e-4 confidences
    cfg = tmp_path / "lowtrack.yaml"
    cfg.write_text("tracker_type: bytetrack\ntrack_high_thresh: 0.0001\ntrack_low_thresh: 0.00001\n"
                   "new_track_thresh: 0.0001\ntrack_buffer: 30\nmatch_thresh: 0.8\nfuse_score: True\n")
    pose = UltralyticsPose("yolo11n-pose.yaml", device="cpu", imgsz=160, conf=1e-5, tracker=str(cfg))
    frame = _scene()
    seen = []
    for _ in range(3):
        people = pose(frame)
        assert people
        for p in people:
            assert isinstance(p.track, int) and p.track != 0 and p.keypoints.shape == (17, 2)
        seen.append(sorted(p.track for p in people))
    assert all(t >= 1 for t in seen[-1])   # tracked ids by now
    assert seen[-1] == seen[-2]            # the same boxes again: the same tracks
    # the stock config on the same frames: no track ever starts, detections get transient ids
    stock = UltralyticsPose("yolo11n-pose.yaml", device="cpu", imgsz=160, conf=1e-4, tracker="bytetrack.yaml")
    first, second = stock(frame), stock(frame)
    ids = [p.track for p in first + second]
    assert first and all(t < 0 for t in ids) and len(set(ids)) == len(ids)


def test_ultralytics_pose_errors(tmp_path, monkeypatch):
    if importlib.util.find_spec("lap") is None:
        with pytest.raises(EdgeactError, match=r"^tracker: bytetrack.yaml needs the Python package lap.*tracker iou"):
            UltralyticsPose("yolo11n-pose.yaml", tracker="bytetrack.yaml")
    with pytest.raises(EdgeactError, match="^tracker: 'sort' is neither"):
        UltralyticsPose("yolo11n-pose.yaml", tracker="sort")
    with pytest.raises(EdgeactError, match=r"^model: .*mine/pose.pt: no such pose model file"):
        UltralyticsPose(tmp_path / "mine" / "pose.pt", tracker="iou")
    with pytest.raises(EdgeactError, match="^model: yolo11n.yaml: is a detect model, not a pose model"):
        UltralyticsPose("yolo11n.yaml", tracker="iou")
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(EdgeactError, match="broken.pt: cannot load this model"):
        UltralyticsPose(bad, tracker="iou")
    for kwargs, msg in ((dict(conf=0.0), "^conf: must be in"), (dict(imgsz=16), "^imgsz: must be an integer")):
        with pytest.raises(EdgeactError, match=msg):
            UltralyticsPose("yolo11n-pose.yaml", tracker="iou", **kwargs)


def test_ultralytics_known_name_offline_says_to_pass_a_path(tmp_path, monkeypatch):
    from ultralytics.utils.checks import ONLINE

    if ONLINE:
        pytest.skip("online: ultralytics would download the weights")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EdgeactError, match="^model: yolo11n-pose.pt is not on this machine and could not be "
                                           "downloaded.*pass a local file"):
        UltralyticsPose("yolo11n-pose.pt", tracker="iou")
    assert not any(tmp_path.iterdir())


def test_open_pose(synth):
    _, out, name = synth
    with pytest.raises(EdgeactError, match="^kind: 'openpose' is not one of yolo, skeleton, depth"):
        open_pose("openpose")
    with pytest.raises(EdgeactError, match="^skeleton: the skeleton pose replays the recording's .skeleton file"):
        open_pose("skeleton")
    replay = open_pose("skeleton", skeleton=out / "nturgb+d_skeletons" / f"{name.name}.skeleton")
    assert isinstance(replay, SkeletonReplay)
    lift = open_pose("depth", model="yolo11n-pose.yaml", device="cpu", imgsz=160, tracker="iou",
                     calibration=Calibration(cx=1, cy=-1, bx=0, by=0))
    assert isinstance(lift, DepthLiftPose) and isinstance(lift.inner, UltralyticsPose)
    assert lift.calibration.cy == -1 and lift.num_joints == 17


def test_the_default_pose_model_is_yolo26_built_offline_nms_free_and_yolo11_stays_selectable():
    from edgeact.live.pose import DEFAULT_POSE_MODEL, DEFAULT_POSE_YAML

    assert (DEFAULT_POSE_MODEL, DEFAULT_POSE_YAML) == ("yolo26n-pose.pt", "yolo26n-pose.yaml")
    for name, end2end in ((DEFAULT_POSE_YAML, True), ("yolo11n-pose.yaml", False)):
        pose = UltralyticsPose(name, device="cpu", imgsz=160, conf=1e-4, tracker="iou")
        assert bool(getattr(pose._model.model, "end2end", False)) is end2end     # YOLO26: one-to-one head, no NMS
        people = pose(_scene())
        assert people and all(p.keypoints.shape == (17, 2) and p.track >= 1 for p in people), name


@pytest.mark.parametrize("tracker", ["iou", "lowtrack"])
def test_pose_batch_poses_several_streams_in_one_call_with_a_tracker_per_stream(tmp_path, tracker):
    if tracker == "lowtrack":
        if importlib.util.find_spec("lap") is None:
            pytest.skip("ultralytics trackers need the lap package")
        cfg = tmp_path / "lowtrack.yaml"
        cfg.write_text("tracker_type: bytetrack\ntrack_high_thresh: 0.0001\ntrack_low_thresh: 0.00001\n"
                       "new_track_thresh: 0.0001\ntrack_buffer: 30\nmatch_thresh: 0.8\nfuse_score: True\n")
        tracker = str(cfg)
    pose = UltralyticsPose("yolo11n-pose.yaml", device="cpu", imgsz=160, conf=1e-4, tracker=tracker)
    calls = []
    predict = pose._model.predict
    pose._model.predict = lambda imgs, **kw: calls.append(len(imgs)) or predict(imgs, **kw)
    frames = {"a": _scene(0), "b": _scene(1)}
    for _ in range(3):
        got = pose.pose_batch([frames["a"], frames["b"]], ["a", "b"])
        # the same network, each stream alone under keys of its own
        want = [pose.pose_batch([frames[k]], [f"alone-{k}"])[0] for k in ("a", "b")]
        for g, w in zip(got, want):
            # every stream tracks on its own: the ids it would get posed alone, the same keypoints
            assert [p.track for p in g] == [p.track for p in w]
            for p, q in zip(g, w):
                np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-3)
    assert calls == [2, 1, 1] * 3                   # one network call per round for both streams
    assert got[0] and got[1] and max(p.track for p in got[1]) < 100     # b's ids are not a's continued


def test_depth_lift_poses_a_batch_through_its_inner_backend():
    class Fixed(PoseBackend):
        name, joint_names = "fixed", ("a",)

        def __init__(self):
            self.batches = []

        def pose_batch(self, frames, keys):
            self.batches.append(list(keys))
            return [[Person(track=1, keypoints=np.array([[2.0, 2.0]], np.float32), scores=np.ones(1, np.float32))]
                    for _ in frames]

    intr = Intrinsics(fx=100.0, fy=100.0, ppx=2.0, ppy=2.0, width=4, height=4)
    depth = np.full((4, 4), 1000, np.uint16)
    frame = Frame(index=0, t=0.0, image=np.zeros((4, 4, 3), np.uint8), depth=depth, depth_scale=0.001,
                  intrinsics=intr)
    inner = Fixed()
    out = DepthLiftPose(inner, patch=1).pose_batch([frame, frame], ["cam0", "cam1"])
    assert inner.batches == [["cam0", "cam1"]]
    assert [len(p) for p in out] == [1, 1] and out[1][0].joints3d[0, 2] == pytest.approx(1.0)
