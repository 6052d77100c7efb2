"""`desk watch` raises, prints, logs and delivers alerts: the demo flash crash end to end.

A real `desk watch --demo` subprocess (accelerated simulated market) on a private D-Bus with
dunst: the alerts appear on stdout as JSON lines, in the alert log, and as desktop notifications.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from desk.store.history import History
from tests.support.dbus import Dunst, NotifyMonitor

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOL = "demo-bybit-isolated/SOL/USDT:USDT/both"


def test_watch_demo_flash_crash_alerts(
    notification_server: Dunst, notify_monitor: NotifyMonitor, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**subprocess_env, "DBUS_SESSION_BUS_ADDRESS": notification_server.bus.address}
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "desk", "watch", "--demo", "--scenario", "flash-crash", "--speed", "600",
             "--seed", "7", "--json-lines"],
            env=env, stdout=subprocess.PIPE, stderr=err_file, text=True, bufsize=1,
        )
    alerts: list[dict[str, object]] = []
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    rest: list[str] = []
    try:
        while time.monotonic() < deadline:
            try:
                raw = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            doc = json.loads(raw)
            if doc["type"] == "alert":
                alerts.append(doc)
                if doc["rule"] == "gone":
                    break
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(10)
        stdout.close()
        err = errors.read_text()
        while not lines.empty():
            rest.append(lines.get())
    assert proc.returncode == 0, err
    assert json.loads(rest[-1])["type"] == "stopped"

    sol = [(a["rule"], a["level"]) for a in alerts if a["subject"] == SOL]
    assert sol == [("distance", "warning"), ("distance", "critical"), ("gone", "critical")], alerts
    assert all(a["muted"] is None for a in alerts)
    # the warning and the critical say what to do: back to the distance warning (10 %) and the ratio goal
    for a in [a for a in alerts if a["subject"] == SOL and a["rule"] == "distance"]:
        assert "To get back to 10 % from liquidation and margin ratio 50 %: add " in a["body"], a
        assert " USDT of margin" in a["body"] and "set leverage to " in a["body"], a

    from desk.store.paths import desk_paths

    db = desk_paths().history_db
    history = History(db.with_name("history-demo" + db.suffix))  # where the demo's history goes
    try:
        rows = history.alerts()
    finally:
        history.close()
    logged = [(r.alert.rule, r.alert.level.value) for r in rows if r.alert.subject == SOL]
    assert logged[: len(sol)] == sol
    for row in rows:
        assert [(d.channel, d.delivered) for d in row.deliveries] == [("dbus", True)], row
    shown = _closed(notification_server)
    # one notification per condition: a warning's notification shows its critical once it escalates
    last_title = {int(r.deliveries[0].detail.split()[2].rstrip(";")): r.alert.title for r in rows}
    summaries = {int(str(h["id"])): str(h["summary"]) for h in shown}
    assert {nid: f"desk: {title}" for nid, title in last_title.items()} == summaries
    sol_ids = {int(r.deliveries[0].detail.split()[2]) for r in rows
               if r.alert.subject == SOL and r.alert.rule == "distance"}
    assert len(sol_ids) == 1  # the SOL warning was replaced by its critical, not stacked
    # the notifications as sent (dbus-monitor): SOL's warning and critical carried the fixes
    sent = notify_monitor.text()
    sol_calls = [c for c in sent.split("member=Notify")[1:] if 'string "desk: SOL/USDT:USDT long: ' in c]
    assert len(sol_calls) >= 2 and all("To get back to 10 % from liquidation" in c for c in sol_calls[:2])
    # once gone, "probably liquidated" took the place of SOL's critical notification
    (gone,) = [r for r in rows if r.alert.subject == SOL and r.alert.rule == "gone"]
    assert gone.deliveries[0].detail.endswith(f"(replaces {sol_ids.pop()})")


def _closed(dunst: Dunst) -> list[dict[str, object]]:
    dunst.ctl("close-all")
    return dunst.history()
