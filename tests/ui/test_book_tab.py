"""The Book tab (issue 21) on the real main window, demo venue, under Xvfb: what the exposure and hedge
cells paint (every role) and what the chart plots, against figures derived independently from the
engine's per-account report."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desk.domain import display
from desk.domain.engine import compute_risk
from desk.domain.scenario import apply_what_if
from desk.services.alerts_config import Thresholds
from desk.store.settings import Settings
from desk.ui.app import DeskController, GuiOptions
from desk.ui.levels import Level, global_thresholds
from desk.ui.theme import current_theme

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DISPLAY = Qt.ItemDataRole.DisplayRole
TOOLTIP = Qt.ItemDataRole.ToolTipRole
FOREGROUND = Qt.ItemDataRole.ForegroundRole
FONT = Qt.ItemDataRole.FontRole
ALIGN = Qt.ItemDataRole.TextAlignmentRole


@pytest.fixture
def demo_desk(qtbot: QtBot) -> Iterator[DeskController]:
    app = QApplication.instance()
    controller = DeskController(app, Settings.load(), GuiOptions(demo=True, speed=10))  # type: ignore[arg-type]
    controller.window.allow_close = True
    qtbot.addWidget(controller.window)
    controller.start()
    try:
        yield controller
    finally:
        controller.shutdown()


def cell(table, row: int, col: int, role: Qt.ItemDataRole):  # type: ignore[no-untyped-def]
    return table.model().data(table.model().index(row, col), role)


def usd_equity(report, name: str, prices: dict[str, float]) -> float:
    """An account's equity in USD from the engine's account figures (coin pools at ``prices``)."""
    acc = next(a for a in report.accounts if a.name == name)
    # a pooled account (issue 16) is one pool valued in USD, its collateral already at the moved prices
    return sum(e.total * (1.0 if e.settle in ("USD", "USDT", "USDC") else prices[e.settle])
               for e in acc.equity())


def linear_mark(portfolio, asset: str) -> float:  # type: ignore[no-untyped-def]
    """The book's USD price of a coin (docs/portfolio-format.md): the first linear position's mark."""
    return next(p.mark_price for a in portfolio.accounts for p in a.positions
                if p.symbol.startswith(asset + "/") and p.kind == "linear")


def test_book_tab_paints_the_cross_venue_hedge_and_plots_the_book(qtbot: QtBot,
                                                                  demo_desk: DeskController) -> None:
    window = demo_desk.window
    qtbot.waitUntil(lambda: getattr(window, "book_panel", None) is not None
                    and window.book_panel.book is not None, timeout=30_000)
    panel = window.book_panel
    names = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert "Book" in names
    window.tabs.setCurrentIndex(names.index("Book"))
    qtbot.waitUntil(panel.isVisible, timeout=5_000)
    portfolio = panel.portfolio
    report = compute_risk(portfolio)
    bybit_short = next(p for p in report.positions() if p.account == "demo-bybit-hedge")
    binance_long = next(p for p in report.positions() if p.account == "demo-binance-usdm"
                        and p.symbol == "BTC/USDT:USDT" and p.side == "long")

    # exposure: BTC long and short in coin, from the positions and the spot balance by hand
    exposure = panel.exposure
    rows = [cell(exposure, r, 0, DISPLAY) for r in range(exposure.rowCount())]
    assert sorted(rows) == ["BTC", "ETH", "SOL"]
    b = rows.index("BTC")
    longs = [p for a in portfolio.accounts for p in a.positions
             if p.symbol.startswith("BTC/") and p.side == "long"]
    # inverse: contracts × contract size ÷ price
    long_coin = sum(p.contracts * p.contract_size / (p.mark_price if p.kind == "inverse" else 1.0)
                    for p in longs)
    long_coin += 0.5  # the spot balance of demo-bybit-hedge
    assert cell(exposure, b, 1, DISPLAY) == display.quantity(long_coin, "BTC")
    # in USD: a linear leg at its mark, an inverse one at its face value, the spot at its price
    spot = next(s for a in portfolio.accounts for s in a.spot if s.asset == "BTC")
    long_usd = sum(p.contracts * p.contract_size * (1.0 if p.kind == "inverse" else p.mark_price)
                   for p in longs) + spot.amount * spot.price
    assert cell(exposure, b, 2, DISPLAY) == display.money(long_usd, "USD")
    assert cell(exposure, b, 1, ALIGN) == int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    assert "demo-bybit-hedge BTC spot: +0.5 BTC" in cell(exposure, b, 0, TOOLTIP)
    assert cell(exposure, b, 3, FOREGROUND) is None  # exposure carries no alarm colour

    # hedges: the Binance long against the Bybit short, breaking at the Bybit short's liquidation price
    hedges = panel.hedges
    row = next(r for r in range(hedges.rowCount())
               if cell(hedges, r, 1, DISPLAY) == "demo-binance-usdm BTC/USDT:USDT long"
               and cell(hedges, r, 2, DISPLAY) == "demo-bybit-hedge BTC/USDT:USDT short")
    assert cell(hedges, row, 3, DISPLAY) == "0.8 BTC"
    assert cell(hedges, row, 4, DISPLAY) == (f"{display.price(bybit_short.liquidation_price, 0.1)} "
                                             "(demo-bybit-hedge BTC/USDT:USDT short)")
    distance = bybit_short.distance_to_liquidation
    assert cell(hedges, row, 5, DISPLAY) == display.distance_with_state(distance, False)
    assert cell(hedges, row, 6, DISPLAY) == "demo-binance-usdm BTC/USDT:USDT long 0.8 BTC"
    tip = cell(hedges, row, 4, TOOLTIP)
    assert tip.startswith(f"at BTC {display.price(bybit_short.liquidation_price, 0.1)} the demo-bybit-hedge")
    assert binance_long.liquidation_price < binance_long.mark_price
    spot_row = next(r for r in range(hedges.rowCount())
                    if cell(hedges, r, 1, DISPLAY) == "demo-bybit-hedge BTC spot")
    assert cell(hedges, spot_row, 6, DISPLAY) == "demo-bybit-hedge BTC spot 0.5 BTC"
    # about 15 % away: no colour at the default 10 % warning ...
    assert distance > 0.10 and cell(hedges, row, 4, FOREGROUND) is None
    # ... and the warning colour, bold, once the threshold covers it (the window's own thresholds)
    window.set_thresholds(global_thresholds(Thresholds(distance_warning=0.25, distance_critical=0.05)))
    panel.show_book(panel.book)
    for col in (4, 5):
        assert cell(hedges, row, col, FOREGROUND).color() == current_theme().level_color(Level.WARNING)
        assert cell(hedges, row, col, FONT).bold()
    assert cell(hedges, row, 5, TOOLTIP).startswith("▲ WARN: at BTC")

    # the chart: the book's P&L per move; at +3 % nothing is liquidated, so it is the sum of every
    # account's equity change in USD (BTC pools at the moved BTC price) plus the spot balance's
    x, y = panel.curves["uniform"].getData()
    np.testing.assert_allclose(x, np.linspace(-50, 50, 101))
    i = int(np.argmin(np.abs(x - 3.0)))
    prices = {asset: linear_mark(portfolio, asset) for asset in ("BTC", "ETH")}
    spot = next(s.price for a in portfolio.accounts for s in a.spot)  # valued at its own price
    moved = compute_risk(apply_what_if(portfolio, shock=0.03))
    expected = sum(usd_equity(moved, a.name, {k: v * 1.03 for k, v in prices.items()})
                   - usd_equity(report, a.name, prices) for a in portfolio.accounts) + 0.5 * spot * 0.03
    assert y[i] == pytest.approx(expected, rel=1e-9)
    assert y[int(np.argmin(np.abs(x)))] == 0.0
    mx, _ = panel.markers["uniform"].getData()
    assert len(mx) == 2 and mx[0] < 0 < mx[1]  # the first liquidation on each side is marked
    assert "first" in panel.legend.text()
