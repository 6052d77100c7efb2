"""Bybit (unified and classic) and Hyperliquid read through ccxt against the fake exchange."""

from __future__ import annotations

import pytest

from desk.domain.model import Kind, MarginMode, Side
from tests.exchanges.conftest import HL_ADDRESS, read_once


def test_bybit_unified_cross_account(fake, keys, make_config):
    snap = read_once(make_config("bybit"), keys.as_secrets())
    account = snap.account
    by_symbol = {p.symbol: p for p in account.positions}
    assert set(by_symbol) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}  # the flat BTCPERP row is dropped
    btc, eth = by_symbol["BTC/USDT:USDT"], by_symbol["ETH/USDT:USDT"]
    # ccxt says marginMode None on UTA: desk takes the account's REGULAR_MARGIN → cross
    assert btc.margin_mode is MarginMode.CROSS and eth.margin_mode is MarginMode.CROSS
    assert (btc.side, btc.contracts) == (Side.LONG, 0.5)
    assert (btc.entry_price, btc.mark_price) == (60000, 62000)
    assert (eth.side, eth.contracts) == (Side.SHORT, 10)
    # liqPrice/bustPrice "" on UTA cross → None, never 0
    assert btc.reported.liquidation_price is None and btc.reported.bankruptcy_price is None
    assert btc.leverage == 10 and btc.tick_size == 0.1
    assert [(t.notional_floor, t.notional_cap, t.mmr, t.maintenance_amount) for t in btc.tiers] == [
        (0, 2_000_000, 0.005, None), (2_000_000, 2_600_000, 0.0056, 1200),
        (2_600_000, 3_200_000, 0.0062, 2760)]
    assert dict(account.wallets) == {"USDT": 20000, "USDC": 500}
    # UTA cross is one pool for the whole account: its ratio is the account's accountMMRate
    assert account.margin is not None and account.margin.mode == "bybit uta cross"
    assert account.margin.venue_margin_ratio == 0.0151 and not account.reported
    assert snap.raw["unified"] is True
    paths = fake.paths()
    assert "GET /v5/asset/coin/query-info" not in paths and "GET /v5/user/query-api" not in paths
    assert paths.count("GET /v5/position/list") == 3  # USDT, USDC linear and inverse
    signed = next(r for r in fake.requests if r.path == "/v5/position/list")
    assert {"X-BAPI-API-KEY", "X-BAPI-SIGN", "X-BAPI-TIMESTAMP", "X-BAPI-RECV-WINDOW"} <= set(signed.headers)


def test_bybit_classic_isolated_and_inverse(fake, keys, make_config):
    fake.state["bybit"]["account"] = "classic"
    account = read_once(make_config("bybit"), keys.as_secrets()).account
    by_symbol = {p.symbol: p for p in account.positions}
    usdt, inverse = by_symbol["BTC/USDT:USDT"], by_symbol["BTC/USD:BTC"]
    # Bybit's isolated example: 1 BTC @ 20,000, 50x, position margin 400, LP 19,700
    assert usdt.margin_mode is MarginMode.ISOLATED and usdt.isolated_margin == 400
    assert (usdt.reported.liquidation_price, usdt.reported.bankruptcy_price) == (19700, 19600)
    assert (inverse.kind, inverse.settle, inverse.margin_mode) == (Kind.INVERSE, "BTC", MarginMode.CROSS)
    assert inverse.tiers[1].maintenance_amount == pytest.approx(0.75)  # coin notionals for inverse
    assert dict(account.wallets) == {"USDT": 1000, "BTC": 0.5}
    assert dict(account.reported) == {}  # classic accounts publish no account MM rate
    assert fake.paths().count("GET /v5/position/list") == 2  # no USDC query on classic


def test_hyperliquid_by_wallet_address_without_keys(fake, make_config):
    snap = read_once(make_config("hyperliquid", wallet_address=HL_ADDRESS), {})
    account = snap.account
    by_symbol = {p.symbol: p for p in account.positions}
    btc, eth = by_symbol["BTC/USDC:USDC"], by_symbol["ETH/USDC:USDC"]
    assert (btc.side, btc.contracts, btc.mark_price) == (Side.LONG, 2, 62000)
    assert btc.margin_mode is MarginMode.CROSS
    assert btc.tiers[0].mmr == pytest.approx(1 / 80) and btc.tiers[0].maintenance_amount == 0
    assert btc.reported.liquidation_price == pytest.approx(35443.0379746835)
    # isolated margin EXCLUDES uPnL: marginUsed 2,000 − uPnL (−1,000) = 3,000
    assert (eth.side, eth.margin_mode, eth.isolated_margin) == (Side.SHORT, MarginMode.ISOLATED, 3000)
    assert eth.tiers[0].mmr == pytest.approx(0.02)
    # cross wallet = cross account value 54,000 − cross uPnL 4,000
    assert dict(account.wallets) == {"USDC": 50000}
    assert account.reported["USDC"].margin_ratio == pytest.approx(1550 / 54000)
    assert all(r.method == "POST" and r.path == "/info" for r in fake.requests)
    assert not any("apiKey" in r.body or "signature" in r.body for r in fake.requests)


def test_hyperliquid_unknown_address_is_flat(fake, make_config):
    snap = read_once(make_config("hyperliquid", wallet_address="0x" + "0" * 40), {})
    assert snap.account.positions == () and snap.account.wallets["USDC"] == 0


def test_okx_swaps_linear_cross_and_inverse_isolated(fake, keys, make_config):
    snap = read_once(make_config("okx"), keys.okx())
    account = snap.account
    by_symbol = {p.symbol: p for p in account.positions}
    assert set(by_symbol) == {"BTC/USDT:USDT", "BTC/USD:BTC"}  # the flat row is dropped
    linear, inverse = by_symbol["BTC/USDT:USDT"], by_symbol["BTC/USD:BTC"]
    assert (linear.contracts, linear.contract_size, linear.margin_mode) == (100, 0.01, MarginMode.CROSS)
    assert linear.reported.liquidation_price is None  # liqPx "" → None
    # OKX's mgnRatio is kept in OKX's own sense (higher is safer), never as desk's ratio
    assert linear.reported.margin_ratio == 15.5 and account.reported["USDT"].margin_ratio == 48.38
    # the tier OKX applies to 100 contracts (position-tiers tier 1); agrees with mmr 248 ÷ notional 62,000
    assert linear.tiers[0].mmr == 0.004 == pytest.approx(248 / 62000)
    assert (inverse.kind, inverse.side, inverse.contract_size) == (Kind.INVERSE, Side.SHORT, 100)
    assert inverse.margin_mode is MarginMode.ISOLATED and inverse.isolated_margin == 0.01
    assert inverse.tiers[0].mmr == 0.004 == pytest.approx(0.00032258 / (50 * 100 / 62000), rel=1e-5)
    assert dict(account.wallets) == {"USDT": 10000, "BTC": 0.2}
    assert "GET /api/v5/asset/currencies" not in fake.paths()
    signed = next(r for r in fake.requests if r.path == "/api/v5/account/positions")
    assert {"OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-TIMESTAMP", "OK-ACCESS-PASSPHRASE"} <= set(
        signed.headers)


def test_okx_wrong_passphrase_is_auth(fake, keys, make_config):
    from desk.exchanges import ErrorKind, VenueError

    with pytest.raises(VenueError) as info:
        read_once(make_config("okx"), dict(keys.okx(), password="test-pass-wrong"))
    assert info.value.kind is ErrorKind.AUTH


def test_generic_adapter_on_a_venue_read_through_unified_fields(fake, keys, make_config):
    """The generic rules, driven through ccxt's unified structures (here Binance's)."""
    from desk.exchanges.adapters.generic import GenericAdapter
    from desk.exchanges.reader import CcxtReader, build_exchange
    from tests.exchanges.conftest import run

    cfg = make_config("binanceusdm")
    adapter = GenericAdapter("binanceusdm")
    reader = CcxtReader(cfg, build_exchange(cfg, keys.as_secrets(), adapter), adapter)

    async def go():
        try:
            return await reader.snapshot()
        finally:
            await reader.close()

    snap = run(go())
    by_symbol = {p.symbol: p for p in snap.account.positions}
    eth = by_symbol["ETH/USDT:USDT"]
    assert (eth.side, eth.contracts) == (Side.LONG, 3683.979)
    assert (eth.entry_price, eth.mark_price) == (1456.84, 1335.18)
    assert eth.margin_mode is MarginMode.CROSS and eth.reported.liquidation_price == 1153.3
    # ccxt's single maintenance rate for the position's notional (the bracket containing 4.9 M)
    assert eth.tiers[0].mmr == 0.1
    assert "USDT" in snap.account.wallets
    assert any("wallet = ccxt balance total" in a for a in snap.raw["assumptions"])
