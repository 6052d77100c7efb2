"""The demo's pooled accounts under the dashboard's distance goal (alerts.distance_warning, which the
monitor passes as ``target_distance``): calm leaves the Bybit UTA long 22 % from liquidation (no
fix); at the bottom of the flash crash it is nearer than 10 % and gets its fixes — each one, applied
to the account, puts the liquidation (BTC collateral moving with the price) on the goal."""

from __future__ import annotations

import dataclasses

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Account, Portfolio
from desk.domain.scalar import compute_risk_scalar
from desk.store.settings import OPTIONS_BY_KEY
from tests.support.demo import manual_market

GOAL = OPTIONS_BY_KEY["alerts.distance_warning"].default  # the dashboard's goal out of the box


def _position(account: Account, *, scalar: bool = False, **goal: float):  # type: ignore[no-untyped-def]
    compute = compute_risk_scalar if scalar else compute_risk
    (p,) = compute(Portfolio((account,)), **goal).accounts[0].positions
    return p


def test_calm_keeps_the_pooled_accounts_beyond_the_goal() -> None:
    market = manual_market("calm", seed=11)
    for name in ("demo-bybit-uta", "demo-binance-multi"):
        risk = compute_risk(Portfolio((market.account(name),)), target_distance=GOAL).accounts[0]
        assert all(p.distance_to_liquidation > GOAL and p.suggestions == () for p in risk.positions)


def test_the_flash_crash_brings_the_uta_long_inside_the_goal_and_each_fix_puts_it_back() -> None:
    assert GOAL == 0.10
    market = manual_market("flash-crash", seed=11)
    market.advance_to(2400)  # BTC 15 % down
    account = market.account("demo-bybit-uta")
    now = _position(account, target_distance=GOAL)
    assert now.distance_to_liquidation < GOAL
    fixes = {s.currency or s.action: s for s in now.suggestions}
    assert fixes.keys() == {"USDT", "BTC", "reduce_size"}
    assert all(s.reaches_target and s.moves_with == "BTC" for s in fixes.values())
    assert fixes["BTC"].haircut == pytest.approx(0.05, abs=1e-12)  # Bybit's first BTC tier, 0.95
    margin = account.margin
    (position,) = account.positions

    def add(asset: str, extra: float) -> Account:
        moved = tuple(dataclasses.replace(c, amount=c.amount + extra) if c.asset == asset else c
                      for c in margin.collateral)
        return dataclasses.replace(account, margin=dataclasses.replace(margin, collateral=moved))

    def close(contracts: float) -> Account:
        realised = contracts * (position.mark_price - position.entry_price)  # a long, linear
        smaller = dataclasses.replace(position, contracts=position.contracts - contracts)
        return dataclasses.replace(add("USDT", realised), positions=(smaller,))

    goal_price = position.mark_price * (1 - GOAL)
    cut = fixes["reduce_size"].contracts
    for fixed, short in ((add("USDT", fixes["USDT"].amount), add("USDT", 0.999 * fixes["USDT"].amount)),
                         (add("BTC", fixes["BTC"].amount), add("BTC", 0.999 * fixes["BTC"].amount)),
                         (close(cut), close(0.999 * cut))):
        for scalar in (False, True):
            assert _position(fixed, scalar=scalar).liquidation_price == pytest.approx(goal_price, rel=1e-9)
            assert _position(short, scalar=scalar).distance_to_liquidation < GOAL
