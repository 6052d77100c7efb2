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
    snap = read_once(make_config(venue), keys.as_secrets())
    assert snap.account.positions
    for p in snap.account.positions:
        row = rows[_BINANCE_IDS[p.symbol]]
        assert p.funding_rate == float(row["lastFundingRate"])
        assert p.next_funding_time == row["nextFundingTime"] / 1000
        assert p.funding_interval_hours is None  # not in the premium index
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
