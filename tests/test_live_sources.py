"""Frame sources of `edgeact live`: video files, OpenCV cameras (a video file opened as a camera
URL drives the real capture thread), RealSense recordings written here with a software device."""

import threading
import time

import numpy as np
import pytest

from edgeact.cli_options import name_option
from edgeact.data.synth_render import encode_avi_mjpeg
from edgeact.errors import EdgeactError
from edgeact.live.frames import Frame, Intrinsics, Person
from edgeact.live.pose import DepthLiftPose, PoseBackend
from edgeact.live.sources import (
    CameraSource,
    RealSenseSource,
    Source,
    SourceInfo,
    VideoSource,
    make_source,
    open_source,
)

W, H = 64, 48


def _frames(n):
    """Frame i shows its number: blue = 16 * (i % 16), green = 16 * (i // 16) (JPEG noise is a few
    levels; 16 apart survives it)."""
    out = np.zeros((n, H, W, 3), np.uint8)
    for i in range(n):
        out[i, ..., 0] = 16 * (i % 16)
        out[i, ..., 1] = 16 * (i // 16)
        out[i, ..., 2] = 128
    return out


def _frame_id(img):
    return int(round(img[..., 0].mean() / 16)) + 16 * int(round(img[..., 1].mean() / 16))


def _write_video(path, n, fps=25.0, corrupt=()):
    """An MJPG .avi of ``n`` numbered frames; frames in ``corrupt`` get their JPEG start overwritten
    (the decoder finds no image there)."""
    data = bytearray(encode_avi_mjpeg(_frames(n), fps))
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    assert len(starts) == n
    for k in corrupt:
        data[starts[k]:starts[k] + 200] = b"\x55" * 200
    path.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------- video files


def test_video_source_reads_every_frame_in_order(tmp_path):
    path = _write_video(tmp_path / "v.avi", 12, fps=25.0)
    with VideoSource(path, realtime=False) as src:
        assert isinstance(src, Source) and not src.live
        assert src.size == (W, H) and src.fps == 25.0 and src.name == str(path)
        frames = list(src)
        assert src.read() is None            # the end stays the end
    assert [f.index for f in frames] == list(range(12))
    assert [_frame_id(f.image) for f in frames] == list(range(12))
    assert [f.t for f in frames] == pytest.approx([i / 25.0 for i in range(12)])
    f = frames[3]
    assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8 and f.depth is None and f.intrinsics is None
    assert src.corrupt == 0 and src.dropped == 0


def test_video_source_skips_and_counts_a_corrupt_frame(tmp_path):
    path = _write_video(tmp_path / "v.avi", 10, fps=10.0, corrupt=(4,))
    src = VideoSource(path, realtime=False)
    frames = list(src)
    src.close()
    idx = [f.index for f in frames]
    assert idx == [0, 1, 2, 3, 5, 6, 7, 8, 9]                 # frame 4 skipped, its number not reused
    assert [_frame_id(f.image) for f in frames] == idx
    assert frames[4].t == pytest.approx(0.5)
    assert src.corrupt == 1


def test_video_source_paces_at_the_file_rate(tmp_path):
    path = _write_video(tmp_path / "v.avi", 6, fps=40.0)
    src = VideoSource(path)  # realtime
    time.sleep(0.2)          # a slow start (model loading) must not make a burst of frames
    stamps = []
    for _ in src:
        stamps.append(time.monotonic())
    src.close()
    assert len(stamps) == 6
    # frame i is handed on no earlier than start + i / fps, start being the first read (not the open)
    assert all(s - stamps[0] >= i / 40.0 - 1e-3 for i, s in enumerate(stamps))


def test_video_source_loops(tmp_path):
    path = _write_video(tmp_path / "v.avi", 3)
    with VideoSource(path, realtime=False, loop=True) as src:
        frames = [src.read() for _ in range(8)]
    assert [f.index for f in frames] == list(range(8))
    assert [_frame_id(f.image) for f in frames] == [0, 1, 2, 0, 1, 2, 0, 1]
    # the position within the file restarts each lap (what a skeleton replay follows)
    assert [f.file_index for f in frames] == [0, 1, 2, 0, 1, 2, 0, 1]
    with VideoSource(path, realtime=False) as src:
        assert [(f.position, f.file_index) for f in src] == [(None, 0), (None, 1), (None, 2)]


def test_video_source_close_ends_it(tmp_path):
    src = VideoSource(_write_video(tmp_path / "v.avi", 5), realtime=False)
    assert src.read().index == 0
    src.close()
    src.close()
    assert src.read() is None


def test_video_source_bad_paths(tmp_path):
    with pytest.raises(EdgeactError, match="nope.mp4: no such video file"):
        VideoSource(tmp_path / "nope.mp4")
    with pytest.raises(EdgeactError, match="not a video file"):
        VideoSource(tmp_path)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"this is no video" * 10)
    with pytest.raises(EdgeactError, match="junk.avi: cannot open video"):
        VideoSource(junk)


# --------------------------------------------------------------------------- cameras


def test_camera_that_cannot_be_opened():
    with pytest.raises(EdgeactError, match=r"^camera 97: cannot be opened \(no such device"):
        CameraSource(97)
    with pytest.raises(EdgeactError, match=r"^camera /no/such/stream.mjpg: cannot be opened"):
        CameraSource("/no/such/stream.mjpg")
    with pytest.raises(EdgeactError, match="^index_or_url: index must be >= 0"):
        CameraSource(-1)


def test_camera_hands_on_the_newest_frame_and_counts_the_overwritten(tmp_path):
    n = 150
    path = _write_video(tmp_path / "cam.avi", n)
    src = CameraSource(str(path), exit_on_disconnect=True)
    assert src.live and src.size == (W, H)
    got = []
    with pytest.raises(EdgeactError, match=r"cam.avi: stream lost \(5 failed reads in a row\)"):
        while True:
            got.append(src.read())
            time.sleep(0.01)  # a slow consumer: the capture thread decodes far faster
    src.close()
    assert not src.running
    idx = [f.index for f in got]
    # the capture index is the file's frame number here: every frame handed on is the one captured
    assert [_frame_id(f.image) for f in got] == idx
    assert all(b > a for a, b in zip(idx, idx[1:]))
    # nothing queued up: each frame was handed on, overwritten and counted, or passed over before
    # the first read (start-up: those are the first frame's index, not drops)
    assert got[0].index + len(got) + src.dropped == n
    assert 1 <= len(got) < n
    assert all(b.t >= a.t for a, b in zip(got, got[1:]))
    assert src.read() is None  # after close


def test_camera_without_retry_ends_when_the_stream_is_lost(tmp_path):
    path = _write_video(tmp_path / "cam.avi", 20)
    messages = []
    with CameraSource(str(path), retry=False, on_status=messages.append) as src:
        frames = list(src)
    # frames passed over before the first read are not dropped ones: the first frame read has their count as index
    assert frames and frames[0].index + len(frames) + src.dropped == 20
    assert messages == [f"camera {path}: stream lost (5 failed reads in a row)"]


def test_camera_reconnects_after_losing_the_stream(tmp_path):
    path = _write_video(tmp_path / "cam.avi", 10)
    messages = []
    src = CameraSource(str(path), backoff=(0.05, 0.2), on_status=messages.append)
    seen = []
    deadline = time.monotonic() + 20
    # the file ends (stream lost), the thread reopens it: frame numbers in the file start again
    while time.monotonic() < deadline:
        f = src.read()
        seen.append(f)
        if len(seen) > 1 and _frame_id(f.image) < _frame_id(seen[-2].image):
            break
        time.sleep(0.005)
    src.close()
    assert src.reconnects >= 1
    assert messages[0] == f"camera {path}: stream lost (5 failed reads in a row); reconnecting in 0.05 s"
    assert f"camera {path}: reconnected" in messages
    idx = [f.index for f in seen]
    assert all(b > a for a, b in zip(idx, idx[1:]))   # indices keep growing across the reconnect
    assert idx[-1] >= 10
    assert not src.running


def test_camera_backs_off_while_unplugged_and_close_unblocks_a_reader(tmp_path):
    path = _write_video(tmp_path / "cam.avi", 5)
    messages = []
    src = CameraSource(str(path), backoff=(0.02, 0.08), on_status=messages.append)
    path.unlink()  # "unplugged": the open capture plays on, reopening fails
    deadline = time.monotonic() + 10
    while len(messages) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    delays = [m.rsplit(" in ", 1)[1] for m in messages[:5]]
    assert delays == ["0.02 s", "0.04 s", "0.08 s", "0.08 s", "0.08 s"]
    assert all("cannot be opened; retrying" in m for m in messages[1:5])
    last = src.read()  # the newest of the 5 frames captured before the end, kept in the slot
    # the 4 it replaced went by before anyone read: start-up, not frames the reader missed
    assert _frame_id(last.image) == last.index == 4 and src.dropped == 0
    result = []
    reader = threading.Thread(target=lambda: result.append(src.read()))
    reader.start()
    time.sleep(0.1)
    assert reader.is_alive()   # blocked: no frames while unplugged
    src.close()
    reader.join(2)
    assert not reader.is_alive() and result == [None]
    assert not src.running


# --------------------------------------------------------------------------- RealSense

FX, FY, PPX, PPY = 50.0, 52.0, 31.5, 23.25
N_RS = 6


def _depth(i):
    d = np.full((H, W), 1000 + 100 * i, np.uint16)
    d[:5, :5] = 0  # a hole
    return d


def _record_realsense(path, *, depth=True, color_format="bgr8", frames=N_RS, missing_depth=()):
    """Record a software device: colour frame i is (B, G, R) = (10 i, 100, 200) (as bgr8 or rgb8),
    depth frame i is 1000 + 100 i units of 1 mm with a 5x5 hole at the top left; colour and depth
    share intrinsics and identity extrinsics, so depth aligned to colour is the depth itself.
    Depth frames whose numbers are in ``missing_depth`` are not recorded (a depth frame the camera
    lost)."""
    rs = pytest.importorskip("pyrealsense2", reason="pyrealsense2 (and libusb-1.0) not installed")

    def intrinsics():
        intr = rs.intrinsics()
        intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy = W, H, FX, FY, PPX, PPY
        intr.model, intr.coeffs = rs.distortion.none, [0.0] * 5
        return intr

    def stream(kind, uid, bpp, fmt):
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp = kind, 0, uid, W, H, 30, bpp
        vs.fmt, vs.intrinsics = fmt, intrinsics()
        return vs

    dev = rs.software_device()
    sensors, profiles = [], []
    if depth:
        ds = dev.add_sensor("Depth")
        ds.add_read_only_option(rs.option.depth_units, 0.001)
        sensors.append(ds)
        profiles.append(ds.add_video_stream(stream(rs.stream.depth, 0, 2, rs.format.z16)))
    cs = dev.add_sensor("Color")
    sensors.append(cs)
    profiles.append(cs.add_video_stream(stream(rs.stream.color, 1, 3, getattr(rs.format, color_format))))
    if depth:
        ext = rs.extrinsics()
        ext.rotation, ext.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]
        profiles[0].register_extrinsics_to(profiles[1], ext)
    recorder = rs.recorder(str(path), dev)
    for s, p in zip(sensors, profiles):
        s.open(p)
        s.start(rs.frame_queue())
    for i in range(frames):
        bgr = np.empty((H, W, 3), np.uint8)
        bgr[...] = (10 * i, 100, 200)
        pixels = [_depth(i), bgr] if depth else [bgr]
        if color_format == "rgb8":
            pixels[-1] = np.ascontiguousarray(bgr[..., ::-1])
        for s, p, px in zip(sensors, profiles, pixels):
            if px.ndim == 2 and i in missing_depth:
                continue
            f = rs.software_video_frame()
            bpp = px.itemsize * (px.shape[2] if px.ndim == 3 else 1)
            f.pixels, f.bpp, f.stride, f.timestamp = px, bpp, bpp * W, i * 1000 / 30
            f.domain, f.frame_number, f.profile = rs.timestamp_domain.hardware_clock, i, p.as_video_stream_profile()
            s.on_video_frame(f)
        time.sleep(0.02)
    for s in sensors:
        s.stop()
        s.close()
    del recorder  # closing the recorder finalizes the file
    return path


@pytest.fixture(scope="module")
def rs_recording(tmp_path_factory):
    return _record_realsense(tmp_path_factory.mktemp("rs") / "room.db3")


def _check_rs_frames(frames, src):
    assert frames, "no frames played back"
    ids = [int(round(f.image[0, 0, 0] / 10)) for f in frames]
    assert ids == sorted(set(ids)) and ids[-1] == N_RS - 1
    # the syncer may drop the first pair while it learns the streams; the rest all arrive
    assert len(ids) >= N_RS - 1
    assert [f.index for f in frames] == [i - ids[0] for i in ids]
    assert [f.t for f in frames] == pytest.approx([(i - ids[0]) / 30 for i in ids], abs=1e-6)
    for f, i in zip(frames, ids):
        assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8
        np.testing.assert_array_equal(f.image[H // 2, W // 2], (10 * i, 100, 200))
        assert f.depth.shape == (H, W) and f.depth.dtype == np.uint16
        valid = f.depth[f.depth > 0]
        # aligned depth = the input depth: every valid pixel holds this frame's value (rs.align
        # can leave a few one-pixel rounding holes, so not every pixel is valid)
        assert np.all(valid == 1000 + 100 * i)
        assert valid.size > 0.9 * H * W
        assert np.all(f.depth[:4, :4] == 0)
        assert f.depth_scale == pytest.approx(0.001)
        assert f.intrinsics == Intrinsics(fx=FX, fy=FY, ppx=PPX, ppy=PPY, width=W, height=H)
    assert src.dropped == ids[-1] - ids[0] + 1 - len(ids)
    assert src.corrupt == 0                          # every colour frame came with its own depth


def test_realsense_playback_colour_depth_intrinsics(rs_recording):
    with RealSenseSource(playback=rs_recording, realtime=False) as src:
        assert src.size == (W, H) and src.fps == 30 and not src.live and src.has_depth
        frames = list(src)
        assert src.read() is None
    _check_rs_frames(frames, src)


def test_realsense_colour_without_its_depth_is_skipped_not_paired_with_another(tmp_path):
    """Depth frame 3 was lost: the pipeline hands colour 3 on with depth 2 (the last it saw); that
    pair is of two instants, so colour 3 is skipped and counted, never shown with depth 2."""
    path = _record_realsense(tmp_path / "gap.db3", missing_depth=(3,))
    with RealSenseSource(playback=path, realtime=False) as src:
        frames = list(src)
    ids = [int(round(f.image[0, 0, 0] / 10)) for f in frames]
    assert ids == [0, 1, 2, 4, 5] and [f.index for f in frames] == ids
    for f, i in zip(frames, ids):
        assert np.all(f.depth[f.depth > 0] == 1000 + 100 * i)
    assert src.corrupt == 1 and src.dropped == 0     # colour 3 arrived, with no depth of its instant


def test_realsense_playback_in_real_time(rs_recording):
    src = open_source(bag=rs_recording)
    assert isinstance(src, RealSenseSource)
    start = time.monotonic()
    frames = list(src)
    src.close()
    ids = [int(round(f.image[0, 0, 0] / 10)) for f in frames]
    assert ids == sorted(set(ids)) and len(ids) >= 3 and time.monotonic() - start < 10
    assert all(np.all(f.depth[f.depth > 0] == 1000 + 100 * i) for f, i in zip(frames, ids))


def test_realsense_colour_only_rgb_recording(tmp_path):
    path = _record_realsense(tmp_path / "colour.db3", depth=False, color_format="rgb8", frames=4)
    with RealSenseSource(playback=path, realtime=False) as src:
        assert not src.has_depth and src.depth_scale == 0.0
        frames = list(src)
    assert len(frames) >= 3
    for f in frames:
        assert f.depth is None and f.intrinsics.fx == FX
        b, g, r = f.image[0, 0]
        assert (g, r) == (100, 200) and b % 10 == 0   # rgb8 turned into BGR


def test_realsense_depth_lift_end_to_end(rs_recording):
    """RealSense recording -> DepthLiftPose: a keypoint at a known pixel lifts to the recorded depth."""

    class Fixed(PoseBackend):
        name, joint_names = "fixed", ("a", "b")

        def __call__(self, frame):
            return [Person(track=1, keypoints=np.array([[PPX, PPY], [1.0, 1.0]], np.float32),
                           scores=np.ones(2, np.float32))]

    with RealSenseSource(playback=rs_recording, realtime=False) as src:
        for frame in src:
            i = int(round(frame.image[0, 0, 0] / 10))
            (person,) = DepthLiftPose(Fixed(), patch=3)(frame)
            z = (1000 + 100 * i) * 0.001
            np.testing.assert_allclose(person.joints3d[0], (0.0, 0.0, z), atol=1e-6)
            assert np.isnan(person.joints3d[1]).all()   # inside the depth hole


def test_realsense_bad_recordings_and_no_camera(tmp_path):
    rs = pytest.importorskip("pyrealsense2", reason="pyrealsense2 (and libusb-1.0) not installed")
    with pytest.raises(EdgeactError, match="none.db3: no such RealSense recording"):
        RealSenseSource(playback=tmp_path / "none.db3")
    junk = tmp_path / "junk.bag"
    junk.write_text("not a recording")
    with pytest.raises(EdgeactError, match="junk.bag: cannot open RealSense recording"):
        RealSenseSource(playback=junk)
    if len(rs.context().query_devices()) == 0:
        with pytest.raises(EdgeactError, match=r"^no RealSense camera connected \(use playback to play a recording\)$"):
            RealSenseSource()
        with pytest.raises(EdgeactError) as info:       # the factory's kind of a recording is bag
            make_source("realsense")
        assert str(info.value) == "no RealSense camera connected (use bag to play a recording)"
        name_option(info.value, "live")
        assert str(info.value) == "no RealSense camera connected (use --bag to play a recording)"
        with pytest.raises(EdgeactError, match="^width: must be a positive integer"):
            RealSenseSource(width=0)


# --------------------------------------------------------------------------- choice


def test_open_source_needs_exactly_one(tmp_path):
    with pytest.raises(EdgeactError, match=r"^camera, video, realsense, bag: give exactly one source.*got none") as e:
        open_source()
    name_option(e.value, "live")
    assert str(e.value).startswith("--camera, --video, --realsense, --bag: give exactly one source")
    with pytest.raises(EdgeactError, match=r"^camera, video: give exactly one source.*got 2"):
        open_source(camera=0, video="a.mp4")
    path = _write_video(tmp_path / "v.avi", 3)
    with open_source(video=path, realtime=False) as src:
        assert isinstance(src, VideoSource) and src.read().index == 0
    with open_source(camera=str(path), retry=False) as src:
        assert isinstance(src, CameraSource) and isinstance(src.read(), Frame)


def test_make_source_from_kind_and_value(tmp_path):
    with pytest.raises(EdgeactError, match="unknown source kind 'webcam'; valid: camera, video, realsense, bag"):
        make_source("webcam", 0)
    with pytest.raises(EdgeactError, match="a video source needs a video file"):
        make_source("video")
    path = _write_video(tmp_path / "v.avi", 3, fps=25.0)
    with make_source("video", path, realtime=False, loop=True) as src:
        assert isinstance(src, VideoSource) and src.loop
        assert src.info == SourceInfo(name=str(path), width=W, height=H, fps=25.0, frame_count=3, live=False)
        assert src.info.resolution_wh == (W, H)
    with make_source("camera", str(path), retry=False) as src:
        assert isinstance(src, CameraSource) and src.info.live and src.info.frame_count is None
