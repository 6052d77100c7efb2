"""The main window around the table: status strip, account cards, panels for the charts."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest
from PySide6.QtWidgets import QLabel

from desk.domain.alerts import Alert, AlertLevel
from desk.services.snapshot import DataStatus
from desk.ui import main_window as main_window_module
from desk.ui.levels import Level
from desk.ui.main_window import PANEL_NAMES, MainWindow, window_title
from tests.support.ui import position, snapshot


@pytest.fixture
def window(qtbot, monkeypatch):  # type: ignore[no-untyped-def]
    # The chart panels (issue 10) have tests of their own; here the window is tested alone.
    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    w = MainWindow(demo=True)
    w.allow_close = True
    qtbot.addWidget(w)
    w.show()
    return w


def settle(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    # the strip and cards refresh in an event of their own: wait for it, not for a time
    qtbot.waitUntil(lambda: not window._summary_pending, timeout=60_000)


def test_title_and_demo_badge(window) -> None:  # type: ignore[no-untyped-def]
    assert window.windowTitle() == window_title(True) == "desk — risk dashboard [DEMO]"
    assert window.status_strip.demo.isVisible()
    window.set_demo(False)
    assert window.windowTitle() == "desk — risk dashboard"
    assert not window.status_strip.demo.isVisible()


def test_strip_shows_the_worst_health_in_words(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    positions = [position("A/USDT:USDT", mark=100.0, liquidation=97.0),  # 3 %: critical
                 position("B/USDT:USDT", mark=100.0, liquidation=92.0),  # 8 %: warning
                 position("C/USDT:USDT", account="other", mark=100.0, liquidation=50.0)]
    window.apply_snapshot(snapshot(positions, at=now))
    settle(qtbot, window)
    assert window.worst_level is Level.CRITICAL
    assert window.status_strip.health.text() == "✖ CRITICAL"
    assert window.status_strip.summary.text() == "3 positions in 2 accounts · 1 critical · 1 warning"
    assert set(window.accounts_panel.cards) == {"main", "other"}
    assert window.accounts_panel.cards["main"].level.text() == "✖ CRIT"
    assert window.accounts_panel.cards["other"].level.text() == "✓ OK"
    assert "live" in window.status_strip.accounts.toolTip()


def test_an_account_in_error_is_stale_not_ok(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    window.apply_snapshot(snapshot([position(mark=100.0, liquidation=50.0)], at=now, status=DataStatus.ERROR))
    settle(qtbot, window)
    assert window.worst_level is Level.STALE
    assert window.status_strip.health.text() == "◌ STALE DATA"
    card = window.accounts_panel.cards["main"]
    assert card.level.text() == "◌ STALE"
    assert card.status.text().startswith("✖ ERROR")


def test_margin_bar_tooltip_has_the_venues_own_figure(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.apply_snapshot(snapshot([position(margin_ratio=0.4)], at=time.time()))
    settle(qtbot, window)
    bar = window.accounts_panel.cards["main"].bar
    assert bar.format() == "✓ 40.00 %"  # one formatter: ratios at 2 decimals everywhere
    assert "venue's own figure 40.40 %" in bar.toolTip()


def test_isolated_only_accounts_show_the_worst_isolated_ratio(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    positions = [position("A/USDT:USDT", margin_mode="isolated", margin_ratio=0.27),
                 position("B/USDT:USDT", margin_mode="isolated", margin_ratio=0.61)]
    window.apply_snapshot(snapshot(positions, at=time.time()))
    settle(qtbot, window)
    bar = window.accounts_panel.cards["main"].bar
    assert bar.format() == "▲ 61.00 % isolated"
    assert "B/USDT:USDT" in bar.toolTip()


def test_alerts_today_are_counted(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    alert = Alert(at=time.time(), rule="distance", level=AlertLevel.WARNING, title="BTC close", body="8 %")
    window.on_alert(alert)
    window.on_alert(alert, "snoozed")
    assert window.status_strip.alerts.text() == "Alerts today: 2"
    old = Alert(at=time.time() - 3 * 86400, rule="distance", level=AlertLevel.WARNING, title="old", body="")
    window.on_alert(old)
    assert window.status_strip.alerts.text() == "Alerts today: 2"


def test_panels_are_hosted_by_name_and_replacing_keeps_the_tab(window) -> None:  # type: ignore[no-untyped-def]
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == list(PANEL_NAMES)
    window.tabs.setCurrentIndex(1)
    ladder = QLabel("ladder")
    window.set_panel("Ladder", ladder)
    assert window.panels["Ladder"] is ladder
    assert window.tabs.widget(0).widget() is ladder  # held in a scroll area
    assert window.tabs.tabText(0) == "Ladder"
    assert window.tabs.currentIndex() == 1


def test_selection_is_announced_for_the_charts(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.apply_snapshot(snapshot([position("A/USDT:USDT"), position("B/USDT:USDT")], at=time.time()))
    with qtbot.waitSignal(window.position_selected) as blocker:
        assert window.select_key(("main", "B/USDT:USDT", "both", "cross"))
    assert blocker.args[0].symbol == "B/USDT:USDT"
    # a live update re-announces the selected position with its new figures
    with qtbot.waitSignal(window.position_selected) as blocker:
        window.apply_snapshot(snapshot([position("A/USDT:USDT"), position("B/USDT:USDT", mark=61_000.0)],
                                       seq=2, at=time.time()))
    assert blocker.args[0].mark_price == 61_000.0


def test_visible_rows_export_what_is_shown(window) -> None:  # type: ignore[no-untyped-def]
    window.apply_snapshot(snapshot([position("A/USDT:USDT"), position("B/USDT:USDT", account="x")],
                                   at=time.time()))
    window.filter_edit.setText("B/USDT")
    rows = window.visible_rows()
    assert len(rows) == 1
    assert rows[0]["Symbol"] == "B/USDT:USDT"
    assert rows[0]["Liq. desk"] == "54,300.0"
    assert "Bankruptcy" in rows[0]


def test_a_tall_side_panel_scrolls_by_itself_not_the_whole_tab(window) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

    panel = QWidget()
    side = QWidget()
    side.setMinimumHeight(330)  # like the ladder's legend
    side.setMinimumWidth(270)
    column = QVBoxLayout(side)
    column.addWidget(QLabel("legend"))
    row = QHBoxLayout(panel)
    plot = QWidget()
    plot.setMinimumHeight(60)
    row.addWidget(plot, 3)
    row.addWidget(side)
    panel.side_panel = side  # type: ignore[attr-defined]
    window.set_panel("Ladder", panel)
    assert isinstance(side.parentWidget().parentWidget(), QScrollArea)  # viewport → scroll area
    assert panel.minimumSizeHint().height() < 200  # the tab no longer needs the legend's height


def test_a_read_that_could_not_give_everything_says_so_on_the_card(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    """The last read's notes (e.g. the spot wallet refused) are on the card: a count on the status
    line, each note in its tooltip — the data stays live (the read itself succeeded)."""
    from dataclasses import replace

    now = time.time()
    snap = snapshot([position(mark=100.0, liquidation=50.0)], at=now)
    note = "main: Binance refused this key on the spot wallet (-2015); its spot balances stay unknown"
    snap = replace(snap, accounts=tuple(replace(s, notes=(note,)) for s in snap.accounts))
    window.clock = lambda: now
    window.apply_snapshot(snap)
    settle(qtbot, window)
    card = window.accounts_panel.cards["main"]
    assert card.status.text().startswith("● LIVE") and card.status.text().endswith("· ▲ 1 note")
    assert note in card.status.toolTip()


def test_an_okx_ratio_that_needs_no_margin_is_not_shown_as_no_margin_left(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    # OKX's own ratio is equity ÷ maintenance: infinite when nothing is required (the safest case);
    # the tooltip said "no margin left" (desk's word for an infinite ratio on its own scale)
    snap = snapshot([position(margin_ratio=0.0)], at=time.time())
    account = snap.report.accounts[0]
    pool = dataclasses.replace(account.pools[0], margin_ratio=0.0, venue_margin_ratio=math.inf)
    report = dataclasses.replace(snap.report, accounts=(dataclasses.replace(account, pools=(pool,)),))
    window.apply_snapshot(dataclasses.replace(snap, report=report))
    settle(qtbot, window)
    tip = window.accounts_panel.cards["main"].bar.toolTip()
    assert "venue's own figure unbounded (no maintenance margin)" in tip
    assert "no margin left" not in tip and "inf" not in tip.replace("unbounded", "")
