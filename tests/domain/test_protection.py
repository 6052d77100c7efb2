"""Stops against liquidation (issue 17): each verdict and the loss figures, derived by hand here.

The example position: Bybit isolated long 2 BTC @ 60,000, mark 58,000, margin 12,000 (10x),
MMR 0.5 %, taker 0.05 %.
* Bybit isolated (risk-math.md §3.1): MM = 120,000 × 0.005 = 600,
  LP = 60,000 − (12,000 − 600)/2 = 54,300.
* Bankruptcy (0 % margin): 60,000 − 12,000/2 = 54,000.
* Liquidation loss from the mark: 2 × (58,000 − 54,000) = 8,000 = margin 12,000 + uPnL −4,000.
"""

from __future__ import annotations

import dataclasses

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Leg
from desk.domain.protection import Order, OrderKind, OrderSide, Verdict, assess
from tests.support.risk import account, portfolio, pos

LP = 54_300.0
BP = 54_000.0


def long_btc(**kw):
    return pos("BTC/USDT:USDT", contracts=2, entry=60_000, mark=58_000, mode="isolated", margin=12_000,
               mmr=0.005, taker=0.0005, leverage=10, **kw)


def stop(trigger, contracts=None, *, side="sell", kind=OrderKind.STOP, **kw):
    return Order("BTC/USDT:USDT", kind, OrderSide(side), contracts, trigger_price=trigger, reduce_only=True,
                 **kw)


def test_no_stop_is_unprotected_and_liquidation_loses_the_remaining_margin():
    p = assess(long_btc(), [], LP, BP, "bybit")
    assert p.verdict is Verdict.UNPROTECTED
    assert p.coverage == 0
    assert p.stop_fill_loss is None
    assert p.liquidation_loss == pytest.approx(12_000 - 4_000)
    assert p.liquidation_fee is None
    # Bybit closes at the bankruptcy price and keeps the rest of the margin: nothing more to add
    assert p.liquidation_fee_note.startswith("no fee beyond it: Bybit closes at the bankruptcy price")
    assert "not published" in assess(long_btc(), [], LP, BP, "binanceusdm").liquidation_fee_note
    assert "not published" in assess(long_btc(), [], LP, BP, "okx").liquidation_fee_note
    assert "no clearance fee" in assess(long_btc(), [], LP, BP, "hyperliquid").liquidation_fee_note
    kraken = assess(long_btc(), [], LP, BP, "krakenfutures")
    assert kraken.liquidation_fee_note == "liquidation fee: not published"


def test_whole_position_stop_is_protected_and_its_loss_includes_the_taker_fee():
    p = assess(long_btc(), [stop(56_000)], LP, BP, "bybit")
    assert p.verdict is Verdict.PROTECTED
    assert p.coverage == 1.0
    assert p.effective_stop_price == 56_000
    # 2 × (58,000 − 56,000) = 4,000; fee 0.0005 × 2 × 56,000 = 56
    assert p.stop_fee == pytest.approx(56.0)
    assert p.stop_fill_loss == pytest.approx(4_056.0)
    assert p.liquidation_loss == pytest.approx(8_000.0)
    assert p.summary == "protected (stop 56000)"


def test_stop_for_half_the_size_is_partly_protected():
    p = assess(long_btc(), [stop(56_000, 1.0)], LP, BP, "bybit")
    assert p.verdict is Verdict.PARTLY
    assert p.coverage == pytest.approx(0.5)
    assert p.stop_fill_loss == pytest.approx(2_000 + 28)
    assert p.summary == "partly protected (50 % of size)"


def test_stop_beyond_liquidation_can_never_fire():
    p = assess(long_btc(), [stop(54_200)], LP, BP, "bybit")
    assert p.verdict is Verdict.BEYOND_LIQUIDATION
    assert p.coverage == 0
    assert p.summary == "stop beyond liquidation: can never fire"
    # exactly at the liquidation price: the engine is first, still beyond
    assert assess(long_btc(), [stop(LP)], LP, BP, "bybit").verdict is Verdict.BEYOND_LIQUIDATION


def test_stop_above_the_mark_of_a_long_fires_at_once():
    p = assess(long_btc(), [stop(58_500), stop(56_000)], LP, BP, "bybit")
    assert p.verdict is Verdict.FIRES_AT_ONCE


def test_orders_that_do_not_close_the_position_do_not_protect_it():
    orders = [
        stop(56_000, side="buy"),  # same side: opens more, does not close
        Order("ETH/USDT:USDT", OrderKind.STOP, OrderSide.SELL, None, trigger_price=56_000),  # other symbol
        Order("BTC/USDT:USDT", OrderKind.LIMIT, OrderSide.SELL, 2, price=56_000),  # plain limit: not a stop
    ]
    p = assess(long_btc(), orders, LP, BP, "bybit")
    assert p.verdict is Verdict.UNPROTECTED
    assert p.stops == ()


def test_take_profit_is_listed_but_does_not_protect():
    tp = stop(65_000, kind=OrderKind.TAKE_PROFIT)
    p = assess(long_btc(), [tp], LP, BP, "bybit")
    assert p.verdict is Verdict.UNPROTECTED
    assert p.take_profits == (tp,)


def test_stops_sum_up_to_the_size_nearest_the_mark_first():
    # 1.5 at 57,000 fires first, then 0.5 of the 1.0 at 55,000 (the rest is capped at the size)
    p = assess(long_btc(), [stop(55_000, 1.0), stop(57_000, 1.5)], LP, BP, "bybit")
    assert p.verdict is Verdict.PROTECTED
    assert p.effective_stop_price == 57_000
    loss = 1.5 * (58_000 - 57_000) + 0.5 * (58_000 - 55_000)
    fee = 0.0005 * (1.5 * 57_000 + 0.5 * 55_000)
    assert p.stop_fill_loss == pytest.approx(loss + fee)


def test_trailing_stop_without_a_trigger_uses_the_nearest_it_can_be():
    p = assess(long_btc(), [stop(None, kind=OrderKind.TRAILING, trailing_rate=0.02)], LP, BP, "bybit")
    assert p.verdict is Verdict.PROTECTED
    assert p.effective_stop_price == pytest.approx(58_000 * 0.98)


def test_hedge_legs_are_matched_by_leg():
    long_leg = long_btc(leg="long")
    short_leg_stop = stop(56_000, leg=Leg.SHORT)
    assert assess(long_leg, [short_leg_stop], LP, BP, "bybit").verdict is Verdict.UNPROTECTED
    assert assess(long_leg, [stop(56_000, leg=Leg.LONG)], LP, BP, "bybit").verdict is Verdict.PROTECTED


def test_inverse_short_stop_and_liquidation_losses_in_coin():
    # 1,000 contracts × 100 USD short @ 50,000, mark 50,000; buy stop at 52,000 for the whole size
    short = pos("BTC/USD:BTC", contracts=1000, contract_size=100, entry=50_000, mark=50_000, side="short",
                mode="isolated", margin=0.2, mmr=0.005, taker=0.0006)
    o = Order("BTC/USD:BTC", OrderKind.STOP, OrderSide.BUY, 1000, trigger_price=52_000)
    p = assess(short, [o], 55_000.0, 55_555.0, "binancecoinm")
    # the short's coin value at 50,000 is 2 BTC, at 52,000 it is 100,000/52,000 BTC; buying back costs the gap
    assert p.stop_fill_loss - p.stop_fee == pytest.approx(2.0 - 100_000 / 52_000)
    assert p.stop_fee == pytest.approx(0.0006 * 100_000 / 52_000)
    assert p.liquidation_loss == pytest.approx(2.0 - 100_000 / 55_555)
    assert p.verdict is Verdict.PROTECTED
    # a buy stop below the mark of a short fires at once
    low = dataclasses.replace(o, trigger_price=49_000)
    assert assess(short, [low], 55_000.0, 55_555.0, "binancecoinm").verdict is Verdict.FIRES_AT_ONCE


def test_unknown_taker_fee_leaves_the_fee_unknown_not_zero():
    p = assess(dataclasses.replace(long_btc(), taker_fee=None),
               [stop(56_000)], LP, BP, "bybit")
    assert p.stop_fee is None
    assert p.stop_fill_loss == pytest.approx(4_000.0)


def test_engine_attaches_the_verdict_only_when_orders_were_read():
    # Binance isolated (risk-math.md §1.1 with cum 0, MM at the liquidation price):
    # LP = (60,000 − 12,000/2) / (1 − 0.005); bankruptcy (MMR 0) 54,000
    acc = account("binanceusdm", long_btc())
    (no_orders,) = compute_risk(portfolio(acc)).accounts[0].positions
    assert no_orders.protection is None
    with_orders = dataclasses.replace(acc, orders=(stop(54_200),))
    (r,) = compute_risk(portfolio(with_orders)).accounts[0].positions
    assert r.liquidation_price == pytest.approx(54_000 / 0.995)
    assert r.bankruptcy_price == pytest.approx(BP)
    assert r.protection is not None
    assert r.protection.verdict is Verdict.BEYOND_LIQUIDATION
    assert r.protection.liquidation_loss == pytest.approx(8_000.0)
    empty = dataclasses.replace(acc, orders=())
    (u,) = compute_risk(portfolio(empty)).accounts[0].positions
    assert u.protection is not None and u.protection.verdict is Verdict.UNPROTECTED
