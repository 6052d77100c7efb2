"""AlertService: snapshots on the event bus → engine → alert log (SQLite) and delivery channels."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from desk.domain.alerts import AlertLevel
from desk.notify.console import ConsoleNotifier
from desk.services.alerts import AlertConfig, AlertRaised, AlertService, Delivered
from desk.services.bus import EventBus
from desk.store.history import History
from desk.store.settings import Settings
from tests.alerts.factory import FakeClock, position, snapshot
from tests.support.dbus import Dunst, NotifyMonitor, PrivateBus, dunst_on, wait_for


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    h = History(tmp_path / "history.sqlite")
    yield h
    h.close()


def test_snapshots_on_the_bus_become_logged_and_printed_alerts(history: History) -> None:
    bus, clock, out = EventBus(), FakeClock(), io.StringIO()
    raised: list[AlertRaised] = []
    delivered: list[Delivered] = []
    bus.subscribe(lambda e: raised.append(e), AlertRaised)  # type: ignore[arg-type]
    bus.subscribe(lambda e: delivered.append(e), Delivered)  # type: ignore[arg-type]
    service = AlertService(bus, AlertConfig(), alert_log=history, extras=[ConsoleNotifier(out)], clock=clock)
    service.start(ticker=False)
    try:
        bus.publish(snapshot(clock.now, [position(distance=0.3)]))
        clock.advance(5)
        bus.publish(snapshot(clock.now, [position(distance=0.08)]))
        clock.advance(5)
        bus.publish(snapshot(clock.now, [position(distance=0.04)]))
        assert service.wait_idle(5)
    finally:
        service.stop()
    assert [(r.alert.rule, r.alert.level) for r in raised] == [
        ("distance", AlertLevel.WARNING), ("distance", AlertLevel.CRITICAL)]
    rows = history.alerts()
    assert [(r.alert.level, r.alert.title) for r in rows] == [(r.alert.level, r.alert.title) for r in raised]
    assert all([(d.channel, d.delivered) for d in r.deliveries] == [("console", True)] for r in rows)
    assert [d.alert_id for d in delivered] == [r.id for r in rows]
    assert out.getvalue().count("ALERT WARNING") == 1 and out.getvalue().count("ALERT CRITICAL") == 1


def test_cannot_monitor_fires_from_the_clock_when_the_monitor_goes_silent(history: History) -> None:
    bus, clock = EventBus(), FakeClock()
    service = AlertService(bus, AlertConfig(), alert_log=history, clock=clock).start(ticker=False)
    try:
        bus.publish(snapshot(clock.now, [position()]))
        for _ in range(31):  # the monitor publishes nothing more; the clock keeps ticking
            clock.advance(1)
            service.tick()
        assert service.wait_idle(5)
    finally:
        service.stop()
    (row,) = history.alerts()
    assert row.alert.rule == "stale" and row.alert.level is AlertLevel.CRITICAL
    # no channel is configured: that is recorded too, never silently dropped
    assert [(d.channel, d.delivered, d.detail) for d in row.deliveries] == [
        ("none", False, "no delivery channel is enabled")]


def test_the_ticker_thread_runs_on_its_own(history: History) -> None:
    bus = EventBus()
    service = AlertService(bus, AlertConfig(), alert_log=history, tick_seconds=0.02)
    service.start()
    try:
        import time

        # data 29.7 s old: fine now; stale in 0.3 s, with no further snapshot
        bus.publish(snapshot(time.time(), [position()], data_time=time.time() - 29.7))
        assert history.alerts() == []
        wait_for(lambda: len(history.alerts()) >= 1, 5, "the stale alert from the ticker")
    finally:
        service.stop()
    assert history.alerts()[0].alert.rule == "stale"


def test_snooze_action_mutes_that_position_and_the_log_says_so(history: History) -> None:
    bus, clock = EventBus(), FakeClock()
    service = AlertService(bus, AlertConfig(), alert_log=history, extras=[ConsoleNotifier(io.StringIO())],
                           clock=clock).start(ticker=False)
    try:
        service.evaluate(snapshot(clock.now, [position(distance=0.3)]))
        first = service.evaluate(snapshot(clock.advance(1), [position(distance=0.08)]))
        service.handle_action("snooze", first[0].alert)
        service.evaluate(snapshot(clock.advance(1), [position(distance=0.2)]))
        service.evaluate(snapshot(clock.advance(40 * 60), [position(distance=0.08)]))  # after the cooldown
        assert service.wait_idle(5)
    finally:
        service.stop()
    rows = history.alerts()
    assert [(d.channel, d.delivered, d.detail) for d in rows[-1].deliveries] == [
        ("muted", False, "main/BTC/USDT:USDT/both snoozed")]


@pytest.mark.integration
def test_from_settings_delivers_to_the_desktop_and_logs_the_server_id(
    notification_server: Dunst, notify_monitor: NotifyMonitor, history: History, tmp_path: Path
) -> None:
    settings = Settings.load(tmp_path / "settings.toml")
    settings.set("alerts.distance_critical", 0.06)
    bus, clock = EventBus(), FakeClock()
    service = AlertService.from_settings(bus, settings, alert_log=history, clock=clock).start(ticker=False)
    try:
        service.evaluate(snapshot(clock.now, [position(distance=0.3)]))
        service.evaluate(snapshot(clock.advance(1), [position(distance=0.055)]))
        assert service.wait_idle(10)
    finally:
        service.stop()
    (row,) = history.alerts()
    assert row.alert.level is AlertLevel.CRITICAL
    (attempt,) = row.deliveries
    assert attempt.channel == "dbus" and attempt.delivered
    nid = int(re.fullmatch(r"notification id (\d+)", attempt.detail).group(1))  # type: ignore[union-attr]
    log = notify_monitor.wait_for(f"uint32 {nid}")
    assert f'string "desk: {row.alert.title}"' in log


@pytest.mark.integration
def test_feed_back_closes_the_cannot_monitor_notification_and_logs_recovered(
    notification_server: Dunst, history: History, tmp_path: Path
) -> None:
    """The issue's case: a critical "cannot monitor" stays on screen after the feed returns. Now the
    recovery closes it on the real server and the alert log says "recovered"."""
    settings = Settings.load(tmp_path / "settings.toml")
    bus, clock = EventBus(), FakeClock()
    service = AlertService.from_settings(bus, settings, alert_log=history, clock=clock).start(ticker=False)
    try:
        service.evaluate(snapshot(clock.now, [position()]))
        for _ in range(31):  # the feed goes silent
            clock.advance(1)
            service.tick()
        assert service.wait_idle(10)
        wait_for(lambda: notification_server.count_displayed() == 1, 5, "the cannot-monitor notification")
        service.evaluate(snapshot(clock.advance(1), [position()]))  # the feed is back
        assert service.wait_idle(10)
    finally:
        service.stop()
    stale, recovered = history.alerts()
    assert (stale.alert.rule, stale.alert.level) == ("stale", AlertLevel.CRITICAL)
    assert (recovered.alert.rule, recovered.alert.level) == ("recovered", AlertLevel.INFO)
    assert recovered.alert.account == "main" and "monitoring resumed" in recovered.alert.title
    stale_id = int(stale.deliveries[0].detail.split()[-1])
    (attempt,) = recovered.deliveries
    assert attempt.channel == "dbus" and attempt.delivered and attempt.detail.endswith(f"closed {stale_id}")
    # closed on the server: in dunst's history (not by us), and only the short "recovered" note shows
    wait_for(lambda: any(h["id"] == stale_id for h in notification_server.history()), 5,
             "dunst to close the cannot-monitor notification")
    assert notification_server.count_displayed() == 1
    (closed,) = notification_server.history()
    assert str(closed["summary"]).startswith("desk: Cannot monitor main")


@pytest.mark.integration
def test_acknowledge_button_on_the_notification_stops_the_reminders(
    dbus_session: PrivateBus, history: History, tmp_path: Path
) -> None:
    """dunst's action menu (its `dmenu`, here a script that picks "Acknowledge") sends ActionInvoked
    for the critical notification; the reminders stop and the alert log records who acknowledged."""
    picker = tmp_path / "pick-acknowledge.sh"
    picker.write_text("#!/bin/sh\ngrep -m1 '^#Acknowledge '\n")
    picker.chmod(0o755)
    settings = Settings.load(tmp_path / "settings.toml")
    bus, clock = EventBus(), FakeClock()
    with dunst_on(dbus_session, tmp_path, extra=f"    dmenu = {picker}\n") as dunst:
        service = AlertService.from_settings(bus, settings, alert_log=history, clock=clock)
        service.start(ticker=False)
        try:
            service.evaluate(snapshot(clock.now, [position(distance=0.3)]))
            service.evaluate(snapshot(clock.advance(10), [position(distance=0.03)]))
            assert service.wait_idle(10)
            assert [a.symbol for a in service.engine.repeating()] == ["BTC/USDT:USDT"]
            wait_for(lambda: dunst.count_displayed() == 1, 5, "the critical notification")
            dunst.ctl("context")  # the notification's action menu: "Acknowledge" is picked
            wait_for(lambda: bool(history.acks()), 5, "the acknowledgement in the alert log")
            assert service.engine.repeating() == []
            service.evaluate(snapshot(clock.advance(300), [position(distance=0.03)]))
            assert service.wait_idle(10)
        finally:
            service.stop()
    ((_, ack),) = history.acks()
    assert (ack.source, ack.condition) == ("notification", ("distance", "main", "BTC/USDT:USDT", "both"))
    assert not [r for r in history.alerts() if r.alert.repeat]  # no reminder after the acknowledgement
