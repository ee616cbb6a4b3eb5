"""N-UCLA: skeleton text files, sample folders, folder scan and view splits on a hand-made tree.

Skeleton rows written here: joint k of body b in frame n is
``x = 0.1 k + b, y = -0.05 k + 0.01 n, z = 2 + 0.01 k``, confidence ``1 + (k % 2)``.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from edgeact.data.nucla import (
    BENCHMARKS,
    DEFAULT_CALIBRATION,
    NUCLA_CLASSES,
    find_nucla_samples,
    label_of_action,
    read_nucla_sample,
    read_nucla_skeleton_file,
    split_of_nucla,
    view_of_folder,
)
from edgeact.errors import EdgeactError

K = np.arange(20)


def xyz(n, b=0):
    return np.stack([0.1 * K + b, -0.05 * K + 0.01 * n, 2 + 0.01 * K], axis=-1)


def body_text(n, b=0, header="1", sep=",", conf=True, eol="\n"):
    rows = [] if header is None else [header]
    for k in range(20):
        vals = [f"{0.1 * k + b:.6f}", f"{-0.05 * k + 0.01 * n:.6f}", f"{2 + 0.01 * k:.6f}"]
        if conf:
            vals.append(str(1 + k % 2))
        rows.append(sep.join(vals))
    return eol.join(rows) + eol


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


# --------------------------------------------------------------------------- one skeleton file


def test_skeleton_file_one_body_with_header(tmp_path):
    joints, conf = read_nucla_skeleton_file(write(tmp_path / "s.txt", body_text(3)))
    assert joints.shape == (1, 20, 3) and joints.dtype == np.float32
    np.testing.assert_allclose(joints[0], xyz(3), atol=1e-6)
    assert conf[0].tolist() == [1.0, 2.0] * 10


@pytest.mark.parametrize("variant", [
    dict(eol="\r\n"), dict(sep=" "), dict(sep=", "), dict(header=None), dict(conf=False),
])
def test_skeleton_file_variants(tmp_path, variant):
    joints, conf = read_nucla_skeleton_file(write(tmp_path / "s.txt", body_text(3, **variant)))
    np.testing.assert_allclose(joints[0], xyz(3), atol=1e-6)
    assert np.isnan(conf).all() == (variant.get("conf") is False)


def test_skeleton_file_several_bodies_and_empty(tmp_path):
    text = body_text(0, 0, header="7") + "\n" + body_text(0, 1, header="9")
    joints, _ = read_nucla_skeleton_file(write(tmp_path / "two.txt", text))
    assert joints.shape == (2, 20, 3)
    np.testing.assert_allclose(joints[1], xyz(0, 1), atol=1e-6)
    headless = body_text(0, 0, header=None) + body_text(0, 1, header=None)   # 40 rows, no header
    assert read_nucla_skeleton_file(write(tmp_path / "nh.txt", headless))[0].shape == (2, 20, 3)
    joints, conf = read_nucla_skeleton_file(write(tmp_path / "empty.txt", ""))
    assert joints.shape == (0, 20, 3) and conf.shape == (0, 20)


def test_skeleton_file_errors_name_file_and_line(tmp_path):
    rows = body_text(0).splitlines()
    short = write(tmp_path / "short.txt", "\n".join(rows[:20]) + "\n")      # header + 19 joints
    with pytest.raises(EdgeactError, match=r"short\.txt:20: a body needs 20 joint rows, found a run of 19"):
        read_nucla_skeleton_file(short)
    rows5 = rows.copy()
    rows5[4] = "0.1,0.2,0.3,1,5"
    with pytest.raises(EdgeactError, match=r"five\.txt:5: expected x,y,z\[,confidence\] per joint, got 5 values"):
        read_nucla_skeleton_file(write(tmp_path / "five.txt", "\n".join(rows5)))
    rows[7] = "0.1,zero,0.3,1"
    with pytest.raises(EdgeactError, match=r"bad\.txt:8: malformed number"):
        read_nucla_skeleton_file(write(tmp_path / "bad.txt", "\n".join(rows)))


# --------------------------------------------------------------------------- folders


def make_tree(root: Path) -> Path:
    mv = root / "multiview_action"
    s = mv / "view_1" / "a01_s01_e00"
    for n, tc in [(0, 100), (1, 133), (2, 166), (10, 400)]:
        write(s / f"frame_{n}_tc_{tc}_rgb.jpg")
        write(s / f"frame_{n}_tc_{tc}_depth.png")
    write(s / "frame_0_tc_100_skeletons.txt", body_text(0))
    write(s / "frame_1_tc_133_skeletons.txt", "")                 # no body in frame 1
    write(s / "frame_10_tc_400_skeletons.txt", body_text(10))      # frame 2 has no skeleton file
    write(s / "frame_11_tc_433_skeletons.txt", body_text(11))      # no RGB frame: not used
    write(s / "fileList.txt", "0 100\n1 133\n")
    two = mv / "view2" / "a12_s02_e01"
    write(two / "frame_5_tc_9_rgb.jpg")
    write(two / "frame_5_tc_9_skeletons.txt", body_text(5, 0) + body_text(5, 1, header="2"))
    write(mv / "view_1" / "a02_s01_e00" / "frame_0_tc_1_rgb.jpg")             # no skeleton files
    zero = mv / "view_1" / "a04_s01_e00"
    write(zero / "frame_0_tc_1_rgb.jpg")
    write(zero / "frame_0_tc_1_skeletons.txt", "1\n" + "0,0,0,0\n" * 20)       # all-zero body
    write(mv / "View3" / "a07_s01_e00" / "frame_0_tc_1_rgb.jpg")              # not an N-UCLA action
    write(mv / "View3" / "a03_s01_e02" / "frame_0_tc_1_skeletons.txt", body_text(0))   # no RGB
    write(mv / "View3" / "a05_s03_e00" / "frame_0_tc_1_rgb.jpg")
    write(mv / "View3" / "a05_s03_e00" / "frame_0_tc_1_skeletons.txt", body_text(0))
    (mv / "view_1" / "notes").mkdir()
    return root


def test_read_sample_aligns_skeletons_with_rgb_frames(tmp_path):
    make_tree(tmp_path)
    folder = tmp_path / "multiview_action" / "view_1" / "a01_s01_e00"
    s = read_nucla_sample(folder)
    assert (s.name, s.view, s.action, s.subject, s.environment, s.label) == ("a01_s01_e00_v1", 1, 1, 1, 0, 0)
    assert s.frame_numbers.tolist() == [0, 1, 2, 10]                              # numeric, not text order
    assert [p.name for p in s.frames] == ["frame_0_tc_100_rgb.jpg", "frame_1_tc_133_rgb.jpg",
                                          "frame_2_tc_166_rgb.jpg", "frame_10_tc_400_rgb.jpg"]
    assert s.joints.shape == (4, 1, 20, 3) and s.confidence.shape == (4, 1, 20)
    assert s.present[:, 0].tolist() == [True, False, False, True]
    np.testing.assert_allclose(s.joints[0, 0], xyz(0), atol=1e-6)
    np.testing.assert_allclose(s.joints[3, 0], xyz(10), atol=1e-6)
    assert np.isnan(s.joints[1:3]).all() and np.isnan(s.confidence[1:3]).all()
    assert s.usable and (s.num_frames, s.num_bodies) == (4, 1)


def test_read_sample_two_bodies_and_cap(tmp_path):
    make_tree(tmp_path)
    folder = tmp_path / "multiview_action" / "view2" / "a12_s02_e01"
    s = read_nucla_sample(folder)
    assert (s.name, s.view, s.label) == ("a12_s02_e01_v2", 2, 9)
    assert s.joints.shape == (1, 2, 20, 3)
    np.testing.assert_allclose(s.joints[0, 1], xyz(5, 1), atol=1e-6)
    assert read_nucla_sample(folder, max_bodies=1).joints.shape == (1, 1, 20, 3)


def test_read_sample_errors(tmp_path):
    make_tree(tmp_path)
    with pytest.raises(EdgeactError, match="no such N-UCLA sample folder"):
        read_nucla_sample(tmp_path / "nowhere")
    with pytest.raises(EdgeactError, match="a07 is not one of the 10 N-UCLA actions"):
        read_nucla_sample(tmp_path / "multiview_action" / "View3" / "a07_s01_e00")
    with pytest.raises(EdgeactError, match="'notes' is not an N-UCLA sample folder name"):
        read_nucla_sample(tmp_path / "multiview_action" / "view_1" / "notes")


def test_find_samples(tmp_path):
    make_tree(tmp_path)
    calls = []
    for root in (tmp_path, tmp_path / "multiview_action"):       # parent of multiview_action works too
        entries, report = find_nucla_samples(root, progress=lambda d, t: calls.append((d, t)))
        assert [e.name for e in entries] == ["a01_s01_e00_v1", "a02_s01_e00_v1", "a04_s01_e00_v1",
                                             "a12_s02_e01_v2", "a05_s03_e00_v3"]
        assert report.views == (1, 2, 3) and report.skipped_folders == 3
    by = {e.name: e for e in entries}
    assert by["a01_s01_e00_v1"].problem is None and len(by["a01_s01_e00_v1"].frames) == 4
    assert by["a01_s01_e00_v1"].skeleton_files == 4
    assert by["a02_s01_e00_v1"].problem == "no skeleton files"
    assert by["a04_s01_e00_v1"].problem == "no usable skeleton in any frame"
    assert (by["a05_s03_e00_v3"].view, by["a05_s03_e00_v3"].label) == (3, 4)
    reasons = {Path(p.name).name: p.reason for p in report.problems}
    assert "a07 is not one of the 10" in reasons["a07_s01_e00"]
    assert reasons["a03_s01_e02_v3"].startswith("no RGB frames")
    assert "not an N-UCLA sample folder" in reasons["notes"]
    assert calls[-6:] == [(k, 6) for k in range(1, 7)]


def test_find_samples_bad_roots(tmp_path):
    with pytest.raises(EdgeactError, match="no view_1 / view_2 / view_3 folders"):
        find_nucla_samples(tmp_path)
    (tmp_path / "view_1").mkdir()
    (tmp_path / "View1").mkdir()
    with pytest.raises(EdgeactError, match="view 1 appears twice"):
        find_nucla_samples(tmp_path)
    with pytest.raises(EdgeactError, match="no such dataset folder"):
        find_nucla_samples(tmp_path / "missing")


# --------------------------------------------------------------------------- names, splits, calibration


@pytest.mark.parametrize("name, view", [("view_1", 1), ("view1", 1), ("View1", 1), ("View_3", 3),
                                        ("view", None), ("views_1", None), ("a01_s01_e00", None)])
def test_view_folder_names(name, view):
    assert view_of_folder(name) == view


@pytest.mark.parametrize("view, benchmark, split", [
    (1, "nucla-view1", "test"), (2, "nucla-view1", "train"), (3, "nucla-view1", "train"),
    (2, "nucla-view2", "test"), (1, "nucla-view2", "train"),
    (3, "nucla-view3", "test"), (1, "nucla-view3", "train"), (2, "nucla-view3", "train"),
])
def test_split_of_nucla(view, benchmark, split):
    assert split_of_nucla(view, benchmark) == split


def test_split_of_nucla_errors():
    with pytest.raises(EdgeactError, match="'nucla-view4'.*nucla-view1, nucla-view2, nucla-view3"):
        split_of_nucla(1, "nucla-view4")
    with pytest.raises(EdgeactError, match="view must be 1, 2 or 3, got 4"):
        split_of_nucla(4, "nucla-view1")
    assert BENCHMARKS == ("nucla-view1", "nucla-view2", "nucla-view3")


def test_nucla_classes_and_labels():
    assert NUCLA_CLASSES.names == ("pick up with one hand", "pick up with two hands", "drop trash", "walk around",
                                   "sit down", "stand up", "donning", "doffing", "throw", "carry")
    assert [label_of_action(a) for a in (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)] == list(range(10))
    assert NUCLA_CLASSES.mirror == ()
    with pytest.raises(EdgeactError, match="a10 is not one of the 10 N-UCLA actions"):
        label_of_action(10)


def test_default_calibration_file():
    assert DEFAULT_CALIBRATION.name == "nucla.json" and DEFAULT_CALIBRATION.parent.name == "calibration"
    d = json.loads(DEFAULT_CALIBRATION.read_text())
    assert d == {"model": "eq1", "cx": 554.84, "cy": 583.68, "bx": 320.0, "by": 240.0, "source": "paper §3.1"}
