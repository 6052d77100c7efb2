"""Cases the generated tests rarely or never draw, each pinned by numbers worked by hand here.

* a cross hedge pair with a root on each side of the mark: the liquidation price is the nearer root;
* a pool that liquidates in both directions: the shock to liquidation is the nearer one — linear
  (the engine's Newton path) and short inverse (its exact segment-by-segment fallback);
* a notional exactly on a tier floor: the upper tier (floor ≤ notional < cap);
* venue names as people write them ("Binance", " BYBIT ") get their venue's rules.

Tier tables here are written with their maintenance amounts, and the expected figures are solved
from margin balance = maintenance margin (risk-math.md §1.1, §2) by hand, then checked against the
independent oracle (tests/domain/oracle.py) as well.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from desk.domain.engine import compute_risk
from desk.domain.model import Account, Portfolio, Tier
from desk.domain.rules import BINANCE, BYBIT, GENERIC, OKX, rules_for
from tests.domain import oracle
from tests.support.risk import account, pos

ROOT = Path(__file__).resolve().parents[2]

# Linear, quote notional: 0.4 % below 100,000 USDT, 10 % above (cum 100,000 × 0.096 = 9,600, §0).
STEEP_USDT = (Tier(0, 100_000, 0.004, 0.0), Tier(100_000, math.inf, 0.1, 9_600.0))
# Inverse, coin notional: 0.4 % below 2.5 BTC, 10 % above (cum 2.5 × 0.096 = 0.24 BTC).
STEEP_COIN = (Tier(0, 2.5, 0.004, 0.0), Tier(2.5, math.inf, 0.1, 0.24))


def hedge_pair(mark: float) -> Account:
    """Binance USDⓈ-M cross, hedge mode: long 1 BTC and short 0.95 BTC, both @ 60,000; wallet 1,000.

    slack(P) = 1,000 + 0.05·(P − 60,000) − MM(P). Both legs in the low tier (P < 100,000):
    MM = 1.95·0.004·P, slack = −2,000 + 0.0422·P → P = 2,000 / 0.0422 = 47,393.36.
    Both legs in the high tier (P > 105,263): MM = 1.95·0.1·P − 19,200,
    slack = 17,200 − 0.145·P → P = 17,200 / 0.145 = 118,620.69. In between the slack stays > 0.
    """
    legs = (pos(contracts=1.0, entry=60_000, mark=mark, leg="long", tiers=STEEP_USDT),
            pos(contracts=0.95, entry=60_000, mark=mark, side="short", leg="short", tiers=STEEP_USDT))
    return account("binanceusdm", *legs, USDT=1_000.0)


LOW_ROOT = 2_000 / 0.0422
HIGH_ROOT = 17_200 / 0.145


@pytest.mark.parametrize(("mark", "nearer"), [(60_000.0, LOW_ROOT), (110_000.0, HIGH_ROOT)])
def test_cross_hedge_pair_liquidates_at_the_root_nearer_the_mark(mark: float, nearer: float) -> None:
    acc = hedge_pair(mark)
    risk = compute_risk(Portfolio((acc,))).accounts[0]
    assert risk.pools[0].margin_ratio < 1.0  # not yet liquidated at either mark
    for leg, p in zip(risk.positions, acc.positions, strict=True):
        assert leg.liquidation_price == pytest.approx(nearer, rel=1e-9)
        assert oracle.liquidation_price(acc, p) == pytest.approx(nearer, rel=1e-9)


@pytest.mark.parametrize(("mark", "nearer"), [(60_000.0, LOW_ROOT), (110_000.0, HIGH_ROOT)])
def test_linear_pool_liquidating_both_ways_reports_the_nearer_shock(mark: float, nearer: float) -> None:
    # One symbol: a uniform shock s moves the mark to mark·(1 + s), so the shocks are root/mark − 1:
    # mark 60,000 → −21.0 % and +97.7 %; mark 110,000 → −56.9 % and +7.8 %.
    acc = hedge_pair(mark)
    shock = compute_risk(Portfolio((acc,))).accounts[0].shock_to_liquidation
    assert shock == pytest.approx(nearer / mark - 1, rel=1e-9)
    assert oracle.account_shock(acc) == pytest.approx(nearer / mark - 1, rel=1e-9)


def inverse_short_pool(mark: float) -> Account:
    """Binance COIN-M cross: short 1,000 and long 950 BTCUSD contracts (100 USD) @ 50,000; 0.05 BTC.

    In u = 1/P: slack = 0.05 + 100,000·(u − 1/50,000) − 95,000·(1/50,000 − u)... = −0.05 + 5,000·u − MM.
    Both legs in the low tier (coin notional < 2.5, P > 40,000): MM = 195,000·0.004·u,
    slack = −0.05 + 4,220·u → u = 0.05 / 4,220 → P = 84,400. Both in the high tier (P < 38,000):
    MM = 19,500·u − 0.48, slack = 0.43 − 14,500·u → P = 14,500 / 0.43 = 33,720.93. Net short inverse:
    the engine's segment-by-segment path (its slack is not concave in the shock).
    """
    legs = (pos("BTC/USD:BTC", contracts=1_000, contract_size=100, entry=50_000, mark=mark, side="short",
                leg="short", tiers=STEEP_COIN),
            pos("BTC/USD:BTC", contracts=950, contract_size=100, entry=50_000, mark=mark, leg="long",
                tiers=STEEP_COIN))
    return account("binancecoinm", *legs, BTC=0.05)


UP_ROOT = 4_220 / 0.05
DOWN_ROOT = 14_500 / 0.43


@pytest.mark.parametrize(("mark", "nearer"), [(50_000.0, DOWN_ROOT), (75_000.0, UP_ROOT)])
def test_net_short_inverse_pool_liquidating_both_ways_nearer_shock(mark: float, nearer: float) -> None:
    # mark 50,000 → −32.6 % and +68.8 %; mark 75,000 → −55.0 % and +12.5 %
    acc = inverse_short_pool(mark)
    risk = compute_risk(Portfolio((acc,))).accounts[0]
    assert risk.pools[0].margin_ratio < 1.0
    assert risk.shock_to_liquidation == pytest.approx(nearer / mark - 1, rel=1e-9)
    assert oracle.account_shock(acc) == pytest.approx(nearer / mark - 1, rel=1e-9)
    assert risk.positions[0].liquidation_price == pytest.approx(nearer, rel=1e-9)


# A venue table without maintenance amounts (amount 0 on every tier, as OKX publishes them): the
# maintenance margin jumps at the floor, so which tier a notional exactly on it gets shows.
JUMP = (Tier(0, 50_000, 0.004, 0.0), Tier(50_000, math.inf, 0.01, 0.0))


def test_a_notional_exactly_on_a_tier_floor_takes_the_upper_tier() -> None:
    # 1 BTC at mark 50,000: notional 50,000 = the floor of tier 2 → MM = 50,000 × 1 % = 500
    # (tier 1 would give 200). Isolated margin 300 at entry 50,000: margin balance 300 < 500 —
    # liquidatable now, so the shock to liquidation is 0 (tier 1 would leave 100 of slack).
    p = pos(contracts=1.0, entry=50_000, mark=50_000, mode="isolated", margin=300.0, tiers=JUMP)
    risk = compute_risk(Portfolio((account("binanceusdm", p),))).accounts[0]
    assert risk.positions[0].maintenance_margin == pytest.approx(500.0, rel=1e-12)
    assert risk.positions[0].margin_ratio == pytest.approx(500 / 300, rel=1e-12)
    assert risk.positions[0].liquidatable
    assert risk.shock_to_liquidation == 0.0


def test_the_leverage_suggestion_for_a_notional_on_a_tier_floor_uses_the_upper_tier() -> None:
    # The same position, target ratio 0.5: MM 500 (tier 2) needs 500 / 0.5 = 1,000 of margin →
    # leverage 50,000 / 1,000 = 50x (tier 1's MM of 200 would suggest 125x, which leaves ratio 1.25).
    p = pos(contracts=1.0, entry=50_000, mark=50_000, mode="isolated", margin=300.0, tiers=JUMP)
    risk = compute_risk(Portfolio((account("binanceusdm", p),)), target=0.5).accounts[0]
    (lever,) = [s for s in risk.positions[0].suggestions if s.action == "set_leverage"]
    assert lever.reaches_target
    assert lever.leverage == 50.0


def test_an_entry_value_exactly_on_a_tier_floor_takes_the_upper_tier_on_bybit() -> None:
    # Bybit: MM on the entry value 50,000 (= the floor) → 1 %: MM = 500. Long 1 BTC, margin 2,500:
    # 2,500 + (P − 50,000) = 500 → P = 48,000 (tier 1 would give 47,700).
    p = pos(contracts=1.0, entry=50_000, mark=50_000, mode="isolated", margin=2_500.0, tiers=JUMP)
    risk = compute_risk(Portfolio((account("bybit", p),))).accounts[0]
    assert risk.positions[0].maintenance_margin == pytest.approx(500.0, rel=1e-12)
    assert risk.positions[0].liquidation_price == pytest.approx(48_000.0, rel=1e-12)


@pytest.mark.parametrize(("written", "rules"), [
    ("Binance", BINANCE), ("BINANCEUSDM", BINANCE), (" binancecoinm ", BINANCE), ("Bybit", BYBIT),
    ("OKX", OKX), ("someexchange", GENERIC),
])
def test_venue_names_are_matched_whatever_their_case_and_spaces(written: str, rules: object) -> None:
    assert rules_for(written) is rules


def test_desk_risk_applies_binance_rules_to_a_venue_written_Binance(tmp_path: Path) -> None:
    doc = {"format": "desk.portfolio/1", "accounts": [{
        "name": "main", "venue": "Binance", "wallets": {"USDT": 1_000},
        "positions": [{"symbol": "BTC/USDT:USDT", "kind": "linear", "contracts": 1, "side": "long",
                       "entry_price": 60_000, "mark_price": 60_000, "margin_mode": "isolated",
                       "isolated_margin": 6_000,
                       "tiers": [{"notional_floor": 0, "notional_cap": 1e12, "mmr": 0.005}]}]}]}
    path = tmp_path / "portfolio.json"
    path.write_text(json.dumps(doc))
    run = subprocess.run([sys.executable, "-m", "desk", "risk", str(path), "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)["accounts"][0]
    assert report["rules"] == "binance"
    assert report["generic_rules"] is False
    assert "generic" not in " ".join(report["warnings"])
    # Binance isolated long: LP = (WB + cum − Q·EP)/(Q·MMR − Q) = (6,000 − 60,000)/(0.005 − 1)
    assert report["positions"][0]["liquidation_price"] == pytest.approx(54_000 / 0.995, rel=1e-12)
