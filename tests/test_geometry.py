import math

import numpy as np
import pytest

from edgeact.errors import EdgeactError
from edgeact.geometry import (
    box_is_empty,
    center_crop,
    center_crop_offsets,
    clamp_box,
    crop_at,
    crop_box,
    crop_resize,
    crop_resize_clip,
    expand_box,
    pixel_box,
    random_crop_offsets,
)

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
