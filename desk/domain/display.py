"""One way to write every figure desk shows: prices at the symbol's tick, money with its currency,
sizes with their unit, ratios and distances as percent, ages, and the words for "past liquidation".

Pure functions of the standard library, so the dashboard, the CLI (`desk risk`, `desk watch`),
the notifications and the alert log write the same figure the same way. Nothing here computes
risk: the figures and the fact "at or past liquidation" come from :mod:`desk.domain.report`.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from decimal import Decimal

DASH = "—"
#: the state of a position at or past its liquidation price, in words, on every surface
PAST_LIQUIDATION = "PAST LIQUIDATION"
#: a margin ratio once the margin balance is gone (the ratio is then infinite): liquidation
RATIO_EXHAUSTED = "≥ 100 %"

_DOLLARS = frozenset({"USDT", "USDC", "USD", "BUSD", "FDUSD", "DAI", "USDE"})


def tick_decimals(tick_size: float | None, price: float | None = None) -> int:
    """Decimal places implied by a tick size (0.1 → 1, 0.5 → 1, 0.0001 → 4).

    Without a tick size, fall back to a precision that suits the price's magnitude.
    """
    if tick_size is not None and math.isfinite(tick_size) and tick_size > 0:
        return _tick_places(tick_size)
    if price is None or not math.isfinite(price) or price == 0:
        return 2
    magnitude = math.floor(math.log10(abs(price)))
    return max(0, min(8, 4 - magnitude))


@functools.lru_cache(maxsize=4096)
def _tick_places(tick_size: float) -> int:
    """A finite positive tick size's decimal places; kept, since a book has few tick sizes and every
    price shown (a table cell, a hedge's sentence) asks again."""
    exponent = Decimal(repr(tick_size)).normalize().as_tuple().exponent
    return max(0, -int(exponent)) if isinstance(exponent, int) else 2


@functools.lru_cache(maxsize=64)
def _grouped(places: int) -> str:
    """The format spec of a price at ``places`` decimals (",.4f"): made once, not for every price
    (a 10,000-position book's hedge sentences format thousands; issue 18)."""
    return f",.{places}f"


def price(value: float | None, tick_size: float | None = None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return format(value, _grouped(tick_decimals(tick_size, value)))


def quantity(value: float | None, unit: str | None = None) -> str:
    """Contracts: as many decimals as the value needs, up to 8, without trailing zeros."""
    if value is None or not math.isfinite(value):
        return DASH
    # under 999 no thousands separator can appear, even rounded: the plain format is the same text
    # and a third cheaper than the grouping one (thousands of hedge sentences; issue 18)
    text = (f"{value:.8f}" if -999.0 < value < 999.0 else f"{value:,.8f}").rstrip("0").rstrip(".") or "0"
    return f"{text} {unit}" if unit else text


def money(value: float | None, currency: str | None = None, *, signed: bool = False) -> str:
    """Settle-currency amounts: 2 decimals for dollar-like coins, 6 for coins (inverse settles)."""
    if value is None or not math.isfinite(value):
        return DASH
    decimals = 2 if currency is None or currency.upper() in _DOLLARS else 6
    if round(value, decimals) == 0:
        value = 0.0  # a rounding residue is no loss: never "-0.00"
    text = f"{value:+,.{decimals}f}" if signed else f"{value:,.{decimals}f}"
    return f"{text} {currency}" if currency else text


def percent(fraction: float | None, decimals: int = 2, *, signed: bool = False) -> str:
    if fraction is None or not math.isfinite(fraction):
        return DASH
    return f"{fraction * 100:+,.{decimals}f} %" if signed else f"{fraction * 100:,.{decimals}f} %"


def venue_ratio(ratio: float) -> str:
    """A venue's own ratio shown beside desk's. An inverted one (OKX: equity ÷ MM) is infinite when no
    margin is required — the safest case, said in words, never "inf" nor "no margin left"."""
    return "unbounded (no maintenance margin)" if math.isinf(ratio) else margin_ratio(ratio)


def margin_ratio(ratio: float | None) -> str:
    """desk's margin ratio as percent (100 % = liquidation).

    ``None`` (no maintenance margin to reach: cannot be liquidated) is a dash; an infinite ratio
    (the margin balance is gone) is :data:`RATIO_EXHAUSTED`, never a dash or "inf".
    """
    if ratio is None or math.isnan(ratio):
        return DASH
    if math.isinf(ratio):
        return RATIO_EXHAUSTED
    return percent(ratio)


def distance(signed_distance: float | None) -> str:
    """The signed distance to liquidation (negative once past it) as percent: "4.20 %", "-1.10 %"."""
    if signed_distance is None or not math.isfinite(signed_distance):
        return DASH
    return percent(signed_distance)


def distance_with_state(signed_distance: float | None, liquidatable: bool) -> str:
    """The distance, and the words :data:`PAST_LIQUIDATION` once at or past the liquidation price."""
    if not liquidatable:
        return distance(signed_distance)
    if signed_distance is None:
        return PAST_LIQUIDATION
    return f"{PAST_LIQUIDATION} {distance(signed_distance)}"


def shock(signed_shock: float | None) -> str:
    """The smallest uniform move of all marks that liquidates (negative: all marks down), in words;
    0 means a pool or an isolated position is already at or past liquidation."""
    if signed_shock is None or math.isnan(signed_shock):
        return "none within ±99 % of all marks"
    if signed_shock == 0:
        return f"{PAST_LIQUIDATION} now"
    direction = "fall" if signed_shock < 0 else "rise"
    return f"{percent(abs(signed_shock))} {direction} of all marks"


def shock_short(signed_shock: float | None) -> str:
    """:func:`shock` in few words, for a narrow card: "−15.18 % all marks", "+3.10 % all marks",
    "none within ±99 %"."""
    if signed_shock is None or math.isnan(signed_shock):
        return "none within ±99 %"
    if signed_shock == 0:
        return shock(signed_shock)
    sign = "−" if signed_shock < 0 else "+"
    return f"{sign}{percent(abs(signed_shock))} all marks"


def threshold_percent(fraction: float) -> str:
    """A threshold (a fraction) as the percent a person types: 0.1 → "10 %", 0.025 → "2.5 %"."""
    return f"{fraction * 100:g} %"


def leverage(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:g}×"


def age(seconds: float | None) -> str:
    """A short age for a person: "0.4 s", "12 s", "3 min", "2 h 5 min"."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min"


def funding_rate(rate: float | None, interval_hours: float | None = None) -> str:
    """A funding rate as venues show it: "+0.0100 % per 8 h" ("per interval" when the venue does not
    say how long one is)."""
    if rate is None or not math.isfinite(rate):
        return DASH
    per = f"per {interval_hours:g} h" if interval_hours else "per interval"
    return f"{rate * 100:+.4f} % {per}"


def utc_clock(epoch: float | None) -> str:
    """A time of day in UTC, "16:00 UTC" (funding comes at whole hours on every venue)."""
    if epoch is None or not math.isfinite(epoch):
        return DASH
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M UTC")


def utc_datetime(epoch: float | None) -> str:
    """A date and time in UTC, "2027-01-16 07:30 UTC"."""
    if epoch is None or not math.isfinite(epoch):
        return DASH
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def hours(value: float | None) -> str:
    """A span in hours, "31.5 h" (a funding horizon or the time funding takes to liquidate)."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:,.1f} h" if value % 1 else f"{value:,.0f} h"


#: desk's names of the venues' pooled modes (``AccountMargin.mode``) in the venues' own words
ACCOUNT_MODE_WORDS = {
    "binance multi-assets": "Multi-Assets",
    "binance portfolio margin": "Portfolio Margin",
    "bybit uta cross": "UTA cross",
    "bybit uta portfolio margin": "UTA portfolio margin",
    "okx multi-currency": "OKX multi-currency",
    "okx portfolio margin": "OKX portfolio margin",
}


def account_mode(mode: str | None) -> str:
    """The venue's account mode as its own screens name it ("Multi-Assets", "UTA cross")."""
    if not mode:
        return "pooled margin"
    return ACCOUNT_MODE_WORDS.get(mode, mode)


def collateral_share(haircut: float | None) -> str:
    """The share of a collateral coin that counts, "×0.95" (1 − haircut), to three decimals; "" when
    that rounds to 1 (a stablecoin's 0.01 % buffer: the exact haircut is in the card's tooltip)."""
    if haircut is None or not math.isfinite(haircut) or round(1.0 - haircut, 3) == 1.0:
        return ""
    return f"×{round(1.0 - haircut, 3):g}"


def collateral_amount(amount: float | None, asset: str) -> str:
    """A collateral coin's amount for a card, without its unit: whole dollars from 1,000 on (cents
    below) for dollar coins, up to 6 decimals else; the tooltip beside it has every digit."""
    if amount is None or not math.isfinite(amount):
        return DASH
    if asset.upper() in _DOLLARS:
        return f"{amount:,.0f}" if abs(amount) >= 1_000 else f"{amount:,.2f}"
    return f"{amount:,.6f}".rstrip("0").rstrip(".") or "0"
