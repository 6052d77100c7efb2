"""The engine's suggestions where the trader looks, in the real main window at 1280×800: the row's
tooltip and the What-if tab, in view without scrolling (issue 15, "the screen never lies")."""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QScrollArea
from pytestqt.qtbot import QtBot

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.domain.suggest import suggestion_text
from desk.services.snapshot import AccountState, DataStatus, MonitorSnapshot
from desk.ui.main_window import MainWindow
from desk.ui.positions_model import Column
from tests.support.ui_charts import VICTIM, flash_crash_portfolio, position_risk

GOAL = "to get back to 10 % from liquidation and margin ratio 50 %"  # the defaults of alerts.* / risk.*


def live_snapshot(portfolio: Portfolio) -> MonitorSnapshot:
    """What the monitor publishes: the engine's report with the goals of the default settings."""
    now = time.time()
    report = compute_risk(portfolio, target=0.5, target_distance=0.10)
    states = tuple(AccountState(name=a.name, venue=a.venue, status=DataStatus.LIVE, data_time=now, demo=True)
                   for a in portfolio.accounts)
    return MonitorSnapshot(seq=1, at=now, portfolio=portfolio, report=report, accounts=states)


def test_suggestions_in_the_row_tooltip_and_the_whatif_tab_in_view_at_1280x800(qtbot: QtBot) -> None:
    window = MainWindow(demo=True)
    window.allow_close = True
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitUntil(lambda: getattr(window, "charts", None) is not None, timeout=10_000)
    portfolio = flash_crash_portfolio()
    snap = live_snapshot(portfolio)
    victim = position_risk(snap.report, *VICTIM)
    assert victim.suggestions and victim.distance_to_liquidation < 0.10
    window.apply_snapshot(snap)
    assert window.select_key(victim.key)

    # the row's tooltip (status column), as the view asks its model for it
    row = window.table.selectionModel().selectedRows()[0].row()
    tip = window.table.model().index(row, Column.STATUS).data(Qt.ItemDataRole.ToolTipRole)
    assert f"To get {GOAL.removeprefix('to get ')}, any one of:" in tip
    reaching = [s for s in victim.suggestions if s.reaches_target]
    for s in reaching:
        assert f"• {suggestion_text(s, victim.settle, with_goal=False)}" in tip
    add = next(s for s in reaching if s.action == "add_margin")
    assert f"add {add.amount:,.0f} USDT of margin" in tip and add.step == 1  # amount with its currency

    # the What-if tab: the suggestions are the first thing on the right, inside the visible viewport
    tab = next(i for i in range(window.tabs.count()) if window.tabs.tabText(i) == "What-if")
    window.tabs.setCurrentIndex(tab)
    panel = window.charts.whatif
    holder = panel.parentWidget().parentWidget()
    assert isinstance(holder, QScrollArea) and window.tabs.currentWidget() is holder
    qtbot.waitUntil(lambda: panel.suggestions.isVisible() and GOAL in panel.suggestions.text(), timeout=5000)
    assert panel.suggestion_lines[0] == suggestion_text(add, "USDT", with_goal=False)
    assert holder.verticalScrollBar().value() == 0
    viewport = holder.viewport()
    label = panel.suggestions
    top_left = label.mapTo(viewport, QPoint(0, 0))
    shown = QRect(top_left, label.size())
    assert QRect(QPoint(0, 0), viewport.size()).contains(shown), (shown, viewport.size())
    assert label.height() >= label.heightForWidth(label.width())  # all its lines, not clipped
    assert window.geometry().width() == 1280 and window.geometry().height() == 800


COINM = ("demo-binance-coinm", "BTC/USD:BTC", "both")  # ratio 0.04, yet 8.7 % from liquidation


def test_a_coin_m_row_warning_on_distance_is_not_nothing_to_do(qtbot: QtBot) -> None:
    """The issue's case: margin ratio far below 0.5, but leveraged and inside the distance warning.
    The row's tooltip and the What-if tab say what to do, in BTC and in whole contracts."""
    window = MainWindow(demo=True)
    window.allow_close = True
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitUntil(lambda: getattr(window, "charts", None) is not None, timeout=10_000)
    snap = live_snapshot(flash_crash_portfolio())
    row_risk = position_risk(snap.report, *COINM)
    assert row_risk.margin_ratio < 0.5 and row_risk.distance_to_liquidation < 0.10
    window.apply_snapshot(snap)
    assert window.select_key(row_risk.key)
    row = window.table.selectionModel().selectedRows()[0].row()
    tip = window.table.model().index(row, Column.DISTANCE).data(Qt.ItemDataRole.ToolTipRole)
    add = next(s for s in row_risk.suggestions if s.action == "add_margin")
    cut = next(s for s in row_risk.suggestions if s.action == "reduce_size")
    assert cut.reaches_target and cut.step == 1 and cut.contracts == int(cut.contracts)
    decimals = -math.floor(math.log10(add.step) + 1e-9)  # the amount at its rounding step
    assert f"• add {add.amount:.{decimals}f} BTC of margin" in tip
    assert f"• cut {int(cut.contracts)} contracts (" in tip
    tab = next(i for i in range(window.tabs.count()) if window.tabs.tabText(i) == "What-if")
    window.tabs.setCurrentIndex(tab)
    panel = window.charts.whatif
    qtbot.waitUntil(lambda: GOAL in panel.suggestions.text(), timeout=5000)
    assert "nothing to do" not in panel.suggestions.text()
    cut_text = f"cut {int(cut.contracts)} contracts ({cut.fraction * 100:.1f} % of the position)"
    assert cut_text in panel.suggestion_lines
