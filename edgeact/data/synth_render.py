"""Synthetic cameras and rendering: a Kinect-v2-like colour/depth camera pair, a cluttered moving
background, and a person drawn as thick limb segments with painter's-algorithm depth ordering.

Camera space (metres) is the *depth* camera's, as in NTU RGB+D: X toward the sensor's left, Y up,
Z forward (right-handed, like Kinect camera space). Kinect images are mirrored, so image u grows
with X. The colour camera has the same orientation and sits ``tx`` metres along X from the depth
camera, so its projection is exactly the paper's Eq. 1 with an offset::

    u = fx * (X - tx) / Z + u0          v = -fy * (Y - ty) / Z + v0        (ty = 0)

i.e. Eq. 1 coefficients ``cx = fx``, ``cy = -fy`` (negative because Y is up and v is down),
``bx = u0``, ``by = v0``. Pixel coordinates put the centre of pixel (0, 0) at (0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeact.data.synth_motion import Performer

KINECT_COLOR_WIDTH = 1920
KINECT_COLOR_FX = 1060.0     # Kinect v2 colour focal length in pixels at 1920 px width
KINECT_COLOR_OFFSET = 0.052  # metres from the depth camera to the colour camera along X
_SHIFT = 4                   # cv2 sub-pixel bits: joints are drawn at 1/16 px precision
_SCALE = 1 << _SHIFT


@dataclass(frozen=True)
class ColorCamera:
    """Pinhole colour camera (square pixels) offset by ``(tx, ty, 0)`` from the depth camera."""

    width: int
    height: int
    fx: float
    fy: float
    u0: float
    v0: float
    tx: float = KINECT_COLOR_OFFSET
    ty: float = 0.0

    @classmethod
    def kinect_like(cls, width: int, height: int, offset: float = KINECT_COLOR_OFFSET) -> "ColorCamera":
        """Focal length scaled with the width like a Kinect v2 (fx = 1060 at 1920 px)."""
        f = KINECT_COLOR_FX * width / KINECT_COLOR_WIDTH
        return cls(width, height, f, f, width / 2.0, height / 2.0, float(offset), 0.0)

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """Pixels ``(..., 2)`` (u right, v down) of camera-space points ``(..., 3)``, in float64."""
        p = np.asarray(xyz, dtype=np.float64)
        z = p[..., 2]
        return np.stack([self.fx * (p[..., 0] - self.tx) / z + self.u0,
                         -self.fy * (p[..., 1] - self.ty) / z + self.v0], axis=-1)

    def eq1(self) -> dict:
        """The Eq. 1 coefficients of this camera in calibration-file form (model ``offset`` when the
        colour camera is offset, plain ``eq1`` otherwise)."""
        model = "offset" if (self.tx, self.ty) != (0.0, 0.0) else "eq1"
        return {"model": model, "cx": self.fx, "cy": -self.fy, "bx": self.u0, "by": self.v0,
                "tx": self.tx, "ty": self.ty, "rmse_px": 0.0, "source": "edgeact synth (generator truth)"}

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "fx": self.fx, "fy": self.fy,
                "u0": self.u0, "v0": self.v0, "offset": [self.tx, self.ty, 0.0]}


@dataclass(frozen=True)
class DepthCamera:
    """The 512x424 Kinect v2 depth camera (at the origin of camera space)."""

    width: int = 512
    height: int = 424
    fx: float = 365.0
    fy: float = 365.0
    u0: float = 256.0
    v0: float = 212.0

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """Depth-image pixels ``(..., 2)`` of camera-space points ``(..., 3)``."""
        p = np.asarray(xyz, dtype=np.float64)
        z = p[..., 2]
        return np.stack([self.fx * p[..., 0] / z + self.u0, -self.fy * p[..., 1] / z + self.v0], axis=-1)

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "fx": self.fx, "fy": self.fy,
                "u0": self.u0, "v0": self.v0}


@dataclass(frozen=True)
class View:
    """Pose of the depth camera in the world (floor y = 0, Y up).

    ``axes`` rows are the camera's X (its left), Y (up) and Z (forward) in world coordinates.
    """

    position: np.ndarray  # (3,)
    axes: np.ndarray      # (3, 3)

    @classmethod
    def look_at(cls, position: np.ndarray, target: np.ndarray) -> "View":
        pos = np.asarray(position, dtype=np.float64)
        z = np.asarray(target, dtype=np.float64) - pos
        z /= np.linalg.norm(z)
        x = np.cross([0.0, 1.0, 0.0], z)   # Y x Z = X in a right-handed frame
        x /= np.linalg.norm(x)
        return cls(pos, np.stack([x, np.cross(z, x), z]))

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        """Camera-space coordinates ``(..., 3)`` of world points ``(..., 3)``."""
        return (np.asarray(world, dtype=np.float64) - self.position) @ self.axes.T

    def to_dict(self) -> dict:
        return {"position": self.position.round(6).tolist(), "axes": self.axes.round(6).tolist()}


# --------------------------------------------------------------------------- background


def _random_colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))  # type: ignore[return-value]


def make_backdrop(rng: np.random.Generator, width: int, height: int, margin: int) -> np.ndarray:
    """A static cluttered room texture ``(height + 2m, width + 2m, 3)`` uint8 BGR: wall, floor,
    furniture-like boxes, posters, lines and grain."""
    h, w = height + 2 * margin, width + 2 * margin
    wall = np.array(_random_colour(rng, 60, 220), np.float32)
    floor = np.array(_random_colour(rng, 30, 160), np.float32)
    horizon = int(h * rng.uniform(0.55, 0.7))
    img = np.empty((h, w, 3), np.float32)
    img[:horizon] = wall * np.linspace(0.85, 1.1, horizon)[:, None, None]
    img[horizon:] = floor * np.linspace(0.9, 1.15, h - horizon)[:, None, None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(25, 45))):
        kind = rng.integers(4)
        c = _random_colour(rng)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        sx, sy = int(rng.integers(w // 40 + 2, w // 6 + 3)), int(rng.integers(h // 40 + 2, h // 4 + 3))
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + sx, y + sy), c, -1)
        elif kind == 1:
            cv2.ellipse(img, (x, y), (sx // 2, sy // 2), float(rng.uniform(0, 180)), 0, 360, c, -1)
        elif kind == 2:
            cv2.line(img, (x, y), (x + sx, y + sy), c, int(rng.integers(1, 4)))
        else:  # striped poster: texture at the scale of limbs
            cv2.rectangle(img, (x, y), (x + sx, y + sy), c, -1)
            c2 = _random_colour(rng)
            for k in range(0, sx, 4):
                cv2.line(img, (x + k, y), (x + k, y + sy), c2, 1)
    grain = rng.normal(0.0, 6.0, size=img.shape)
    img = np.clip(img.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (3, 3), 0)


@dataclass(frozen=True)
class Mover:
    """A shape that drifts across the frame (wrapping around); positions in pixels, speeds px/s."""

    kind: int                      # 0 rectangle, 1 ellipse
    colour: tuple[int, int, int]
    size: tuple[int, int]          # half sizes (px)
    start: tuple[float, float]
    velocity: tuple[float, float]
    wobble: float = 0.0            # px amplitude of a sinusoidal sideways path

    def centre(self, tau: float, width: int, height: int) -> tuple[float, float]:
        span_x, span_y = width + 4 * self.size[0], height + 4 * self.size[1]
        x = (self.start[0] + self.velocity[0] * tau) % span_x - 2 * self.size[0]
        y = (self.start[1] + self.velocity[1] * tau) % span_y - 2 * self.size[1]
        return x + self.wobble * np.sin(1.3 * tau + self.start[1]), y

    def draw(self, img: np.ndarray, tau: float) -> None:
        x, y = self.centre(tau, img.shape[1], img.shape[0])
        c = (int(round(x * _SCALE)), int(round(y * _SCALE)))
        if self.kind == 0:
            cv2.rectangle(img, (c[0] - self.size[0] * _SCALE, c[1] - self.size[1] * _SCALE),
                          (c[0] + self.size[0] * _SCALE, c[1] + self.size[1] * _SCALE), self.colour, -1,
                          cv2.LINE_8, _SHIFT)
        else:
            cv2.ellipse(img, c, (self.size[0] * _SCALE, self.size[1] * _SCALE), 0.0, 0.0, 360.0,
                        self.colour, -1, cv2.LINE_AA, _SHIFT)


@dataclass(frozen=True)
class Scene:
    """Everything behind the person in one recording: a drifting backdrop and moving shapes."""

    backdrop: np.ndarray           # (H + 2m, W + 2m, 3) uint8
    margin: int
    drift: tuple[float, float, float]   # (amplitude px, Hz, phase)
    movers: tuple[Mover, ...]

    def background(self, tau: float, width: int, height: int) -> np.ndarray:
        """The background frame ``(height, width, 3)`` uint8 at time ``tau`` seconds."""
        amp, freq, phase = self.drift
        dx = int(round(self.margin + amp * np.sin(2 * np.pi * freq * tau + phase)))
        dy = int(round(self.margin + 0.3 * amp * np.sin(2 * np.pi * 0.7 * freq * tau + phase)))
        img = self.backdrop[dy:dy + height, dx:dx + width].copy()
        for m in self.movers:
            m.draw(img, tau)
        return img


def make_scene(rng: np.random.Generator, backdrop: np.ndarray, margin: int, width: int, height: int,
               performer: Performer, fx: float) -> Scene:
    """Random moving clutter plus 2-3 distractor blobs coloured like the performer's clothes and
    sized like a torso at 3 m, so that only the skeleton tells where the person is."""
    movers = []
    for _ in range(int(rng.integers(4, 9))):
        movers.append(Mover(
            kind=int(rng.integers(2)), colour=_random_colour(rng),
            size=(int(rng.integers(width // 60 + 2, width // 12 + 3)),
                  int(rng.integers(height // 60 + 2, height // 10 + 3))),
            start=(float(rng.uniform(0, width)), float(rng.uniform(0, height))),
            velocity=(float(rng.uniform(-0.25, 0.25) * width), float(rng.uniform(-0.08, 0.08) * height)),
        ))
    torso_px = fx / 3.0
    for _ in range(int(rng.integers(2, 4))):
        base = np.array([performer.shirt, performer.pants, performer.skin][int(rng.integers(3))])
        colour = tuple(int(v) for v in np.clip(base + rng.integers(-15, 16, size=3), 0, 255))
        movers.append(Mover(
            kind=int(rng.integers(2)), colour=colour,  # type: ignore[arg-type]
            size=(max(2, int(torso_px * rng.uniform(0.1, 0.2))), max(2, int(torso_px * rng.uniform(0.15, 0.3)))),
            start=(float(rng.uniform(0, width)), float(rng.uniform(0.2, 0.8) * height)),
            velocity=(float(rng.uniform(-0.06, 0.06) * width), 0.0), wobble=float(rng.uniform(0, 0.05) * width),
        ))
    drift = (float(rng.uniform(0.2, 0.9) * margin), float(rng.uniform(0.05, 0.25)), float(rng.uniform(0, 2 * np.pi)))
    return Scene(backdrop, margin, drift, tuple(movers))


# --------------------------------------------------------------------------- the person

# (joint a, joint b, width in metres, part); parts pick the colour
_SEGMENTS: tuple[tuple[int, int, float, str], ...] = (
    (0, 20, 0.22, "shirt"), (12, 16, 0.14, "pants"), (20, 2, 0.09, "skin"),
    (4, 5, 0.085, "shirt"), (8, 9, 0.085, "shirt"), (5, 6, 0.07, "sleeve"), (9, 10, 0.07, "sleeve"),
    (6, 7, 0.06, "skin"), (10, 11, 0.06, "skin"), (7, 21, 0.045, "skin"), (11, 23, 0.045, "skin"),
    (6, 22, 0.03, "skin"), (10, 24, 0.03, "skin"),
    (12, 13, 0.13, "pants"), (16, 17, 0.13, "pants"), (13, 14, 0.10, "pants"), (17, 18, 0.10, "pants"),
    (14, 15, 0.08, "shoes"), (18, 19, 0.08, "shoes"),
)
_TORSO = (4, 8, 16, 12)
HEAD_RADIUS = 0.105   # metres


_SEG_A = np.array([a for a, _, _, _ in _SEGMENTS])
_SEG_B = np.array([b for _, b, _, _ in _SEGMENTS])
_SEG_W = np.array([w for _, _, w, _ in _SEGMENTS])


def draw_person(img: np.ndarray, uv: np.ndarray, z: np.ndarray, performer: Performer, fx: float) -> None:
    """Draw a person in place on ``img`` ``(H, W, 3)``: thick limb segments, a torso polygon and a
    head disc at joint pixels ``uv`` ``(25, 2)`` with camera depths ``z`` ``(25,)`` (metres).

    Parts are painted far to near; nearer parts are a little brighter, so a crossing arm reads in
    front of or behind the body.
    """
    colours = {"shirt": performer.shirt, "pants": performer.pants, "skin": performer.skin,
               "shoes": performer.shoes, "sleeve": performer.shirt if performer.long_sleeves else performer.skin}
    z = np.asarray(z, dtype=np.float64)
    pts = np.round(np.asarray(uv, dtype=np.float64) * _SCALE).astype(np.int64).tolist()
    z_torso = float(z[list(_TORSO)].mean())
    # per part: depth, pixel size, colour; the torso (-1) and head (-2) come after the segments
    depth = np.concatenate([0.5 * (z[_SEG_A] + z[_SEG_B]), [z_torso + 0.01, z[3]]])
    size = np.concatenate([_SEG_W * performer.girth, [0.06, HEAD_RADIUS * _SCALE]]) * fx / depth
    thick = np.maximum(1, np.round(size)).astype(np.int64).tolist()
    gain = np.clip(1.0 + (z_torso - depth), 0.7, 1.25).tolist()
    base = [colours[part] for _, _, _, part in _SEGMENTS] + [performer.shirt, performer.skin]
    order = np.argsort(-depth, kind="stable").tolist()
    for k in order:
        g = gain[k]
        c = tuple(min(255, int(v * g)) for v in base[k])
        if k < len(_SEGMENTS):
            a, b = pts[_SEGMENTS[k][0]], pts[_SEGMENTS[k][1]]
            cv2.line(img, a, b, c, thick[k], cv2.LINE_AA, _SHIFT)
        elif k == len(_SEGMENTS):
            poly = np.array([pts[j] for j in _TORSO], np.int32)
            cv2.fillConvexPoly(img, poly, c, cv2.LINE_AA, _SHIFT)
            cv2.polylines(img, [poly], True, c, thick[k], cv2.LINE_AA, _SHIFT)
        else:
            cv2.circle(img, pts[3], thick[k], c, -1, cv2.LINE_AA, _SHIFT)


# --------------------------------------------------------------------------- video file


def encode_avi_mjpeg(frames: np.ndarray, fps: float, quality: int = 90) -> bytes:
    """An AVI (RIFF, one MJPG video stream, ``idx1`` index) of ``frames`` ``(T, H, W, 3)`` uint8 BGR.

    Each frame is a baseline JPEG from ``cv2.imencode``; the container is written here because
    OpenCV's FFmpeg writer spends about three times as long per frame on small frames. Any AVI
    reader (FFmpeg, hence ``cv2.VideoCapture``) plays it.
    """
    import struct

    t, h, w = frames.shape[:3]
    jpegs = []
    for frame in frames:
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("cv2.imencode could not encode a JPEG frame")
        jpegs.append(buf.tobytes())
    rate, scale = (int(fps), 1) if float(fps).is_integer() else (int(round(fps * 1000)), 1000)
    biggest = max((len(j) for j in jpegs), default=0) + 8

    def chunk(fourcc: bytes, data: bytes) -> bytes:
        return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")

    def listing(kind: bytes, data: bytes) -> bytes:
        return b"LIST" + struct.pack("<I", len(data) + 4) + kind + data

    avih = struct.pack("<14I", int(round(1e6 * scale / rate)), biggest * rate // scale, 0, 0x10, t, 0, 1,
                       biggest, w, h, 0, 0, 0, 0)
    strh = b"vidsMJPG" + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, scale, rate, 0, t, biggest, 0xFFFFFFFF, 0,
                                     0, 0, w, h)
    strf = struct.pack("<IiiHH4sIiiII", 40, w, h, 1, 24, b"MJPG", w * h * 3, 0, 0, 0, 0)
    hdrl = listing(b"hdrl", chunk(b"avih", avih) + listing(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf)))
    movi_parts, index, offset = [], [], 4   # idx1 offsets count from the 'movi' fourcc
    for j in jpegs:
        c = chunk(b"00dc", j)
        movi_parts.append(c)
        index.append(b"00dc" + struct.pack("<III", 0x10, offset, len(j)))
        offset += len(c)
    body = b"AVI " + hdrl + listing(b"movi", b"".join(movi_parts)) + chunk(b"idx1", b"".join(index))
    return b"RIFF" + struct.pack("<I", len(body)) + body


__all__ = [
    "ColorCamera", "DepthCamera", "View", "Scene", "Mover", "make_backdrop", "make_scene", "draw_person",
    "KINECT_COLOR_FX", "KINECT_COLOR_OFFSET", "HEAD_RADIUS", "encode_avi_mjpeg",
]
