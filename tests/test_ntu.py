"""NTU RGB+D: .skeleton reader/writer on hand-written fixtures, sample names, splits, folder scan.

Fixture values (tests/data/ntu/) follow simple formulas so the expectations are recomputed here:
two_bodies_*: body A (id ...101) in frames 1 and 2, body B (...102) in frame 2 listed before A,
frame 3 empty; A frame t joint j: x = 0.01 j + 0.1 t, y = -0.5 + 0.02 j (joint 0 of frame 1 is
-7.257856E-05 instead), z = 3 + 0.001 j, depth (200 + j, 100 + t), colour (900 + 2 j, 500 + t);
B: x = 1 + 0.01 j + 0.1 t, y = -0.4 + 0.02 j, z = 3.5 + 0.001 j, depth (300 + j, 110 + t),
colour (1200 + 2 j, 520 + t). Tracking 2, except joint 23 -> 0 and joint 24 -> 1.
three_bodies: frame 1 {Z, X}, frame 2 {Y, X}, frame 3 {X, Y}; x of joint 0 = 1 (X), 2 (Y), 3 (Z).
"""

from pathlib import Path

import numpy as np
import pytest

from edgeact.data.ntu import (
    BENCHMARKS,
    NTU60_CLASSES,
    NTU120_CLASSES,
    Skeleton,
    find_ntu_samples,
    format_skeleton,
    parse_name,
    read_skeleton,
    split_of,
    write_skeleton,
)
from edgeact.errors import EdgeactError

DATA = Path(__file__).parent / "data" / "ntu"
A, B = "72057594037931101", "72057594037931102"
X, Y, Z = "72057594037931201", "72057594037931202", "72057594037931203"
J = np.arange(25)


def expected_a(t):
    xyz = np.stack([0.01 * J + 0.1 * t, -0.5 + 0.02 * J, 3.0 + 0.001 * J], axis=-1)
    if t == 1:
        xyz[0, 1] = -7.257856e-05
    return xyz, np.stack([200 + J, np.full(25, 100 + t)], -1), np.stack([900 + 2 * J, np.full(25, 500 + t)], -1)


def expected_b(t):
    xyz = np.stack([1.0 + 0.01 * J + 0.1 * t, -0.4 + 0.02 * J, 3.5 + 0.001 * J], axis=-1)
    return xyz, np.stack([300 + J, np.full(25, 110 + t)], -1), np.stack([1200 + 2 * J, np.full(25, 520 + t)], -1)


# --------------------------------------------------------------------------- reading fixtures


def test_crlf_two_bodies_values_and_layout():
    s = read_skeleton(DATA / "two_bodies_crlf.skeleton")
    assert s.joints.shape == (3, 2, 25, 3) and s.joints.dtype == np.float32
    assert s.depth_xy.shape == s.color_xy.shape == (3, 2, 25, 2)
    assert s.tracking.shape == (3, 2, 25) and s.tracking.dtype == np.int8
    assert s.body_ids == (A, B)                        # by first appearance, not by file order in frame 2
    assert s.present.tolist() == [[True, False], [True, True], [False, False]]
    assert (s.num_frames, s.num_bodies, s.usable) == (3, 2, True)
    for t, slot, fn in [(1, 0, expected_a), (2, 0, expected_a), (2, 1, expected_b)]:
        xyz, depth, color = fn(t)
        np.testing.assert_allclose(s.joints[t - 1, slot], xyz, rtol=0, atol=1e-6)
        np.testing.assert_allclose(s.depth_xy[t - 1, slot], depth, rtol=0, atol=1e-4)
        np.testing.assert_allclose(s.color_xy[t - 1, slot], color, rtol=0, atol=1e-4)
        assert s.tracking[t - 1, slot].tolist() == [2] * 23 + [0, 1]
    assert s.joints[0, 0, 0, 1] == np.float32(-7.257856e-05)   # scientific notation
    assert s.joints[0, 0, 1, 2] == np.float32(3.001)           # 3.001E+00
    # absent rows: NaN / -1 (B in frame 1, everyone in the empty frame 3)
    for t, slot in [(0, 1), (2, 0), (2, 1)]:
        assert np.isnan(s.joints[t, slot]).all() and np.isnan(s.color_xy[t, slot]).all()
        assert np.isnan(s.depth_xy[t, slot]).all() and (s.tracking[t, slot] == -1).all()
    assert s.report.empty_frames == (2,)
    assert s.report.dropped_bodies == () and s.report.duplicate_entries == 0


def test_lf_and_crlf_read_the_same():
    a = read_skeleton(DATA / "two_bodies_crlf.skeleton")
    b = read_skeleton(DATA / "two_bodies_lf.skeleton")
    assert (DATA / "two_bodies_crlf.skeleton").read_bytes().count(b"\r\n") == 85
    assert b"\r" not in (DATA / "two_bodies_lf.skeleton").read_bytes()
    for f in ("joints", "depth_xy", "color_xy"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert np.array_equal(a.tracking, b.tracking) and np.array_equal(a.present, b.present)
    assert a.body_ids == b.body_ids


def test_more_bodies_than_max_bodies_keeps_most_present_in_first_appearance_order():
    s = read_skeleton(DATA / "three_bodies.skeleton", max_bodies=2)
    assert s.body_ids == (X, Y)            # Z appears first but only in one frame: dropped
    assert s.present.tolist() == [[True, False], [True, True], [True, True]]
    assert s.joints[:, 0, 0, 0].tolist() == [1.0, 1.0, 1.0]          # slot 0 holds X in every frame
    np.testing.assert_array_equal(s.joints[1:, 1, 0, 0], [2.0, 2.0])
    np.testing.assert_allclose(s.joints[:, 0, 0, 1], [0.1, 0.2, 0.3], atol=1e-7)
    assert len(s.report.dropped_bodies) == 1
    d = s.report.dropped_bodies[0]
    assert (d.body_id, d.frames, d.usable_frames) == (Z, 1, 1)
    assert Z in s.report.summary()


def test_all_bodies_kept_when_max_bodies_allows():
    s = read_skeleton(DATA / "three_bodies.skeleton", max_bodies=4)
    assert s.body_ids == (Z, X, Y)
    assert s.present.tolist() == [[True, True, False], [False, True, True], [False, True, True]]
    assert s.report.dropped_bodies == ()
    one = read_skeleton(DATA / "three_bodies.skeleton", max_bodies=1)
    assert one.body_ids == (X,) and {d.body_id for d in one.report.dropped_bodies} == {Y, Z}


def test_all_zero_skeleton_is_unusable_not_an_error():
    s = read_skeleton(DATA / "all_zero.skeleton")
    assert s.usable is False
    assert s.present.all() and s.body_ids == ("72057594037931301",)
    assert not s.valid.any()
    assert s.report.unusable_bodies == ("72057594037931301",) and s.report.unusable_entries == 2


def test_frames_without_bodies():
    s = read_skeleton(DATA / "no_bodies.skeleton")
    assert s.usable is False
    assert s.joints.shape == (2, 0, 25, 3) and s.present.shape == (2, 0) and s.body_ids == ()
    assert s.report.empty_frames == (0, 1)


def test_truncated_file_names_file_and_line():
    with pytest.raises(EdgeactError, match=r"truncated\.skeleton:43: expected 12 numbers per joint, got 7"):
        read_skeleton(DATA / "truncated.skeleton")


def test_file_cut_at_a_line_end(tmp_path):
    lines = (DATA / "truncated.skeleton").read_text().splitlines()[:42]   # frame 2 has 10 joint lines
    p = tmp_path / "cut.skeleton"
    p.write_text("\r\n".join(lines) + "\r\n")
    with pytest.raises(EdgeactError, match=r"cut\.skeleton:43: file ends early: body 1 of frame 2 of 2 "
                                           r"has 10 of 25 joint lines"):
        read_skeleton(p)
    p.write_text("3\n0\n0\n")      # 3 frames announced, 2 present
    with pytest.raises(EdgeactError, match=r"cut\.skeleton:4: file ends early: expected the body count of frame 3"):
        read_skeleton(p)


def test_malformed_number_names_line_and_token():
    with pytest.raises(EdgeactError, match=r"malformed\.skeleton:14: malformed number '0\.1O5'"):
        read_skeleton(DATA / "malformed.skeleton")


def _fixture_lines(name="two_bodies_lf.skeleton"):
    return (DATA / name).read_text().splitlines()


@pytest.mark.parametrize("line_no, text, message", [
    (1, "three", r":1: expected the frame count, got 'three'"),
    (2, "x", r":2: expected the body count of frame 1 of 3"),
    (3, f"{A} 0 1 1 1 1 0 0.1 0.2", r":3: expected 10 body-info values \(body 1 of frame 1 of 3\), got 9"),
    (4, "20", r":4: expected 25 joints \(body 1 of frame 1 of 3\), got 20"),
    (9, "", r":9: expected 12 numbers per joint, got 0"),
    (9, "0.1 0.2 0.3 1 2 3 4 0 0 0 0 2 7", r":9: expected 12 numbers per joint, got 13"),
    (60, "0.1 0.2 0.3 1 2 3 4 0 0 0 0 two", r":60: malformed number 'two'"),
])
def test_malformed_structure(tmp_path, line_no, text, message):
    lines = _fixture_lines()
    lines[line_no - 1] = text
    p = tmp_path / "bad.skeleton"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(EdgeactError, match=r"bad\.skeleton" + message):
        read_skeleton(p)


def test_missing_file_and_bad_max_bodies(tmp_path):
    with pytest.raises(EdgeactError, match="nope.skeleton: no such skeleton file"):
        read_skeleton(tmp_path / "nope.skeleton")
    with pytest.raises(EdgeactError, match="max_bodies"):
        read_skeleton(DATA / "two_bodies_lf.skeleton", max_bodies=0)


def test_repeated_id_in_a_frame_keeps_the_first_entry(tmp_path):
    text = (DATA / "two_bodies_lf.skeleton").read_text().replace(B, A)   # frame 2: A (B's values), A
    p = tmp_path / "dup.skeleton"
    p.write_text(text)
    s = read_skeleton(p)
    assert s.body_ids == (A,) and s.report.duplicate_entries == 1
    np.testing.assert_allclose(s.joints[1, 0], expected_b(2)[0], atol=1e-6)


def test_trailing_lines_are_reported(tmp_path):
    p = tmp_path / "extra.skeleton"
    p.write_text((DATA / "no_bodies.skeleton").read_text() + "0\n\n")
    assert read_skeleton(p).report.trailing_lines == 1


def test_usable_frames_win_over_all_zero_bodies(tmp_path):
    joints = np.zeros((3, 2, 25, 3), np.float32)          # body "Z" present in 3 frames, all zero
    joints[1, 1] = 0.5                                    # body "X" present in frame 1 only
    present = np.array([[True, False], [True, True], [True, False]])
    write_skeleton(tmp_path / "z.skeleton", Skeleton.build(joints, present=present, body_ids=["9", "8"]))
    s = read_skeleton(tmp_path / "z.skeleton", max_bodies=1)
    assert s.body_ids == ("8",) and s.usable
    assert s.report.dropped_bodies[0].body_id == "9" and s.report.dropped_bodies[0].usable_frames == 0


# --------------------------------------------------------------------------- writing


def _random_skeleton(rng, t=6, b=3):
    joints = rng.normal(0, 1, (t, b, 25, 3)).astype(np.float32)
    joints[..., 0, 0] = np.float32(-7.257856e-05)
    present = rng.random((t, b)) < 0.7
    present[2] = False                                     # a frame without bodies
    return Skeleton.build(joints, present=present,
                          color_xy=rng.uniform(0, 1920, (t, b, 25, 2)).astype(np.float32),
                          depth_xy=rng.uniform(0, 512, (t, b, 25, 2)).astype(np.float32),
                          tracking=rng.integers(0, 3, (t, b, 25)),
                          body_ids=["72057594037931101", "72057594037931102", "5"])


def test_write_read_round_trip_is_exact(tmp_path):
    s = _random_skeleton(np.random.default_rng(0))
    p = tmp_path / "out" / "S001C001P001R001A001.skeleton"
    write_skeleton(p, s)
    raw = p.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") > 0              # CRLF only
    assert [f.name for f in p.parent.iterdir()] == [p.name]         # no temp file left behind
    lines = raw.decode().split("\r\n")
    assert lines[0] == "6"
    first_body = next(i for i in range(1, 4) if len(lines[i].split()) == 10)
    assert len(lines[first_body].split()) == 10 and lines[first_body + 1] == "25"
    assert len(lines[first_body + 2].split()) == 12
    r = read_skeleton(p, max_bodies=3)
    ids_order = [s.body_ids.index(i) for i in r.body_ids]          # reader orders by first appearance
    for f in ("joints", "depth_xy", "color_xy"):
        np.testing.assert_array_equal(getattr(r, f), getattr(s, f)[:, ids_order])
    np.testing.assert_array_equal(r.tracking, s.tracking[:, ids_order])
    np.testing.assert_array_equal(r.present, s.present[:, ids_order])
    assert r.report.empty_frames[0] == 2


def test_fixture_survives_write_and_read(tmp_path):
    s = read_skeleton(DATA / "two_bodies_crlf.skeleton")
    write_skeleton(tmp_path / "copy.skeleton", s)
    r = read_skeleton(tmp_path / "copy.skeleton")
    assert r.body_ids == s.body_ids
    for f in ("joints", "depth_xy", "color_xy", "tracking", "present"):
        np.testing.assert_array_equal(getattr(r, f), getattr(s, f))


def test_writer_rejects_what_it_cannot_write():
    joints = np.ones((1, 1, 25, 3), np.float32)
    with pytest.raises(EdgeactError, match="body id 'a b'"):
        format_skeleton(Skeleton.build(joints, body_ids=["a b"]))
    bad = joints.copy()
    bad[0, 0, 3, 1] = np.nan
    with pytest.raises(EdgeactError, match="body 1 in frame 0"):
        format_skeleton(Skeleton.build(bad, present=np.array([[True]])))
    with pytest.raises(EdgeactError, match=r"Skeleton.joints must have shape \(1, 1, 25, 3\)"):
        s = Skeleton.build(joints)
        Skeleton(joints=joints[:, :, :20], depth_xy=s.depth_xy, color_xy=s.color_xy, tracking=s.tracking,
                 body_ids=s.body_ids, present=s.present)


# --------------------------------------------------------------------------- names and splits


@pytest.mark.parametrize("text, ids", [
    ("S001C002P003R002A013", (1, 2, 3, 2, 13)),
    ("S017C003P020R002A060_rgb.avi", (17, 3, 20, 2, 60)),
    ("/data/nturgb+d_skeletons/S032C001P106R001A120.skeleton", (32, 1, 106, 1, 120)),
    (Path("x") / "S018C002P045R001A061_rgb.avi", (18, 2, 45, 1, 61)),
])
def test_parse_name(text, ids):
    n = parse_name(text)
    assert (n.setup, n.camera, n.performer, n.replication, n.action) == ids
    assert n.label == ids[4] - 1
    assert parse_name(n.name) == n and n.name == Path(str(text)).name[:20]


@pytest.mark.parametrize("bad", ["S001C002P003R002A13", "s001c002p003r002a013", "S000C001P001R001A001",
                                 "S001C002P003R002A013.txt", "clip_rgb.avi", ""])
def test_parse_name_rejects(bad):
    with pytest.raises(EdgeactError, match="not an NTU sample name"):
        parse_name(bad)


@pytest.mark.parametrize("name, benchmark, split", [
    ("S001C001P001R001A001", "ntu60-xsub", "train"),
    ("S001C001P003R001A001", "ntu60-xsub", "test"),
    ("S017C002P038R002A060", "ntu60-xsub", "train"),
    ("S017C002P040R002A060", "ntu60-xsub", "test"),
    ("S001C001P045R001A001", "ntu60-xsub", "test"),      # 45 trains only in NTU120
    ("S001C001P045R001A001", "ntu120-xsub", "train"),
    ("S020C001P103R001A100", "ntu120-xsub", "train"),
    ("S020C001P104R001A100", "ntu120-xsub", "test"),
    ("S020C001P003R001A100", "ntu120-xsub", "test"),
    ("S005C001P001R001A010", "ntu60-xview", "test"),
    ("S005C002P003R001A010", "ntu60-xview", "train"),
    ("S005C003P003R001A010", "ntu60-xview", "train"),
    ("S005C004P003R001A010", "ntu60-xview", None),
    ("S001C001P001R001A061", "ntu60-xsub", None),        # NTU120 action
    ("S018C001P001R001A001", "ntu60-xview", None),       # NTU120 setup
    ("S018C001P001R001A061", "ntu120-xset", "train"),
    ("S019C001P001R001A061", "ntu120-xset", "test"),
    ("S001C001P001R001A001", "ntu120-xset", "test"),
    ("S032C003P106R002A120", "ntu120-xset", "train"),
    ("S033C001P001R001A001", "ntu120-xset", None),
    ("S001C001P001R001A121", "ntu120-xsub", None),
])
def test_split_of(name, benchmark, split):
    assert split_of(name, benchmark) == split
    assert split_of(parse_name(name), benchmark) == split


def test_xsub_training_subject_counts():
    assert sum(split_of(f"S001C001P{p:03d}R001A001", "ntu60-xsub") == "train" for p in range(1, 41)) == 20
    assert sum(split_of(f"S001C001P{p:03d}R001A001", "ntu120-xsub") == "train" for p in range(1, 107)) == 53


def test_unknown_benchmark_lists_valid_ones():
    with pytest.raises(EdgeactError, match="'ntu60-xset'.*ntu60-xsub, ntu60-xview, ntu120-xsub, ntu120-xset"):
        split_of("S001C001P001R001A001", "ntu60-xset")
    assert BENCHMARKS == ("ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset")


def test_ntu_class_names():
    assert len(NTU120_CLASSES) == 120 and len(NTU60_CLASSES) == 60
    assert NTU120_CLASSES.names[:60] == NTU60_CLASSES.names
    assert NTU120_CLASSES.names[0] == "drink water"                     # A1
    assert NTU120_CLASSES.names[42] == "falling"                        # A43
    assert NTU120_CLASSES.names[57] == "handshaking"                    # A58
    assert NTU120_CLASSES.names[59] == "walking apart from each other"  # A60
    assert NTU120_CLASSES.names[60] == "put on headphone"               # A61
    assert NTU120_CLASSES.names[98] == "running on the spot"            # A99
    assert NTU120_CLASSES.names[119] == "finger-guessing game (playing rock-paper-scissors)"  # A120
    assert NTU120_CLASSES.mirror == () and NTU120_CLASSES.flip_map().tolist() == list(range(120))
    assert NTU120_CLASSES.names[parse_name("S001C001P001R001A023").label] == "hand waving"


# --------------------------------------------------------------------------- folder scan


def _touch(path: Path, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _ntu_tree(root: Path) -> Path:
    rgb, sk = root / "nturgb+d_rgb", root / "nturgb+d_skeletons"
    good, zero = "S001C001P001R001A001", "S001C002P003R001A002"
    for name in (good, zero, "S018C001P045R002A061"):
        _touch(rgb / f"{name}_rgb.avi")
    _touch(rgb / "notes_rgb.avi")
    _touch(rgb / "README.txt")
    _touch(sk / f"{good}.skeleton", (DATA / "two_bodies_crlf.skeleton").read_bytes())
    _touch(sk / f"{zero}.skeleton", (DATA / "all_zero.skeleton").read_bytes())
    _touch(sk / "S001C003P001R001A001.skeleton", (DATA / "two_bodies_lf.skeleton").read_bytes())
    _touch(sk / "S001C003P002R001A002.skeleton", (DATA / "truncated.skeleton").read_bytes())
    _touch(rgb / "S001C003P002R001A002_rgb.avi")
    return root


def test_find_ntu_samples_reads_skeletons_and_reports_problems(tmp_path):
    root = _ntu_tree(tmp_path)
    calls = []
    samples, report = find_ntu_samples(root, progress=lambda d, t: calls.append((d, t)))
    by = {s.name: s for s in samples}
    assert list(by) == sorted(["S001C001P001R001A001", "S001C002P003R001A002", "S001C003P001R001A001",
                               "S001C003P002R001A002", "S018C001P045R002A061"])
    assert by["S001C001P001R001A001"].problem is None
    assert by["S001C001P001R001A001"].video == root / "nturgb+d_rgb" / "S001C001P001R001A001_rgb.avi"
    assert by["S001C001P001R001A001"].skeleton == root / "nturgb+d_skeletons" / "S001C001P001R001A001.skeleton"
    assert "all-zero" in by["S001C002P003R001A002"].problem
    assert by["S018C001P045R002A061"].skeleton is None and by["S018C001P045R002A061"].problem == "skeleton file missing"
    assert by["S001C003P001R001A001"].video is None and by["S001C003P001R001A001"].problem == "video missing"
    assert by["S001C003P002R001A002"].problem.startswith("unreadable skeleton:")
    assert ":43: expected 12 numbers per joint" in by["S001C003P002R001A002"].problem
    assert {p.name for p in report.problems} == set(by) - {"S001C001P001R001A001"}
    assert (report.videos, report.skeletons) == (4, 4)
    assert report.ignored_files == (str(root / "nturgb+d_rgb" / "notes_rgb.avi"),)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert by["S001C002P003R001A002"].label == 1


def test_find_ntu_samples_filters_and_skips_checks(tmp_path):
    root = _ntu_tree(tmp_path)
    samples, report = find_ntu_samples(root, benchmark="ntu60-xsub", split="test")
    assert [s.name for s in samples] == ["S001C002P003R001A002"]          # performer 3 tests
    assert report.filtered_out == 4
    samples, report = find_ntu_samples(root, benchmark="ntu120-xsub")
    assert len(samples) == 5 and report.filtered_out == 0                 # S018 A061 is NTU120
    samples, report = find_ntu_samples(root, benchmark="ntu60-xview", split="train")
    assert [s.name for s in samples] == ["S001C002P003R001A002", "S001C003P001R001A001", "S001C003P002R001A002"]
    samples, _ = find_ntu_samples(root, check_skeletons=False)
    assert next(s for s in samples if s.name == "S001C002P003R001A002").problem is None
    with pytest.raises(EdgeactError, match="split needs a benchmark"):
        find_ntu_samples(root, split="train")
    with pytest.raises(EdgeactError, match="unknown NTU benchmark 'ntu-xsub'"):
        find_ntu_samples(root, benchmark="ntu-xsub")
    with pytest.raises(EdgeactError, match="holds neither nturgb\\+d_rgb/ nor nturgb\\+d_skeletons/"):
        find_ntu_samples(root / "nturgb+d_rgb")
    with pytest.raises(EdgeactError, match="no such dataset folder"):
        find_ntu_samples(tmp_path / "missing")
