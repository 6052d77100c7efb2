"""Folding stream updates onto the REST read without losing fields (ccxt-notes.md §5, §10.1)."""

from __future__ import annotations

from dataclasses import replace

from desk.domain.model import Account, Reported
from desk.services.merge import apply_marks, exposure_changed, merge_full_read, merge_stream_update
from tests.support.monitor import position

T0 = 1_700_000_000.0


def acct(*positions, wallets=None, data_time=T0):
    return Account(name="a", venue="binanceusdm", wallets=wallets or {"USDT": 1000.0}, positions=positions,
                   data_time=data_time)


def test_stream_update_without_mark_and_liquidation_keeps_the_rest_values():
    base = acct(position(mark=60_000, mark_time=T0, liq=50_000))
    # what ccxt's watch_positions gives after the first ACCOUNT_UPDATE: no mark, no liq, no tiers
    streamed = replace(position(mark=0.0, liq=None), tiers=(), leverage=None)
    merged = merge_stream_update(base, acct(streamed, wallets={}), T0 + 5)
    (p,) = merged.positions
    assert p.mark_price == 60_000 and p.mark_time == T0
    assert p.reported.liquidation_price == 50_000
    assert p.tiers == base.positions[0].tiers and p.leverage == 10.0
    assert merged.wallets == {"USDT": 1000.0}
    assert merged.data_time == T0  # the update's own data_time (T0) is not newer than the base


def test_a_resized_position_drops_the_outdated_exchange_liquidation_price():
    base = acct(position(contracts=1, liq=50_000))
    update = acct(position(contracts=2, mark=0.0, liq=None), data_time=T0 + 3)
    merged = merge_stream_update(base, update, T0 + 3)
    (p,) = merged.positions
    assert p.contracts == 2 and p.reported == Reported()
    assert merged.data_time == T0 + 3
    assert exposure_changed(base, merged)


def test_stream_delta_closes_zero_size_keeps_unnamed_and_adds_new():
    base = acct(position("BTC/USDT:USDT"), position("ETH/USDT:USDT"))
    update = acct(position("BTC/USDT:USDT", contracts=0), position("SOL/USDT:USDT"), wallets={"BNB": 1.0})
    merged = merge_stream_update(base, update, T0 + 1)
    assert [p.symbol for p in merged.positions] == ["ETH/USDT:USDT", "SOL/USDT:USDT"]
    assert merged.wallets == {"USDT": 1000.0, "BNB": 1.0}


def test_full_read_is_authoritative_for_the_set_but_keeps_a_missing_mark_with_its_old_time():
    previous = acct(position("BTC/USDT:USDT", mark=60_000, mark_time=T0), position("ETH/USDT:USDT"))
    fresh = acct(position("BTC/USDT:USDT", mark=float("nan"), mark_time=T0 + 10, liq=None), data_time=None)
    merged = merge_full_read(previous, fresh, T0 + 10)
    (p,) = merged.positions
    assert p.mark_price == 60_000 and p.mark_time == T0  # the old mark keeps its age: it turns stale
    assert p.reported.liquidation_price is None  # REST None = "no liquidation possible", kept as sent
    assert merged.data_time == T0 + 10


def test_apply_marks_newer_wins():
    a = acct(position("BTC/USDT:USDT", mark=60_000, mark_time=T0 + 5),
             position("ETH/USDT:USDT", mark_time=T0))
    out = apply_marks(a, {"BTC/USDT:USDT": (61_000.0, T0 + 4), "ETH/USDT:USDT": (3_000.0, T0 + 6)})
    btc, eth = out.positions
    assert (btc.mark_price, btc.mark_time) == (60_000, T0 + 5)
    assert (eth.mark_price, eth.mark_time) == (3_000.0, T0 + 6)
    assert apply_marks(a, {}) is a


def test_orders_follow_an_update_that_carries_them_and_stay_when_it_does_not():
    from desk.domain.protection import Order, OrderKind, OrderSide

    stop = Order("BTC/USDT:USDT", OrderKind.STOP, OrderSide.SELL, None, trigger_price=55_000.0,
                 reduce_only=True)
    base = replace(acct(position()), orders=(stop,))
    # a position stream (Binance ACCOUNT_UPDATE) says nothing about orders: they stay
    kept = merge_stream_update(base, acct(position(contracts=2)), T0 + 1)
    assert kept.orders == (stop,)
    # an update with the account's orders (the demo's whole-account stream; a stop that filled
    # leaves none) replaces them: a filled stop is not shown as still resting
    cleared = merge_stream_update(base, replace(acct(position(contracts=0.7)), orders=()), T0 + 2)
    assert cleared.orders == ()


def test_a_stream_update_keeps_the_funding_of_the_rest_read_and_a_new_read_replaces_it():
    funded = replace(position(mark=60_000, mark_time=T0), funding_rate=0.0001,
                     next_funding_time=T0 + 3600, funding_interval_hours=8.0)
    base = acct(funded)
    merged = merge_stream_update(base, acct(position(mark=0.0), wallets={}), T0 + 5)
    (p,) = merged.positions
    assert (p.funding_rate, p.next_funding_time, p.funding_interval_hours) == (0.0001, T0 + 3600, 8.0)
    newer = replace(funded, funding_rate=-0.0002, next_funding_time=T0 + 3600 + 8 * 3600)
    (q,) = merge_stream_update(base, acct(newer, wallets={}), T0 + 6).positions
    assert (q.funding_rate, q.next_funding_time) == (-0.0002, T0 + 3600 + 8 * 3600)
