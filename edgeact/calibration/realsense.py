"""Projection coefficients of a RealSense colour stream, read from the camera or a recording:
no pairs to fit, its intrinsics are the exact Eq. 1 coefficients. ``pyrealsense2`` (the
``realsense`` extra) is imported when they are read.
"""

from __future__ import annotations

from pathlib import Path

from edgeact.calibration.model import Calibration
from edgeact.errors import EdgeactError
from edgeact.fileio import require_regular_file
from edgeact.optional import require


def intrinsics_from_realsense(bag: str | Path | None = None, *, width: int = 0, height: int = 0) -> Calibration:
    """Eq. 1 coefficients of a RealSense colour stream, read from the connected camera
    (``bag=None``) or from a recording (``.bag``, or ``.db3`` from SDK 2.59+).

    A RealSense colour stream is a pinhole, and RealSense camera space has X right, Y down, Z
    forward, so the calibration is exact: ``cx = fx``, ``cy = +fy``, ``bx = ppx``, ``by = ppy``
    (``rmse_px = 0``). It holds for 3D points in the *colour* camera's frame, e.g. deprojected from
    depth aligned to colour (``rs.align``); lens distortion, when the stream reports one, is
    ignored. ``width``/``height`` pick the colour resolution of a live camera (0: its default);
    for a recording they must match the recorded stream when given.
    """
    rs = require("pyrealsense2", "realsense", "RealSense support")  # needs libusb-1.0 at import
    where = str(bag) if bag is not None else "RealSense camera"
    cfg = rs.config()
    if bag is not None:
        bag = require_regular_file(bag, "RealSense recording")
        try:
            cfg.enable_device_from_file(str(bag), repeat_playback=False)
        except RuntimeError as exc:
            raise EdgeactError(f"{bag}: cannot open RealSense recording ({exc})") from None
    cfg.enable_stream(rs.stream.color, int(width), int(height), rs.format.any, 0)
    pipe = rs.pipeline()
    try:
        profile = pipe.start(cfg)
    except RuntimeError as exc:
        msg = str(exc)
        if bag is None and "No device connected" in msg:
            raise EdgeactError("no RealSense camera connected (give {bag} to play a recording)",
                               mention="bag") from None
        raise EdgeactError(f"{where}: cannot start a colour stream"
                           + (f" of {width}x{height}" if width or height else "") + f" ({msg})") from None
    try:
        stream = profile.get_stream(rs.stream.color).as_video_stream_profile()
        intr = stream.get_intrinsics()
        dev = profile.get_device()
        serial = dev.get_info(rs.camera_info.serial_number) if dev.supports(rs.camera_info.serial_number) else ""
    finally:
        pipe.stop()
    label = f"RealSense {serial} colour {intr.width}x{intr.height}".replace("  ", " ")
    source = f"{label} ({bag})" if bag is not None else label
    return Calibration(cx=float(intr.fx), cy=float(intr.fy), bx=float(intr.ppx), by=float(intr.ppy),
                       model="eq1", rmse_px=0.0, n_points=0, source=source)


__all__ = ["intrinsics_from_realsense"]
