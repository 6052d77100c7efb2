"""Suggestions answer the alert thresholds: back to the target distance from liquidation AND the
target margin ratio, whichever is stricter, rounded to steps a trader can type (currency amounts
at three significant figures, sizes in the venue's lots; COIN-M in whole contracts).

Each expected amount is derived here by hand from the liquidation-price equation (risk-math.md
§1.1 for linear, §2 for inverse), independently of desk.domain.suggest; then the suggestion is
re-run through the engine: it reaches the goal and one step less does not.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Account, Portfolio
from desk.domain.report import PositionRisk, Suggestion
from desk.domain.suggest import amount_step
from tests.support.risk import account, pos


def ceil_to(x: float, step: float) -> float:
    return math.ceil(x / step - 1e-9) * step


def first(p: PositionRisk, action: str) -> Suggestion:
    return next(s for s in p.suggestions if s.action == action)


def position_risk(acc: Account, **goal: float) -> PositionRisk:
    return compute_risk(Portfolio((acc,)), **goal).accounts[0].positions[0]


def meets(acc: Account, ratio: float, distance: float) -> bool:
    p = position_risk(acc)
    return p.margin_ratio <= ratio and p.distance_to_liquidation >= distance


# ------------------------------------------------------------ Binance USDⓈ-M, isolated long

Q, EP, MARK, MMR, IM = 2.0, 60_000.0, 57_000.0, 0.005, 9_000.0


def usdm_isolated(margin: float = IM) -> Account:
    p = pos("BTC/USDT:USDT", contracts=Q, entry=EP, mark=MARK, mode="isolated", margin=margin, mmr=MMR,
            leverage=20, lot_size=0.001)
    return account("binanceusdm", p)


def test_a_row_far_inside_the_ratio_target_but_close_to_liquidation_gets_suggestions():
    acc = usdm_isolated()
    risk = position_risk(acc)
    assert risk.margin_ratio < 0.5 and risk.distance_to_liquidation < 0.05  # critical on distance
    assert position_risk(acc, target=0.5).suggestions == ()  # the ratio alone sees nothing to do
    assert position_risk(acc, target=0.5, target_distance=0.10).suggestions != ()


def test_usdm_isolated_add_margin_reaches_the_distance_goal_derived_by_hand():
    distance, ratio = 0.10, 0.5
    # liquidation of an isolated long (§1.1, one tier, no maintenance amount):
    #   IM + Q(L − EP) = MMR·Q·L  →  L = (Q·EP − IM) ÷ (Q(1 − MMR))
    # L ≤ MARK(1 − D)  ⇔  IM ≥ Q·EP − Q(1 − MMR)·MARK(1 − D)
    needed_for_distance = Q * EP - Q * (1 - MMR) * MARK * (1 - distance)  # 17,913
    # ratio: MMR·Q·MARK ÷ (IM + Q(MARK − EP)) ≤ R
    needed_for_ratio = MMR * Q * MARK / ratio - Q * (MARK - EP)  # 7,140
    exact = max(needed_for_distance, needed_for_ratio) - IM  # 8,913: the distance is stricter
    assert exact == pytest.approx(8_913.0)
    add = first(position_risk(usdm_isolated(), target=ratio, target_distance=distance), "add_margin")
    assert add.reaches_target and add.currency == "USDT" and add.step == 10
    assert add.amount == pytest.approx(ceil_to(exact, 10)) == pytest.approx(8_920.0)
    assert add.target_distance == distance and add.target_margin_ratio == ratio
    assert meets(usdm_isolated(IM + add.amount), ratio, distance)
    assert not meets(usdm_isolated(IM + add.amount - add.step), ratio, distance)


def test_usdm_isolated_leverage_is_the_largest_whole_one_that_reaches_the_goal():
    distance, ratio = 0.10, 0.5
    lev = first(position_risk(usdm_isolated(), target=ratio, target_distance=distance), "set_leverage")
    needed = Q * EP - Q * (1 - MMR) * MARK * (1 - distance)  # margin = entry value ÷ leverage
    assert lev.reaches_target and lev.leverage == math.floor(Q * EP / needed) == 6
    assert meets(usdm_isolated(Q * EP / lev.leverage), ratio, distance)
    assert not meets(usdm_isolated(Q * EP / (lev.leverage + 1)), ratio, distance)


def test_usdm_isolated_reduce_says_plainly_why_it_cannot_help():
    cut = first(position_risk(usdm_isolated(), target=0.5, target_distance=0.10), "reduce_size")
    assert cut.reaches_target is False and cut.contracts is None
    assert "in proportion" in cut.reason


# ------------------------------------------------------------ Binance COIN-M (inverse), 100 USD contracts

N, CS, W = 300.0, 100.0, 0.06  # 30,000 USD of BTC; wallet 0.06 BTC; cross


def coinm(contracts: float = N, wallet: float = W, mode: str = "cross", margin: float | None = None,
          lot_size: float | None = None) -> Account:
    p = pos("BTC/USD:BTC", contracts=contracts, contract_size=CS, entry=EP, mark=MARK, mode=mode, mmr=MMR,
            margin=margin, leverage=20, lot_size=lot_size)
    return account("binancecoinm", p, BTC=wallet if mode == "cross" else 0.0)


def close_at_mark(contracts_closed: float) -> Account:
    """Close part of the COIN-M long at the mark: the realised PnL (in BTC) stays in the wallet."""
    realised = contracts_closed * CS * (1 / EP - 1 / MARK)
    return coinm(N - contracts_closed, W + realised)


def test_coinm_cross_reduce_is_whole_contracts_derived_by_hand():
    distance, ratio = 0.20, 0.5
    risk = position_risk(coinm(), target=ratio, target_distance=distance)
    assert risk.distance_to_liquidation < distance
    # inverse long, cross, one position (§2): W + N·CS/EP − N·CS(1 + MMR)/L = 0
    # after closing c at the mark: W' = W + c·CS(1/EP − 1/MARK), N' = N − c; with K = MARK(1 − D),
    # L' ≤ K  ⇔  c ≥ [N·CS(1 + MMR) − K·W − K·N·CS/EP] ÷ [CS(MMR + D)]
    k = MARK * (1 - distance)
    c_distance = (N * CS * (1 + MMR) - k * W - k * N * CS / EP) / (CS * (MMR + distance))
    balance = W + N * CS * (1 / EP - 1 / MARK)  # unchanged by closing at the mark
    c_ratio = N - ratio * balance * MARK / (MMR * CS)  # MMR·N'·CS/MARK ≤ R·balance
    exact = max(c_distance, c_ratio)
    assert 0 < exact < N and exact != int(exact)
    cut = first(risk, "reduce_size")
    assert cut.reaches_target and cut.step == 1.0  # no lot size given: inverse trades whole contracts
    assert cut.contracts == math.ceil(exact)
    assert meets(close_at_mark(cut.contracts), ratio, distance)
    assert not meets(close_at_mark(cut.contracts - 1), ratio, distance)


def test_coinm_cross_add_margin_is_in_btc_derived_by_hand():
    distance, ratio = 0.20, 0.5
    add = first(position_risk(coinm(), target=ratio, target_distance=distance), "add_margin")
    k = MARK * (1 - distance)
    # L ≤ K  ⇔  W ≥ N·CS(1 + MMR)/K − N·CS/EP
    exact = max(N * CS * (1 + MMR) / k - N * CS / EP,
                MMR * N * CS / MARK / ratio - N * CS * (1 / EP - 1 / MARK)) - W
    assert exact == pytest.approx(0.101184, abs=1e-6)
    assert add.currency == "BTC" and add.step == amount_step(exact) == pytest.approx(0.001)
    assert add.amount == pytest.approx(ceil_to(exact, add.step)) == pytest.approx(0.102)
    assert meets(coinm(wallet=W + add.amount), ratio, distance)
    assert not meets(coinm(wallet=W + add.amount - add.step), ratio, distance)


def test_coinm_isolated_add_margin_and_leverage_derived_by_hand():
    distance, ratio, im = 0.10, 0.5, 0.01
    acc = coinm(mode="isolated", margin=im)
    risk = position_risk(acc, target=ratio, target_distance=distance)
    # L = N·CS(1 + MMR) ÷ (IM + N·CS/EP) ≤ K  ⇔  IM ≥ N·CS(1 + MMR)/K − N·CS/EP
    k = MARK * (1 - distance)
    needed = max(N * CS * (1 + MMR) / k - N * CS / EP,
                 MMR * N * CS / MARK / ratio - N * CS * (1 / EP - 1 / MARK))
    add = first(risk, "add_margin")
    assert add.amount == pytest.approx(ceil_to(needed - im, amount_step(needed - im)))
    assert meets(coinm(mode="isolated", margin=im + add.amount), ratio, distance)
    assert not meets(coinm(mode="isolated", margin=im + add.amount - add.step), ratio, distance)
    lev = first(risk, "set_leverage")
    entry_value = N * CS / EP  # 0.5 BTC
    assert lev.leverage == math.floor(entry_value / needed)
    assert meets(coinm(mode="isolated", margin=entry_value / lev.leverage), ratio, distance)
    assert not meets(coinm(mode="isolated", margin=entry_value / (lev.leverage + 1)), ratio, distance)


def test_reduce_size_follows_the_venue_lot_size():
    distance, ratio = 0.20, 0.5
    risk = position_risk(coinm(lot_size=10.0), target=ratio, target_distance=distance)
    cut = first(risk, "reduce_size")
    whole = first(position_risk(coinm(), target=ratio, target_distance=distance), "reduce_size")
    assert cut.step == 10.0 and cut.contracts == ceil_to(whole.contracts, 10.0)
    assert meets(close_at_mark(cut.contracts), ratio, distance)
    assert not meets(close_at_mark(cut.contracts - 10.0), ratio, distance)


def test_a_past_liquidation_position_still_gets_a_fix():
    acc = usdm_isolated(margin=5_000.0)  # liquidation above the mark: the exchange may close it now
    risk = position_risk(acc, target=0.5, target_distance=0.10)
    assert risk.liquidatable
    add = first(risk, "add_margin")
    assert add.reaches_target and meets(usdm_isolated(5_000.0 + add.amount), 0.5, 0.10)


def test_the_cross_wallet_holds_the_added_margin_not_the_position():
    acc = coinm()
    add = first(position_risk(acc, target=0.5, target_distance=0.20), "add_margin")
    topped = dataclasses.replace(acc, wallets={"BTC": W + add.amount})
    assert position_risk(topped).distance_to_liquidation >= 0.20
