import json
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeact.calibration import (
    Calibration,
    calibrate,
    default_output,
    intrinsics_from_realsense,
    load_calibration,
    pairs_from_csv,
    pairs_from_ntu_skeletons,
    project,
)
from edgeact.cli import app
from edgeact.errors import EdgeactError

runner = CliRunner()
CAL = Calibration(cx=520.0, cy=-510.0, bx=320.0, by=240.0)


def _scene(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(1.5, 5, n)]


def _write_csv(path, pts, pix, header="X,Y,Z,u,v"):
    rows = [header] + [",".join(f"{v:.10g}" for v in (*p, *q)) for p, q in zip(pts, pix)]
    path.write_text("\n".join(rows) + "\n")
    return path


# --------------------------------------------------------------------------- CSV


def test_pairs_from_csv_reads_columns_in_any_order(tmp_path):
    p = tmp_path / "pairs.csv"
    p.write_text("# clicked by hand\nname, v, u, Z, Y, X\nhead, 190, 445, 2, 0.25, 0.5\n\n"
                 "hand,1e2,-3.5,4,0,1\n")
    pts, pix = pairs_from_csv(p)
    np.testing.assert_array_equal(pts, [[0.5, 0.25, 2], [1, 0, 4]])
    np.testing.assert_array_equal(pix, [[445, 190], [-3.5, 100]])


@pytest.mark.parametrize("text,msg", [
    ("X,Y,Z,u\n1,2,3,4\n", r":1: header must name the columns X,Y,Z,u,v; missing v"),
    ("X,Y,Z,u,v\n1,2,3,4,5\n1,2,3,4\n", r":3: expected 5 values"),
    ("X,Y,Z,u,v\n1,2,3,4,5\n\n1,2,abc,4,5\n", r":4: column Z: 'abc' is not a number"),
    ("X,Y,Z,u,v\n1,2,nan,4,5\n", r":2: column Z: 'nan' is not finite"),
    ("X,Y,Z,u,v\n", r"no data rows"),
    ("\n\n", r"empty CSV file"),
])
def test_pairs_from_csv_bad_rows_name_file_and_line(tmp_path, text, msg):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(EdgeactError, match=msg) as exc:
        pairs_from_csv(p)
    assert str(p) in str(exc.value)


def test_pairs_from_csv_missing_file(tmp_path):
    with pytest.raises(EdgeactError, match="no such CSV file"):
        pairs_from_csv(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- NTU skeletons

KINECT = Calibration(cx=1060.0, cy=-1055.0, bx=960.0, by=540.0, tx=0.052, ty=-0.004, model="offset")


def _write_skeleton(path, frames):
    """Hand-written NTU .skeleton text (the format of :mod:`edgeact.data.ntu`). ``frames``: list of
    lists of bodies; a body is ``(joints (25, 3), color (25, 2), tracking (25,))``."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for k, (xyz, col, trk) in enumerate(bodies):
            lines.append(f"7205759403792{k:04d} 0 1 1 1 1 0 0.01 -0.02 2")
            lines.append("25")
            for (x, y, z), (cu, cv), t in zip(xyz, col, trk):
                lines.append(f"{x:.7E} {y:.7f} {z:.7f} 250.1 200.2 {cu:.6f} {cv:.6f} 0.1 0.2 0.3 0.4 {t}")
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def _body(rng, trk=None):
    xyz = np.c_[rng.uniform(-0.6, 0.6, 25), rng.uniform(-0.8, 0.8, 25), rng.uniform(2.0, 4.5, 25)]
    return xyz, project(xyz, KINECT), np.full(25, 2) if trk is None else trk


def test_pairs_from_ntu_skeleton_keeps_tracked_joints(tmp_path):
    rng = np.random.default_rng(0)
    b1, b2, b3 = _body(rng), _body(rng), _body(rng)
    trk = b2[2].copy()
    trk[:4] = 1          # inferred: not used
    trk[4] = 0           # not tracked
    b2 = (b2[0], b2[1].copy(), trk)
    b2[1][5] = 0.0       # colour "no data"
    b3[0][7] = 0.0       # joint "no data"
    p = _write_skeleton(tmp_path / "S001C001P001R001A001.skeleton", [[b1], [], [b2, b3]])
    pts, pix = pairs_from_ntu_skeletons(p)
    assert pts.shape == (25 + 19 + 24, 3) and pix.shape == (68, 2)
    np.testing.assert_allclose(pts[:25], b1[0], atol=1e-6)
    np.testing.assert_allclose(pix[:25], b1[1], atol=1e-3)
    # the offset model recovers the Kinect-like camera from these pairs (6-digit pixels: ~1e-4 px)
    c = calibrate(ntu_skeletons=p, bx=960, by=540, model="offset").calibration
    assert (c.cx, c.cy, c.tx, c.ty) == pytest.approx((1060, -1055, 0.052, -0.004), abs=1e-3)
    assert c.rmse_px < 0.01 and c.n_points == 68


def test_pairs_from_ntu_folder_and_max_files(tmp_path):
    rng = np.random.default_rng(1)
    _write_skeleton(tmp_path / "S001C001P001R001A002.skeleton", [[_body(rng)]])
    _write_skeleton(tmp_path / "S001C001P001R001A001.skeleton", [[_body(rng)], [_body(rng)]])
    (tmp_path / "notes.txt").write_text("ignored")
    pts, _ = pairs_from_ntu_skeletons(tmp_path)
    assert len(pts) == 75
    pts, _ = pairs_from_ntu_skeletons(tmp_path, max_files=1)  # name order: ...A001 first
    assert len(pts) == 50


def test_pairs_from_ntu_errors(tmp_path):
    with pytest.raises(EdgeactError, match="no .skeleton files"):
        pairs_from_ntu_skeletons(tmp_path)
    with pytest.raises(EdgeactError, match="no such .skeleton file or folder"):
        pairs_from_ntu_skeletons(tmp_path / "x.skeleton")
    rng = np.random.default_rng(2)
    xyz, col, _ = _body(rng)
    p = _write_skeleton(tmp_path / "inferred.skeleton", [[(xyz, col, np.ones(25, int))], []])
    with pytest.raises(EdgeactError, match="inferred.skeleton: no tracked joints"):
        pairs_from_ntu_skeletons(p)


# --------------------------------------------------------------------------- RealSense

FX, FY, PPX, PPY = 612.25, 611.5, 318.75, 243.125


def _record_realsense(path, width=640, height=480, frames=3):
    """Record a software-device colour stream with known intrinsics (pyrealsense2 >= 2.59: .db3)."""
    rs = pytest.importorskip("pyrealsense2", reason="pyrealsense2 (and libusb-1.0) not installed")
    dev = rs.software_device()
    sensor = dev.add_sensor("Color")
    intr = rs.intrinsics()
    intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy = width, height, FX, FY, PPX, PPY
    intr.model, intr.coeffs = rs.distortion.none, [0.0] * 5
    vs = rs.video_stream()
    vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp = rs.stream.color, 0, 1, width, height, 30, 3
    vs.fmt, vs.intrinsics = rs.format.rgb8, intr
    profile = sensor.add_video_stream(vs)
    recorder = rs.recorder(str(path), dev)
    sensor.open(profile)
    sensor.start(rs.frame_queue())
    pixels = np.zeros((height, width, 3), np.uint8)
    for i in range(frames):
        f = rs.software_video_frame()
        f.pixels, f.bpp, f.stride, f.timestamp = pixels, 3, 3 * width, i * 33.3
        f.domain, f.frame_number, f.profile = rs.timestamp_domain.hardware_clock, i, profile.as_video_stream_profile()
        sensor.on_video_frame(f)
        time.sleep(0.02)
    sensor.stop()
    sensor.close()
    del recorder  # closing the recorder finalizes the file
    return path


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return _record_realsense(tmp_path_factory.mktemp("rs") / "colour.db3")


def test_intrinsics_from_realsense_recording(recording):
    c = intrinsics_from_realsense(recording)
    assert (c.cx, c.cy, c.bx, c.by) == pytest.approx((FX, FY, PPX, PPY), abs=1e-4)
    assert (c.model, c.rmse_px, c.tx, c.ty) == ("eq1", 0.0, 0.0, 0.0)
    assert "640x480" in c.source and "colour.db3" in c.source
    with pytest.raises(EdgeactError, match="cannot start a colour stream of 1280x720"):
        intrinsics_from_realsense(recording, width=1280, height=720)


def test_intrinsics_from_realsense_bad_paths(tmp_path):
    pytest.importorskip("pyrealsense2", reason="pyrealsense2 (and libusb-1.0) not installed")
    with pytest.raises(EdgeactError, match="no such RealSense recording"):
        intrinsics_from_realsense(tmp_path / "none.db3")
    junk = tmp_path / "junk.bag"
    junk.write_text("not a recording")
    with pytest.raises(EdgeactError, match="junk.bag: cannot"):
        intrinsics_from_realsense(junk)


def test_realsense_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyrealsense2", None)  # makes `import pyrealsense2` fail
    with pytest.raises(EdgeactError, match=r"pip install 'edgeact\[realsense\]'.*libusb-1.0-0"):
        intrinsics_from_realsense(None)


# --------------------------------------------------------------------------- orchestration and CLI


def test_calibrate_needs_exactly_one_source(tmp_path):
    with pytest.raises(EdgeactError, match="^pairs, ntu_skeletons, realsense, bag: give exactly one source.*got none"):
        calibrate()
    with pytest.raises(EdgeactError, match="^pairs, realsense: give exactly one source.*got 2"):
        calibrate(pairs=tmp_path / "a.csv", realsense=True)


def test_calibrate_csv_result(tmp_path):
    pts = _scene(60, seed=3)
    pix = project(pts, CAL)
    pix[:3] += 100.0
    pts[3, 2] = -1.0
    res = calibrate(pairs=_write_csv(tmp_path / "p.csv", pts, pix), bx=320, by=240)
    assert res.calibration.cx == pytest.approx(520) and res.calibration.cy == pytest.approx(-510)
    np.testing.assert_array_equal(np.flatnonzero(res.outliers), [0, 1, 2])
    assert res.n_outliers == 3 and res.n_behind == 1 and res.calibration.n_points == 56
    assert res.n_front == 59 and res.calibration.outlier_fraction == pytest.approx(3 / 59)
    assert res.calibration.rmse_px < 1e-6
    assert res.calibration.rmse_all_px == pytest.approx(np.sqrt(3 * 2 * 100.0 ** 2 / 59), rel=1e-6)
    assert res.errors.shape == (60,) and np.isnan(res.errors[3])
    np.testing.assert_allclose(res.errors[:3], 100 * np.sqrt(2), rtol=1e-6)
    assert res.notes == ("1 point(s) with Z <= 0 were left out (behind the camera)",)


def test_calibrate_warns_when_the_model_does_not_fit(tmp_path):
    pts = _scene(100, seed=9)
    pix = project(pts, KINECT) + np.random.default_rng(9).normal(0, 1.0, (100, 2))
    csv = _write_csv(tmp_path / "kinect.csv", pts, pix)
    res = calibrate(pairs=csv, bx=960, by=540, model="eq1")
    assert res.n_outliers > 20
    assert len(res.notes) == 1 and "try the offset model" in res.notes[0]
    res = calibrate(pairs=csv, bx=960, by=540, model="offset")
    assert res.n_outliers < 5 and res.notes == ()
    assert res.calibration.tx == pytest.approx(0.052, abs=0.005)


def test_default_output_is_in_the_current_folder():
    assert str(default_output(pairs="data/clicks.csv")) == "clicks.json"
    assert str(default_output(ntu_skeletons="/d/nturgb+d_skeletons/")) == "nturgb+d_skeletons.json"
    assert str(default_output(ntu_skeletons="/d/skel", camera="C002")) == "skel-C002.json"
    assert str(default_output(bag="rec/room.db3")) == "room.json"
    assert str(default_output(realsense=True)) == "realsense.json"


def test_cli_calibrate_csv(tmp_path, monkeypatch):
    pts = _scene(40, seed=4)
    pix = project(pts, CAL)
    pix[7] += (50.0, -40.0)
    csv = _write_csv(tmp_path / "clicks.csv", pts, pix)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["calibrate", "--pairs", str(csv), "--bx", "320", "--by", "240"])
    assert result.exit_code == 0, result.output
    for text in ("520.0000", "-510.0000", "points used", "39", "outliers rejected", "1 (2.5%)",
                 "RMS error, all points (px)", "wrote clicks.json"):
        assert text in result.output
    saved = json.loads((tmp_path / "clicks.json").read_text())
    assert saved["cx"] == pytest.approx(520) and saved["n_points"] == 39 and saved["model"] == "eq1"
    assert saved["rmse_px"] < 1e-6 and saved["outlier_fraction"] == pytest.approx(1 / 40)
    assert saved["rmse_all_px"] == pytest.approx(np.hypot(50, 40) / np.sqrt(40), rel=1e-6)
    assert saved["written_by"] == "edgeact calibrate"

    out = tmp_path / "c.json"
    result = runner.invoke(app, ["calibrate", "--pairs", str(csv), "--fit-center", "--bx", "0", "--by", "0",
                                 "--projection", "offset", "--out", str(out)])
    assert result.exit_code == 0, result.output
    c = load_calibration(out)
    assert (c.cx, c.cy, c.bx, c.by, c.tx, c.ty) == pytest.approx((520, -510, 320, 240, 0, 0), abs=1e-6)
    assert "tx" in result.output and c.model == "offset"


def test_cli_calibrate_bag(recording, tmp_path):
    out = tmp_path / "rs.json"
    result = runner.invoke(app, ["calibrate", "--bag", str(recording), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "exact" in result.output
    assert load_calibration(out).cx == pytest.approx(FX)


def test_cli_calibrate_user_errors_are_one_line(tmp_path):
    cmd = [sys.executable, "-m", "edgeact", "calibrate"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "exactly one source" in lines[0]
    proc = subprocess.run(cmd + ["--pairs", "x.csv", "--projection", "fisheye"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 2 and "--projection: 'fisheye'" in proc.stderr
    assert not (tmp_path / "calibration").exists()


def test_cli_help_explains_the_model():
    result = runner.invoke(app, ["calibrate", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "u = cx·X/Z + bx" in text and "offset" in text and "Kinect" in text
