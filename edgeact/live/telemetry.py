"""What the live loop is doing, per source, for the remote view and Prometheus.

:class:`Telemetry` is fed from the loop's caller thread (``decision`` for every decision, ``update``
on every periodic tick) and read from the web server's threads (:meth:`Telemetry.status` for
``/status.json`` and the page, :meth:`Telemetry.metrics` for ``/metrics``). Feeding it costs a
dict update and a histogram observation: the loop is never held up by a reader.

Metrics (all labelled ``source``; counters come from the loop's own counts at scrape time):

- ``edgeact_frames_total``, ``edgeact_pose_frames_total``, ``edgeact_decisions_total``
- ``edgeact_dropped_total{what="frames|windows|overlay"}``
- ``edgeact_input_fps``, ``edgeact_pose_fps``, ``edgeact_decisions_per_second`` (over the last 2 s)
- ``edgeact_decision_latency_seconds`` (histogram: newest frame of a window -> its decision)
- ``edgeact_people`` (tracks with a current decision), ``edgeact_stream_viewers``
- ``edgeact_mqtt_connected``, ``edgeact_mqtt_sent_total``, ``edgeact_mqtt_dropped_total{what}`` with ``--mqtt``
- ``edgeact_model_info`` (the model's identity as labels)

Every stream has a source id (:data:`edgeact.live.stats.DEFAULT_SOURCE`, ``cam0``, for a
single-source run): it is the ``source`` key of every payload, the ``source`` label of every metric
and a level of the MQTT topics.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import deque
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from edgeact.live.stats import DEFAULT_SOURCE
from edgeact.optional import require

LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def source_id(obj: Any = None, default: str = DEFAULT_SOURCE) -> str:
    """The stream an object (a decision, a frame event, a stream's stats) belongs to: its
    ``source`` attribute or key when it has one, else ``default``; made safe as one MQTT topic level and a
    URL path part (``/``, ``+``, ``#``, spaces -> ``_``)."""
    value = obj.get("source") if isinstance(obj, dict) else getattr(obj, "source", None)
    return safe_source(value if isinstance(value, str) and value else default)


def safe_source(name: str) -> str:
    """``name`` with every run of characters other than letters, digits, ``_ . -`` as one ``_``."""
    return _UNSAFE.sub("_", str(name)).strip("_") or DEFAULT_SOURCE


def model_identity(runtime, path: Optional[Path] = None) -> dict:
    """Which model made the decisions: file name, architecture, benchmark, backend, precision,
    class count and the first 16 hex digits of the file's SHA-256 (two copies of one model agree;
    a retrained one differs)."""
    meta = getattr(runtime, "meta", {}) or {}
    path = Path(path) if path is not None else getattr(runtime, "path", None)
    ident = {"name": Path(path).name if path else None, "arch": (meta.get("model") or {}).get("arch"),
             "benchmark": meta.get("benchmark"), "backend": getattr(runtime, "backend", None),
             "precision": getattr(runtime, "precision", None),
             "classes": len((meta.get("classes") or {}).get("names") or []) or None, "sha256": None}
    if path is not None and Path(path).is_file():
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        ident["sha256"] = digest.hexdigest()[:16]
    return ident


def track_json(d) -> dict:
    """One person's current decision, as the page and ``/status.json`` show it."""
    top = d.fine[0]
    return {"track": int(d.track), "action": top.label, "p": round(float(top.p), 4), "uncertain": bool(d.uncertain),
            "t": round(float(d.t), 3), "levels": [lv[0].label if lv else None for lv in d.levels]}


class Telemetry:
    """Per-source counters, rates, latencies and current decisions; see the module docstring.

    ``sources``: the ids known at start (shown before their first frame). ``mqtt``: a callable
    returning the MQTT publisher's counters (``connected``, ``sent``, ``dropped_events``,
    ``dropped_decisions``, ``pending``), or None without ``--mqtt``.
    """

    def __init__(self, model: Optional[dict] = None, sources: tuple[str, ...] = (DEFAULT_SOURCE,),
                 mqtt: Optional[Callable[[], dict]] = None, viewers: Optional[Callable[[str], int]] = None):
        require("prometheus_client", "serve", "the remote view's /metrics")
        from prometheus_client import CollectorRegistry, Histogram

        self.model = dict(model or {})
        self.mqtt = mqtt
        self.viewers = viewers or (lambda source: 0)
        self._lock = threading.Lock()
        self._snap: dict[str, dict] = {safe_source(s): _empty_snapshot() for s in sources}
        self._latest: dict[str, dict[int, dict]] = {s: {} for s in self._snap}
        self._lat: dict[str, deque] = {s: deque(maxlen=500) for s in self._snap}
        self.registry = CollectorRegistry(auto_describe=True)
        self._hist = Histogram("edgeact_decision_latency_seconds", "Newest frame of a window to its decision",
                               ["source"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_Collector(self))

    @property
    def sources(self) -> list[str]:
        with self._lock:
            return list(self._snap)

    # ------------------------------------------------------------------ fed by the loop's caller thread

    def decision(self, d, source: Optional[str] = None) -> None:
        src = source or source_id(d)
        self._hist.labels(src).observe(max(0.0, d.latency_ms) / 1000.0)
        with self._lock:
            self._ensure(src)
            self._lat[src].append(float(d.latency_ms))
            self._latest[src][int(d.track)] = d.to_json() | {"source": src}

    def update(self, stats, latest: dict, source: Optional[str] = None) -> None:
        """The loop's counters after a tick; ``latest``: track -> current :class:`Decision`."""
        src = source or source_id(stats)
        snap = {"frames": stats.frames, "posed": stats.posed, "decisions": stats.decisions,
                "dropped": {"frames": stats.frames_dropped, "windows": stats.windows_dropped,
                            "overlay": stats.overlay_dropped},
                "rates": {"input_fps": round(stats.input_rate.rate, 2), "pose_fps": round(stats.pose_rate.rate, 2),
                          "decisions_per_s": round(stats.decision_rate.rate, 2)},
                "source_seconds": round(stats.source_seconds, 3), "wall_seconds": round(stats.wall_seconds, 3),
                "status": stats.status, "tracks": [track_json(latest[k]) for k in sorted(latest)]}
        with self._lock:
            self._ensure(src)
            self._snap[src] = snap
            kept = set(latest)
            self._latest[src] = {k: v for k, v in self._latest[src].items() if k in kept}

    def _ensure(self, src: str) -> None:
        if src not in self._snap:
            self._snap[src] = _empty_snapshot()
            self._latest[src] = {}
            self._lat[src] = deque(maxlen=500)

    # ------------------------------------------------------------------ read by the server's threads

    def status(self) -> dict:
        """``/status.json``: the model, every source's counters, rates, latency percentiles (last
        500 decisions), current tracks and their latest decisions, and the MQTT counters."""
        with self._lock:
            out = []
            for src, snap in self._snap.items():
                lat = np.array(self._lat[src]) if self._lat[src] else None
                latency = {"last": None if lat is None else round(float(lat[-1]), 1),
                           "p50": None if lat is None else round(float(np.percentile(lat, 50)), 1),
                           "p95": None if lat is None else round(float(np.percentile(lat, 95)), 1)}
                out.append({"source": src, **snap, "latency_ms": latency,
                            "latest": [self._latest[src][k] for k in sorted(self._latest[src])]})
        for entry in out:
            entry["viewers"] = self.viewers(entry["source"])
        return {"model": self.model, "sources": out, "mqtt": self.mqtt() if self.mqtt else None}

    def metrics(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


def _empty_snapshot() -> dict:
    return {"frames": 0, "posed": 0, "decisions": 0, "dropped": {"frames": 0, "windows": 0, "overlay": 0},
            "rates": {"input_fps": 0.0, "pose_fps": 0.0, "decisions_per_s": 0.0}, "source_seconds": 0.0,
            "wall_seconds": 0.0, "status": "", "tracks": []}


class _Collector:
    """The counters and gauges, read from :class:`Telemetry`'s snapshot when Prometheus scrapes."""

    def __init__(self, telemetry: Telemetry):
        self.t = telemetry

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

        t = self.t
        with t._lock:
            snaps = {s: dict(v) for s, v in t._snap.items()}
        counters = {name: CounterMetricFamily(f"edgeact_{name}", text, labels=["source"])
                    for name, text in (("frames", "Frames read from the source"),
                                       ("pose_frames", "Frames the pose stage processed"),
                                       ("decisions", "Decisions made (one per person per stride)"))}
        dropped = CounterMetricFamily("edgeact_dropped", "Frames, windows and overlay frames dropped to stay live",
                                      labels=["source", "what"])
        gauges = {name: GaugeMetricFamily(f"edgeact_{name}", text, labels=["source"])
                  for name, text in (("input_fps", "Frames read per second (last 2 s)"),
                                     ("pose_fps", "Frames posed per second (last 2 s)"),
                                     ("decisions_per_second", "Decisions per second (last 2 s)"),
                                     ("people", "People with a current decision"),
                                     ("stream_viewers", "Open /video streams"))}
        for src, s in snaps.items():
            counters["frames"].add_metric([src], s["frames"])
            counters["pose_frames"].add_metric([src], s["posed"])
            counters["decisions"].add_metric([src], s["decisions"])
            for what, n in s["dropped"].items():
                dropped.add_metric([src, what], n)
            gauges["input_fps"].add_metric([src], s["rates"]["input_fps"])
            gauges["pose_fps"].add_metric([src], s["rates"]["pose_fps"])
            gauges["decisions_per_second"].add_metric([src], s["rates"]["decisions_per_s"])
            gauges["people"].add_metric([src], len(s["tracks"]))
            gauges["stream_viewers"].add_metric([src], t.viewers(src))
        yield from counters.values()
        yield dropped
        yield from gauges.values()
        info = InfoMetricFamily("edgeact_model", "The model making the decisions")
        info.add_metric([], {k: str(v) for k, v in t.model.items() if v is not None})
        yield info
        if t.mqtt is not None:
            m = t.mqtt()
            yield GaugeMetricFamily("edgeact_mqtt_connected", "1 while connected to the broker",
                                    value=1.0 if m["connected"] else 0.0)
            yield CounterMetricFamily("edgeact_mqtt_sent", "MQTT messages handed to the broker", value=m["sent"])
            lost = CounterMetricFamily("edgeact_mqtt_dropped", "MQTT messages dropped (broker down or slow)",
                                       labels=["what"])
            lost.add_metric(["events"], m["dropped_events"])
            lost.add_metric(["decisions"], m["dropped_decisions"])
            yield lost
