"""Funding drift of the liquidation price (issue 17), against Bybit's example and a stepped simulation."""

from __future__ import annotations

import dataclasses
import math

import pytest

from desk.domain.engine import compute_risk
from desk.domain.funding import funding_drift, funding_payment
from desk.domain.model import Portfolio
from tests.support.risk import account, pos


def bybit_example(**kw):
    # risk-math.md §3.1 / §7.2: long 1 BTC @ 20,000, 50x, MMR 0.5 % → IM 400, MM 100 → LP 19,700
    return account("bybit", pos("BTC/USDT:USDT", contracts=1, entry=20_000, mark=20_000, mode="isolated",
                                margin=400, mmr=0.005, leverage=50, **kw), USDT=0.0)


def test_bybit_example_3_two_hundred_of_funding_moves_the_liquidation_to_19900():
    acc = bybit_example()
    assert compute_risk(Portfolio((acc,))).accounts[0].positions[0].liquidation_price == pytest.approx(19_700)
    # 0.01 % a payment on 20,000 of value: 2 USDT; 100 payments = the example's 200 USDT
    drift = funding_drift(acc, "BTC/USDT:USDT", "both", 0.0001, counts=(1, 3, 24, 100))
    assert drift.payment == pytest.approx(2.0)
    after = dict(drift.liquidation_after)
    assert after[100] == pytest.approx(19_900)
    assert after[1] == pytest.approx(19_702) and after[3] == pytest.approx(19_706)
    # at the mark 20,000: margin 400 + uPnL 0 − MM 100 = 300 of slack, 2 a payment
    assert drift.payments_to_liquidation == pytest.approx(150)


def test_a_short_receives_a_positive_rate_and_its_liquidation_moves_away():
    acc = account("bybit", pos("BTC/USDT:USDT", contracts=1, entry=20_000, mark=20_000, side="short",
                               mode="isolated", margin=400, mmr=0.005, leverage=50), USDT=0.0)
    drift = funding_drift(acc, "BTC/USDT:USDT", "both", 0.0001, counts=(24,))
    assert drift.payment == pytest.approx(-2.0)
    assert dict(drift.liquidation_after)[24] == pytest.approx(20_300 + 48)
    assert drift.payments_to_liquidation is None


@pytest.mark.parametrize("venue,mode,kind", [
    ("binanceusdm", "isolated", "linear"),
    ("okx", "cross", "linear"),
    ("binancecoinm", "isolated", "inverse"),
])
def test_stepped_simulation_agrees(venue, mode, kind):
    """Pay one interval at a time, re-reading the engine each step, as the venue would."""
    if kind == "inverse":
        p = pos("BTC/USD:BTC", contracts=100, contract_size=100, entry=60_000, mark=58_000, mode=mode,
                margin=0.02 if mode == "isolated" else None, mmr=0.004, taker=0.0005)
        acc = account(venue, p, BTC=0.0 if mode == "isolated" else 0.02)
        symbol = "BTC/USD:BTC"
    else:
        p = pos("ETH/USDT:USDT", contracts=10, entry=3_000, mark=2_900, mode=mode,
                margin=1_500 if mode == "isolated" else None, mmr=0.005, taker=0.0005)
        acc = account(venue, p, USDT=0.0 if mode == "isolated" else 1_500)
        symbol = "ETH/USDT:USDT"
    rate = 0.0003
    drift = funding_drift(acc, symbol, "both", rate)
    payment = funding_payment(acc.positions[0], rate)
    stepped = acc
    seen = {}
    steps = 0
    while steps < 100_000:
        r = compute_risk(Portfolio((stepped,))).accounts[0].positions[0]
        if steps in (1, 3, 24):
            seen[steps] = r.liquidation_price
        if r.margin_ratio is not None and r.margin_ratio >= 1.0:
            break
        held = stepped.positions[0]
        if mode == "isolated":
            stepped = dataclasses.replace(stepped, positions=(
                dataclasses.replace(held, isolated_margin=held.isolated_margin - payment),))
        else:
            wallets = dict(stepped.wallets)
            wallets[held.settle] -= payment
            stepped = dataclasses.replace(stepped, wallets=wallets)
        steps += 1
    for n, liq in drift.liquidation_after:
        assert liq == pytest.approx(seen[n], rel=1e-9)
    # the stepped count crosses margin ratio 1.0 at the first whole payment past the fractional figure
    assert steps == math.ceil(drift.payments_to_liquidation - 1e-9)


def test_an_instrument_held_cross_and_isolated_drifts_each_on_its_own_margin():
    """OKX twins: the isolated one pays from its own 3,000 USDT, by hand (one tier, no fee:
    margin − n·payment + Q·(P − EP) = MMR·Q·P), never from the cross pool's wallet."""
    from desk.domain.funding import position_funding_drift

    cross = pos(contracts=1, entry=60_000, mmr=0.004, funding_rate=0.001)
    isolated = pos(contracts=1, entry=60_000, mmr=0.004, mode="isolated", margin=3_000.0, funding_rate=0.001)
    acc = account("binanceusdm", cross, isolated, USDT=10_000.0)
    payment = 60.0  # 1 × 60,000 × 0.001, longs pay
    mine = funding_drift(acc, "BTC/USDT:USDT", "both", 0.001, margin_mode="isolated")
    for n, liquidation in mine.liquidation_after:
        assert liquidation == pytest.approx((60_000 - (3_000 - n * payment)) / (1 - 0.004), rel=1e-12)
    pooled = funding_drift(acc, "BTC/USDT:USDT", "both", 0.001, margin_mode="cross")
    for n, liquidation in pooled.liquidation_after:
        # the cross pool: wallet − n·payment + Q·(P − EP) = MMR·Q·P
        assert liquidation == pytest.approx((60_000 - (10_000 - n * payment)) / (1 - 0.004), rel=1e-12)
    risks = compute_risk(Portfolio((acc,))).accounts[0].positions
    by_mode = {r.margin_mode: position_funding_drift(acc, r) for r in risks}
    assert by_mode["isolated"] == mine and by_mode["cross"] == pooled
