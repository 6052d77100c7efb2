"""Funding rate and next funding time per position, read from the venues' own answers (issue 17):
Binance's premium index (USDⓈ-M and COIN-M) and Bybit's tickers, served by the fake exchange."""

from __future__ import annotations

import pytest

from tests.exchanges.conftest import read_once
from tests.fake_exchange import load_payload

_BINANCE_IDS = {"ETH/USDT:USDT": "ETHUSDT", "BTC/USDT:USDT": "BTCUSDT",
                "BTC/USD:BTC": "BTCUSD_PERP", "ETH/USD:ETH": "ETHUSD_PERP"}


def _premium(name: str) -> dict[str, dict]:
    return {row["symbol"]: row for row in load_payload(name)}


@pytest.mark.parametrize("venue, payload", [
    ("binanceusdm", "binance_fapi_premiumIndex.json"),
    ("binancecoinm", "binance_dapi_premiumIndex.json"),
])
def test_binance_positions_carry_the_premium_index_funding(fake, keys, make_config, venue, payload):
    rows = _premium(payload)
    info = fake.state["binance"]["fundingInfo" if venue == "binanceusdm" else "dapi_fundingInfo"]
    intervals = {r["symbol"]: r["fundingIntervalHours"] for r in info}
    snap = read_once(make_config(venue), keys.as_secrets())
    assert snap.account.positions
    for p in snap.account.positions:
        row = rows[_BINANCE_IDS[p.symbol]]
        assert p.funding_rate == float(row["lastFundingRate"])
        assert p.next_funding_time == row["nextFundingTime"] / 1000
        # not in the premium index: /fundingInfo's hours for the symbols it lists, else Binance's 8
        assert p.funding_interval_hours == intervals.get(_BINANCE_IDS[p.symbol], 8)
    # one premium index read per account read, no more
    path = "/fapi/v1/premiumIndex" if venue == "binanceusdm" else "/dapi/v1/premiumIndex"
    assert fake.paths().count(f"GET {path}") == 1


def test_binance_risk_report_carries_the_funding(fake, keys, make_config):
    from desk.domain.engine import compute_risk
    from desk.domain.model import Portfolio

    rows = _premium("binance_fapi_premiumIndex.json")
    account = read_once(make_config("binanceusdm"), keys.as_secrets()).account
    report = compute_risk(Portfolio((account,)))
    eth = next(p for p in report.accounts[0].positions if p.symbol == "ETH/USDT:USDT")
    assert eth.funding_rate == float(rows["ETHUSDT"]["lastFundingRate"])
    assert eth.next_funding_time == rows["ETHUSDT"]["nextFundingTime"] / 1000
    assert eth.funding_drift is None  # the drift is computed on demand only


_BYBIT_IDS = {"BTC/USDT:USDT": "BTCUSDT", "ETH/USDT:USDT": "ETHUSDT", "BTC/USD:BTC": "BTCUSD",
              "BTC/USDC:USDC": "BTCPERP"}


def _instrument_minutes() -> dict[str, float]:
    instruments = load_payload("bybit_instruments.json")
    return {r["symbol"]: float(r["fundingInterval"]) for rows in instruments.values() for r in rows
            if "fundingInterval" in r}


@pytest.mark.parametrize("account", ["uta", "classic"])
def test_bybit_positions_carry_the_tickers_funding(fake, keys, make_config, account):
    fake.state["bybit"]["account"] = account
    funding = load_payload("bybit_tickers_funding.json")
    minutes = _instrument_minutes()
    snap = read_once(make_config("bybit"), keys.as_secrets())
    assert snap.account.positions
    for p in snap.account.positions:
        market_id = _BYBIT_IDS[p.symbol]
        row = funding[market_id]
        assert p.funding_rate == float(row["fundingRate"])
        assert p.next_funding_time == float(row["nextFundingTime"]) / 1000
        assert p.funding_interval_hours == minutes[market_id] / 60
    categories = {r.query.get("category") for r in fake.requests if r.path == "/v5/market/tickers"}
    held = {"inverse" if p.kind.value == "inverse" else "linear" for p in snap.account.positions}
    assert categories == held
    assert len([r for r in fake.requests if r.path == "/v5/market/tickers"]) == len(held)
