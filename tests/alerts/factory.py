"""Small builders of monitor snapshots for the alert engine's unit tests."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from desk.domain.compare import Tolerance, liquidation_gap
from desk.domain.model import Portfolio
from desk.domain.report import AccountRisk, PoolRisk, PositionRisk, RiskReport
from desk.services.snapshot import AccountState, DataStatus, ExchangeCheck, MonitorSnapshot, PositionState

T0 = 1_800_000_000.0  # a fixed epoch for the fake clock


class FakeClock:
    def __init__(self, start: float = T0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def position(
    symbol: str = "BTC/USDT:USDT",
    *,
    account: str = "main",
    distance: float | None = 0.30,
    margin_ratio: float | None = 0.1,
    mode: str = "isolated",
    liq: float | None = 40_000.0,
    reported_liq: float | None = None,
    tick: float | None = None,
    leg: str = "both",
    settle: str = "USDT",
) -> PositionRisk:
    return PositionRisk(
        account=account, symbol=symbol, leg=leg, side="long", margin_mode=mode, settle=settle,
        kind="linear", contracts=1.0, entry_price=60_000.0, mark_price=58_000.0, leverage=10.0,
        notional=58_000.0, unrealized_pnl=-2_000.0, maintenance_margin=290.0, margin_ratio=margin_ratio,
        liquidation_price=liq, bankruptcy_price=None, distance_to_liquidation=distance,
        reported_liquidation_price=reported_liq, tick_size=tick,
    )


def snapshot(
    at: float,
    positions: list[PositionRisk] | tuple[PositionRisk, ...] = (),
    *,
    pools: dict[str, tuple[PoolRisk, ...]] | None = None,
    data_time: float | None = None,
    status: DataStatus = DataStatus.LIVE,
    accounts: tuple[str, ...] = ("main",),
    seq: int = 0,
    mark_time: float | None = None,
    checks: dict[tuple[str, str, str], ExchangeCheck] | None = None,
) -> MonitorSnapshot:
    pools = pools or {}
    names = list(dict.fromkeys([*accounts, *(p.account for p in positions)]))
    risks = tuple(
        AccountRisk(
            name=n, venue="demo", rules="binance", generic_rules=False, pools=pools.get(n, ()),
            positions=tuple(p for p in positions if p.account == n), shock_to_liquidation=None,
        )
        for n in names
    )
    states = tuple(
        AccountState(name=n, venue="demo", status=status, data_time=at if data_time is None else data_time)
        for n in names
    )
    return MonitorSnapshot(
        seq=seq, at=at, portfolio=Portfolio(), report=RiskReport(accounts=risks), accounts=states,
        positions=MappingProxyType({
            p.key: PositionState(status, mark_time=mark_time, exchange_check=(checks or {}).get(p.key))
            for p in positions if mark_time is not None or p.key in (checks or {})
        }),
    )


def pool(settle: str = "USDT", ratio: float | None = 0.1) -> PoolRisk:
    return PoolRisk(
        settle=settle, wallet_balance=10_000.0, unrealized_pnl=0.0, margin_balance=10_000.0,
        maintenance_margin=1_000.0, margin_ratio=ratio, venue_margin_ratio=None,
    )


def with_distance(p: PositionRisk, distance: float) -> PositionRisk:
    return replace(p, distance_to_liquidation=distance)


def exchange_check(ours: float | None, theirs: float, tick: float | None, *, at: float = T0,
                   ticks: float = 2.0) -> ExchangeCheck:
    """The monitor's comparison at an account read, from the domain's gap function."""
    gap = liquidation_gap(ours, theirs, tick, Tolerance(ticks=ticks))
    assert gap is not None
    return ExchangeCheck(observed_at=at, ours_at_read=gap.ours, theirs=gap.theirs, gap_ticks=gap.ticks,
                         gap_relative=gap.relative, disagrees=gap.disagrees, tolerance=gap.tolerance,
                         tick_size=tick)
