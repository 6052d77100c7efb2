"""Binance USDⓈ-M and COIN-M read through ccxt against the fake exchange."""

from __future__ import annotations

import pytest

from desk.domain.model import Kind, Leg, MarginMode, Side
from tests.exchanges.conftest import read_many, read_once
from tests.fake_exchange import load_payload


def test_usdm_cross_account_matches_binance_worked_example(fake, keys, make_config):
    snap = read_once(make_config("binanceusdm"), keys.as_secrets())
    account = snap.account
    assert account.venue == "binanceusdm"
    assert dict(account.wallets) == {"USDT": pytest.approx(1535443.01)}
    # the venue's own ratio: maintMargin / marginBalance = 427713.32 / 1030895.55
    assert account.reported["USDT"].margin_ratio == pytest.approx(427713.3195 / 1030895.55, rel=1e-9)
    eth, btc = sorted(account.positions, key=lambda p: p.symbol, reverse=True)
    assert (eth.symbol, eth.side, eth.kind, eth.leg) == ("ETH/USDT:USDT", Side.LONG, Kind.LINEAR, Leg.BOTH)
    assert eth.contracts == pytest.approx(3683.979)
    assert (eth.entry_price, eth.mark_price) == (1456.84, 1335.18)
    assert eth.margin_mode is MarginMode.CROSS and eth.isolated_margin is None
    # positionRisk v3 has no leverage: derived from notional / positionInitialMargin
    assert eth.leverage == 10 and btc.leverage == 20
    assert eth.reported.liquidation_price == 1153.3
    assert btc.reported.liquidation_price == 26316.89
    assert (eth.tick_size, btc.tick_size) == (0.01, 0.1)
    assert (eth.lot_size, btc.lot_size) == (0.001, 0.001)  # LOT_SIZE stepSize: suggestions cut whole lots
    assert eth.mark_time == snap.observed_at
    # tiers with Binance's `cum`, which ccxt keeps only in info
    tier6 = eth.tiers[5]
    assert (tier6.notional_floor, tier6.notional_cap, tier6.mmr, tier6.maintenance_amount) == (
        2_000_000, 5_000_000, 0.10, 135_365)
    assert [t.maintenance_amount for t in btc.tiers[:4]] == [0, 50, 1300, 16300]
    assert all(a.notional_cap == b.notional_floor for a, b in zip(eth.tiers, eth.tiers[1:], strict=False))
    assert snap.raw["positions"][0]["symbol"] == "ETHUSDT"
    assert snap.raw["account"]["totalMaintMargin"]
    assert snap.request_weight > 0


def test_usdm_endpoint_sequence_skips_private_currencies_and_spot(fake, keys, make_config):
    read_once(make_config("binanceusdm"), keys.as_secrets())
    paths = fake.paths()
    # no private currency list, no spot market list: of the spot API only the spot wallet (issue 21)
    assert [p for p in paths if "/sapi/" in p or "/api/" in p] == ["GET /api/v3/account"], paths
    assert paths.count("GET /fapi/v1/exchangeInfo") == 1
    assert "GET /fapi/v1/time" in paths  # clock synchronised before the first signed call
    assert paths.index("GET /fapi/v1/time") < paths.index("GET /fapi/v3/positionRisk")
    assert all(p.startswith("GET ") for p in paths)
    signed = [r for r in fake.requests if r.path == "/fapi/v3/positionRisk"]
    assert signed and "signature" in signed[0].query and "X-MBX-APIKEY" in signed[0].headers


def test_usdm_hedge_mode_isolated_and_flat_rows(fake, keys, make_config):
    fake.state["binance"]["positionRisk"] = load_payload("binance_fapi_positionRisk_v3_hedge_isolated.json")
    fake.state["binance"]["account"] = load_payload("binance_fapi_account_v3_hedge_isolated.json")
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    by_symbol = {p.symbol: p for p in account.positions}
    assert set(by_symbol) == {"LTC/USDT:USDT", "BTC/USDT:USDT"}  # the flat ETH row is dropped
    ltc = by_symbol["LTC/USDT:USDT"]
    assert (ltc.side, ltc.leg, ltc.margin_mode) == (Side.SHORT, Leg.SHORT, MarginMode.ISOLATED)
    # isolatedWallet, i.e. EXCLUDING unrealized PnL (isolatedMargin = wallet + uPnL = 887.125)
    assert ltc.isolated_margin == 1052.125
    assert ltc.reported.liquidation_price == 78.46
    btc = by_symbol["BTC/USDT:USDT"]
    assert (btc.leg, btc.margin_mode) == (Leg.LONG, MarginMode.CROSS)
    assert btc.reported.liquidation_price is None  # Binance "0" = cannot be liquidated, never 0


def test_coinm_inverse_positions_tiers_in_coin(fake, keys, make_config):
    snap = read_once(make_config("binancecoinm"), keys.as_secrets())
    account = snap.account
    by_symbol = {p.symbol: p for p in account.positions}
    assert set(by_symbol) == {"BTC/USD:BTC", "ETH/USD:ETH"}
    btc, eth = by_symbol["BTC/USD:BTC"], by_symbol["ETH/USD:ETH"]
    assert (btc.kind, btc.settle, btc.contract_size, btc.contracts) == (Kind.INVERSE, "BTC", 100, 1000)
    assert (btc.lot_size, eth.lot_size) == (1, 1)  # COIN-M trades whole contracts
    assert btc.margin_mode is MarginMode.CROSS and btc.leverage == 20
    assert (eth.side, eth.margin_mode, eth.isolated_margin) == (Side.SHORT, MarginMode.ISOLATED, 0.01666667)
    assert [(t.notional_floor, t.notional_cap, t.mmr, t.maintenance_amount) for t in btc.tiers[:3]] == [
        (0, 5, 0.004, 0), (5, 10, 0.005, 0.005), (10, 20, 0.01, 0.055)]
    assert account.wallets["BTC"] == 0.5
    assert "GET /dapi/v2/leverageBracket" in fake.paths()


def test_markets_come_from_the_disk_cache_until_stale(fake, keys, make_config, tmp_path):
    cfg = make_config("binanceusdm")
    read_once(cfg, keys.as_secrets())
    assert fake.paths().count("GET /fapi/v1/exchangeInfo") == 1
    assert list((tmp_path / "markets").glob("binanceusdm-*.json"))
    read_once(cfg, keys.as_secrets())
    assert fake.paths().count("GET /fapi/v1/exchangeInfo") == 1  # cached
    read_once(make_config("binanceusdm", markets_max_age_hours=0.0), keys.as_secrets())
    assert fake.paths().count("GET /fapi/v1/exchangeInfo") == 2  # refresh age passed


def test_tiers_are_cached_between_snapshots(fake, keys, make_config):
    snaps = read_many(make_config("binanceusdm"), keys.as_secrets(), 3)
    assert all(s.account.positions for s in snaps)
    brackets = fake.paths().count("GET /fapi/v1/leverageBracket")
    assert brackets == 2  # ccxt's own bracket load for positionRisk, then desk's tier read; not per poll
    assert fake.paths().count("GET /fapi/v3/positionRisk") == 3
    assert snaps[2].request_weight < snaps[0].request_weight
