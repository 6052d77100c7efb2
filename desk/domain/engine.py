"""The risk engine: every figure of :mod:`desk.domain.report` for a whole portfolio, vectorised.

One engine for every caller (ARCHITECTURE rule 2). The formulas are those of
:mod:`desk.domain.position_math` (risk-math.md §0–§8, written as one linear equation per tier
segment); this module evaluates them with numpy over all positions at once so a whole portfolio
recomputes on every tick. The whole-account scalar oracle (:mod:`desk.domain.scalar`) computes the
same report one position at a time; the tests assert both agree.

Hot path: :func:`compute_arrays` returns plain arrays (no per-position Python objects);
:func:`compute_risk` dresses them as the report dataclasses. Each account is compiled to arrays
once and kept in its caller's bounded cache (:class:`PlanCache`, :data:`PLAN_CACHE_SIZE` accounts)
for as long as its wallets and every position's fields other than the mark compare equal; a tick
that moves only the marks reads just the marks afresh.

What is vectorised and what is not:

* value, PnL, tier lookup, maintenance margin, pool sums, ratios — all positions at once;
* liquidation price of every single-leg position (isolated, or the only leg of its symbol in a
  cross pool): every tier's closed-form root at once, keeping the self-consistent one (§1.2);
  hedge-mode cross legs sharing one price (§1.1, §7.6) go through the single-position solver
  (:func:`~desk.domain.position_math.solve_price`) — there are few;
* bankruptcy prices: closed form per symbol group (no tiers at 0 % margin, §1.3, §3.3);
* shock to liquidation: Newton's method from the far end of the ±99 % range on every unit at once.
  Where the unit's slack (balance − MM) is concave in the shock — linear contracts, long inverse
  contracts, tiers with continuous maintenance amounts (§0) — that converges monotonically to the
  first crossing; other units (short inverse legs, inconsistent maintenance amounts) walk
  :func:`~desk.domain.position_math.unit_shock_to_liquidation`'s segments, exact between the shocks
  where a notional crosses a tier floor — vectorised for units of one position (every isolated one,
  :func:`_single_position_shocks`, the same bits), unit by unit for a pool of several.

Compiling is vectorised too: an isolated position is a margin unit of its own, so nothing is done in
Python per position or per unit (:func:`_compile_accounts`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import operator
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from desk.domain.assemble import PositionColumns, assemble_account, with_pooled_accounts
from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position, Side, Tier
from desk.domain.position_math import SHOCK_LIMIT, Unit, solve_price, unit_shock_to_liquidation
from desk.domain.report import AccountRisk, PoolFigures, RiskReport
from desk.domain.rules import MMBasis, VenueRules, resolve_tiers, rules_for
from desk.domain.tier_tables import ResolvedTables, resolve_tables, tier_arrays

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

_NEWTON_STEPS = 80
_SHOCK_TOLERANCE = 1e-14


@dataclass(frozen=True, slots=True)
class RiskArrays:
    """The engine's figures as arrays. Positions in portfolio order (account by account); units are
    the cross pools (per settle, in :func:`~desk.domain.position_math.margin_units` order) then the
    isolated positions of each account.
    ``nan`` in a price means "none"; ``inf`` in a ratio means the margin balance is gone."""

    # per position
    notional: FloatArray
    unrealized_pnl: FloatArray
    maintenance_margin: FloatArray
    margin_ratio: FloatArray
    liquidation_price: FloatArray
    bankruptcy_price: FloatArray
    position_unit: IntArray
    # per unit
    unit_account: IntArray
    unit_isolated: BoolArray
    unit_settle: tuple[str, ...]
    unit_balance: FloatArray
    unit_pnl: FloatArray
    unit_maintenance: FloatArray
    unit_ratio: FloatArray
    unit_shock: FloatArray  # signed, nan = none within ±99 %
    # per account
    account_shock: FloatArray  # signed, nan = none within ±99 %


class _Col:
    """Columns of the packed per-position array (:attr:`_Flat.packed`; the first :data:`SCALARS` are
    also :attr:`_AccountPlan.columns`): one row per position, seven figures of the position, then its
    tier table in three blocks of ``width`` columns (floors, MMR, cum), padded with floors of +inf.
    One array so a subset of positions is gathered with one ``np.take`` (:func:`_rows`)."""

    Q = 0  # contracts × contract size: base units (linear) or quote value (inverse)
    INVERSE = 1  # 1.0 for an inverse contract, 0.0 for a linear one
    SIGMA = 2  # the PnL sign (position_math.pnl_sign)
    MARK = 3  # the mark price (0.0 in a compiled plan: marks are read on every tick)
    V_ENTRY = 4  # the value at the entry price, in the settle currency
    ENTRY_BASIS = 5  # 1.0 where the maintenance margin is on the entry value (Bybit §3.1)
    FEE = 6  # the taker fee rate counted in the maintenance margin (0.0 where the venue counts none)
    SCALARS = 7  # the tier table starts here

    @staticmethod
    def floors(width: int) -> slice:
        return slice(_Col.SCALARS, _Col.SCALARS + width)

    @staticmethod
    def rates(width: int) -> slice:
        return slice(_Col.SCALARS + width, _Col.SCALARS + 2 * width)

    @staticmethod
    def cums(width: int) -> slice:
        return slice(_Col.SCALARS + 2 * width, _Col.SCALARS + 3 * width)

    @staticmethod
    def row_length(width: int) -> int:
        return _Col.SCALARS + 3 * width


@dataclass(slots=True)
class _Flat:
    positions: list[Position]
    unit_rules: list[VenueRules]
    unit_settle: tuple[str, ...]
    unit_start: IntArray  # first row of each unit (a unit's rows are contiguous); len = units + 1
    unit_account: IntArray
    unit_isolated: BoolArray
    unit_balance: FloatArray
    unit_of: IntArray
    group_of: IntArray
    n_groups: int
    q: FloatArray
    inverse: BoolArray
    sigma: FloatArray
    entry: FloatArray
    mark: FloatArray
    v_entry: FloatArray
    entry_basis: BoolArray
    fee: FloatArray
    fee_bk: FloatArray
    floors: FloatArray  # (n, T), padded with +inf
    rates: FloatArray
    cums: FloatArray
    convex: BoolArray  # tier table gives MM continuous and convex in the notional (§0)
    row_offset: IntArray  # i × packed row length, to index packed.ravel()
    packed: FloatArray  # (n, _Col.row_length(width)): per-position columns and the tier table
    account_rows: IntArray  # row of each position in account order (account by account)
    unit_cache: list[Unit] | None = None

    @property
    def n_units(self) -> int:
        return len(self.unit_settle)

    @property
    def units(self) -> list[Unit]:
        """The margin units with their positions (built on first use: the hot path needs none)."""
        if self.unit_cache is None:
            bounds = self.unit_start.tolist()
            self.unit_cache = [
                Unit(settle, tuple(self.positions[start:end]), balance, isolated)
                for settle, start, end, balance, isolated in zip(
                    self.unit_settle, bounds[:-1], bounds[1:], self.unit_balance.tolist(),
                    self.unit_isolated.tolist(), strict=True)
            ]
        return self.unit_cache


def _tables_convex(tables: ResolvedTables) -> BoolArray:
    """Whether each table gives MM continuous and convex in the notional (§0): at every floor the MMR
    does not fall and the tier below and the tier from it give the same MM (within 1e-9)."""
    floors = tables.floors[:, 1:]
    with np.errstate(all="ignore"):  # the padding's infinities, and any number of an unchecked table
        below = tables.rates[:, :-1] * floors - tables.cums[:, :-1]
        at = tables.rates[:, 1:] * floors - tables.cums[:, 1:]
        # fmax: a NaN scale is 1.0, as max(1.0, nan) is (and a NaN difference fails the test either way)
        broken = ((tables.rates[:, 1:] < tables.rates[:, :-1])
                  | (np.abs(below - at) > 1e-9 * np.fmax(1.0, np.abs(at))))
    floor_of_a_tier = np.arange(1, tables.floors.shape[1]) < tables.length[:, None]
    convex: BoolArray = ~np.any(broken & floor_of_a_tier, axis=1)
    return convex


# Everything of a position the compiled arrays depend on except its mark. A tick replaces only
# the mark, so an account whose positions still agree on these fields reuses its compiled plan.
_STATIC_FIELDS = (
    "symbol", "settle", "kind", "contracts", "contract_size", "side", "entry_price", "margin_mode",
    "isolated_margin", "tiers", "taker_fee",
)
_STATIC_GETTERS = tuple(map(operator.attrgetter, _STATIC_FIELDS))
_MARK = operator.attrgetter("mark_price")
#: accounts whose compiled plans are kept (least recently used dropped first)
PLAN_CACHE_SIZE = 512


@dataclass(frozen=True, slots=True)
class _AccountPlan:
    """One account compiled, without its marks: what stays the same from tick to tick."""

    static: tuple[object, ...]  # wallets and _STATIC_FIELDS of the positions: the plan is valid while equal
    rules: VenueRules
    order: tuple[int, ...]  # account position index of each row (rows are grouped unit by unit)
    in_order: bool  # order is 0, 1, 2, …: the rows are the account's positions as they stand
    account_rows: IntArray  # row of each position, in account order
    # per unit, as arrays: an all-isolated account has a unit per position
    unit_settle: tuple[str, ...]
    unit_sizes: IntArray
    unit_isolated: BoolArray
    unit_balance: FloatArray
    unit_of: IntArray
    group_of: IntArray
    n_groups: int
    columns: FloatArray  # (n, _Col.SCALARS): the position's figures of _Col, mark 0.0
    entry: FloatArray
    fee_bk: FloatArray
    convex: BoolArray
    floors: FloatArray  # (n, width of this account's widest table)
    rates: FloatArray
    cums: FloatArray


def _static_key(account: Account) -> tuple[object, ...]:
    """The wallets, and each of _STATIC_FIELDS as a column over the positions: equal exactly when every
    position's fields are, and a column is the compiler's input as it stands. Eleven tuples, not one
    per position: a first tick makes no garbage-collected object per position."""
    positions = account.positions
    return (tuple(account.wallets.items()), tuple(tuple(map(get, positions)) for get in _STATIC_GETTERS))


def _first_seen_codes(keys: IntArray) -> tuple[IntArray, IntArray]:
    """Number the distinct ``keys`` 0, 1, … in the order they are first met (as a dict filled in
    order would): the number of each key, and where each number is first met."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    by_first = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.intp)
    rank[by_first] = np.arange(len(first), dtype=np.intp)
    return rank[inverse.reshape(-1)], first[by_first]


@dataclass(frozen=True, slots=True)
class _TableBlock:
    """The distinct tier tables of the positions being compiled, one row each, padded with floors of
    +inf; ``table_of`` is each position's row."""

    floors: FloatArray  # (tables, width of the widest)
    rates: FloatArray
    cums: FloatArray
    convex: BoolArray
    length: IntArray  # tiers of each table
    table_of: IntArray


def _table_block(tier_tables: Sequence[tuple[Tier, ...]], from_max_leverage: BoolArray) -> _TableBlock:
    """Each distinct table (by object and venue reading) resolved once, whichever accounts share it
    (the portfolio reader shares equal tables between positions): all of a reading at once."""
    n = len(tier_tables)
    table_of = np.zeros(n, dtype=np.intp)
    # the distinct tables in the order first met, as desk.domain.limits lists a portfolio's: a
    # portfolio just read and checked has its tables' arrays made already (tier_arrays keeps them)
    table_code, first_met = _first_seen_codes(np.fromiter(map(id, tier_tables), dtype=np.uint64, count=n))
    distinct = [tier_tables[k] for k in first_met.tolist()]
    given = tier_arrays(distinct)
    parts: list[ResolvedTables] = []
    count = 0
    for flag in (False, True):  # the same table reads differently where MMR comes from max leverage
        rows = np.flatnonzero(from_max_leverage == flag)
        if len(rows):
            used, inverse = np.unique(table_code[rows], return_inverse=True)
            table_of[rows] = count + inverse.reshape(-1)
            count += len(used)
            if given is not None:
                parts.append(resolve_tables(given.rows(used), flag))
            else:  # a number Python must read itself: table by table
                parts.append(ResolvedTables.of([resolve_tiers(distinct[k], flag) for k in used.tolist()]))
    if not parts:
        return _TableBlock(np.full((1, 1), np.inf), np.zeros((1, 1)), np.zeros((1, 1)),
                           np.ones(1, dtype=bool), np.zeros(0, dtype=np.intp), table_of)
    width = max(part.floors.shape[1] for part in parts)

    def stacked(name: str, padding: float) -> FloatArray:
        return np.concatenate([np.pad(getattr(part, name), ((0, 0), (0, width - part.floors.shape[1])),
                                      constant_values=padding) for part in parts])

    return _TableBlock(stacked("floors", np.inf), stacked("rates", 0.0), stacked("cums", 0.0),
                       np.concatenate([_tables_convex(part) for part in parts]),
                       np.concatenate([part.length for part in parts]), table_of)


@dataclass(frozen=True, slots=True)
class _Pools:
    """An account's cross pools in margin_units' order: the wallets' currencies with a balance, then
    each further settle currency of a cross position as first met."""

    index: dict[str, int]  # settle currency → pool
    balance: FloatArray

    @staticmethod
    def of(account: Account, cross_settles: Sequence[str]) -> _Pools:
        funded = (cur for cur, amount in account.wallets.items() if amount != 0)
        index = {cur: u for u, cur in enumerate(funded)}
        for settle in dict.fromkeys(cross_settles):  # few: one per settle currency
            index.setdefault(settle, len(index))
        return _Pools(index, np.fromiter(map(account.wallet, index), dtype=np.float64, count=len(index)))


def _compile_accounts(
    accounts: Sequence[Account], statics: Sequence[tuple[object, ...]]
) -> list[_AccountPlan]:
    """Accounts as arrays, one plan each: rows grouped into margin units (cross pools per settle in
    margin_units' order, then each isolated position), symbol groups numbered within each account.

    Every column is built over all the accounts' positions at once and then cut account by account:
    an isolated position is a margin unit (and a symbol group) of its own, so an all-isolated book
    has as many units as positions — the work per unit is numpy's, never a Python loop; and a first
    tick compiles every account in one batch, each distinct tier table once."""
    n_accounts = len(accounts)
    rules = [rules_for(account.venue) for account in accounts]
    per_account = [cast(tuple[tuple[Any, ...], ...], static[1]) for static in statics]  # _STATIC_FIELDS
    counts = np.fromiter((len(columns[0]) for columns in per_account), dtype=np.intp, count=n_accounts)
    bounds = np.zeros(n_accounts + 1, dtype=np.intp)  # account a's positions are [bounds[a], bounds[a+1])
    np.cumsum(counts, out=bounds[1:])
    n = int(bounds[-1])
    # each field over the whole batch, account after account
    symbols, settles, kinds, contracts, sizes, sides, entries, modes, margins, tier_tables, takers = (
        tuple(itertools.chain.from_iterable(columns)) for columns in zip(*per_account, strict=True)
    ) if per_account else ((),) * len(_STATIC_FIELDS)
    account_of = np.repeat(np.arange(n_accounts, dtype=np.intp), counts)
    lo_hi = list(itertools.pairwise(bounds.tolist()))

    # margin units, numbered within each account: its pools, then its isolated positions in order
    cross = np.fromiter(map(operator.eq, modes, itertools.repeat(MarginMode.CROSS)), dtype=bool, count=n)
    isolated = ~cross
    cross_list, iso_list = cross.tolist(), isolated.tolist()
    pools = [_Pools.of(account, list(itertools.compress(settles[lo:hi], cross_list[lo:hi])))
             for account, (lo, hi) in zip(accounts, lo_hi, strict=True)]
    n_pools = np.fromiter((len(p.index) for p in pools), dtype=np.intp, count=n_accounts)
    iso_count = np.bincount(account_of[isolated], minlength=n_accounts).astype(np.intp)
    n_units = n_pools + iso_count
    unit_base = np.cumsum(n_units) - n_units  # units of the accounts before: units numbered batch-wide
    unit_account = np.repeat(np.arange(n_accounts, dtype=np.intp), n_units)
    unit_local = np.empty(n, dtype=np.intp)
    unit_local[cross] = np.fromiter(
        itertools.chain.from_iterable(
            map(p.index.__getitem__, itertools.compress(settles[lo:hi], cross_list[lo:hi]))
            for p, (lo, hi) in zip(pools, lo_hi, strict=True)),
        dtype=np.intp, count=n - int(iso_count.sum()))
    iso_rank = np.cumsum(isolated) - isolated  # isolated positions before each, batch-wide
    iso_start = np.cumsum(iso_count) - iso_count  # isolated positions of the accounts before
    unit_local[isolated] = (n_pools[account_of] + iso_rank - iso_start[account_of])[isolated]
    unit_global = unit_base[account_of] + unit_local
    unit_isolated = np.arange(len(unit_account)) - unit_base[unit_account] >= n_pools[unit_account]
    unit_balance = np.empty(len(unit_account))
    unit_balance[~unit_isolated] = np.concatenate([p.balance for p in pools]) if pools else np.zeros(0)
    # an isolated unit's balance is its margin (None: none posted), read with `or` as the scalar path does
    unit_balance[unit_isolated] = np.fromiter((m or 0.0 for m in itertools.compress(margins, iso_list)),
                                              dtype=np.float64, count=int(iso_count.sum()))
    unit_sizes = np.bincount(unit_global, minlength=len(unit_account)).astype(np.intp)
    iso_settles = itertools.compress(settles, iso_list)

    # rows unit by unit within each account, each unit's positions in account order: a stable sort
    # (units are numbered account by account, so each account's rows stay within its own range)
    rows_order = np.argsort(unit_global, kind="stable").astype(np.intp)
    position_row = np.empty(n, dtype=np.intp)  # the inverse permutation
    position_row[rows_order] = np.arange(n, dtype=np.intp)
    local_order = rows_order - bounds[account_of]
    # accounts whose rows are their positions as they stand (the flattening need not reorder them)
    in_order = np.bincount(account_of, weights=rows_order != np.arange(n), minlength=n_accounts) == 0
    # symbol groups: the legs of one symbol in one unit, numbered as first met row by row; an
    # account's groups follow the previous accounts', so its numbers are consecutive
    symbol_code = {symbol: k for k, symbol in enumerate(dict.fromkeys(symbols))}
    codes = np.fromiter(map(symbol_code.__getitem__, symbols), dtype=np.intp, count=n)[rows_order]
    group_global, group_first_row = _first_seen_codes(unit_global[rows_order] * len(symbol_code) + codes)
    groups_per_account = np.bincount(account_of[group_first_row], minlength=n_accounts).astype(np.intp)
    group_base = np.cumsum(groups_per_account) - groups_per_account
    group_of = group_global - group_base[account_of]

    tables = _table_block(tier_tables, np.repeat([r.mmr_from_max_leverage for r in rules], counts))
    tix = tables.table_of[rows_order]
    length = tables.length[tix] if n else np.zeros(0, dtype=np.intp)
    q = (np.asarray(contracts, dtype=np.float64) * np.asarray(sizes, dtype=np.float64))[rows_order]
    entry = np.asarray(entries, dtype=np.float64)[rows_order]
    # by equality, as the cache compares them (a StrEnum member equals its value)
    inverse = np.fromiter(map(operator.eq, kinds, itertools.repeat(Kind.INVERSE)), dtype=bool, count=n)
    is_long = np.fromiter(map(operator.eq, sides, itertools.repeat(Side.LONG)), dtype=bool, count=n)
    inverse, is_long = inverse[rows_order], is_long[rows_order]
    taker = np.fromiter((t or 0.0 for t in takers), dtype=np.float64, count=n)[rows_order]
    side = np.where(is_long, 1.0, -1.0)
    sigma = np.where(inverse, -side, side)
    v_entry = np.where(inverse, q / entry, q * entry) if n else np.zeros(0)
    # the venue's rules, per row (each row stays in its account's range, so account_of holds for it)
    fee_in_mm = np.repeat([r.fee_in_mm for r in rules], counts)
    fee_in_bankruptcy = np.repeat([r.fee_in_bankruptcy for r in rules], counts)
    columns = np.zeros((n, _Col.SCALARS))  # the mark stays 0.0: it is read on every tick
    columns[:, _Col.Q] = q
    columns[:, _Col.INVERSE] = inverse
    columns[:, _Col.SIGMA] = sigma
    columns[:, _Col.V_ENTRY] = v_entry
    columns[:, _Col.ENTRY_BASIS] = np.repeat([r.mm_basis is MMBasis.ENTRY for r in rules], counts)
    columns[:, _Col.FEE] = np.where(fee_in_mm, taker, 0.0)
    fee_bk = np.where(fee_in_bankruptcy, taker, 0.0)

    plans = []
    local_order_list = local_order.tolist()
    for a, (lo, hi) in enumerate(lo_hi):
        # each plan owns copies of its rows: a plan kept in the cache must not hold the whole batch
        units = slice(int(unit_base[a]), int(unit_base[a] + n_units[a]))
        account_tix = tix[lo:hi]
        width = int(length[lo:hi].max()) if hi > lo else 1  # the account's widest table, as before
        plans.append(_AccountPlan(
            static=statics[a],
            rules=rules[a],
            order=tuple(local_order_list[lo:hi]),
            in_order=bool(in_order[a]),
            account_rows=position_row[lo:hi] - lo,
            unit_settle=(*pools[a].index, *itertools.islice(iso_settles, int(iso_count[a]))),
            unit_sizes=unit_sizes[units].copy(),
            unit_isolated=unit_isolated[units].copy(),
            unit_balance=unit_balance[units].copy(),
            unit_of=unit_local[rows_order[lo:hi]],
            group_of=group_of[lo:hi].copy(),
            n_groups=int(groups_per_account[a]),
            columns=columns[lo:hi].copy(),
            entry=entry[lo:hi].copy(),
            fee_bk=fee_bk[lo:hi].copy(),
            convex=np.take(tables.convex, account_tix),
            # np.take: a fancy index on rows and columns at once is several times slower
            floors=np.take(tables.floors[:, :width], account_tix, axis=0),
            rates=np.take(tables.rates[:, :width], account_tix, axis=0),
            cums=np.take(tables.cums[:, :width], account_tix, axis=0),
        ))
    return plans


class PlanCache:
    """Compiled account plans by (account name, venue), least recently used first, at most ``size``.

    A plan is served only while its account's static fields are equal to the ones it was compiled
    from (compared field by field — equal objects, not merely equal hashes); anything else compiles
    afresh and replaces it. So each caller holds its own: a what-if edit of an account compiled into
    the live caller's cache would replace that account's live plan, and the next tick would compile
    it again. Callers that pass none share :data:`DEFAULT_PLANS`.

    Safe to share between threads without a lock (desk.domain may not import threading): each
    OrderedDict operation is atomic, so a race can at worst compile an account twice or drop one plan
    more than needed — never serve a plan that does not match. ``hits`` and ``compiles`` count the
    plans served from the cache and compiled afresh (exact on one thread, approximate under a race).
    """

    def __init__(self, size: int = PLAN_CACHE_SIZE) -> None:
        self.size = size
        self.hits = 0
        self.compiles = 0
        self._plans: OrderedDict[tuple[str, str], _AccountPlan] = OrderedDict()
        # the account object each plan was last served for, with that plan (one value: set at once):
        # the same object again (an account is frozen) needs no comparison of its static fields —
        # the report and then the book compile one portfolio twice
        self._served: dict[tuple[str, str], tuple[Account, _AccountPlan]] = {}

    def plan(self, account: Account) -> _AccountPlan:
        return self.plans((account,))[0]

    def plans(self, accounts: Sequence[Account]) -> list[_AccountPlan]:
        """The plan of each account. Those not kept (or kept for other static fields) are compiled
        together in one batch (:func:`_compile_accounts`): a first tick compiles every account at
        once, sharing the tier tables and the numpy calls between them."""
        keys = [(account.name, account.venue) for account in accounts]
        if len(set(keys)) < len(keys):  # one name twice: each must see the plan the one before left
            return [plan for account, key in zip(accounts, keys, strict=True)
                    for plan in self._batch((account,), [key])]
        return self._batch(accounts, keys)

    def _batch(self, accounts: Sequence[Account], keys: list[tuple[str, str]]) -> list[_AccountPlan]:
        found: list[_AccountPlan | None] = []
        statics: list[tuple[object, ...] | None] = []
        for key, account in zip(keys, accounts, strict=True):
            served = self._served.get(key)
            if served is not None and served[0] is account:
                found.append(served[1])
                statics.append(None)
                continue
            static = _static_key(account)
            plan = self._plans.get(key)
            found.append(plan if plan is not None and plan.static == static else None)
            statics.append(static)
        stale = [i for i, plan in enumerate(found) if plan is None]
        if stale:
            compiled = _compile_accounts([accounts[i] for i in stale],
                                         [cast(tuple[object, ...], statics[i]) for i in stale])
            for i, plan in zip(stale, compiled, strict=True):
                found[i] = plan
                self._plans[keys[i]] = plan
        self.compiles += len(stale)
        self.hits += len(accounts) - len(stale)
        plans = cast(list[_AccountPlan], found)
        for key, plan, account in zip(keys, plans, accounts, strict=True):
            self._served[key] = (account, plan)
            try:
                self._plans.move_to_end(key)
            except KeyError:  # evicted by a plan compiled in this batch, or by another thread: back in
                self._plans[key] = plan
            while len(self._plans) > self.size:
                with contextlib.suppress(KeyError):  # emptied meanwhile by another thread
                    evicted, _ = self._plans.popitem(last=False)
                    self._served.pop(evicted, None)
        return plans

    def __len__(self) -> int:
        return len(self._plans)

    def holds(self, name: str, venue: str) -> bool:
        return (name, venue) in self._plans

    def peek(self, name: str, venue: str) -> object | None:
        """The plan kept for the account, without counting a use (tests compare it by identity)."""
        return self._plans.get((name, venue))

    def clear(self) -> None:
        self._plans.clear()
        self._served.clear()


#: the plans of callers that bring no cache of their own (the CLI, the charts, the demo venue)
DEFAULT_PLANS = PlanCache(PLAN_CACHE_SIZE)


def _pick(items: tuple[Position, ...], plan: _AccountPlan) -> Sequence[Position]:
    return items if plan.in_order else list(map(items.__getitem__, plan.order))


def _flatten(portfolio: Portfolio, cache: PlanCache | None = None) -> _Flat:
    """The portfolio as arrays: one row per position, grouped into margin units and symbol groups.

    Each account's structure comes from its plan in ``cache`` (:class:`PlanCache`; by default
    :data:`DEFAULT_PLANS`); only the marks and the position objects are read afresh.
    """
    plans = (DEFAULT_PLANS if cache is None else cache).plans(portfolio.accounts)
    positions: list[Position] = []
    for acc, plan in zip(portfolio.accounts, plans, strict=True):
        positions.extend(_pick(acc.positions, plan))
    n = len(positions)
    width = max((plan.floors.shape[1] for plan in plans), default=1)
    packed = np.empty((n, _Col.row_length(width)))
    packed[:, _Col.floors(width)] = np.inf  # padding: no tier beyond a table's last
    packed[:, _Col.rates(width)] = 0.0
    packed[:, _Col.cums(width)] = 0.0
    unit_rules: list[VenueRules] = []
    row = unit = group = 0
    row_starts, unit_starts, group_starts = [], [], []
    for plan in plans:
        rows = len(plan.order)
        w = plan.floors.shape[1]
        block = packed[row:row + rows]
        block[:, :_Col.SCALARS] = plan.columns
        block[:, _Col.floors(width)][:, :w] = plan.floors
        block[:, _Col.rates(width)][:, :w] = plan.rates
        block[:, _Col.cums(width)][:, :w] = plan.cums
        unit_rules += [plan.rules] * len(plan.unit_settle)
        row_starts.append(row)
        unit_starts.append(unit)
        group_starts.append(group)
        row += rows
        unit += len(plan.unit_settle)
        group += plan.n_groups
    packed[:, _Col.MARK] = np.fromiter(map(_MARK, positions), dtype=np.float64, count=n)
    rows_per_plan = [len(plan.order) for plan in plans]
    units_per_plan = [len(plan.unit_settle) for plan in plans]

    def offset(values: list[IntArray], starts: list[int], counts: list[int]) -> IntArray:
        if not values:
            return np.zeros(0, dtype=np.intp)
        return np.concatenate(values) + np.repeat(np.asarray(starts, dtype=np.intp), counts)

    def floats(values: list[FloatArray]) -> FloatArray:
        return np.concatenate(values) if values else np.zeros(0)

    def bools(values: list[BoolArray]) -> BoolArray:
        return np.concatenate(values) if values else np.zeros(0, dtype=bool)

    # per-unit figures are arrays in each plan: joined at once, not unit by unit
    unit_sizes = np.concatenate([plan.unit_sizes for plan in plans]) if plans else np.zeros(0, dtype=np.intp)
    unit_start = np.zeros(len(unit_sizes) + 1, dtype=np.intp)
    np.cumsum(unit_sizes, out=unit_start[1:])
    return _Flat(
        positions=positions,
        unit_rules=unit_rules,
        unit_settle=tuple(itertools.chain.from_iterable(plan.unit_settle for plan in plans)),
        unit_start=unit_start,
        unit_account=np.repeat(np.arange(len(plans), dtype=np.intp), units_per_plan),
        unit_isolated=bools([plan.unit_isolated for plan in plans]),
        unit_balance=floats([plan.unit_balance for plan in plans]),
        unit_of=offset([plan.unit_of for plan in plans], unit_starts, rows_per_plan),
        group_of=offset([plan.group_of for plan in plans], group_starts, rows_per_plan),
        n_groups=group,
        q=packed[:, _Col.Q],
        inverse=packed[:, _Col.INVERSE] != 0,
        sigma=packed[:, _Col.SIGMA],
        entry=floats([plan.entry for plan in plans]),
        mark=packed[:, _Col.MARK],
        v_entry=packed[:, _Col.V_ENTRY],
        entry_basis=packed[:, _Col.ENTRY_BASIS] != 0,
        fee=packed[:, _Col.FEE],
        fee_bk=floats([plan.fee_bk for plan in plans]),
        floors=packed[:, _Col.floors(width)],
        rates=packed[:, _Col.rates(width)],
        cums=packed[:, _Col.cums(width)],
        convex=np.concatenate([plan.convex for plan in plans]) if plans else np.zeros(0, dtype=bool),
        row_offset=np.arange(n, dtype=np.intp) * packed.shape[1],
        packed=packed,
        account_rows=offset([plan.account_rows for plan in plans], row_starts, rows_per_plan),
    )


def clear_compiled_cache() -> None:
    """Forget every compiled account plan of :data:`DEFAULT_PLANS` (tests; memory)."""
    DEFAULT_PLANS.clear()


def compiled_cache_size() -> int:
    """How many compiled account plans :data:`DEFAULT_PLANS` keeps (at most :data:`PLAN_CACHE_SIZE`)."""
    return len(DEFAULT_PLANS)


def _sum(index: IntArray, weights: FloatArray, length: int) -> FloatArray:
    """Sum ``weights`` into ``length`` bins by ``index`` (numpy's bincount, typed as floats)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=length), dtype=np.float64)


def _value(f: _Flat | _Rows, price: FloatArray) -> FloatArray:
    return np.where(f.inverse, f.q / price, f.q * price)


def _tier_index(f: _Flat | _Rows, basis: FloatArray) -> IntArray:
    """Index of the tier with floor ≤ basis (the first tier starts at 0, padding floors are +inf)."""
    if f.floors.shape[1] == 1:
        return np.zeros(basis.shape, dtype=np.intp)
    return _tier_index_rows(f.floors[:, 1:], basis)


def _tier_terms(
    f: _Flat | _Rows, idx: IntArray, rows: IntArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """(MMR, cum) of tier ``idx`` of each position (or of positions ``rows``)."""
    width = f.floors.shape[1]
    flat = (f.row_offset if rows is None else f.row_offset[rows]) + _Col.rates(width).start + idx
    packed = f.packed.ravel()
    return packed[flat], packed[flat + width]  # the cum block follows the MMR block


def _tier(f: _Flat | _Rows, basis: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(MMR, cum) of the tier with floor ≤ basis (basis shaped like the positions, any leading dims)."""
    return _tier_terms(f, _tier_index(f, basis))


def _maintenance(f: _Flat | _Rows, value: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(MM, d MM / d value) at the given values: §0 at the price, or on the entry value (Bybit)."""
    basis = np.where(f.entry_basis, f.v_entry, value)
    rate, cum = _tier(f, basis)
    mm = basis * rate - cum + f.fee * value
    slope = np.where(f.entry_basis, 0.0, rate) + f.fee
    return mm, slope


def _liquidation_single(f: _Flat, base: FloatArray, rows: IntArray) -> FloatArray:
    """Closed-form liquidation price of single-leg groups (``rows``), every tier at once (§1.1, §1.2)."""
    q = f.q[rows][:, None]
    sigma = f.sigma[rows][:, None]
    ve = f.v_entry[rows][:, None]
    fee = f.fee[rows][:, None]
    b0 = base[rows][:, None]
    floors = f.floors[rows]
    rates = f.rates[rows]
    cums = f.cums[rows]
    caps = np.concatenate([floors[:, 1:], np.full((len(rows), 1), np.inf)], axis=1)
    on_entry = f.entry_basis[rows]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # price basis: Σ = (−σ·ve + cum) + q·(σ − m − fee)·u, one line per tier segment
        a = -sigma * ve + cums
        b = q * (sigma - rates - fee)
        x = -(b0 + a) / b
        v = q * x
        ok = (x > 0) & np.isfinite(x) & (v >= floors * (1 - 1e-12)) & (v <= caps * (1 + 1e-12))
        ok &= np.isfinite(floors)
        # jumps across zero at a boundary (maintenance amounts inconsistent with §0)
        xb = floors[:, 1:] / q
        left = b0 + a[:, :-1] + b[:, :-1] * xb
        right = b0 + a[:, 1:] + b[:, 1:] * xb
        jump = np.isfinite(floors[:, 1:]) & ((left > 0) != (right > 0)) & (left != 0) & (right != 0)
        cand = np.concatenate([np.where(ok, x, np.nan), np.where(jump, xb, np.nan)], axis=1)
        # entry basis (Bybit): one segment, the entry tier
        rate_e, cum_e = _tier_rows(f, rows, f.v_entry[rows])
        xe = -(base[rows] - f.sigma[rows] * f.v_entry[rows] - rate_e * f.v_entry[rows] + cum_e) / (
            f.q[rows] * (f.sigma[rows] - f.fee[rows])
        )
        xe = np.where((xe > 0) & np.isfinite(xe), xe, np.nan)
        cand[on_entry] = np.nan
        cand[on_entry, 0] = xe[on_entry]
        price = np.where(f.inverse[rows][:, None], 1.0 / cand, cand)
        price = np.where((price > 0) & np.isfinite(price), price, np.nan)
        gap = np.abs(price - f.mark[rows][:, None])
    gap = np.where(np.isnan(gap), np.inf, gap)
    best = np.argmin(gap, axis=1)
    chosen = price[np.arange(len(rows)), best]
    return np.where(np.isinf(gap[np.arange(len(rows)), best]), np.nan, chosen)


def _tier_rows(f: _Flat, rows: IntArray, basis: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _tier_terms(f, _tier_index_rows(f.floors[rows, 1:], basis), rows)


def _liquidation_walk(f: _Flat, base: FloatArray, rows: IntArray) -> tuple[FloatArray, BoolArray]:
    """Liquidation price of single-leg, price-basis positions with continuous tiers, by walking tiers.

    Start from the tier at the mark, solve that tier's line, move to the tier of the notional at
    the root, until the tier contains its own root (§1.2). With continuous maintenance amounts
    (§0) a single leg's slack is monotone in u, so the self-consistent root is the only one.
    Returns the prices and a mask of rows left for :func:`_liquidation_single` (no positive root
    on the tier walked to, or no convergence within the table's length).
    """
    width = f.floors.shape[1]
    q, sigma, ve, fee = f.q[rows], f.sigma[rows], f.v_entry[rows], f.fee[rows]
    b0 = base[rows]
    floors = np.take(f.floors, rows, axis=0)  # np.take: several times faster than a fancy index here
    fl = floors[:, 1:]
    idx = _tier_index_rows(fl, f.q[rows] * f.mark[rows] ** np.where(f.inverse[rows], -1.0, 1.0))
    result = np.full(len(rows), np.nan)
    resolved = np.zeros(len(rows), dtype=bool)
    # the slope of the slack in u has the sign of σ on every tier while MMR + fee < 1: monotone
    # (the top MMR of each row column by column, for the speed _tier_index_rows says)
    rates = np.take(f.rates, rows, axis=0)
    top_rate = np.where(np.isfinite(floors[:, 0]), rates[:, 0], 0.0)
    for floor, rate in zip(floors.T[1:], rates.T[1:], strict=True):
        top_rate = np.maximum(top_rate, np.where(np.isfinite(floor), rate, 0.0))
    monotone = top_rate + fee < 1.0
    open_rows = np.flatnonzero(monotone)
    for _ in range(width + 1):
        if not len(open_rows):
            break
        r = rows[open_rows]
        rate, cum = _tier_terms(f, idx[open_rows], r)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            x = -(b0[open_rows] - sigma[open_rows] * ve[open_rows] + cum) / (
                q[open_rows] * (sigma[open_rows] - rate - fee[open_rows]))
        positive = (x > 0) & np.isfinite(x)
        new_idx = np.where(positive, _tier_index_rows(fl[open_rows], q[open_rows] * x), -1)
        settled = positive & (new_idx == idx[open_rows])
        result[open_rows[settled]] = x[settled]
        # no positive root on the first tier: the monotone slack starts on the far side of zero
        # and moves away from it, so there is no liquidation price at all
        none = ~positive & (idx[open_rows] == 0)
        resolved[open_rows[settled | none]] = True
        new_idx = np.where(positive, new_idx, 0)
        keep = ~settled & ~none
        idx[open_rows[keep]] = new_idx[keep]
        open_rows = open_rows[keep]
    unresolved = ~resolved
    price = np.where(f.inverse[rows], 1.0 / result, result)
    return price, unresolved


def _liquidation_entry(f: _Flat, base: FloatArray, rows: IntArray) -> FloatArray:
    """Single-leg positions whose MM is on the entry value (Bybit §3.1, §3.3): one line, one root."""
    rate_e, cum_e = _tier_rows(f, rows, f.v_entry[rows])
    sigma, ve = f.sigma[rows], f.v_entry[rows]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = -(base[rows] - sigma * ve - rate_e * ve + cum_e) / (f.q[rows] * (sigma - f.fee[rows]))
        x = np.where((x > 0) & np.isfinite(x), x, np.nan)
        price = np.where(f.inverse[rows], 1.0 / x, x)
    return np.where((price > 0) & np.isfinite(price), price, np.nan)


def _tier_index_rows(floors_above_first: FloatArray, value: FloatArray) -> IntArray:
    """How many of each row's floors (after the first tier's) are ≤ its value — the tier index;
    ``value`` is shaped like the rows, with any leading dims. Counted column by column: a table has
    few tiers, and numpy sums a short last axis several times slower than it adds whole columns."""
    idx = np.zeros(value.shape, dtype=np.intp)
    for floor in floors_above_first.T:
        idx += floor <= value
    return idx


@dataclass(frozen=True, slots=True)
class _Rows:
    """The per-position arrays the maintenance margin needs, for a subset of (direction, position) pairs."""

    q: FloatArray
    inverse: BoolArray
    sigma: FloatArray
    mark: FloatArray
    v_entry: FloatArray
    entry_basis: BoolArray
    fee: FloatArray
    floors: FloatArray
    rates: FloatArray
    cums: FloatArray
    row_offset: IntArray
    slot: IntArray  # direction × units + unit, where each row's contribution is summed
    packed: FloatArray


#: ``direction`` of :func:`_rows` for every position in both directions: (2, positions) pairs
_BOTH_DIRECTIONS = np.array([[0], [1]], dtype=np.intp)


def _rows(f: _Flat, direction: IntArray, position: IntArray) -> _Rows:
    """The rows of ``position``, each paired with its ``direction`` (or with both, in two rows of
    pairs: :data:`_BOTH_DIRECTIONS` — each position gathered once)."""
    n_units = f.n_units
    width = f.floors.shape[1]
    g = np.take(f.packed, position, axis=0)
    return _Rows(
        g[:, _Col.Q], g[:, _Col.INVERSE] != 0, g[:, _Col.SIGMA], g[:, _Col.MARK], g[:, _Col.V_ENTRY],
        g[:, _Col.ENTRY_BASIS] != 0, g[:, _Col.FEE],
        g[:, _Col.floors(width)], g[:, _Col.rates(width)], g[:, _Col.cums(width)],
        np.arange(len(position), dtype=np.intp) * g.shape[1], direction * n_units + f.unit_of[position], g,
    )


def _slack_rows(f: _Flat, r: _Rows, shocks: FloatArray) -> tuple[FloatArray, FloatArray]:
    """balance − MM and its derivative in the shock, per (direction, unit), from the rows ``r`` only."""
    s = shocks.ravel()[r.slot]
    value = np.where(r.inverse, r.q / (r.mark * (1.0 + s)), r.q * r.mark * (1.0 + s))
    dvalue = np.where(r.inverse, -value / (1.0 + s), r.q * r.mark)
    mm, mm_slope = _maintenance(r, value)
    contribution = r.sigma * (value - r.v_entry) - mm
    dcontribution = (r.sigma - mm_slope) * dvalue
    size = shocks.size
    slot = r.slot.ravel()  # pairs in (direction, position) order, however they are shaped
    total = _sum(slot, contribution.ravel(), size).reshape(shocks.shape) + f.unit_balance[None, :]
    return total, _sum(slot, dcontribution.ravel(), size).reshape(shocks.shape)


def _shock(f: _Flat, slack0: FloatArray, dslack0: FloatArray) -> FloatArray:
    """Signed smallest uniform shock per unit at which slack = balance − MM reaches 0 (nan: none).

    On a concave slack, a Newton step taken from a point on the liquidated side (slack ≤ 0) stays
    on it and moves monotonically to the first crossing. The starting points: in the direction the
    slack falls at the marks, the root of its tangent there (the tangent lies above a concave
    function, so the slack at that root is ≤ 0); in the other direction, the far end (±99 %).
    Only (direction, unit) pairs still moving are evaluated.
    """
    n_units = f.n_units
    counts = np.bincount(f.unit_of, minlength=n_units)
    shock = np.full(n_units, np.nan)
    shock[(slack0 <= 0) & (counts > 0)] = 0.0
    concave_pos = f.convex & ~(f.inverse & (f.sigma > 0))
    concave = _sum(f.unit_of, (~concave_pos).astype(np.float64), n_units) == 0
    todo = (slack0 > 0) & (counts > 0)
    fallback = np.flatnonzero(todo & ~concave)
    newton = todo & concave
    if newton.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            tangent = np.where(dslack0 != 0, -slack0 / dslack0, np.inf)
        s = np.empty((2, n_units))
        # a hair beyond the tangent's root, so a linear slack is strictly negative there despite rounding
        tangent = tangent * (1.0 + 1e-9)
        s[0] = np.where(tangent < 0, np.maximum(tangent, -SHOCK_LIMIT), -SHOCK_LIMIT)
        s[1] = np.where(tangent > 0, np.minimum(tangent, SHOCK_LIMIT), SHOCK_LIMIT)

        def evaluate(active: BoolArray) -> tuple[FloatArray, FloatArray]:
            direction, position = np.nonzero(active[:, f.unit_of])
            return _slack_rows(f, _rows(f, direction.astype(np.intp), position.astype(np.intp)), s)

        both = np.vstack([newton, newton])
        slack, dslack = _slack_rows(f, _rows(f, _BOTH_DIRECTIONS, np.flatnonzero(newton[f.unit_of])), s)
        found = (slack <= 0) & both
        active = found.copy()
        for _ in range(_NEWTON_STEPS):
            with np.errstate(divide="ignore", invalid="ignore"):
                step = np.where(active & (dslack != 0), slack / dslack, 0.0)
            new = np.clip(s - step, -SHOCK_LIMIT, SHOCK_LIMIT)
            # stop at 1e-14: below that the step is rounding noise of the sums
            moving = active & (np.abs(new - s) > _SHOCK_TOLERANCE) & (slack != 0)
            if not moving.any():
                break
            s = np.where(moving, new, s)
            fresh, dfresh = evaluate(moving)
            slack = np.where(moving, fresh, slack)
            dslack = np.where(moving, dfresh, dslack)
            active = moving
        # rounding can leave the last iterate a hair on the safe side: step one ulp outwards
        s = np.where(found & (slack > 0), np.nextafter(s, np.sign(s) * 2.0), s)
        down = np.where(found[0], s[0], np.nan)
        up = np.where(found[1], s[1], np.nan)
        pick_up = ~np.isnan(up) & (np.isnan(down) | (np.abs(up) < np.abs(down)))
        shock = np.where(newton, np.where(pick_up, up, down), shock)
    # a unit of one position (every isolated one) whose floors rise walks its segments vectorised;
    # the rest, unit by unit, in position_math
    rising = np.all(f.floors[:, 1:] >= f.floors[:, :-1], axis=1)
    single = (counts[fallback] == 1) & rising[f.unit_start[fallback]]
    if single.any():
        shock[fallback[single]] = _single_position_shocks(f, fallback[single])
    for u in fallback[~single].tolist():
        value = unit_shock_to_liquidation(_unit_at_marks(f, u), f.unit_rules[u])
        shock[u] = np.nan if value is None else value
    return shock


def _single_position_shocks(f: _Flat, units: IntArray) -> FloatArray:
    """:func:`~desk.domain.position_math.unit_shock_to_liquidation` of units that hold one position
    each (an isolated short inverse leg, a table whose maintenance amounts jump), every unit at once.

    The same walk and the same floating-point operations in the same order, so the same bits: the
    shocks where the notional crosses a floor cut ±99 % into segments; outwards from 0 in each
    direction, the first segment that starts at slack ≤ 0 or holds a root of
    L0 + L1·s + K/(1 + s) = 0 gives the shock; the nearer direction wins, the falling one on a tie.
    (``math.fsum`` of one term is the term + 0.0.) The caller keeps this to units whose tier floors
    rise, where the tier index here is the scalar lookup's."""
    rows = f.unit_start[units]  # the one row of each unit
    n = len(rows)
    q, mark, sigma, fee = f.q[rows], f.mark[rows], f.sigma[rows], f.fee[rows]
    inverse, on_entry, v_entry = f.inverse[rows], f.entry_basis[rows], f.v_entry[rows]
    floors, rates, cums = (np.take(a, rows, axis=0) for a in (f.floors, f.rates, f.cums))
    above_first = floors[:, 1:]
    balance = f.unit_balance[units]
    v0 = np.where(inverse, q / mark, q * mark)
    best = np.full(n, np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # the shocks where the notional crosses a floor (none on the entry basis: the tier is fixed)
        crossing = np.where(inverse[:, None], v0[:, None] / above_first - 1.0,
                            above_first / v0[:, None] - 1.0)
        crossing = np.where((above_first > 0) & ~on_entry[:, None], crossing, np.nan)
        for direction in (-1.0, 1.0):
            # this direction's edges: 0, each distinct |shock| of a crossing, then SHOCK_LIMIT
            ahead = (crossing * direction > 0) & (np.abs(crossing) < SHOCK_LIMIT)
            keys = np.sort(np.where(ahead, np.abs(crossing), np.inf), axis=1)
            keys[:, 1:][keys[:, 1:] == keys[:, :-1]] = np.inf  # one edge where floors cross at one shock
            keys.sort(axis=1)
            edges = np.concatenate([np.zeros((n, 1)), keys, np.full((n, 1), np.inf)], axis=1)
            edges[np.arange(n), np.count_nonzero(np.isfinite(keys), axis=1) + 1] = SHOCK_LIMIT
            found = np.full(n, np.nan)
            for segment in range(edges.shape[1] - 1):
                near, far = edges[:, segment], edges[:, segment + 1]
                live = np.isnan(found) & (near < SHOCK_LIMIT)
                if not live.any():
                    break
                # position_math._shock_terms at the segment's middle
                mid = direction * (near + far) / 2.0
                moving = np.where(inverse, v0 / (1.0 + mid), v0 * (1.0 + mid))
                tier = _tier_index_rows(above_first, np.where(on_entry, v_entry, moving))[:, None]
                mmr = np.take_along_axis(rates, tier, axis=1)[:, 0]
                cum = np.take_along_axis(cums, tier, axis=1)[:, 0]
                rate = sigma - fee - np.where(on_entry, 0.0, mmr)
                fixed = -sigma * v_entry + cum - np.where(on_entry, mmr * v_entry, 0.0)
                l0 = balance + (np.where(inverse, fixed, fixed + rate * v0) + 0.0)
                l1 = np.where(inverse, 0.0, rate * v0) + 0.0
                k = np.where(inverse, rate * v0, 0.0) + 0.0
                start = direction * near
                jump = (near > 0) & (l0 + l1 * start + k / (1.0 + start) <= 0.0)
                root = _segment_root(l0, l1, k, near, far, direction)
                hit = np.where(jump, start, root)
                hit = direction * np.minimum(np.abs(hit), SHOCK_LIMIT)
                found = np.where(live & ~np.isnan(hit), hit, found)
            nearer = ~np.isnan(found) & (np.isnan(best) | (np.abs(found) < np.abs(best)))
            best = np.where(nearer, found, best)
    return best


def _segment_root(l0: FloatArray, l1: FloatArray, k: FloatArray, near: FloatArray, far: FloatArray,
                  direction: float) -> FloatArray:
    """position_math._segment_roots of each row (L1·s² + (L0 + L1)·s + (L0 + K) = 0, s > −1), the
    root nearest 0 within the segment [near, far] of ``direction`` (the first on a tie); nan: none."""
    a, b, c = l1, l0 + l1, l0 + k
    disc = b * b - 4.0 * a * c
    q = -0.5 * (b + np.copysign(np.sqrt(disc), b))  # the stable form, as there
    first = np.where(a == 0.0, np.where(b != 0.0, -c / b, np.nan), np.where(disc >= 0.0, q / a, np.nan))
    second = np.where((a != 0.0) & (disc >= 0.0) & (q != 0.0), c / q, np.nan)

    def inside(r: FloatArray) -> BoolArray:
        return ((r > -1.0) & np.isfinite(r) & (near * (1 - 1e-12) <= r * direction)
                & (r * direction <= far * (1 + 1e-12)))

    ok_first, ok_second = inside(first), inside(second)
    take_first = ok_first & (~ok_second | (np.abs(first) <= np.abs(second)))
    return np.where(take_first, first, np.where(ok_second, second, np.nan))


def unit_state_at(f: _Flat, factors: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Margin balance and maintenance margin of every unit (rows × units, settle currency) when each
    mark is multiplied by ``factors`` (rows × positions)."""
    pnl, mm = _unit_sums_at(f, f.unit_of, f.mark * factors, f.n_units)
    return pnl + f.unit_balance[None, :], mm


def _unit_sums_at(p: _Flat | _Rows, unit_of: IntArray, price: FloatArray, n_units: int
                  ) -> tuple[FloatArray, FloatArray]:
    """PnL and maintenance margin summed per unit (rows × units) at ``price`` (rows × positions of
    ``p``, whose units are ``unit_of``): every position evaluated at every row."""
    value = _value(p, price)
    mm, _ = _maintenance(p, value)
    pnl = p.sigma * (value - p.v_entry)
    rows = price.shape[0]
    slots = (np.arange(rows)[:, None] * n_units + unit_of[None, :]).ravel()
    return (_sum(slots, pnl.ravel(), rows * n_units).reshape(rows, n_units),
            _sum(slots, mm.ravel(), rows * n_units).reshape(rows, n_units))


def unit_state_moved(f: _Flat, driver: IntArray, driver_factors: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:func:`unit_state_at` when the marks move with a few drivers: position ``p``'s mark is
    multiplied by ``driver_factors[:, driver[p]]`` (rows × drivers; a stress grid moves every
    position of one beta together). The same figures as ``unit_state_at(f, driver_factors[:, driver])``
    up to rounding in the sums.

    Why: within one tier a position's value is linear in the factor (linear contracts) or in its
    inverse (inverse contracts), and so are its PnL and maintenance margin; positions are summed per
    unit and driver once, in the tier they are in at the lowest value they take over the rows, and the
    grid costs rows × units × drivers instead of rows × positions. A position whose value crosses tier
    floors within the rows adds, for each floor crossed, the step of §0's MM there (ΔMMR × value −
    Δcum) from the first row at or above that floor on: see :func:`_tier_steps`. Only positions
    without a finite value over the rows are evaluated row by row, as :func:`unit_state_at` does."""
    rows = driver_factors.shape[0]
    n_units, n_drivers = f.n_units, driver_factors.shape[1]
    if not len(driver):
        zero = np.zeros((rows, n_units))
        return zero + f.unit_balance[None, :], zero
    # each position's value at the lowest and highest factor of its driver bound its basis over the rows
    low = f.mark * driver_factors.min(axis=0)[driver]
    high = f.mark * driver_factors.max(axis=0)[driver]
    v_low, v_high = _value(f, low), _value(f, high)
    basis_low = np.where(f.entry_basis, f.v_entry, np.minimum(v_low, v_high))
    basis_high = np.where(f.entry_basis, f.v_entry, np.maximum(v_low, v_high))
    regular = np.isfinite(basis_low) & np.isfinite(basis_high)
    index = _tier_index(f, basis_low)
    rate, cum = _tier_terms(f, index)
    # value = a × factor (linear) or a / factor (inverse); PnL = σ·value − σ·v_entry;
    # MM = (rate + fee)·value − cum on the price basis, fee·value + (v_entry·rate − cum) on the entry's
    a = np.where(f.inverse, f.q / f.mark, f.q * f.mark)
    mm_slope = np.where(f.entry_basis, 0.0, rate) + f.fee
    mm_const = np.where(f.entry_basis, f.v_entry * rate, 0.0) - cum
    s = np.flatnonzero(regular)
    column = (f.unit_of[s] * n_drivers + driver[s]) * 2 + f.inverse[s]
    size = n_units * n_drivers * 2
    equity_terms = _sum(column, (f.sigma * a)[s], size).reshape(n_units, n_drivers * 2)
    mm_terms = _sum(column, (mm_slope * a)[s], size).reshape(n_units, n_drivers * 2)
    with np.errstate(divide="ignore", over="ignore"):
        moves = np.stack([driver_factors, 1.0 / driver_factors], axis=2).reshape(rows, n_drivers * 2)
    entry_terms = _sum(f.unit_of[s], (-f.sigma * f.v_entry)[s], n_units)
    equity = moves @ equity_terms.T + (f.unit_balance + entry_terms)
    total_mm = moves @ mm_terms.T + _sum(f.unit_of[s], mm_const[s], n_units)
    last = _tier_index(f, basis_high)
    crossing = np.flatnonzero(regular & (last > index))
    if len(crossing):
        total_mm += _tier_steps(f, crossing, index[crossing], last[crossing], a[crossing], driver,
                                driver_factors)
    odd = np.flatnonzero(~regular)
    if len(odd):
        r = _rows(f, np.zeros(len(odd), dtype=np.intp), odd)
        pnl, mm = _unit_sums_at(r, f.unit_of[odd], r.mark * driver_factors[:, driver[odd]], n_units)
        equity += pnl
        total_mm += mm
    return equity, total_mm


def _tier_steps(f: _Flat, crossing: IntArray, first_tier: IntArray, last_tier: IntArray, a: FloatArray,
                driver: IntArray, driver_factors: FloatArray) -> FloatArray:
    """What :func:`unit_state_moved`'s sums in each position's ``first_tier`` leave out of the MM of
    the ``crossing`` positions (their value crosses tier floors within the rows, up to ``last_tier``;
    ``a``: their value per unit of factor, or of its inverse), per (row, unit).

    MM in tier k is value × MMR_k − cum_k; tier k + 1 adds (MMR_k+1 − MMR_k) × value − (cum_k+1 −
    cum_k) at every row whose value is at or above floor k + 1 — on a linear contract the rows of the
    highest factors, on an inverse one those of the lowest. Which rows: the value is computed
    at every row exactly as the row-by-row evaluation computes it and compared with the floor, so a
    row exactly on a floor falls in the same tier both ways. Each step is then added once, at the
    first such row in the order of rising value, and carried to the rest by a running sum: rows ×
    crossed floors comparisons, no sum over rows × positions."""
    rows, n_drivers = driver_factors.shape
    # every (position, floor) pair crossed: floors first_tier + 1 … last_tier of each position
    count = last_tier - first_tier
    pos = np.repeat(crossing, count)
    first_of_position = np.cumsum(count) - count
    tier = np.repeat(first_tier + 1, count) + (np.arange(len(pos)) - np.repeat(first_of_position, count))
    inverse, d = f.inverse[pos], driver[pos]
    # each driver's factors rising; the rows in the order of rising value are those of rising factor
    # (linear) or of falling factor (inverse)
    rising = np.argsort(driver_factors, axis=0, kind="stable")
    ordered = np.take_along_axis(driver_factors, rising, axis=0)
    # the first row (in that order) at or above each pair's floor, by bisection: the value is
    # monotone in the order, and each probe computes it exactly as the row-by-row evaluation does
    floor, q, mark = f.floors[pos, tier], f.q[pos], f.mark[pos]
    lo = np.zeros(len(pos), dtype=np.intp)
    hi = np.full(len(pos), rows, dtype=np.intp)
    for _ in range(rows.bit_length()):
        mid = (lo + hi) // 2
        at = np.minimum(mid, rows - 1)
        price = mark * ordered[np.where(inverse, rows - 1 - at, at), d]
        above = floor <= np.where(inverse, q / price, q * price)
        open_ = lo < hi
        hi = np.where(open_ & above, mid, hi)
        lo = np.where(open_ & ~above, mid + 1, lo)
    # each step added at its first row per (unit, driver, kind) and carried to the rows above by a
    # running sum, in that column's own row order
    columns, column = np.unique((f.unit_of[pos] * n_drivers + d) * 2 + inverse, return_inverse=True)
    width = len(columns)
    slot = lo * width + column.reshape(-1)
    rate_steps = np.cumsum(_sum(slot, (f.rates[pos, tier] - f.rates[pos, tier - 1]) * np.repeat(a, count),
                                rows * width).reshape(rows, width), axis=0)
    cum_steps = np.cumsum(_sum(slot, f.cums[pos, tier] - f.cums[pos, tier - 1], rows * width
                               ).reshape(rows, width), axis=0)
    out = np.zeros((rows, f.n_units))
    mm = np.empty((rows, width))
    kind_of = columns % (2 * n_drivers)  # driver × 2 + inverse
    for k in np.flatnonzero(np.bincount(kind_of)).tolist():  # (np.unique would load numpy.ma: 6 ms)
        mine = np.flatnonzero(kind_of == k)
        order = rising[:, k // 2] if k % 2 == 0 else rising[::-1, k // 2]
        with np.errstate(divide="ignore"):
            factor = ordered[:, k // 2] if k % 2 == 0 else 1.0 / ordered[::-1, k // 2]
        step = factor[:, None] * rate_steps[:, mine] - cum_steps[:, mine]
        back = np.empty(rows, dtype=np.intp)  # row r of the grid is row back[r] of the order
        back[order] = np.arange(rows)
        mm[:, mine] = step[back]
    unit = columns // (2 * n_drivers)
    first = np.flatnonzero(np.concatenate([[True], unit[1:] != unit[:-1]]))
    out[:, unit[first]] = np.add.reduceat(mm, first, axis=1)
    return out


def unit_ratios_at(f: _Flat, factors: FloatArray) -> FloatArray:
    """Margin ratio of every unit when each mark is multiplied by ``factors`` (rows × positions)."""
    equity, total_mm = unit_state_at(f, factors)
    # a tiny positive equity overflows the ratio to inf: past liquidation, as np.where says anyway
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(equity > 0, total_mm / equity, np.inf)


def flatten_account(account: Account, *, plans: PlanCache | None = None) -> _Flat:
    return _flatten(Portfolio((account,)), plans)


@dataclass(frozen=True, slots=True)
class _AtMarks:
    """Every position and unit at the marks: the figures the liquidation and bankruptcy prices start from."""

    value: FloatArray  # per position, in the settle currency
    maintenance: FloatArray
    pnl: FloatArray
    unit_pnl: FloatArray
    unit_maintenance: FloatArray
    unit_equity: FloatArray  # margin balance: balance + unrealized PnL
    unit_ratio: FloatArray
    unit_dslack: FloatArray  # d(balance − MM)/d shock at the marks, per unit


@dataclass(frozen=True, slots=True)
class _Groups:
    """Per symbol group (the legs of one symbol in one unit, which share a liquidation price)."""

    unit: IntArray  # the unit of each group
    size: IntArray  # legs in each group
    pnl: FloatArray  # the group's own PnL
    base: FloatArray  # the rest of its unit held at the marks: balance + their PnL − their MM (§1.1)


def _at_marks(f: _Flat) -> _AtMarks:
    """Value, PnL and maintenance margin of every position, summed per unit, and each unit's ratio."""
    n_units = f.n_units
    value = _value(f, f.mark)
    mm, mm_slope = _maintenance(f, value)
    # linear: Q × (P − EP), whose difference is exact near the entry (Q·P − Q·EP rounds to Q·P's ulp);
    # inverse: N·CS × (EP − P) ÷ (P·EP), likewise (N·CS/P − N·CS/EP keeps only the ulps of N·CS/P)
    pnl = f.sigma * f.q * np.where(f.inverse, (f.entry - f.mark) / (f.mark * f.entry), f.mark - f.entry)
    # d(PnL − MM)/d shock at the marks: d value/d shock = value (linear), −value (inverse)
    dslack0 = _sum(f.unit_of, (f.sigma - mm_slope) * np.where(f.inverse, -value, value), n_units)
    unit_pnl = _sum(f.unit_of, pnl, n_units)
    unit_mm = _sum(f.unit_of, mm, n_units)
    unit_equity = f.unit_balance + unit_pnl
    with np.errstate(divide="ignore", invalid="ignore"):
        unit_ratio = np.where(unit_equity > 0, unit_mm / unit_equity, np.inf)
    return _AtMarks(value, mm, pnl, unit_pnl, unit_mm, unit_equity, unit_ratio, dslack0)


def _symbol_groups(f: _Flat, m: _AtMarks) -> _Groups:
    """Each symbol group with the rest of its unit held at the marks (§1.1 TMM1, UPNL1)."""
    group_pnl = _sum(f.group_of, m.pnl, f.n_groups)
    group_mm = _sum(f.group_of, m.maintenance, f.n_groups)
    group_size = np.bincount(f.group_of, minlength=f.n_groups)
    group_unit = np.zeros(f.n_groups, dtype=np.intp)
    group_unit[f.group_of] = f.unit_of
    rest_pnl = m.unit_pnl[group_unit] - group_pnl
    base = f.unit_balance[group_unit] + rest_pnl - (m.unit_maintenance[group_unit] - group_mm)
    return _Groups(group_unit, group_size, group_pnl, base)


def _liquidation_prices(f: _Flat, g: _Groups) -> FloatArray:
    """Every position's liquidation price (nan: none). A single leg of its symbol in its unit in
    closed form — MM on the entry value (Bybit) one line, continuous tiers by walking them, the
    rest every tier at once; hedge legs sharing one price by the single-position solver."""
    base = g.base[f.group_of]
    liquidation = np.full(len(f.positions), np.nan)
    is_single = g.size[f.group_of] == 1
    walkable = np.flatnonzero(is_single & f.convex & ~f.entry_basis)
    rest = np.flatnonzero(is_single & f.convex & f.entry_basis)
    if len(rest):
        liquidation[rest] = _liquidation_entry(f, base, rest)
    rest = np.flatnonzero(is_single & ~f.convex)
    if len(walkable):
        walked, unresolved = _liquidation_walk(f, base, walkable)
        liquidation[walkable] = walked
        rest = np.concatenate([rest, walkable[unresolved]])
    if len(rest):
        liquidation[rest] = _liquidation_single(f, base, rest)
    multi_groups = np.flatnonzero(g.size > 1)
    if len(multi_groups):
        members: dict[int, list[int]] = {}
        for i in np.flatnonzero(g.size[f.group_of] > 1).tolist():
            members.setdefault(int(f.group_of[i]), []).append(i)
        for group, rows in members.items():
            legs = [f.positions[i] for i in rows]
            rules = f.unit_rules[int(g.unit[group])]
            lp = solve_price(legs, rules, float(g.base[group]), float(f.mark[rows[0]]))
            liquidation[rows] = np.nan if lp is None else lp
    return liquidation


def _bankruptcy_prices(f: _Flat, m: _AtMarks, g: _Groups) -> FloatArray:
    """Bankruptcy price per symbol group (nan: none): 0 % margin, or Bybit's fee to close, so one
    closed form per group with no tiers (§1.3, §3.3)."""
    n_units = f.n_units
    reserve = f.fee_bk * m.value
    unit_reserve = _sum(f.unit_of, reserve, n_units)
    group_reserve = _sum(f.group_of, reserve, f.n_groups)
    a_g = _sum(f.group_of, -f.sigma * f.v_entry, f.n_groups)
    b_g = _sum(f.group_of, f.q * (f.sigma - f.fee_bk), f.n_groups)
    base_bk = (f.unit_balance[g.unit] + (m.unit_pnl[g.unit] - g.pnl)
               - (unit_reserve[g.unit] - group_reserve))
    group_inverse = np.zeros(f.n_groups, dtype=bool)
    group_inverse[f.group_of] = f.inverse
    with np.errstate(divide="ignore", invalid="ignore"):
        x = -(base_bk + a_g) / b_g
        x = np.where((x > 0) & np.isfinite(x), x, np.nan)
        bk_g = np.where(group_inverse, 1.0 / x, x)
    return np.where(np.isfinite(bk_g) & (bk_g > 0), bk_g, np.nan)


def _arrays(f: _Flat) -> RiskArrays:
    """Every figure of the compiled portfolio: at the marks, liquidation and bankruptcy prices, shocks."""
    m = _at_marks(f)
    groups = _symbol_groups(f, m)
    liquidation = _liquidation_prices(f, groups)
    bankruptcy = _bankruptcy_prices(f, m, groups)
    unit_shock = _shock(f, m.unit_equity - m.unit_maintenance, m.unit_dslack)
    n_accounts = int(f.unit_account.max()) + 1 if f.n_units else 0
    account_shock = _nearest_per_account(unit_shock, f.unit_account, n_accounts)
    return RiskArrays(
        notional=m.value,
        unrealized_pnl=m.pnl,
        maintenance_margin=m.maintenance,
        margin_ratio=m.unit_ratio[f.unit_of],
        liquidation_price=liquidation,
        bankruptcy_price=bankruptcy[f.group_of],
        position_unit=f.unit_of,
        unit_account=f.unit_account,
        unit_isolated=f.unit_isolated,
        unit_settle=f.unit_settle,
        unit_balance=f.unit_balance,
        unit_pnl=m.unit_pnl,
        unit_maintenance=m.unit_maintenance,
        unit_ratio=m.unit_ratio,
        unit_shock=unit_shock,
        account_shock=account_shock,
    )


def _nearest_per_account(unit_shock: FloatArray, unit_account: IntArray, n_accounts: int) -> FloatArray:
    """Per account, the shock of its unit nearest 0 (nan: none); on a tie the first unit's.

    Units are numbered account by account (``unit_account`` never decreases), so each account is one
    run of units: its nearest size by ``minimum.reduceat``, then its first unit of that size — no sort
    of every unit (an all-isolated book has a unit per position)."""
    out = np.full(n_accounts, np.nan)
    if not len(unit_shock):
        return out
    size = np.where(np.isnan(unit_shock), np.inf, np.abs(unit_shock))
    starts = np.flatnonzero(np.concatenate(([True], unit_account[1:] != unit_account[:-1])))
    nearest = np.minimum.reduceat(size, starts)
    hits = np.flatnonzero(size == np.repeat(nearest, np.diff(np.append(starts, len(size)))))
    first = hits[np.concatenate(([True], unit_account[hits[1:]] != unit_account[hits[:-1]]))]
    out[unit_account[first]] = np.where(np.isinf(size[first]), np.nan, unit_shock[first])
    return out


def _unit_at_marks(f: _Flat, u: int) -> Unit:
    """Unit ``u`` with its positions at the compiled marks (which :func:`with_marks` may have moved)."""
    unit = f.units[u]
    # a unit's rows are contiguous: no search of every row (an isolated book falls back unit by unit)
    rows = range(int(f.unit_start[u]), int(f.unit_start[u + 1]))
    moved = tuple(p if p.mark_price == f.mark[i] else dataclasses.replace(p, mark_price=float(f.mark[i]))
                  for p, i in zip(unit.positions, rows, strict=True))
    return dataclasses.replace(unit, positions=moved)


CompiledPortfolio = _Flat


def compile_portfolio(portfolio: Portfolio, *, plans: PlanCache | None = None) -> CompiledPortfolio:
    """The portfolio's structure as arrays, to recompute on every tick with :func:`with_marks`
    (each account's plan from ``plans``, by default :data:`DEFAULT_PLANS`)."""
    return _flatten(portfolio, plans)


def mark_order(compiled: CompiledPortfolio) -> tuple[tuple[int, str, str], ...]:
    """(account index, symbol, leg) of each row of the compiled marks, in order."""
    return tuple((int(compiled.unit_account[u]), p.symbol, p.leg.value)
                 for p, u in zip(compiled.positions, compiled.unit_of.tolist(), strict=True))


def with_marks(compiled: CompiledPortfolio, marks: Sequence[float] | FloatArray) -> CompiledPortfolio:
    """The compiled portfolio at new mark prices (one per row, in :func:`mark_order`)."""
    new = np.asarray(marks, dtype=np.float64).reshape(-1)
    if new.shape != compiled.mark.shape:
        raise ValueError(f"expected {compiled.mark.shape[0]} marks, got {new.shape[0]}")
    if not np.all(np.isfinite(new) & (new > 0)):
        raise ValueError("marks must be finite and > 0")
    packed = compiled.packed.copy()
    packed[:, _Col.MARK] = new
    width = compiled.floors.shape[1]
    return dataclasses.replace(
        compiled, mark=packed[:, _Col.MARK], packed=packed, floors=packed[:, _Col.floors(width)],
        rates=packed[:, _Col.rates(width)], cums=packed[:, _Col.cums(width)],
    )


def compute_arrays(portfolio: Portfolio | CompiledPortfolio, *, plans: PlanCache | None = None) -> RiskArrays:
    """All figures as arrays — the per-tick hot path (no per-position objects).

    Pass a :class:`Portfolio`, or a compiled one (:func:`compile_portfolio`, :func:`with_marks`)
    to skip reading the positions again when only the marks moved. A portfolio's accounts are
    compiled through ``plans`` (by default :data:`DEFAULT_PLANS`).
    """
    return _arrays(_flatten(portfolio, plans) if isinstance(portfolio, Portfolio) else portfolio)


def _none(x: float) -> float | None:
    return None if x != x else x


def compute_risk(
    portfolio: Portfolio, *, target: float | None = None, target_distance: float | None = None,
    plans: PlanCache | None = None,
) -> RiskReport:
    """Risk for every account, pool and position; suggestions where the ratio is worse than ``target``
    or the distance to liquidation is below ``target_distance``.

    ``target`` is a margin ratio on desk's scale (MM ÷ margin balance, 1.0 = liquidation);
    ``target_distance`` a fraction of the mark (0.10 = 10 % from liquidation). Accounts are
    compiled through ``plans``, the caller's own cache (by default :data:`DEFAULT_PLANS`).
    """
    if target is not None and not target > 0:
        raise ValueError(f"target margin ratio must be > 0, got {target}")
    if target_distance is not None and not 0 < target_distance < 1:
        raise ValueError(f"target distance must be a fraction between 0 and 1, got {target_distance}")
    if any(a.pooled for a in portfolio.accounts):
        return with_pooled_accounts(
            portfolio, target, target_distance,
            lambda p: compute_risk(p, target=target, target_distance=target_distance, plans=plans),
            scalar=False)
    f = _flatten(portfolio, plans)
    arr = _arrays(f)
    # every figure in account order (account by account), as Python lists sliced per account
    order = f.account_rows
    notional = arr.notional[order].tolist()
    pnl = arr.unrealized_pnl[order].tolist()
    mm = arr.maintenance_margin[order].tolist()
    ratio = arr.margin_ratio[order].tolist()
    liq = [None if x != x else x for x in arr.liquidation_price[order].tolist()]
    bk = [None if x != x else x for x in arr.bankruptcy_price[order].tolist()]
    unit_pnl = arr.unit_pnl.tolist()
    unit_mm = arr.unit_maintenance.tolist()
    unit_ratio = arr.unit_ratio.tolist()
    unit_balance = f.unit_balance.tolist()
    per_account_pools: list[list[PoolFigures]] = [[] for _ in portfolio.accounts]
    unit_account = f.unit_account.tolist()
    for u in np.flatnonzero(~f.unit_isolated).tolist():  # the cross pools (isolated units are not pools)
        balance = unit_balance[u]
        per_account_pools[unit_account[u]].append(PoolFigures(
            f.unit_settle[u], balance, unit_pnl[u], balance + unit_pnl[u], unit_mm[u], unit_ratio[u]))
    account_shock = arr.account_shock.tolist()
    accounts: list[AccountRisk] = []
    start = 0
    for ai, account in enumerate(portfolio.accounts):
        end = start + len(account.positions)
        columns = PositionColumns(notional[start:end], pnl[start:end], mm[start:end], ratio[start:end],
                                  liq[start:end], bk[start:end])
        shock = _none(account_shock[ai]) if ai < len(account_shock) else None
        accounts.append(assemble_account(account, per_account_pools[ai], columns, shock, target=target,
                                         target_distance=target_distance))
        start = end
    return RiskReport(accounts=tuple(accounts), as_of=portfolio.as_of)


def shock_to_liquidation(account: Account) -> float | None:
    """Smallest signed uniform move of all marks (−0.12 = every mark 12 % lower) at which a cross
    pool or an isolated position of ``account`` reaches margin ratio 1.0; ``None`` within ±99 %."""
    arr = compute_arrays(Portfolio((account,)))
    return _none(float(arr.account_shock[0])) if len(arr.account_shock) else None
