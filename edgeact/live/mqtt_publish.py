"""MQTT delivery: :class:`MqttPublisher`, a publisher thread that owns the paho client and the
bounded queues the live loop appends to (events, retained states, per-decision messages), with
reconnects, drop counts and the retained ``available`` topic (see :mod:`edgeact.live.mqtt`).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
from collections import deque
from typing import Callable, Optional

from edgeact.errors import EdgeactError
from edgeact.live.mqtt_url import MqttTarget
from edgeact.optional import require

KEEP_EVENTS = 1000        # events (and final offline) kept while the broker is unreachable
PAHO_QUEUE = 100          # QoS 1 messages paho holds unacknowledged (in flight + queued)
KEEPALIVE = 15            # seconds: a half-open connection is noticed within 1.5x this
RECONNECT_MIN, RECONNECT_MAX = 1, 30
CONNECT_TIMEOUT = 3.0     # seconds the start waits for the broker's answer before carrying on
# CONNACK refusals that retrying cannot fix (the rest, server unavailable/busy, are retried)
_FATAL_REFUSALS = {"Bad user name or password", "Not authorized", "Client identifier not valid",
                   "Unsupported protocol version", "Banned", "Bad authentication method"}



class MqttPublisher:
    """The paho client and its publisher thread; see :mod:`edgeact.live.mqtt` for what is kept."""

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
        an unreachable or silent broker is a note, and paho keeps retrying. Errors name ``target``."""
        mqtt = require("paho.mqtt.client", "mqtt", "publishing to an MQTT broker")
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
            raise EdgeactError(f"{t.display}: TLS with the broker failed ({_why(exc)})", param="target") from None
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
            raise EdgeactError(f"{t.display}: the broker refused the connection: {self._refused}"
                               + (" (check the user and password in the URL)"
                                  if self._refused in ("Bad user name or password", "Not authorized") else ""),
                               param="target")
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
