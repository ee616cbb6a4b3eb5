"""``live --serve HOST:PORT``: a remote view of a headless box, and its Prometheus metrics.

Routes (Starlette on uvicorn, in one server thread beside the loop):

``/``
    The page: each stream's overlay, the current action of every person and the stage rates
    (rendered on the server, then refreshed from ``/status.json`` once a second).
``/video/<source>.mjpg``
    The overlay as ``multipart/x-mixed-replace`` JPEGs, at most :data:`STREAM_MAX_FPS` a second.
    Frames are drawn and encoded by one encoder thread, and only when a viewer is ready for the
    next one: a viewer that reads slowly or stops reading gets the newest frame when it can take
    one (frames between are neither encoded nor kept), so a stalled viewer costs one JPEG of
    memory and none of the loop's time.
``/status.json``
    Sources, counters, rates, latency, current tracks and latest decisions (:meth:`Telemetry.status`).
``/metrics``
    Prometheus text format (:mod:`edgeact.live.telemetry`).

Why Starlette + uvicorn rather than the standard library's threaded server: a stream per viewer
is a coroutine here, not a thread, and uvicorn applies TCP back-pressure to each one, so a stalled
viewer blocks only its own coroutine; both are small, pure-Python and well kept.

Access: loopback by default (``--serve 8080`` or ``:8080``); another address needs ``--serve-token``.
With a token every route wants ``Authorization: Bearer TOKEN`` (Prometheus: ``authorization``
``credentials``), or ``?token=TOKEN`` once in a browser, which sets an HttpOnly cookie for the page's
own requests. The socket is bound before the loop starts, so a port in use is a one-line error.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import html
import ipaddress
import socket
import threading
import time
from typing import Callable, Optional

from edgeact.errors import EdgeactError
from edgeact.live.telemetry import Telemetry, source_id
from edgeact.optional import require

STREAM_MAX_FPS = 15.0          # JPEGs per second per stream: plenty to watch, a fraction of a core
JPEG_QUALITY = 80
STREAM_MAX_WIDTH = 1280        # wider frames are scaled down before encoding
# kernel send buffer of each connection (accepted sockets inherit the listener's): without a cap
# Linux grows it to megabytes, which a stalled viewer fills with stale JPEGs before its sends block;
# 256 KiB still carries 15 fps of large JPEGs over a link with 100 ms round trips
SEND_BUFFER = 256 * 1024
DEFAULT_HOST = "127.0.0.1"
COOKIE = "edgeact_token"
BOUNDARY = "edgeactframe"


# --------------------------------------------------------------------------- address and socket


def parse_serve_address(text: str) -> tuple[str, int]:
    """``(host, port)`` of ``--serve``: ``PORT`` or ``:PORT`` (loopback), ``HOST:PORT``,
    ``[IPv6]:PORT``. Port 0 picks a free one (printed at start)."""
    raw = str(text).strip()
    usage = "give PORT, :PORT or HOST:PORT (e.g. 8080 or 0.0.0.0:8080 with --serve-token)"
    host, port = "", raw
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0 or not raw[end + 1:].startswith(":"):
            raise EdgeactError(f"--serve {raw}: {usage}")
        host, port = raw[1:end], raw[end + 2:]
    elif ":" in raw:
        host, _, port = raw.rpartition(":")
        if ":" in host:
            raise EdgeactError(f"--serve {raw}: write an IPv6 address in brackets, [::1]:8080")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise EdgeactError(f"--serve {raw}: the port is not a number in 0-65535; {usage}")
    return host or DEFAULT_HOST, int(port)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_serve(address: str, token: Optional[str]) -> tuple[str, int]:
    """``(host, port)``, refusing an address other than loopback without a token."""
    host, port = parse_serve_address(address)
    if not is_loopback(host) and not token:
        raise EdgeactError(f"--serve {address}: binding {host} lets other machines watch the cameras; give "
                           "--serve-token TOKEN (or EDGEACT_SERVE_TOKEN), or serve on 127.0.0.1")
    if token is not None and not token.strip():
        raise EdgeactError("--serve-token is empty")
    return host, port


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; in use, not ours, or not allowed is one line."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise EdgeactError(f"--serve {shown}: cannot resolve {host} ({exc.strerror})") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # TIME_WAIT is free; a listening port is not
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.bind(addr)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        why = {errno.EADDRINUSE: "the port is in use (another --serve, or another server)",
               errno.EACCES: "permission denied (ports below 1024 need privileges)",
               errno.EADDRNOTAVAIL: f"{host} is not an address of this machine"}.get(exc.errno, exc.strerror)
        raise EdgeactError(f"--serve {shown}: cannot listen: {why}") from None
    sock.setblocking(False)
    return sock


# --------------------------------------------------------------------------- streams


class StreamHub:
    """The newest frame of every source and its JPEG. The loop's thread only stores a reference
    (:meth:`put`); the encoder thread draws and encodes when a viewer of the source waits for a
    frame newer than the last JPEG."""

    def __init__(self, *, max_fps: float = STREAM_MAX_FPS, quality: int = JPEG_QUALITY,
                 max_width: int = STREAM_MAX_WIDTH):
        self.max_fps, self.quality, self.max_width = max_fps, quality, max_width
        self._cond = threading.Condition()
        self._frames: dict[str, tuple[int, object, dict]] = {}    # source -> (frame seq, event, labels)
        self._encoded: dict[str, int] = {}                         # source -> frame seq last encoded
        self._jpegs: dict[str, tuple[int, bytes]] = {}             # source -> (generation, bytes)
        self._viewers: dict[str, int] = {}
        self._waiters: dict[str, set] = {}                         # source -> {(loop, asyncio.Event)} waiting
        self._closed = False
        self.encoded = 0
        self._thread = threading.Thread(target=self._encode_loop, name="edgeact-mjpeg", daemon=True)
        self._thread.start()

    def put(self, source: str, event, labels: dict) -> None:
        with self._cond:
            seq = self._frames[source][0] + 1 if source in self._frames else 0
            self._frames[source] = (seq, event, labels)
            if self._waiters.get(source):
                self._cond.notify_all()

    def viewers(self, source: str) -> int:
        with self._cond:
            return self._viewers.get(source, 0)

    @contextlib.contextmanager
    def watching(self, source: str):
        with self._cond:
            self._viewers[source] = self._viewers.get(source, 0) + 1
            self._encoded.pop(source, None)     # the stored JPEG may be old: encode the newest frame now
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._viewers[source] -= 1

    def generation(self, source: str) -> int:
        with self._cond:
            return self._jpegs.get(source, (-1, b""))[0]

    async def next_jpeg(self, source: str, after: int, timeout: float = 1.0) -> Optional[tuple[int, bytes]]:
        """The first JPEG of ``source`` newer than generation ``after``; None once closed."""
        loop = asyncio.get_running_loop()
        while True:
            ev = asyncio.Event()
            with self._cond:
                if self._closed:
                    return None
                item = self._jpegs.get(source)
                if item is not None and item[0] > after:
                    return item
                waiter = (loop, ev)
                self._waiters.setdefault(source, set()).add(waiter)
                self._cond.notify_all()          # the encoder: someone is ready for a frame
            try:
                await asyncio.wait_for(ev.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            finally:
                with self._cond:
                    self._waiters[source].discard(waiter)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._wake()
        self._thread.join(timeout=5.0)

    def _due(self) -> list[str]:
        """Sources with a frame not encoded yet and a viewer waiting for one (a viewer stalled
        in a send is not waiting: nothing is encoded for it)."""
        return [s for s, (seq, _, _) in self._frames.items()
                if self._waiters.get(s) and self._encoded.get(s, -1) < seq]

    def _encode_loop(self) -> None:
        import cv2

        from edgeact.live.output import draw_overlay

        last: dict[str, float] = {}
        while True:
            with self._cond:
                while not self._closed and not self._due():
                    self._cond.wait(0.5)
                if self._closed:
                    return
                work = [(s, *self._frames[s]) for s in self._due()]
            wait = 0.0
            for src, seq, event, labels in work:
                early = last.get(src, -1e9) + 1.0 / self.max_fps - time.monotonic()
                if early > 0:
                    wait = max(wait, early)
                    continue
                last[src] = time.monotonic()
                img = draw_overlay(event.frame.image, event.people, labels)
                h, w = img.shape[:2]
                if w > self.max_width:
                    img = cv2.resize(img, (self.max_width, int(round(h * self.max_width / w))),
                                     interpolation=cv2.INTER_AREA)
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                if not ok:
                    continue
                with self._cond:
                    gen = self._jpegs.get(src, (-1, b""))[0] + 1
                    self._jpegs[src] = (gen, buf.tobytes())
                    self._encoded[src] = seq
                    self.encoded += 1
                self._wake()
            if wait > 0:
                with self._cond:
                    self._cond.wait(wait)

    def _wake(self) -> None:
        with self._cond:
            waiters = [w for ws in self._waiters.values() for w in ws]
        for loop, ev in waiters:
            with contextlib.suppress(RuntimeError):    # a loop that just closed
                loop.call_soon_threadsafe(ev.set)


# --------------------------------------------------------------------------- the app


def _authorized(request, token: Optional[str]) -> tuple[bool, bool]:
    """``(allowed, set_cookie)`` for a request."""
    if not token:
        return True, False
    want = token.encode()
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and hmac.compare_digest(header[7:].strip().encode(), want):
        return True, False
    cookie = request.cookies.get(COOKIE)
    if cookie is not None and hmac.compare_digest(cookie.encode(), want):
        return True, False
    query = request.query_params.get("token")
    if query is not None and hmac.compare_digest(query.encode(), want):
        return True, True
    return False, False


def build_app(hub: StreamHub, telemetry: Telemetry, *, token: Optional[str] = None, title: str = "edgeact live"):
    """The Starlette application of the remote view."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    def guard(handler):
        async def wrapped(request):
            ok, cookie = _authorized(request, token)
            if not ok:
                return PlainTextResponse("a bearer token is required (Authorization: Bearer TOKEN, or ?token=)\n",
                                         status_code=401, headers={"WWW-Authenticate": 'Bearer realm="edgeact"'})
            response = await handler(request)
            if cookie:
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response
        return wrapped

    async def page(request):
        return HTMLResponse(render_page(telemetry.status(), title=title), headers={"Cache-Control": "no-store"})

    async def status(request):
        return JSONResponse(telemetry.status(), headers={"Cache-Control": "no-store"})

    async def metrics(request):
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(telemetry.metrics(), media_type=CONTENT_TYPE_LATEST)

    async def video(request):
        name = request.path_params["name"]
        if not name.endswith(".mjpg") or name[:-5] not in telemetry.sources:
            return PlainTextResponse(f"no stream {name}; streams: "
                                     f"{', '.join(s + '.mjpg' for s in telemetry.sources)}\n", status_code=404)
        src = name[:-5]

        async def parts():
            with hub.watching(src):
                after = hub.generation(src)
                while True:
                    item = await hub.next_jpeg(src, after)
                    if item is None:
                        return
                    after, data = item
                    yield (b"--" + BOUNDARY.encode() + b"\r\nContent-Type: image/jpeg\r\nContent-Length: "
                           + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n")

        return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    routes = [Route("/", guard(page)), Route("/status.json", guard(status)), Route("/metrics", guard(metrics)),
              Route("/video/{name}", guard(video))]
    return Starlette(routes=routes)


def _rates_text(s: dict) -> str:
    r, lat, d = s["rates"], s["latency_ms"], s["dropped"]
    latency = "-" if lat["p50"] is None else f"p50 {lat['p50']:.0f} / p95 {lat['p95']:.0f} ms"
    return (f"input {r['input_fps']:.1f} fps · pose {r['pose_fps']:.1f} fps · decisions {r['decisions_per_s']:.1f}/s"
            f" · latency {latency} · dropped {d['frames']} frames, {d['windows']} windows")


def _track_rows(s: dict) -> str:
    if not s["tracks"]:
        return '<tr><td colspan="4" class="dim">no person</td></tr>'
    rows = []
    for t in s["tracks"]:
        action = f"uncertain ({t['action']}?)" if t["uncertain"] else t["action"]
        levels = " › ".join(lv for lv in t["levels"] if lv)
        cls = "action uncertain" if t["uncertain"] else "action"
        rows.append(f"<tr><td>#{t['track']}</td><td class=\"{cls}\">{html.escape(action)}</td>"
                    f"<td>{t['p']:.2f}</td><td class=\"dim\">{html.escape(levels)}</td></tr>")
    return "".join(rows)


def render_page(status: dict, *, title: str = "edgeact live") -> str:
    """The page at ``/``, with the state as of now (the script refreshes it)."""
    model = status.get("model") or {}
    about = " · ".join(html.escape(str(model[k])) for k in ("name", "arch", "backend", "precision") if model.get(k))
    sections = []
    for s in status["sources"]:
        src = html.escape(s["source"])
        sections.append(
            f'<section data-source="{src}"><h2>{src}</h2>'
            f'<img class="stream" src="video/{src}.mjpg" alt="{src} overlay">'
            f'<p class="rates">{html.escape(_rates_text(s))}</p>'
            '<table><thead><tr><th>person</th><th>action</th><th>p</th><th>superclasses</th></tr></thead>'
            f'<tbody class="tracks">{_track_rows(s)}</tbody></table></section>')
    return _PAGE.replace("{title}", html.escape(title)).replace("{about}", about).replace(
        "{sections}", "".join(sections))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:1rem;background:#111;color:#eee}
h1{font-size:1.2rem;margin:0 0 .2rem}h2{font-size:1rem;margin:.8rem 0 .3rem}
.dim,.about{color:#999}.rates{font-size:.85rem;color:#bbb;margin:.3rem 0}
img.stream{max-width:100%;background:#000;min-width:320px;min-height:180px;display:block}
table{border-collapse:collapse}td,th{padding:.15rem .6rem;text-align:left;border-bottom:1px solid #333}
td.action{font-weight:600;color:#7f7}td.action.uncertain{color:#fd5;font-weight:400}
</style></head><body>
<h1>{title}</h1><div class="about">{about}</div>
<main>{sections}</main>
<script>
function esc(s){const d=document.createElement('div');d.textContent=s;return d.innerHTML}
function rows(s){
  if(!s.tracks.length) return '<tr><td colspan="4" class="dim">no person</td></tr>';
  return s.tracks.map(t=>'<tr><td>#'+t.track+'</td><td class="action'+(t.uncertain?' uncertain':'')+'">'+
    esc(t.uncertain?'uncertain ('+t.action+'?)':t.action)+'</td><td>'+t.p.toFixed(2)+
    '</td><td class="dim">'+esc(t.levels.filter(x=>x).join(' \\u203a '))+'</td></tr>').join('');
}
function rates(s){
  const r=s.rates,l=s.latency_ms,d=s.dropped;
  const lat=l.p50===null?'-':'p50 '+l.p50.toFixed(0)+' / p95 '+l.p95.toFixed(0)+' ms';
  const dot=' \\u00b7 ';
  return 'input '+r.input_fps.toFixed(1)+' fps'+dot+'pose '+r.pose_fps.toFixed(1)+' fps'+dot+'decisions '+
    r.decisions_per_s.toFixed(1)+'/s'+dot+'latency '+lat+dot+'dropped '+d.frames+' frames, '+d.windows+' windows';
}
async function refresh(){
  try{
    const st=await (await fetch('status.json',{cache:'no-store'})).json();
    for(const s of st.sources){
      const sec=document.querySelector('section[data-source="'+CSS.escape(s.source)+'"]');
      if(!sec) continue;
      sec.querySelector('.tracks').innerHTML=rows(s);
      sec.querySelector('.rates').textContent=rates(s);
    }
  }catch(e){}
}
setInterval(refresh,1000);
</script></body></html>
"""


# --------------------------------------------------------------------------- the sink


class ServeSink:
    """The live-loop sink behind ``--serve`` (:class:`edgeact.live.pipeline.Sink`): feeds the
    stream hub and the telemetry, and runs the web server in its own thread until closed.

    ``listener``: a socket from :func:`bind_listener`; ``telemetry``: shared with ``/metrics`` and
    ``/status.json`` (give the MQTT counters to it).
    """

    wants_frames = True

    def __init__(self, listener: socket.socket, telemetry: Telemetry, *, token: Optional[str] = None,
                 title: str = "edgeact live", on_note: Optional[Callable[[str], None]] = None,
                 max_fps: float = STREAM_MAX_FPS):
        try:
            require("starlette", "serve", "--serve")
            uvicorn = require("uvicorn", "serve", "--serve")
        except EdgeactError:
            listener.close()
            raise
        self.telemetry = telemetry
        self.hub = StreamHub(max_fps=max_fps)
        telemetry.viewers = self.hub.viewers
        self.listener = listener
        config = uvicorn.Config(build_app(self.hub, telemetry, token=token, title=title), log_level="warning",
                                access_log=False, lifespan="off", ws="none", timeout_graceful_shutdown=1,
                                timeout_keep_alive=5)
        self._server = uvicorn.Server(config)
        self._error: list = []
        self._thread = threading.Thread(target=self._serve, name="edgeact-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15.0
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            self.hub.close()
            why = f": {self._error[0]}" if self._error else ""
            raise EdgeactError(f"--serve {self.url}: the web server did not start{why}")
        if on_note is not None:
            on_note(f"serving the remote view on {self.url} (/status.json, /metrics)")

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.listener.getsockname()[:2]
        return host, port

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self.listener])
        except BaseException as exc:   # reported by the constructor, or at close
            self._error.append(exc)

    def decision(self, d) -> None:
        self.telemetry.decision(d)

    def frame(self, event, latest) -> None:
        self.hub.put(source_id(event), event, dict(latest))

    def tick(self, stats, latest) -> None:
        self.telemetry.update(stats, latest)

    def close(self, stats) -> None:
        self.hub.close()            # streams end; a viewer stalled in a send is cut after 1 s
        self._server.should_exit = True
        self._thread.join(timeout=5.0)
        with contextlib.suppress(OSError):
            self.listener.close()

