"""Desktop notifications to a real server (dunst) on a private D-Bus, proven with dbus-monitor."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from desk.domain.alerts import Alert, AlertLevel
from desk.notify.base import DeliveryChain, NotifyError
from desk.notify.freedesktop import FreedesktopNotifier
from tests.support.dbus import Dunst, NotifyMonitor, PrivateBus, dunst_on, wait_for
from tests.support.monitor import ManualClock

pytestmark = pytest.mark.integration

CRITICAL = Alert(
    at=1_800_000_000.0, rule="distance", level=AlertLevel.CRITICAL,
    title="BTC/USDT:USDT long: 4.2 % from liquidation",
    body="main: mark 58,000 < liquidation 55,600 & falling",
    account="main", symbol="BTC/USDT:USDT", leg="both", value=0.042, threshold=0.05,
)
WARNING = Alert(at=1_800_000_001.0, rule="distance", level=AlertLevel.WARNING,
                title="ETH/USDT:USDT long: 8.0 %", body="main: warning",
                account="main", symbol="ETH/USDT:USDT", leg="both")


def test_critical_notification_reaches_dunst_and_stays(
    notification_server: Dunst, notify_monitor: NotifyMonitor
) -> None:
    notifier = FreedesktopNotifier()
    try:
        assert notifier.available()
        assert "actions" in notifier.capabilities()
        detail = notifier.send(CRITICAL)
    finally:
        notifier.close()
    nid = int(re.fullmatch(r"notification id (\d+)", detail).group(1))  # type: ignore[union-attr]

    log = notify_monitor.wait_for(f"uint32 {nid}")
    call = log[log.index("member=Notify"):]
    assert 'string "desk"' in call  # app name
    assert 'string "desk: BTC/USDT:USDT long: 4.2 % from liquidation"' in call
    # this dunst does not offer "body-markup", so the body goes as plain text, unescaped
    assert 'string "main: mark 58,000 < liquidation 55,600 & falling"' in call
    assert re.search(r'string "urgency"\s+variant\s+byte 2', call)
    assert re.search(r"\]\s+int32 0\s", call)  # expire_timeout 0: stays until dismissed
    assert 'string "default"' in call and 'string "Open desk"' in call and 'string "Snooze 1 h"' in call
    assert re.search(rf"method return .*\n\s+uint32 {nid}", log)

    wait_for(lambda: notification_server.count_displayed() == 1, 5, "dunst to display the notification")
    notification_server.ctl("close-all")
    (shown,) = notification_server.history()
    assert shown["summary"] == "desk: BTC/USDT:USDT long: 4.2 % from liquidation"
    assert shown["id"] == nid and shown["appname"] == "desk"


def test_warning_uses_normal_urgency_and_the_server_timeout(
    notification_server: Dunst, notify_monitor: NotifyMonitor
) -> None:
    notifier = FreedesktopNotifier()
    try:
        nid = int(notifier.send(WARNING).split()[-1])
    finally:
        notifier.close()
    log = notify_monitor.wait_for(f"uint32 {nid}")
    assert re.search(r'string "urgency"\s+variant\s+byte 1', log)
    assert re.search(r"\]\s+int32 -1\s", log)


def test_open_action_comes_back_without_blocking(notification_server: Dunst) -> None:
    got: list[tuple[str, Alert]] = []
    arrived = threading.Event()

    def on_action(action: str, alert: Alert) -> None:
        got.append((action, alert))
        arrived.set()

    notifier = FreedesktopNotifier(on_action=on_action)
    try:
        notifier.send(CRITICAL)
        wait_for(lambda: notification_server.count_displayed() == 1, 5, "the notification on screen")
        notification_server.ctl("action", "0")  # what a click on the notification does
        assert arrived.wait(5), "no ActionInvoked reached desk"
    finally:
        notifier.close()
    assert got == [("open", CRITICAL)]


def test_no_notification_server_falls_back_to_the_next_channel(dbus_session: PrivateBus) -> None:
    class Balloon:  # stands in for the tray balloon (desk.ui): records what it was given
        channel = "tray"

        def __init__(self) -> None:
            self.shown: list[Alert] = []

        def available(self) -> bool:
            return True

        def send(self, alert: Alert) -> str:
            self.shown.append(alert)
            return "balloon"

    dbus, tray = FreedesktopNotifier(call_timeout=2), Balloon()
    try:
        with pytest.raises(NotifyError, match="ServiceUnknown"):
            dbus.capabilities()
        attempts = DeliveryChain([dbus, tray]).deliver(CRITICAL)
    finally:
        dbus.close()
    assert [(a.channel, a.delivered, a.detail) for a in attempts] == [
        ("dbus", False, "not available"), ("tray", True, "balloon")]
    assert tray.shown == [CRITICAL]


def test_a_server_that_appears_later_is_used_after_the_retry_delay(
    dbus_session: PrivateBus, tmp_path: Path
) -> None:
    clock = ManualClock()
    notifier = FreedesktopNotifier(call_timeout=2, retry_seconds=0.5, clock=clock)
    try:
        assert not notifier.available()
        with dunst_on(dbus_session, tmp_path):
            clock.advance(0.49)
            assert not notifier.available()  # not asked again so soon
            clock.advance(0.02)
            assert notifier.available()
            assert notifier.send(WARNING).startswith("notification id ")
    finally:
        notifier.close()


def test_no_session_bus_at_all_is_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    notifier = FreedesktopNotifier()
    assert notifier.available() is False


def test_one_notification_per_condition_replaced_on_escalation_and_closed_on_recovery(
    notification_server: Dunst, notify_monitor: NotifyMonitor
) -> None:
    """Warning → critical replaces the same notification (replaces_id); the recovery closes it
    (CloseNotification) and a transient "recovered" notification says so."""
    escalated = Alert(at=CRITICAL.at, rule="distance", level=AlertLevel.CRITICAL,
                      title="ETH/USDT:USDT long: 4.0 %", body="main: critical",
                      account="main", symbol="ETH/USDT:USDT", leg="both")
    recovered = Alert(at=CRITICAL.at + 60, rule="recovered", level=AlertLevel.INFO,
                      title="Recovered: main/ETH/USDT:USDT/both", body="No longer true (was critical)",
                      account="main", symbol="ETH/USDT:USDT", leg="both", clears="distance")
    notifier = FreedesktopNotifier()
    try:
        first = int(notifier.send(WARNING).split()[-1])
        other = int(notifier.send(CRITICAL).split()[-1])  # BTC: another condition, its own notification
        detail = notifier.send(escalated)
        wait_for(lambda: notification_server.count_displayed() == 2, 5, "two notifications on screen")
        assert detail == f"notification id {first} (replaces {first})"
        log = notify_monitor.wait_for('string "desk: ETH/USDT:USDT long: 4.0 %"')
        call = log[log.rindex("member=Notify"):]
        assert re.search(rf'string "desk"\s+uint32 {first}\s', call)  # replaces_id = the warning's id
        assert notification_server.history() == []  # replaced, not closed

        detail = notifier.send(recovered)
        assert detail.endswith(f"; closed {first}")
        shown_now = int(detail.split()[2].rstrip(";"))
        assert shown_now not in (first, other)

        def closed_ids() -> list[object]:
            return [h["id"] for h in notification_server.history()]

        wait_for(lambda: first in closed_ids(), 5, "dunst to close the ETH notification")
        (closed,) = notification_server.history()
        assert closed["summary"] == "desk: ETH/USDT:USDT long: 4.0 %"  # the escalated text had replaced it
        assert notification_server.count_displayed() == 2  # BTC's critical and the "recovered" note
    finally:
        notifier.close()
    notification_server.ctl("close-all")
    summaries = {h["id"]: h["summary"] for h in notification_server.history()}
    assert summaries[shown_now] == "desk: Recovered: main/ETH/USDT:USDT/both"
    assert summaries[other] == "desk: BTC/USDT:USDT long: 4.2 % from liquidation"


def test_gone_takes_the_place_of_the_positions_risk_notifications(notification_server: Dunst) -> None:
    ratio = Alert(at=CRITICAL.at, rule="margin_ratio", level=AlertLevel.CRITICAL, title="BTC ratio 0.9",
                  body="main: ratio", account="main", symbol="BTC/USDT:USDT", leg="both")
    gone = Alert(at=CRITICAL.at + 30, rule="gone", level=AlertLevel.CRITICAL,
                 title="BTC/USDT:USDT long is gone — probably liquidated", body="main: check the exchange",
                 account="main", symbol="BTC/USDT:USDT", leg="both")
    notifier = FreedesktopNotifier()
    try:
        distance = int(notifier.send(CRITICAL).split()[-1])
        margin = int(notifier.send(ratio).split()[-1])
        wait_for(lambda: notification_server.count_displayed() == 2, 5, "two critical notifications")
        assert notifier.send(gone) == f"notification id {distance} (replaces {distance})"
        wait_for(lambda: [h["id"] for h in notification_server.history()] == [margin], 5,
                 "dunst to close the margin-ratio notification")
        assert notification_server.count_displayed() == 1
    finally:
        notifier.close()
    notification_server.ctl("close-all")
    summaries = {h["id"]: h["summary"] for h in notification_server.history()}
    assert summaries[distance] == "desk: BTC/USDT:USDT long is gone — probably liquidated"
