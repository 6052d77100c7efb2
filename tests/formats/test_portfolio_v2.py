"""desk.portfolio/2: account-wide pools with collateral (unified-margin.md §6.8), end to end through
`desk risk` as a user runs it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from desk.domain.model import PoolKind
from desk.formats import PortfolioError, dump_portfolio, load_portfolio

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs/examples/unified-accounts.json"
DOC = json.loads(EXAMPLE.read_text())


def desk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desk", "risk", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)


def test_version_2_loads_collateral_and_round_trips() -> None:
    portfolio = load_portfolio(EXAMPLE)
    ma = portfolio.account("binance-multi-assets")
    assert ma.pooled and ma.margin.pool is PoolKind.ACCOUNT
    btc = ma.margin.asset("BTC")
    assert (btc.amount, btc.price, btc.bid_buffer, btc.underlying) == (0.2, 60_000, 0.05, "BTC")
    tiers = portfolio.account("bybit-uta").margin.asset("BTC").tiers
    assert [(t.floor, t.rate) for t in tiers] == [(0, 0.95), (10, 0.9)]
    text = dump_portfolio(portfolio)
    assert json.loads(text)["format"] == "desk.portfolio/2"
    assert load_portfolio(text) == portfolio


def test_a_version_1_portfolio_is_still_written_as_version_1() -> None:
    faq = load_portfolio(ROOT / "docs/examples/binance-faq.json")
    assert json.loads(dump_portfolio(faq))["format"] == "desk.portfolio/1"


def test_one_instrument_both_cross_and_isolated_loads_in_version_1() -> None:
    okx = copy.deepcopy(DOC["accounts"][2])
    doc = {"format": "desk.portfolio/1", "accounts": [okx]}
    account = load_portfolio(json.dumps(doc).encode()).accounts[0]
    assert [p.margin_mode.value for p in account.positions] == ["cross", "isolated"]
    twice = copy.deepcopy(doc)
    twice["accounts"][0]["positions"][1] = copy.deepcopy(okx["positions"][0])
    with pytest.raises(PortfolioError, match=r'account "okx-both-modes", position "ETH/USDT:USDT" \(long\): '
                                             r"appears twice as a cross position"):
        load_portfolio(json.dumps(twice).encode())


def test_a_settle_currency_missing_from_the_collateral_is_named() -> None:
    doc = copy.deepcopy(DOC)
    doc["accounts"][0]["margin"]["collateral"] = doc["accounts"][0]["margin"]["collateral"][1:]
    expected = (r'account "binance-multi-assets", position "BTC/USDT:USDT" \(long\): settles in USDT, '
                r'which is not in "margin.collateral"')
    with pytest.raises(PortfolioError, match=expected):
        load_portfolio(json.dumps(doc).encode())


def test_a_bad_haircut_names_the_field() -> None:
    doc = copy.deepcopy(DOC)
    doc["accounts"][1]["margin"]["collateral"][3]["haircut"]["rate"] = 1.5
    with pytest.raises(PortfolioError, match=r'account "bybit-uta": margin.collateral\[3\].haircut.rate '
                                             r"must be <= 1, got 1.5"):
        load_portfolio(json.dumps(doc).encode())


def test_desk_risk_shows_mode_collateral_and_both_liquidation_prices(subprocess_env) -> None:
    result = desk(str(EXAMPLE), env=subprocess_env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "mode: binance multi-assets (one margin pool for the account, valued in USD)" in out
    # every figure through desk.domain.display: amounts with their asset, haircut in percent
    assert ("collateral BTC: 0.2 BTC at 60,000 USD, equity 0.2 BTC, haircut 5.00 %, "
            "counts 11,400.00 USD") in out
    assert ("collateral ETH: 0.5 ETH at 3,000.0 USD, equity 0.5 ETH, haircut 10.00 %, "
            "counts 1,350.00 USD") in out
    assert ("pool USD: total equity 13,000.00 USD, margin balance 12,399.90 USD after haircuts, "
            "maintenance 120.01 USD, margin ratio 0.97 %") in out
    assert "liquidation at 42152.327 with it, 35343.654 with collateral held at its index" in out
    # a mode desk cannot model is named, never computed as per-currency pools
    assert "pool USD: cannot recompute: maintenance margin comes from Bybit's scenario engine" in out
    assert "shock to liquidation: cannot recompute for this account mode" in out
    # one instrument held cross and isolated in one account
    assert out.count("okx-both-modes          ETH/USDT:USDT") == 2

    doc = json.loads(desk(str(EXAMPLE), "--json", env=subprocess_env).stdout)
    ma, uta, okx, pm = doc["accounts"]
    (pool,) = ma["pools"]
    assert (pool["pool"], pool["mode"], pool["settle"]) == ("account", "binance multi-assets", "USD")
    assert pool["margin_balance"] == pytest.approx(12_399.9)
    (btc,) = ma["positions"]
    assert btc["liquidation_price"] == pytest.approx(42_152.327, rel=1e-6)
    assert btc["liquidation_price_symbol_only"] == pytest.approx(35_343.654, rel=1e-6)
    assert btc["liquidation_direction"] == "down"
    # the venue's figure within one tick of ours, so no gap warning about it
    assert not any("differs from desk's" in w for w in ma["warnings"])
    assert uta["pools"][0]["margin_ratio"] == pytest.approx(0.0184157, rel=1e-5)
    assert uta["pools"][0]["venue_margin_ratio"] == 0.0184157
    assert [p["margin_mode"] for p in okx["positions"]] == ["cross", "isolated"]
    assert pm["pools"][0]["cannot_recompute"].startswith("maintenance margin comes from")
    assert pm["pools"][0]["margin_ratio"] == 0.12
    assert pm["pools"][0]["margin_balance"] is None
    assert pm["positions"][0]["liquidation_price"] is None


def test_desk_risk_shock_moves_crypto_collateral(subprocess_env) -> None:
    doc = json.loads(desk(str(EXAMPLE), "--json", "--shock", "-10", env=subprocess_env).stdout)
    pool = doc["accounts"][0]["pools"][0]
    btc = next(c for c in pool["collateral"] if c["asset"] == "BTC")
    usdt = next(c for c in pool["collateral"] if c["asset"] == "USDT")
    assert btc["price"] == pytest.approx(54_000)
    assert usdt["price"] == 1.0
    # 1,000 − 3,000 (the long's loss) in USDT at the ask, 0.2 BTC at 54,000 × 0.95
    assert pool["margin_balance"] == pytest.approx(-2_000 * 1.0001 + 0.2 * 54_000 * 0.95)


@pytest.mark.parametrize(("field", "value", "named"), [
    ("amount", 1e300, "margin.collateral.BTC.amount"),
    ("index_price", 1e300, "margin.collateral.BTC.index_price"),
    ("borrowed", 1e300, "margin.collateral.BTC.borrowed"),
])
def test_collateral_out_of_bounds_is_refused_with_its_field(field: str, value: float, named: str) -> None:
    doc = copy.deepcopy(DOC)
    doc["accounts"][0]["margin"]["collateral"][1][field] = value
    with pytest.raises(PortfolioError, match=rf'account "binance-multi-assets": {named}'):
        load_portfolio(json.dumps(doc).encode())


def test_a_pooled_account_past_liquidation_says_so_with_a_negative_distance(subprocess_env) -> None:
    # −50 % takes the Multi-Assets BTC long (liquidation 42,152.3 with its BTC collateral) past it
    text = desk(str(EXAMPLE), "--shock", "-50", env=subprocess_env).stdout
    assert "binance-multi-assets    BTC/USDT:USDT  long  cross      0.5  30,000.0    42,152.3" in text
    assert "41,428.6  PAST LIQUIDATION -40.51 %" in text
    assert ("pool USD: total equity -8,000.00 USD, margin balance -8,301.40 USD after haircuts, "
            "maintenance 60.01 USD, margin ratio ≥ 100 % — PAST LIQUIDATION") in text
    doc = json.loads(desk(str(EXAMPLE), "--json", "--shock", "-50", env=subprocess_env).stdout)
    (btc,) = doc["accounts"][0]["positions"]
    assert btc["status"] == "past_liquidation"
    assert btc["signed_distance_to_liquidation"] == pytest.approx(-(42_152.327 - 30_000) / 30_000, rel=1e-6)
