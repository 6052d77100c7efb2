"""Test helpers for the demo venue: a market on a clock that stands still, a clock to move by hand,
and an oracle that follows one isolated position's distance to liquidation step by step."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from desk.domain.engine import compute_risk
from desk.domain.model import Account, Portfolio, Position
from desk.domain.report import PositionRisk
from desk.exchanges.demo import DemoMarket

EPOCH = 1_800_000_000.0  # a fixed wall-clock origin so event times compare across runs


class ManualClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def manual_market(scenario: object = "calm", seed: int = 7, *, speed: float = 1.0,
                  stream_interval: float = 0.5, clock: ManualClock | None = None) -> DemoMarket:
    return DemoMarket(scenario, seed=seed, speed=speed, clock=clock or ManualClock(),  # type: ignore[arg-type]
                      epoch=EPOCH, stream_interval=stream_interval)


def find(account: Account, symbol: str, leg: str) -> Position | None:
    return next((p for p in account.positions if p.symbol == symbol and p.leg.value == leg), None)


def engine_position(account: Account, symbol: str, leg: str, *, mark: float | None = None) -> PositionRisk:
    """The engine's figures for one position of ``account`` (optionally at another mark)."""
    if mark is not None:
        positions = tuple(dataclasses.replace(p, mark_price=mark) if p.symbol == symbol else p
                          for p in account.positions)
        account = dataclasses.replace(account, positions=positions)
    risk = compute_risk(Portfolio((account,))).accounts[0]
    return next(p for p in risk.positions if p.symbol == symbol and p.leg == leg)


@dataclass
class Crossings:
    """First simulated times at which the position's distance fell below 10 % and 5 %, and at
    which the mark reached the engine's liquidation price; what the position looked like then."""

    warning: float | None = None
    critical: float | None = None
    liquidation: float | None = None
    trigger_mark: float | None = None
    before: Account | None = None  # the account as of the step before the liquidation
    liquidation_price: float | None = None
    bankruptcy_price: float | None = None
    marks: list[float] = field(default_factory=list)


def follow_isolated(market: DemoMarket, account: str, symbol: str, leg: str, until: float) -> Crossings:
    """Step ``market`` one second at a time up to ``until`` and watch one isolated position.

    An isolated position's liquidation price depends on entry, margin and tiers, not on the mark,
    so the engine is asked again only when the account changes (funding moves the margin).
    The distance is |mark − liquidation| ÷ mark (portfolio-format.md) from the market's marks.
    """
    venue = market.venue_of(account)
    out = Crossings()
    revision: int | None = None
    snapshot: Account | None = None
    liquidation_price: float | None = None
    while market.sim_time < until:
        if market.revision(account) != revision:
            revision = market.revision(account)
            snapshot = market.account(account)
            if find(snapshot, symbol, leg) is None:
                break
            pr = engine_position(snapshot, symbol, leg)
            liquidation_price = pr.liquidation_price
            out.liquidation_price, out.bankruptcy_price = pr.liquidation_price, pr.bankruptcy_price
        before = snapshot
        market.step()
        mark = market.mark(venue, symbol)
        out.marks.append(mark)
        assert liquidation_price is not None and before is not None
        distance = abs(mark - liquidation_price) / mark
        if out.warning is None and distance < 0.10:
            out.warning = market.sim_time
        if out.critical is None and distance < 0.05:
            out.critical = market.sim_time
        position = find(before, symbol, leg)
        assert position is not None
        crossed = mark <= liquidation_price if position.side.value == "long" else mark >= liquidation_price
        if crossed and out.liquidation is None:
            out.liquidation = market.sim_time
            out.trigger_mark = mark
            out.before = before
            break
    return out
