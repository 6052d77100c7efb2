"""`desk alerts` from the command line: channels with their URL in a real keyring (gnome-keyring on a
private D-Bus), test messages reported per channel, and acknowledgements reaching a running desk."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from desk.domain.alerts import AlertLevel
from desk.services.alerts import AlertService
from desk.services.bus import EventBus
from desk.store.history import History
from desk.store.paths import desk_paths
from desk.store.settings import Settings
from tests.alerts.factory import FakeClock, position, snapshot
from tests.support.dbus import Dunst
from tests.support.push_services import PushServer, another_push_server, stop_push_server
from tests.support.secret_service import SecretService

ROOT = Path(__file__).resolve().parents[2]
CANARY = "CanaryTok3n9f2a"


def desk(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def test_channel_urls_live_in_the_keyring_only_and_test_reports_each_channel(
        secret_service: SecretService, push_server: PushServer, subprocess_env: dict[str, str],
        desk_home: Path) -> None:
    env = secret_service.env(subprocess_env)
    refusing = another_push_server()
    refusing.fail_with(401)
    good_url = push_server.ntfy_url(f"desk-{CANARY}")
    bad_url = refusing.gotify_url(f"{CANARY}Gotify")
    try:
        added = desk(env, "alerts", "channel", "add", "phone", "--level", "critical", "--quiet-hours",
                     "23:00-07:00", "--url-from-stdin", stdin=good_url + "\n")
        assert added.returncode == 0, added.stderr
        assert "channel phone (ntfy): level critical and worse, quiet 23:00-07:00" in added.stdout
        home_added = desk(env, "alerts", "channel", "add", "home", "--url-from-stdin", stdin=bad_url)
        assert home_added.returncode == 0, home_added.stderr

        outputs = [added]
        tested = desk(env, "alerts", "test")
        outputs.append(tested)
        assert tested.returncode == 3, tested.stderr
        lines = tested.stdout.splitlines()
        assert "phone: ok — sent via ntfy" in lines
        (home,) = [line for line in lines if line.startswith("home: FAILED — Gotify: ")]
        assert "401" in home
        # the desktop notification is a channel too: this test bus has no notification server
        assert "desktop: FAILED — not available (no notification server answers)" in lines
        assert "2 of 3 channel(s) failed" in tested.stderr
        only = desk(env, "alerts", "test", "--channel", "phone")
        outputs.append(only)
        assert only.returncode == 0 and only.stdout.splitlines() == ["phone: ok — sent via ntfy"]
        listed = desk(env, "alerts", "channel", "list")
        outputs.append(listed)
        assert "phone: ntfy://127.0.0.1/*** · level critical+ · quiet hours 23:00-07:00" in listed.stdout
        for args in (("config", "show"), ("config", "show", "--json"), ("alerts", "list"),
                     ("alerts", "list", "--json")):
            outputs.append(desk(env, *args))
            assert outputs[-1].returncode == 0, outputs[-1].stderr
    finally:
        stop_push_server(refusing)

    # the messages arrived, with the token (a topic here) in the request where the service needs it
    topics = [r.json["topic"] for r in push_server.requests]
    assert topics == [f"desk-{CANARY}", f"desk-{CANARY}"]
    assert [r.headers["X-Gotify-Key"] for r in refusing.requests] == [f"{CANARY}Gotify"]
    # the keyring holds the URLs …
    assert secret_service.lookup(service="desk-alert-channel", username="phone") == good_url
    assert secret_service.lookup(service="desk-alert-channel", username="home") == bad_url
    # … and nothing else does: no output, no file under DESK_HOME (settings, log, alert log)
    for done in outputs:
        assert CANARY not in done.stdout + done.stderr, done.args
    files = [p for p in desk_home.rglob("*") if p.is_file()]
    assert any(p.name == "settings.toml" for p in files) and any(p.name == "desk.log" for p in files)
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
    assert "[channels.phone]" in (desk_paths().settings_file.read_text())

    removed = desk(env, "alerts", "channel", "remove", "home")
    assert removed.returncode == 0 and "and its URL from the keyring" in removed.stdout
    assert secret_service.lookup(service="desk-alert-channel", username="home") is None


def test_bad_channel_input_is_refused_clearly(subprocess_env: dict[str, str],
                                             secret_service: SecretService) -> None:
    env = secret_service.env(subprocess_env)
    unknown = desk(env, "alerts", "channel", "add", "x", "--url-from-stdin", stdin=f"nosuch://{CANARY}\n")
    assert unknown.returncode == 2 and "Apprise does not understand this nosuch:// URL" in unknown.stderr
    assert CANARY not in unknown.stderr + unknown.stdout
    bad_quiet = desk(env, "alerts", "channel", "add", "x", "--quiet-hours", "late", "--url-from-stdin",
                     stdin="ntfy://127.0.0.1/t\n")
    assert bad_quiet.returncode == 2 and "HH:MM-HH:MM" in bad_quiet.stderr
    no_tty = desk(env, "alerts", "channel", "add", "x", stdin="")
    assert no_tty.returncode == 2 and "--url-from-stdin" in no_tty.stderr
    assert desk(env, "config", "set", "alerts.desktop", "false").returncode == 0
    none = desk(env, "alerts", "test")
    assert none.returncode == 2 and "no alert channel is configured" in none.stderr
    assert "[channels" not in desk_paths().settings_file.read_text()


def test_desk_alerts_ack_stops_the_reminders_of_a_running_desk(subprocess_env: dict[str, str]) -> None:
    clock = FakeClock(time.time() - 3600)  # an hour ago: `desk alerts ack` runs after it on the real clock
    history = History(desk_paths().ensure().history_db)
    settings = Settings.load()
    settings.update({"alerts.desktop": False})
    service = AlertService.from_settings(EventBus(), settings, alert_log=history, clock=clock)
    service.start(ticker=False)
    eth = "ETH/USDT:USDT"
    try:
        service.evaluate(snapshot(clock(), [position(distance=0.30), position(eth, distance=0.3)]))
        clock.advance(10)
        service.evaluate(snapshot(clock(), [position(distance=0.03), position(eth, distance=0.08)]))
        assert service.wait_idle(10)
        rows = {r.alert.symbol: r for r in history.alerts()}
        btc, warned = rows["BTC/USDT:USDT"], rows[eth]
        assert (btc.alert.level, warned.alert.level) == (AlertLevel.CRITICAL, AlertLevel.WARNING)

        refused = desk(subprocess_env, "alerts", "ack", str(warned.id))
        assert refused.returncode == 2
        assert f"alert {warned.id} is warning (distance), not a critical" in refused.stderr
        missing = desk(subprocess_env, "alerts", "ack", "99999")
        assert missing.returncode == 2 and "there is no alert 99999" in missing.stderr
        done = desk(subprocess_env, "alerts", "ack", str(btc.id))
        assert done.returncode == 0, done.stderr
        assert f"acknowledged alert {btc.id}: BTC/USDT:USDT long: 3.00 % from liquidation" in done.stdout

        clock.advance(120)  # a reminder would be due now
        service.evaluate(snapshot(clock(), [position(distance=0.03), position(eth, distance=0.08)]))
        assert service.tick() == [] and service.engine.repeating() == []
        assert service.wait_idle(10)
        assert not [r for r in history.alerts() if r.alert.repeat]
        listed = desk(subprocess_env, "alerts", "list", "--json")
        doc = json.loads(listed.stdout)
        acked = {a["id"]: a["acknowledged_from"] for a in doc["alerts"]}
        assert acked == {btc.id: "cli", warned.id: None}
    finally:
        service.stop()
        history.close()


def test_desk_alerts_test_reaches_the_desktop_notification_server(notification_server: Dunst,
                                                                  subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "DBUS_SESSION_BUS_ADDRESS": notification_server.bus.address}
    done = desk(env, "alerts", "test", "--channel", "desktop")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert re.fullmatch(r"desktop: ok — notification id \d+", line), line
    notification_server.ctl("close-all")  # a critical notification stays on screen until closed
    (shown,) = notification_server.history()
    assert shown["summary"] == "desk: Test alert from desk"
