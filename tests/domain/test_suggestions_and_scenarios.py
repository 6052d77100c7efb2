"""Suggestions reach the target and nothing smaller does; what-if and the shock to liquidation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from desk.domain.engine import compute_risk, shock_to_liquidation
from desk.domain.model import Account, Portfolio, Reported
from desk.domain.position_math import pnl_at
from desk.domain.scenario import apply_what_if, stress_grid
from tests.support.risk import BTCUSDT_TIERS, account, pos

REL = 1e-9


def ratio(acc: Account, symbol: str | None = None) -> float:
    r = compute_risk(Portfolio((acc,))).accounts[0]
    if symbol is None:
        return r.pools[0].margin_ratio
    return next(p.margin_ratio for p in r.positions if p.symbol == symbol)


def suggestion(sugs, action):
    return next(s for s in sugs if s.action == action)


def close_part(acc: Account, symbol: str, contracts: float) -> Account:
    """Close `contracts` of a cross position at its mark: realised PnL goes to the wallet."""
    out = []
    wallets = dict(acc.wallets)
    for p in acc.positions:
        if p.symbol == symbol:
            wallets[p.settle] = wallets.get(p.settle, 0.0) + pnl_at(p, p.mark_price) * contracts / p.contracts
            p = dataclasses.replace(p, contracts=p.contracts - contracts)
        out.append(p)
    return dataclasses.replace(acc, wallets=wallets, positions=tuple(out))


def cross_book(wallet: float, eth_qty: float, btc_qty: float) -> Account:
    eth = pos("ETH/USDT:USDT", contracts=eth_qty, entry=3000, mark=2800, tiers=BTCUSDT_TIERS)
    btc = pos("BTC/USDT:USDT", contracts=btc_qty, entry=60_000, mark=58_000, tiers=BTCUSDT_TIERS)
    return account("binanceusdm", eth, btc, USDT=wallet)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0.01, 0.95), st.floats(10, 400), st.floats(0.5, 20), st.floats(0.2, 0.9))
def test_cross_suggestions_reach_the_target_and_nothing_smaller_does(cushion, eth_qty, btc_qty, target):
    pool = compute_risk(Portfolio((cross_book(0.0, eth_qty, btc_qty),))).accounts[0].pools[0]
    # a wallet that puts the pool between the target and liquidation
    wallet = -pool.unrealized_pnl + pool.maintenance_margin * (1 + cushion * (1 / target - 1))
    acc = cross_book(wallet, eth_qty, btc_qty)
    risk = compute_risk(Portfolio((acc,)), target=target).accounts[0]
    assume(risk.pools[0].margin_ratio > target and risk.pools[0].margin_balance > 0)
    eth = risk.positions[0]
    add = suggestion(eth.suggestions, "add_margin")
    topped = dataclasses.replace(acc, wallets={"USDT": wallet + add.amount})
    assert ratio(topped) <= target
    less = dataclasses.replace(acc, wallets={"USDT": wallet + add.amount - add.step})  # one step less
    assert ratio(less) > target
    cut = suggestion(eth.suggestions, "reduce_size")
    if cut.reaches_target:
        assert ratio(close_part(acc, "ETH/USDT:USDT", cut.contracts)) <= target
        if cut.contracts > cut.step:  # one lot less
            assert ratio(close_part(acc, "ETH/USDT:USDT", cut.contracts - cut.step)) > target
        assert cut.fraction == pytest.approx(cut.contracts / eth_qty)
    else:
        # impossible: even closing all of ETH leaves the pool above the target, and the reason says why
        assert ratio(close_part(acc, "ETH/USDT:USDT", eth_qty * (1 - 1e-12))) > target
        assert "other positions" in cut.reason


def test_reducing_size_cannot_fix_a_pool_dominated_by_another_position():
    acc = cross_book(60_000, 1, 15)  # BTC holds nearly all of the maintenance margin
    risk = compute_risk(Portfolio((acc,)), target=0.05).accounts[0]
    eth = risk.positions[0]
    cut = suggestion(eth.suggestions, "reduce_size")
    assert cut.reaches_target is False and cut.contracts is None
    assert "even closing the whole position" in cut.reason


def test_reduce_size_respects_tiers_a_smaller_position_drops_a_tier():
    # 20 BTC at 58,000 = 1.16 M notional (tier 4, 2.5 %). The smallest cut that reaches 0.1 lands in tier 3.
    p = pos("BTC/USDT:USDT", contracts=20, entry=60_000, mark=58_000, tiers=BTCUSDT_TIERS)
    acc = account("binanceusdm", p, USDT=100_000)
    risk = compute_risk(Portfolio((acc,)), target=0.1).accounts[0]
    cut = suggestion(risk.positions[0].suggestions, "reduce_size")
    assert cut.reaches_target
    after = close_part(acc, "BTC/USDT:USDT", cut.contracts)
    assert after.positions[0].contracts * 58_000 < 1_000_000  # dropped out of the 2.5 % tier
    assert ratio(after) <= 0.1 < ratio(close_part(acc, "BTC/USDT:USDT", cut.contracts - cut.step))


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit", "okx", "gate"])
@pytest.mark.parametrize("side", ["long", "short"])
def test_isolated_suggestions(venue, side):
    p = pos("BTC/USDT:USDT", contracts=2, entry=60_000, mark=57_500 if side == "long" else 62_500, side=side,
            mode="isolated", margin=6_000, tiers=BTCUSDT_TIERS, taker=0.0005, leverage=20)
    acc = account(venue, p)
    target = 0.3
    risk = compute_risk(Portfolio((acc,)), target=target).accounts[0].positions[0]
    assert risk.margin_ratio > target
    add = suggestion(risk.suggestions, "add_margin")

    def with_margin(x):
        topped = dataclasses.replace(p, isolated_margin=x)
        return ratio(dataclasses.replace(acc, positions=(topped,)), p.symbol)

    assert with_margin(6_000 + add.amount) <= target < with_margin(6_000 + add.amount - add.step)
    lev = suggestion(risk.suggestions, "set_leverage")
    assert lev.reaches_target and lev.leverage == int(lev.leverage) and lev.leverage >= 1
    entry_value = 2 * 60_000

    def at_leverage(x):
        return ratio(dataclasses.replace(acc, positions=(dataclasses.replace(
            p, isolated_margin=entry_value / x, leverage=x),)), p.symbol)

    assert at_leverage(lev.leverage) <= target
    assert at_leverage(lev.leverage + 1) > target
    cut = suggestion(risk.suggestions, "reduce_size")
    if cut.reaches_target:  # margin released in proportion: only the maintenance amount helps
        def after(closed):
            keep = (2 - closed) / 2
            return ratio(dataclasses.replace(acc, positions=(dataclasses.replace(
                p, contracts=2 - closed, isolated_margin=6_000 * keep),)), p.symbol)
        assert after(cut.contracts) <= target < after(cut.contracts - cut.step)
    else:
        assert "in proportion" in cut.reason


def test_no_suggestions_without_target_or_when_already_better():
    acc = cross_book(1_000_000, 10, 1)
    assert all(not p.suggestions for p in compute_risk(Portfolio((acc,))).accounts[0].positions)
    assert all(not p.suggestions for p in compute_risk(Portfolio((acc,)), target=0.9).accounts[0].positions)


def test_what_if_marks_then_shock():
    acc = cross_book(100_000, 10, 1)
    p = apply_what_if(Portfolio((acc,)), marks={"BTC/USDT:USDT": 50_000}, shock=-0.1)
    eth, btc = p.accounts[0].positions
    assert btc.mark_price == pytest.approx(45_000)
    assert eth.mark_price == pytest.approx(2_520)
    assert apply_what_if(Portfolio((acc,))) == Portfolio((acc,))  # nothing asked, nothing changed


def test_what_if_drops_the_exchange_figures_of_moved_accounts():
    reported = pos(contracts=1, entry=60_000, mark=59_000, mmr=0.005, reported=Reported(52_000.0))
    other = account("okx", pos(contracts=1, entry=60_000, mmr=0.005, reported=Reported(50_000.0)), name="b")
    p = apply_what_if(Portfolio((account("binanceusdm", reported, USDT=9_000), other)),
                      marks={"BTC/USDT:USDT": 58_000})
    assert all(x.reported == Reported() for a in p.accounts for x in a.positions)
    p = apply_what_if(Portfolio((account("binanceusdm", reported, USDT=9_000),)), shock=0.0)
    assert p.accounts[0].positions[0].reported.liquidation_price == 52_000.0


def test_what_if_rejects_bad_input():
    acc = cross_book(100_000, 10, 1)
    p = Portfolio((acc,))
    with pytest.raises(ValueError, match="NOPE"):
        apply_what_if(p, marks={"NOPE": 1})
    with pytest.raises(ValueError, match="greater than -1"):
        apply_what_if(p, shock=-1)


def test_shock_to_liquidation_is_the_first_uniform_move_that_liquidates():
    acc = cross_book(60_000, 30, 2)
    s = shock_to_liquidation(acc)
    assert s is not None and s < 0  # a long book dies on the way down
    at = apply_what_if(Portfolio((acc,)), shock=s).accounts[0]
    just_before = apply_what_if(Portfolio((acc,)), shock=s * (1 - 1e-9)).accounts[0]
    assert ratio(at) >= 1.0 - 1e-12
    assert ratio(just_before) < 1.0
    assert compute_risk(Portfolio((acc,))).accounts[0].shock_to_liquidation == s


def test_shock_finds_the_upward_direction_for_shorts_and_none_when_safe():
    short = pos("BTC/USDT:USDT", contracts=1, entry=60_000, side="short", mode="isolated", margin=6_000,
                mmr=0.005)
    s = shock_to_liquidation(account("binanceusdm", short))
    lp = compute_risk(Portfolio((account("binanceusdm", short),))).accounts[0].positions[0].liquidation_price
    assert s == pytest.approx(lp / 60_000 - 1, rel=1e-9) and s > 0
    safe = pos("BTC/USDT:USDT", contracts=1, entry=60_000, mode="isolated", margin=60_000, mmr=0.005)
    assert shock_to_liquidation(account("binanceusdm", safe)) is None


def test_stress_grid_shape_and_betas():
    acc = cross_book(100_000, 10, 1)
    grid = stress_grid(acc, np.linspace(-0.2, 0.2, 5), betas={"ETH": 2.0})
    assert list(grid.margin_ratio) == ["USDT"]
    ratios = grid.margin_ratio["USDT"]
    assert ratios.shape == (5,) and ratios[2] == pytest.approx(ratio(acc), rel=1e-12)
    marks = {"ETH/USDT:USDT": 2800 * 0.6, "BTC/USDT:USDT": 58_000 * 0.8}  # ETH beta 2: −40 %
    moved = apply_what_if(Portfolio((acc,)), marks=marks)
    assert ratios[0] == pytest.approx(ratio(moved.accounts[0]), rel=1e-12)
    assert math.isfinite(ratios[-1])


def test_a_pool_target_next_to_zero_asks_for_no_infinite_amount() -> None:
    # found by the fuzz of `desk risk --target`: MM ÷ 2.2e-308 overflowed to inf and crashed
    from desk.domain.suggest import add_margin

    s = add_margin(maintenance=1_000.0, balance=5_000.0, target=2.2250738585072014e-308, currency="USDT")
    assert not s.reaches_target and s.amount is None
    assert s.reason == "no finite amount of margin reaches the target"
