"""The demo accounts look like real ones, report what their engine computes, pay funding on the
venue's schedule, and fail on cue in the exchange-errors scenario."""

from __future__ import annotations

import itertools
import math

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Kind, MarginMode, Portfolio, Side
from desk.exchanges.base import RETRYABLE, ErrorKind
from desk.exchanges.demo import DEMO_ACCOUNTS, demo_portfolio
from desk.exchanges.demo.market import reported_price
from desk.exchanges.demo.scenarios import ERROR_PERIOD
from tests.domain import oracle
from tests.support.demo import engine_position, manual_market


def test_accounts_are_shaped_like_the_real_venues():
    portfolio = demo_portfolio("calm", seed=7)
    venues = {a.name: a.venue for a in portfolio.accounts}
    assert venues == {"demo-binance-usdm": "binanceusdm", "demo-bybit-isolated": "bybit",
                      "demo-binance-coinm": "binancecoinm", "demo-hyperliquid": "hyperliquid",
                      "demo-bybit-hedge": "bybit", "demo-bybit-uta": "bybit",
                      "demo-binance-multi": "binanceusdm"}
    assert tuple(venues) == DEMO_ACCOUNTS
    assert all(name.startswith("demo-") for name in venues)

    usdm = portfolio.account("demo-binance-usdm")
    assert 3 <= len(usdm.positions) <= 4
    assert all(p.margin_mode is MarginMode.CROSS for p in usdm.positions)
    btc_legs = {(p.leg.value, p.side) for p in usdm.positions if p.symbol == "BTC/USDT:USDT"}
    assert btc_legs == {("long", Side.LONG), ("short", Side.SHORT)}  # the hedge pair
    btc = next(p for p in usdm.positions if p.symbol == "BTC/USDT:USDT")
    # Binance's published BTCUSDT brackets (portfolio-format.md).
    assert [(t.notional_floor, t.mmr, t.maintenance_amount) for t in btc.tiers[:4]] == [
        (0, 0.004, 0), (50_000, 0.005, 50), (250_000, 0.01, 1_300), (1_000_000, 0.025, 16_300)]

    bybit = portfolio.account("demo-bybit-isolated")
    assert all(p.margin_mode is MarginMode.ISOLATED and p.isolated_margin for p in bybit.positions)
    coinm = portfolio.account("demo-binance-coinm")
    assert all(p.kind is Kind.INVERSE for p in coinm.positions)
    assert {p.symbol: p.contract_size for p in coinm.positions} == {"BTC/USD:BTC": 100.0, "ETH/USD:ETH": 10.0}
    btcusd = next(p for p in coinm.positions if p.symbol == "BTC/USD:BTC")
    assert (btcusd.tiers[-1].mmr, btcusd.tiers[-1].maintenance_amount) == (0.125, 11.605)  # coin, §1.2
    hl = portfolio.account("demo-hyperliquid")
    for p in hl.positions:
        assert p.tiers[0].mmr == pytest.approx(1 / (2 * p.tiers[0].max_leverage))

    # Every tier table follows the maintenance-amount recurrence of risk-math.md §0.
    for account in portfolio.accounts:
        for p in account.positions:
            for lower, upper in zip(p.tiers, p.tiers[1:], strict=False):
                expected = lower.maintenance_amount + upper.notional_floor * (upper.mmr - lower.mmr)
                assert upper.maintenance_amount == pytest.approx(expected), (account.name, p.symbol)
            assert p.tick_size and p.leverage and p.taker_fee is not None


def test_reported_liquidation_prices_are_the_engines_rounded_as_the_venue_shows_them():
    """The demo's "exchange" liquidation price is desk's own engine figure rounded to the tick, so
    comparing it with the engine tests the demo's plumbing and rounding, not the engine. The figure
    itself is derived independently here too: the oracle (tests/domain/oracle.py, no engine code)
    must land within one tick of what the demo venue reports."""
    portfolio = demo_portfolio("calm", seed=7, at_seconds=120)
    risk = compute_risk(portfolio)
    for account, account_risk in zip(portfolio.accounts, risk.accounts, strict=True):
        for pos, pr in zip(account.positions, account_risk.positions, strict=True):
            assert pr.liquidation_price is not None
            theirs = pos.reported.liquidation_price
            assert theirs is not None
            if account.pooled:
                # the venue's figure moves only the symbol's mark (variant A); desk's own also moves
                # the same-coin collateral (tests/demo/test_pooled.py derives both by hand)
                assert pr.liquidation_price_symbol_only is not None
                assert abs(theirs - pr.liquidation_price_symbol_only) < pos.tick_size + 1e-9
                assert pos.reported.bankruptcy_price is None
                continue
            assert abs(theirs - pr.liquidation_price) <= pos.tick_size * 0.5 + 1e-9 or (
                account.venue == "bybit" and abs(theirs - pr.liquidation_price) < pos.tick_size + 1e-9)
            independent = oracle.liquidation_price(account, pos)
            assert independent is not None
            assert abs(theirs - independent) <= pos.tick_size * (1 + 1e-9), (account.name, pos.symbol)
            # What the tick grid says, independently of the venue rule.
            steps = theirs / pos.tick_size
            assert steps == pytest.approx(round(steps), abs=1e-6)
            if account.venue == "bybit":  # rounded towards the mark: never later than ours
                assert (theirs >= pr.liquidation_price) if pos.side is Side.LONG else (
                    theirs <= pr.liquidation_price)
                assert pos.reported.bankruptcy_price is not None
            else:
                assert pos.reported.bankruptcy_price is None
            assert pos.mark_time is not None


def test_reported_price_rounding_rules():
    assert reported_price("bybit", Side.LONG, 5739.08, 0.5) == 5739.5  # risk-math.md §3.3
    assert reported_price("bybit", Side.SHORT, 8160.26, 0.5) == 8160.0
    assert reported_price("binancecoinm", Side.LONG, 33599.42, 0.1) == 33599.4  # §2 (a)
    assert reported_price("binanceusdm", Side.LONG, 0.0, 0.1) is None
    assert reported_price("binanceusdm", Side.LONG, None, 0.1) is None
    assert reported_price("hyperliquid", Side.SHORT, -3.0, 1.0) is None


def test_calm_marks_move_every_second():
    market = manual_market("calm", seed=7)
    seen = []
    for _ in range(10):
        market.step()
        seen.append((market.mark("binanceusdm", "BTC/USDT:USDT"),
                     market.mark("hyperliquid", "ETH/USDC:USDC")))
    assert all(a[0] != b[0] and a[1] != b[1] for a, b in itertools.pairwise(seen))
    # Venues quote the same coin a little differently (their own mark premium).
    assert market.mark("bybit", "BTC/USDT:USDT") != market.mark("binanceusdm", "BTC/USDT:USDT")
    assert market.mark("bybit", "BTC/USDT:USDT") == pytest.approx(market.asset_price("BTC"), rel=5e-4)


def _funding(market, t):
    return [e for e in market.events if e.kind == "funding" and e.sim_time == t]


def test_funding_is_paid_on_each_venues_schedule_and_moves_wallet_or_margin():
    market = manual_market("calm", seed=7)
    market.advance_to(299)
    before = {name: market.account(name) for name in DEMO_ACCOUNTS}
    assert not [e for e in market.events if e.kind == "funding"]
    market.step()  # 300 s: 08:00 UTC on the simulated day, every venue pays
    paid = _funding(market, 300.0)
    assert {(e.account, e.symbol, e.leg) for e in paid} == {
        (a.name, p.symbol, p.leg.value) for a in before.values() for p in a.positions}
    for name, account in before.items():
        marks = {p.symbol: market.mark(account.venue, p.symbol) for p in account.positions}
        after = market.account(name)
        for p in account.positions:
            event = next(e for e in paid
                         if e.account == name and e.symbol == p.symbol and e.leg == p.leg.value)
            notional = engine_position(account, p.symbol, p.leg.value, mark=marks[p.symbol]).notional
            # Longs pay a positive rate, shorts receive it (and the reverse when negative).
            assert event.amount == pytest.approx(-p.side.sign * abs(notional) * event.rate, rel=1e-9)
            assert event.price == marks[p.symbol] and event.currency == p.settle
            if p.margin_mode is MarginMode.ISOLATED:
                now = next(q for q in after.positions if q.symbol == p.symbol)
                assert now.isolated_margin == pytest.approx(p.isolated_margin + event.amount, rel=1e-12)
        if account.positions[0].margin_mode is MarginMode.CROSS:
            for currency in account.wallets:
                total = sum(e.amount for e in paid if e.account == name and e.currency == currency)
                assert after.wallet(currency) == pytest.approx(account.wallet(currency) + total, rel=1e-12)
        else:
            assert after.wallet("USDT") == account.wallet("USDT")
    # Hyperliquid's hourly rate is an eighth of the 8-hour one in scale.
    hl = [abs(e.rate) for e in paid if e.venue == "hyperliquid"]
    assert hl and max(hl) < 0.0075 / 8
    market.advance_to(300 + 3 * 3600)
    times = sorted({(e.venue, e.sim_time) for e in market.events if e.kind == "funding"})
    assert [t for v, t in times if v == "hyperliquid"] == [300.0, 3900.0, 7500.0, 11100.0]
    assert [t for v, t in times if v == "binanceusdm"] == [300.0]  # next at 300 + 8 h


def test_exchange_errors_follow_the_documented_schedule():
    market = manual_market("exchange-errors", seed=7)
    expected = {
        35: {("demo-binance-usdm", c): ErrorKind.NETWORK for c in ("snapshot", "marks", "account")},
        100: {("demo-bybit-isolated", "snapshot"): ErrorKind.RATE_LIMIT},
        200: {("demo-binance-coinm", c): ErrorKind.EXCHANGE_DOWN for c in ("snapshot", "marks", "account")},
        280: {("demo-hyperliquid", "snapshot"): ErrorKind.BAD_RESPONSE},
        322: {("demo-binance-usdm", "snapshot"): ErrorKind.RATE_LIMIT},
        10: {},
        160: {},
    }
    # The schedule repeats every ERROR_PERIOD simulated seconds.
    checks = sorted((t + k * ERROR_PERIOD, failing) for t, failing in expected.items() for k in (0, 1))
    for t, failing in checks:
        market.advance_to(t)
        got = {(name, call): err.kind for name in DEMO_ACCOUNTS for call in ("snapshot", "marks", "account")
               if (err := market.failure(name, call)) is not None}
        assert got == failing, t
    market.advance_to(322 + 2 * ERROR_PERIOD)
    rate_limited = market.failure("demo-binance-usdm", "snapshot")
    assert rate_limited is not None and rate_limited.retry_after == pytest.approx(325 - 322)
    assert "demo-binance-usdm" in str(rate_limited) and "simulated" in str(rate_limited)

    # Over a whole period only retryable kinds appear — never AUTH, which would stop polling.
    kinds = set()
    fresh = manual_market("exchange-errors", seed=7)
    for _ in range(int(ERROR_PERIOD)):
        fresh.step()
        kinds |= {err.kind for name in DEMO_ACCOUNTS for call in ("snapshot", "marks", "account")
                  if (err := fresh.failure(name, call)) is not None}
    assert kinds == {ErrorKind.NETWORK, ErrorKind.RATE_LIMIT, ErrorKind.EXCHANGE_DOWN, ErrorKind.BAD_RESPONSE}
    assert kinds <= RETRYABLE

    calm = manual_market("calm", seed=7)
    calm.advance_to(35)
    assert calm.failure("demo-binance-usdm", "snapshot") is None


def test_demo_portfolio_and_snapshot_times():
    p0 = demo_portfolio("flash-crash", seed=7)
    p1 = demo_portfolio("flash-crash", seed=7, at_seconds=2400)
    assert p0.as_of and p1.as_of
    sol0 = next(p for p in p0.account("demo-bybit-isolated").positions if p.symbol == "SOL/USDT:USDT")
    assert sol0.mark_price == pytest.approx(145.0, rel=1e-3)
    assert all(p.symbol != "SOL/USDT:USDT" for p in p1.account("demo-bybit-isolated").positions)
    with pytest.raises(ValueError, match="demo time must be between 0 and 86,400 seconds"):
        demo_portfolio(at_seconds=-1)
    with pytest.raises(ValueError, match="demo time must be between 0 and 86,400 seconds"):
        demo_portfolio(at_seconds=math.nan)

    market = manual_market("calm", seed=7, speed=10.0)
    market.advance_to(100)
    snap = market.account_snapshot("demo-binance-usdm")
    assert snap.observed_at == market.epoch_at(100) == snap.account.data_time
    assert snap.raw["demo"] is True and snap.raw["sim_time"] == 100
    with pytest.raises(KeyError, match="demo-binance-usdm"):
        market.account("binance-main")
    # Nothing in the snapshot is computed outside the engine: our figures match theirs.
    risk = compute_risk(Portfolio((snap.account,))).accounts[0]
    assert risk.rules == "binance" and not risk.generic_rules


def test_positions_carry_the_current_funding_rate_and_the_next_payment():
    from desk.exchanges.demo.catalog import FUNDING_INTERVAL_HOURS

    market = manual_market("calm", seed=7, speed=60.0)
    market.advance_to(299)
    before = {name: market.account(name) for name in DEMO_ACCOUNTS}
    for account in before.values():
        for p in account.positions:
            asset = market._instruments[(account.venue, p.symbol)].asset
            assert p.funding_rate == market._funding_rate(account.venue, asset)
            assert p.funding_interval_hours == FUNDING_INTERVAL_HOURS[account.venue]
    market.step()  # the first payment, at 300 s
    paid = _funding(market, 300.0)
    assert paid
    for e in paid:
        p = next(q for q in before[e.account].positions if q.symbol == e.symbol and q.leg.value == e.leg)
        # announced before it happened: the wall time the payment came, at 60 simulated s per s
        assert p.next_funding_time == e.at == pytest.approx(market.epoch_at(0.0) + 300.0 / 60.0)
    after = market.account("demo-hyperliquid").positions[0]
    assert after.next_funding_time == pytest.approx(market.epoch_at(300.0 + 3600.0))
