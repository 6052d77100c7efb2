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
        if p.key == (account, symbol, leg):
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
