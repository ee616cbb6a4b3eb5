"""The live window's memory bound (a cap on its frames, downscaling to fit) and the overlay's labels
(drawn once on a filled box sized to the frame, on every frame of a deterministic saved overlay)."""

import json

import numpy as np
import pytest
import torch

from cli_ok import cli_ok as _ok
from cli_ok import runner
from edgeact.cli import app
from edgeact.data.cache import FramePack, encode_pack
from edgeact.data.clips import clip_tensor, test_indices, window_clips
from edgeact.data.ntu import read_skeleton
from edgeact.errors import EdgeactError
from edgeact.geometry import crop_resize
from edgeact.live.decide import Decision, Scored
from edgeact.live.draw import UNCERTAIN_COLOR, draw_label, draw_overlay, label_style, track_color
from edgeact.live.frames import Frame, Person
from edgeact.live.window import DEFAULT_MAX_WINDOW_MB, WindowBank, WindowConfig, plan_frames, window_job_clips
from edgeact.types import InputSpec
from video_frames import read_video

SPEC = InputSpec(frames=4, size=32, resize=40)
FRAME_BYTES_1080P = 1920 * 1080 * 3      # 6 220 800


def _sample(root, action):
    video = sorted((root / "nturgb+d_rgb").glob(f"*A{action:03d}_rgb.avi"))[0]
    return video, root / "nturgb+d_skeletons" / (video.name[:20] + ".skeleton")


def _decode(video):
    return read_video(video)[0]


def _decisions(path):
    """The decision lines of a --jsonl file (lines with an "event" key mark runs, not decisions)."""
    return [r for r in map(json.loads, path.read_text().splitlines()) if "event" not in r]


def _live(video, skel, model, *extra):
    return ["live", "--video", video, "--skeleton", skel, "--model", model, "--no-realtime", "--quiet",
            "--device", "cpu", *extra]


# --------------------------------------------------------------------------- memory: the plan


def test_a_window_that_fits_keeps_the_source_frames():
    # 2 s at 30 fps: the 61 frames within 2 s of the newest, +1 for jitter; 62 * 6 220 800 B = 385.7 MB
    plan = plan_frames(WindowConfig(seconds=2.0), (1920, 1080), 30.0, min_side=256)
    assert DEFAULT_MAX_WINDOW_MB == 1024.0
    assert (plan.frames, plan.full_bytes, plan.stored_bytes) == (62, 62 * FRAME_BYTES_1080P, 385_689_600)
    assert plan.stored_size == (1920, 1080) and not plan.downscaled and plan.note is None


def test_the_issues_120_s_window_at_1080p_is_refused_with_its_figures():
    # 3602 frames * 6 220 800 B = 22 407 MB; the smallest useful frame keeps the short side at the
    # crop size 256: 455x256 (1920 * 256 / 1080 = 455.1), 3602 * 455 * 256 * 3 B = 1 258 682 880 B
    with pytest.raises(EdgeactError) as err:
        plan_frames(WindowConfig(seconds=120.0), (1920, 1080), 30.0, min_side=256)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("seconds: 120: a 120 s window") and msg.endswith(": shorten seconds or raise max_mb")
    for figure in ("3602 frames = 22407 MB", "over max_mb 1024", "455x256", "1259 MB"):
        assert figure in msg, msg


def test_a_window_over_the_cap_keeps_its_frames_downscaled_to_fit():
    # cap 2048 MB over 3602 frames: 568 573 B a frame; short side floor(1080 * sqrt(2048 / 22407.3)) = 326,
    # long side round(1920 * 326 / 1080) = 580: 3602 * 580 * 326 * 3 = 2 043 198 480 B <= 2.048e9
    plan = plan_frames(WindowConfig(seconds=120.0, max_mb=2048), (1920, 1080), 30.0, min_side=256)
    assert plan.stored_size == (580, 326) and plan.stored_bytes == 2_043_198_480
    assert "downscaled to 580x326 (2043 MB)" in plan.note and "22407 MB" in plan.note
    assert "over the 2048 MB cap on the frames a window holds" in plan.note     # a note: no flag, no keyword
    # 1 s at 10 fps of 160x120: 12 frames = 691 200 B over 0.2 MB: short side floor(120 * 0.538) = 64,
    # long round(160 * 64 / 120) = 85: 12 * 85 * 64 * 3 = 195 840 B
    small = plan_frames(WindowConfig(seconds=1.0, max_mb=0.2), (160, 120), 10.0, min_side=40)
    assert (small.frames, small.full_bytes, small.stored_size, small.stored_bytes) == (12, 691_200, (85, 64), 195_840)
    # rounding the long side up can overshoot: 0.8 s at 30 fps = 26 frames = 1 497 600 B over 1 MB gives
    # short side 98 -> 131x98 = 1 001 364 B, one too many; 97 -> 129x97 = 976 014 B fits
    assert plan_frames(WindowConfig(seconds=0.8, max_mb=1.0), (160, 120), 30.0, min_side=40).stored_size == (129, 97)


# --------------------------------------------------------------------------- memory: the ring


def _person(points):
    return Person(track=0, keypoints=np.asarray(points, np.float32), scores=np.ones(len(points), np.float32))


def test_at_default_settings_the_ring_holds_the_source_frames_themselves():
    """No copy and no resampling under the cap, so live crops stay prep's crops byte for byte."""
    bank = WindowBank(WindowConfig(seconds=1.0, min_fill=0.5), fps=10.0, min_side=40)
    images = [np.full((120, 160, 3), i, np.uint8) for i in range(8)]
    jobs = []
    for i, img in enumerate(images):
        jobs += bank.push(Frame(index=i, t=i / 10, image=img), [_person([[40, 20], [60, 90]])], captured=0.0)
    assert jobs and all(a is b for a, b in zip(jobs[-1].frames, images)) and jobs[-1].scale == (1.0, 1.0)


def test_the_ring_keeps_downscaled_frames_within_the_cap_and_boxes_in_source_pixels(synth_root, tmp_path):
    video, skel = _sample(synth_root, 2)
    frames, points = _decode(video), read_skeleton(skel).color_xy[:, 0]       # n frames, (n, 25, 2)
    bank = WindowBank(WindowConfig(seconds=0.8, max_mb=1.0), fps=30.0, min_side=SPEC.resize)
    held = []
    for i, img in enumerate(frames):
        bank.push(Frame(index=i, t=i / 30, image=img), [_person(points[i])], captured=0.0)
        held.append(bank.bytes_held)
    # 0.8 s at 30 fps: the ring holds at most 25 frames of 129x97 (37 539 B): 938 475 B
    assert bank.plan.stored_size == (129, 97) and max(held) == min(len(frames), 25) * 37_539 <= 1_000_000
    job = bank.flush()[0]
    assert job.frames[0].shape == (97, 129, 3) and job.source_size == (160, 120)
    small, box = window_job_clips(job, SPEC, num_sets=5)
    full, full_box = window_clips(frames, points, SPEC, num_sets=5)
    assert box == full_box                       # the decision's box is the one full frames give
    # the difference twice-resampled crops make, measured against the one training already lives with:
    # prep's JPEG frame pack of the same crops (the clip ClipDataset would read for this sample)
    crops = [crop_resize(f[..., ::-1], box, SPEC.resize) for f in frames]
    pack = tmp_path / "pack.bin"
    pack.write_bytes(encode_pack(crops))
    cached = torch.stack([clip_tensor(FramePack(pack).read(row), SPEC) for row in test_indices(len(frames), 5, 4)])
    resampled, jpeg = float((small - full).abs().mean()), float((cached - full).abs().mean())
    assert 0 < resampled < jpeg, (resampled, jpeg)


def test_frames_arriving_faster_than_planned_are_refused_with_the_figures():
    # planned: 12 frames of 85x64 (16 320 B) for 10 fps; at 30 fps the 13th frame makes 212 160 B > 0.2 MB
    bank = WindowBank(WindowConfig(seconds=1.0, max_mb=0.2), fps=10.0, min_side=40)
    with pytest.raises(EdgeactError) as err:
        for i in range(31):
            bank.push(Frame(index=i, t=i / 30, image=np.zeros((120, 160, 3), np.uint8)), [], captured=0.0)
    assert i == 12 and "holds 13 frames = 0.212 MB, more than the 12 planned for 10 fps" in str(err.value)
    assert str(err.value).startswith("max_mb: 0.2: the live window") and str(err.value).endswith("raise max_mb")


# --------------------------------------------------------------------------- memory: the command


def test_live_refuses_a_window_over_max_window_mb_in_one_line(synth_root, tiny_model):
    video, skel = _sample(synth_root, 1)
    result = runner.invoke(app, [str(a) for a in _live(video, skel, tiny_model, "--max-window-mb", "0.1")])
    assert isinstance(result.exception, EdgeactError)
    msg = str(result.exception)
    assert "\n" not in msg
    # 0.8 s (the artifact's 24-frame clip) at 30 fps: 26 frames * 57 600 B = 1.5 MB; at 53x40: 165 360 B
    # raised mid-run (the window plans its frames at the first one): named as the command's options
    assert msg == ("--window-seconds: 0.8: a 0.8 s window of 160x120 frames at 30 fps holds up to 26 frames = 1.5 MB, "
                   "over --max-window-mb 0.1; even downscaled to 53x40 (short side = the model's crop size 40) they "
                   "need 0.165 MB: shorten --window-seconds or raise --max-window-mb")
    # from Python: run_live names the LiveOptions fields (the window's own are seconds, max_mb)
    from edgeact.live.app import LiveOptions, run_live

    with pytest.raises(EdgeactError) as info:
        run_live(LiveOptions(video=video, skeleton=skel, model=str(tiny_model), realtime=False, quiet=True,
                             device="cpu", max_window_mb=0.1))
    assert str(info.value).startswith("window_seconds: 0.8: a 0.8 s window of 160x120 frames")
    assert "over max_window_mb 0.1; " in str(info.value)
    assert str(info.value).endswith(": shorten window_seconds or raise max_window_mb")


def test_live_over_the_cap_decides_on_downscaled_frames_says_so_and_keeps_source_boxes(synth_root, tiny_model,
                                                                                      tmp_path):
    video, skel = _sample(synth_root, 3)
    rows = {}
    for name, extra in (("full", ()), ("small", ("--max-window-mb", "1"))):
        out = tmp_path / f"{name}.jsonl"
        result = runner.invoke(app, [str(a) for a in _live(video, skel, tiny_model, "--stride", "4", "--jsonl", out,
                                                           *extra)])
        assert result.exit_code == 0, result.output
        rows[name] = _decisions(out)
        if name == "small":
            assert "note: a 0.8 s window of 160x120 frames" in result.output
            assert "kept downscaled to 129x97 (0.976 MB)" in result.output
    assert [r["frame"] for r in rows["small"]] == [r["frame"] for r in rows["full"]]
    assert [r["box"] for r in rows["small"]] == [r["box"] for r in rows["full"]]
    p_small = [r["fine"][0]["p"] for r in rows["small"]]
    assert p_small == pytest.approx([r["fine"][0]["p"] for r in rows["full"]], abs=0.05)


# --------------------------------------------------------------------------- overlay labels


def _decision(box, uncertain=False, t=1.0):
    return Decision(t=t, track=0, box=box, fine=(Scored("wave left hand", 0.91),),
                    levels=((Scored("wave left hand / raise left arm", 0.95),),), latency_ms=1.0,
                    uncertain=uncertain)


def _on_segment(pixels, a, b, tol=4.0):
    """Which ``pixels`` ``(N, 3)`` lie on the colour segment from ``a`` to ``b`` (antialiased blends)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    t = np.clip(((pixels - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
    return np.linalg.norm(pixels - (a + t[:, None] * (b - a)), axis=1) <= tol


@pytest.mark.parametrize("w,h,text_px", [(320, 240, 10), (1920, 1080, 24)])
def test_labels_are_drawn_once_on_a_filled_box_sized_to_the_frame(w, h, text_px):
    """Capitals 1/45 of the frame height, at least 10 px; inside the label only the box colour, the
    ink and blends of the two (an outline drawn under a fill that measures differently adds a third)."""
    grey = np.full((h, w, 3), 90, np.uint8)
    box = (w * 0.4, h * 0.3, w * 0.6, h * 0.9)
    kp = [[w * 0.45, h * 0.35], [w * 0.55, h * 0.85]]
    out = draw_overlay(grey, [_person(kp)], {0: _decision(box)})
    style = label_style(h)
    assert style.text_px == text_px
    color = track_color(0)
    # the filled box: rows just above the crop box full of the label colour
    x0, y0 = int(round(box[0])), int(round(box[1]))
    lines = 2
    top = y0 - lines * style.line_px
    band = out[top:y0, x0:x0 + 40]
    assert (np.abs(band.astype(int) - color).max(axis=2) <= 4).mean() > 0.6
    # the ink: rows of the first line (no descenders) holding pixels nearer the ink than the box colour
    ext = draw_label(grey.copy(), ["#0 wave left hand 0.91", "wave left hand / raise left arm 0.95"],
                     (x0, y0, int(box[2]), int(box[3])), color, style)
    assert ext[3] == y0 and ext[1] == top
    region = out[ext[1]:ext[3], ext[0]:ext[2]].reshape(-1, 3).astype(float)
    untouched = (region == 90).all(axis=1)
    assert _on_segment(region[~untouched], color, (0, 0, 0)).all()
    first = out[top:top + style.line_px, ext[0]:ext[0] + style.pad + 2 * text_px]     # "#0 w"
    ink_rows = np.nonzero((first.max(axis=2) < max(color) / 2).any(axis=1))[0]
    assert text_px - 1 <= ink_rows[-1] - ink_rows[0] + 1 <= text_px + 1


def _label_blocks(overlay, source, color, tol=45):
    """Whether ``overlay`` holds a filled block of ``color`` (at least 12 x 30 px, text holes closed)
    that ``source`` does not: the label's background box, found through the video's compression."""
    import cv2

    near = lambda img: (np.abs(img.astype(int) - color).max(axis=2) <= tol).astype(np.uint8)  # noqa: E731
    new = near(overlay) & (1 - cv2.dilate(near(source), np.ones((5, 5), np.uint8)))
    closed = cv2.morphologyEx(new, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return bool(cv2.erode(closed, np.ones((12, 30), np.uint8)).any())


def test_an_overlay_video_opencv_cannot_write_is_an_error_about_save(tmp_path):
    """Found at the first frame (when the run did not check the extension first): the sink's keyword."""
    from edgeact.cli_options import name_option
    from edgeact.live.frames import FrameEvent
    from edgeact.live.output import OverlaySink

    sink = OverlaySink(save=tmp_path / "out.skeleton")
    with pytest.raises(EdgeactError) as info:
        sink.frame(FrameEvent(Frame(index=0, t=0.0, image=np.zeros((48, 64, 3), np.uint8)), []), {})
    assert str(info.value) == (f"save: {tmp_path / 'out.skeleton'}: OpenCV cannot write a 64x48 video with the "
                               "extension .skeleton; use .mp4, .avi or .mkv")
    name_option(info.value, "live")
    assert str(info.value).startswith(f"--save: {tmp_path / 'out.skeleton'}: OpenCV cannot write")
    sink.close(None)


def test_a_saved_overlay_with_no_realtime_labels_every_frame_after_the_first(synth_root, tiny_model, tmp_path):
    """The clip is shorter than the classifier's first decision is late: frames posed before it was
    ready are held back and drawn with it, not written bare."""
    video, skel = _sample(synth_root, 4)
    out, decisions = tmp_path / "overlay.avi", tmp_path / "d.jsonl"
    _ok(_live(video, skel, tiny_model, "--save", out, "--jsonl", decisions))
    first = _decisions(decisions)[0]["frame"]
    saved, source = _decode(out), _decode(video)
    assert len(saved) == len(source) >= 20 and first >= 12     # the first decision comes at frame 18
    colors = (track_color(0), UNCERTAIN_COLOR)       # the untrained model is mostly uncertain
    labelled = [i for i, (o, s) in enumerate(zip(saved, source)) if any(_label_blocks(o, s, c) for c in colors)]
    assert set(range(1, len(saved))) <= set(labelled), labelled
    # the detector is not fooled by the rest of the overlay: skeletons drawn without a decision hold no block
    points = read_skeleton(skel).color_xy[:, 0]
    bare = [draw_overlay(s, [_person(points[i])], {}) for i, s in enumerate(source)]
    assert not any(_label_blocks(b, s, c) for b, s in zip(bare, source) for c in colors)


def test_held_overlay_frames_wait_for_their_decision_and_stay_within_the_bound():
    from edgeact.live.frames import FrameEvent
    from edgeact.live.overlay_delay import FrameDelay

    image = np.zeros((10, 10, 3), np.uint8)                  # 300 B a frame; the bound holds 3 of them
    delay = FrameDelay(seconds=1.0, max_bytes=900)
    event = [FrameEvent(Frame(index=i, t=i / 10, image=image), [_person([[2, 2], [5, 8]])]) for i in range(5)]
    for i in range(3):
        delay.frame(event[i], oldest=0, submitted=0)
    assert delay.release() == []                              # no decision yet: held
    delay.frame(event[3], oldest=0, submitted=0)              # 1200 B > 900: the oldest goes without one
    assert [(e.frame.index, labels) for e, labels in delay.release()] == [(0, {})] and delay.early == 1
    delay.decision(_decision((1, 1, 6, 9), t=0.25))           # covers frames 1 and 2 (t <= 0.25), not 3
    assert [(e.frame.index, labels[0].t) for e, labels in delay.release()] == [(1, 0.25), (2, 0.25)]
    # frame 4 was posed once the ring had let frame 3 go; once the window submitted by then is
    # classified, no decision can still cover frame 3: it is drawn with the latest before it
    delay.frame(event[4], oldest=4, submitted=1)
    assert delay.release() == []
    delay.handled(1)
    assert [(e.frame.index, labels[0].t) for e, labels in delay.release()] == [(3, 0.25)]
    assert [e.frame.index for e, _ in delay.release(final=True)] == [4] and delay.early == 1
