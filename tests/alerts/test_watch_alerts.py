"""`desk watch` raises, prints, logs and delivers alerts: the demo flash crash end to end.

A real `desk watch --demo` subprocess (accelerated simulated market) on a private D-Bus with
dunst: the alerts appear on stdout as JSON lines, in the alert log, as desktop notifications and
on a phone channel (a loopback ntfy server, through Apprise, its URL from the keyring); a channel
whose server is gone is reported as failing, with the reason, and delays nobody.
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
from tests.support.file_keyring import BACKEND
from tests.support.push_services import PushServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOL = "demo-bybit-isolated/SOL/USDT:USDT/both"
# The SOL long goes from the warning to liquidation within the crash's 600 simulated seconds.
# The demo streams marks every 0.5 s of real time: at speed 600 that was two samples for the
# whole fall, so a busy machine skipped the warning; at 120 it is ten, one a simulated minute.
SPEED = "120"
HANG_GUARD = 300.0  # seconds for the scenario to reach "gone": only a hang reaches it


def configure_channels(env: dict[str, str], tmp_path: Path, phone_url: str) -> None:
    """A critical-only phone on the loopback ntfy, and a channel whose server is gone."""
    from desk.store.paths import desk_paths

    settings = desk_paths().ensure().settings_file
    settings.write_text('schema_version = 2\n[alerts]\nrepeat_critical_minutes = ""\n'
                        '[channels.phone]\nlevel = "critical"\n[channels.gone]\nlevel = "critical"\n')
    keyring_file = tmp_path / "keyring.json"  # outside DESK_HOME
    keyring_file.write_text(json.dumps({"desk-alert-channel/phone": phone_url,
                                        "desk-alert-channel/gone": "json://127.0.0.1:9/nobody-listens"}))
    env.update({"PYTHON_KEYRING_BACKEND": BACKEND, "DESK_TEST_KEYRING": str(keyring_file)})


def test_watch_demo_flash_crash_alerts(
    notification_server: Dunst, notify_monitor: NotifyMonitor, subprocess_env: dict[str, str], tmp_path: Path,
    push_server: PushServer,
) -> None:
    env = {**subprocess_env, "DBUS_SESSION_BUS_ADDRESS": notification_server.bus.address}
    configure_channels(env, tmp_path, push_server.ntfy_url("desk-phone"))
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "desk", "watch", "--demo", "--scenario", "flash-crash", "--speed", SPEED,
             "--seed", "7", "--json-lines"],
            env=env, stdout=subprocess.PIPE, stderr=err_file, text=True, bufsize=1,
        )
    alerts: list[dict[str, object]] = []
    channel_events: list[dict[str, object]] = []
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
    reader.start()
    deadline = time.monotonic() + HANG_GUARD
    rest: list[str] = []
    try:
        while time.monotonic() < deadline:
            try:
                raw = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            doc = json.loads(raw)
            if doc["type"] == "channel":
                channel_events.append(doc)
            if doc["type"] == "alert":
                alerts.append(doc)
                if doc["rule"] == "gone":
                    break
        # the phone gets the critical alerts too (Apprise paces a channel at one message per 5.5 s,
        # so it may still be sending the later ones when the watch is stopped: those are logged)
        push_server.wait_for(lambda rs: len(rs) >= 1, timeout=60, what="a critical alert on the phone")
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

    sol = [(a["rule"], a["level"]) for a in alerts if a["subject"] == SOL and not a["repeat"]]
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
        desktop = [(d.channel, d.delivered) for d in row.deliveries if d.channel == "dbus"]
        assert desktop == [("dbus", True)], row
    # the phone: every critical alert, at the service's high priority; nothing below critical
    phone = [r.json for r in push_server.requests]
    critical_titles = [r.alert.title for r in rows if r.alert.level.value == "critical"]
    assert [p["title"] for p in phone] == critical_titles[: len(phone)]
    assert all(p["topic"] == "desk-phone" for p in phone)
    assert {r.headers.get("X-Priority") for r in push_server.requests} == {"high"}
    # the dead channel: reported once as failing, with the reason, and logged on each critical alert
    (failing,) = channel_events
    assert failing["channel"] == "gone" and failing["ok"] is False and "JSON" in str(failing["reason"])
    sol_critical = next(r for r in rows if r.alert.subject == SOL and r.alert.level.value == "critical")
    outcome = {d.channel: (d.delivered, d.detail) for d in sol_critical.deliveries}
    assert outcome["dbus"][0] is True and outcome["gone"][0] is False
    # every attempt is in the log: sent, or still waiting for its turn when the watch stopped
    assert outcome["phone"] in ((True, "sent via ntfy"), (False, "not sent: desk stopped before it went out"))
    shown = _closed(notification_server)
    # one notification per condition: a warning's notification shows its critical once it escalates
    def dbus(row: object) -> str:
        return next(d.detail for d in row.deliveries if d.channel == "dbus")  # type: ignore[attr-defined]

    last_title = {int(dbus(r).split()[2].rstrip(";")): r.alert.title for r in rows}
    summaries = {int(str(h["id"])): str(h["summary"]) for h in shown}
    assert {nid: f"desk: {title}" for nid, title in last_title.items()} == summaries
    sol_ids = {int(dbus(r).split()[2]) for r in rows
               if r.alert.subject == SOL and r.alert.rule == "distance"}
    assert len(sol_ids) == 1  # the SOL warning was replaced by its critical, not stacked
    # the notifications as sent (dbus-monitor): SOL's warning and critical carried the fixes
    sent = notify_monitor.text()
    sol_calls = [c for c in sent.split("member=Notify")[1:] if 'string "desk: SOL/USDT:USDT long: ' in c]
    assert len(sol_calls) >= 2 and all("To get back to 10 % from liquidation" in c for c in sol_calls[:2])
    # once gone, "probably liquidated" took the place of SOL's critical notification
    (gone,) = [r for r in rows if r.alert.subject == SOL and r.alert.rule == "gone"]
    assert dbus(gone).endswith(f"(replaces {sol_ids.pop()})")


def _closed(dunst: Dunst) -> list[dict[str, object]]:
    dunst.ctl("close-all")
    return dunst.history()


def test_watch_names_a_channel_that_cannot_be_used_with_the_reason(subprocess_env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    """A channel with no URL in the keyring is said at start, in the table output, with the fix."""
    from desk.store.paths import desk_paths

    desk_paths().ensure().settings_file.write_text(
        'schema_version = 2\n[alerts]\ndesktop = false\n[channels.phone]\nlevel = "critical"\n')
    keyring_file = tmp_path / "keyring.json"
    keyring_file.write_text("{}")
    env = {**subprocess_env, "PYTHON_KEYRING_BACKEND": BACKEND, "DESK_TEST_KEYRING": str(keyring_file)}
    proc = subprocess.Popen([sys.executable, "-m", "desk", "watch", "--demo", "--verbose"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "alert channel" in line or len(seen) > 200:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    (line,) = [s for s in seen if "alert channel" in s]
    assert line.split("  ", 1)[1].strip() == (
        "alert channel phone: FAILING — no URL stored in the keyring — add it with "
        "`desk alerts channel add phone`")
