"""Binance Portfolio Margin (the unified account of ``/papi``, unified-margin.md §2, §6, §7): asked
through ccxt, read as one USD pool, computed by desk beside Binance's uniMMR, and shown by
`desk snapshot` / `desk risk` as a user runs them.

The fake account (tests/fake_exchange/payloads/binance_papi_*.json, binance_sapi_portfolio_*.json):

    USDT wallet 2,000 (UM), index 0.9999, collateral rate 1
    BTC 0.05 (cross margin), index 60,000, rate 0.95;  ETH 0.5, index 3,100, rate 0.90
    BTCUSDT long 0.4 @ 62,000, mark 60,000 (PnL −800; notional 24,000: bracket 0.4 %, cum 0)
    ETHUSDT short 5 @ 3,000, mark 3,100 (PnL −500; notional 15,500: bracket 0.65 %, cum 15)

§2 by hand: E_USDT = 2,000 − 800 − 500 = 700; adjusted equity = 700·0.9999 + 0.05·60,000·0.95 +
0.5·3,100·0.9 = 699.93 + 2,850 + 1,395 = 4,944.93 USD; MM = (0.4·60,000·0.004 + 5·3,100·0.0065 − 15)
·0.9999 = (96 + 85.75)·0.9999 = 181.731825 USD; uniMMR = 4,944.93 / 181.731825 = 27.21003875. The
payload's ``liquidationPrice`` values are our own derivations (below), since the convention of
Binance's figure is not verified (§8.4).
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from desk.cli import main
from desk.domain.engine import compute_risk
from desk.domain.model import PoolKind, Portfolio
from desk.exchanges import ReaderConfig
from desk.exchanges.adapters import adapter_for
from desk.exchanges.base import ErrorKind, VenueError
from desk.exchanges.guard import READ_METHODS, ReadOnlyExchange, ReadOnlyViolation, check_request
from desk.exchanges.reader import build_exchange
from desk.formats import load_portfolio
from tests.exchanges.conftest import read_many, read_once
from tests.fake_exchange import Fault, load_payload

ROOT = Path(__file__).resolve().parents[2]
K = 1.05  # §2: liquidation at uniMMR ≤ 1.05


def portfolio_margin(fake) -> None:
    fake.state["binance"]["portfolioMargin"] = True


def by_hand_unimmr() -> tuple[float, float, float]:
    """(adjusted equity, MM, uniMMR) from the payload numbers, by §2, without desk's code."""
    balance = {r["asset"]: r for r in load_payload("binance_papi_balance.json")}
    index = {r["asset"]: float(r["assetIndexPrice"])
             for r in load_payload("binance_sapi_portfolio_assetIndexPrice.json")}
    rate = {r["asset"]: float(r["collateralRate"])
            for r in load_payload("binance_sapi_portfolio_collateralRate.json")}
    rows = [r for r in load_payload("binance_papi_um_positionRisk.json") if float(r["positionAmt"]) != 0]
    brackets = {r["symbol"]: r["brackets"] for r in load_payload("binance_fapi_leverageBracket.json")}
    equity = 0.0
    for asset, row in balance.items():
        e = (float(row["crossMarginAsset"]) - float(row["crossMarginBorrowed"])
             + float(row["umWalletBalance"]) + float(row["umUnrealizedPNL"]) + float(row["cmWalletBalance"]))
        if e:
            equity += min(e * index[asset] * rate[asset], e * index[asset])
    mm = 0.0
    for r in rows:
        notional = abs(float(r["positionAmt"]) * float(r["markPrice"]))
        b = next(b for b in brackets[r["symbol"]] if b["notionalFloor"] <= notional < b["notionalCap"])
        mm += (notional * b["maintMarginRatio"] - b["cum"]) * index["USDT"]
    return equity, mm, equity / mm


# ---------------------------------------------------------------------------- detection


def test_a_portfolio_margin_account_is_detected_and_read_through_papi(fake, keys, make_config):
    portfolio_margin(fake)
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    margin = account.margin
    assert margin is not None and margin.pool is PoolKind.ACCOUNT
    assert margin.mode == "binance portfolio margin (status NORMAL)"
    assert margin.threshold == K and margin.venue_ratio_inverted and margin.cannot_recompute is None
    assert margin.venue_margin_ratio == 27.21003875
    paths = fake.paths()
    assert "GET /papi/v1/account" in paths and "GET /papi/v1/um/positionRisk" in paths
    assert "GET /sapi/v1/portfolio/collateralRate" in paths
    assert not fake.paths("/fapi/v3/")  # the classic futures reads are never made for this account
    # PM orders are read on /papi too (test_binance_pm_orders.py), never on /fapi
    assert account.orders is not None and not fake.paths("/fapi/v1/open")


def test_a_classic_account_meets_the_papi_refusal_and_stays_per_currency(fake, keys, make_config):
    snaps = read_many(make_config("binanceusdm"), keys.as_secrets(), 2)
    assert all(s.account.margin is None and s.account.reported["USDT"].margin_ratio > 0 for s in snaps)
    # asked once, answered 401 -2015; the classic read then succeeded, so the answer holds 5 min
    assert fake.paths("/papi/") == ["GET /papi/v1/account"]
    refusal = next(r for r in fake.requests if r.path == "/papi/v1/account")
    assert refusal.headers["X-MBX-APIKEY"] == keys.api_key and "signature=" not in refusal.path
    assert "signature" in refusal.query


def test_an_answer_that_is_neither_an_account_nor_the_refusal_is_named_not_read_per_currency(
        fake, keys, make_config):
    # a code ccxt maps to no specific class (ExchangeError): not the -2015 refusal, not an account.
    # (-1000 "unknown error" is OperationFailed: retried as any failed read, never taken as a mode.)
    fake.inject(Fault("status", path="/papi/v1/account", status=400,
                      body='{"code":-9999,"msg":"an answer desk has never seen (test)"}'))
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    assert account.margin.mode == "binance portfolio margin unknown"
    assert account.margin.cannot_recompute.startswith(
        "desk cannot tell whether this is a Portfolio Margin account")
    assert "-9999" in account.margin.cannot_recompute
    risk = compute_risk(Portfolio((account,))).accounts[0]
    (pool,) = risk.pools
    assert pool.pool == "account" and pool.cannot_recompute and pool.margin_ratio is None
    assert all(p.liquidation_price is None for p in risk.positions)  # no per-currency stand-in


def test_a_key_refused_on_both_apis_is_an_auth_error_that_names_both(fake, keys, make_config):
    fake.revoke(keys.api_key)
    with pytest.raises(VenueError) as err:
        read_once(make_config("binanceusdm"), keys.as_secrets())
    assert err.value.kind is ErrorKind.AUTH
    assert "futures API" in str(err.value) and "Portfolio Margin API" in str(err.value)


# ---------------------------------------------------------------------------- mapping


def test_the_pool_holds_each_asset_at_its_index_and_collateral_rate(fake, keys, make_config):
    portfolio_margin(fake)
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    by_asset = {c.asset: c for c in account.margin.collateral}
    assert set(by_asset) == {"USDT", "BTC", "ETH"}  # BNB: empty wallet, no loan, no position settles in it
    assert [(by_asset[a].amount, by_asset[a].price, by_asset[a].rate, by_asset[a].borrowed)
            for a in ("USDT", "BTC", "ETH")] == [(2000, 0.9999, 1.0, 0), (0.05, 60000, 0.95, 0),
                                                 (0.5, 3100, 0.9, 0)]
    # negative equity counts in full at the index (§2): no ask buffer
    assert all(c.bid_buffer == 0 and c.ask_buffer == 0 for c in by_asset.values())
    assert (by_asset["BTC"].underlying, by_asset["USDT"].underlying) == ("BTC", None)
    btc, eth = sorted(account.positions, key=lambda p: p.symbol)
    assert (btc.side.value, btc.contracts, btc.entry_price, btc.mark_price) == ("long", 0.4, 62000, 60000)
    assert (eth.side.value, eth.contracts, eth.margin_mode.value, eth.settle) == ("short", 5, "cross", "USDT")
    assert btc.tiers[0].mmr == 0.004 and eth.tiers[1].maintenance_amount == 15  # /papi/v1/um/leverageBracket
    assert btc.reported.liquidation_price == 48063.39866827


def test_desk_pool_ratio_matches_uniMMR(fake, keys, make_config):
    portfolio_margin(fake)
    equity, mm, uni = by_hand_unimmr()
    assert (equity, mm) == (pytest.approx(4944.93, abs=1e-9), pytest.approx(181.731825, abs=1e-9))
    venue = float(load_payload("binance_papi_account.json")["uniMMR"])
    assert uni == pytest.approx(venue, abs=5e-9)  # the fixture is consistent with §2
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    (pool,) = compute_risk(Portfolio((account,))).accounts[0].pools
    assert pool.margin_balance == pytest.approx(equity, rel=1e-12)
    assert pool.maintenance_margin == pytest.approx(mm, rel=1e-12)
    assert pool.margin_ratio == pytest.approx(K * mm / equity, rel=1e-12)  # desk's scale: 1.0 = liquidation
    assert abs(pool.margin_ratio / (K / venue) - 1) < 0.005  # beside Binance's uniMMR, on one scale
    assert pool.venue_margin_ratio == venue


def test_liquidation_price_with_the_rest_of_the_pool_at_marks(fake, keys, make_config):
    """BTCUSDT alone moves (variant A, §6.4). Below 38,250 the USDT equity is negative: at rate 1
    it counts the same either way. With the ETH leg and the coins held:
    0.9999·(2,000 + 0.4·(x − 62,000) − 500) + 2,850 + 1,395 = 1.05·0.9999·(0.4·x·0.004 + 85.75)
    → x = (0.9999·(23,300 + 1.05·85.75) − 4,245) / (0.9999·(0.4 − 1.05·0.0016)) = 48,063.3987."""
    portfolio_margin(fake)
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    x = (0.9999 * (23_300 + K * 85.75) - 4_245) / (0.9999 * (0.4 - K * 0.0016))
    assert 0.4 * x < 50_000  # still the first bracket at x
    risk = compute_risk(Portfolio((account,))).accounts[0]
    btc = next(p for p in risk.positions if p.symbol == "BTC/USDT:USDT")
    assert btc.liquidation_price_symbol_only == pytest.approx(x, rel=1e-9)
    assert btc.liquidation_direction == "down"
    # at that mark, through the engine, the pool stands exactly at the threshold
    moved = dataclasses.replace(account, positions=tuple(
        dataclasses.replace(p, mark_price=x) if p.symbol == "BTC/USDT:USDT" else p
        for p in account.positions))
    (pool,) = compute_risk(Portfolio((moved,))).accounts[0].pools
    assert pool.margin_ratio == pytest.approx(1.0, abs=1e-9)
    assert pool.margin_balance == pytest.approx(K * pool.maintenance_margin, rel=1e-9)
    # the ETH short rises to (0.9999·(16,200 − 1.05·81) + 4,245) / (0.9999·(5 + 1.05·0.0325))
    eth = next(p for p in risk.positions if p.symbol == "ETH/USDT:USDT")
    y = (0.9999 * (16_200 - K * 81) + 4_245) / (0.9999 * (5 + K * 0.0325))
    assert eth.liquidation_price_symbol_only == pytest.approx(y, rel=1e-9)
    assert eth.liquidation_direction == "up"
    # the only notes: BTC and ETH collateral move with the positions (variant B), never a gap to Binance
    assert len(risk.warnings) == 2 and all("moves with this position" in w for w in risk.warnings)


# ---------------------------------------------------------------------------- what desk cannot recompute


def test_scenario_margin_shows_binance_figure_and_says_why(fake, keys, make_config):
    """PM Pro's scenario margin (or a margin loan's) is not the bracket sum: desk shows uniMMR only."""
    portfolio_margin(fake)
    account_answer = fake.state["binance"]["papi_account"]
    account_answer["accountMaintMargin"] = "240.00000000"  # +32 % over the brackets' 181.73
    account_answer["uniMMR"] = "20.60387500"  # 4,944.93 / 240
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    assert account.margin.cannot_recompute == (
        "Binance's maintenance margin 240.00 USD is not the sum of the positions' bracket margins "
        "(181.73 USD): "
        "Portfolio Margin Pro's scenario margin or margin loans, which desk does not model")
    risk = compute_risk(Portfolio((account,))).accounts[0]
    (pool,) = risk.pools
    assert pool.margin_ratio == pytest.approx(K / 20.603875, rel=1e-12) and pool.cannot_recompute
    assert len(pool.collateral) == 3 and all(p.liquidation_price is None for p in risk.positions)


def test_coin_m_positions_an_usdm_account_does_not_read_are_named(fake, keys, make_config):
    portfolio_margin(fake)
    fake.state["binance"]["papi_cm_positionRisk"] = [
        {"symbol": "ETHUSD_PERP", "positionAmt": "1", "entryPrice": "2422.4", "markPrice": "2424.5",
         "unRealizedProfit": "0.0000036", "liquidationPrice": "293.57", "leverage": "100",
         "positionSide": "LONG", "updateTime": 1707371941861, "maxQty": "15", "notionalValue": "0.00412454",
         "breakEvenPrice": "2423.3"}]
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    assert account.margin.cannot_recompute == ("the account also holds COIN-M positions (ETHUSD_PERP), which "
                                               "desk does not read for an account added as binanceusdm")


def test_a_missing_index_price_is_an_error_not_a_price_of_one(fake, keys, make_config):
    portfolio_margin(fake)
    usdt = next(r for r in fake.state["binance"]["assetIndexPrice"] if r["asset"] == "USDT")
    usdt["assetIndexPrice"] = "0"
    with pytest.raises(VenueError, match="no Portfolio Margin index price for USDT"):
        read_once(make_config("binanceusdm"), keys.as_secrets())


# ---------------------------------------------------------------------------- read-only


def test_the_guard_allows_the_portfolio_reads_and_refuses_portfolio_writes():
    cfg = ReaderConfig("main", "binanceusdm")
    raw = build_exchange(cfg, {"apiKey": "k", "secret": "s"}, adapter_for("binanceusdm"))
    guarded = ReadOnlyExchange(raw)
    for name in ("papi_get_account", "papi_get_balance", "sapi_get_portfolio_collateralrate",
                 "sapi_get_portfolio_asset_index_price"):
        assert name in READ_METHODS and callable(getattr(guarded, name))
    assert not [n for n in READ_METHODS if n.startswith(("papi_", "sapi_portfolio")) and "_get_" not in n]
    for name in ("papi_post_um_order", "papi_delete_um_allopenorders", "papi_post_um_leverage",
                 "papi_post_repay_futures_negative_balance", "papi_post_margin_loan",
                 "sapi_post_portfolio_repay",
                 "papi_put_listenkey"):
        with pytest.raises(ReadOnlyViolation):
            getattr(guarded, name)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/papi/v1/account", True),
    ("GET", "/sapi/v1/portfolio/collateralRate", True),
    ("POST", "/papi/v1/um/order", False),
    ("DELETE", "/papi/v1/um/allOpenOrders", False),
    ("POST", "/papi/v1/um/leverage", False),
    ("POST", "/papi/v1/marginLoan", False),
    ("POST", "/papi/v1/repay-futures-negative-balance", False),
])
def test_the_transport_refuses_every_portfolio_write(method, path, allowed):
    if allowed:
        check_request("binanceusdm", method, "http://h" + path)
    else:
        with pytest.raises(ReadOnlyViolation):
            check_request("binanceusdm", method, "http://h" + path)


# ---------------------------------------------------------------------------- end to end


def test_end_to_end_accounts_add_snapshot_risk(monkeypatch, capsys, fake, keys, tmp_path, subprocess_env):
    portfolio_margin(fake)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{keys.api_key}\n{keys.secret}\n"))
    assert main(["accounts", "add", "pm", "--venue", "binanceusdm", "--api-url", fake.url,
                 "--secrets-from-stdin"]) == 0
    out = tmp_path / "pm.json"
    assert main(["snapshot", "--account", "pm", "-o", str(out)]) == 0, capsys.readouterr().err
    assert keys.secret not in out.read_text() and keys.api_key not in out.read_text()
    loaded = load_portfolio(out).account("pm")
    assert loaded.pooled and loaded.margin.threshold == K and loaded.margin.venue_ratio_inverted

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "desk", "risk", str(out), *extra], capture_output=True,
                              text=True, cwd=ROOT, env=subprocess_env, timeout=60)

    result = run("--json")
    assert result.returncode == 0, result.stderr
    (acc,) = json.loads(result.stdout)["accounts"]
    (pool,) = acc["pools"]
    equity, mm, _ = by_hand_unimmr()
    assert pool["mode"] == "binance portfolio margin (status NORMAL)" and pool["threshold"] == K
    assert pool["margin_balance"] == pytest.approx(equity)
    assert pool["margin_ratio"] == pytest.approx(K * mm / equity)
    assert abs(pool["margin_ratio"] / (K / pool["venue_margin_ratio"]) - 1) < 0.005
    btc = next(p for p in acc["positions"] if p["symbol"] == "BTC/USDT:USDT")
    assert abs(btc["liquidation_price_symbol_only"] - btc["reported_liquidation_price"]) <= 0.1  # one tick
    assert not [w for w in acc["warnings"] if "differs" in w or "cannot" in w]
    text = run().stdout
    assert ("mode: binance portfolio margin (status NORMAL) (one margin pool for the account, valued in USD, "
            "liquidation at 1.05×MM)") in text
    assert ("collateral BTC: 0.05 BTC at 60,000 USD, equity 0.05 BTC, haircut 5.00 %, counts 2,850.00 USD"
            in text)
    assert "pool USDT" not in text  # never per currency
