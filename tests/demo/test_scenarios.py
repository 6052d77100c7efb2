"""The scripted scenarios tell their story, at times an independent step-by-step check finds,
and the same seed gives the same path whatever the speed."""

from __future__ import annotations

import dataclasses
import math

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Portfolio
from desk.exchanges.demo import SCENARIOS, DemoMarket
from desk.exchanges.demo.scenarios import Scenario
from tests.support.demo import EPOCH, ManualClock, engine_position, find, follow_isolated, manual_market

BYBIT = "demo-bybit-isolated"


def _liquidations(market: DemoMarket) -> list[tuple[float, str, str, str]]:
    return [(e.sim_time, e.account, e.symbol or "", e.leg or "")
            for e in market.events if e.kind == "liquidation"]


@pytest.mark.parametrize(
    ("scenario", "symbol", "side"),
    [("flash-crash", "SOL/USDT:USDT", "long"), ("squeeze", "ETH/USDT:USDT", "short")],
)
def test_scenario_drives_a_position_through_warning_and_critical_into_liquidation(scenario, symbol, side):
    market = manual_market(scenario, seed=7)
    seen = follow_isolated(market, BYBIT, symbol, "both", until=3600)

    # Independently found on the path: warning (< 10 %), then critical (< 5 %), then the mark
    # reaches the engine's liquidation price — during the scripted move, never before it.
    assert seen.warning is not None and seen.critical is not None and seen.liquidation is not None
    assert 600 < seen.warning < seen.critical < seen.liquidation <= 2400
    assert seen.before is not None and seen.trigger_mark is not None
    position = find(seen.before, symbol, "both")
    assert position is not None and position.side.value == side

    # The venue liquidated exactly that position at exactly that second, and nothing else.
    assert _liquidations(market) == [(seen.liquidation, BYBIT, symbol, "both")]
    event = next(e for e in market.events if e.kind == "liquidation")
    assert event.price == seen.trigger_mark
    assert event.side == side and event.contracts == position.contracts
    assert event.liquidation_price == pytest.approx(seen.liquidation_price, rel=1e-12)
    # Closed at the engine's bankruptcy price; the trader's PnL there is the engine's.
    assert event.bankruptcy_price == pytest.approx(seen.bankruptcy_price, rel=1e-12)
    at_bankruptcy = engine_position(seen.before, symbol, "both", mark=event.bankruptcy_price)
    assert event.amount == pytest.approx(at_bankruptcy.unrealized_pnl, rel=1e-9)
    # The insurance fund gets the position's equity at the trigger (margin + PnL at the mark).
    at_trigger = engine_position(seen.before, symbol, "both", mark=seen.trigger_mark)
    equity = position.isolated_margin + at_trigger.unrealized_pnl
    assert event.insurance == pytest.approx(equity, rel=1e-9)
    assert market.insurance_fund["bybit:USDT"] == pytest.approx(equity, rel=1e-9)
    assert 0 < equity < position.isolated_margin * 0.2  # caught near maintenance, not after a gap
    # The isolated margin is gone with the position; the wallet is untouched.
    after = market.account(BYBIT)
    assert find(after, symbol, "both") is None
    assert after.wallet("USDT") == seen.before.wallet("USDT")
    # At --speed 60 a newcomer sees the liquidation within a minute of wall time.
    assert seen.liquidation / 60 < 60


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("scenario", "symbol"),
                         [("flash-crash", "SOL/USDT:USDT"), ("squeeze", "ETH/USDT:USDT")])
def test_story_holds_for_other_seeds(scenario, symbol, seed):
    market = manual_market(scenario, seed=seed)
    market.advance_to(2400)
    hits = [x for x in _liquidations(market) if x[1:] == (BYBIT, symbol, "both")]
    assert len(hits) == 1 and 1800 <= hits[0][0] <= 2400


def test_calm_liquidates_nothing_in_an_hour():
    market = manual_market("calm", seed=7)
    market.advance_to(3600)
    assert _liquidations(market) == []
    assert all(v == 0.0 for v in market.insurance_fund.values())


def _trace(market: DemoMarket) -> list[tuple]:
    return [(e.kind, e.sim_time, e.account, e.symbol, e.leg, e.amount, e.price, e.insurance)
            for e in market.events]


def test_same_seed_same_path_at_any_speed_and_any_batching():
    stepped = manual_market("flash-crash", seed=7)
    sol_by_second = {}
    for _ in range(2400):
        stepped.step()
        sol_by_second[stepped.sim_time] = stepped.mark("bybit", "SOL/USDT:USDT")

    # The same market driven by a wall clock at speed 60, read at irregular wall times.
    clock = ManualClock()
    fast = DemoMarket("flash-crash", seed=7, speed=60.0, clock=clock, epoch=EPOCH)
    fast_reads = {}
    irregular = [0.37, 1.91, 0.02, 0.5, 3.3, 0.999]
    reads = 0
    while fast.sim_time < 2400:
        clock.advance(irregular[reads % len(irregular)])
        reads += 1
        before = fast.sim_time
        fast.sync()
        if fast.sim_time != before and fast.sim_time <= 2400:
            fast_reads[fast.sim_time] = fast.mark("bybit", "SOL/USDT:USDT")
    fast_trace = [x for x in _trace(fast) if x[1] <= 2400]
    assert fast_trace == _trace(stepped)
    replay = manual_market("flash-crash", seed=7)
    replay.advance_to(fast.sim_time)
    assert fast.mark("bybit", "SOL/USDT:USDT") == replay.mark("bybit", "SOL/USDT:USDT")
    assert len(fast_reads) > 20
    assert fast_reads == {t: sol_by_second[t] for t in fast_reads}
    # Event wall times follow the speed: simulated seconds ÷ 60 after the start.
    liq = next(e for e in fast.events if e.kind == "liquidation")
    assert liq.at == pytest.approx(EPOCH + liq.sim_time / 60)

    again = manual_market("flash-crash", seed=7)
    again.advance_to(2400)
    assert _trace(again) == _trace(stepped)
    other = manual_market("flash-crash", seed=8)
    other.advance_to(2400)
    assert other.mark("bybit", "SOL/USDT:USDT") != stepped.mark("bybit", "SOL/USDT:USDT")


def test_assets_follow_btc_with_their_beta():
    # Over a scripted 15 % BTC fall the alts fall about beta × as much (noise is small beside it).
    market = manual_market("flash-crash", seed=11)
    start = {a: market.asset_price(a) for a in ("BTC", "ETH", "SOL")}
    market.advance_to(2400)
    moves = {a: math.log(market.asset_price(a) / start[a]) for a in start}
    assert moves["BTC"] == pytest.approx(-0.15, abs=0.03)
    assert moves["ETH"] == pytest.approx(1.2 * moves["BTC"], abs=0.03)
    assert moves["SOL"] == pytest.approx(1.5 * moves["BTC"], abs=0.04)


def test_cross_pool_liquidation_closes_the_pool_at_bankruptcy_and_books_its_equity():
    # A custom, brutal crash: the cross accounts go too. Find when the Binance USDⓈ-M pool fails.
    crash = Scenario("test-crash", "BTC halves in ten minutes", btc_path=((0.0, 0.0), (600.0, -0.7)))
    probe = manual_market(crash, seed=3)
    probe.advance_to(600)
    hits = [e for e in probe.events if e.kind == "liquidation" and e.account == "demo-binance-usdm"]
    assert hits, "the crash should liquidate the Binance cross account"
    t = hits[0].sim_time
    assert all(e.sim_time == t for e in hits)  # the whole pool at once
    assert {(e.symbol, e.leg) for e in hits} == {
        ("BTC/USDT:USDT", "long"), ("BTC/USDT:USDT", "short"), ("ETH/USDT:USDT", "long"),
        ("SOL/USDT:USDT", "short")}

    # Replay to the second before, then apply the trigger second's marks to that account.
    replay = manual_market(crash, seed=3)
    replay.advance_to(t - 1)
    before = replay.account("demo-binance-usdm")
    risk_before = compute_risk(Portfolio((before,))).accounts[0]
    assert risk_before.pools[0].margin_ratio < 1.0
    replay.step()
    marks = {p.symbol: replay.mark("binanceusdm", p.symbol) for p in before.positions}
    at_trigger = dataclasses.replace(before, positions=tuple(
        dataclasses.replace(p, mark_price=marks[p.symbol]) for p in before.positions))
    pool = compute_risk(Portfolio((at_trigger,))).accounts[0].pools[0]
    assert pool.margin_ratio >= 1.0  # the engine agrees the mark reached liquidation
    # The fund gains the pool's margin balance at the trigger; the pool ends at zero.
    assert replay.insurance_fund["binanceusdm:USDT"] == pytest.approx(pool.margin_balance, rel=1e-9)
    after = replay.account("demo-binance-usdm")
    assert after.positions == ()
    assert after.wallet("USDT") == pytest.approx(0.0, abs=1e-6)
    # The hedge legs were closed together at one bankruptcy price.
    btc = [e for e in hits if e.symbol == "BTC/USDT:USDT"]
    assert btc[0].bankruptcy_price == btc[1].bankruptcy_price
    # The symbol with the worst PnL (both legs together) went first, at its bankruptcy price with
    # the others held at their marks.
    by_symbol: dict[str, float] = {}
    for p in compute_risk(Portfolio((at_trigger,))).accounts[0].positions:
        by_symbol[p.symbol] = by_symbol.get(p.symbol, 0.0) + p.unrealized_pnl
    worst = min(by_symbol, key=lambda s: by_symbol[s])
    assert hits[0].symbol == worst
    assert hits[0].bankruptcy_price == pytest.approx(
        engine_position(at_trigger, worst, hits[0].leg).bankruptcy_price, rel=1e-12)


def test_feed_loss_freezes_one_accounts_marks_then_restores_them():
    market = manual_market("feed-loss", seed=7)
    market.advance_to(29)
    assert market.mark_view("demo-hyperliquid").sim_time == 29
    frozen_marks = dict(market.mark_view("demo-hyperliquid").marks)
    market.advance_to(200)
    view = market.mark_view("demo-hyperliquid")
    assert view.sim_time == 29 and dict(view.marks) == frozen_marks
    assert view.observed_at == market.epoch_at(29)
    assert market.mark_view("demo-binance-usdm").sim_time == 200  # the others carry on
    account = market.account("demo-hyperliquid")
    assert {p.mark_time for p in account.positions} == {market.epoch_at(29)}
    assert account.data_time == market.epoch_at(200)  # positions still arrive; only marks stop
    assert not market.feed_live("demo-hyperliquid")
    market.advance_to(330)
    assert market.feed_live("demo-hyperliquid")
    assert market.mark_view("demo-hyperliquid").sim_time == 330
    kinds = [(e.kind, e.sim_time, e.account) for e in market.events if e.kind.startswith("feed")]
    assert kinds == [("feed_lost", 30.0, "demo-hyperliquid"), ("feed_restored", 330.0, "demo-hyperliquid")]


def test_every_scenario_has_a_description_and_runs():
    assert set(SCENARIOS) == {"calm", "flash-crash", "squeeze", "feed-loss", "exchange-errors"}
    for name, text in SCENARIOS.items():
        assert text and "\n" not in text
        manual_market(name).advance_to(5)
    with pytest.raises(ValueError, match="choose one of: calm, flash-crash"):
        DemoMarket("meltdown")
    with pytest.raises(ValueError, match="speed"):
        DemoMarket("calm", speed=0)
