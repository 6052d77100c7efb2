"""Shared helpers for the chart and what-if tests and screenshots: demo data mid flash-crash."""

from __future__ import annotations

from collections.abc import Iterator

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.domain.report import PositionRisk, RiskReport
from desk.exchanges.demo import demo_portfolio

FLASH_CRASH_SECONDS = 2100.0  # BTC about 10 % down, the Bybit isolated SOL long near liquidation
SEED = 7


def flash_crash_portfolio(at_seconds: float = FLASH_CRASH_SECONDS) -> Portfolio:
    return demo_portfolio("flash-crash", seed=SEED, at_seconds=at_seconds)


def risk_of(portfolio: Portfolio, target: float | None = None) -> RiskReport:
    return compute_risk(portfolio, target=target)


def position_risk(report: RiskReport, account: str, symbol: str, leg: str = "both") -> PositionRisk:
    for p in report.positions():
        if p.key.instrument == (account, symbol, leg):
            return p
    raise KeyError((account, symbol, leg))


VICTIM = ("demo-bybit-isolated", "SOL/USDT:USDT", "both")  # the flash crash's isolated victim
CROSS = ("demo-binance-usdm", "ETH/USDT:USDT", "long")  # a hedge-mode cross leg


def widgets_for_screenshots(portfolio: Portfolio, report: RiskReport) -> Iterator[tuple[str, object]]:
    from desk.ui.charts.ladder import LadderWidget

    ladder = LadderWidget()
    ladder.resize(1100, 460)
    victim = position_risk(report, *VICTIM)
    ladder.show_position(portfolio, victim)
    ladder.set_whatif_price(victim.mark_price * 1.04)
    yield "charts-ladder-isolated", ladder
    ladder2 = LadderWidget()
    ladder2.resize(1100, 460)
    cross = position_risk(report, *CROSS)
    ladder2.show_position(portfolio, cross)
    ladder2.set_whatif_price(cross.mark_price * 0.85)
    yield "charts-ladder-cross", ladder2
    from desk.ui.whatif import Edits, WhatIfPanel

    panel = WhatIfPanel(target=0.5)
    panel.resize(1100, 520)
    panel.set_portfolio(portfolio)
    panel.select(VICTIM[0], VICTIM[1], VICTIM[2])
    panel.set_edits(Edits(margin=300.0))
    yield "whatif-isolated-add-margin", panel
    panel2 = WhatIfPanel(target=0.5)
    panel2.resize(1100, 520)
    panel2.set_portfolio(portfolio)
    panel2.select(CROSS[0], CROSS[1], CROSS[2])
    panel2.set_edits(Edits(shock=-0.15))
    yield "whatif-cross-shock", panel2
    yield "charts-stress-binance-usdm", stress_widget(portfolio)
    yield "charts-stress-hyperliquid", stress_widget(portfolio, "demo-hyperliquid")
    import tempfile
    from pathlib import Path

    from desk.store.history import History

    with tempfile.TemporaryDirectory() as tmp:
        history = History(Path(tmp) / "history.sqlite")
        start = 1_790_000_000.0
        fill_history(history, start=start, step=20.0)
        now = start + FLASH_CRASH_SECONDS
        yield "charts-history-position", history_widget(history, *VICTIM, now)
        yield "charts-history-account", history_widget(history, "demo-binance-usdm", None, None, now)
        history.close()


def stress_widget(portfolio: Portfolio, account: str = "demo-binance-usdm"):  # type: ignore[no-untyped-def]
    from desk.ui.charts.stress import StressWidget

    widget = StressWidget()
    widget.resize(1000, 460)
    widget.show_account(portfolio, account)
    return widget


def fill_history(history, *, start: float, until: float = FLASH_CRASH_SECONDS,  # type: ignore[no-untyped-def]
                 step: float = 30.0) -> int:
    """Record the demo flash crash into ``history`` (a real :class:`desk.store.history.History`) every
    ``step`` simulated seconds, stamped ``start + t``; returns the number of reports recorded."""
    from desk.exchanges.demo import DemoMarket

    market = DemoMarket("flash-crash", seed=SEED, clock=lambda: 0.0)
    t = 0.0
    count = 0
    while t <= until:
        market.advance_to(t)
        history.record(compute_risk(market.portfolio()), at=start + t)
        count += 1
        t += step
    return count


def history_widget(history, account: str, symbol: str | None, leg: str | None,  # type: ignore[no-untyped-def]
                   now: float):
    from desk.ui.charts.history import HistoryWidget

    widget = HistoryWidget(lambda: history, clock=lambda: now)
    widget.resize(1000, 560)
    widget.show_subject(account, symbol, leg)
    return widget
