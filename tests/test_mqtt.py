"""live --mqtt against a real Mosquitto broker (Debian package ``mosquitto``) on 127.0.0.1: the
events a subscriber receives for a recording in which one person changes action, the retained
state and availability, the Last Will of a killed process, a broker that goes away and comes back
mid-run, refused credentials and malformed URLs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from edgeact.errors import EdgeactError
from edgeact.live.decide import Decision, Scored
from edgeact.live.mqtt_events import ActionTracker
from edgeact.live.mqtt_url import check_level, parse_level, parse_mqtt_url
from live_clip import LiveProcess, free_port, refused_line, two_action_clip

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").is_file() else None)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
needs_broker = pytest.mark.skipif(MOSQUITTO is None, reason="needs the Debian package mosquitto "
                                  "(apt-get install mosquitto), which the README's test command installs")
mqtt = pytest.importorskip("paho.mqtt.client", reason="needs paho-mqtt (pip install 'edgeact[mqtt]')")


# --------------------------------------------------------------------------- URL and level


@pytest.mark.parametrize("url, want", [
    ("mqtt://broker", ("broker", 1883, "edgeact", None, None, False)),
    ("mqtt://10.0.0.2:1884/home/cams", ("10.0.0.2", 1884, "home/cams", None, None, False)),
    ("mqtts://user:p%40ss@broker.lan/x", ("broker.lan", 8883, "x", "user", "p@ss", True)),
    ("mqtt://user@[::1]:1990/", ("::1", 1990, "edgeact", "user", None, False)),
])
def test_broker_urls_parse(url, want):
    t = parse_mqtt_url(url)
    assert (t.host, t.port, t.prefix, t.username, t.password, t.tls) == want


@pytest.mark.parametrize("url, says", [
    ("broker:1883", "not a broker URL"),
    ("ws://broker", "unknown scheme ws://"),
    ("mqtt://broker:99999", "port is not a number"),
    ("mqtt://broker:abc", "port is not a number"),
    ("mqtt://:1883", "no broker host"),
    ("mqtt://broker/a/+/b", "topic prefix"),
    ("mqtt://broker/a//b", "topic prefix"),
    ("mqtt://u:secret@broker?x=1", "no ?query"),
])
def test_malformed_broker_urls_are_one_line_without_the_password(url, says):
    with pytest.raises(EdgeactError) as e:
        parse_mqtt_url(url)
    text = str(e.value)
    assert says in text and "\n" not in text and "secret" not in text


def test_level_is_fine_or_a_superclass_level_the_model_has():
    assert parse_level("fine") is None and parse_level("2") == 2
    for bad in ("0", "x"):
        with pytest.raises(EdgeactError, match=f"^text: {bad}: "):
            parse_level(bad)
    check_level(2, 2)
    with pytest.raises(EdgeactError, match="has levels 1-2"):
        check_level(3, 2)


def test_mqtt_options_without_a_broker_name_the_live_options_fields():
    from edgeact.cli_options import name_option
    from edgeact.live.options import LiveOptions
    from edgeact.live.remote import check_remote_options

    with pytest.raises(EdgeactError) as info:
        check_remote_options(LiveOptions(mqtt_every=True))
    assert str(info.value) == "mqtt_every: needs mqtt (the broker to publish to)"
    name_option(info.value, "live")
    assert str(info.value) == "--mqtt-every: needs --mqtt (the broker to publish to)"
    with pytest.raises(EdgeactError) as info:
        check_remote_options(LiveOptions(mqtt_level="2"))
    assert str(info.value) == "mqtt_level: 2: needs mqtt (the broker to publish to)"
    check_remote_options(LiveOptions(mqtt_level="fine"))       # the default needs no broker


# --------------------------------------------------------------------------- events


def _d(t, label, p=0.9, track=0, level="g1"):
    return Decision(t=t, track=track, box=(0, 0, 10, 10), fine=(Scored(label, p), Scored("other", 1 - p)),
                    levels=((Scored(level, 0.95),),), latency_ms=10.0, uncertain=p < 0.5)


def test_tracker_opens_changes_and_ends_a_track_like_frigate_events():
    tr = ActionTracker(end_after=1.0, run_id="r")
    assert tr.decision("cam0", _d(0.0, "wave", p=0.3)) == []          # uncertain: nothing starts
    (new,) = tr.decision("cam0", _d(0.5, "wave"))
    assert new["type"] == "new" and new["before"] is None and new["after"]["action"] == "wave"
    assert new["after"]["start"] == 0.5 and new["id"] == "r-1" and new["after"]["source"] == "cam0"
    assert tr.decision("cam0", _d(1.0, "wave", p=0.8)) == []           # same action: no event
    assert tr.decision("cam0", _d(1.5, "sit", p=0.4)) == []            # uncertain: no change
    (upd,) = tr.decision("cam0", _d(2.0, "sit"))
    assert upd["type"] == "update" and upd["id"] == "r-1"
    assert (upd["before"]["action"], upd["after"]["action"], upd["after"]["start"]) == ("wave", "sit", 2.0)
    assert tr.current("cam0") == [{"id": "r-1", "track": 0, "action": "sit", "score": 0.9, "start": 2.0, "t": 2.0}]
    assert tr.expire("cam0", 2.9) == []
    (end,) = tr.expire("cam0", 3.1)
    assert end["type"] == "end" and end["after"]["end"] == 2.0 and end["before"]["action"] == "sit"
    assert tr.current("cam0") == []
    (again,) = tr.decision("cam0", _d(4.0, "sit"))                    # back in view: a new event
    assert again["type"] == "new" and again["id"] == "r-2"
    assert [e["type"] for e in tr.end_all()] == ["end"]


def test_tracker_at_a_superclass_level_ignores_fine_changes_within_it():
    tr = ActionTracker(level=1, run_id="r")
    assert [e["type"] for e in tr.decision("cam0", _d(0.0, "wave", level="arms"))] == ["new"]
    assert tr.decision("cam0", _d(0.5, "raise", level="arms")) == []
    (upd,) = tr.decision("cam0", _d(1.0, "sit", level="body"))
    assert (upd["before"]["action"], upd["after"]["action"], upd["after"]["level"]) == ("arms", "body", 1)


def test_what_waits_for_the_broker_is_bounded_and_the_drops_counted():
    from edgeact.live.mqtt_publish import MqttPublisher

    pub = MqttPublisher(parse_mqtt_url("mqtt://127.0.0.1"), keep=3)     # never started: the broker is away
    for i in range(5):
        pub.event("edgeact/cam0/0/action", {"i": i})
    for i in range(4):
        pub.state("edgeact/cam0/state", {"i": i})
        pub.decision("edgeact/cam0/0/decision", {"i": i})
    assert [p["i"] for _, p, _ in pub._events] == [2, 3, 4]                 # the newest events, in order
    assert pub._states == {"edgeact/cam0/state": {"i": 3}}                 # the latest state only
    assert pub.counters() == {"connected": False, "sent": 0, "dropped_events": 2, "dropped_decisions": 4,
                              "pending": 4}


# --------------------------------------------------------------------------- a real broker


class Broker:
    """Mosquitto on 127.0.0.1:``port`` with its own config (no persistence: a restart forgets
    retained messages, as a broker rebuilt from scratch would)."""

    def __init__(self, folder: Path, port: int, users: dict | None = None, tls: tuple[Path, Path] | None = None):
        self.folder, self.port, self.tls = folder, port, tls
        lines = [f"listener {port} 127.0.0.1", "persistence false"]
        if os.geteuid() == 0:       # else mosquitto drops to its own user, who cannot read pytest's temp folders
            lines.append("user root")
        if tls:
            lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}"]
        if users:
            pw = folder / "passwd"
            pw.write_text("")
            for user, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw), user, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc = None

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Subscriber:
    """A paho client subscribed to ``prefix/#``: every message as ``(topic, payload, retain)``."""

    def __init__(self, port: int, prefix: str, auth: tuple[str, str] | None = None):
        self.messages: list[tuple[str, str, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if auth:
            self.client.username_pw_set(*auth)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{prefix}/#", qos=1)
        self.client.reconnect_delay_set(0.2, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload.decode(), bool(msg.retain)))

    def wait(self, pred, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                hit = [m for m in self.messages if pred(m)]
            if hit:
                return hit[-1]
            time.sleep(0.05)
        raise AssertionError(f"no such message within {timeout} s; got {self.topics()}")

    def on(self, topic: str) -> list:
        with self._lock:
            return [json.loads(p) if p.startswith("{") else p for t, p, _ in self.messages if t == topic]

    def topics(self) -> list[str]:
        with self._lock:
            return sorted({t for t, _, _ in self.messages})

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def retained(port: int, topic: str, timeout: float = 10.0, auth=None) -> str:
    """The retained message of ``topic``, as a fresh subscriber gets it."""
    sub = Subscriber(port, topic.rsplit("/", 1)[0], auth)
    try:
        return sub.wait(lambda m: m[0] == topic and m[2], timeout)[1]
    finally:
        sub.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return two_action_clip(tmp_path_factory.mktemp("mqtt_clip"))


@pytest.fixture
def broker(tmp_path):
    if MOSQUITTO is None:
        pytest.skip("needs the Debian package mosquitto (apt-get install mosquitto)")
    b = Broker(tmp_path, free_port()).start()
    yield b
    b.stop()


def _expected_events(rows: list[dict]) -> list[tuple[str, str | None, str]]:
    """``(type, before action, after action)`` that new/update/end should be, from the JSONL
    decisions of one track (uncertain ones neither start nor change an action)."""
    out, cur = [], None
    for r in rows:
        if r["uncertain"]:
            continue
        label = r["fine"][0]["label"]
        if cur is None:
            out.append(("new", None, label))
        elif label != cur:
            out.append(("update", cur, label))
        cur = label
    if cur is not None:
        out.append(("end", cur, cur))
    return out


@needs_broker
def test_a_recording_publishes_new_update_end_and_retained_state(broker, clip, tmp_path):
    video, skel, frames = clip
    sub = Subscriber(broker.port, "t1")
    out = tmp_path / "d.jsonl"
    live = LiveProcess(["--video", video, "--skeleton", skel, "--no-realtime", "--quiet", "--device", "cpu",
                        "--jsonl", out, "--stride", "4", "--mqtt", f"mqtt://127.0.0.1:{broker.port}/t1",
                        "--mqtt-every"])
    assert live.wait() == 0, live.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()][1:]
    assert {r["track"] for r in rows} == {0}
    want = _expected_events(rows)
    assert [w[0] for w in want].count("update") >= 1, "the recording's two actions did not give two labels"
    sub.wait(lambda m: m[0] == "t1/available" and m[1] == "offline")
    events = sub.on("t1/cam0/0/action")
    got = [(e["type"], e["before"] and e["before"]["action"], e["after"]["action"]) for e in events]
    assert got == want
    assert len({e["id"] for e in events}) == 1 and all(e["source"] == "cam0" and e["track"] == 0 for e in events)
    model = events[0]["model"]
    assert model["name"] == "demo.pt" and model["arch"] == "i3d_r18" and len(model["sha256"]) == 16
    # each event carries its decision's JSONL keys; the new one is the first confident decision
    first = next(r for r in rows if not r["uncertain"])
    assert {k: events[0]["after"][k] for k in first} == first
    assert events[-1]["after"]["end"] == rows[-1]["t"]
    # --mqtt-every: every decision, as its JSONL line plus source and model
    decisions = sub.on("t1/cam0/0/decision")
    assert [{k: d[k] for k in rows[0]} for d in decisions] == rows
    sub.close()
    # retained for a subscriber that comes later: the final state and offline
    state = json.loads(retained(broker.port, "t1/cam0/state"))
    assert state["running"] is False and state["tracks"] == [] and state["source"] == "cam0"
    assert state["mqtt"] == {"dropped_events": 0, "dropped_decisions": 0}
    assert retained(broker.port, "t1/available") == "offline"


@needs_broker
def test_a_killed_process_leaves_its_last_will(broker, clip):
    video, skel, _ = clip
    sub = Subscriber(broker.port, "t2")
    live = LiveProcess(["--video", video, "--skeleton", skel, "--loop", "--quiet", "--device", "cpu",
                        "--mqtt", f"mqtt://127.0.0.1:{broker.port}/t2"])
    try:
        sub.wait(lambda m: m[0] == "t2/available" and m[1] == "online", timeout=90)
        sub.wait(lambda m: m[0] == "t2/cam0/state", timeout=30)
        assert retained(broker.port, "t2/available") == "online"
        assert json.loads(retained(broker.port, "t2/cam0/state"))["running"] is True
        live.proc.kill()                                  # SIGKILL: no clean disconnect, no offline of its own
        sub.wait(lambda m: m[0] == "t2/available" and m[1] == "offline", timeout=10)
        assert retained(broker.port, "t2/available") == "offline"
    finally:
        sub.close()
        live.kill()


@needs_broker
def test_the_loop_outlives_a_broker_restart_and_reports_what_it_dropped(broker, clip):
    video, skel, _ = clip
    live = LiveProcess(["--video", video, "--skeleton", skel, "--loop", "--quiet", "--device", "cpu",
                        "--stride", "2", "--mqtt", f"mqtt://127.0.0.1:{broker.port}/t3", "--mqtt-every"])
    try:
        sub = Subscriber(broker.port, "t3")
        sub.wait(lambda m: m[0].endswith("/decision"), timeout=90)
        sub.close()
        broker.stop()
        live.wait_line(r"mqtt: lost the broker", timeout=30)
        time.sleep(2.0)                                   # decisions made meanwhile are dropped
        assert live.proc.poll() is None
        broker.start()
        m = live.wait_line(r"mqtt: connected to .*; (\d+) messages dropped while it was unreachable", timeout=60)
        dropped = int(m.group(1))
        assert dropped > 0
        sub = Subscriber(broker.port, "t3")               # it publishes on, and says it is online again
        sub.wait(lambda m: m[0].endswith("/decision"), timeout=30)
        sub.close()
        assert retained(broker.port, "t3/available") == "online"   # the restarted broker had forgotten it
        assert live.interrupt() == 130
        state = json.loads(retained(broker.port, "t3/cam0/state"))
        assert state["running"] is False and state["mqtt"]["dropped_decisions"] >= dropped
        assert retained(broker.port, "t3/available") == "offline"
    finally:
        live.kill()


@needs_broker
def test_a_broker_down_at_start_is_retried_not_an_error(clip, tmp_path):
    video, skel, _ = clip
    port = free_port()        # nothing listens there
    live = LiveProcess(["--video", video, "--skeleton", skel, "--no-realtime", "--quiet", "--device", "cpu",
                        "--mqtt", f"mqtt://127.0.0.1:{port}"])
    assert live.wait() == 0, live.stderr
    assert f"mqtt: cannot reach the broker at mqtt://127.0.0.1:{port}/edgeact" in live.stderr


@pytest.mark.skipif(MOSQUITTO is None or MOSQUITTO_PASSWD is None, reason="needs the Debian package mosquitto "
                    "(mosquitto and mosquitto_passwd)")
def test_credentials_the_broker_refuses_are_one_line_before_the_loop(tmp_path, clip):
    video, skel, _ = clip
    b = Broker(tmp_path, free_port(), users={"cam": "right"}).start()
    try:
        bad = LiveProcess(["--video", video, "--skeleton", skel, "--no-realtime", "--quiet", "--device", "cpu",
                           "--mqtt", f"mqtt://cam:wrong@127.0.0.1:{b.port}/t4"])
        assert bad.wait() == 2
        lines = [ln for ln in bad.lines if ln.strip()]
        assert len(lines) == 1 and "refused the connection" in lines[0] and "wrong" not in lines[0], bad.stderr
        assert f"--mqtt: mqtt://cam:***@127.0.0.1:{b.port}/t4: the broker refused" in lines[0], bad.stderr
        good = LiveProcess(["--video", video, "--skeleton", skel, "--no-realtime", "--quiet", "--device", "cpu",
                            "--mqtt", f"mqtt://cam:right@127.0.0.1:{b.port}/t4"])
        assert good.wait() == 0, good.stderr
        assert retained(b.port, "t4/available", auth=("cam", "right")) == "offline"
    finally:
        b.stop()


@pytest.mark.parametrize("args, says", [
    (["--mqtt", "http://broker"], "unknown scheme http://"),
    (["--mqtt", "mqtt://broker:0"], "port 0"),
    (["--mqtt", "mqtt://broker", "--mqtt-level", "9"], "--mqtt-level: 9: the model has levels 1-2"),
    (["--mqtt-every"], "--mqtt-every: needs --mqtt (the broker to publish to)"),
    (["--mqtt-level", "1"], "--mqtt-level: 1: needs --mqtt (the broker to publish to)"),
])
def test_bad_mqtt_options_are_one_line_and_exit_2(args, says, clip):
    line = refused_line(clip, args)
    assert says in line, line


@pytest.mark.skipif(MOSQUITTO is None or shutil.which("openssl") is None,
                    reason="needs the Debian packages mosquitto and openssl")
def test_mqtts_checks_the_broker_certificate(tmp_path, clip):
    """mqtts:// verifies the broker against the system's CAs (SSL_CERT_FILE names another bundle):
    a certificate nobody vouches for is one line before the loop; trusted, the run publishes."""
    video, skel, _ = clip
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    b = Broker(tmp_path, free_port(), tls=(cert, key)).start()
    args = ["--video", video, "--skeleton", skel, "--no-realtime", "--quiet", "--device", "cpu",
            "--mqtt", f"mqtts://127.0.0.1:{b.port}/t5"]
    try:
        untrusted = LiveProcess(args)
        assert untrusted.wait() == 2
        lines = [ln for ln in untrusted.lines if ln.strip()]
        assert len(lines) == 1 and f"--mqtt: mqtts://127.0.0.1:{b.port}/t5: TLS with the broker failed" in lines[0], \
            untrusted.stderr
        trusted = LiveProcess(args, env={"SSL_CERT_FILE": str(cert)})
        assert trusted.wait() == 0, trusted.stderr
        assert "mqtt:" not in trusted.stderr      # connected at once: no note about the broker
    finally:
        b.stop()
