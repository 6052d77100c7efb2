"""Turning the engine's numbers into text: prices at the symbol's precision, money, percent, age.

Pure functions without Qt, so the table model, the status strip and the tests share them.
Nothing here computes risk; it only formats what the engine reported.
"""

from __future__ import annotations

import math
from decimal import Decimal

DASH = "—"


def tick_decimals(tick_size: float | None, price: float | None = None) -> int:
    """Decimal places implied by a tick size (0.1 → 1, 0.5 → 1, 0.0001 → 4).

    Without a tick size, fall back to a precision that suits the price's magnitude.
    """
    if tick_size is not None and math.isfinite(tick_size) and tick_size > 0:
        exponent = Decimal(repr(tick_size)).normalize().as_tuple().exponent
        return max(0, -int(exponent)) if isinstance(exponent, int) else 2
    if price is None or not math.isfinite(price) or price == 0:
        return 2
    magnitude = math.floor(math.log10(abs(price)))
    return max(0, min(8, 4 - magnitude))


def price(value: float | None, tick_size: float | None = None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:,.{tick_decimals(tick_size, value)}f}"


def quantity(value: float) -> str:
    """Contracts: as many decimals as the value needs, up to 8, without trailing zeros."""
    if not math.isfinite(value):
        return DASH
    text = f"{value:,.8f}".rstrip("0").rstrip(".")
    return text or "0"


def money(value: float | None, currency: str | None = None, *, signed: bool = False) -> str:
    """Settle-currency amounts: 2 decimals for dollar-like coins, 6 for coins (inverse settles)."""
    if value is None or not math.isfinite(value):
        return DASH
    decimals = 2 if currency is None or currency.upper() in _DOLLARS else 6
    text = f"{value:+,.{decimals}f}" if signed else f"{value:,.{decimals}f}"
    return f"{text} {currency}" if currency else text


_DOLLARS = frozenset({"USDT", "USDC", "USD", "BUSD", "FDUSD", "DAI", "USDE"})


def percent(fraction: float | None, decimals: int = 2) -> str:
    if fraction is None or not math.isfinite(fraction):
        return DASH
    return f"{fraction * 100:.{decimals}f} %"


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


def ticks_apart(a: float, b: float, tick_size: float | None) -> float:
    """How many ticks separate two prices (relative 1e-4 of the price stands in for a missing tick)."""
    tick = tick_size if tick_size and tick_size > 0 else abs(b) * 1e-4 or 1e-12
    return abs(a - b) / tick
