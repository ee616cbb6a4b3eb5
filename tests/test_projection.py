"""The projection model (paper Eq. 1, with an optional camera offset), its fits and its files,
against hand-computed values."""

import json
import math

import numpy as np
import pytest

from edgeact.calibration import (
    Calibration,
    fit_projection,
    load_calibration,
    project,
    reprojection_errors,
    robust_fit,
    save_calibration,
)
from edgeact.errors import EdgeactError

NAN = math.nan

# --------------------------------------------------------------------------- projection

CAL = Calibration(cx=500.0, cy=-400.0, bx=320.0, by=240.0)


def test_project_hand_values_and_invalid_depth():
    pts = np.array([[0.5, 0.25, 2.0],       # u = 500*0.25+320 = 445, v = -400*0.125+240 = 190
                    [0.0, 0.0, 1.0],        # principal point
                    [1.0, 1.0, 0.0],        # Z = 0
                    [1.0, 1.0, -2.0],       # behind the camera
                    [NAN, 1.0, 2.0]])
    uv = project(pts, CAL)
    np.testing.assert_allclose(uv[:2], [[445, 190], [320, 240]])
    assert np.isnan(uv[2:]).all()
    off = Calibration(cx=500.0, cy=-400.0, bx=320.0, by=240.0, tx=0.1, ty=-0.2, model="offset")
    # u = 500*(0.5-0.1)/2 + 320 = 420, v = -400*(0.25+0.2)/2 + 240 = 150
    np.testing.assert_allclose(project(pts[:1], off), [[420, 150]])


def test_project_keeps_shape_and_float32():
    pts = np.ones((2, 3, 25, 3), np.float32)
    out = project(pts, CAL)
    assert out.shape == (2, 3, 25, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0, 0], [820, -160])
    with pytest.raises(EdgeactError, match=r"\(\.\.\., 3\)"):
        project(np.ones((4, 2)), CAL)


def _scene(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(1.5, 5, n)]


def test_fit_eq1_hand_computed():
    # bx = by = 0: cx = sum(a*u)/sum(a^2) with a = X/Z = 1, 2, 0.5 -> (10 + 42 + 2.5) / 5.25
    pts = np.array([[1.0, 2.0, 1.0], [4.0, 1.0, 2.0], [1.0, -1.0, 2.0]])   # Y/Z = 2, 0.5, -0.5
    pix = np.array([[10.0, 20.0], [21.0, 6.0], [5.0, -4.0]])
    c = fit_projection(pts, pix, bx=0.0, by=0.0)
    assert c.cx == pytest.approx(54.5 / 5.25)
    assert c.cy == pytest.approx((40 + 3 + 2) / (4 + 0.25 + 0.25))
    assert (c.bx, c.by, c.tx, c.ty, c.n_points, c.model) == (0.0, 0.0, 0.0, 0.0, 3, "eq1")
    err = np.hypot(pix[:, 0] - c.cx * np.array([1, 2, 0.5]), pix[:, 1] - c.cy * np.array([2, 0.5, -0.5]))
    assert c.rmse_px == pytest.approx(np.sqrt(np.mean(err ** 2)))


@pytest.mark.parametrize("fit_center", [False, True])
def test_fit_eq1_recovers_exact_coefficients(fit_center):
    pts = _scene()
    pix = project(pts, CAL)
    c = fit_projection(pts, pix, bx=0 if fit_center else 320, by=0 if fit_center else 240,
                       fit_center=fit_center)
    assert (c.cx, c.cy, c.bx, c.by) == pytest.approx((500, -400, 320, 240), abs=1e-8)
    assert c.rmse_px < 1e-8 and c.n_points == 200


def test_fit_offset_recovers_translation():
    true = Calibration(cx=1050.0, cy=-1040.0, bx=960.0, by=540.0, tx=0.052, ty=-0.013, model="offset")
    pts = _scene(300)
    pix = project(pts, true)
    c = fit_projection(pts, pix, bx=960, by=540, model="offset")
    assert (c.cx, c.cy, c.tx, c.ty) == pytest.approx((1050, -1040, 0.052, -0.013), abs=1e-8)
    c = fit_projection(pts, pix, bx=0, by=0, model="offset", fit_center=True)
    assert (c.cx, c.cy, c.bx, c.by, c.tx, c.ty) == pytest.approx((1050, -1040, 960, 540, 0.052, -0.013), abs=1e-7)
    # plain Eq. 1 cannot explain the offset: tens of pixels of error at 1.5-5 m
    assert fit_projection(pts, pix, bx=960, by=540).rmse_px > 5


def test_fit_noisy_within_noise():
    rng = np.random.default_rng(3)
    pts = _scene(2000, seed=4)
    pix = project(pts, CAL) + rng.normal(0, 1.0, (2000, 2))
    c = fit_projection(pts, pix, bx=320, by=240)
    # standard error of cx is sigma / sqrt(sum a^2) ~ 1 / sqrt(2000 * 0.05) ~ 0.1 px
    assert abs(c.cx - 500) < 0.5 and abs(c.cy + 400) < 0.5
    assert c.rmse_px == pytest.approx(math.sqrt(2), rel=0.05)  # 2D error of unit noise per axis


def test_fit_drops_points_behind_camera():
    pts = _scene(20)
    pix = project(pts, CAL)
    pts_bad = pts.copy()
    pts_bad[:5, 2] *= -1
    pix_bad = pix.copy()
    pix_bad[:5] = 0.0  # whatever pixels they had, they must not count
    c = fit_projection(pts_bad, pix_bad, bx=320, by=240)
    assert c.n_points == 15 and c.cx == pytest.approx(500) and c.rmse_px < 1e-8
    pts_bad[:18, 2] = 0.0
    with pytest.raises(EdgeactError, match=r"at least 3 .* got 2 \(18 dropped for Z <= 0\)"):
        fit_projection(pts_bad, pix_bad, bx=320, by=240)


def test_fit_degenerate_inputs():
    pts = _scene(10)
    pix = project(pts, CAL)
    with pytest.raises(EdgeactError, match="at least 3 correspondences"):
        fit_projection(pts[:2], pix[:2], bx=320, by=240)
    with pytest.raises(EdgeactError, match="at least 6 correspondences .* offset"):
        fit_projection(pts[:5], pix[:5], bx=320, by=240, model="offset")
    zero_x = pts.copy()
    zero_x[:, 0] = 0
    with pytest.raises(EdgeactError, match="every point has X = 0"):
        fit_projection(zero_x, pix, bx=320, by=240)
    same_ratio = pts.copy()
    same_ratio[:, 0] = 0.3 * same_ratio[:, 2]  # X/Z = 0.3 everywhere: cx and bx cannot be told apart
    with pytest.raises(EdgeactError, match="ill-conditioned.*X/Z has .*no spread"):
        fit_projection(same_ratio, pix, bx=0, by=0, fit_center=True)
    one_depth = pts.copy()
    one_depth[:, 2] = 3.0  # 1/Z constant: the offset and the centre cannot be told apart
    with pytest.raises(EdgeactError, match="ill-conditioned.*several depths"):
        fit_projection(one_depth, pix, bx=0, by=0, fit_center=True, model="offset")
    nan = pix.copy()
    nan[4, 1] = NAN
    with pytest.raises(EdgeactError, match="correspondence 4 has a non-finite value"):
        fit_projection(pts, nan, bx=320, by=240)
    with pytest.raises(EdgeactError, match="pixels must have shape \\(10, 2\\)"):
        fit_projection(pts, pix[:9], bx=320, by=240)
    with pytest.raises(EdgeactError, match="^model: must be one of eq1, offset, got 'pinhole'"):
        fit_projection(pts, pix, bx=320, by=240, model="pinhole")


def test_robust_fit_rejects_outliers():
    rng = np.random.default_rng(5)
    pts = _scene(300, seed=6)
    pix = project(pts, CAL) + rng.normal(0, 0.5, (300, 2))
    bad = np.zeros(300, bool)
    bad[rng.choice(300, 30, replace=False)] = True
    pix[bad] += rng.choice([-1, 1], (30, 2)) * rng.uniform(30, 80, (30, 2))
    plain = fit_projection(pts, pix, bx=320, by=240)
    c, outliers = robust_fit(pts, pix, bx=320, by=240)
    np.testing.assert_array_equal(outliers, bad)
    assert c.n_points == 270
    assert abs(c.cx - 500) < 0.3 and abs(c.cy + 400) < 0.3
    assert c.rmse_px == pytest.approx(0.5 * math.sqrt(2), rel=0.15)
    assert plain.rmse_px > 10 * c.rmse_px


def test_robust_fit_floor_keeps_small_errors():
    # near-exact data (sigma ~0.01 px) with 5 points 1 px off: k*sigma alone would reject them,
    # the 2 px floor keeps them
    rng = np.random.default_rng(8)
    pts = _scene(100, seed=7)
    pix = project(pts, CAL) + rng.normal(0, 0.01, (100, 2))
    pix[:5, 0] += 1.0
    c, outliers = robust_fit(pts, pix, bx=320, by=240)
    assert not outliers.any() and c.n_points == 100
    c, outliers = robust_fit(pts, pix, bx=320, by=240, floor_px=0.0)
    np.testing.assert_array_equal(np.flatnonzero(outliers), np.arange(5))
    # rounding to whole pixels (error <= 0.71 px) is never rejected with the defaults
    c, outliers = robust_fit(pts, np.round(project(pts, CAL)), bx=320, by=240)
    assert not outliers.any()


def test_robust_fit_points_behind_are_not_outliers():
    pts = _scene(30)
    pix = project(pts, CAL)
    pts[0, 2] = -1.0
    c, outliers = robust_fit(pts, pix, bx=320, by=240)
    assert not outliers.any() and c.n_points == 29


# --------------------------------------------------------------------------- calibration files


def test_save_load_roundtrip(tmp_path):
    c = Calibration(cx=1.5, cy=-2.5, bx=3.0, by=4.0, tx=0.1, ty=0.2, model="offset", rmse_px=0.75,
                    n_points=12, source="test")
    p = tmp_path / "sub" / "c.json"
    save_calibration(p, c)
    d = json.loads(p.read_text())
    assert {"cx", "cy", "bx", "by", "rmse_px", "n_points", "model"} <= d.keys()
    assert load_calibration(p) == c
    assert list(p.parent.iterdir()) == [p]  # no temp file left behind
    save_calibration(p, Calibration(cx=1, cy=1, bx=0, by=0))
    assert json.loads(p.read_text())["rmse_px"] is None  # strict JSON: no NaN literal
    assert math.isnan(load_calibration(p).rmse_px)


def test_load_minimal_file_with_defaults(tmp_path):
    p = tmp_path / "nucla.json"
    p.write_text('{"model": "eq1", "cx": 554.84, "cy": 583.68, "bx": 320, "by": 240, "source": "paper"}')
    c = load_calibration(p)
    assert (c.cx, c.cy, c.bx, c.by, c.tx, c.ty, c.n_points) == (554.84, 583.68, 320, 240, 0, 0, 0)


@pytest.mark.parametrize("text,msg", [
    ('{"cx": 1, "cy": 1, "bx": 0}', "missing key 'by'"),
    ('{"cx": 1, "cy": "a", "bx": 0, "by": 0}', "cy must be a number"),
    ('{"cx": 1, "cy": 1, "bx": 0, "by": 0, "model": "fisheye"}', "model must be one of"),
    ('{"cx": 1, "cy": 1, "bx": 0, "by": 0, "n_points": -1}', "n_points"),
    ('{"cx": 1, "cy": 1,', "not valid JSON"),
    ('[1, 2]', "expected a JSON object"),
])
def test_load_bad_files_name_the_file(tmp_path, text, msg):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(EdgeactError, match=msg) as exc:
        load_calibration(p)
    assert str(p) in str(exc.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(EdgeactError, match="no such calibration file"):
        load_calibration(tmp_path / "nope.json")


def test_reprojection_errors():
    pts = np.array([[0.5, 0.25, 2.0], [0.0, 0.0, -1.0]])
    err = reprojection_errors(pts, np.array([[448.0, 194.0], [0.0, 0.0]]), CAL)
    assert err[0] == pytest.approx(5.0) and np.isnan(err[1])
