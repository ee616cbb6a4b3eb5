import json
import math

import numpy as np
import pytest

from edgeact.errors import EdgeactError
from edgeact.geometry import (Calibration, box_is_empty, center_crop, center_crop_offsets, clamp_box, crop_at,
                              crop_box, crop_resize, crop_resize_clip, expand_box, fit_projection,
                              load_calibration, pixel_box, project, random_crop_offsets, reprojection_errors,
                              robust_fit, save_calibration)

NAN = math.nan
FRAME = (640, 480)

# --------------------------------------------------------------------------- boxes

# (points, expected box) for a 640x480 frame, margin 10 %, min_size 16; worked by hand
CROP_TABLE = [
    # w=100, h=200 -> 10 px left/right, 20 px top/bottom
    ([[100, 100], [200, 300]], (90, 80, 210, 320)),
    # left edge capped at 0
    ([[10, 10], [110, 60]], (0, 5, 120, 65)),
    # right and bottom edges capped at the frame
    ([[600, 400], [640, 480]], (596, 392, 640, 480)),
    # a joint outside the frame counts before capping: w=200 gives the 20 px margin on the right
    ([[-100, 100], [100, 200]], (0, 90, 120, 210)),
    # single joint: a 16 px square centred on it
    ([[100, 50]], (92, 42, 108, 58)),
    # single joint at a corner: the 16 px square is capped, smaller but never empty
    ([[3, 470]], (0, 462, 11, 478)),
    # joints on a vertical line: zero width grows to 16, the height gets its 10 %
    ([[100, 100], [100, 200]], (92, 90, 108, 210)),
    # NaN / inf joints are ignored
    ([[100, 100], [NAN, 5], [200, 300], [math.inf, 1000], [7, NAN]], (90, 80, 210, 320)),
]


@pytest.mark.parametrize("points,expected", CROP_TABLE)
def test_crop_box_table(points, expected):
    box = crop_box(np.array(points, float), FRAME, 0.10)
    assert box == pytest.approx(expected, abs=1e-9)


def test_crop_box_confidence_mask():
    pts = np.array([[100, 100], [200, 300], [600, 10], [5, 470]], float)
    conf = np.array([1.0, 0.5, 0.0, NAN])
    assert crop_box(pts, FRAME, confidence=conf) == pytest.approx((90, 80, 210, 320))
    # without the mask the far joints widen the box
    assert crop_box(pts, FRAME) == pytest.approx((0, 0, 640, 480))
    assert crop_box(pts, FRAME, confidence=np.array([-1.0, 0, 0, 0])) is None


def test_crop_box_leading_dims_union_over_clip():
    pts = np.full((3, 2, 25, 2), NAN)
    pts[0, 0, 0] = (100, 300)
    pts[2, 1, 24] = (200, 100)
    pts[1, 0, 5] = (150, 200)
    assert crop_box(pts, FRAME) == pytest.approx((90, 80, 210, 320))
    conf = np.ones((3, 2, 25))
    conf[2, 1, 24] = 0  # drops (200, 100): box of (100, 300) and (150, 200): w=50, h=100
    assert crop_box(pts, FRAME, confidence=conf) == pytest.approx((95, 190, 155, 310))


def test_crop_box_none_cases():
    assert crop_box(np.full((4, 25, 2), NAN), FRAME) is None
    assert crop_box(np.zeros((0, 2)), FRAME) is None
    # wholly left of and above the frame: nothing of the person is visible
    assert crop_box(np.array([[-100.0, -100.0], [-50.0, -60.0]]), FRAME) is None


def test_crop_box_bad_input_names_the_argument():
    with pytest.raises(EdgeactError, match="points must have shape"):
        crop_box(np.zeros((5, 3)), FRAME)
    with pytest.raises(EdgeactError, match="confidence must have shape"):
        crop_box(np.zeros((5, 2)), FRAME, confidence=np.ones(4))
    with pytest.raises(EdgeactError, match="frame_size"):
        crop_box(np.zeros((5, 2)), (0, 480))
    with pytest.raises(EdgeactError, match="margin"):
        crop_box(np.zeros((5, 2)), FRAME, -0.1)


def test_expand_clamp_helpers():
    assert expand_box((10, 20, 30, 60), 0.5) == pytest.approx((0, 0, 40, 80))
    assert expand_box((10, 20, 30, 60), 0.0, min_size=30) == pytest.approx((5, 20, 35, 60))
    assert clamp_box((-5, -5, 700, 500), FRAME) == (0, 0, 640, 480)
    assert clamp_box((700, 10, 800, 20), FRAME) == (640, 10, 640, 20)
    assert box_is_empty((640, 10, 640, 20)) and not box_is_empty((0, 0, 1, 1))


# --------------------------------------------------------------------------- crops


def _blocks_frame(h=100, w=200):
    """(H, W, 3) uint8 whose aligned 2x2 blocks are constant (block value = f(block index))."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = ((yy // 2) * 7 + (xx // 2) * 3) % 256
    return np.stack([base, 255 - base, (base * 5) % 256], axis=-1).astype(np.uint8)


def test_pixel_box_rounds_outward_and_caps():
    assert pixel_box((50.3, 20.7, 69.2, 39.1), (200, 100)) == (50, 20, 70, 40)
    assert pixel_box((-3.5, -0.1, 250.0, 100.5), (200, 100)) == (0, 0, 200, 100)
    with pytest.raises(EdgeactError, match="no pixels inside"):
        pixel_box((300, 10, 400, 20), (200, 100))


def test_crop_resize_identity_and_outward_rounding():
    f = _blocks_frame()
    out = crop_resize(f, (50, 20, 70, 40), size=20)
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, f[20:40, 50:70])
    np.testing.assert_array_equal(crop_resize(f, (50.3, 20.7, 69.2, 39.1), size=20), out)


def test_crop_resize_shrink_is_area_average():
    f = _blocks_frame()
    out = crop_resize(f, (40, 10, 80, 50), size=20)  # 40x40 -> 20x20: each output pixel = one 2x2 block
    np.testing.assert_array_equal(out, f[10:50:2, 40:80:2])


def test_crop_resize_shrink_averages_3x3_blocks():
    rng = np.random.default_rng(2)
    f = rng.integers(0, 256, (90, 90, 3), dtype=np.uint8)
    out = crop_resize(f, (30, 0, 90, 60), size=20)  # 60x60 -> 20x20: factor 3
    blocks = f[0:60, 30:90].reshape(20, 3, 20, 3, 3).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(out - blocks).max() <= 0.5 + 1e-9  # area average, rounded
    # sampling (no averaging) would be far off on noise
    assert np.abs(f[1:60:3, 31:90:3].astype(float) - blocks).mean() > 20


def test_crop_resize_stretches_non_square():
    f = np.zeros((100, 200, 3), np.uint8)
    f[:, 100:] = 200
    out = crop_resize(f, (60, 0, 140, 20), size=32)  # 80x20 crop, left half 0, right half 200
    assert out.shape == (32, 32, 3)
    assert (out[:, :15] == 0).all() and (out[:, 17:] == 200).all()
    big = crop_resize(f, (100, 10, 110, 20), size=256)  # enlarging a uniform patch stays uniform
    assert big.shape == (256, 256, 3) and (big == 200).all()


def test_crop_resize_bad_frames():
    with pytest.raises(EdgeactError, match="uint8"):
        crop_resize(np.zeros((10, 10, 3), np.float32), (0, 0, 5, 5), 4)
    with pytest.raises(EdgeactError, match="crop size"):
        crop_resize(np.zeros((10, 10, 3), np.uint8), (0, 0, 5, 5), 0)


def test_crop_resize_clip_matches_per_frame():
    rng = np.random.default_rng(1)
    clip = rng.integers(0, 256, (3, 60, 80, 3), dtype=np.uint8)
    box = (10.5, 5.2, 70.0, 44.9)
    out = crop_resize_clip(clip, box, 24)
    assert out.shape == (3, 24, 24, 3)
    for t in range(3):
        np.testing.assert_array_equal(out[t], crop_resize(clip[t], box, 24))
    with pytest.raises(EdgeactError, match=r"\(T, H, W, C\)"):
        crop_resize_clip(clip[0], box, 24)


def test_center_and_random_crops():
    assert center_crop_offsets(256, 256, 224) == (16, 16)
    assert center_crop_offsets(7, 10, 4) == (1, 3)
    frames = np.arange(2 * 6 * 8).reshape(2, 6, 8, 1)
    np.testing.assert_array_equal(center_crop(frames, 4), frames[:, 1:5, 2:6])
    np.testing.assert_array_equal(crop_at(frames, 2, 4, 4), frames[:, 2:6, 4:8])
    with pytest.raises(EdgeactError, match="does not fit"):
        crop_at(frames, 3, 0, 4)
    with pytest.raises(EdgeactError, match="cannot crop 7x7"):
        center_crop(frames, 7)

    rng = np.random.default_rng(0)
    offs = np.array([random_crop_offsets(256, 260, 224, rng) for _ in range(2000)])
    assert offs[:, 0].min() == 0 and offs[:, 0].max() == 32
    assert offs[:, 1].min() == 0 and offs[:, 1].max() == 36
    assert len(np.unique(offs[:, 0])) == 33
    with pytest.raises(EdgeactError, match="cannot crop"):
        random_crop_offsets(200, 256, 224, rng)


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
    with pytest.raises(EdgeactError, match="model must be one of eq1, offset, got 'pinhole'"):
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
