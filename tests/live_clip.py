"""Helpers for the tests that run ``edgeact live``: a synthetic recording in which one person
performs two actions in a row, a live process whose stderr is read while it runs (MQTT, remote
view), and a sink that only collects the loop's decisions (in-process loop tests)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from edgeact.data.ntu import NtuName
from edgeact.data.synth import SynthConfig, write_sample
from video_frames import read_video

FPS = 30.0


class DecisionCollector:
    """A live sink that keeps every decision in ``decisions`` and ignores frames and ticks."""

    wants_frames = False

    def __init__(self):
        self.decisions = []

    def decision(self, d):
        self.decisions.append(d)

    def frame(self, event, latest):
        pass

    def tick(self, stats, latest):
        pass

    def close(self, stats):
        pass


def two_action_clip(out: Path, actions: tuple[int, int] = (1, 4), seed: int = 0) -> tuple[Path, Path, int]:
    """``(video, skeleton, frames)``: the synthetic clips of ``actions`` by performer P003 (the
    demo model's test split) played one after the other as one recording, the second body given
    the first one's id so the replay keeps one track through the change of action."""
    import cv2

    cfg = SynthConfig(seed=seed)
    parts = []
    for a in actions:
        name = NtuName(setup=1, camera=2, performer=3, replication=1, action=a)
        video, skel, _ = write_sample(cfg, out / "parts", name)
        parts.append((video, skel))
    frames = []
    for video, _ in parts:
        frames += read_video(video)[0]
    h, w = frames[0].shape[:2]
    video_out = out / "two_actions.avi"
    writer = cv2.VideoWriter(str(video_out), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    body, blocks = None, []
    for _, skel in parts:
        lines = skel.read_text().splitlines()
        i = 1
        for _ in range(int(lines[0])):
            count = int(lines[i])
            block = [lines[i]]
            i += 1
            for _ in range(count):
                info = lines[i].split()
                body = body or info[0]
                info[0] = body
                joints = int(lines[i + 1])
                block += [" ".join(info)] + lines[i + 1:i + 2 + joints]
                i += 2 + joints
            blocks.append(block)
    skel_out = out / "two_actions.skeleton"
    skel_out.write_text("\n".join([str(len(blocks))] + [line for b in blocks for line in b]) + "\n")
    return video_out, skel_out, len(frames)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveProcess:
    """``python -m edgeact live ARGS`` with its stderr collected line by line."""

    def __init__(self, args: list, env: dict | None = None):
        cmd = [sys.executable, "-m", "edgeact", "live", *[str(a) for a in args]]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        self.out: list[str] = []
        self._threads = [threading.Thread(target=self._read, args=(self.proc.stderr, self.lines), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream, into: list) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_line(self, pattern: str, timeout: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = rx.search(line)
                if m:
                    return m
            if self.proc.poll() is not None:
                time.sleep(0.2)     # the reader may still hold the last lines
                for line in list(self.lines):
                    m = rx.search(line)
                    if m:
                        return m
                raise AssertionError(f"live exited ({self.proc.returncode}) without {pattern!r}:\n{self.stderr}")
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.stderr}")

    def interrupt(self, timeout: float = 60.0) -> int:
        """Ctrl-C, then wait for the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float = 120.0) -> int:
        rc = self.proc.wait(timeout)
        for t in self._threads:
            t.join(timeout=5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait(30)


def refused_line(clip: tuple[Path, Path, int], args: list) -> str:
    """The one line ``edgeact live`` over ``clip`` (from :func:`two_action_clip`) prints when it
    refuses ``args`` with exit status 2; anything else fails the test, showing its stderr."""
    video, skel, _ = clip
    live = LiveProcess(["--video", video, "--skeleton", skel, "--no-realtime", "--quiet", "--device", "cpu", *args])
    assert live.wait() == 2, live.stderr
    lines = [ln for ln in live.lines if ln.strip()]
    assert len(lines) == 1, live.stderr
    return lines[0]
