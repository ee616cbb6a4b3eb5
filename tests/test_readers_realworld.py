"""Dataset readers against the quirks of the real NTU RGB+D / NTU120 / N-UCLA files.

Every fixture is written by hand here (never by edgeact.data.synth*), following the published
formats. NTU body ``off`` in a frame: joint j has x = off + 0.01 j, y = -0.5 + 0.02 j,
z = 3 + 0.001 j, depth (200 + j, 100 + f), colour (900 + 2 j, 500 + f), tracking 2, where f is
the 0-based frame index. N-UCLA joint k of body b in frame n: x = 0.1 k + b, y = -0.05 k + 0.01 n,
z = 2 + 0.01 k, confidence 1.
"""

from pathlib import Path

import numpy as np
import pytest

from edgeact.data.names import NTU120_CLASSES, NTU_ACTION_NAMES, NUCLA_CLASSES
from edgeact.data.ntu import find_ntu_samples, parse_name, read_skeleton, split_of
from edgeact.data.nucla import (
    find_nucla_samples,
    parse_sample_folder,
    read_nucla_sample,
    read_nucla_skeleton_file,
    split_of_nucla,
)
from edgeact.errors import EdgeactError

J = np.arange(25)
ID1, ID2 = "72057594037965360", "72057594037965361"     # 17 digits; equal as float64
ORIENT = "0.4417135 -7.257856E-05 0.8971488 -0.0003114519"


# --------------------------------------------------------------------------- NTU helpers


def ntu_lines(frames, *, sci=False, sep=" ", trailing=""):
    """``frames``: per frame a list of (body id, off). Returns the lines of a .skeleton file."""
    out = [f"{len(frames)}{trailing}"]
    for f, bodies in enumerate(frames):
        out.append(f"{len(bodies)}{trailing}")
        for bid, off in bodies:
            out.append(sep.join([bid, "0", "1", "1", "1", "1", "0", "0.1341012", "-0.2140513", "2"]) + trailing)
            out.append(f"25{trailing}")
            for j in range(25):
                x, y, z = off + 0.01 * j, -0.5 + 0.02 * j, 3 + 0.001 * j
                xyz = [f"{v:.7E}" for v in (x, y, z)] if sci else [repr(round(v, 6)) for v in (x, y, z)]
                vals = xyz + [str(200 + j), str(100 + f), str(900 + 2 * j), str(500 + f), ORIENT, "2"]
                out.append(sep.join(vals) + trailing)
    return out


def expected_xyz(off):
    return np.stack([off + 0.01 * J, -0.5 + 0.02 * J, 3 + 0.001 * J], axis=-1)


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


FRAMES = [[(ID1, 0.1)], [(ID2, 1.0), (ID1, 0.2)], []]   # second body listed first in frame 1


def check_frames(s):
    """The reading of FRAMES, whatever the file's formatting."""
    assert s.body_ids == (ID1, ID2)
    assert s.present.tolist() == [[True, False], [True, True], [False, False]]
    np.testing.assert_allclose(s.joints[0, 0], expected_xyz(0.1), atol=1e-6)
    np.testing.assert_allclose(s.joints[1, 0], expected_xyz(0.2), atol=1e-6)
    np.testing.assert_allclose(s.joints[1, 1], expected_xyz(1.0), atol=1e-6)
    np.testing.assert_array_equal(s.color_xy[1, 1], np.stack([900 + 2 * J, np.full(25, 501)], -1))
    np.testing.assert_array_equal(s.depth_xy[0, 0], np.stack([200 + J, np.full(25, 100)], -1))
    assert (s.tracking[:2][s.present[:2]] == 2).all()
    assert s.report.empty_frames == (2,)


# --------------------------------------------------------------------------- NTU: text-level quirks


@pytest.mark.parametrize("variant", ["crlf", "lf", "cr", "mixed", "no_final_eol", "blank_tail",
                                     "trailing_spaces", "tabs", "sci"])
def test_ntu_formatting_variants_read_the_same(tmp_path, variant):
    lines = ntu_lines(FRAMES, sci=variant == "sci", sep="\t" if variant == "tabs" else " ",
                      trailing="  " if variant == "trailing_spaces" else "")
    if variant == "mixed":
        text = "".join(line + ("\r\n" if k % 3 else "\n") for k, line in enumerate(lines))
    else:
        eol = {"lf": "\n", "cr": "\r"}.get(variant, "\r\n")
        text = eol.join(lines) + ("" if variant == "no_final_eol" else eol)
    if variant == "blank_tail":
        text += "\r\n   \r\n\r\n"
    if variant == "sci":
        assert "E-01" in text and "E+00" in text
    s = read_skeleton(write_bytes(tmp_path / "S001C001P001R001A001.skeleton", text.encode("ascii")), strict=True)
    check_frames(s)
    assert s.report.trailing_lines == 0 and s.report.damaged is None


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_ntu_byte_order_mark(tmp_path, encoding):
    """A file re-saved by a Windows editor starts with a BOM (UTF-16: every character two bytes)."""
    text = "\r\n".join(ntu_lines(FRAMES)) + "\r\n"
    data = text.encode(encoding)
    assert data[:2] in (b"\xef\xbb", b"\xff\xfe", b"\xfe\xff")
    check_frames(read_skeleton(write_bytes(tmp_path / "bom.skeleton", data)))


def test_ntu_17_digit_ids_that_collide_as_floats_stay_apart(tmp_path):
    assert float(ID1) == float(ID2)
    s = read_skeleton(write_bytes(tmp_path / "ids.skeleton", "\n".join(ntu_lines(FRAMES)).encode()))
    assert s.num_bodies == 2 and s.body_ids == (ID1, ID2)


def test_ntu_body_leaves_and_comes_back_keeps_its_slot(tmp_path):
    frames = [[(ID1, 0.1)], [(ID2, 1.0)], [(ID2, 1.1), (ID1, 0.3)], []]
    s = read_skeleton(write_bytes(tmp_path / "gap.skeleton", "\n".join(ntu_lines(frames)).encode()))
    assert s.body_ids == (ID1, ID2)
    assert s.present.tolist() == [[True, False], [False, True], [True, True], [False, False]]
    assert np.isnan(s.joints[1, 0]).all() and (s.tracking[1, 0] == -1).all()
    np.testing.assert_allclose(s.joints[2, 0], expected_xyz(0.3), atol=1e-6)
    np.testing.assert_allclose(s.joints[2, 1], expected_xyz(1.1), atol=1e-6)
    assert s.report.empty_frames == (3,)


def test_ntu_nan_and_infinity_parse_and_make_the_entry_unusable(tmp_path):
    """.NET writes NaN / Infinity / -Infinity; such entries are present but not valid."""
    lines = ntu_lines([[(ID1, 0.1)], [(ID1, 0.2)]])
    # frame 0 joints: lines 4..28 (0-based 4 + j); poison joint 3 of frame 0
    tok = lines[4 + 3].split()
    tok[0], tok[5] = "NaN", "Infinity"
    lines[4 + 3] = " ".join(tok)
    tok = lines[4 + 4].split()
    tok[6] = "-Infinity"
    lines[4 + 4] = " ".join(tok)
    s = read_skeleton(write_bytes(tmp_path / "nan.skeleton", "\r\n".join(lines).encode()))
    assert np.isnan(s.joints[0, 0, 3, 0]) and s.color_xy[0, 0, 3, 0] == np.inf
    assert s.color_xy[0, 0, 4, 1] == -np.inf
    assert s.present.tolist() == [[True], [True]]
    assert s.valid.tolist() == [[False], [True]] and s.usable
    assert s.report.unusable_entries == 1 and s.report.unusable_bodies == ()


def test_ntu_msvc_nan_spelling_is_a_clear_error(tmp_path):
    lines = ntu_lines([[(ID1, 0.1)]])
    tok = lines[10].split()
    tok[1] = "-1.#IND"
    lines[10] = " ".join(tok)
    with pytest.raises(EdgeactError, match=r"msvc\.skeleton:11: malformed number '-1\.#IND'"):
        read_skeleton(write_bytes(tmp_path / "msvc.skeleton", "\n".join(lines).encode()))


def test_ntu_decimal_comma_is_a_clear_error(tmp_path):
    lines = ntu_lines([[(ID1, 0.1)]])
    lines[6] = lines[6].replace(".", ",", 1)
    with pytest.raises(EdgeactError, match=r"comma\.skeleton:7: malformed number '0,12'"):
        read_skeleton(write_bytes(tmp_path / "comma.skeleton", "\n".join(lines).encode()))


def test_ntu_empty_and_zero_frame_files(tmp_path):
    with pytest.raises(EdgeactError, match=r"empty\.skeleton:1: file ends early: expected the frame count"):
        read_skeleton(write_bytes(tmp_path / "empty.skeleton", b""))
    s = read_skeleton(write_bytes(tmp_path / "zero.skeleton", b"0\r\n"))
    assert s.num_frames == 0 and s.joints.shape == (0, 0, 25, 3) and not s.usable


def test_ntu_frame_count_disagrees_with_frames_present(tmp_path):
    lines = ntu_lines([[(ID1, 0.1)], [(ID1, 0.2)]])
    # fewer frames announced than written: T follows the header, the rest is reported
    few = ["1"] + lines[1:]
    s = read_skeleton(write_bytes(tmp_path / "few.skeleton", "\r\n".join(few).encode()))
    assert s.num_frames == 1 and s.present.tolist() == [[True]]
    assert s.report.trailing_lines == 28 and "28 trailing line(s) ignored" in s.report.summary()
    # more announced than written: a clear error at the first missing line
    many = ["3"] + lines[1:]
    with pytest.raises(EdgeactError, match=r"many\.skeleton:58: file ends early: expected the body count of frame 3 of 3"):
        read_skeleton(write_bytes(tmp_path / "many.skeleton", "\r\n".join(many).encode()))


def test_ntu_frames_beyond_the_header_are_a_finding_and_strict_refuses_them(tmp_path):
    lines = ntu_lines([[(ID1, 0.1)], [(ID1, 0.2)], []])
    few = write_bytes(tmp_path / "few.skeleton", "\r\n".join(["1"] + lines[1:]).encode())
    s = read_skeleton(few)
    assert s.num_frames == 1 and (s.report.trailing_frames, s.report.header_frames) == (2, 1)
    assert s.report.damaged == "skeleton header counts 1 frames, the file holds 3"
    # frame 2 starts at line 30: the header, then frame 1 (body count, info, joint count, 25 joints)
    trailing = r"few\.skeleton:30: 2 more frame\(s\) after the 1 frames the header \(line 1\) counts$"
    with pytest.raises(EdgeactError, match=trailing):
        read_skeleton(few, strict=True)
    junk = write_bytes(tmp_path / "junk.skeleton", "\r\n".join(lines + ["end of recording", ""]).encode())
    s = read_skeleton(junk)
    assert s.report.trailing_frames == 0 and s.report.damaged == "skeleton has 1 line(s) after the 3 frames its header counts"
    with pytest.raises(EdgeactError, match=r"junk\.skeleton:59: 1 more line\(s\) after the 3 frames"):
        read_skeleton(junk, strict=True)
    clean = write_bytes(tmp_path / "clean.skeleton", "\r\n".join(lines + ["", "  ", ""]).encode())
    assert read_skeleton(clean, strict=True).report.damaged is None      # blank lines at the end are not data


def test_ntu_last_line_cut_mid_number(tmp_path):
    """An interrupted download: the last joint line stops inside a number, no final newline."""
    text = "\r\n".join(ntu_lines([[(ID1, 0.1)], [(ID1, 0.2)]]))
    cut = text[: text.rindex("\r\n") + 2 + 10]          # "0.44 -0.02"
    assert cut.endswith("\r\n0.44 -0.02")
    with pytest.raises(EdgeactError, match=r"cut\.skeleton:57: expected 12 numbers per joint, got 2$"):
        read_skeleton(write_bytes(tmp_path / "cut.skeleton", cut.encode()))


def test_ntu_joint_count_not_25_names_file_and_line(tmp_path):
    lines = ntu_lines([[(ID1, 0.1)]])
    lines[3] = "20"                       # a Kinect v1 body
    with pytest.raises(EdgeactError, match=r"v1\.skeleton:4: expected 25 joints \(body 1 of frame 1 of 1\), got 20"):
        read_skeleton(write_bytes(tmp_path / "v1.skeleton", "\n".join(lines).encode()))


def test_ntu_six_bodies_in_one_frame(tmp_path):
    """Kinect v2 tracks up to 6 bodies; noise bodies seen once lose to the actors."""
    ids = [f"7205759403796{k:04d}" for k in range(6)]
    frames = [[(i, float(k)) for k, i in enumerate(reversed(ids))]] + [[(ids[0], 0.0), (ids[1], 1.0)]] * 2
    s = read_skeleton(write_bytes(tmp_path / "six.skeleton", "\n".join(ntu_lines(frames)).encode()), max_bodies=2)
    assert set(s.body_ids) == {ids[0], ids[1]}
    assert {d.body_id for d in s.report.dropped_bodies} == set(ids[2:])
    assert all(d.frames == 1 for d in s.report.dropped_bodies)


# --------------------------------------------------------------------------- NTU: names, splits, scan


@pytest.mark.parametrize("name", ["S001C001P001R001A001_rgb.avi", "S001C001P001R001A001.skeleton",
                                  "nturgb+d_rgb/S001C001P001R001A001_rgb.avi", "S001C001P001R001A001"])
def test_ntu_name_forms(name):
    assert parse_name(name).name == "S001C001P001R001A001"


def test_ntu120_names_above_a060_and_all_benchmarks():
    n = parse_name("S032C003P106R002A120.skeleton")
    assert (n.setup, n.camera, n.performer, n.replication, n.action, n.label) == (32, 3, 106, 2, 120, 119)
    assert NTU120_CLASSES.names[n.label] == "finger-guessing game (playing rock-paper-scissors)"
    assert NTU120_CLASSES.names[parse_name("S018C001P008R001A061").label] == "put on headphone"
    assert len(set(NTU_ACTION_NAMES)) == 120
    # every benchmark on one NTU120-only sample, expectations from the written rules
    name = "S018C002P008R001A061"
    assert split_of(name, "ntu60-xsub") is None and split_of(name, "ntu60-xview") is None
    assert split_of(name, "ntu120-xsub") == "train"          # P008 trains
    assert split_of(name, "ntu120-xset") == "train"          # setup 18 even
    name = "S017C001P106R002A060"                            # NTU60 setup, NTU120 performer
    assert split_of(name, "ntu60-xview") == "test" and split_of(name, "ntu120-xset") == "test"
    assert split_of(name, "ntu120-xsub") == "test"


def test_ntu120_xset_counts_and_xsub_sets():
    assert [split_of(f"S{s:03d}C001P001R001A001", "ntu120-xset") for s in (1, 2, 31, 32)] == \
        ["test", "train", "test", "train"]
    assert sum(split_of(f"S{s:03d}C001P001R001A001", "ntu120-xset") == "train" for s in range(1, 33)) == 16
    # cameras: xview has only cameras 1..3 in the data; camera 1 alone is test
    assert [split_of(f"S001C{c:03d}P001R001A001", "ntu60-xview") for c in (1, 2, 3)] == ["test", "train", "train"]


def test_ntu_scan_reports_missing_skeleton_samples_and_stray_files(tmp_path):
    sk, rgb = tmp_path / "nturgb+d_skeletons", tmp_path / "nturgb+d_rgb"
    good, missing = "S001C001P001R001A001", "S001C002P001R001A002"
    write_bytes(sk / f"{good}.skeleton", "\r\n".join(ntu_lines(FRAMES)).encode())
    write_bytes(sk / f"{missing}.skeleton", b"3\r\n0\r\n0\r\n0\r\n")     # NTU "missing skeleton" sample
    write_bytes(sk / f"._{good}.skeleton", b"\x00\x05\x16\x07")        # macOS AppleDouble twin
    for nm in (good, missing):
        write_bytes(rgb / f"{nm}_rgb.avi", b"")
    samples, report = find_ntu_samples(tmp_path)
    assert [s.name for s in samples] == [good, missing]
    assert samples[0].problem is None
    assert samples[1].problem == "no body in any of the 3 frames"
    assert report.ignored_files == (str(sk / f"._{good}.skeleton"),)


# --------------------------------------------------------------------------- N-UCLA


def nucla_body(n, b=0, *, sep=",", header="1", eol="\n", fmt="{:.6f}", tail=""):
    rows = [] if header is None else [header]
    for k in range(20):
        vals = [fmt.format(0.1 * k + b), fmt.format(-0.05 * k + 0.01 * n), fmt.format(2 + 0.01 * k), "1"]
        rows.append(sep.join(vals) + tail)
    return eol.join(rows) + eol


def nucla_xyz(n, b=0):
    k = np.arange(20)
    return np.stack([0.1 * k + b, -0.05 * k + 0.01 * n, 2 + 0.01 * k], axis=-1)


@pytest.mark.parametrize("kw", [dict(tail=","), dict(sep="\t"), dict(fmt="{:.6E}"), dict(eol="\r\n", tail=" "),
                                dict(sep=", ", header="1, 0")])
def test_nucla_row_variants(tmp_path, kw):
    joints, conf = read_nucla_skeleton_file(write_bytes(tmp_path / "s.txt", nucla_body(4, **kw).encode()))
    assert joints.shape == (1, 20, 3)
    np.testing.assert_allclose(joints[0], nucla_xyz(4), atol=1e-6)
    assert (conf == 1).all()


def test_nucla_bom_before_a_headerless_file(tmp_path):
    data = nucla_body(2, header=None, eol="\r\n").encode("utf-8-sig")
    joints, _ = read_nucla_skeleton_file(write_bytes(tmp_path / "bom.txt", data))
    np.testing.assert_allclose(joints[0], nucla_xyz(2), atol=1e-6)


def test_nucla_nan_rows_parse(tmp_path):
    text = nucla_body(0).replace("0.000000,0.000000,2.000000", "nan,nan,nan", 1)
    joints, _ = read_nucla_skeleton_file(write_bytes(tmp_path / "nan.txt", text.encode()))
    assert np.isnan(joints[0, 0]).all() and np.isfinite(joints[0, 1:]).all()


def test_nucla_file_name_variants(tmp_path):
    """Upper-case extensions count; depth_vis images, AppleDouble twins and other files do not."""
    s = tmp_path / "view_2" / "A03_S07_E01"
    write_bytes(s / "frame_0_tc_10_rgb.JPG", b"")
    write_bytes(s / "frame_1_tc_43_RGB.jpg", b"")
    write_bytes(s / "frame_2_tc_76_depth_vis.jpg", b"")
    write_bytes(s / "._frame_3_tc_99_rgb.jpg", b"")
    write_bytes(s / "frame_0_tc_10_skeletons.txt", nucla_body(0).encode())
    write_bytes(s / "frame_1_tc_43_skeletons.TXT", nucla_body(1).encode())
    write_bytes(s / "fileList.txt", b"0 10\n1 43\n")
    smp = read_nucla_sample(s)
    assert parse_sample_folder("A03_S07_E01") == (3, 7, 1)
    assert (smp.name, smp.view, smp.label) == ("A03_S07_E01_v2", 2, 2)
    assert smp.frame_numbers.tolist() == [0, 1]
    assert [p.name for p in smp.frames] == ["frame_0_tc_10_rgb.JPG", "frame_1_tc_43_RGB.jpg"]
    np.testing.assert_allclose(smp.joints[1, 0], nucla_xyz(1), atol=1e-6)


def test_nucla_repeated_frame_numbers_are_deterministic_and_reported(tmp_path):
    """Some real folders (e.g. view_1/a01_s08_e0x) hold frames of two recordings: frame numbers
    repeat with different time codes. The reader keeps, for each frame number, the lowest time
    code (and the skeleton of that same time code), and the scan reports the sample."""
    s = tmp_path / "multiview_action" / "view_1" / "a01_s08_e02"
    for n, tc in [(0, 500), (1, 533), (0, 100), (1, 133), (2, 166)]:
        write_bytes(s / f"frame_{n}_tc_{tc}_rgb.jpg", b"")
        write_bytes(s / f"frame_{n}_tc_{tc}_skeletons.txt", nucla_body(n, b=0 if tc < 500 else 5).encode())
    smp = read_nucla_sample(s)
    assert smp.frame_numbers.tolist() == [0, 1, 2]
    assert [p.name for p in smp.frames] == ["frame_0_tc_100_rgb.jpg", "frame_1_tc_133_rgb.jpg",
                                           "frame_2_tc_166_rgb.jpg"]
    for t in range(3):
        np.testing.assert_allclose(smp.joints[t, 0], nucla_xyz(t, 0), atol=1e-6)
    entries, report = find_nucla_samples(tmp_path)
    assert [e.name for e in entries] == ["a01_s08_e02_v1"]
    assert [p.frames[0].name for p in entries] == ["frame_0_tc_100_rgb.jpg"] and len(entries[0].frames) == 3
    assert entries[0].problem is None                        # its skeleton is usable
    notes = [p for p in report.problems if p.name == "a01_s08_e02_v1"]
    assert len(notes) == 1 and "frame numbers 0, 1 repeat" in notes[0].reason


def test_nucla_scan_reports_video_files_and_skips_macos_folders(tmp_path):
    mv = tmp_path / "multiview_action"
    write_bytes(mv / "view_1" / "a01_s01_e00" / "frame_0_tc_1_rgb.jpg", b"")
    write_bytes(mv / "view_1" / "a01_s01_e00" / "frame_0_tc_1_skeletons.txt", nucla_body(0).encode())
    write_bytes(mv / "view_3" / "a02_s01_e00.avi", b"")                  # a video, not a frame folder
    write_bytes(mv / "view_3" / "fileList.txt", b"")
    (mv / "__MACOSX" / "view_1").mkdir(parents=True)
    entries, report = find_nucla_samples(tmp_path)
    assert [e.name for e in entries] == ["a01_s01_e00_v1"] and report.views == (1, 3)
    reasons = {Path(p.name).name: p.reason for p in report.problems}
    assert set(reasons) == {"a02_s01_e00.avi"}
    assert "not a sample folder" in reasons["a02_s01_e00.avi"]


def test_nucla_splits_for_every_view_benchmark():
    for k in (1, 2, 3):
        assert [split_of_nucla(v, f"nucla-view{k}") for v in (1, 2, 3)] == ["test" if v == k else "train"
                                                                            for v in (1, 2, 3)]
    assert len(NUCLA_CLASSES) == 10


def test_nucla_preprocessed_json_folder_is_a_clear_error(tmp_path):
    """The widely shared ``all_sqe`` copy holds one JSON per sample, no view folders."""
    write_bytes(tmp_path / "all_sqe" / "a01_s01_e00_v01.json", b"{}")
    with pytest.raises(EdgeactError, match=r"all_sqe: no view_1 / view_2 / view_3 folders"):
        find_nucla_samples(tmp_path / "all_sqe")
