"""Synthetic NTU-layout dataset: layout, determinism, video read-back, exact camera truth, person
placement, mirror-pair motions, resume/overwrite rules and the CLI."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeact.cli import app
from edgeact.data.ntu import NtuName, parse_name, read_skeleton, split_of
from edgeact.data.synth import META_NAME, SynthConfig, generate, sample_names, synthesize
from edgeact.data.synth_motion import JOINT_NAMES, SYNTH_CLASSES, MotionParams, Performer, animate
from edgeact.errors import EdgeactError
from video_frames import read_video

TINY = SynthConfig(seed=3, classes=2, performers=2, cameras=2, setups=1, replications=1, frames=16,
                   width=160, height=120)
NAME_RE = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    generate(out, TINY)
    return out


def _skeleton_text_values(path: Path) -> tuple[int, list[np.ndarray]]:
    """Independent minimal parse of a one-body-per-frame file: frame count and (25, 12) per frame."""
    lines = path.read_text().splitlines()
    t = int(lines[0])
    i, frames = 1, []
    for _ in range(t):
        nb = int(lines[i])
        i += 1
        assert nb == 1
        assert len(lines[i].split()) == 10 and int(lines[i + 1]) == 25
        frames.append(np.array([[float(v) for v in lines[i + 2 + k].split()] for k in range(25)]))
        i += 27
    return t, frames



def test_layout_and_names(tiny):
    videos = sorted(p.name for p in (tiny / "nturgb+d_rgb").iterdir())
    skeletons = sorted(p.name for p in (tiny / "nturgb+d_skeletons").iterdir())
    expect = sorted(f"S001C00{c}P00{p}R001A00{a}" for c in (1, 2) for p in (1, 2) for a in (1, 2))
    assert [v[: -len("_rgb.avi")] for v in videos] == expect
    assert [s[: -len(".skeleton")] for s in skeletons] == expect
    assert sorted(p.name for p in tiny.iterdir()) == sorted([META_NAME, "nturgb+d_rgb", "nturgb+d_skeletons"])
    for stem in expect:
        m = NAME_RE.match(stem)
        assert m and parse_name(stem + ".skeleton") == NtuName(*(int(g) for g in m.groups()))
    meta = json.loads((tiny / META_NAME).read_text())
    assert meta["complete"] is True and meta["seed"] == 3 and meta["samples"] == 8
    assert meta["class_names"] == ["wave left hand", "wave right hand"]
    assert meta["classes"]["mirror"] == [[0, 1]]


def test_default_ids_cover_train_and_test_splits():
    names = sample_names(SynthConfig())
    for bench in ("ntu60-xsub", "ntu120-xsub", "ntu60-xview", "ntu120-xset"):
        assert {split_of(n, bench) for n in names} == {"train", "test"}, bench


def test_same_seed_same_bytes_other_seed_differs(tiny, tmp_path):
    again = tmp_path / "again"
    generate(again, TINY)
    for p in (tiny / "nturgb+d_skeletons").iterdir():
        assert (again / "nturgb+d_skeletons" / p.name).read_bytes() == p.read_bytes()
    name = "S001C002P001R001A002_rgb.avi"
    a, _ = read_video(tiny / "nturgb+d_rgb" / name)
    b, _ = read_video(again / "nturgb+d_rgb" / name)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    other = tmp_path / "other"
    generate(other, replace(TINY, seed=4))
    p = "S001C001P001R001A001.skeleton"
    assert (other / "nturgb+d_skeletons" / p).read_bytes() != (tiny / "nturgb+d_skeletons" / p).read_bytes()


def test_video_read_back_matches_skeleton(tiny):
    for skel_path in sorted((tiny / "nturgb+d_skeletons").iterdir()):
        t, _ = _skeleton_text_values(skel_path)
        frames, fps = read_video(tiny / "nturgb+d_rgb" / (skel_path.stem + "_rgb.avi"))
        assert len(frames) == t == read_skeleton(skel_path).num_frames
        assert frames[0].shape == (120, 160, 3)
        assert fps == pytest.approx(30.0)
        assert 14 <= t <= 18  # 16 frames +-10 % (at least +-1)


def test_skeleton_file_realism(tiny):
    for skel_path in (tiny / "nturgb+d_skeletons").iterdir():
        raw = skel_path.read_bytes()
        assert b"\r\n" in raw
        body_id = raw.split(b"\r\n")[2].split()[0].decode()
        assert re.fullmatch(r"\d{17}", body_id)
        skel = read_skeleton(skel_path)
        assert skel.body_ids == (body_id,) and skel.report.clean
        trk = skel.tracking[skel.present]
        assert set(np.unique(trk)) <= {1, 2} and (trk == 2).mean() > 0.8
        z = skel.joints[..., 2]
        assert np.nanmin(z) > 1.5 and np.nanmax(z) < 5.0      # a person 2.5-3.5 m away


def test_color_and_depth_pixels_are_the_recorded_projection(tiny):
    meta = json.loads((tiny / META_NAME).read_text())
    cam = meta["color_camera"]
    # Kinect v2: fx = 1060 at 1920 px, scaled to 160 px; principal point at the image centre
    assert cam["fx"] == pytest.approx(1060 * 160 / 1920) and cam["fy"] == pytest.approx(cam["fx"])
    assert (cam["u0"], cam["v0"]) == (80.0, 60.0) and cam["offset"][:2] == [0.052, 0.0]
    eq1 = meta["eq1"]
    assert eq1["model"] == "offset" and SynthConfig(color_offset=0.0).color_camera.eq1()["model"] == "eq1"
    dep = meta["depth_camera"]
    xyz, uv, duv = [], [], []
    for skel_path in sorted((tiny / "nturgb+d_skeletons").iterdir()):
        _, frames = _skeleton_text_values(skel_path)
        v = np.stack(frames)
        xyz.append(v[..., :3].reshape(-1, 3))
        duv.append(v[..., 3:5].reshape(-1, 2))
        uv.append(v[..., 5:7].reshape(-1, 2))
    xyz, uv, duv = np.concatenate(xyz), np.concatenate(uv), np.concatenate(duv)
    X, Y, Z = xyz.T
    u = eq1["cx"] * (X - eq1["tx"]) / Z + eq1["bx"]
    v = eq1["cy"] * (Y - eq1["ty"]) / Z + eq1["by"]
    np.testing.assert_allclose(uv[:, 0], u, atol=1e-3)
    np.testing.assert_allclose(uv[:, 1], v, atol=1e-3)
    assert eq1["cy"] < 0 < eq1["cx"]  # camera Y is up, image v is down
    np.testing.assert_allclose(duv[:, 0], dep["fx"] * X / Z + dep["u0"], atol=1e-3)
    np.testing.assert_allclose(duv[:, 1], -dep["fy"] * Y / Z + dep["v0"], atol=1e-3)
    # what a calibration fit sees: u is linear in (X/Z, 1/Z, 1) and gives back fx, offset, centre
    a = np.stack([X / Z, 1 / Z, np.ones_like(Z)], axis=1)
    (cx, k, bx), *_ = np.linalg.lstsq(a, uv[:, 0], rcond=None)
    assert cx == pytest.approx(cam["fx"], rel=1e-5) and -k / cx == pytest.approx(0.052, abs=1e-5)
    assert bx == pytest.approx(80.0, abs=1e-3)


def test_person_is_drawn_inside_the_skeleton_colour_box(tiny):
    for name in (NtuName(1, 1, 1, 1, 1), NtuName(1, 2, 2, 1, 2)):
        with_person = synthesize(TINY, name)
        empty = synthesize(TINY, name, person=False)
        changed = (with_person.frames != empty.frames).any(axis=-1)            # (T, H, W)
        decoded, _ = read_video(tiny / "nturgb+d_rgb" / f"{name.name}_rgb.avi")
        xy = with_person.skeleton.color_xy[:, 0]                               # (T, 25, 2)
        h, w = changed.shape[1:]
        rows, cols = np.mgrid[0:h, 0:w]
        for t in range(changed.shape[0]):
            (x0, y0), (x1, y1) = xy[t].min(axis=0), xy[t].max(axis=0)
            mx, my = 0.1 * (x1 - x0) + 1.5, 0.1 * (y1 - y0) + 1.5               # the paper's +10 % box
            box = (cols >= x0 - mx) & (cols <= x1 + mx) & (rows >= y0 - my) & (rows <= y1 + my)
            assert changed[t].sum() > 80
            assert changed[t][box].sum() / changed[t].sum() > 0.99
            tight = (cols >= x0) & (cols <= x1) & (rows >= y0) & (rows <= y1)
            assert changed[t][tight].mean() > 0.1
            # the decoded video shows the person there too: it differs from the empty scene in the box
            diff = np.abs(decoded[t].astype(np.int16) - empty.frames[t]).mean(axis=-1)
            assert diff[changed[t]].mean() > 5 * diff[~box].mean()


def _mirror_body_frame(j: np.ndarray) -> np.ndarray:
    swap = [JOINT_NAMES.index(n.replace("Left", "#").replace("Right", "Left").replace("#", "Right"))
            for n in JOINT_NAMES]
    return (j * np.array([-1.0, 1.0, 1.0]))[:, swap]


def test_mirror_pair_motions_are_mirror_images():
    perf = Performer(height=1.68, arm=1.04, leg=0.97, speed=1.1)
    params = MotionParams(amplitude=1.1, frequency=2.2, phase=0.7, repeats=2, plane=0.4, sway=0.015)
    assert SYNTH_CLASSES.mirror == ((0, 1), (2, 3), (4, 5))
    for i, j in SYNTH_CLASSES.mirror:
        left, right = animate(i, perf, params, 40), animate(j, perf, params, 40)
        assert "left" in SYNTH_CLASSES.names[i] and "right" in SYNTH_CLASSES.names[j]
        np.testing.assert_allclose(right, _mirror_body_frame(left), atol=1e-9)
        assert not np.allclose(right, left, atol=0.05)
        assert SYNTH_CLASSES.flip_label(i) == j and SYNTH_CLASSES.flip_label(j) == i
    for k in (6, 7, 8):  # squat, jump, clap are their own mirrors
        assert SYNTH_CLASSES.flip_label(k) == k


def test_motions_move_the_named_limb():
    perf, params = Performer(), MotionParams(amplitude=1.0)
    rest = animate(0, perf, params, 60)[0]
    hl, hr, head, al, ar = (JOINT_NAMES.index(n) for n in ("HandLeft", "HandRight", "Head", "AnkleLeft", "AnkleRight"))
    assert rest[JOINT_NAMES.index("ShoulderLeft"), 0] > 0.1  # body frame: +x is the performer's left
    wave = animate(0, perf, params, 60)
    assert (wave[:, hl, 1] > wave[:, head, 1]).any() and (wave[:, hr, 1] < 1.0).all()
    raise_r = animate(3, perf, params, 60)
    assert raise_r[:, hr, 1].max() > raise_r[:, head, 1].max() + 0.2 and (raise_r[:, hl, 1] < 1.0).all()
    kick = animate(4, perf, params, 60)
    assert kick[:, al, 1].max() > 0.3 and kick[:, ar, 1].max() < 0.12
    squat = animate(6, perf, params, 60)
    assert squat[:, head, 1].min() < rest[head, 1] - 0.4
    jump = animate(7, perf, params, 60)
    assert jump[:, (al, ar), 1].min(axis=1).max() > 0.2  # both feet off the floor at once


def test_class_list_of_a_partial_config():
    cl = SynthConfig(classes=3).class_list
    assert cl.names == SYNTH_CLASSES.names[:3] and cl.mirror == ((0, 1),) and cl.flip_unsafe == (2,)


@pytest.mark.parametrize("field,value,option", [
    ("cameras", 4, "--cameras"), ("classes", 0, "--num-classes"), ("frames", 4, "--video-frames"),
    ("spurious_rate", 1.5, "--spurious-rate"), ("replications", 3, "--replications"),
])
def test_bad_config_names_the_field_and_the_cli_its_option(field, value, option, tmp_path):
    with pytest.raises(EdgeactError, match="^" + re.escape(f"{field}: {value!r}")):
        SynthConfig(**{field: value})
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "ds"), option, str(value)])
    assert isinstance(result.exception, EdgeactError) and str(result.exception).startswith(f"{option}: {value!r}")


def test_empty_start_and_spurious_bodies(tmp_path):
    cfg = replace(TINY, cameras=1, empty_start=4, spurious_rate=1.0)
    generate(tmp_path / "ds", cfg)
    leads = []
    for p in (tmp_path / "ds" / "nturgb+d_skeletons").iterdir():
        skel = read_skeleton(p)
        assert skel.num_bodies == 2 and len(set(skel.body_ids)) == 2
        main = int(np.argmax(skel.present.sum(axis=0)))
        lead = int(np.argmax(skel.present[:, main]))
        assert skel.present[lead:, main].all()
        assert set(range(lead)) <= set(skel.report.empty_frames)
        assert skel.present[:, 1 - main].sum() <= 15
        leads.append(lead)
    assert max(leads) > 0 and max(leads) <= 4


def test_refuse_resume_and_overwrite(tiny, tmp_path):
    with pytest.raises(EdgeactError, match="^out_dir: .* is not empty"):
        generate(tiny, TINY)
    ds = tmp_path / "ds"
    generate(ds, TINY)
    victim = ds / "nturgb+d_skeletons" / "S001C001P002R001A001.skeleton"
    before = victim.read_bytes()
    victim.unlink()
    (ds / "nturgb+d_rgb" / ".S001C001P001R001A001_rgb.avi.x1y2.tmp").write_bytes(b"half")
    summary = generate(ds, TINY, resume=True)
    assert (summary.written, summary.skipped) == (1, 7) and victim.read_bytes() == before
    assert not list((ds / "nturgb+d_rgb").glob(".*tmp*"))
    with pytest.raises(EdgeactError, match="^frames: .*made with 16, not 20; use the same settings or overwrite$"):
        generate(ds, replace(TINY, frames=20), resume=True)
    smaller = replace(TINY, classes=1)
    summary = generate(ds, smaller, overwrite=True)
    assert summary.written == 4 and len(list((ds / "nturgb+d_skeletons").iterdir())) == 4
    not_ours = tmp_path / "other"
    not_ours.mkdir()
    (not_ours / "notes.txt").write_text("x")
    with pytest.raises(EdgeactError, match="^resume: .*synth_meta.json is missing"):
        generate(not_ours, TINY, resume=True)


ONE = SynthConfig(seed=3, classes=2, performers=1, cameras=1, setups=1, replications=1, frames=8, width=64, height=48)


def test_overwrite_deletes_and_replaces_only_what_synth_wrote(tmp_path):
    """A user's real recording, notes and temp-looking files beside a synthetic dataset survive
    --overwrite; a file of the new config's names that synth never wrote is refused, not replaced."""
    ds = tmp_path / "ds"
    generate(ds, ONE)
    meta = json.loads((ds / META_NAME).read_text())
    assert meta["files"] == ["nturgb+d_rgb/S001C001P001R001A001_rgb.avi", "nturgb+d_rgb/S001C001P001R001A002_rgb.avi",
                             "nturgb+d_skeletons/S001C001P001R001A001.skeleton",
                             "nturgb+d_skeletons/S001C001P001R001A002.skeleton"]
    users = {ds / "nturgb+d_skeletons" / "S017C003P020R002A060.skeleton": "a real NTU recording",
             ds / "nturgb+d_rgb" / ".notes.tmp": "hidden notes",
             ds / "nturgb+d_rgb" / ".S017C003P020R002A060_rgb.avi.a1b2.tmp": "a copy in progress of the user's",
             ds / "README.txt": "mine"}
    for path, text in users.items():
        path.write_text(text)
    summary = generate(ds, replace(ONE, classes=1), overwrite=True)        # A002 is no longer produced
    assert summary.written == 1
    assert not (ds / "nturgb+d_skeletons" / "S001C001P001R001A002.skeleton").exists()
    assert not (ds / "nturgb+d_rgb" / "S001C001P001R001A002_rgb.avi").exists()
    assert {p: p.read_text() for p in users} == users
    assert json.loads((ds / META_NAME).read_text())["files"] == [
        "nturgb+d_rgb/S001C001P001R001A001_rgb.avi", "nturgb+d_skeletons/S001C001P001R001A001.skeleton"]
    # the user's own file under a name the next config writes: refused, nothing changed
    theirs = ds / "nturgb+d_skeletons" / "S001C001P001R001A002.skeleton"
    theirs.write_text("recorded by hand")
    with pytest.raises(EdgeactError, match=r"^overwrite: .*S001C001P001R001A002\.skeleton would be replaced, but "
                                           r"edgeact synth did not write it"):
        generate(ds, ONE, overwrite=True)
    assert theirs.read_text() == "recorded by hand"
    assert not (ds / "nturgb+d_rgb" / "S001C001P001R001A002_rgb.avi").exists()


def test_overwrite_of_an_older_dataset_uses_its_config_and_ignores_paths_outside(tmp_path):
    ds = tmp_path / "ds"
    generate(ds, ONE)
    meta_path = ds / META_NAME
    meta = json.loads(meta_path.read_text())
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    # no manifest (an older generator): its config names its files
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "files"}))
    generate(ds, replace(ONE, classes=1), overwrite=True)
    assert not (ds / "nturgb+d_rgb" / "S001C001P001R001A002_rgb.avi").exists()
    # an edited manifest cannot reach outside the two sample folders
    meta = json.loads(meta_path.read_text())
    meta["files"] += ["../precious.txt", "nturgb+d_rgb/../../precious.txt", "README.txt"]
    meta_path.write_text(json.dumps(meta))
    (ds / "README.txt").write_text("mine")
    generate(ds, ONE, overwrite=True)
    assert outside.read_text() == "keep" and (ds / "README.txt").read_text() == "mine"


def test_cli_generates_and_refuses_non_empty(tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["synth", "--out", str(out), "--seed", "1", "--num-classes", "1", "--performers", "1", "--cameras", "1",
            "--setups", "1", "--replications", "1", "--video-frames", "8", "--video-width", "64",
            "--video-height", "48"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 1 clips" in result.output and "s per clip" in result.output
    assert (out / "nturgb+d_skeletons" / "S001C001P001R001A001.skeleton").is_file()
    frames, _ = read_video(out / "nturgb+d_rgb" / "S001C001P001R001A001_rgb.avi")
    assert frames[0].shape == (48, 64, 3)
    result = runner.invoke(app, args)
    assert isinstance(result.exception, EdgeactError) and str(out) in str(result.exception)
    assert "not empty" in str(result.exception)
    result = runner.invoke(app, args + ["--resume"])
    assert result.exit_code == 0 and "kept 1 complete" in result.output


def test_head_disc_is_centred_on_the_written_head_pixel():
    """colorX/colorY are where the joints are drawn, to the pixel: a shift of the 5 cm colour offset
    (about 3 px here) would break this."""
    from edgeact.data.synth_render import HEAD_RADIUS

    cfg = SynthConfig(seed=5, classes=1, performers=1, cameras=3, setups=1, replications=1, frames=16)
    for camera in (1, 2, 3):
        name = NtuName(1, camera, 1, 1, 1)
        sample = synthesize(cfg, name)
        changed = (sample.frames[0] != synthesize(cfg, name, person=False).frames[0]).any(axis=-1)
        (u, v), z = sample.skeleton.color_xy[0, 0, 3], sample.skeleton.joints[0, 0, 3, 2]
        r = HEAD_RADIUS * sample.camera.fx / z
        rows, cols = np.mgrid[0:changed.shape[0], 0:changed.shape[1]]
        dist = np.hypot(cols - u, rows - v)
        assert changed[dist < r - 1.0].all()
        upper_ring = (dist > r + 1.5) & (dist < r + 2.5) & (rows < v)
        assert upper_ring.sum() > 10 and not changed[upper_ring].any()
