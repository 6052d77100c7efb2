"""The one formatter (desk.domain.display) and the figures it reads from the domain: the signed
distance to liquidation and an account's equity (issue 15)."""

from __future__ import annotations

import math

import pytest

from desk.domain import display
from desk.domain.engine import compute_risk
from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position, Side, Tier
from desk.domain.report import signed_distance
from desk.domain.whatif import MarkProbe


def test_ratios_are_percent_and_an_exhausted_margin_is_at_least_100_percent() -> None:
    assert display.margin_ratio(0.0689) == "6.89 %"
    assert display.margin_ratio(1.7882) == "178.82 %"
    assert display.margin_ratio(math.inf) == "≥ 100 %"  # the margin balance is gone
    assert display.margin_ratio(None) == "—"  # no maintenance margin: cannot be liquidated
    assert display.margin_ratio(math.nan) == "—"


def test_distances_are_signed_and_past_liquidation_is_said() -> None:
    assert display.distance(0.042) == "4.20 %"
    assert display.distance(-0.010976) == "-1.10 %"
    assert display.distance_with_state(-0.010976, True) == "PAST LIQUIDATION -1.10 %"
    assert display.distance_with_state(None, True) == "PAST LIQUIDATION"
    assert display.distance_with_state(0.042, False) == "4.20 %"
    assert display.distance_with_state(None, False) == "—"


def test_prices_amounts_sizes_and_thresholds() -> None:
    assert display.price(123.17361923572058, 0.01) == "123.17"
    assert display.price(3459.4960167895483, 0.01) == "3,459.50"
    assert display.money(-1234.5, "USDT", signed=True) == "-1,234.50 USDT"
    assert display.quantity(1500.0, "contracts") == "1,500 contracts"
    assert display.shock(-0.1234) == "12.34 % fall of all marks"
    assert display.shock(0.0) == "PAST LIQUIDATION now"
    assert display.shock(None) == "none within ±99 % of all marks"
    assert display.threshold_percent(0.1) == "10 %" and display.threshold_percent(0.025) == "2.5 %"
    assert display.percent(-0.05, signed=True) == "-5.00 %"
    assert display.percent(0.05, signed=True) == "+5.00 %"


def test_the_signed_distance_follows_the_liquidation_fact_not_the_side() -> None:
    assert signed_distance(0.02, False) == 0.02
    assert signed_distance(0.02, True) == -0.02
    assert signed_distance(None, True) is None


def _isolated_short(mark: float) -> Portfolio:
    # 2 contracts short at 100, 30 margin, 1 % maintenance on the notional at the mark (generic rule)
    p = Position(symbol="X/USDT:USDT", settle="USDT", kind=Kind.LINEAR, contracts=2.0, side=Side.SHORT,
                 entry_price=100.0, mark_price=mark, margin_mode=MarginMode.ISOLATED, isolated_margin=30.0,
                 tiers=(Tier(0.0, 1e12, 0.01, 0.0),), tick_size=0.01)
    return Portfolio((Account(name="a", venue="unknown-venue", wallets={"USDT": 500.0}, positions=(p,)),))


def test_a_short_marked_past_its_liquidation_price_in_the_report_and_the_probe() -> None:
    # by hand: 30 + 2(100 − P) = 2 · P · 0.01  →  P = 230 / 2.02
    liq = 230.0 / 2.02
    mark = 115.0  # above liq ≈ 113.86: past it
    balance = 30.0 + 2 * (100.0 - mark)  # 0.0: the margin is gone
    risk = compute_risk(_isolated_short(mark)).accounts[0]
    (p,) = risk.positions
    assert p.liquidation_price == pytest.approx(liq, rel=1e-12) and balance == 0.0
    assert p.liquidatable and math.isinf(p.margin_ratio or 0.0)
    assert p.signed_distance_to_liquidation == pytest.approx((liq - mark) / mark, rel=1e-9)
    assert display.distance_with_state(p.signed_distance_to_liquidation, p.liquidatable) == \
        f"PAST LIQUIDATION {(liq - mark) / mark * 100:.2f} %"
    # the what-if probe at a mark just inside and just past: same fact, same sign
    probe = MarkProbe(_isolated_short(100.0).accounts[0], "X/USDT:USDT")
    inside, past = probe.at(113.0), probe.at(114.5)
    assert not inside.liquidatable
    assert inside.signed_distance_to_liquidation == pytest.approx((liq - 113.0) / 113.0, rel=1e-9)
    ratio_past = 2 * 114.5 * 0.01 / (30.0 + 2 * (100.0 - 114.5))  # 2.29 / 1.0
    assert past.liquidatable and past.margin_ratio == pytest.approx(ratio_past, rel=1e-9)
    assert past.signed_distance_to_liquidation == pytest.approx((liq - 114.5) / 114.5, rel=1e-9)
    assert (liq - 114.5) < 0


def test_equity_counts_isolated_margins_and_their_unrealized_pnl() -> None:
    risk = compute_risk(_isolated_short(112.0)).accounts[0]
    (equity,) = risk.equity()
    # cross wallet 500, nothing in cross; isolated margin 30 and PnL 2 × (100 − 112) = −24
    assert (equity.cross_wallet, equity.cross_unrealized_pnl) == (500.0, 0.0)
    assert equity.isolated_margin == 30.0 and equity.isolated_unrealized_pnl == pytest.approx(-24.0)
    assert equity.total == pytest.approx(506.0)


@pytest.mark.parametrize(("value", "currency", "signed", "shown"), [
    (-1e-9, "USD", True, "+0.00 USD"),  # a rounding residue of the book's stress sum
    (-0.004, None, True, "+0.00"),
    (-0.005001, None, True, "-0.01"),
    (-4e-7, "BTC", False, "0.000000 BTC"),
    (-6e-7, "BTC", False, "-0.000001 BTC"),
])
def test_money_never_says_minus_zero(value: float, currency: str | None, signed: bool, shown: str) -> None:
    assert display.money(value, currency, signed=signed) == shown
