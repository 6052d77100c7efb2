"""A hedge within the alert thresholds of breaking raises a warning naming both legs (issue 21).

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


def hedge_alerts(emissions):  # type: ignore[no-untyped-def]
    return [e.alert for e in emissions if e.alert.rule == "hedge" or e.alert.clears == "hedge"]


def test_a_hedge_near_its_break_warns_naming_both_legs_and_recovers():
    clock = FakeClock()
    engine = AlertEngine(AlertConfig(), clock)
    engine.evaluate(book_snapshot(clock.now, 22_000))  # the restart summary, nothing near
    lp = 60_000 + (10_000 - 480) / 2

    (alert,) = hedge_alerts(engine.evaluate(book_snapshot(clock.advance(5), 10_000)))
    assert alert.level is AlertLevel.WARNING
    assert alert.value == pytest.approx(lp / 60_000 - 1, rel=1e-12) and alert.threshold == 0.10
    assert "binance-long BTC/USDT:USDT long" in alert.title + alert.body
    assert "long binance-long BTC/USDT:USDT long against short bybit-short BTC/USDT:USDT short" in alert.body
    assert ("At BTC 64,760 the bybit-short BTC/USDT:USDT short is liquidated; the binance-long "
            "BTC/USDT:USDT long of 2 BTC is then unhedged") in alert.body
    assert alert.title.startswith("BTC hedge near its break: bybit-short BTC/USDT:USDT short 7.93 %")

    # the same state again: no repeat
    assert hedge_alerts(engine.evaluate(book_snapshot(clock.advance(5), 10_000))) == []
    # margin moved in: the hedge is clear, and the warning is taken back
    (cleared,) = hedge_alerts(engine.evaluate(book_snapshot(clock.advance(5), 22_000)))
    assert cleared.rule == "recovered" and cleared.clears == "hedge"


def test_a_hedge_far_from_its_break_raises_nothing():
    clock = FakeClock()
    engine = AlertEngine(AlertConfig(), clock)
    engine.evaluate(book_snapshot(clock.now, 22_000))
    assert hedge_alerts(engine.evaluate(book_snapshot(clock.advance(5), 22_000))) == []
