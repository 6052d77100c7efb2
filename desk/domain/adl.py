"""The venues' auto-deleveraging (ADL) ranks on one scale of lights (issue 17).

Each venue publishes its own scale; the one place they are written down is :data:`SCALES`, each
with the page that documents it. A rank is shown as ``lit`` lights out of ``of`` (the venue's
value out of the top of its documented range) and a level — NONE (no light lit), LOW, HIGH (every
light lit: first in the venue's queue). Where the venue's scale is not documented, the reading
keeps the venue's number and says the scale is unverified: no light is ever made up.

Verified scales (the higher, the sooner the position is deleveraged):

* Bybit v5 position ``adlRankIndicator``: ``0`` is the "default value of empty position", ``1``–``5``
  the rank (https://bybit-exchange.github.io/docs/v5/enum#adlrankindicator, linked from the
  field in https://bybit-exchange.github.io/docs/v5/position; "traders with the highest ranking
  … are prioritized", https://www.bybit.com/en-US/help-center/s/article/What-is-Auto-Deleveraging-ADL).
* OKX v5 position ``adl``: "Divided into 6 levels, from 0 to 5, the smaller the number, the weaker
  the adl intensity" (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-positions).
* Binance ``adlQuantile`` per position side (GET /fapi/v1/adlQuantile, /dapi/v1/adlQuantile, and
  Portfolio Margin's /papi/v1/{um,cm}/adlQuantile): "Values 0, 1, 2, 3, 4 shows the queue position
  and possibility of ADL from low to high"
  (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-ADL-Quantile-Estimation).
  positionRisk's own ``adl`` field has no documented range, so desk does not read it.

Not published: Hyperliquid gives no ADL rank (the adapters give None). Any other venue, or a value
outside the documented range, keeps its number and is marked "scale unverified".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class AdlLevel(IntEnum):
    """How near the front of the venue's deleveraging queue, on every venue's scale."""

    NONE = 0  # no light lit: not ranked, or the venue's lowest value
    LOW = 1  # some lights lit
    HIGH = 2  # every light lit: the front of the venue's queue


@dataclass(frozen=True, slots=True)
class AdlScale:
    """One venue's published ADL scale."""

    venue: str  # the venue's name for a person
    field: str  # the field desk reads
    lowest: int  # the lowest value the venue documents
    highest: int  # the highest value: every light lit
    meaning: str  # what the values mean, in the venue's words
    source: str  # where the venue documents it
    verified: bool = True  # False: the field's range is not documented; its number is kept as is


_BYBIT = AdlScale("Bybit", "adlRankIndicator", 0, 5,
                  "0 = not ranked (empty position), 1–5 = rank (5 = deleveraged first)",
                  "https://bybit-exchange.github.io/docs/v5/enum#adlrankindicator")
_OKX = AdlScale("OKX", "adl", 0, 5, "6 levels, 0–5; the smaller, the weaker the ADL intensity",
                "https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-positions")
_BINANCE_MEANING = "quantiles 0–4: queue position and possibility of ADL from low to high"
_BINANCE_USDM = AdlScale(
    "Binance", "adlQuantile", 0, 4, _BINANCE_MEANING,
    "https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/"
    "Position-ADL-Quantile-Estimation")
_BINANCE_COINM = AdlScale(
    "Binance", "adlQuantile", 0, 4, _BINANCE_MEANING,
    "https://developers.binance.com/docs/derivatives/coin-margined-futures/trade/rest-api/"
    "Position-ADL-Quantile-Estimation")

#: per venue id (ccxt's), the venue's ADL scale; a venue absent here publishes none that desk reads
SCALES: dict[str, AdlScale] = {
    "bybit": _BYBIT,
    "okx": _OKX,
    "binanceusdm": _BINANCE_USDM,
    "binancecoinm": _BINANCE_COINM,
}


@dataclass(frozen=True, slots=True)
class AdlReading:
    """One position's rank as the venue gave it, and as lights where the venue's scale is known."""

    value: int  # the venue's own number
    scale: AdlScale | None  # None: desk knows no scale for this venue
    lit: int | None = None  # lights lit; None when the scale is unverified or unknown
    of: int | None = None  # lights in all
    level: AdlLevel | None = None  # None when the scale is unverified or unknown

    @property
    def verified(self) -> bool:
        return self.lit is not None

    @property
    def fraction(self) -> float | None:
        """Lights lit ÷ lights in all: the rank normalised across venues (1.0 = first in the queue)."""
        return None if self.lit is None or not self.of else self.lit / self.of


def adl_reading(venue: str | None, value: int | None) -> AdlReading | None:
    """The rank ``value`` a position of ``venue`` carries, read on that venue's scale; None when the
    venue gave no rank. A value outside the venue's documented range keeps its number, unlit."""
    if value is None:
        return None
    scale = SCALES.get(venue or "")
    if scale is None or not scale.verified or not scale.lowest <= value <= scale.highest:
        return AdlReading(value, scale)
    lit, of = value, scale.highest
    level = AdlLevel.NONE if lit == 0 else AdlLevel.HIGH if lit == of else AdlLevel.LOW
    return AdlReading(value, scale, lit, of, level)


def lights_text(reading: AdlReading) -> str:
    """``●●●○○`` for 3 of 5; the venue's bare number when its scale is not verified."""
    if reading.lit is None or reading.of is None:
        return str(reading.value)
    return "●" * reading.lit + "○" * (reading.of - reading.lit)


def adl_description(reading: AdlReading) -> str:
    """The reading for a person (and a screen reader): lights, the venue's own value, its scale."""
    scale = reading.scale
    if scale is None:
        return f"ADL rank {reading.value} as the venue gives it (scale unverified)"
    own = f"{scale.venue} {scale.field} = {reading.value}"
    if reading.lit is None:
        return f"ADL rank {reading.value} ({own}; scale unverified: {scale.meaning})"
    word = {AdlLevel.NONE: "not in front", AdlLevel.LOW: "partway up the queue",
            AdlLevel.HIGH: "first in the queue"}[reading.level or AdlLevel.NONE]
    return (f"ADL {reading.lit} of {reading.of} lights, {word} ({own}; scale {scale.lowest}–{scale.highest}: "
            f"{scale.meaning})")
