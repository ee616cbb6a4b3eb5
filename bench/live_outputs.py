"""Does publishing or serving slow the live loop? The same loop, side by side in one process:
no remote output, ``--mqtt`` to a broker that refuses connections, ``--mqtt`` to a broker that
accepts and then stalls (reads nothing, acknowledges nothing), ``--serve`` with nobody watching,
with a viewer that stalls after its first bytes, and with a viewer that reads everything.

Each row plays one demo clip (its own skeleton replayed, the bundled demo model) in a loop until
``--decisions`` decisions, as fast as possible (``--no-realtime``: every hand-over blocks, so any
time a sink costs the loop shows as fewer decisions per second), and then ``--realtime-seconds``
paced at the clip's 30 fps (live latency, where CPU taken by an encoder or publisher thread would
show). Rows run in turn, ``--reps`` times, and the medians are reported with ratios to the row
without outputs. MQTT rows publish every decision (``--mqtt-every``).

    python bench/live_outputs.py --reps 3 --json bench/results/live_outputs_cpu2.json
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

ROWS = ("none", "mqtt refused", "mqtt stalled", "serve idle", "serve stalled viewer", "serve reading viewer")


class _StopAfter:
    """A sink that asks the loop to stop after ``n`` decisions or ``seconds`` of wall time."""

    wants_frames = False

    def __init__(self, n: int | None = None, seconds: float | None = None):
        self.n, self.seconds, self.count = n, seconds, 0
        self.t0 = time.perf_counter()
        self.stop_requested = False

    def decision(self, d) -> None:
        self.count += 1
        if self.n is not None and self.count >= self.n:
            self.stop_requested = True

    def frame(self, event, latest) -> None:
        pass

    def tick(self, stats, latest) -> None:
        if self.seconds is not None and time.perf_counter() - self.t0 >= self.seconds:
            self.stop_requested = True

    def close(self, stats) -> None:
        pass


class _StalledBroker:
    """Accepts MQTT clients, answers CONNECT with a CONNACK, then reads nothing more."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            conn.recv(256)                       # the CONNECT packet
            conn.sendall(b"\x20\x02\x00\x00")   # CONNACK, accepted
            self.held.append(conn)               # and never read again


class _Viewer:
    """A client of ``/video/cam0.mjpg`` that reads everything, or stops after the headers."""

    def __init__(self, url: str, *, read: bool):
        host, port = url[len("http://"):].rstrip("/").rsplit(":", 1)
        self.sock = socket.socket()
        if not read:    # before connecting, so the receive window stays small: the server's sends block soon
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        self.sock.sendall(b"GET /video/cam0.mjpg HTTP/1.1\r\nHost: bench\r\n\r\n")
        self.bytes = len(self.sock.recv(4096))
        self._on = read
        if read:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while self._on:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.bytes += len(chunk)

    def close(self) -> None:
        self._on = False
        self.sock.close()


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def _run(row: str, runtime, base, clip, *, realtime: bool, decisions: int, seconds: float, stalled: _StalledBroker,
         refused_port: int) -> dict:
    from edgeact.live.app import run_loop
    from edgeact.live.pose import SkeletonReplay
    from edgeact.live.remote import remote_sinks
    from edgeact.live.sources import VideoSource

    opts = replace(base, realtime=realtime)
    if row == "mqtt refused":
        opts = replace(opts, mqtt=f"mqtt://127.0.0.1:{refused_port}/bench", mqtt_every=True)
    elif row == "mqtt stalled":
        opts = replace(opts, mqtt=f"mqtt://127.0.0.1:{stalled.port}/bench", mqtt_every=True)
    elif row.startswith("serve"):
        opts = replace(opts, serve="127.0.0.1:0")
    notes: list[str] = []
    sinks = remote_sinks(opts, runtime, end_after=4.0, title="bench", on_note=notes.append)
    viewer = None
    if row in ("serve stalled viewer", "serve reading viewer"):
        viewer = _Viewer(sinks[0].url, read=row == "serve reading viewer")
    stop = _StopAfter(n=None if realtime else decisions, seconds=seconds if realtime else None)
    source = VideoSource(clip.video, realtime=realtime, loop=True)
    pose = SkeletonReplay(clip.skeleton)
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    try:
        stats = run_loop(source, pose, runtime, opts, [*sinks, stop])
    finally:
        wall = time.perf_counter() - t0
        source.close()
    rss1 = _rss_mb()
    extra = {}
    for s in sinks:
        if hasattr(s, "publisher"):
            extra["mqtt"] = s.publisher.counters()
        if hasattr(s, "hub"):
            extra["jpegs_encoded"] = s.hub.encoded
    if viewer is not None:
        extra["viewer_bytes"] = viewer.bytes
    t1 = time.perf_counter()
    for s in sinks:
        s.close(stats)
    if viewer is not None:
        viewer.close()
    summary = stats.summary()
    return {"row": row, "mode": "realtime" if realtime else "no-realtime", "decisions": stats.decisions,
            "frames": stats.frames, "wall_s": round(wall, 3), "decisions_per_s": round(stats.decisions / wall, 2),
            "latency_p50_ms": summary["latency_ms"]["p50"], "latency_p95_ms": summary["latency_ms"]["p95"],
            "rss_growth_mb": round(rss1 - rss0, 1), "close_s": round(time.perf_counter() - t1, 2), **extra}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--clip", type=int, default=2, help="which demo clip (action number) to loop")
    ap.add_argument("--decisions", type=int, default=200, help="decisions per --no-realtime row")
    ap.add_argument("--realtime-seconds", type=float, default=8.0, help="seconds per realtime row (0: none)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rows", default=",".join(ROWS), help="comma list out of: " + ", ".join(ROWS))
    ap.add_argument("--stride", default="4", help="a decision every N frames (or Ns)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import tempfile

    import torch

    from edgeact.fileio import atomic_write_json
    from edgeact.live.app import LiveOptions, open_classifier
    from edgeact.live.demo import render_demo_clips

    torch.set_num_threads(args.threads)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        ap.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    base = LiveOptions(model=args.model, device="cpu", quiet=True, stride=args.stride)
    runtime = open_classifier(base)
    stalled = _StalledBroker()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused_port = s.getsockname()[1]      # closed again: connections are refused
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="edgeact-bench-") as tmp:
        clip = render_demo_clips(Path(tmp), classes=len(runtime.classes))[args.clip - 1]
        modes = [False] + ([True] if args.realtime_seconds > 0 else [])
        # untimed: the first run of a process pays for allocator growth and lazy imports
        _run("none", runtime, base, clip, realtime=False, decisions=args.decisions // 2, seconds=0.0,
             stalled=stalled, refused_port=refused_port)
        for rep in range(args.reps):
            for realtime in modes:
                for row in rows:
                    r = _run(row, runtime, base, clip, realtime=realtime, decisions=args.decisions,
                             seconds=args.realtime_seconds, stalled=stalled, refused_port=refused_port)
                    r["rep"] = rep
                    results.append(r)
                    print(f"rep {rep} {r['mode']:>11} {row:>21}: {r['decisions_per_s']:7.2f} decisions/s, latency "
                          f"p50 {r['latency_p50_ms'] or 0:6.0f} ms p95 {r['latency_p95_ms'] or 0:6.0f} ms, "
                          f"rss +{r['rss_growth_mb']} MB", file=sys.stderr, flush=True)
    table = []
    for mode in ("no-realtime", "realtime"):
        ref = [r for r in results if r["mode"] == mode and r["row"] == "none"]
        if not ref:
            continue
        ref_rate = statistics.median(r["decisions_per_s"] for r in ref)
        ref_p50 = statistics.median(r["latency_p50_ms"] for r in ref)
        ref_p95 = statistics.median(r["latency_p95_ms"] for r in ref)
        for row in rows:
            rs = [r for r in results if r["mode"] == mode and r["row"] == row]
            rate = statistics.median(r["decisions_per_s"] for r in rs)
            p50 = statistics.median(r["latency_p50_ms"] for r in rs)
            p95 = statistics.median(r["latency_p95_ms"] for r in rs)
            table.append({"mode": mode, "row": row, "decisions_per_s": round(rate, 2),
                          "decisions_per_s_range": [min(r["decisions_per_s"] for r in rs),
                                                    max(r["decisions_per_s"] for r in rs)],
                          "rate_ratio": round(rate / ref_rate, 3), "latency_p50_ms": round(p50, 1),
                          "p50_ratio": round(p50 / ref_p50, 3), "latency_p95_ms": round(p95, 1),
                          "p95_ratio": round(p95 / ref_p95, 3),
                          "rss_growth_mb_max": max(r["rss_growth_mb"] for r in rs)})
    print(f"{'mode':>11} {'row':>21} {'decisions/s':>11} {'x none':>7} {'p50 ms':>7} {'x none':>7} "
          f"{'p95 ms':>7} {'x none':>7} {'rss+ MB':>8}")
    for t in table:
        print(f"{t['mode']:>11} {t['row']:>21} {t['decisions_per_s']:11.2f} {t['rate_ratio']:7.3f} "
              f"{t['latency_p50_ms']:7.0f} {t['p50_ratio']:7.3f} {t['latency_p95_ms']:7.0f} {t['p95_ratio']:7.3f} "
              f"{t['rss_growth_mb_max']:8.1f}")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} (1 min), {load[2]:.1f} (15 min) on {os.cpu_count()} CPUs")
    if args.json:
        atomic_write_json(args.json, {"args": vars(args) | {"json": str(args.json)}, "cpus": os.cpu_count(),
                                      "loadavg_at_end": [round(x, 2) for x in load], "table": table,
                                      "runs": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
