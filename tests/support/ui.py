"""Synthetic monitor snapshots for the UI tests and the UI benchmark.

The figures are written down directly as the engine's report would carry them: the UI only
formats, so its tests need report rows, not a market.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from desk.domain.compare import Tolerance, liquidation_gap
from desk.domain.model import Account, Portfolio
from desk.domain.report import AccountRisk, PoolRisk, PositionRisk, RiskReport
from desk.services.snapshot import AccountState, DataStatus, ExchangeCheck, MonitorSnapshot, PositionState


def position(
    symbol: str = "BTC/USDT:USDT",
    *,
    account: str = "main",
    leg: str = "both",
    side: str = "long",
    mark: float = 60_000.0,
    liquidation: float | None = 54_300.0,
    reported_liquidation: float | None = None,
    distance: float | None = None,
    margin_ratio: float | None = 0.1,
    tick_size: float | None = 0.1,
    margin_mode: str = "cross",
) -> PositionRisk:
    if distance is None and liquidation is not None:
        distance = abs(mark - liquidation) / mark
    return PositionRisk(
        account=account, symbol=symbol, leg=leg, side=side, margin_mode=margin_mode, settle="USDT",
        kind="linear", contracts=0.5, entry_price=mark * 0.99, mark_price=mark, leverage=10.0,
        notional=0.5 * mark, unrealized_pnl=0.5 * mark * 0.01, maintenance_margin=0.5 * mark * 0.004,
        margin_ratio=margin_ratio, liquidation_price=liquidation,
        bankruptcy_price=None if liquidation is None else liquidation * 0.995,
        distance_to_liquidation=distance, reported_liquidation_price=reported_liquidation,
        tick_size=tick_size,
    )


def snapshot(
    positions: Iterable[PositionRisk],
    *,
    seq: int = 1,
    at: float = 1_000_000.0,
    status: DataStatus = DataStatus.LIVE,
    data_time: float | None = None,
    position_states: dict[tuple[str, str, str], PositionState] | None = None,
    demo: bool = False,
    shock: float | None = 0.2,
) -> MonitorSnapshot:
    positions = tuple(positions)
    names = list(dict.fromkeys(p.account for p in positions)) or ["main"]
    accounts = []
    for name in names:
        own = tuple(p for p in positions if p.account == name)
        ratios = [p.margin_ratio for p in own if p.margin_ratio is not None]
        pool = PoolRisk(settle="USDT", wallet_balance=10_000.0, unrealized_pnl=100.0, margin_balance=10_100.0,
                        maintenance_margin=500.0, margin_ratio=max(ratios) if ratios else None,
                        venue_margin_ratio=max(ratios) * 1.01 if ratios else None)
        accounts.append(AccountRisk(name=name, venue="demo", rules="binance", generic_rules=False,
                                    pools=(pool,), positions=own, shock_to_liquidation=shock))
    states = tuple(AccountState(name=n, venue="demo", status=status,
                                data_time=at if data_time is None else data_time, demo=demo)
                   for n in names)
    portfolio = Portfolio(accounts=tuple(Account(name=n, venue="demo") for n in names))
    return MonitorSnapshot(seq=seq, at=at, portfolio=portfolio, report=RiskReport(accounts=tuple(accounts)),
                           accounts=states, positions=dict(position_states or {}))


def many_positions(count: int, *, accounts: int = 4, shift: float = 0.0) -> list[PositionRisk]:
    """``count`` distinct positions spread over ``accounts`` accounts, marks moved by ``shift``."""
    out = []
    for i in range(count):
        mark = 100.0 + i + shift
        liq = mark * (1 - 0.02 - (i % 50) / 100)
        out.append(position(f"C{i:04d}/USDT:USDT", account=f"acct-{i % accounts}", mark=mark,
                            liquidation=liq, margin_ratio=0.05 + (i % 90) / 100, tick_size=0.01))
    return out


def moved(p: PositionRisk, mark: float) -> PositionRisk:
    liq = p.liquidation_price
    distance = None if liq is None else abs(mark - liq) / mark
    return replace(p, mark_price=mark, distance_to_liquidation=distance)


def checked_at_read(p: PositionRisk, ours_at_read: float | None, *, at: float = 1_000_000.0,
                    ticks: float = 2.0, status: DataStatus = DataStatus.LIVE) -> PositionState:
    """A position state carrying the monitor's ours-vs-exchange comparison at an account read
    (made by the domain's gap function, as the monitor makes it)."""
    gap = liquidation_gap(ours_at_read, p.reported_liquidation_price, p.tick_size, Tolerance(ticks=ticks))
    check = None if gap is None else ExchangeCheck(
        observed_at=at, ours_at_read=gap.ours, theirs=gap.theirs, gap_ticks=gap.ticks,
        gap_relative=gap.relative, disagrees=gap.disagrees, tolerance=gap.tolerance, tick_size=p.tick_size)
    return PositionState(status, mark_time=at, exchange_check=check)
