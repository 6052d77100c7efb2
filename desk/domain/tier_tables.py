"""Every tier table of a portfolio at once, as arrays: what :func:`desk.domain.rules.resolve_tiers`
does table by table, for the thousands of tables of a large file (issue 18).

Apart from :mod:`desk.domain.rules` because it needs numpy, which the dashboard does not load
before its window is up (rules is read by the window's own modules); :mod:`desk.domain.limits`
checks a portfolio's tables with it and :mod:`desk.domain.engine` compiles them with it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from desk.domain.model import Tier
from desk.domain.rules import ResolvedTier

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


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
