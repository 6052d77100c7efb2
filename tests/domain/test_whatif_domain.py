"""desk.domain.whatif: the drag probe equals the engine on apply_what_if; edits book like the venue."""

from __future__ import annotations

import math

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Kind, MarginMode, Portfolio, Side
from desk.domain.position_math import pnl_at
from desk.domain.scenario import apply_what_if
from desk.domain.whatif import MarkProbe, add_account_margin, break_even_price, edit_position, find_position
from tests.support.ui_charts import CROSS, VICTIM, flash_crash_portfolio, position_risk


@pytest.fixture(scope="module")
def crash() -> Portfolio:
    """The demo flash crash's book (the portfolio the what-if panel works on)."""
    return flash_crash_portfolio()


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("key", [VICTIM, CROSS, ("demo-binance-coinm", "BTC/USD:BTC", "both"),
                                 ("demo-hyperliquid", "BTC/USDC:USDC", "both")])
@pytest.mark.parametrize("factor", [0.55, 0.9, 1.0, 1.07, 1.6])
def test_probe_equals_compute_risk_on_apply_what_if(crash: Portfolio, key: tuple[str, str, str],
                                                    factor: float) -> None:
    account, symbol, leg = key
    mark = find_position(crash, account, symbol, leg).mark_price
    price = mark * factor
    figures = MarkProbe(crash.account(account), symbol, leg).at(price)
    report = compute_risk(apply_what_if(crash, marks={symbol: price}))
    expected = position_risk(report, account, symbol, leg)
    assert _close(figures.liquidation_price, expected.liquidation_price)
    assert _close(figures.bankruptcy_price, expected.bankruptcy_price)
    assert _close(figures.distance_to_liquidation, expected.distance_to_liquidation)
    assert _close(figures.margin_ratio, expected.margin_ratio)
    assert _close(figures.unrealized_pnl, expected.unrealized_pnl)
    acc = next(a for a in report.accounts if a.name == account)
    pools = {p.settle: p.margin_ratio for p in acc.pools}
    if figures.pool_ratio is not None:
        assert _close(figures.pool_ratio, pools[expected.settle])


def test_probe_rejects_bad_price_and_unknown_position(crash: Portfolio) -> None:
    probe = MarkProbe(crash.account(VICTIM[0]), VICTIM[1])
    with pytest.raises(ValueError, match="positive"):
        probe.at(0.0)
    with pytest.raises(KeyError, match="DOGE"):
        MarkProbe(crash.account(VICTIM[0]), "DOGE/USDT:USDT")


def test_break_even_long_and_short_with_fee_zero_pnl_after_fees(crash: Portfolio) -> None:
    for p in crash.accounts[0].positions:
        price, fee_known = break_even_price(p)
        assert fee_known and p.taker_fee
        # independent check: PnL at the break-even minus the fee on opening and closing is zero
        fees = p.taker_fee * (abs(_value(p, p.entry_price)) + abs(_value(p, price)))
        assert pnl_at(p, price) - fees == pytest.approx(0.0, abs=1e-6 * _value(p, p.entry_price))
        assert (price > p.entry_price) == (p.side is Side.LONG)


def _value(p, price):  # type: ignore[no-untyped-def]
    q = p.contracts * p.contract_size
    return q * price if p.kind is Kind.LINEAR else q / price


def test_break_even_without_fee_is_entry(crash: Portfolio) -> None:
    import dataclasses

    p = dataclasses.replace(crash.accounts[0].positions[0], taker_fee=None)
    assert break_even_price(p) == (p.entry_price, False)


def test_suggestions_applied_through_edits_reach_the_target(crash: Portfolio) -> None:
    """The engine's suggestions for the victim, booked by edit_position, bring its ratio to the target."""
    target = 0.5
    account, symbol, leg = VICTIM
    victim = position_risk(compute_risk(crash, target=target), *VICTIM)
    by_action = {s.action: s for s in victim.suggestions}
    assert set(by_action) == {"add_margin", "reduce_size", "set_leverage"}
    add = by_action["add_margin"]
    assert add.reaches_target and add.amount is not None
    after = edit_position(crash, account, symbol, leg, add_margin=add.amount)
    ratio = position_risk(compute_risk(after), *VICTIM).margin_ratio
    assert ratio <= target  # rounded up to a step: one step less falls short
    short = edit_position(crash, account, symbol, leg, add_margin=add.amount - add.step)
    assert position_risk(compute_risk(short), *VICTIM).margin_ratio > target
    lev = by_action["set_leverage"]
    if lev.reaches_target:
        assert lev.leverage is not None
        after = edit_position(crash, account, symbol, leg, leverage=lev.leverage)
        ratio = position_risk(compute_risk(after), *VICTIM).margin_ratio
        assert ratio is not None and ratio <= target


def test_cross_reduce_keeps_pool_balance_and_realises_pnl(crash: Portfolio) -> None:
    account, symbol, leg = CROSS
    before = compute_risk(crash).accounts[0]
    p = find_position(crash, account, symbol, leg)
    after_p = edit_position(crash, account, symbol, leg, contracts=p.contracts / 2)
    after = compute_risk(after_p).accounts[0]
    assert after.pools[0].margin_balance == pytest.approx(before.pools[0].margin_balance, rel=1e-12)
    realised = pnl_at(p, p.mark_price) / 2
    assert after_p.account(account).wallet("USDT") == pytest.approx(
        crash.account(account).wallet("USDT") + realised, rel=1e-12)
    assert after.pools[0].maintenance_margin < before.pools[0].maintenance_margin


def test_isolated_reduce_releases_margin_in_proportion(crash: Portfolio) -> None:
    account, symbol, leg = VICTIM
    p = find_position(crash, account, symbol, leg)
    after = edit_position(crash, account, symbol, leg, contracts=p.contracts * 0.25)
    q = find_position(after, account, symbol, leg)
    assert q.isolated_margin == pytest.approx((p.isolated_margin or 0) * 0.25)
    assert q.margin_mode is MarginMode.ISOLATED
    freed = (p.isolated_margin or 0) * 0.75 + pnl_at(p, p.mark_price) * 0.75
    wallet_before = crash.account(account).wallet("USDT")
    assert after.account(account).wallet("USDT") == pytest.approx(wallet_before + freed)


def test_increase_averages_entry_and_close_removes(crash: Portfolio) -> None:
    account, symbol, leg = CROSS
    p = find_position(crash, account, symbol, leg)
    bigger = find_position(edit_position(crash, account, symbol, leg, contracts=p.contracts * 2),
                           account, symbol, leg)
    assert bigger.entry_price == pytest.approx((p.entry_price + p.mark_price) / 2)
    closed = edit_position(crash, account, symbol, leg, contracts=0)
    assert all(q.key != (symbol, leg) for q in closed.account(account).positions)


def test_bad_edits_name_the_field(crash: Portfolio) -> None:
    account, symbol, leg = VICTIM
    with pytest.raises(ValueError, match="size"):
        edit_position(crash, account, symbol, leg, contracts=-1)
    with pytest.raises(ValueError, match="leverage"):
        edit_position(crash, account, symbol, leg, leverage=0)
    with pytest.raises(ValueError, match="margin"):
        edit_position(crash, account, symbol, leg, add_margin=-1e12)
    with pytest.raises(ValueError, match="margin"):
        add_account_margin(crash, account, "USDT", -1e15)


def test_account_margin_lowers_the_pool_ratio(crash: Portfolio) -> None:
    name = CROSS[0]
    before = compute_risk(crash).accounts[0].pools[0]
    after = compute_risk(add_account_margin(crash, name, "USDT", 50_000)).accounts[0].pools[0]
    assert after.margin_balance == pytest.approx(before.margin_balance + 50_000)
    assert after.margin_ratio < before.margin_ratio  # type: ignore[operator]
