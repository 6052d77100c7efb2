"""The alert log view over a real History in DESK_HOME, live from the alert service via the bridge."""

from __future__ import annotations

import csv
import io
import time

import pytest
from PySide6.QtCore import Qt

from desk.domain.alerts import Alert, AlertLevel, DeliveryAttempt
from desk.notify.console import ConsoleNotifier
from desk.services.alerts import AlertConfig, AlertService
from desk.services.bus import EventBus
from desk.store.history import History
from desk.store.paths import desk_paths
from desk.ui.alert_log import DELIVERY, LEVEL, SUBJECT, TIME, TITLE, AlertLogDialog
from desk.ui.bridge import EventBridge
from tests.support.ui import position, snapshot


@pytest.fixture
def history():  # type: ignore[no-untyped-def]
    h = History(desk_paths().ensure().history_db)
    yield h
    h.close()


def alert(at: float, level: AlertLevel, account: str, symbol: str, title: str) -> Alert:
    return Alert(at=at, rule="distance", level=level, title=title, body=f"{title} — details",
                 account=account, symbol=symbol, leg="both")


def texts(dialog: AlertLogDialog, column: int) -> list[str]:
    return [dialog.proxy.index(r, column).data() for r in range(dialog.proxy.rowCount())]


def make_dialog(qtbot, history):  # type: ignore[no-untyped-def]
    dialog = AlertLogDialog(lambda: history)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_lists_the_log_newest_first_with_deliveries(qtbot, history) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    first = history.record_alert(
        alert(now - 120, AlertLevel.WARNING, "main", "BTC/USDT:USDT", "BTC 9 % away"))
    history.record_delivery(first, DeliveryAttempt(now - 119, "dbus", False, "no notification server"))
    history.record_delivery(first, DeliveryAttempt(now - 119, "tray", True, "balloon shown"))
    second = history.record_alert(
        alert(now - 60, AlertLevel.CRITICAL, "alt", "ETH/USDT:USDT", "ETH 4 % away"))
    history.record_delivery(second, DeliveryAttempt(now - 59, "dbus", True, "id 7"))
    dialog = make_dialog(qtbot, history)
    assert texts(dialog, TITLE) == ["ETH 4 % away", "BTC 9 % away"]
    assert texts(dialog, LEVEL) == ["✖ CRITICAL", "▲ WARNING"]
    assert texts(dialog, SUBJECT) == ["alt/ETH/USDT:USDT/both", "main/BTC/USDT:USDT/both"]
    assert texts(dialog, DELIVERY) == ["dbus delivered (id 7)",
                                       "dbus FAILED (no notification server); tray delivered (balloon shown)"]
    # date and time, always both (issue 19): the log spans days
    assert texts(dialog, TIME)[0] == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now - 60))
    assert "ETH 4 % away — details" in dialog.proxy.index(0, TITLE).data(Qt.ItemDataRole.ToolTipRole)

    dialog.level.setCurrentIndex(2)  # critical only
    assert texts(dialog, TITLE) == ["ETH 4 % away"]
    dialog.level.setCurrentIndex(0)
    dialog.account.setCurrentIndex(dialog.account.findData("main"))
    assert texts(dialog, TITLE) == ["BTC 9 % away"]


def test_export_writes_the_rows_shown(qtbot, history, tmp_path) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    for i, level in enumerate((AlertLevel.WARNING, AlertLevel.CRITICAL, AlertLevel.WARNING)):
        a = history.record_alert(alert(now - 100 + i, level, "main", f"C{i}/USDT:USDT", f"alert {i}"))
        history.record_delivery(a, DeliveryAttempt(now, "dbus", True, f"id {i}"))
    dialog = make_dialog(qtbot, history)
    dialog.level.setCurrentIndex(2)
    path = tmp_path / "alerts.csv"
    assert dialog.export_to(str(path)) == 1
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [(r["title"], r["level"], r["delivery"]) for r in rows] == [("alert 1", "critical",
                                                                        "dbus delivered (id 1)")]
    assert rows[0]["time"].endswith("Z")


def test_live_alerts_arrive_through_the_bridge_and_get_their_deliveries(qtbot, history) -> None:  # type: ignore[no-untyped-def]
    bus, bridge = EventBus(), EventBridge()
    bridge.attach(bus)
    dialog = make_dialog(qtbot, history)
    bridge.alert_raised.connect(dialog.on_raised)
    bridge.alert_delivered.connect(dialog.on_delivered)
    console = io.StringIO()
    service = AlertService(bus, AlertConfig(), alert_log=history, extras=[ConsoleNotifier(console)]).start(
        ticker=False)
    try:
        now = time.time()
        risky = position("BTC/USDT:USDT", mark=60_000.0, liquidation=58_000.0, margin_ratio=0.2)
        service.evaluate(snapshot([risky], at=now))  # desk started: one summary of the current state
        assert service.wait_idle(5)
        qtbot.waitUntil(lambda: dialog.proxy.rowCount() == 1 and "delivered" in texts(dialog, DELIVERY)[0],
                        timeout=3000)
        assert texts(dialog, LEVEL) == ["✖ CRITICAL"]
        assert texts(dialog, DELIVERY)[0].startswith("console delivered")
        assert "CRITICAL" in console.getvalue() or "critical" in console.getvalue()
        # the row shown live is the row in the log: a reload finds the same one, not two
        dialog.reload()
        assert dialog.proxy.rowCount() == 1
        assert texts(dialog, TITLE)[0] == history.alerts()[0].alert.title
    finally:
        service.stop()


def test_strip_and_menu_open_the_alert_log(qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from desk.ui import main_window as main_window_module

    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    window = main_window_module.MainWindow()
    window.allow_close = True
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.alert_log_requested, timeout=1000):
        qtbot.mouseClick(window.status_strip.alerts, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.alert_log_requested, timeout=1000):
        window.menu_actions["alert_log"].trigger()


def test_cut_text_has_a_tooltip_and_no_internal_noise(qtbot, history) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    long_account = "demo-binance-usdm-with-a-long-name"
    first = history.record_alert(alert(now - 30, AlertLevel.WARNING, long_account, "SOL/USDT:USDT",
                                       "SOL 9 % away"))
    history.record_delivery(first, DeliveryAttempt(now - 29, "desktop", True,
                                                   "notification id 8 (replaces 7)"))
    second = history.record_alert(alert(now - 20, AlertLevel.INFO, "main", "BTC/USDT:USDT", "BTC recovered"))
    history.record_delivery(second, DeliveryAttempt(now - 19, "desktop", True, "notification id 9; closed 8"))
    dialog = make_dialog(qtbot, history)
    assert texts(dialog, DELIVERY) == ["desktop delivered", "desktop delivered"]
    assert not any("notification id" in t for t in texts(dialog, DELIVERY))
    subject = dialog.proxy.index(1, SUBJECT)
    assert subject.data(Qt.ItemDataRole.ToolTipRole) == subject.data() == f"{long_account}/SOL/USDT:USDT/both"
    stamp = dialog.proxy.index(0, TIME).data()
    width = dialog.table.fontMetrics().horizontalAdvance(stamp)
    assert dialog.table.columnWidth(TIME) > width  # the date and time shown whole
