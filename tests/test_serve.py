"""live --serve: the page in headless Chromium (Debian package ``chromium``) shows the stream and
the current action, /status.json and /metrics parse, a stalled viewer does not stall the loop, the
token guards every route, bad addresses are one line, and without --serve nothing listens."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from edgeact.errors import EdgeactError
from edgeact.live.serve_address import bind_listener, check_serve, parse_serve_address
from live_clip import LiveProcess, refused_line, two_action_clip

pytest.importorskip("starlette", reason="needs starlette (pip install 'edgeact[serve]')")
pytest.importorskip("uvicorn", reason="needs uvicorn (pip install 'edgeact[serve]')")
parser = pytest.importorskip("prometheus_client.parser",
                             reason="needs prometheus-client (pip install 'edgeact[serve]')")

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).is_file()), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs the Debian package chromium "
                                    "(apt-get install chromium), which the README's test command installs")
URL_LINE = r"serving the remote view on (http://\S+/)"


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize("text, want", [
    ("8080", ("127.0.0.1", 8080)), (":8080", ("127.0.0.1", 8080)), ("0.0.0.0:80", ("0.0.0.0", 80)),
    ("[::1]:9000", ("::1", 9000)), ("localhost:0", ("localhost", 0)),
])
def test_serve_addresses_parse(text, want):
    assert parse_serve_address(text) == want


@pytest.mark.parametrize("text, says", [("host:port", "not a number"), ("::1:80", "in brackets"),
                                        ("1.2.3.4:70000", "not a number"), ("[::1]80", "give PORT")])
def test_bad_serve_addresses_are_one_line(text, says):
    with pytest.raises(EdgeactError, match=re.escape(says)):
        parse_serve_address(text)


def test_other_than_loopback_needs_a_token():
    assert check_serve("127.0.0.1:0", None) == ("127.0.0.1", 0)
    assert check_serve("[::1]:0", None) == ("::1", 0)
    with pytest.raises(EdgeactError, match=r"^address: 0\.0\.0\.0:8080: binding 0\.0\.0\.0 lets other machines watch "
                                           r"the cameras; give token \(or EDGEACT_SERVE_TOKEN\), or serve on 127\.0\.0\.1$"):
        check_serve("0.0.0.0:8080", None)
    with pytest.raises(EdgeactError, match=r"^address: \[::1\]80: give PORT, :PORT or HOST:PORT \(e\.g\. 8080, or "
                                           r"0\.0\.0\.0:8080 with token\)$"):
        check_serve("[::1]80", None)
    with pytest.raises(EdgeactError, match="^address: host:port: the port is not a number"):
        check_serve("host:port", None)
    with pytest.raises(EdgeactError, match="^token: is empty"):
        check_serve("127.0.0.1:0", " ")
    assert check_serve("0.0.0.0:8080", "s3cret") == ("0.0.0.0", 8080)


def test_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(EdgeactError, match=f"^host, port: 127.0.0.1:{port}: cannot listen: the port is in use"):
            bind_listener("127.0.0.1", port)
        from types import SimpleNamespace

        from edgeact.live.options import LiveOptions
        from edgeact.live.remote import remote_sinks

        with pytest.raises(EdgeactError, match=f"^serve: 127.0.0.1:{port}: cannot listen: the port is in use"):
            remote_sinks(LiveOptions(serve=f"127.0.0.1:{port}"), SimpleNamespace(hierarchy=None, meta={}),
                         end_after=1.0, title="t")


# --------------------------------------------------------------------------- a live run


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return two_action_clip(tmp_path_factory.mktemp("serve_clip"))


def _get(url: str, token: str | None = None, timeout: float = 30.0) -> tuple[int, bytes, dict]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def _status(url: str, token: str | None = None) -> dict:
    code, body, _ = _get(url + "status.json", token)
    assert code == 200, body
    return json.loads(body)


def _listening_ports(pid: int) -> set[int]:
    """TCP ports the process ``pid`` listens on: its socket inodes (``/proc/PID/fd``) matched
    against the listening sockets of ``/proc/PID/net/tcp`` and ``tcp6`` (state 0A)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def _chromium(args: list[str], profile: Path, timeout: float = 90.0) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--timeout=3000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


PAGE_BACKGROUND = (17, 17, 17)    # the page's #111, BGR


def _stream_region(png: Path, size: tuple[int, int]) -> np.ndarray:
    """The part of a screenshot showing the video: the largest block of pixels other than the
    page's background (text lines are thin blocks), which must have the video's ``size`` (W, H)."""
    import cv2

    img = cv2.imread(str(png))
    fg = (np.abs(img.astype(np.int16) - np.array(PAGE_BACKGROUND)).max(axis=-1) > 8).astype(np.uint8)
    fg = cv2.dilate(fg, np.ones((5, 5), np.uint8))
    n, _, boxes, _ = cv2.connectedComponentsWithStats(fg)
    x, y, w, h, _ = max(boxes[1:], key=lambda b: b[2] * b[3])
    assert abs(w - size[0]) <= 8 and abs(h - size[1]) <= 8, f"the stream image is not on the page ({w}x{h})"
    return img[y:y + h, x:x + w]


@needs_chromium
def test_the_page_shows_the_stream_and_the_current_action(clip, tmp_path):
    import cv2

    video, skel, _ = clip
    jsonl = tmp_path / "d.jsonl"
    live = LiveProcess(["--video", video, "--skeleton", skel, "--loop", "--quiet", "--device", "cpu",
                        "--threshold", "0", "--jsonl", jsonl, "--serve", "127.0.0.1:0"])
    try:
        url = live.wait_line(URL_LINE, timeout=120).group(1)
        deadline = time.monotonic() + 60
        while not _status(url)["sources"][0]["tracks"]:
            assert time.monotonic() < deadline, "no decision shown within 60 s"
            time.sleep(0.2)
        first = cv2.VideoCapture(str(video)).read()[1]
        shots = []
        for k in range(2):
            png = tmp_path / f"page{k}.png"
            r = _chromium([f"--screenshot={png}", "--window-size=800,700", url], tmp_path / f"profile{k}")
            assert r.returncode == 0 and png.is_file(), r.stderr[-2000:]
            shots.append(_stream_region(png, (first.shape[1], first.shape[0])))
            time.sleep(0.5)
        h, w = min(a.shape[0] for a in shots), min(a.shape[1] for a in shots)
        a, b = (x[:h, :w] for x in shots)
        changed = (np.abs(a.astype(np.int16) - b.astype(np.int16)) > 24).any(axis=-1).mean()
        assert changed > 0.002, "the stream image did not change between the two screenshots"
        # the current action, as the page shows it, is one the run decided
        r = _chromium(["--dump-dom", url], tmp_path / "profile_dom")
        page = r.stdout.split("<script>")[0]                       # the page, not its script
        actions = re.findall(r'<td class="action[^"]*">([^<]*)</td>', page)
        assert actions, page[-3000:]
        rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
        decided = {r["fine"][0]["label"] for r in rows if "event" not in r}
        assert set(actions) <= decided
        # /status.json and /metrics parse, and agree with each other
        st = _status(url)
        src = st["sources"][0]
        assert src["source"] == "cam0" and src["frames"] > 0 and src["rates"]["input_fps"] > 0
        assert st["model"]["name"] == "demo.pt"
        code, body, headers = _get(url + "metrics")
        assert code == 200 and headers["content-type"].startswith("text/plain")
        fams = {f.name: f for f in parser.text_string_to_metric_families(body.decode())}
        frames = [s.value for s in fams["edgeact_frames"].samples if s.labels == {"source": "cam0"}]
        assert frames and frames[0] >= src["frames"]
        lat = fams["edgeact_decision_latency_seconds"]
        count = [s.value for s in lat.samples if s.name.endswith("_count")]
        assert count and count[0] > 0
        assert {"edgeact_pose_fps", "edgeact_decisions_per_second", "edgeact_dropped",
                "edgeact_model_info"} <= set(fams)
        assert live.interrupt() == 130
    finally:
        live.kill()


def _wait_viewers(url: str, n: int, why: str, timeout: float = 30.0) -> None:
    """Wait until ``/status.json`` counts ``n`` viewers of cam0; ``why`` fails the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while _status(url)["sources"][0]["viewers"] != n:
        assert time.monotonic() < deadline, why
        time.sleep(0.1)


def test_a_stalled_viewer_does_not_stall_the_loop(clip):
    video, skel, _ = clip
    live = LiveProcess(["--video", video, "--skeleton", skel, "--loop", "--quiet", "--device", "cpu",
                        "--serve", "127.0.0.1:0"])
    try:
        url = live.wait_line(URL_LINE, timeout=120).group(1)
        host, port = url[7:-1].rsplit(":", 1)
        viewer = socket.socket()
        viewer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # before connecting: a small window
        viewer.connect((host, int(port)))
        viewer.sendall(b"GET /video/cam0.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
        head = viewer.recv(4096)
        assert b"200" in head.split(b"\r\n")[0] and b"multipart/x-mixed-replace" in head
        _wait_viewers(url, 1, "the stream is not counted as a viewer")
        before = _status(url)["sources"][0]
        time.sleep(3.0)                                    # the viewer reads nothing meanwhile
        after = _status(url)["sources"][0]
        # 3 s of a 30 fps recording paced in real time: ~90 frames read while the viewer stalls
        assert after["frames"] - before["frames"] >= 45, (before, after)
        assert after["decisions"] > before["decisions"]
        viewer.close()                                     # a vanished viewer is let go
        _wait_viewers(url, 0, "the closed stream still counts as a viewer")
        assert live.interrupt() == 130
    finally:
        live.kill()


def test_a_token_guards_every_route(clip):
    video, skel, _ = clip
    live = LiveProcess(["--video", video, "--skeleton", skel, "--loop", "--quiet", "--device", "cpu",
                        "--serve", "127.0.0.1:0", "--serve-token", "s3cret"])
    try:
        url = live.wait_line(URL_LINE, timeout=120).group(1)
        for route in ("", "status.json", "metrics", "video/cam0.mjpg"):
            code, _, headers = _get(url + route)
            assert code == 401 and headers["www-authenticate"].startswith("Bearer"), route
            assert _get(url + route, token="wrong")[0] == 401
        assert _status(url, token="s3cret")["sources"][0]["source"] == "cam0"
        code, body, headers = _get(url + "?token=s3cret")
        assert code == 200 and b"<img" in body and "edgeact_token=s3cret" in headers["set-cookie"]
        assert "httponly" in headers["set-cookie"].lower()
        assert live.interrupt() == 130
    finally:
        live.kill()


def test_nothing_listens_without_serve(clip, tmp_path):
    video, skel, _ = clip
    jsonl = tmp_path / "d.jsonl"
    plain = LiveProcess(["--video", video, "--skeleton", skel, "--loop", "--quiet", "--device", "cpu",
                         "--jsonl", jsonl])
    served = LiveProcess(["--video", video, "--skeleton", skel, "--loop", "--quiet", "--device", "cpu",
                          "--serve", "127.0.0.1:0"])
    try:
        url = served.wait_line(URL_LINE, timeout=120).group(1)
        port = int(url.rsplit(":", 1)[1].strip("/"))
        assert _listening_ports(served.pid) == {port}        # the check sees a listener when there is one
        deadline = time.monotonic() + 120
        while not (jsonl.is_file() and len(jsonl.read_text().splitlines()) > 2):   # its loop is deciding
            assert plain.proc.poll() is None and time.monotonic() < deadline, plain.stderr
            time.sleep(0.2)
        assert _listening_ports(plain.pid) == set()
        assert plain.interrupt() == 130 and served.interrupt() == 130
    finally:
        plain.kill()
        served.kill()


@pytest.mark.parametrize("args, says", [
    (["--serve", "0.0.0.0:0"], "--serve: 0.0.0.0:0: binding 0.0.0.0 lets other machines watch the cameras; give "
                               "--serve-token (or EDGEACT_SERVE_TOKEN)"),
    (["--serve", "127.0.0.1:http"], "not a number"),
    (["--serve", "[::1]80"], "--serve: [::1]80: give PORT, :PORT or HOST:PORT (e.g. 8080, or 0.0.0.0:8080 with "
                             "--serve-token)"),
])
def test_bad_serve_options_are_one_line_and_exit_2(args, says, clip):
    line = refused_line(clip, args)
    assert says in line, line


def test_a_port_in_use_stops_live_before_the_loop(clip):
    video, skel, _ = clip
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        live = LiveProcess(["--video", video, "--skeleton", skel, "--no-realtime", "--quiet", "--device", "cpu",
                            "--serve", f"127.0.0.1:{port}"])
        assert live.wait() == 2
    lines = [ln for ln in live.lines if ln.strip()]
    assert len(lines) == 1 and f"--serve: 127.0.0.1:{port}: cannot listen: the port is in use" in lines[0], live.stderr
