"""Every worked example of design/risk-math.md, through the public engine.

Expected numbers are the exchanges' published figures (or, where marked, the closed forms of
risk-math.md evaluated independently here), never the engine's own output.
"""

from __future__ import annotations

import math

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Tier
from desk.domain.report import AccountRisk, PositionRisk
from tests.support.risk import account, portfolio, pos


def risk(acc) -> AccountRisk:
    return compute_risk(portfolio(acc)).accounts[0]


def only(acc) -> PositionRisk:
    return risk(acc).positions[0]


# ---------------------------------------------------------------- Binance USDⓈ-M (§1)


def binance_faq():
    eth = pos("ETH/USDT:USDT", contracts=3683.979, entry=1456.84, mark=1335.18, mmr=0.10, cum=135_365)
    btc = pos("BTC/USDT:USDT", contracts=109.488, entry=32481.98, mark=31967.27, mmr=0.025, cum=16_300)
    return account("binanceusdm", eth, btc, USDT=1_535_443.01)


def test_binance_faq_cross_liquidation_prices():
    eth, btc = risk(binance_faq()).positions
    assert round(eth.liquidation_price, 2) == 1153.26
    assert round(btc.liquidation_price, 2) == 26316.89


def test_binance_faq_maintenance_and_pool_figures():
    acc = risk(binance_faq())
    eth, btc = acc.positions
    assert btc.maintenance_margin == pytest.approx(71_200.81144, abs=1e-5)
    assert eth.maintenance_margin == pytest.approx(356_512.508, abs=1e-3)
    (pool,) = acc.pools
    # portfolio-format.md's report for this portfolio
    assert round(pool.unrealized_pnl, 2) == -504_547.45
    assert round(pool.margin_balance, 2) == 1_030_895.56
    assert round(pool.maintenance_margin, 2) == 427_713.32
    assert round(pool.margin_ratio, 5) == 0.41489
    assert pool.venue_margin_ratio == pool.margin_ratio
    assert eth.margin_ratio == btc.margin_ratio == pool.margin_ratio
    assert round(eth.bankruptcy_price, 2) == 1055.35
    assert round(btc.bankruptcy_price, 2) == 22551.67
    assert round(eth.distance_to_liquidation, 5) == 0.13625
    assert round(btc.distance_to_liquidation, 5) == 0.17676
    assert round(eth.notional, 2) == 4_918_775.08
    assert round(eth.unrealized_pnl, 2) == -448_192.89
    assert acc.rules == "binance" and not acc.generic_rules


def test_binance_doge_isolated_hedge_short_matches_the_api_to_8dp():
    doge = pos("DOGE/USDT:USDT", contracts=32, entry=0.16395, side="short", leg="short", mode="isolated",
               margin=0.88304001, mmr=0.005)
    assert round(only(account("binanceusdm", doge)).liquidation_price, 8) == 0.19059204


def test_binance_isolated_uses_isolated_wallet_not_isolated_margin():
    doge = pos("DOGE/USDT:USDT", contracts=32, entry=0.16395, side="short", leg="short", mode="isolated",
               margin=0.86034145, mmr=0.005)  # isolatedMargin fed by mistake gives the wrong 0.18988
    assert only(account("binanceusdm", doge)).liquidation_price == pytest.approx(0.18988, abs=1e-5)


def test_binance_account_support_example_is_liquidated():
    # WB 25,923.05553202; uPnL −17,444.086776; MM 8,501.442188 -> margin balance 8,478.968756 < MM
    p = pos("BTC/USDT:USDT", contracts=1, entry=100_000 + 17_444.086776, mark=100_000, mmr=0.08501442188)
    acc = risk(account("binanceusdm", p, USDT=25_923.05553202))
    (pool,) = acc.pools
    assert pool.margin_balance == pytest.approx(8_478.968756, abs=1e-6)
    assert pool.maintenance_margin == pytest.approx(8_501.442188, abs=1e-6)
    assert pool.margin_ratio > 1.0
    assert acc.shock_to_liquidation == 0.0


def test_maintenance_amounts_follow_the_recurrence():
    from desk.domain.rules import resolve_tiers

    tiers = resolve_tiers((Tier(0, 50_000, 0.004), Tier(50_000, 250_000, 0.005),
                           Tier(250_000, 1_000_000, 0.01), Tier(1_000_000, 10_000_000, 0.025)))
    assert [t.cum for t in tiers] == pytest.approx([0, 50, 1_300, 16_300])  # the FAQ's 1,300 and 16,300


# ---------------------------------------------------------------- Binance COIN-M (§2)


def test_coinm_calculator_example():
    p = pos("BTC/USD:BTC", contracts=100_000, contract_size=100, entry=45_000, mmr=0.125, cum=11.605)
    lp = only(account("binancecoinm", p, BTC=101)).liquidation_price
    assert lp == pytest.approx(33_599.42, abs=0.005)  # raw; the calculator shows 33,599.40 (0.1 tick)
    assert abs(lp - 33_599.40) <= 0.1


def test_coinm_picks_the_tier_at_the_liquidation_price_not_at_entry():
    # 222.2 BTC at entry (tier A) but 297.6 BTC at the LP (tier B): the FAQ's 12.5 % / 11.605 tier.
    tiers = (Tier(0, 250, 0.10, 5.355), Tier(250, 1_000, 0.125, 11.605))
    p = pos("BTC/USD:BTC", contracts=100_000, contract_size=100, entry=45_000, tiers=tiers)
    lp = only(account("binancecoinm", p, BTC=101)).liquidation_price
    assert lp == pytest.approx(33_599.42, abs=0.005)
    assert 100_000 * 100 / lp == pytest.approx(297.6, abs=0.05)


def test_coinm_maintenance_margin_faq():
    p = pos("BTC/USD:BTC", contracts=100, contract_size=100, entry=25_000, mark=25_000, mmr=0.004)
    r = only(account("binancecoinm", p, BTC=1))
    assert r.notional == pytest.approx(0.4)
    assert r.maintenance_margin == pytest.approx(0.0016)


# ---------------------------------------------------------------- Bybit (§3)


@pytest.mark.parametrize(
    ("side", "entry", "leverage", "extra", "expected"),
    [
        ("long", 20_000, 50, 0, 19_700),  # IM 400, MM 100
        ("short", 20_000, 50, 3_000, 23_300),  # 3,000 USDT added
        ("long", 20_000, 50, -200, 19_900),  # 200 USDT funding deducted
        ("long", 10_000, 50, 0, 9_850),  # old doc
        ("short", 8_000, 40, 0, 8_160),
    ],
)
def test_bybit_usdt_isolated(side, entry, leverage, extra, expected):
    margin = entry / leverage + extra  # position margin = IM + added − deducted
    p = pos("BTC/USDT:USDT", contracts=1, entry=entry, side=side, mode="isolated", margin=margin, mmr=0.005,
            leverage=leverage)
    assert only(account("bybit", p)).liquidation_price == pytest.approx(expected, abs=1e-6)


def test_bybit_bankruptcy_price():
    p = pos("BTC/USDT:USDT", contracts=1, entry=10_000, mode="isolated", margin=200, mmr=0.005, leverage=50)
    assert only(account("bybit", p)).bankruptcy_price == pytest.approx(9_800, abs=1e-6)


@pytest.mark.parametrize(("side", "expected"), [("long", 7_881.77), ("short", 8_121.83)])
def test_bybit_inverse_isolated(side, expected):
    # 8,000 contracts of 1 USD at 8,000 = 1 BTC; 50x -> 0.02 BTC margin; MMR 0.5 %
    p = pos("BTC/USD:BTC", contracts=8_000, entry=8_000, side=side, mode="isolated", margin=0.02, mmr=0.005)
    assert round(only(account("bybit", p)).liquidation_price, 2) == expected


def test_bybit_inverse_cross_bankruptcy_and_liquidation():
    p = pos("BTC/USD:BTC", contracts=10_000, entry=8_000, mmr=0.005, taker=0.00075)
    r = only(account("bybit", p, BTC=0.5))
    assert round(r.bankruptcy_price, 2) == 5_718.57
    assert abs(r.liquidation_price - 5_739.5) <= 0.5  # Bybit rounds up to the 0.5 tick


def test_seed_example_is_bybit_convention():
    long = pos(contracts=1 / 6, entry=60_000, mode="isolated", margin=1_000, mmr=0.005, leverage=10)
    short = pos(contracts=1 / 6, entry=60_000, side="short", mode="isolated", margin=1_000, mmr=0.005)
    assert only(account("bybit", long)).liquidation_price == pytest.approx(54_300, abs=1e-6)
    assert only(account("bybit", short)).liquidation_price == pytest.approx(65_700, abs=1e-6)


# ---------------------------------------------------------------- §8 table: one position, each convention


@pytest.mark.parametrize(
    ("venue", "mmr", "taker", "side", "expected"),
    [
        ("binanceusdm", 0.005, None, "long", 54_271.36),
        ("binanceusdm", 0.005, None, "short", 65_671.64),
        ("binanceusdm", 0.004, None, "long", 54_216.87),
        ("gate", 0.005, 0.0005, "long", 54_298.64),
        ("gate", 0.005, 0.0005, "short", 65_638.99),
        ("okx", 0.005, 0.0005, "long", 54_298.64),
        ("okx", 0.005, 0.0005, "short", 65_638.99),
        ("bybit", 0.005, None, "long", 54_300.00),
        ("bybit", 0.005, None, "short", 65_700.00),
    ],
)
def test_section_8_table(venue, mmr, taker, side, expected):
    p = pos(contracts=1 / 6, entry=60_000, side=side, mode="isolated", margin=1_000, mmr=mmr, taker=taker)
    r = only(account(venue, p))
    assert round(r.liquidation_price, 2) == expected
    assert r.bankruptcy_price == pytest.approx(54_000 if side == "long" else 66_000, abs=1e-6)


# ---------------------------------------------------------------- Gate (§5), OKX (§4), Hyperliquid (§6)


def test_gate_app_example():
    p = pos("ETH/USDT:USDT", contracts=0.5423, entry=1680.05, mode="isolated", margin=182.81, mmr=0.005,
            taker=7.5e-6)
    assert only(account("gate", p)).liquidation_price == pytest.approx(1_349.70, abs=0.05)


def test_gate_with_nominal_taker_does_not_match_the_app():
    p = pos("ETH/USDT:USDT", contracts=0.5423, entry=1680.05, mode="isolated", margin=182.81, mmr=0.005,
            taker=0.00075)
    assert round(only(account("gate", p)).liquidation_price, 2) == 1_350.72


@pytest.mark.parametrize("side", ["long", "short"])
def test_okx_coin_margined_isolated(side):
    n, fv, ep, m, mmr, fee = 500, 100, 30_000, 0.05, 0.004, 0.0005
    p = pos("BTC/USD:BTC", contracts=n, contract_size=fv, entry=ep, side=side, mode="isolated", margin=m,
            mmr=mmr, taker=fee)
    if side == "long":
        expected = (1 + mmr + fee) / (1 / ep + m / (fv * n))
    else:
        expected = (1 - mmr - fee) / (1 / ep - m / (fv * n))
    r = only(account("okx", p))
    assert r.liquidation_price == pytest.approx(expected, rel=1e-12)
    assert r.venue_margin_ratio == pytest.approx(1 / r.margin_ratio)  # OKX: higher is safer


def test_hyperliquid_mmr_is_half_the_initial_margin_at_max_leverage():
    tier = (Tier(0, math.inf, 0.123, None, 50),)  # the rate is overridden by max leverage 50x -> 1 %
    long = pos("BTC/USDC:USDC", contracts=1, entry=60_000, mode="isolated", margin=3_000, tiers=tier)
    short = pos("BTC/USDC:USDC", contracts=1, entry=60_000, side="short", mode="isolated", margin=3_000,
                tiers=tier)
    assert only(account("hyperliquid", long)).liquidation_price == pytest.approx(57_000 / 0.99, rel=1e-12)
    assert only(account("hyperliquid", short)).liquidation_price == pytest.approx(63_000 / 1.01, rel=1e-12)


# ---------------------------------------------------------------- no liquidation, generic rules


def test_fully_collateralised_long_has_no_liquidation_price():
    p = pos(contracts=1, entry=60_000, mode="isolated", margin=60_000, mmr=0.005)
    r = only(account("binanceusdm", p))
    assert r.liquidation_price is None
    assert r.distance_to_liquidation is None


def test_unknown_venue_uses_generic_rules_and_says_so():
    p = pos(contracts=1 / 6, entry=60_000, mode="isolated", margin=1_000, mmr=0.005)
    acc = risk(account("kraken", p))
    assert acc.generic_rules and acc.rules == "generic"
    assert any("generic" in w and "kraken" in w for w in acc.warnings)
    assert round(acc.positions[0].liquidation_price, 2) == 54_271.36  # MM at the mark price
