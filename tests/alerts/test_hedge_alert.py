"""A hedge within the alert thresholds of breaking: the breaking leg's own distance alert names both
legs and the one left naked (issue 21) — one condition, one alert, not a second alert per pairing.

The book: a Binance long of 2 BTC (30,000 USDT) hedged by a Bybit short of 2 BTC, both at 60,000, one
tier of 0.4 %, no fee. By hand (risk-math.md §3.1: Bybit's maintenance margin is on the entry value,
0.004 · 2 · 60,000 = 480): the short is liquidated where W − 2·(P − 60,000) = 480, so
P = 60,000 + (W − 480) ÷ 2 — 64,760 with W = 10,000 (7.93 % above: inside the default 10 % warning,
outside the 5 % critical), 70,760 with W = 22,000 (17.93 %: clear)."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from desk.domain.alerts import AlertLevel
from desk.domain.engine import compute_risk
from desk.services.alerts_config import AlertConfig
from desk.services.alerts_engine import AlertEngine
from desk.services.snapshot import AccountState, DataStatus, MonitorSnapshot
from tests.alerts.factory import FakeClock
from tests.support.risk import account, portfolio, pos


def book_snapshot(at: float, short_wallet: float) -> MonitorSnapshot:
    p = portfolio(
        account("binanceusdm", pos(contracts=2, entry=60_000, mmr=0.004), name="binance-long", USDT=30_000),
        account("bybit", pos(contracts=2, entry=60_000, side="short", mmr=0.004), name="bybit-short",
                USDT=short_wallet),
    )
    states = tuple(AccountState(name=a.name, venue=a.venue, status=DataStatus.LIVE, data_time=at)
                   for a in p.accounts)
    return MonitorSnapshot(seq=1, at=at, portfolio=p, report=compute_risk(p), accounts=states,
                           positions=MappingProxyType({}))


def test_a_hedge_near_its_break_is_told_in_the_breaking_legs_own_alert_and_recovers():
    clock = FakeClock()
    engine = AlertEngine(AlertConfig(), clock)
    engine.evaluate(book_snapshot(clock.now, 22_000))  # the restart summary, nothing near
    lp = 60_000 + (10_000 - 480) / 2

    emissions = engine.evaluate(book_snapshot(clock.advance(5), 10_000))
    (alert,) = [e.alert for e in emissions]  # one condition (the short near liquidation), one alert
    assert alert.rule == "distance" and alert.account == "bybit-short" and alert.level is AlertLevel.WARNING
    assert alert.value == pytest.approx(lp / 60_000 - 1, rel=1e-12) and alert.threshold == 0.10
    assert alert.title.startswith("BTC/USDT:USDT short: 7.93 %")
    assert ("Hedge of 2 BTC: long binance-long BTC/USDT:USDT long against short bybit-short "
            "BTC/USDT:USDT short") in alert.body
    assert ("At BTC 64,760 the bybit-short BTC/USDT:USDT short is liquidated; the binance-long "
            "BTC/USDT:USDT long of 2 BTC is then unhedged") in alert.body

    # the same state again: no repeat
    assert engine.evaluate(book_snapshot(clock.advance(5), 10_000)) == []
    # margin moved in: the hedge is clear, and the warning is taken back
    (cleared,) = [e.alert for e in engine.evaluate(book_snapshot(clock.advance(5), 22_000))]
    assert cleared.rule == "recovered" and cleared.clears == "distance" and cleared.account == "bybit-short"


def test_a_hedge_far_from_its_break_raises_nothing():
    clock = FakeClock()
    engine = AlertEngine(AlertConfig(), clock)
    engine.evaluate(book_snapshot(clock.now, 22_000))
    assert engine.evaluate(book_snapshot(clock.advance(5), 22_000)) == []


def test_a_leg_breaking_two_hedges_raises_one_alert_naming_both():
    """A short hedging two longs on two venues: one condition (the short 7.93 % from liquidation, as
    above), one alert naming both hedges — not one more per hedge (three alerts, near the digest)."""
    def snap(at: float, wallet: float) -> MonitorSnapshot:
        p = portfolio(
            account("binanceusdm", pos(contracts=1, entry=60_000, mmr=0.004), name="binance-long",
                    USDT=30_000),
            account("okx", pos(contracts=1, entry=60_000, mmr=0.004), name="okx-long", USDT=30_000),
            account("bybit", pos(contracts=2, entry=60_000, side="short", mmr=0.004), name="bybit-short",
                    USDT=wallet),
        )
        states = tuple(AccountState(name=a.name, venue=a.venue, status=DataStatus.LIVE, data_time=at)
                       for a in p.accounts)
        return MonitorSnapshot(seq=1, at=at, portfolio=p, report=compute_risk(p), accounts=states,
                               positions=MappingProxyType({}))

    clock = FakeClock()
    engine = AlertEngine(AlertConfig(), clock)
    engine.evaluate(snap(clock.now, 22_000))
    (btc,) = [e.alert for e in engine.evaluate(snap(clock.advance(5), 10_000))]
    assert (btc.rule, btc.account, btc.symbol) == ("distance", "bybit-short", "BTC/USDT:USDT")
    assert "long binance-long BTC/USDT:USDT long against short bybit-short" in btc.body
    assert "long okx-long BTC/USDT:USDT long against short bybit-short" in btc.body
