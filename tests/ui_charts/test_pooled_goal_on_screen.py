"""A pooled account's distance fixes where the trader looks (issue 16): the demo's Bybit UTA long,
inside the default 10 % warning at the flash crash's bottom, shows in its row's tooltip and in the
What-if tab the collateral to add (USDT, or BTC with its haircut) and the size to cut, and says the
goal is counted on desk's wrong-way liquidation price (BTC collateral moving with the price)."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desk.domain.engine import compute_risk
from desk.domain.suggest import suggestion_text
from desk.services.snapshot import AccountState, DataStatus, MonitorSnapshot
from desk.ui.main_window import MainWindow
from desk.ui.positions_model import Column
from tests.support.ui_charts import flash_crash_portfolio, position_risk

UTA = ("demo-bybit-uta", "BTC/USDT:USDT", "both")
MOVING = "(liquidation with the pool's BTC collateral moving with the price, desk's wrong-way figure)"


def test_the_uta_row_and_the_whatif_tab_show_the_pooled_fixes(qtbot: QtBot) -> None:
    portfolio = flash_crash_portfolio(2400.0)  # BTC 15 % down
    now = time.time()
    report = compute_risk(portfolio, target=0.5, target_distance=0.10)  # the monitor's goals by default
    snap = MonitorSnapshot(seq=1, at=now, portfolio=portfolio, report=report, accounts=tuple(
        AccountState(name=a.name, venue=a.venue, status=DataStatus.LIVE, data_time=now, demo=True)
        for a in portfolio.accounts))
    uta = position_risk(report, *UTA)
    assert uta.distance_to_liquidation < 0.10
    fixes = {s.currency or s.action: s for s in uta.suggestions}
    assert fixes.keys() == {"USDT", "BTC", "reduce_size"} and all(s.reaches_target for s in fixes.values())

    window = MainWindow(demo=True)
    window.allow_close = True
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitUntil(lambda: getattr(window, "charts", None) is not None, timeout=10_000)
    window.apply_snapshot(snap)
    assert window.select_key(uta.key)
    row = window.table.selectionModel().selectedRows()[0].row()
    tip = window.table.model().index(row, Column.DISTANCE).data(Qt.ItemDataRole.ToolTipRole)
    assert f"To get back to 10 % from liquidation and margin ratio 50 % {MOVING}, any one of:" in tip
    for s in fixes.values():
        assert f"• {suggestion_text(s, uta.settle, with_goal=False)}" in tip
    assert "BTC as collateral (its 5.00 % haircut applied)" in tip

    tab = next(i for i in range(window.tabs.count()) if window.tabs.tabText(i) == "What-if")
    window.tabs.setCurrentIndex(tab)
    panel = window.charts.whatif
    qtbot.waitUntil(lambda: MOVING in panel.suggestions.text(), timeout=5000)
    assert any(line.endswith("USDT as collateral") for line in panel.suggestion_lines)
