"""display.price and display.quantity take shortcuts (a format spec kept per tick size; no thousands
grouping under 999) so thousands of hedge sentences cost less (issue 18). Each must still write
exactly what the plain rule below writes, for every value: these are those rules as they were."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desk.domain import display


def plain_price(value: float | None, tick_size: float | None = None) -> str:
    if value is None or not math.isfinite(value):
        return display.DASH
    return f"{value:,.{display.tick_decimals(tick_size, value)}f}"


def plain_quantity(value: float | None, unit: str | None = None) -> str:
    if value is None or not math.isfinite(value):
        return display.DASH
    text = f"{value:,.8f}".rstrip("0").rstrip(".") or "0"
    return f"{text} {unit}" if unit else text


TICKS = [None, 0.0001, 0.01, 0.1, 0.5, 0.25, 1.0, 1, 5.0, 10.0, 100.0, 1e-8, 1e-12, 2.5e-5, 1e20,
         0.0, -0.0, -0.01, math.nan, math.inf, -math.inf]

# rounding edges of the grouping (999.5 rounds to 1,000 with no decimals; 999.999999995 with 8),
# of the decimals (x.xxxx5), signs, zero and its sign, the tiny and the huge, and no number at all
EDGES = [0.0, -0.0, 1.0, -1.0, 998.9999999949, 998.999999995, 999.0, -999.0, 999.4999, 999.5, 999.5000001,
         999.99999999, 999.999999994, 999.999999995, 999.999999996, 1000.0, -999.999999996, -1000.0,
         -998.999999996, 1000.4, 9999.99995, 12345.67895, 0.00005, 0.000049999, 0.5, -0.5, 1.5, 2.5,
         5e-9, 4.9e-9, 5.1e-9, -5e-9, -4.9e-9, 1e-300, -1e-300, 5e-324, 1e20, -1e20, 1.7976931348623157e308,
         -1.7976931348623157e308, 123456789.123456789, 0.1 + 0.2, None, math.nan, -math.nan, math.inf,
         -math.inf]


def _many_values(count: int = 4000) -> list[float | None]:
    rng = random.Random(18)
    values: list[float | None] = list(EDGES)
    for _ in range(count):
        magnitude = 10.0 ** rng.uniform(-12, 15)
        value = rng.choice([-1.0, 1.0]) * magnitude
        values.append(value)
        values.append(round(value, rng.randint(0, 10)))  # a value written at few decimals ends in ...5
        values.append(math.nextafter(value, math.inf))
    values.extend(k + 0.5 for k in range(990, 1010))
    values.extend(-(k + 0.5) for k in range(990, 1010))
    return values


VALUES = _many_values()


def test_price_writes_what_the_plain_rule_writes_at_every_tick() -> None:
    for tick in TICKS:
        for value in VALUES:  # the first value at a tick keeps its spec; the rest read it
            assert display.price(value, tick) == plain_price(value, tick), (value, tick)


def test_price_without_a_usable_tick_follows_each_value_s_magnitude() -> None:
    # the spec is kept per tick only where the tick alone decides it: never for None, 0 or a non-finite
    # tick, whose decimals depend on the price (a kept spec would give 12,345.7 the decimals of 0.001)
    for tick in (None, 0.0, -1.0, math.nan, math.inf):
        assert display.price(0.00123456, tick) == "0.0012346"
        assert display.price(12345.678, tick) == "12,346"
        assert display.price(1.5, tick) == "1.5000"


def test_quantity_writes_what_the_plain_rule_writes() -> None:
    for value in VALUES:
        for unit in (None, "", "BTC"):
            assert display.quantity(value, unit) == plain_quantity(value, unit), (value, unit)


def test_the_grouping_edge() -> None:
    assert display.quantity(998.999999994) == "998.99999999"
    assert display.quantity(999.999999994) == "999.99999999"
    assert display.quantity(999.999999996) == "1,000"
    assert display.quantity(-999.999999996) == "-1,000"
    assert display.quantity(-0.0) == "-0"  # as the plain rule writes it
    assert display.price(999.5, 1.0) == "1,000"
    assert display.price(-999.5, 1.0) == "-1,000"


@given(st.floats(allow_nan=True, allow_infinity=True) | st.none(),
       st.sampled_from(TICKS))
def test_any_float(value: float | None, tick: float | None) -> None:
    assert display.price(value, tick) == plain_price(value, tick)
    assert display.quantity(value, "C0") == plain_quantity(value, "C0")


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf])
def test_no_number_is_a_dash(value: float | None) -> None:
    assert display.price(value, 0.01) == display.DASH
    assert display.quantity(value, "BTC") == display.DASH
