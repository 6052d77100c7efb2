"""The dashboard's formatters: those of :mod:`desk.domain.display`, the one formatter of every surface.

Kept as a module so the views import it by a short name; it adds nothing of its own, so the table,
the cards, the charts, the CLI and the notifications cannot drift apart.
"""

from __future__ import annotations

from desk.domain.display import (
    DASH,
    PAST_LIQUIDATION,
    RATIO_EXHAUSTED,
    age,
    distance,
    distance_with_state,
    funding_rate,
    hours,
    leverage,
    margin_ratio,
    money,
    percent,
    price,
    quantity,
    shock,
    threshold_percent,
    tick_decimals,
    utc_clock,
    utc_datetime,
    venue_ratio,
)

__all__ = [
    "DASH",
    "PAST_LIQUIDATION",
    "RATIO_EXHAUSTED",
    "age",
    "distance",
    "distance_with_state",
    "funding_rate",
    "hours",
    "leverage",
    "margin_ratio",
    "money",
    "percent",
    "price",
    "quantity",
    "shock",
    "threshold_percent",
    "tick_decimals",
    "utc_clock",
    "utc_datetime",
    "venue_ratio",
]
