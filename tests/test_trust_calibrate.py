"""`edgeact calibrate` can be trusted: degenerate coefficients are refused wherever they are read or
written, skeleton files whose header disagrees with their content are refused, the default output
never lands on a shipped file, the principal point comes from the source, and the result says how
far off its rejected points are and when it is implausible."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_ok import cli_ok, runner
from edgeact.calibration import (
    Calibration,
    calibrate,
    calibrate_per_camera,
    check_output,
    load_calibration,
    ntu_frame_size,
    project,
    save_calibration,
    write_result,
)
from edgeact.cli import app
from edgeact.data.ntu import Skeleton, write_skeleton
from edgeact.data.nucla import DEFAULT_CALIBRATION
from edgeact.errors import EdgeactError

# Kinect-v2-like colour cameras of NTU RGB+D (1920x1080 colour frames)
C001 = Calibration(cx=1060.0, cy=-1055.0, bx=960.0, by=540.0, tx=0.052, ty=-0.004, model="offset")
C002 = Calibration(cx=1030.0, cy=-1040.0, bx=960.0, by=540.0, tx=-0.03, ty=0.02, model="offset")


def _skeleton(path: Path, cam: Calibration = C001, *, frames: int = 12, seed: int = 0,
              outliers: float = 0.0) -> Path:
    """A one-body NTU file whose colorX/colorY are ``cam``'s projection of its joints; a share
    ``outliers`` of the joints get pixels 40-150 px off (occluded joints mapped through depth)."""
    rng = np.random.default_rng(seed)
    xyz = np.stack([rng.uniform(-0.6, 0.6, (frames, 1, 25)), rng.uniform(-0.8, 0.8, (frames, 1, 25)),
                    rng.uniform(2.0, 4.5, (frames, 1, 25))], axis=-1)
    col = project(xyz, cam)
    off = rng.random(col.shape[:-1]) < outliers
    col[off] += rng.uniform(40, 150, (off.sum(), 2)) * rng.choice([-1, 1], (off.sum(), 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_skeleton(path, Skeleton.build(xyz, color_xy=col))
    return path


def _ntu_folder(root: Path, cams=(("C001", C001),), files: int = 3, **kw) -> Path:
    folder = root / "nturgb+d_skeletons"
    for k, (name, cam) in enumerate(cams):
        for a in range(files):
            _skeleton(folder / f"S001{name}P001R001A{a + 1:03d}.skeleton", cam, seed=10 * k + a, **kw)
    return folder


def _csv(path: Path, cam: Calibration, n: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    pts = np.c_[rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(1.5, 5, n)]
    pix = project(pts, cam)
    rows = ["X,Y,Z,u,v"] + [",".join(f"{v:.10g}" for v in (*p, *q)) for p, q in zip(pts, pix)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _edgeact(args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeact", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def _one_line_error(proc, *needles) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stdout + proc.stderr
    for text in needles:
        assert text in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- 4: degenerate values


@pytest.mark.parametrize("key,value", [("cx", "0"), ("cy", "0"), ("cx", "1e6"), ("cy", "-2e5"), ("cx", "0.5"),
                                       ("cx", "NaN"), ("cy", "Infinity"), ("bx", "NaN")])
def test_the_loader_refuses_degenerate_values_naming_file_and_key(tmp_path, key, value):
    d = {"cx": "554.84", "cy": "583.68", "bx": "320", "by": "240", key: value}
    p = tmp_path / "bad.json"
    p.write_text("{" + ", ".join(f'"{k}": {v}' for k, v in d.items()) + "}")
    with pytest.raises(EdgeactError, match=rf"bad\.json: {key} ") as exc:
        load_calibration(p)
    assert "degenerate" in str(exc.value) or "finite" in str(exc.value)


def test_the_shipped_calibration_still_loads():
    c = load_calibration(DEFAULT_CALIBRATION)
    assert (c.cx, c.cy, c.bx, c.by) == (554.84, 583.68, 320.0, 240.0)


def test_prep_and_live_refuse_a_degenerate_calibration(tmp_path):
    from edgeact.live.pose import open_pose

    bad = tmp_path / "flat.json"
    bad.write_text('{"cx": 0, "cy": 583.68, "bx": 320, "by": 240}')
    (tmp_path / "nucla").mkdir()
    proc = _edgeact(["prep", "--dataset", "nucla", "--root", "nucla", "--calibration", bad, "--out", "cache"], tmp_path)
    _one_line_error(proc, "flat.json: cx = 0 is degenerate")
    with pytest.raises(EdgeactError, match="flat.json: cx = 0 is degenerate"):
        open_pose("depth", calibration=bad)


def test_a_degenerate_fit_is_refused_and_nothing_is_written(tmp_path):
    # every u at the principal point: cx comes out 0, which projects every joint onto one column
    csv = _csv(tmp_path / "flat.csv", Calibration(cx=0.0, cy=-500.0, bx=320.0, by=240.0))
    with pytest.raises(EdgeactError, match=r"fitted from .*flat\.csv: cx = 0 is degenerate"):
        calibrate(pairs=csv, bx=320, by=240)
    proc = _edgeact(["calibrate", "--pairs", csv, "--bx", 320, "--by", 240], tmp_path)
    _one_line_error(proc, "flat.csv", "cx = 0 is degenerate")
    assert not (tmp_path / "flat.json").exists()


def test_save_refuses_a_degenerate_calibration(tmp_path):
    with pytest.raises(EdgeactError, match="out.json: cy = 0 is degenerate"):
        save_calibration(tmp_path / "out.json", Calibration(cx=500.0, cy=0.0, bx=320.0, by=240.0))
    assert not (tmp_path / "out.json").exists()


# --------------------------------------------------------------------------- 4: trailing data


def test_calibrate_refuses_more_frames_than_the_header_says(tmp_path):
    folder = _ntu_folder(tmp_path, files=2)
    f = folder / "S001C001P001R001A002.skeleton"
    first, rest = f.read_bytes().split(b"\r\n", 1)
    f.write_bytes(b"%d\r\n" % (int(first) - 2) + rest)  # the header undercounts by two frames
    with pytest.raises(EdgeactError, match=r"A002\.skeleton:\d+: 2 more frame\(s\) after the 10 frames the header"):
        calibrate(ntu_skeletons=folder, model="offset")
    proc = _edgeact(["calibrate", "--ntu-skeletons", folder, "--projection", "offset"], tmp_path)
    _one_line_error(proc, "S001C001P001R001A002.skeleton:", "header")
    assert not (tmp_path / "nturgb+d_skeletons.json").exists()


def test_calibrate_refuses_garbage_after_the_last_frame(tmp_path):
    f = _skeleton(tmp_path / "S001C001P001R001A001.skeleton")
    with open(f, "a", newline="") as h:
        h.write("0.1 0.2 garbage\r\n")
    with pytest.raises(EdgeactError, match=r"A001\.skeleton:\d+: 1 more line\(s\) after the 12 frames"):
        calibrate(ntu_skeletons=f, model="offset")


# --------------------------------------------------------------------------- 5: where the output goes


def test_the_default_output_never_replaces_a_shipped_file(tmp_path, monkeypatch):
    # a checkout (or editable install) run from its own root: calibration/nucla.json is shipped
    (tmp_path / "calibration").mkdir()
    shipped = tmp_path / "calibration" / "nucla.json"
    shutil.copy(DEFAULT_CALIBRATION, shipped)
    before = shipped.read_bytes()
    csv = _csv(tmp_path / "nucla.csv", Calibration(cx=500.0, cy=-500.0, bx=320.0, by=240.0))
    monkeypatch.chdir(tmp_path)
    out = cli_ok(["calibrate", "--pairs", csv, "--bx", 320, "--by", 240])
    assert "wrote nucla.json" in out
    assert shipped.read_bytes() == before and load_calibration("nucla.json").cx == pytest.approx(500)


def test_calibrate_replaces_only_its_own_files_unless_forced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = tmp_path / "nucla.json"
    shutil.copy(DEFAULT_CALIBRATION, shipped)
    before = shipped.read_bytes()
    csv = _csv(tmp_path / "clicks.csv", Calibration(cx=500.0, cy=-500.0, bx=320.0, by=240.0))
    args = ["calibrate", "--pairs", csv, "--bx", 320, "--by", 240, "--out", shipped]
    proc = _edgeact(args, tmp_path)
    _one_line_error(proc, "nucla.json: exists and was not written by `edgeact calibrate`", "--force")
    assert shipped.read_bytes() == before
    cli_ok(args + ["--force"])
    assert load_calibration(shipped).cx == pytest.approx(500)
    cli_ok(args)                                   # its own output: re-running replaces it
    _one_line_error(_edgeact(["calibrate", "--pairs", csv, "--bx", 320, "--by", 240, "--out", csv], tmp_path),
                    "is an input of this command")
    assert csv.read_text().startswith("X,Y,Z,u,v")


def test_check_output_before_writing_anything(tmp_path):
    folder = _ntu_folder(tmp_path, cams=(("C001", C001), ("C002", C002)), files=2)
    results = calibrate_per_camera(folder, model="offset")
    foreign = tmp_path / "calib-C002.json"
    foreign.write_text('{"cx": 1, "cy": 1, "bx": 0, "by": 0}')
    with pytest.raises(EdgeactError, match="calib-C002.json: exists and was not written"):
        for cam in results:
            check_output(tmp_path / f"calib-{cam}.json")
    write_result(tmp_path / "calib-C001.json", results["C001"])
    check_output(tmp_path / "calib-C001.json")     # its own file passes
    result = runner.invoke(app, ["calibrate", "--ntu-skeletons", str(folder), "--projection", "offset", "--per-camera",
                                 "--out", str(tmp_path / "calib.json")])
    assert result.exit_code != 0 and "calib-C002.json" in str(result.exception)
    assert foreign.read_text() == '{"cx": 1, "cy": 1, "bx": 0, "by": 0}'


# --------------------------------------------------------------------------- 8: principal point from the source


def test_ntu_skeletons_default_to_the_centre_of_ntu_colour_frames(tmp_path):
    folder = _ntu_folder(tmp_path)
    res = calibrate(ntu_skeletons=folder, model="offset")
    c = res.calibration
    assert (c.bx, c.by) == (960.0, 540.0)
    assert (c.cx, c.cy, c.tx, c.ty) == pytest.approx((1060, -1055, 0.052, -0.004), abs=1e-3)
    assert c.rmse_px < 0.01
    assert res.notes[0].startswith("principal point 960/540: the centre of the 1920x1080 colour frames")
    assert len(res.notes) == 1


def test_a_wrong_principal_point_is_called_implausible(tmp_path):
    # N-UCLA's 320/240 on NTU pixels: the offset soaks up the error (tx of metres, tens of px RMS)
    folder = _ntu_folder(tmp_path)
    res = calibrate(ntu_skeletons=folder, model="offset", bx=320, by=240)
    c = res.calibration
    assert abs(c.tx) > 1.0 and c.rmse_px > 20
    assert any(n.startswith(f"offset tx = {c.tx:.3f} m") and "implausible" in n for n in res.notes)
    assert any(n.startswith("inlier RMS error") and "implausible" in n for n in res.notes)
    out = cli_ok(["calibrate", "--ntu-skeletons", folder, "--projection", "offset", "--bx", 320, "--by", 240,
                  "--out", tmp_path / "wrong.json"])
    assert "implausible" in out
    assert any("implausible" in n for n in json.loads((tmp_path / "wrong.json").read_text())["notes"])


def test_synth_data_takes_its_frame_size_from_meta_then_video(tmp_path):
    from edgeact.data.synth import META_NAME, SynthConfig, generate

    root = tmp_path / "synth"
    generate(root, SynthConfig(seed=1, classes=1, performers=1, cameras=1, setups=1, replications=1, frames=8,
                               width=96, height=64))
    skel = root / "nturgb+d_skeletons"
    files = sorted(skel.iterdir())
    assert ntu_frame_size(skel, files) == ((96, 64), str(root / META_NAME))
    res = calibrate(ntu_skeletons=skel, model="offset")
    c = res.calibration
    assert (c.bx, c.by) == (48.0, 32.0) and c.tx == pytest.approx(0.052, abs=1e-3) and c.rmse_px < 0.01
    assert "96x64 colour frames" in res.notes[0]
    (root / META_NAME).unlink()                    # no meta: the video beside the skeletons says it
    assert ntu_frame_size(skel, files) == ((96, 64), str(root / "nturgb+d_rgb" / f"{files[0].stem}_rgb.avi"))
    # explicit values still win (the README's `--bx 160 --by 120` for 320x240 synth data)
    assert calibrate(ntu_skeletons=skel, model="offset", bx=40, by=30).calibration.bx == 40.0


def test_a_csv_needs_the_principal_point(tmp_path):
    csv = _csv(tmp_path / "clicks.csv", Calibration(cx=520.0, cy=-510.0, bx=330.0, by=250.0))
    with pytest.raises(EdgeactError, match=r"^bx, by: .*clicks\.csv: a CSV of pairs does not say the image size: "
                                           r"give both .* or fit the centre too"):
        calibrate(pairs=csv)
    c = calibrate(pairs=csv, fit_center=True).calibration
    assert (c.bx, c.by) == pytest.approx((330, 250))


# --------------------------------------------------------------------------- 8: honest about its error


def test_rejected_points_are_reported_in_the_json_and_the_printout(tmp_path):
    folder = _ntu_folder(tmp_path, files=4, outliers=0.25)
    out = tmp_path / "ntu.json"
    text = cli_ok(["calibrate", "--ntu-skeletons", folder, "--projection", "offset", "--out", out])
    saved = json.loads(out.read_text())
    assert saved["tx"] == pytest.approx(0.052, abs=1e-3)
    assert saved["rmse_px"] < 0.01 and saved["rmse_all_px"] > 30
    assert 0.2 < saved["outlier_fraction"] < 0.3
    n_all = 4 * 12 * 25
    assert saved["n_points"] == round(n_all * (1 - saved["outlier_fraction"]))
    assert f"{n_all - saved['n_points']} ({saved['outlier_fraction']:.1%})" in text
    assert f"{saved['rmse_all_px']:.3f}" in text and "RMS error, inliers (px)" in text
    assert any("occluded joints" in n for n in saved["notes"]) and "occluded joints" in text
    assert saved["written_by"] == "edgeact calibrate"
    assert load_calibration(out).outlier_fraction == pytest.approx(saved["outlier_fraction"])


# --------------------------------------------------------------------------- 8: one Kinect at a time


def test_mixed_cameras_are_noted_and_can_be_fitted_alone(tmp_path, monkeypatch):
    folder = _ntu_folder(tmp_path, cams=(("C001", C001), ("C002", C002)), files=2)
    mixed = calibrate(ntu_skeletons=folder, model="offset")
    assert any("mix cameras C001 (2 files), C002 (2 files)" in n and "each camera on its own" in n for n in mixed.notes)
    one = calibrate(ntu_skeletons=folder, model="offset", camera=2)
    assert one.camera == "C002" and not any("mix cameras" in n for n in one.notes)
    assert (one.calibration.cx, one.calibration.tx) == pytest.approx((1030, -0.03), abs=1e-3)
    monkeypatch.chdir(tmp_path)
    text = cli_ok(["calibrate", "--ntu-skeletons", folder, "--projection", "offset", "--per-camera"])
    assert "wrote nturgb+d_skeletons-C001.json" in text and "wrote nturgb+d_skeletons-C002.json" in text
    for name, cam in (("C001", C001), ("C002", C002)):
        saved = json.loads((tmp_path / f"nturgb+d_skeletons-{name}.json").read_text())
        assert saved["camera"] == name and saved["tx"] == pytest.approx(cam.tx, abs=1e-3)
    cli_ok(["calibrate", "--ntu-skeletons", folder, "--projection", "offset", "--ntu-camera", "c1", "--out", "c1.json"])
    assert load_calibration("c1.json").tx == pytest.approx(0.052, abs=1e-3)
    _skeleton(folder / "extra.skeleton", C002)      # no NTU name: no camera to select it by
    only = calibrate(ntu_skeletons=folder, model="offset", camera=1)
    assert any("1 file(s) whose name carries no camera id were left out (e.g. extra.skeleton)" in n
               for n in only.notes)
    assert only.calibration.tx == pytest.approx(0.052, abs=1e-3)
    _one_line_error(_edgeact(["calibrate", "--ntu-skeletons", folder, "--ntu-camera", "C009"], tmp_path),
                    "no .skeleton file of camera C009")
    _one_line_error(_edgeact(["calibrate", "--ntu-skeletons", folder, "--ntu-camera", "left"], tmp_path),
                    "--ntu-camera: 'left' is not an NTU camera id")


def test_per_camera_needs_ntu_names_and_one_principal_point_may_be_given(tmp_path):
    f = _skeleton(tmp_path / "plain" / "take1.skeleton")
    with pytest.raises(EdgeactError, match="no file has an NTU sample name"):
        calibrate_per_camera(f.parent, model="offset")
    res = calibrate(ntu_skeletons=f, model="offset", bx=960.0)
    assert res.calibration.by == 540.0
    assert res.notes[0].startswith("principal point 960/540: by the centre of the 1920x1080 colour frames")
