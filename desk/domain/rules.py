"""Venue margin rules: one small rule object per venue, one shared engine (ARCHITECTURE rule 3).

Every venue in risk-math.md reduces to the same equation, *margin balance = maintenance
margin*, with a few switches:

* ``mm_basis`` — where the maintenance margin (and the tier) is measured: at the price being
  evaluated (Binance §1–2, OKX §4, Gate §5, Hyperliquid §6, generic) or on the entry value
  (Bybit §3.1, §3.3).
* ``fee_in_mm`` — a closing-fee reserve ``taker × value`` is part of the maintenance margin
  (OKX §4 and Gate §5: ``MMR + fee`` at the liquidation price; Bybit §3.2 "fee to close").
* ``fee_in_bankruptcy`` — the bankruptcy price keeps the closing fee (Bybit §3.3:
  ``BP = 1.00075·Q / (Q/EP + balance)``); elsewhere the bankruptcy price is the §1.1 formula
  with ``MMR = cum = 0`` (§1.3).
* ``inverted_ratio`` — the venue's own margin ratio points the other way (OKX §4, §7.8:
  equity ÷ (MM + fee), higher is safer).
* ``mmr_from_max_leverage`` — Hyperliquid §6: ``MMR = 1 / (2 × maxLeverage)``.

Tiers are resolved once per tier table: maintenance amounts a venue omitted are derived by the
recurrence of risk-math.md §0 (``cum_n = cum_{n−1} + floor_n × (MMR_n − MMR_{n−1})``) — one table at
a time (:func:`resolve_tiers`), or many tables at once as arrays
(:func:`desk.domain.tier_tables.resolve_tables`, the same numbers bit for bit: each step is the same
float operation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from desk.domain.model import Tier


class MMBasis(StrEnum):
    PRICE = "price"  # MM = value(P) × MMR − cum, tier of the notional at P
    ENTRY = "entry"  # MM = value(EP) × MMR − cum, tier of the entry value (Bybit)


@dataclass(frozen=True, slots=True)
class ResolvedTier:
    """A tier with every number filled in (maintenance amount derived when omitted)."""

    floor: float
    cap: float
    mmr: float
    cum: float


@dataclass(frozen=True, slots=True)
class VenueRules:
    name: str
    generic: bool = False
    mm_basis: MMBasis = MMBasis.PRICE
    fee_in_mm: bool = False
    fee_in_bankruptcy: bool = False
    inverted_ratio: bool = False
    mmr_from_max_leverage: bool = False
    description: str = ""

    def resolve(self, tiers: tuple[Tier, ...]) -> tuple[ResolvedTier, ...]:
        """The position's tiers with maintenance amounts filled in (risk-math.md §0)."""
        return resolve_tiers(tiers, self.mmr_from_max_leverage)


BINANCE = VenueRules(
    "binance",
    description="Binance: MM at the mark price, tier of the notional at the liquidation price (§1, §2)",
)
BYBIT = VenueRules(
    "bybit",
    mm_basis=MMBasis.ENTRY,
    fee_in_mm=True,
    fee_in_bankruptcy=True,
    description="Bybit: MM on the entry value plus the fee to close (§3)",
)
OKX = VenueRules(
    "okx",
    fee_in_mm=True,
    inverted_ratio=True,
    description="OKX: (MMR + taker fee) at the liquidation price; venue ratio = equity ÷ (MM + fee) (§4)",
)
GATE = VenueRules(
    "gate", fee_in_mm=True, description="Gate: (MMR + taker fee) at the liquidation price (§5)"
)
HYPERLIQUID = VenueRules(
    "hyperliquid",
    mmr_from_max_leverage=True,
    description="Hyperliquid: MMR = 1/(2 × max leverage) at the mark price (§6)",
)
GENERIC = VenueRules(
    "generic",
    generic=True,
    description="generic: MM at the mark price, tiered with maintenance amount",
)

_BY_VENUE: dict[str, VenueRules] = {
    "binance": BINANCE,
    "binanceusdm": BINANCE,
    "binancecoinm": BINANCE,
    "bybit": BYBIT,
    "okx": OKX,
    "gate": GATE,
    "gateio": GATE,
    "hyperliquid": HYPERLIQUID,
}


def rules_for(venue: str) -> VenueRules:
    """The margin rules of a ccxt exchange id; any unknown id gets :data:`GENERIC`."""
    return _BY_VENUE.get(venue.strip().lower(), GENERIC)


@lru_cache(maxsize=4096)
def resolve_tiers(tiers: tuple[Tier, ...], mmr_from_max_leverage: bool = False) -> tuple[ResolvedTier, ...]:
    """Fill omitted maintenance amounts by the recurrence of risk-math.md §0.

    ``cum_1 = 0`` (unless given), ``cum_n = cum_{n−1} + floor_n × (MMR_n − MMR_{n−1})``; a given
    amount is kept as the venue published it. The first tier starts at 0 and the last one is
    open-ended, so every notional has a tier. An empty table means "no maintenance margin"
    (the engine warns about it).
    """
    if not tiers:
        return (ResolvedTier(0.0, math.inf, 0.0, 0.0),)
    out: list[ResolvedTier] = []
    prev_mmr = 0.0
    prev_cum = 0.0
    for i, tier in enumerate(tiers):
        mmr = tier.mmr
        if mmr_from_max_leverage and tier.max_leverage:
            mmr = 1.0 / (2.0 * tier.max_leverage)
        floor = 0.0 if i == 0 else float(tier.notional_floor)
        if tier.maintenance_amount is not None:
            cum = float(tier.maintenance_amount)
        elif i == 0:
            cum = 0.0
        else:
            cum = prev_cum + floor * (mmr - prev_mmr)
        cap = math.inf if i == len(tiers) - 1 else float(tier.notional_cap)
        out.append(ResolvedTier(floor, cap, float(mmr), cum))
        prev_mmr, prev_cum = mmr, cum
    return tuple(out)


def tier_index(tiers: tuple[ResolvedTier, ...], notional: float) -> int:
    """Index of the tier with ``floor ≤ notional < cap`` (the last tier is open-ended)."""
    for i in range(len(tiers) - 1, 0, -1):
        if notional >= tiers[i].floor:
            return i
    return 0
