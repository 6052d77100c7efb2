"""Each venue's ADL scale as its documentation states it (desk.domain.adl), value by value.

The tables below are written from the venues' pages, not from the module:
Bybit adlRankIndicator — "0 default value of empty position", then 1, 2, 3, 4, 5;
OKX adl — "Divided into 6 levels, from 0 to 5, the smaller the number, the weaker the adl intensity";
Binance adlQuantile — "Values 0, 1, 2, 3, 4 shows the queue position and possibility of ADL from low
to high".
"""

from __future__ import annotations

import pytest

from desk.domain.adl import SCALES, AdlLevel, adl_description, adl_reading, lights_text
from desk.domain.venue_pages import position_page

NONE, LOW, HIGH = AdlLevel.NONE, AdlLevel.LOW, AdlLevel.HIGH


@pytest.mark.parametrize(("value", "lit", "level", "text"), [
    (0, 0, NONE, "○○○○○"),  # an empty position's default: not ranked
    (1, 1, LOW, "●○○○○"),
    (2, 2, LOW, "●●○○○"),
    (3, 3, LOW, "●●●○○"),
    (4, 4, LOW, "●●●●○"),
    (5, 5, HIGH, "●●●●●"),  # the top rank: deleveraged first
])
def test_bybit_adl_rank_indicator(value: int, lit: int, level: AdlLevel, text: str) -> None:
    reading = adl_reading("bybit", value)
    assert reading is not None and reading.verified
    assert (reading.lit, reading.of, reading.level) == (lit, 5, level)
    assert reading.fraction == lit / 5
    assert lights_text(reading) == text
    assert f"Bybit adlRankIndicator = {value}" in adl_description(reading)


@pytest.mark.parametrize(("value", "lit", "level"), [(0, 0, NONE), (1, 1, LOW), (4, 4, LOW), (5, 5, HIGH)])
def test_okx_adl_six_levels(value: int, lit: int, level: AdlLevel) -> None:
    reading = adl_reading("okx", value)
    assert reading is not None and (reading.lit, reading.of, reading.level) == (lit, 5, level)
    assert "scale 0–5" in adl_description(reading)


@pytest.mark.parametrize("venue", ["binanceusdm", "binancecoinm"])
@pytest.mark.parametrize(("value", "lit", "level", "text"), [
    (0, 0, NONE, "○○○○"), (1, 1, LOW, "●○○○"), (2, 2, LOW, "●●○○"), (3, 3, LOW, "●●●○"), (4, 4, HIGH, "●●●●"),
])
def test_binance_adl_quantile(venue: str, value: int, lit: int, level: AdlLevel, text: str) -> None:
    reading = adl_reading(venue, value)
    assert reading is not None and (reading.lit, reading.of, reading.level) == (lit, 4, level)
    assert lights_text(reading) == text
    assert f"Binance adlQuantile = {value}" in adl_description(reading)
    assert "Position-ADL-Quantile-Estimation" in SCALES[venue].source


def test_out_of_range_and_unknown_venues_are_never_lit() -> None:
    assert adl_reading("bybit", None) is None
    assert adl_reading("hyperliquid", None) is None  # Hyperliquid publishes no rank
    for venue, value in (("okx", 6), ("bybit", 7), ("binanceusdm", 5), ("kraken", 3), (None, 1)):
        reading = adl_reading(venue, value)
        assert reading is not None and reading.lit is None and lights_text(reading) == str(value)
        assert "scale unverified" in adl_description(reading)


def test_every_verified_scale_cites_its_source() -> None:
    for venue, scale in SCALES.items():
        assert scale.source.startswith("https://"), venue
        assert scale.lowest == 0 and scale.highest in (4, 5), venue


@pytest.mark.parametrize(("venue", "symbol", "url"), [
    ("binanceusdm", "BTC/USDT:USDT", "https://www.binance.com/en/futures/BTCUSDT"),
    ("binanceusdm", "1000PEPE/USDT:USDT", "https://www.binance.com/en/futures/1000PEPEUSDT"),
    ("binancecoinm", "BTC/USD:BTC", "https://www.binance.com/en/delivery/btcusd_perpetual"),
    ("bybit", "ETH/USDT:USDT", "https://www.bybit.com/trade/usdt/ETHUSDT"),
    ("bybit", "BTC/USD:BTC", "https://www.bybit.com/trade/inverse/BTCUSD"),
    ("okx", "BTC/USDT:USDT", "https://www.okx.com/trade-swap/btc-usdt-swap"),
    ("okx", "ETH/USD:ETH", "https://www.okx.com/trade-swap/eth-usd-swap"),
    ("hyperliquid", "SOL/USDC:USDC", "https://app.hyperliquid.xyz/trade/SOL"),
])
def test_position_pages(venue: str, symbol: str, url: str) -> None:
    page = position_page(venue, symbol)
    assert page.url == url and page.reason == ""


@pytest.mark.parametrize(("venue", "symbol", "demo"), [
    ("bybit", "ETH/USDT:USDT", True),  # the demo venue has no website
    ("binanceusdm", "BTC/USDT:USDT-250627", False),  # a dated future: its page is not known
    ("bybit", "BTC/USDC:USDC", False),  # Bybit USDC perpetuals: page name not known
    ("binanceusdm", "BTC/USD:BTC", False),  # not a USDⓈ-M contract
    ("kraken", "BTC/USD:USD", False),
])
def test_no_page(venue: str, symbol: str, demo: bool) -> None:
    page = position_page(venue, symbol, demo=demo)
    assert page.url is None and page.reason
