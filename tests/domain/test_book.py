"""The whole book (issue 21): exposure, hedges and their break prices, the margin transfer, the
book's stress curve — checked against figures derived by hand here (risk-math.md §1.1, single
position, one tier, no fee: LP = (WB + cum − s·Q·EP) ÷ (Q·MMR − s·Q)), never the module's own output.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from desk.domain.book import compute_book, hedges_near_break
from desk.domain.engine import compute_risk
from desk.domain.model import SpotBalance
from desk.domain.scenario import apply_what_if
from tests.support.risk import account, portfolio, pos

MMR = 0.004


def lp(wallet: float, side: int, q: float, entry: float) -> float:
    """§1.1 for one cross position, one tier (cum 0), no fee."""
    return (wallet - side * q * entry) / (q * MMR - side * q)


def two_venues(long_wallet: float = 10_000.0, short_wallet: float = 6_000.0, spot: float = 0.0):
    """A Binance long of 2 BTC hedged by a short of 2 BTC on another account, both at 60,000."""
    long = account("binanceusdm", pos(contracts=2, entry=60_000, mmr=MMR), name="binance-long",
                   USDT=long_wallet)
    short = account("binanceusdm", pos(contracts=2, entry=60_000, side="short", mmr=MMR), name="bybit-short",
                    USDT=short_wallet)
    if spot:
        long = dataclasses.replace(long, spot=(SpotBalance("BTC", spot, 60_000.0),))
    return portfolio(long, short)


def test_break_price_is_the_first_legs_liquidation_price_by_hand():
    book = compute_book(two_venues())
    (hedge,) = book.hedges
    long_lp = lp(10_000, +1, 2, 60_000)  # 55,220.88: 7.97 % below
    short_lp = lp(6_000, -1, 2, 60_000)  # 62,749.00: 4.58 % above — nearer, so it breaks first
    assert hedge.long.liquidation_price == pytest.approx(long_lp, rel=1e-12)
    assert hedge.breaks == "short"
    assert hedge.break_price == pytest.approx(short_lp, rel=1e-12)
    assert hedge.break_price == pytest.approx(62_749.0039841, rel=1e-9)
    assert hedge.break_distance == pytest.approx(short_lp / 60_000 - 1, rel=1e-12)
    assert hedge.survivor is hedge.long and hedge.hedged_coin == 2
    assert "the binance-long BTC/USDT:USDT long of 2 BTC is then unhedged" in hedge.text()
    assert hedge.text().startswith("at BTC 62,749 the bybit-short BTC/USDT:USDT short is liquidated")


def test_exposure_nets_long_and_short_legs_in_coin_and_usd_with_inverse_in_coin_terms():
    coinm = account("binancecoinm", pos("BTC/USD:BTC", contracts=300, contract_size=100, entry=60_500,
                                        mark=62_000, mmr=MMR), name="coinm", BTC=0.1)
    book = compute_book(portfolio(*two_venues(spot=1.5).accounts, coinm))
    (btc,) = book.exposures
    inverse_coin = 300 * 100 / 62_000  # contracts × size ÷ price = 0.48387 BTC
    assert btc.long_coin == pytest.approx(2 + 1.5 + inverse_coin, rel=1e-12)
    assert btc.short_coin == pytest.approx(2.0)
    assert btc.net_coin == pytest.approx(1.5 + inverse_coin, rel=1e-12)
    assert btc.long_usd == pytest.approx(2 * 60_000 + 1.5 * 60_000 + 30_000, rel=1e-12)
    assert btc.net_usd == pytest.approx(1.5 * 60_000 + 30_000, rel=1e-12)
    kinds = sorted(leg.kind for leg in btc.legs)
    assert kinds == ["inverse", "linear", "linear", "spot"]


def test_spot_against_a_perpetual_short_of_the_same_account_is_a_hedge():
    acc = account("binanceusdm", pos(contracts=1, entry=60_000, side="short", mmr=MMR), name="basis",
                  USDT=3_000)
    acc = dataclasses.replace(acc, spot=(SpotBalance("BTC", 1.0, 60_000.0),))
    (hedge,) = compute_book(portfolio(acc)).hedges
    assert hedge.long.kind == "spot" and hedge.short.kind == "linear"
    assert hedge.breaks == "short"  # spot is never liquidated
    assert hedge.break_price == pytest.approx(lp(3_000, -1, 1, 60_000), rel=1e-12)  # 62,874.75


def test_legs_of_one_account_are_not_a_hedge():
    acc = account("binanceusdm", pos(contracts=1, entry=60_000, mmr=MMR, leg="long", side="long"),
                  pos(contracts=1, entry=60_000, mmr=MMR, leg="short", side="short"), name="one", USDT=5_000)
    assert compute_book(portfolio(acc)).hedges == ()


def equity_usd(report, name: str) -> float:
    """An account's equity from the engine's account figures (USDT = 1 USD)."""
    acc = next(a for a in report.accounts if a.name == name)
    return sum(e.total for e in acc.equity())


@pytest.mark.parametrize("shock", [-0.07, -0.03, 0.0, 0.02, 0.04])
def test_book_pnl_is_the_sum_of_the_accounts_figures_where_nothing_is_liquidated(shock):
    p = two_venues(spot=0.5)
    stress = compute_book(p).stress_of("uniform")
    i = stress.at(shock)
    assert stress.shocks[i] == pytest.approx(shock)
    before = compute_risk(p)
    after = compute_risk(apply_what_if(p, shock=float(stress.shocks[i])))
    for name in ("binance-long", "bybit-short"):
        expected = equity_usd(after, name) - equity_usd(before, name)
        if name == "binance-long":
            expected += 0.5 * 60_000 * stress.shocks[i]  # its spot balance
        assert stress.account_pnl_usd[name][i] == pytest.approx(expected, rel=1e-9, abs=1e-6)
    total = sum(arr[i] for arr in stress.account_pnl_usd.values())
    assert stress.pnl_usd[i] == pytest.approx(total, rel=1e-12, abs=1e-9)
    # by hand: the two perp legs cancel; the spot half BTC is what moves the book
    assert stress.pnl_usd[i] == pytest.approx(0.5 * 60_000 * shock, abs=1e-6)
    assert stress.first_liquidated[i] is None


def test_once_a_leg_is_liquidated_the_book_is_no_longer_flat():
    stress = compute_book(two_venues()).stress_of("uniform")
    up = stress.at(0.05)  # beyond the short's 62,749 (+4.58 %): its whole 6,000 USDT is gone
    assert stress.first_liquidated[up] == "bybit-short USDT pool"
    assert stress.account_pnl_usd["bybit-short"][up] == pytest.approx(-6_000.0)
    assert stress.account_pnl_usd["binance-long"][up] == pytest.approx(2 * 60_000 * 0.05)
    assert stress.pnl_usd[up] == pytest.approx(6_000 - 6_000 + 0.0, abs=1e-6)
    far = stress.at(0.30)
    assert stress.pnl_usd[far] == pytest.approx(2 * 60_000 * 0.30 - 6_000)
    down = stress.at(-0.08)  # beyond the long's 55,220.88 (−7.97 %)
    assert stress.first_liquidated[down] == "binance-long USDT pool"
    assert stress.pnl_usd[down] == pytest.approx(-10_000 + 2 * 60_000 * 0.08)
    # a flat book that stayed flat would show 0 everywhere
    assert np.count_nonzero(np.abs(stress.pnl_usd) > 1) > 50


def test_beta_move_scales_each_asset():
    eth = account("binanceusdm", pos("ETH/USDT:USDT", contracts=10, entry=3_000, mmr=MMR), name="eth",
                  USDT=100_000)
    book = compute_book(portfolio(eth), betas={"ETH": 1.5})
    uniform, beta = book.stress_of("uniform"), book.stress_of("beta")
    i = beta.at(-0.10)
    assert uniform.pnl_usd[i] == pytest.approx(10 * 3_000 * -0.10)
    assert beta.pnl_usd[i] == pytest.approx(10 * 3_000 * -0.15)


def test_transfer_moves_the_spare_margin_of_one_leg_to_the_other_by_hand():
    book = compute_book(two_venues(long_wallet=30_000), move=0.10)
    (hedge,) = book.hedges
    t = hedge.transfer
    # short at +10 %: equity 6,000 − 2 × 6,000 = −6,000, MM 0.004 × 2 × 66,000 = 528 → needs 6,528;
    # long at −10 %: equity 30,000 − 12,000 = 18,000, MM 432 → 17,568 to spare
    assert (t.to_account, t.source) == ("bybit-short", "binance-long")
    assert (t.currency, t.source_currency) == ("USDT", "USDT")
    assert t.amount == 6_530.0 and t.source_amount == 6_530.0 and t.reaches
    # after the move, neither leg is liquidated within ±10 %
    moved = compute_book(two_venues(long_wallet=30_000 - 6_530, short_wallet=6_000 + 6_530), move=0.10)
    (after,) = moved.hedges
    assert after.transfer is None
    assert lp(12_530, -1, 2, 60_000) > 66_000 and lp(23_470, +1, 2, 60_000) < 54_000


def test_transfer_says_when_the_other_leg_cannot_cover_it():
    (hedge,) = compute_book(two_venues(), move=0.10).hedges
    t = hedge.transfer
    assert t.to_account == "bybit-short" and not t.reaches
    assert t.source is None  # the long needs 2,432 USDT itself (equity −2,000, MM 432 at −10 %)
    assert t.shortfall_usd == pytest.approx(6_530.0)


def test_hedges_near_break_use_the_warning_distance():
    book = compute_book(two_venues())
    assert hedges_near_break(book, 0.05) == book.hedges  # 4.58 % ≤ 5 %
    assert hedges_near_break(book, 0.04) == ()


def test_one_instrument_cross_and_isolated_are_two_legs_with_their_own_liquidation_prices():
    """OKX lets one account hold an instrument cross and isolated at once: each leg keeps its own
    figures (they were matched by account, symbol and leg only, so one took the other's price)."""
    both = account("binanceusdm", pos(contracts=1, entry=60_000, mmr=MMR),
                   pos(contracts=1, entry=60_000, mmr=MMR, mode="isolated", margin=3_000.0),
                   name="okx-both", USDT=10_000.0)
    short = account("binanceusdm", pos(contracts=2, entry=60_000, side="short", mmr=MMR), name="short",
                    USDT=6_000.0)
    book = compute_book(portfolio(both, short))
    legs = {(leg.account, leg.side, leg.liquidation_price) for h in book.hedges for leg in (h.long, h.short)}
    cross_lp = lp(10_000, +1, 1, 60_000)
    isolated_lp = (60_000 - 3_000) / (1 - MMR)  # margin + Q·(P − EP) = MMR·Q·P, Q = 1
    prices = sorted(p for a, s, p in legs if a == "okx-both")
    assert prices == pytest.approx(sorted([cross_lp, isolated_lp]), rel=1e-12)


def test_the_book_takes_the_callers_report_and_gives_the_same_book():
    p = two_venues(spot=0.5)
    given, own = compute_book(p, risk=compute_risk(p)), compute_book(p)
    assert (given.exposures, given.hedges, given.warnings) == (own.exposures, own.hedges, own.warnings)
    assert given.hedges and given.hedges[0].transfer is not None
    for a, b in zip(given.stress, own.stress, strict=True):
        for field in dataclasses.fields(a):
            np.testing.assert_equal(getattr(a, field.name), getattr(b, field.name), err_msg=field.name)
