"""prep trusts only what is still true: resume keyed on the input files, damaged input listed (not
cached as good data), one-line errors for nonsense options.

Datasets are made here: a 4-sample synthetic NTU tree (edgeact.data.synth) damaged by hand, and a
hand-written N-UCLA tree.
"""

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeact.cli import main
from edgeact.data.cache import pack_path, read_index
from edgeact.data.prep import PARTIAL, SETTINGS, PrepConfig, prepare
from edgeact.data.synth import SynthConfig, generate
from edgeact.errors import EdgeactError

FRAMES = 20


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust") / "synth"
    generate(root, SynthConfig(seed=1, classes=2, performers=1, cameras=1, setups=1, replications=2,
                               frames=FRAMES, width=96, height=72))
    return root


@pytest.fixture
def root(pristine, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(pristine, copy)
    return copy


def videos(root):
    return sorted((root / "nturgb+d_rgb").glob("*_rgb.avi"))


def skeleton_of(video: Path) -> Path:
    return video.parent.parent / "nturgb+d_skeletons" / f"{video.name[:20]}.skeleton"


def decode(path) -> list[np.ndarray]:
    """BGR frames OpenCV decodes from ``path`` (stops at the first failed read)."""
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


def write_mjpeg(path, frames):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()


def run(root, out, **kw):
    return prepare(PrepConfig(dataset="ntu", root=root, out=out, size=32, workers=1, **kw))


def by_name(rows):
    return {r["name"]: r for r in rows}


# --------------------------------------------------------------------------- 3: resume


def _blank_skeleton(video: Path) -> None:
    skeleton_of(video).write_bytes(b"0\r\n")                    # a real NTU quirk: no frames at all


def _cut_video(video: Path) -> None:
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage, status", [(_blank_skeleton, "no-skeleton"), (_cut_video, "damaged")])
def test_a_failed_sample_is_retried_once_its_input_is_fixed(root, tmp_path, damage, status):
    victim = videos(root)[0]
    name = victim.name[:20]
    good = {p: p.read_bytes() for p in (victim, skeleton_of(victim))}
    damage(victim)
    first = run(root, tmp_path / "c")
    assert by_name(first.problems)[name]["status"] == status
    for p, data in good.items():
        p.write_bytes(data)
    again = run(root, tmp_path / "c")
    assert (again.done, again.resumed) == (1, 3)                  # only the fixed sample is redone
    index = read_index(tmp_path / "c")
    assert name in by_name(index["samples"]) and not index["meta"]["excluded"]
    assert by_name(index["samples"])[name]["num_frames"] == len(decode(victim))


def test_a_sample_whose_input_changed_is_redone(root, tmp_path):
    run(root, tmp_path / "c")
    v = videos(root)
    shutil.copyfile(v[1], v[0])                                   # another clip under the first one's name
    again = run(root, tmp_path / "c")
    assert (again.done, again.resumed) == (1, 3)
    rec = by_name(read_index(tmp_path / "c")["meta"]["excluded"])[v[0].name[:20]]
    assert rec["status"] == "damaged" and "skeleton" in rec["reason"]      # its frames no longer match its rows
    assert not pack_path(tmp_path / "c", v[0].name[:20]).exists()          # the old clip's pack is gone


def test_another_root_is_refused_the_same_root_by_another_path_is_not(root, pristine, tmp_path):
    run(root, tmp_path / "c")
    with pytest.raises(EdgeactError, match=r"was prepared with other settings \(root=.*data\)"):
        run(pristine, tmp_path / "c")
    link = tmp_path / "link"
    link.symlink_to(root, target_is_directory=True)
    assert run(link, tmp_path / "c").resumed == 4


def test_a_cache_from_before_input_keys_redoes_every_sample(root, tmp_path):
    out = tmp_path / "c"
    run(root, out)
    settings = json.loads((out / SETTINGS).read_text())
    (out / SETTINGS).write_text(json.dumps({k: v for k, v in settings.items() if k not in ("version", "root")}))
    lines = [json.loads(line) for line in (out / PARTIAL).read_text().splitlines()]
    (out / PARTIAL).write_text("".join(json.dumps({k: v for k, v in r.items() if k != "inputs"}) + "\n" for r in lines))
    again = run(root, out)
    assert (again.done, again.resumed) == (4, 0)                  # nothing trusted without its input key
    assert json.loads((out / SETTINGS).read_text())["root"] == str(root.resolve())


# --------------------------------------------------------------------------- 4: damaged input


def test_video_cut_in_half_is_listed_with_the_counts(root, tmp_path):
    victim = videos(root)[0]
    total = len(decode(victim))
    _cut_video(victim)
    ok = len(decode(victim))
    assert 0 < ok < total
    report = run(root, tmp_path / "c")
    rec = by_name(report.problems)[victim.name[:20]]
    assert rec["status"] == "damaged" and rec["reason"] == f"{ok} of {total} frames decode"
    assert victim.name[:20] not in by_name(read_index(tmp_path / "c")["samples"])


def test_frames_zeroed_mid_file_are_counted(root, tmp_path):
    victim = videos(root)[1]
    frames = decode(victim)
    for f in frames[5:9]:
        f[:] = 0
    write_mjpeg(victim, frames)
    rec = by_name(run(root, tmp_path / "c").problems)[victim.name[:20]]
    assert rec["reason"] == f"4 of {len(frames)} frames all black (frames 5-8)"


def test_video_shorter_than_its_skeleton_is_listed(root, tmp_path):
    victim = videos(root)[2]
    frames = decode(victim)
    write_mjpeg(victim, frames[:-3])
    rec = by_name(run(root, tmp_path / "c").problems)[victim.name[:20]]
    assert rec["reason"] == f"video has {len(frames) - 3} frames, skeleton {len(frames)} rows"


def _append_frames(skeleton: Path, k: int) -> int:
    """Copy the last frame block ``k`` more times without touching the header; the header count."""
    lines = skeleton.read_bytes().decode().rstrip("\r\n").split("\r\n")
    last = lines[-(3 + 25):]
    assert last[0] == "1" and last[2] == "25"                     # one body: count, info, joint count, 25 joints
    skeleton.write_bytes(("\r\n".join(lines + last * k) + "\r\n").encode())
    return int(lines[0])


def test_skeleton_with_frames_beyond_its_header_is_listed(root, tmp_path):
    victim = videos(root)[3]
    n = _append_frames(skeleton_of(victim), 3)
    rec = by_name(run(root, tmp_path / "c").problems)[victim.name[:20]]
    assert rec["reason"] == f"skeleton header counts {n} frames, the file holds {n + 3}"


def test_keep_damaged_caches_them_listed_and_a_rerun_keeps_the_findings(root, tmp_path):
    from cli_ok import cli_ok

    cut, short = videos(root)[0], videos(root)[2]
    _cut_video(cut)
    write_mjpeg(short, decode(short)[:-3])
    names = {cut.name[:20], short.name[:20]}
    out = tmp_path / "c"
    args = ["prep", "--dataset", "ntu", "--root", root, "--out", out, "--resize", "32", "--workers", "1"]
    text = cli_ok(args)
    assert "2 sample(s) left out" in text and text.count("damaged") >= 2 and "frames decode" in text
    meta = read_index(out)["meta"]
    assert {e["name"] for e in meta["excluded"] if e["status"] == "damaged"} == names
    rerun = cli_ok(args)                                          # nothing redone, nothing forgotten
    assert "prepared 0 samples (4 already done)" in rerun and "2 sample(s) left out" in rerun
    assert read_index(out)["meta"]["excluded"] == meta["excluded"]
    kept = cli_ok(args + ["--keep-damaged"])
    assert "prepared 2 samples (2 already done)" in kept and "2 damaged sample(s) kept (--keep-damaged)" in kept
    index = read_index(out)
    assert {d["name"] for d in index["meta"]["damaged_kept"]} == names and not index["meta"]["excluded"]
    assert all(by_name(index["samples"])[n]["damage"] for n in names)
    assert all(pack_path(out, n).is_file() for n in names)
    cli_ok(args)                                                  # without the flag again: left out, packs gone
    assert {e["name"] for e in read_index(out)["meta"]["excluded"]} == names
    assert not any(pack_path(out, n).exists() for n in names)


# --------------------------------------------------------------------------- N-UCLA


def nucla_tree(root: Path, frames: int = 4) -> Path:
    rng = np.random.default_rng(0)
    k = np.arange(20)
    joints = np.stack([-0.3 + 0.03 * k, 0.5 - 0.05 * k, np.full(20, 3.0)], axis=-1)   # (20, 3), metres
    rows = "\n".join(["1"] + [f"{x:.6f},{y:.6f},{z:.6f},2" for x, y, z in joints]) + "\n"
    for view in (1, 2, 3):
        folder = root / "multiview_action" / f"view_{view}" / "a05_s01_e00"
        folder.mkdir(parents=True)
        for n in range(frames):
            cv2.imwrite(str(folder / f"frame_{n}_tc_{100 + n}_rgb.jpg"), rng.integers(0, 255, (480, 640, 3), np.uint8))
            (folder / f"frame_{n}_tc_{100 + n}_skeletons.txt").write_text(rows)
    return root


def nucla(root, out, **kw):
    return prepare(PrepConfig(dataset="nucla", root=root, out=out, size=16, workers=1, **kw))


def test_nucla_unreadable_frame_is_damaged_and_a_fixed_folder_is_redone(tmp_path):
    root = nucla_tree(tmp_path / "n")
    bad = root / "multiview_action" / "view_2" / "a05_s01_e00" / "frame_1_tc_101_rgb.jpg"
    good = bad.read_bytes()
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    report = nucla(root, tmp_path / "c")
    assert by_name(report.problems)["a05_s01_e00_v2"]["reason"] == "3 of 4 frames decode"
    bad.write_bytes(good)
    again = nucla(root, tmp_path / "c")
    assert (again.done, again.resumed) == (1, 2) and not again.problems


@pytest.mark.parametrize("cx, cy", [(0, 583.68), (554.84, 0), (2e5, 583.68)])
def test_nucla_degenerate_calibration_is_an_error(tmp_path, cx, cy):
    root = nucla_tree(tmp_path / "n", frames=1)
    calib = tmp_path / "cal.json"
    calib.write_text(json.dumps({"cx": cx, "cy": cy, "bx": 320, "by": 240}))
    with pytest.raises(EdgeactError, match=r"cal\.json.*\bc[xy]\b"):   # the message is load_calibration's
        nucla(root, tmp_path / "c", calib=calib)
    assert not (tmp_path / "c").exists()                          # refused before anything is written


def test_nucla_cache_made_with_another_calibration_is_refused(tmp_path):
    root = nucla_tree(tmp_path / "n", frames=1)
    nucla(root, tmp_path / "c")                                   # calibration/nucla.json
    calib = tmp_path / "cal.json"
    calib.write_text(json.dumps({"cx": 500.0, "cy": 583.68, "bx": 320, "by": 240}))
    with pytest.raises(EdgeactError, match=r"other settings \(calibration="):
        nucla(root, tmp_path / "c", calib=calib)


# --------------------------------------------------------------------------- 6: one line, never a traceback


@pytest.mark.parametrize("extra, option", [
    (["--out", "{file}"], "--out"),
    (["--out", "{root}"], "--out"),
    (["--workers", "-1"], "--workers"),
    (["--resize", "0"], "--resize"),
    (["--resize", "100000"], "--resize"),
    (["--margin", "-0.1"], "--margin"),
    (["--limit", "0"], "--limit"),
    (["--limit", "-2"], "--limit"),
])
def test_nonsense_options_are_one_line(pristine, tmp_path, monkeypatch, capsys, extra, option):
    file = tmp_path / "a-file"
    file.write_text("keep me")
    extra = [a.format(file=file, root=pristine) for a in extra]
    args = ["prep", "--dataset", "ntu", "--root", str(pristine), "--out", str(tmp_path / "c"), *extra]
    monkeypatch.setattr(sys, "argv", ["edgeact", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out, err = capsys.readouterr()
    assert exit_.value.code == 2 and out == ""
    assert err.startswith(f"error: {option}") and err.count("\n") == 1 and "Traceback" not in err
    assert file.read_text() == "keep me" and not (tmp_path / "c").exists()
