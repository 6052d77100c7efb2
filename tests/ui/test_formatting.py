from __future__ import annotations

import math

import pytest

from desk.ui import formatting as fmt


@pytest.mark.parametrize(("tick", "decimals"), [(0.1, 1), (0.5, 1), (0.01, 2), (0.0001, 4), (1.0, 0),
                                                (5.0, 0), (0.00001, 5), (2.5e-7, 8)])
def test_tick_decimals_follow_the_tick_size(tick: float, decimals: int) -> None:
    assert fmt.tick_decimals(tick) == decimals


def test_prices_are_shown_at_the_symbols_precision() -> None:
    assert fmt.price(54_300.0, 0.1) == "54,300.0"
    assert fmt.price(54_299.96, 0.5) == "54,300.0"
    assert fmt.price(0.142, 0.00001) == "0.14200"
    assert fmt.price(3_459.4937, 0.01) == "3,459.49"


def test_missing_numbers_are_a_dash_never_zero() -> None:
    assert fmt.price(None, 0.1) == fmt.DASH
    assert fmt.price(math.nan, 0.1) == fmt.DASH
    assert fmt.percent(None) == fmt.DASH
    assert fmt.money(None, "USDT") == fmt.DASH


def test_money_percent_age() -> None:
    assert fmt.money(1234.5, "USDT") == "1,234.50 USDT"
    assert fmt.money(0.0123456, "BTC") == "0.012346 BTC"
    assert fmt.money(-12.0, "USDC", signed=True) == "-12.00 USDC"
    assert fmt.percent(0.0512) == "5.12 %"
    assert fmt.age(0.42) == "0.4 s"
    assert fmt.age(75) == "75 s"
    assert fmt.age(600) == "10 min"
    assert fmt.age(7500) == "2 h 5 min"
    assert fmt.quantity(0.05) == "0.05"
    assert fmt.quantity(300.0) == "300"
