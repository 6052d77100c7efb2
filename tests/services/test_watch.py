"""`desk watch` as a user runs it: a real subprocess on the demo venue, stopped by SIGINT / SIGTERM."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desk.commands.watch import render_table
from desk.exchanges.demo import DEMO_ACCOUNTS
from desk.services.bus import EventBus
from desk.services.monitor import Monitor, MonitorConfig
from tests.support.monitor import Recorder, ScriptedReader, position

ROOT = Path(__file__).resolve().parents[2]


class Watch:
    def __init__(self, env: dict[str, str], *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "desk", "watch", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self._buffer = ""

    def read_until(self, predicate, timeout: float = 120.0) -> str:  # a hang guard, not a speed limit
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if predicate(line):
                    return line
            if self.proc.poll() is not None and not self._sel.select(0):
                break
            for _key, _ in self._sel.select(0.1):
                chunk = self.proc.stdout.read()  # type: ignore[union-attr]
                if chunk:
                    self._buffer += chunk
                    *complete, self._buffer = self._buffer.split("\n")
                    self.lines.extend(complete)
        stderr = self.proc.stderr.read() if self.proc.poll() is not None else ""  # type: ignore[union-attr]
        raise AssertionError(f"no matching line within {timeout} s; got {self.lines[-5:]!r} {stderr}")

    def stop(self, sig: int, timeout: float = 15.0) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, self._buffer + out, err


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_json_lines_on_the_demo_then_clean_stop(subprocess_env, sig):
    w = Watch(subprocess_env, "--demo", "--speed", "5", "--seed", "3", "--json-lines")
    try:
        started = json.loads(w.read_until(lambda line: '"type":"started"' in line))
        assert started["demo"] is True and started["accounts"] == list(DEMO_ACCOUNTS)
        status = json.loads(w.read_until(lambda line: '"type":"status"' in line))
        assert status["new"] in {"live", "delayed"} and status["old"] is None
        snap = json.loads(w.read_until(lambda line: '"type":"snapshot"' in line and '"format":"desk.risk/1"'
                                       in line and '"positions":[{' in line))
        assert snap["report"]["format"] == "desk.risk/1"
        assert {a["name"] for a in snap["accounts"]} == set(started["accounts"])
        assert all(p["status"] in {"live", "delayed", "stale", "error"} for p in snap["positions"])
    finally:
        code, rest, err = w.stop(sig)
    assert code == 0, err
    last = json.loads(rest.strip().splitlines()[-1])
    assert last["type"] == "stopped" and last["clean"] is True
    assert "Traceback" not in err


@pytest.mark.integration
def test_human_table_and_status_lines_then_sigint(subprocess_env):
    w = Watch(subprocess_env, "--demo", "--speed", "5", "--verbose")
    try:
        w.read_until(lambda line: line.startswith("watching the demo venue"))
        w.read_until(lambda line: ": start → live" in line)
        w.read_until(lambda line: line.startswith("account") and "margin ratio" in line)
        w.read_until(lambda line: "request weight" in line and "msg/min" in line)
    finally:
        code, rest, err = w.stop(signal.SIGINT)
    assert code == 0, err
    assert rest.rstrip().splitlines()[-1] == "stopped"


@pytest.mark.integration
def test_the_table_says_what_brings_a_position_back_in_the_flash_crash(subprocess_env):
    """The Bybit isolated SOL long nears liquidation: under the table, the fixes for the distance
    warning (10 %) and the ratio target (0.50), the amount in USDT and a whole leverage."""
    # speed 120: the SOL long's fall spans about ten of the demo's 0.5 s mark ticks (at 600 it
    # was two, and a busy machine could print no table while the position was near liquidation)
    w = Watch(subprocess_env, "--demo", "--scenario", "flash-crash", "--speed", "120", "--seed", "7",
              "--no-alerts")
    try:
        line = w.read_until(lambda line: "demo-bybit-isolated SOL/USDT:USDT long: To get back to 10 % from "
                            "liquidation and margin ratio 50 %: add " in line, timeout=300)
    finally:
        code, _rest, err = w.stop(signal.SIGINT)
    assert code == 0, err
    fixes = line.split(": ", 2)[2]
    # the amount depends on how deep into the fall the line was read: cents near the band's edge
    assert re.fullmatch(r"add [\d,]+(\.\d+)? USDT of margin, or set leverage to \d+x\.", fixes), line


def test_no_account_points_to_accounts_add_and_demo(subprocess_env):
    out = subprocess.run([sys.executable, "-m", "desk", "watch"], cwd=ROOT, env=subprocess_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "no exchange account is configured" in out.stderr
    assert "desk accounts add" in out.stderr and "desk watch --demo" in out.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--scenario", "calm"], "add --demo"),
    (["--demo", "--scenario", "moon"], "unknown demo scenario 'moon'"),
    (["--demo", "--speed", "0"], "--speed must be a positive number"),
    (["--demo", "--target", "2"], "--target must be a margin ratio between 0 and 1"),
])
def test_bad_options_are_explained(subprocess_env, args, message):
    out = subprocess.run([sys.executable, "-m", "desk", "watch", *args], cwd=ROOT, env=subprocess_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_table_is_worst_first_and_marks_stale_rows():
    clock_now = [1_700_000_000.0]
    calm = ScriptedReader("calm", (position("ETH/USDT:USDT", mark=3000.0, entry=3000.0),),
                          streams_marks=False, clock=lambda: clock_now[0])
    risky = ScriptedReader("risky", (position("BTC/USDT:USDT", contracts=10, mark=60_000.0),),
                           streams_marks=False, clock=lambda: clock_now[0], wallet=70_000.0)
    bus = EventBus()
    events = Recorder()
    bus.subscribe(events)
    monitor = Monitor([calm, risky], bus, config=MonitorConfig(poll_seconds=1000, reconcile_seconds=1000),
                      clock=lambda: clock_now[0])
    monitor.start()
    try:
        events.wait_snapshot(lambda s: len(s.report.accounts) == 2)
        clock_now[0] += 40  # nothing new for 40 s: both stale
        snap = events.wait_snapshot(lambda s: all(a.status.value == "stale" for a in s.accounts))
    finally:
        assert monitor.stop(5)
    rows = [line for line in render_table(snap).splitlines() if line.startswith(("calm", "risky"))]
    assert [r.split()[0] for r in rows] == ["risky", "calm"]  # higher margin ratio first
    assert all(r.endswith("stale 40s") for r in rows)
    ratios = [p.margin_ratio for p in sorted(snap.report.positions(), key=lambda p: -p.margin_ratio)]
    assert ratios[0] > ratios[1]
