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
a time (:func:`resolve_tiers`), or many tables at once as arrays (:func:`resolve_tables`, the same
numbers bit for bit: each step is the same float operation).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from itertools import chain, repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from desk.domain.model import Tier

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


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


@dataclass(frozen=True, slots=True)
class TierArrays:
    """Tier tables as given, one row per table, padded to the longest: (tables, width) arrays.

    ``present``: the tier exists (its column is below the table's length). Padding holds 0.0, and so
    does an omitted maintenance amount or max leverage (``amount_given``, ``leverage_given`` say which
    were given)."""

    floor: FloatArray
    cap: FloatArray
    mmr: FloatArray
    amount: FloatArray
    leverage: FloatArray
    amount_given: BoolArray
    leverage_given: BoolArray
    present: BoolArray
    length: IntArray  # tiers of each table

    def rows(self, index: IntArray) -> TierArrays:
        """These tables only (``index``: their rows)."""
        def take(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return np.take(values, index, axis=0)

        return TierArrays(take(self.floor), take(self.cap), take(self.mmr), take(self.amount),
                          take(self.leverage), take(self.amount_given), take(self.leverage_given),
                          take(self.present), take(self.length))


_TIER_NUMBERS = operator.attrgetter(
    "notional_floor", "notional_cap", "mmr", "maintenance_amount", "max_leverage")
_PLAIN = frozenset({float, type(None)})
_AMOUNT, _LEVERAGE = 3, 4  # the numbers of a tier that may be omitted, by their place in _TIER_NUMBERS
# the tables of the last call and their arrays: a portfolio read is checked (desk.domain.limits), then
# compiled (desk.domain.engine) with the same tables in the same order; held, so their ids stay theirs
_last: tuple[tuple[tuple[Tier, ...], ...], TierArrays | None] = ((), None)


def tier_arrays(tables: Sequence[tuple[Tier, ...]]) -> TierArrays | None:
    """The tables as :class:`TierArrays`, or None when a number is not a plain float, or None where a
    tier may omit it (an int, a numpy scalar, a missing floor): Python reads those exactly (an int is
    compared exactly with a float bound), so only :func:`resolve_tiers` gives their figures, one
    table at a time. (Where some number is omitted, a floor, cap or rate given as NaN is told from an
    omitted one no cheaper: None too.) The same tables (the same objects) as the last call's give the
    same arrays."""
    global _last
    last_tables, last_arrays = _last
    if len(last_tables) == len(tables) and all(map(operator.is_, last_tables, tables)):
        return last_arrays
    arrays = _tier_arrays(tables)
    _last = (tuple(tables), arrays)
    return arrays


def _tier_arrays(tables: Sequence[tuple[Tier, ...]]) -> TierArrays | None:
    length = np.fromiter(map(len, tables), dtype=np.intp, count=len(tables))
    numbers = list(map(_TIER_NUMBERS, chain.from_iterable(tables)))
    types = set(map(type, chain.from_iterable(numbers)))
    if not _PLAIN.issuperset(types):
        return None
    count = len(numbers)
    if type(None) in types:
        values = np.array(numbers, dtype=np.float64).reshape(count, 5)  # numpy reads None as NaN
        if np.isnan(values[:, :_AMOUNT]).any():  # a floor, cap or rate omitted (or NaN)
            return None
        given = ~np.isnan(values[:, _AMOUNT:])
        if not given.all():  # NaN is None, unless a NaN was given
            for j in np.flatnonzero(~given.all(axis=0)).tolist():
                given[:, j] = list(map(operator.is_not, map(operator.itemgetter(_AMOUNT + j), numbers),
                                       repeat(None)))
            values[:, _AMOUNT:][~given] = 0.0
    else:
        values = np.fromiter(chain.from_iterable(numbers), dtype=np.float64, count=5 * count)
        values = values.reshape(count, 5)
        given = np.ones((count, 2), dtype=bool)
    width = max(int(length.max()), 1) if len(tables) else 1
    present = np.arange(width) < length[:, None]
    # tier by tier into each table's row: a boolean index fills row by row, the order of the list
    padded = np.zeros((len(tables), width, 5))
    padded[present] = values
    padded_given = np.zeros((len(tables), width, 2), dtype=bool)
    padded_given[present] = given
    for shared in (padded, padded_given, present, length):  # kept for the next caller: read only
        shared.flags.writeable = False
    return TierArrays(padded[:, :, 0], padded[:, :, 1], padded[:, :, 2], padded[:, :, _AMOUNT],
                      padded[:, :, _LEVERAGE], padded_given[:, :, 0], padded_given[:, :, 1], present, length)


@dataclass(frozen=True, slots=True)
class ResolvedTables:
    """Tables as :func:`resolve_tiers` resolves them, one row each: ``floors``, ``caps``, ``rates``
    (MMR) and ``cums`` of each tier; past a table's ``length`` floors and caps are +inf, rates and
    cums 0.0. An empty table resolves to one tier, as :func:`resolve_tiers` has it."""

    floors: FloatArray
    caps: FloatArray
    rates: FloatArray
    cums: FloatArray
    length: IntArray

    @staticmethod
    def of(resolved: Sequence[tuple[ResolvedTier, ...]]) -> ResolvedTables:
        """Tables resolved one by one (:func:`resolve_tiers`), padded into rows."""
        length = np.fromiter(map(len, resolved), dtype=np.intp, count=len(resolved))
        width = max(int(length.max()), 1) if len(resolved) else 1
        present = np.arange(width) < length[:, None]
        tiers = list(chain.from_iterable(resolved))

        def padded(values: list[float], padding: float) -> FloatArray:
            out = np.full((len(resolved), width), padding)
            out[present] = values
            return out

        return ResolvedTables(padded([t.floor for t in tiers], math.inf),
                              padded([t.cap for t in tiers], math.inf),
                              padded([t.mmr for t in tiers], 0.0), padded([t.cum for t in tiers], 0.0),
                              length)


def resolve_tables(tables: TierArrays, mmr_from_max_leverage: bool = False) -> ResolvedTables:
    """:func:`resolve_tiers` of every table at once, the same numbers bit for bit: the §0 recurrence
    runs tier by tier (column by column) over all tables, each step the float operation of the
    scalar one, in its order. Any number at all is resolved as Python would (no warning)."""
    present, length = tables.present, tables.length
    with np.errstate(all="ignore"):  # an infinity or NaN of an unchecked table resolves as in Python
        rates = tables.mmr
        if mmr_from_max_leverage:  # a max leverage given and not 0 sets the MMR (Hyperliquid)
            from_leverage = tables.leverage_given & (tables.leverage != 0)
            rates = np.where(from_leverage, 1.0 / (2.0 * tables.leverage), rates)
        floors = tables.floor.copy()
        floors[:, 0] = 0.0  # the first tier starts at 0
        cums = np.zeros_like(floors)
        for i in range(floors.shape[1]):
            if i:
                derived = cums[:, i - 1] + floors[:, i] * (rates[:, i] - rates[:, i - 1])
                cums[:, i] = np.where(tables.amount_given[:, i], tables.amount[:, i], derived)
            else:
                cums[:, i] = np.where(tables.amount_given[:, i], tables.amount[:, i], 0.0)
    last = np.arange(floors.shape[1]) == (length - 1)[:, None]  # the last tier is open-ended
    caps = np.where(present & ~last, tables.cap, math.inf)
    floors = np.where(present, floors, math.inf)
    rates = np.where(present, rates, 0.0)
    cums = np.where(present, cums, 0.0)
    empty = length == 0  # no maintenance margin: one tier from 0 with no rate
    floors[empty, 0] = 0.0
    return ResolvedTables(floors, caps, rates, cums, np.maximum(length, 1))


def tier_index(tiers: tuple[ResolvedTier, ...], notional: float) -> int:
    """Index of the tier with ``floor ≤ notional < cap`` (the last tier is open-ended)."""
    for i in range(len(tiers) - 1, 0, -1):
        if notional >= tiers[i].floor:
            return i
    return 0
