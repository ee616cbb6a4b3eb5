"""``live --mqtt``: decisions as MQTT events, for Home Assistant, Node-RED or any subscriber.

Topics, under the URL's prefix (default ``edgeact``); ``<source>`` is the stream id (``cam0`` for a
single-source run), ``<track>`` the person's track id:

``<prefix>/available``
    ``online`` while the process is connected, ``offline`` after it ends or dies (retained; the
    ``offline`` of a killed process is the broker's Last Will).
``<prefix>/<source>/state``
    Retained JSON: the people in view with their current action, the stage rates and the drop
    counts; published when an event changes it and every :data:`STATE_EVERY` seconds.
``<prefix>/<source>/<track>/action``
    An event when a track's action starts, changes or ends, shaped like Frigate's
    ``frigate/events``: ``{"type": "new"|"update"|"end", "id", "source", "track", "before",
    "after", "time", "model"}``. ``before``/``after`` are the track's state (its JSON line's keys
    plus ``action``, ``score``, ``start``, ``end``); ``before`` is null for ``new``. The action is
    the fine label, or with ``level`` the superclass of that level; uncertain decisions (below
    ``--threshold``) neither start nor change an action, so a flickering guess is not an event.
    A track ends after ``end_after`` source seconds without a decision, and every track ends when
    the run does.
``<prefix>/<source>/<track>/decision``
    With ``every``: each decision (the JSONL line plus ``source`` and ``model``).

``mqtts://`` verifies the broker's certificate against the system's CAs (OpenSSL's default paths:
``SSL_CERT_FILE`` names another bundle); a certificate that fails is an error at start.

Delivery: a publisher thread owns the paho client; the loop only appends to its queues, so a
slow, stalled or absent broker never holds it up. While the broker is unreachable paho reconnects
with back-off (1 s doubling to 30 s); up to :data:`KEEP_EVENTS` events are kept (the oldest
dropped first), the retained state keeps its latest value, and per-decision messages are dropped:
they are a live feed (while connected, up to :data:`KEEP_EVENTS` of them wait for a slow broker).
Every message is QoS 1 and paho holds at most :data:`PAHO_QUEUE` of them, so memory stays bounded.
Drops are counted, noted when the broker comes back, and in the state.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Optional
from urllib.parse import unquote, urlsplit

from edgeact.errors import EdgeactError
from edgeact.live.telemetry import DEFAULT_SOURCE, source_id
from edgeact.optional import require

SCHEMES = {"mqtt": 1883, "mqtts": 8883}
DEFAULT_PREFIX = "edgeact"
KEEP_EVENTS = 1000        # events (and final offline) kept while the broker is unreachable
PAHO_QUEUE = 100          # QoS 1 messages paho holds unacknowledged (in flight + queued)
STATE_EVERY = 5.0         # seconds between retained state refreshes without an event
KEEPALIVE = 15            # seconds: a half-open connection is noticed within 1.5x this
RECONNECT_MIN, RECONNECT_MAX = 1, 30
CONNECT_TIMEOUT = 3.0     # seconds the start waits for the broker's answer before carrying on
# CONNACK refusals that retrying cannot fix (the rest, server unavailable/busy, are retried)
_FATAL_REFUSALS = {"Bad user name or password", "Not authorized", "Client identifier not valid",
                   "Unsupported protocol version", "Banned", "Bad authentication method"}


@dataclass(frozen=True)
class MqttTarget:
    """A broker and topic prefix from ``mqtt[s]://[user[:pass]@]host[:port][/prefix]``."""

    host: str
    port: int
    prefix: str = DEFAULT_PREFIX
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    tls: bool = False

    @property
    def display(self) -> str:
        """The URL without its password (for messages)."""
        user = f"{self.username}:***@" if self.password is not None else (f"{self.username}@" if self.username else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}/{self.prefix}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """The :class:`MqttTarget` of ``url``; a malformed URL or an unknown scheme is an
    :class:`EdgeactError` (one line, the password masked)."""
    text = str(url).strip()
    shown = _mask(text)
    usage = "use mqtt://[user:pass@]host[:port][/prefix] or mqtts://..."
    if "://" not in text:
        raise EdgeactError(f"--mqtt {shown}: not a broker URL; {usage}")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise EdgeactError(f"--mqtt {shown}: unknown scheme {parts.scheme}://; {usage}")
    try:
        port = parts.port
    except ValueError:
        raise EdgeactError(f"--mqtt {shown}: the port is not a number in 1-65535; {usage}") from None
    if not parts.hostname:
        raise EdgeactError(f"--mqtt {shown}: no broker host; {usage}")
    if port == 0:
        raise EdgeactError(f"--mqtt {shown}: port 0 is not a broker port; {usage}")
    if parts.query or parts.fragment:
        raise EdgeactError(f"--mqtt {shown}: a broker URL takes no ?query or #fragment; {usage}")
    prefix = unquote(parts.path).strip("/") or DEFAULT_PREFIX
    levels = prefix.split("/")
    if any(not lv for lv in levels) or any(c in prefix for c in "+#\0"):
        raise EdgeactError(f"--mqtt {shown}: topic prefix {prefix!r} must be levels without +, # or empty parts")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return MqttTarget(host=parts.hostname, port=port or SCHEMES[scheme], prefix=prefix, username=username or None,
                      password=password, tls=scheme == "mqtts")


def _mask(text: str) -> str:
    head, sep, rest = text.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return text
    cred, _, host = rest.partition("@")
    user = cred.split(":", 1)[0]
    return f"{head}://{user}{':***' if ':' in cred else ''}@{host}"


def parse_level(text: Optional[str]) -> Optional[int]:
    """``--mqtt-level``: ``fine`` (None) or a superclass level 1..L (coarse to fine, as in the view)."""
    if text is None or str(text).strip().lower() in ("", "fine"):
        return None
    try:
        level = int(str(text).strip())
    except ValueError:
        raise EdgeactError(f"--mqtt-level {text}: give fine or a superclass level number (1 = coarsest)") from None
    if level < 1:
        raise EdgeactError(f"--mqtt-level {text}: superclass levels count from 1 (the coarsest); or give fine")
    return level


def check_level(level: Optional[int], level_count: int) -> None:
    """A superclass level must be one the model has."""
    if level is not None and level > level_count:
        have = f"levels 1-{level_count}" if level_count else "no superclass levels"
        raise EdgeactError(f"--mqtt-level {level}: the model has {have}; use fine" +
                           (f" or 1-{level_count}" if level_count else ""))


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------- events


@dataclass
class _Open:
    """A track's open event."""

    id: str
    source: str
    track: int
    action: str
    score: float
    start: float
    decision: dict


class ActionTracker:
    """new/update/end events per ``(source, track)`` from decisions (see the module docstring).

    ``level``: None for the fine action, else a superclass level (1 = coarsest). ``end_after``:
    source seconds without a decision after which a track's event ends.
    """

    def __init__(self, *, level: Optional[int] = None, end_after: float = 4.0, run_id: Optional[str] = None):
        self.level, self.end_after = level, end_after
        self.run_id = run_id or f"{int(time.time())}-{os.getpid()}"
        self._open: dict[tuple[str, int], _Open] = {}
        self._count = 0

    def label(self, d) -> Optional[tuple[str, float]]:
        """``(action, score)`` of a decision at the tracker's level, None when uncertain."""
        if d.uncertain:
            return None
        if self.level is None:
            return d.fine[0].label, float(d.fine[0].p)
        lv = d.levels[self.level - 1] if self.level - 1 < len(d.levels) else ()
        return (lv[0].label, float(lv[0].p)) if lv else None

    def decision(self, source: str, d) -> list[dict]:
        key = (source, int(d.track))
        labelled = self.label(d)
        cur = self._open.get(key)
        if cur is None:
            if labelled is None:
                return []
            self._count += 1
            cur = _Open(f"{self.run_id}-{self._count}", source, int(d.track), labelled[0], labelled[1], d.t,
                        d.to_json())
            self._open[key] = cur
            return [self._event("new", cur, None, self._state(cur))]
        before = self._state(cur)
        cur.decision = d.to_json()
        if labelled is None:
            return []
        if labelled[0] == cur.action:
            cur.score = labelled[1]
            return []
        cur.action, cur.score, cur.start = labelled[0], labelled[1], d.t
        return [self._event("update", cur, before, self._state(cur))]

    def expire(self, source: str, now: float) -> list[dict]:
        """End the events of ``source``'s tracks without a decision for ``end_after`` seconds
        before ``now`` (source seconds)."""
        gone = [k for k, v in self._open.items() if k[0] == source and now - v.decision["t"] > self.end_after]
        return [self._end(k) for k in gone]

    def end_all(self) -> list[dict]:
        return [self._end(k) for k in list(self._open)]

    def current(self, source: str) -> list[dict]:
        """The open events of ``source``, for its state."""
        return [{"id": v.id, "track": v.track, "action": v.action, "score": round(v.score, 4),
                 "start": round(v.start, 3), "t": v.decision["t"]}
                for k, v in sorted(self._open.items()) if k[0] == source]

    def _end(self, key) -> dict:
        cur = self._open.pop(key)
        before = self._state(cur)
        return self._event("end", cur, before, {**before, "end": cur.decision["t"]})

    def _state(self, cur: _Open) -> dict:
        return {**cur.decision, "source": cur.source, "action": cur.action, "score": round(cur.score, 4),
                "level": "fine" if self.level is None else self.level, "start": round(cur.start, 3), "end": None}

    def _event(self, kind: str, cur: _Open, before: Optional[dict], after: dict) -> dict:
        return {"type": kind, "id": cur.id, "source": cur.source, "track": cur.track, "before": before,
                "after": after}


# --------------------------------------------------------------------------- delivery


class MqttPublisher:
    """The paho client and its publisher thread; see the module docstring for what is kept."""

    def __init__(self, target: MqttTarget, *, keep: int = KEEP_EVENTS, on_note: Optional[Callable[[str], None]] = None,
                 client_id: Optional[str] = None, keepalive: int = KEEPALIVE):
        self.target, self.keep, self.keepalive = target, keep, keepalive
        self.on_note = on_note or (lambda message: None)
        self.client_id = client_id or f"edgeact-{socket.gethostname()}-{os.getpid()}"
        self.available_topic = f"{target.prefix}/available"
        self._cond = threading.Condition()
        self._events: deque = deque()
        self._states: dict[str, dict] = {}        # topic -> payload not sent yet
        self._last_states: dict[str, dict] = {}   # topic -> last payload (re-sent after a reconnect)
        self._decisions: deque = deque()
        self._connected = False
        self._stop = False
        self._outage = False            # noted once per outage
        self._dropped_at_loss = 0
        self._first = threading.Event()
        self._refused: Optional[str] = None
        self.sent = self.dropped_events = self.dropped_decisions = 0
        self._client = None
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = CONNECT_TIMEOUT) -> None:
        """Connect (waiting up to ``timeout`` s for the broker's answer) and start publishing.
        A refusal retrying cannot fix (credentials, TLS certificate) is an :class:`EdgeactError`;
        an unreachable or silent broker is a note, and paho keeps retrying."""
        mqtt = require("paho.mqtt.client", "mqtt", "--mqtt")
        t = self.target
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True)
        if t.username:
            client.username_pw_set(t.username, t.password)
        if t.tls:
            client.tls_set_context(ssl.create_default_context())
        client.will_set(self.available_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN, RECONNECT_MAX)
        client.max_inflight_messages_set(20)
        client.max_queued_messages_set(PAHO_QUEUE)
        client.connect_timeout = timeout
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        self._client = client
        try:
            client.connect(t.host, t.port, keepalive=self.keepalive)
        except ssl.SSLError as exc:
            raise EdgeactError(f"--mqtt {t.display}: TLS with the broker failed ({_why(exc)})") from None
        except OSError as exc:
            self._outage = True
            self.on_note(f"mqtt: cannot reach the broker at {t.display} ({_why(exc)}); retrying every "
                         f"{RECONNECT_MIN}-{RECONNECT_MAX} s, keeping up to {self.keep} events meanwhile")
            client.connect_async(t.host, t.port, keepalive=self.keepalive)
            self._first.set()
        client.loop_start()
        if not self._first.wait(timeout):
            self._outage = True
            self.on_note(f"mqtt: no answer from the broker at {t.display} within {timeout:g} s; carrying on, "
                         "retrying")
        if self._refused is not None:
            client.loop_stop()
            client.disconnect()
            raise EdgeactError(f"--mqtt {t.display}: the broker refused the connection: {self._refused}"
                               + (" (check the user and password in the URL)"
                                  if self._refused in ("Bad user name or password", "Not authorized") else ""))
        self._thread = threading.Thread(target=self._run, name="edgeact-mqtt", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Wait up to ``timeout`` s for what is queued to go out, publish ``offline`` (retained)
        last, then disconnect cleanly (so the broker does not also send the Last Will). Events
        still unsent are counted as dropped."""
        if self._client is None:
            return
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._connected and self._pending() and time.monotonic() < deadline:
                self._cond.wait(0.05)
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=max(0.1, deadline - time.monotonic()))
        with self._cond:
            self.dropped_events += len(self._events)    # a retained state not sent is superseded, not lost
            self._events.clear()
            self._states.clear()
            connected = self._connected
        if connected:
            info = self._client.publish(self.available_topic, "offline", qos=1, retain=True)
            if info.rc == 0:
                try:
                    info.wait_for_publish(max(0.2, deadline - time.monotonic()))
                except (RuntimeError, ValueError):   # the connection went meanwhile: the Last Will says it
                    pass
        self._client.disconnect()
        self._client.loop_stop()
        self._client = None

    # ------------------------------------------------------------------ called by the loop (never block)

    def event(self, topic: str, payload, *, retain: bool = False) -> None:
        """Kept until sent, up to ``keep`` (the oldest dropped first)."""
        with self._cond:
            if len(self._events) >= self.keep:
                self._events.popleft()
                self.dropped_events += 1
            self._events.append((topic, payload, retain))
            self._cond.notify()

    def state(self, topic: str, payload: dict) -> None:
        """Retained; only the latest value of a topic is kept."""
        with self._cond:
            self._states[topic] = payload
            self._last_states[topic] = payload
            self._cond.notify()

    def decision(self, topic: str, payload: dict) -> None:
        """Sent while connected (up to ``keep`` waiting for a slow broker), else dropped."""
        with self._cond:
            if not self._connected or len(self._decisions) >= self.keep:
                self.dropped_decisions += 1
                return
            self._decisions.append((topic, payload, False))
            self._cond.notify()

    def counters(self) -> dict:
        with self._cond:
            return {"connected": self._connected, "sent": self.sent, "dropped_events": self.dropped_events,
                    "dropped_decisions": self.dropped_decisions, "pending": len(self._events) + len(self._states)}

    @property
    def dropped(self) -> int:
        return self.dropped_events + self.dropped_decisions

    # ------------------------------------------------------------------ the publisher thread

    def _pending(self) -> bool:
        return bool(self._events or self._states or self._decisions)

    def _next(self):
        if self._events:
            return "event", self._events.popleft()
        if self._states:
            topic = next(iter(self._states))
            return "state", (topic, self._states.pop(topic), True)
        return "decision", self._decisions.popleft()

    def _run(self) -> None:
        import paho.mqtt.client as mqtt

        while True:
            with self._cond:
                while not self._stop and not (self._connected and self._pending()):
                    self._cond.wait(0.5)
                if self._stop:
                    return
                kind, (topic, payload, retain) = self._next()
            data = payload if isinstance(payload, str) else json.dumps(payload)
            info = self._client.publish(topic, data, qos=1, retain=retain)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                with self._cond:
                    self.sent += 1
                    self._cond.notify_all()
                continue
            with self._cond:   # paho's queue is full (a slow broker) or the connection just went
                if kind == "decision":
                    self.dropped_decisions += 1
                elif kind == "event":
                    self._events.appendleft((topic, payload, retain))
                else:
                    self._states.setdefault(topic, payload)
                self._cond.wait(0.05)

    # ------------------------------------------------------------------ paho callbacks (its network thread)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            why = str(reason_code)
            if not self._first.is_set():
                if why in _FATAL_REFUSALS:
                    self._refused = why
                self._first.set()
            elif not self._outage:
                self._outage = True
                self.on_note(f"mqtt: the broker at {self.target.display} refused the connection ({why}); retrying")
            return
        client.publish(self.available_topic, "online", qos=1, retain=True)
        with self._cond:
            self._connected = True
            for topic, payload in self._last_states.items():   # a restarted broker may have lost them
                self._states.setdefault(topic, payload)
            was_out, self._outage = self._outage, False
            dropped = self.dropped - self._dropped_at_loss
            self._cond.notify_all()
        self._first.set()
        if was_out:
            self.on_note(f"mqtt: connected to {self.target.display}; {dropped} messages dropped while it was "
                         f"unreachable ({self.dropped} in all)")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._cond:
            was = self._connected
            self._connected = False
            stopping = self._stop
            self._dropped_at_loss = self.dropped
        if was and not stopping and not self._outage:
            self._outage = True
            self.on_note(f"mqtt: lost the broker at {self.target.display} ({reason_code}); retrying every "
                         f"{RECONNECT_MIN}-{RECONNECT_MAX} s, keeping up to {self.keep} events meanwhile")

    def _on_connect_fail(self, client, userdata) -> None:
        self._first.set()
        if not self._outage:
            self._outage = True
            self.on_note(f"mqtt: cannot reach the broker at {self.target.display}; retrying every "
                         f"{RECONNECT_MIN}-{RECONNECT_MAX} s, keeping up to {self.keep} events meanwhile")


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc) or type(exc).__name__


# --------------------------------------------------------------------------- the sink


class MqttSink:
    """The live-loop sink behind ``--mqtt`` (:class:`edgeact.live.pipeline.Sink`).

    ``publisher``: a started :class:`MqttPublisher`; ``model``: the model's identity (added to
    every payload); ``level``/``end_after``: see :class:`ActionTracker`; ``every``: also publish
    each decision.
    """

    wants_frames = False

    def __init__(self, publisher: MqttPublisher, *, model: Optional[dict] = None, level: Optional[int] = None,
                 every: bool = False, end_after: float = 4.0, sources: tuple[str, ...] = (DEFAULT_SOURCE,),
                 state_every: float = STATE_EVERY, clock: Callable[[], float] = time.monotonic):
        self.publisher, self.model, self.every = publisher, dict(model or {}), every
        self.tracker = ActionTracker(level=level, end_after=end_after)
        self.prefix = publisher.target.prefix
        self.state_every, self.clock = state_every, clock
        self._rates: dict[str, dict] = {}
        self._dirty: set[str] = set(sources)
        self._last_state: dict[str, float] = {}
        self._sources: list[str] = list(sources)

    def decision(self, d) -> None:
        src = source_id(d)
        self._know(src)
        for ev in self.tracker.decision(src, d):
            self._send(ev)
        if self.every:
            self.publisher.decision(f"{self.prefix}/{src}/{int(d.track)}/decision",
                                    {**d.to_json(), "source": src, "time": utc_now(), "model": self.model})

    def frame(self, event, latest) -> None:
        pass

    def tick(self, stats, latest) -> None:
        src = source_id(stats)
        self._know(src)
        self._rates[src] = {"input_fps": round(stats.input_rate.rate, 2), "pose_fps": round(stats.pose_rate.rate, 2),
                            "decisions_per_s": round(stats.decision_rate.rate, 2)}
        for ev in self.tracker.expire(src, stats.source_seconds):
            self._send(ev)
        now = self.clock()
        for s in self._sources:
            if s in self._dirty or now - self._last_state.get(s, -1e9) >= self.state_every:
                self._publish_state(s, running=True)

    def close(self, stats) -> None:
        for ev in self.tracker.end_all():
            self._send(ev)
        for s in self._sources:
            self._publish_state(s, running=False)
        self.publisher.close()

    def _know(self, src: str) -> None:
        if src not in self._sources:
            self._sources.append(src)
            self._dirty.add(src)

    def _send(self, ev: dict) -> None:
        self.publisher.event(f"{self.prefix}/{ev['source']}/{ev['track']}/action",
                             {**ev, "time": utc_now(), "model": self.model})
        self._dirty.add(ev["source"])

    def _publish_state(self, src: str, *, running: bool) -> None:
        c = self.publisher.counters()
        tracks = self.tracker.current(src)
        self.publisher.state(f"{self.prefix}/{src}/state",
                             {"source": src, "time": utc_now(), "running": running, "people": len(tracks),
                              "tracks": tracks, "rates": self._rates.get(src, {}),
                              "mqtt": {"dropped_events": c["dropped_events"],
                                       "dropped_decisions": c["dropped_decisions"]},
                              "model": self.model})
        self._dirty.discard(src)
        self._last_state[src] = self.clock()
