"""Account modes that pool collateral (unified-margin.md §1, §7), read through ccxt from the fake
exchange, written by `desk snapshot`, and computed by `desk risk` as a user runs it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from desk.cli import main
from desk.domain.model import PoolKind
from desk.exchanges.base import VenueError
from desk.formats import load_portfolio
from tests.exchanges.conftest import read_once
from tests.fake_exchange import load_payload

ROOT = Path(__file__).resolve().parents[2]


def multi_assets(fake) -> None:
    state = fake.state["binance"]
    state["multiAssetsMargin"] = True
    state["account"] = load_payload("binance_fapi_account_v3_multi_assets.json")
    state["positionRisk"] = load_payload("binance_fapi_positionRisk_v3_multi_assets.json")


def test_binance_multi_assets_is_detected_and_read_as_one_usd_pool(fake, keys, make_config):
    multi_assets(fake)
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    margin = account.margin
    assert margin is not None and margin.pool is PoolKind.ACCOUNT and margin.mode == "binance multi-assets"
    by_asset = {c.asset: c for c in margin.collateral}
    assert set(by_asset) == {"USDT", "USDC"}  # BNB: empty wallet, no position settles in it
    assert (by_asset["USDT"].amount, by_asset["USDT"].price) == (3.73, 0.99985)
    assert (by_asset["USDC"].bid_buffer, by_asset["USDC"].ask_buffer) == (0.0001, 0.0001)
    assert by_asset["USDT"].underlying is None
    assert margin.venue_margin_ratio == pytest.approx(2.32548369 / 28.12516770, rel=1e-8)
    assert "GET /fapi/v1/multiAssetsMargin" in fake.paths() and "GET /fapi/v1/assetIndex" in fake.paths()


def test_binance_single_asset_account_stays_per_currency(fake, keys, make_config):
    # USDT only: one pool either way, so the flag (weight 30) is not asked
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    assert account.margin is None and account.reported["USDT"].margin_ratio > 0
    assert "GET /fapi/v1/multiAssetsMargin" not in fake.paths()


def test_two_funded_assets_in_single_asset_mode_stay_two_pools(fake, keys, make_config):
    multi_assets(fake)
    fake.state["binance"]["multiAssetsMargin"] = False  # Binance says: single-asset mode
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    assert account.margin is None  # asked, never guessed
    assert dict(account.wallets) == {"USDT": 3.73, "USDC": 22}
    assert "GET /fapi/v1/multiAssetsMargin" in fake.paths() and "GET /fapi/v1/assetIndex" not in fake.paths()


def test_a_missing_asset_index_is_an_error_not_a_price_of_one(fake, keys, make_config):
    multi_assets(fake)
    fake.state["binance"]["assetIndex"] = [
        r for r in fake.state["binance"]["assetIndex"] if r["symbol"] != "USDCUSD"
    ]
    with pytest.raises(VenueError, match="Binance sent no asset index for USDCUSD; desk cannot value"):
        read_once(make_config("binanceusdm"), keys.as_secrets())


def test_multi_assets_end_to_end_accounts_add_snapshot_risk(
    monkeypatch, capsys, fake, keys, tmp_path, subprocess_env
):
    """The reported defect: USDT 3.73 + USDC 22 behind a BTC long. desk now liquidates it where
    Binance does (within one tick), with the pool's ratio within 0.5 % of Binance's."""
    multi_assets(fake)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{keys.api_key}\n{keys.secret}\n"))
    assert (
        main(
            ["accounts", "add", "bn", "--venue", "binanceusdm", "--api-url", fake.url, "--secrets-from-stdin"]
        )
        == 0
    )
    out = tmp_path / "bn.json"
    assert main(["snapshot", "--account", "bn", "-o", str(out)]) == 0, capsys.readouterr().err
    assert json.loads(out.read_text())["format"] == "desk.portfolio/2"
    assert load_portfolio(out).account("bn").pooled
    result = subprocess.run(
        [sys.executable, "-m", "desk", "risk", str(out), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (acc,) = json.loads(result.stdout)["accounts"]
    (pool,) = acc["pools"]
    (btc,) = acc["positions"]
    venue_liq = 92582.36272925
    assert btc["reported_liquidation_price"] == pytest.approx(venue_liq)
    assert abs(btc["liquidation_price_symbol_only"] - venue_liq) <= 0.1  # one tick of BTCUSDT
    assert btc["liquidation_price"] == btc["liquidation_price_symbol_only"]  # no BTC collateral
    assert abs(pool["margin_ratio"] / pool["venue_margin_ratio"] - 1) < 0.005
    assert pool["margin_ratio"] < 0.1  # per-currency (USDT alone) gave 0.38
    assert not acc["warnings"]
    text = subprocess.run(
        [sys.executable, "-m", "desk", "risk", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env,
        timeout=60,
    ).stdout
    assert "mode: binance multi-assets (one margin pool for the account, valued in USD)" in text
    assert "collateral USDC: 22 USDC at 0.99995 USD, equity 22 USDC, haircut 0.01 %, counts 22.00 USD" in text


# ---------------------------------------------------------------------------- Bybit UTA


def test_bybit_uta_cross_reads_collateral_coins_with_tiered_ratios(fake, keys, make_config):
    fake.state["bybit"]["account"] = "uta_collateral"
    account = read_once(make_config("bybit"), keys.as_secrets()).account
    margin = account.margin
    assert margin is not None and margin.mode == "bybit uta cross" and margin.venue_margin_ratio == 0.0184
    by_asset = {c.asset: c for c in margin.collateral}
    assert set(by_asset) == {"USDT", "USDC", "BTC", "ETH"}
    btc = by_asset["BTC"]
    assert (btc.amount, btc.price, btc.underlying) == (0.05, 60_000, "BTC")
    assert [(t.floor, t.cap, t.rate) for t in btc.tiers] == [
        (0, 10, 0.95),
        (10, 20, 0.9),
        (20, float("inf"), 0.8),
    ]
    assert by_asset["USDT"].underlying is None
    assert "GET /v5/spot-margin-trade/collateral" in fake.paths()


def test_bybit_uta_end_to_end_ratio_and_wrong_way_liquidation(
    monkeypatch, capsys, fake, keys, tmp_path, subprocess_env
):
    """BTC collateral (its tiered ratio applied) counts, and falls with the BTC long."""
    fake.state["bybit"]["account"] = "uta_collateral"
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{keys.api_key}\n{keys.secret}\n"))
    assert (
        main(["accounts", "add", "bb", "--venue", "bybit", "--api-url", fake.url, "--secrets-from-stdin"])
        == 0
    )
    out = tmp_path / "bb.json"
    assert main(["snapshot", "--account", "bb", "-o", str(out)]) == 0, capsys.readouterr().err
    result = subprocess.run(
        [sys.executable, "-m", "desk", "risk", str(out), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (acc,) = json.loads(result.stdout)["accounts"]
    (pool,) = acc["pools"]
    (btc,) = acc["positions"]
    assert pool["margin_balance"] == pytest.approx(7_400)  # TV5: 2,200 + 1,000 + 2,850 + 1,350
    assert pool["total_equity"] == pytest.approx(7_700)
    assert abs(pool["margin_ratio"] / pool["venue_margin_ratio"] - 1) < 0.005
    assert btc["reported_liquidation_price"] is None  # Bybit sends "" for UTA cross
    assert btc["liquidation_price_symbol_only"] == pytest.approx(41_840.69, rel=1e-6)
    assert btc["liquidation_price"] == pytest.approx(43_768.215, rel=1e-6)
    assert acc["shock_to_liquidation"] == pytest.approx(-0.25758, rel=1e-4)


def test_bybit_uta_portfolio_margin_is_named_not_recomputed(
    monkeypatch, capsys, fake, keys, tmp_path, subprocess_env
):
    fake.state["bybit"]["uta"]["info"]["marginMode"] = "PORTFOLIO_MARGIN"
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{keys.api_key}\n{keys.secret}\n"))
    assert (
        main(["accounts", "add", "pm", "--venue", "bybit", "--api-url", fake.url, "--secrets-from-stdin"])
        == 0
    )
    out = tmp_path / "pm.json"
    assert main(["snapshot", "--account", "pm", "-o", str(out)]) == 0, capsys.readouterr().err
    text = subprocess.run(
        [sys.executable, "-m", "desk", "risk", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env,
        timeout=60,
    ).stdout
    assert "mode: bybit uta portfolio margin" in text
    assert (
        "pool USD: cannot recompute: maintenance margin comes from Bybit's scenario engine, which is not "
        "published per position; margin ratio 1.51 % from the venue's own figure"
    ) in text
    assert "pool USDT" not in text  # never silently per-currency


# ---------------------------------------------------------------------------- OKX


def okx_multi_currency(fake, level: str = "3") -> None:
    fake.state["okx"]["acctLv"] = level
    fake.state["okx"]["balance"] = load_payload("okx_balance_multi_currency.json")


def test_okx_spot_and_futures_mode_stays_per_currency(fake, keys, make_config):
    account = read_once(make_config("okx"), keys.okx()).account
    assert account.margin is None and account.reported["USDT"].margin_ratio == 48.38
    assert "GET /api/v5/account/config" in fake.paths()  # asked, never guessed


def test_okx_multi_currency_end_to_end(monkeypatch, capsys, fake, keys, tmp_path, subprocess_env):
    """acctLv 3: BTC cash counts (at OKX's discount) behind the USDT-margined BTC long, and falls with it."""
    okx_multi_currency(fake)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{keys.api_key}\n{keys.secret}\n{keys.passphrase}\n"))
    assert (
        main(["accounts", "add", "ok", "--venue", "okx", "--api-url", fake.url, "--secrets-from-stdin"]) == 0
    )
    out = tmp_path / "ok.json"
    assert main(["snapshot", "--account", "ok", "-o", str(out)]) == 0, capsys.readouterr().err
    result = subprocess.run(
        [sys.executable, "-m", "desk", "risk", str(out), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (acc,) = json.loads(result.stdout)["accounts"]
    pools = acc["pools"]
    assert [p["pool"] for p in pools] == ["account"]  # the isolated inverse short is outside the pool
    (pool,) = pools
    assert pool["mode"] == "okx multi-currency"
    assert pool["margin_balance"] == pytest.approx(42_380)  # 12,000 + 0.5 × 62,000 × 0.98
    # OKX's mgnRatio is adjEq ÷ (MM + fee): the reciprocal of desk's ratio
    assert abs(1 / pool["margin_ratio"] / pool["venue_margin_ratio"] - 1) < 0.005
    cross = next(p for p in acc["positions"] if p["margin_mode"] == "cross")
    isolated = next(p for p in acc["positions"] if p["margin_mode"] == "isolated")
    # collateral held: 42,380 + 1·(x − 62,000) = 0.0045·x
    assert cross["liquidation_price_symbol_only"] == pytest.approx((62_000 - 42_380) / 0.9955, rel=1e-9)
    # BTC collateral moving with the mark: 12,000 + (x − 62,000) + 0.5·0.98·x = 0.0045·x
    assert cross["liquidation_price"] == pytest.approx((62_000 - 12_000) / (1 + 0.49 - 0.0045), rel=1e-9)
    assert isolated["liquidation_price"] is not None


def test_okx_portfolio_margin_is_named_not_recomputed(fake, keys, make_config, tmp_path):
    okx_multi_currency(fake, "4")
    account = read_once(make_config("okx"), keys.okx()).account
    assert account.margin.mode == "okx portfolio margin"
    assert account.margin.cannot_recompute.startswith("maintenance margin comes from OKX's risk units")
    from desk.domain.engine import compute_risk
    from desk.domain.model import Portfolio

    pool = compute_risk(Portfolio((account,))).accounts[0].pools[0]
    assert pool.cannot_recompute and pool.margin_ratio == pytest.approx(1 / account.margin.venue_margin_ratio)


# ---------------------------------------------------------------------------- Hyperliquid


def test_hyperliquid_standard_account_stays_one_usdc_pool(fake, keys, make_config):
    from tests.exchanges.conftest import HL_ADDRESS

    account = read_once(make_config("hyperliquid", wallet_address=HL_ADDRESS), {}).account
    assert account.margin is None and "USDC" in account.wallets


@pytest.mark.parametrize(("mode", "title"), [("unifiedAccount", "hyperliquid unified account"),
                                             ("portfolioMargin", "hyperliquid portfolio margin")])
def test_hyperliquid_unified_and_portfolio_margin_are_named(mode, title, fake, keys, make_config):
    from desk.domain.engine import compute_risk
    from desk.domain.model import Portfolio
    from tests.exchanges.conftest import HL_ADDRESS

    fake.state["hyperliquid"]["userAbstraction"] = mode
    account = read_once(make_config("hyperliquid", wallet_address=HL_ADDRESS), {}).account
    assert account.margin.mode == title and account.margin.cannot_recompute
    risk = compute_risk(Portfolio((account,))).accounts[0]
    (pool,) = risk.pools
    assert pool.mode == title and pool.cannot_recompute and pool.margin_ratio is None
    assert all(p.liquidation_price is None for p in risk.positions if p.margin_mode == "cross")
    assert any(f"{title}: desk cannot recompute it" in w for w in risk.warnings)
