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

Delivery (:mod:`edgeact.live.mqtt_publish`): a publisher thread owns the paho client; the loop
only appends to its queues, so a slow, stalled or absent broker never holds it up. While the broker
is unreachable paho reconnects with back-off (1 s doubling to 30 s); up to ``KEEP_EVENTS`` events
are kept (the oldest dropped first), the retained state keeps its latest value, and per-decision
messages are dropped: they are a live feed (while connected, up to ``KEEP_EVENTS`` of them wait for
a slow broker). Every message is QoS 1 and paho holds at most ``PAHO_QUEUE`` of them, so memory
stays bounded. Drops are counted, noted when the broker comes back, and in the state.

This module is the live-loop sink (:class:`MqttSink`); the URL parsing is in
:mod:`edgeact.live.mqtt_url`, the events in :mod:`edgeact.live.mqtt_events`, the delivery in
:mod:`edgeact.live.mqtt_publish`.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable, Optional

from edgeact.live.mqtt_events import ActionTracker
from edgeact.live.mqtt_publish import MqttPublisher
from edgeact.live.telemetry import DEFAULT_SOURCE, source_id

STATE_EVERY = 5.0         # seconds between retained state refreshes without an event


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


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
