"""Funding's effect on a single-asset cross pool (issue 17), against a stepped simulation written here:
every payment applied to the wallet in time order, the pool recomputed by the scalar oracle at each
payment time. Mixed intervals (1 h, 4 h, 8 h) with different next times; a pool where one position
receives and one pays; positions whose funding is unknown; an account-wide pool gets none."""

from __future__ import annotations

import dataclasses

import pytest

from desk.domain.funding import pool_funding_drift, with_funding_drift
from desk.domain.model import Account, AccountMargin, MarginMode, Portfolio
from desk.domain.scalar import compute_risk_scalar
from tests.support.funding_sim import HOUR, at, first_liquidation, simulate
from tests.support.risk import account, pos

T0 = 1_800_000_000.0  # the origin: when the account was read


def assert_agrees(drift, history, origin: float) -> None:
    for step in drift.after:
        want = at(history, origin + step.hours * HOUR)
        assert step.wallet_balance == pytest.approx(want["wallet"], rel=1e-9)
        assert step.margin_ratio == pytest.approx(want["ratio"], rel=1e-9)
        assert len(step.liquidation_prices) == len(want["liquidation"])
        for (symbol, leg, price), (w_symbol, w_leg, w_price) in zip(step.liquidation_prices,
                                                                   want["liquidation"], strict=True):
            assert (symbol, leg) == (w_symbol, w_leg)
            assert (price is None) == (w_price is None)
            if price is not None:
                assert price == pytest.approx(w_price, rel=1e-9)


def mixed_pool(wallet: float = 4_000.0, eth_rate: float = -0.0005) -> Account:
    # BTC hourly (Hyperliquid-like), ETH every 4 h (Binance fundingInfo), SOL every 8 h, all with
    # different next times; XRP's rate is unknown; an isolated position pays from its own margin
    return account(
        "binanceusdm",
        pos("BTC/USDT:USDT", contracts=0.5, entry=60_000, mark=59_000, mmr=0.004, taker=0.0005,
            funding_rate=0.001, next_funding_time=T0 + 1_800, funding_interval_hours=1),
        pos("ETH/USDT:USDT", contracts=10, entry=3_000, mark=3_100, side="short", mmr=0.005,
            funding_rate=eth_rate, next_funding_time=T0 + 3 * HOUR, funding_interval_hours=4),
        pos("SOL/USDT:USDT", contracts=100, entry=150, mark=140, mmr=0.01,
            funding_rate=0.0008, next_funding_time=T0 + 7 * HOUR, funding_interval_hours=8),
        pos("XRP/USDT:USDT", contracts=1_000, entry=1.0, mark=0.9, mmr=0.01),
        pos("DOGE/USDT:USDT", contracts=10_000, entry=0.2, mark=0.19, mode="isolated", margin=300,
            mmr=0.01, funding_rate=0.01, next_funding_time=T0 + 60, funding_interval_hours=1),
        USDT=wallet)


def test_mixed_intervals_each_horizon_and_the_time_to_liquidation_match_the_stepped_simulation():
    acc = mixed_pool()
    drift = pool_funding_drift(acc, "USDT", T0)
    assert drift is not None
    assert [s.hours for s in drift.after] == [1.0, 8.0, 24.0]
    assert {(f.symbol, f.interval_hours) for f in drift.payers} == {
        ("BTC/USDT:USDT", 1.0), ("ETH/USDT:USDT", 4.0), ("SOL/USDT:USDT", 8.0)}
    assert drift.unknown == (("XRP/USDT:USDT", "both"),)  # no rate: contributes nothing, and is named
    history = simulate(acc, "USDT", T0, T0 + 40 * 24 * HOUR)
    assert_agrees(drift, history, T0)
    want = first_liquidation(history)
    assert want is not None and drift.liquidation_time == want
    assert drift.hours_to_liquidation == (want - T0) / HOUR
    # the isolated DOGE pays from its own margin: the pool's wallet after 1 h lost only BTC's one payment
    assert drift.after[0].wallet_balance == pytest.approx(4_000 - 0.001 * 0.5 * 59_000, rel=1e-12)


def test_liquidation_many_periods_ahead_is_found_at_the_exact_payment():
    # a small net drain: liquidation lies hundreds of hours (dozens of 8 h periods) ahead
    acc = mixed_pool(eth_rate=0.0037)
    drift = pool_funding_drift(acc, "USDT", T0)
    history = simulate(acc, "USDT", T0, T0 + 60 * 24 * HOUR)
    want = first_liquidation(history)
    assert want is not None and want - T0 > 100 * HOUR
    assert drift.liquidation_time == want
    assert_agrees(drift, history, T0)


def test_one_receives_one_pays_the_crossing_at_an_eight_hour_payment_not_the_net_average():
    # BTC long pays 80 every 8 h (first in 7 h); ETH short receives 12 an hour: net 16 received every
    # 8 h; slack 2,000 − MM 1,600 = 400
    acc = account(
        "bybit",
        pos("BTC/USDT:USDT", contracts=1, entry=40_000, mark=40_000, mmr=0.01,
            funding_rate=0.002, next_funding_time=T0 + 7 * HOUR, funding_interval_hours=8),
        pos("ETH/USDT:USDT", contracts=40, entry=3_000, mark=3_000, side="short", mmr=0.01,
            funding_rate=0.0001, next_funding_time=T0 + 900, funding_interval_hours=1),
        USDT=2_000.0)
    drift = pool_funding_drift(acc, "USDT", T0)
    payments = {f.symbol: f.payment for f in drift.payers}
    assert payments["BTC/USDT:USDT"] == pytest.approx(80.0)
    assert payments["ETH/USDT:USDT"] == pytest.approx(-12.0)
    history = simulate(acc, "USDT", T0, T0 + 30 * 24 * HOUR)
    assert_agrees(drift, history, T0)
    # net received each period: never liquidated by funding alone — and the simulation agrees
    assert drift.liquidation_time is None and first_liquidation(history) is None
    # the BTC payment due first (in 30 min, after one hourly receipt): slack 1,660 − MM 1,600 = 60,
    # +12 then −80 — the first 8 h payment brings the pool to 1.0 though each period nets a receipt
    thin = dataclasses.replace(acc, wallets={"USDT": 1_660.0}, positions=(
        dataclasses.replace(acc.positions[0], next_funding_time=T0 + 1_800), acc.positions[1]))
    drift = pool_funding_drift(thin, "USDT", T0)
    history = simulate(thin, "USDT", T0, T0 + 30 * 24 * HOUR)
    assert first_liquidation(history) == T0 + 1_800
    assert drift.liquidation_time == T0 + 1_800 and drift.hours_to_liquidation == 0.5
    assert_agrees(drift, history, T0)


def test_receiving_pool_never_liquidates_and_a_pool_already_past_it_is_liquidated_now():
    acc = account("okx", pos("BTC/USDT:USDT", contracts=1, entry=40_000, mark=39_000, side="short",
                             mmr=0.01, funding_rate=0.0002, next_funding_time=T0 + HOUR,
                             funding_interval_hours=8), USDT=2_000.0)
    drift = pool_funding_drift(acc, "USDT", T0)
    assert drift.payers[0].payment < 0 and drift.liquidation_time is None
    assert drift.after[-1].margin_ratio < drift.after[0].margin_ratio  # receipts lower the ratio
    assert_agrees(drift, simulate(acc, "USDT", T0, T0 + 48 * HOUR), T0)
    # balance 400 against MM 390: ratio 0.975, and receiving it only gets safer
    nearly = dataclasses.replace(acc, wallets={"USDT": -600.0})
    assert pool_funding_drift(nearly, "USDT", T0).liquidation_time is None
    past = dataclasses.replace(acc, wallets={"USDT": -700.0})  # balance 300 < MM 390
    assert compute_risk_scalar(Portfolio((past,))).accounts[0].pools[0].margin_ratio >= 1.0
    assert pool_funding_drift(past, "USDT", T0).liquidation_time == T0


def test_inverse_pool_and_a_stale_next_time_rolls_forward_from_the_origin():
    # a coin-margined pool; the next time read is 20 h before the origin (a stale file): payments
    # since then are in the wallet already, the schedule continues at next + k × 8 h
    acc = account("binancecoinm",
                  pos("BTC/USD:BTC", contracts=200, contract_size=100, entry=60_000, mark=58_000, mmr=0.005,
                      funding_rate=0.003, next_funding_time=T0 - 20 * HOUR, funding_interval_hours=8),
                  pos("ETH/USD:BTC", kind="inverse", contracts=100, contract_size=10, entry=3_000, mark=2_900,
                      mmr=0.005, side="short", funding_rate=-0.001, next_funding_time=T0 + 1_200,
                      funding_interval_hours=4),
                  BTC=0.12)
    drift = pool_funding_drift(acc, "BTC", T0)
    btc = next(f for f in drift.payers if f.symbol == "BTC/USD:BTC")
    assert btc.first_payment == T0 + 4 * HOUR
    history = simulate(acc, "BTC", T0, T0 + 60 * 24 * HOUR)
    assert_agrees(drift, history, T0)
    assert drift.liquidation_time == first_liquidation(history)


def test_no_known_funding_no_drift_and_an_account_wide_pool_gets_none():
    acc = mixed_pool()
    unknown = dataclasses.replace(acc, positions=tuple(
        dataclasses.replace(p, next_funding_time=None) if p.margin_mode is MarginMode.CROSS else p
        for p in acc.positions))
    assert pool_funding_drift(unknown, "USDT", T0) is None
    pooled = dataclasses.replace(acc, margin=AccountMargin(mode="binance multi-assets"))
    assert pooled.pooled and pool_funding_drift(pooled, "USDT", T0) is None


def test_the_report_carries_each_pool_drift_from_when_the_account_was_read():
    from desk.domain.engine import compute_risk

    acc = dataclasses.replace(mixed_pool(), data_time=T0)
    portfolio = Portfolio((acc,))
    report = with_funding_drift(portfolio, compute_risk(portfolio), now=T0 + 99 * HOUR)
    pool = report.accounts[0].pools[0]
    assert pool.funding_drift == pool_funding_drift(acc, "USDT", T0)  # data_time, not the clock
    # without a data_time, the file's as_of; without either, the caller's clock
    bare = dataclasses.replace(acc, data_time=None)
    dated = Portfolio((bare,), as_of="2027-01-15T08:00:00+00:00")  # = T0
    report = with_funding_drift(dated, compute_risk(dated), now=T0 + 99 * HOUR)
    assert report.accounts[0].pools[0].funding_drift.origin == T0
    undated = Portfolio((bare,))
    report = with_funding_drift(undated, compute_risk(undated), now=T0 + 5 * HOUR)
    assert report.accounts[0].pools[0].funding_drift.origin == T0 + 5 * HOUR
