"""``live --serve HOST:PORT``: a remote view of a headless box, and its Prometheus metrics.

Routes (Starlette on uvicorn, in one server thread beside the loop):

``/``
    The page: each stream's overlay, the current action of every person and the stage rates
    (rendered on the server, then refreshed from ``/status.json`` once a second).
``/video/<source>.mjpg``
    The overlay as ``multipart/x-mixed-replace`` JPEGs, at most
    :data:`~edgeact.live.serve_stream.STREAM_MAX_FPS` a second.
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

This module is the live-loop sink (:class:`ServeSink`); the address parsing and binding are in
:mod:`edgeact.live.serve_address`, the MJPEG encoder in :mod:`edgeact.live.serve_stream`, the
routes and the page in :mod:`edgeact.live.serve_app`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Callable, Optional

from edgeact.errors import EdgeactError
from edgeact.live.serve_app import build_app
from edgeact.live.serve_stream import STREAM_MAX_FPS, StreamHub
from edgeact.live.telemetry import Telemetry, source_id
from edgeact.optional import require


class ServeSink:
    """The live-loop sink behind ``--serve`` (:class:`edgeact.live.pipeline.Sink`): feeds the
    stream hub and the telemetry, and runs the web server in its own thread until closed.

    ``listener``: a socket from :func:`edgeact.live.serve_address.bind_listener`; ``telemetry``:
    shared with ``/metrics`` and ``/status.json`` (give the MQTT counters to it).
    """

    wants_frames = True

    def __init__(self, listener: socket.socket, telemetry: Telemetry, *, token: Optional[str] = None,
                 title: str = "edgeact live", on_note: Optional[Callable[[str], None]] = None,
                 max_fps: float = STREAM_MAX_FPS):
        try:
            require("starlette", "serve", "the remote view")
            uvicorn = require("uvicorn", "serve", "the remote view")
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
            raise EdgeactError(f"the web server on {self.url} did not start{why}")
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

