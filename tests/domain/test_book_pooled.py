"""The whole book's stress curve with an account whose venue pools collateral (issue 16 × 21): the
pool is one unit — its P&L is its total equity's change, BTC collateral moving with the shock, and it
is liquidated where the pool is, not where its USDT wallet alone would be. Derived by hand on the
demo's Bybit UTA account (USDT + BTC collateral, a BTC long)."""

from __future__ import annotations

import numpy as np
import pytest

from desk.domain.book import compute_book
from desk.domain.model import Portfolio
from desk.exchanges.demo.catalog import ACCOUNTS
from tests.support.demo import manual_market


def _uta() -> tuple[Portfolio, float, float]:
    market = manual_market("calm", seed=11)
    account = market.account("demo-bybit-uta")
    return Portfolio((account,)), account.positions[0].mark_price, market.asset_price("BTC")


def test_a_pooled_account_is_one_unit_worth_its_total_equity_with_its_collateral_moving():
    portfolio, mark, index = _uta()
    held = next(a for a in ACCOUNTS if a.name == "demo-bybit-uta")
    (h,) = held.positions
    shocks = np.array([-0.10, -0.05, 0.0, 0.03, 0.10])
    book = compute_book(portfolio, shocks=shocks)
    stress = book.stress[0]  # the uniform curve
    assert book.warnings == () and stress.units == ("demo-bybit-uta USD pool",)

    def total_equity(s: float) -> float:  # USDT wallet + the long's PnL + BTC at its moved index
        return held.wallets["USDT"] + h.contracts * (mark * (1 + s) - h.entry_price) + \
            held.wallets["BTC"] * index * (1 + s)

    expected = [total_equity(s) - total_equity(0.0) for s in shocks]
    np.testing.assert_allclose(stress.pnl_usd, expected, rtol=1e-12, atol=1e-9)
    assert stress.first_liquidated == (None,) * len(shocks)


def test_the_pool_is_liquidated_where_its_whole_margin_is_gone():
    portfolio, mark, index = _uta()
    held = next(a for a in ACCOUNTS if a.name == "demo-bybit-uta")
    (h,) = held.positions
    entry_value = h.contracts * h.entry_price
    taker = portfolio.accounts[0].positions[0].taker_fee
    mm = entry_value * 0.005 + entry_value * (1 - 1 / h.leverage) * taker  # UTA: on the entry value
    # margin balance (BTC at Bybit's 0.95) = MM, every BTC price moved by (1 + s): linear in s
    at_zero = held.wallets["USDT"] + h.contracts * (mark - h.entry_price) + held.wallets["BTC"] * index * 0.95
    slope = h.contracts * mark + held.wallets["BTC"] * index * 0.95
    s_liq = (mm - at_zero) / slope
    assert -0.30 < s_liq < -0.15  # far beyond the 500 USDT wallet alone (≈ −1 %)
    shocks = np.array([s_liq + 0.005, 0.0, s_liq - 0.005])
    stress = compute_book(portfolio, shocks=shocks).stress[0]  # the uniform curve
    assert stress.first_liquidated == (None, None, "demo-bybit-uta USD pool")
    # liquidated on the way: its whole total equity at 0 is lost
    assert stress.pnl_usd[2] == pytest.approx(-(held.wallets["USDT"] + h.contracts * (mark - h.entry_price)
                                                + held.wallets["BTC"] * index), rel=1e-12)


def test_no_transfer_is_sized_into_a_pool_of_several_coins():
    """The UTA's 500 USDT alone would need margin within ±20 %; its pool (BTC collateral too) does
    not, and desk does not size a transfer into a pool of several coins: none is suggested to it."""
    market = manual_market("calm", seed=11)
    book = compute_book(market.portfolio())
    with_uta = [h for h in book.hedges if "demo-bybit-uta" in (h.long.account, h.short.account)]
    assert with_uta  # the UTA long is paired with another account's BTC short
    for hedge in with_uta:
        assert hedge.transfer is None or "demo-bybit-uta" not in (hedge.transfer.to_account,
                                                                  hedge.transfer.source)


def test_an_account_desk_cannot_recompute_is_never_called_liquidated_and_moves_with_its_marks():
    """Bybit UTA portfolio margin (docs/examples/unified-accounts.json: 10,000 USDT behind a 1 BTC
    long at 60,000): its margin comes from Bybit's unpublished scenario engine. The book was treating
    it as a plain USDT pool with an empty wallet — "first liquidated" at every move, even +50 %. Now:
    its P&L is the long's move by hand, 1 × 60,000 × s, and no move names it liquidated."""
    from pathlib import Path

    from desk.formats import load_portfolio

    example = load_portfolio(Path(__file__).resolve().parents[2] / "docs/examples/unified-accounts.json")
    pm = example.account("bybit-portfolio-margin")
    (long,) = pm.positions
    assert (long.contracts * long.contract_size, long.mark_price) == (1.0, 60_000.0)
    book = compute_book(Portfolio((pm,)))
    for stress in book.stress:
        assert all(first is None for first in stress.first_liquidated), stress.first_liquidated
        factor = 1 + stress.shocks * (stress.betas.get("BTC", 1.0) if stress.mode == "beta" else 1.0)
        np.testing.assert_allclose(stress.pnl_usd, 60_000.0 * (np.maximum(factor, 1e-3) - 1.0), rtol=1e-12,
                                   atol=1e-9)
    assert any("bybit-portfolio-margin: desk cannot recompute" in w and "liquidated is unknown" in w
               for w in book.warnings), book.warnings
