"""The whole book across every account and venue: exposure per underlying, hedges and where they
break, the margin to move so a hedge survives a chosen move, and one stress curve for all venues.

Every figure is the engine's (:mod:`desk.domain.engine`): liquidation prices and distances come from
:func:`~desk.domain.engine.compute_risk`; the stress curve evaluates every margin unit (cross pool or
isolated position) with :func:`~desk.domain.engine.unit_state_moved` at the shocked marks. This module
only adds them up across accounts.

Conventions:

* An *underlying* is the base asset of a symbol (``BTC`` for ``BTC/USDT:USDT`` and ``BTC/USD:BTC``)
  or a spot balance's asset.
* Exposure in coin: linear contracts × contract size; inverse contracts × contract size ÷ mark
  (an inverse contract is worth a fixed number of dollars); spot: the amount held. In USD: coin ×
  the leg's own mark. USD stablecoins (USDT, USDC, …) count as dollars one to one.
* A *hedge* pairs a long and a short leg of one underlying held in different accounts, or a perpetual
  against a spot balance (legs of one account share their margin and break together, so they are not
  paired). Larger legs are matched first. A hedge breaks at the liquidation price of the leg nearer to
  it; the other leg is then naked.
* The stress curve moves every mark by ``s`` (uniform) or by ``beta × s`` (a BTC move with each asset
  following by its beta), never below 0.1 % of itself (as :func:`desk.domain.scenario.stress_factors`).
  A unit liquidated anywhere on the way from 0 to ``s`` (its margin ratio reached 1.0 at a grid point)
  has lost its whole margin balance at ``s``: its positions are closed, so a hedge it belonged to no
  longer offsets anything. The book's P&L is the sum of every unit's and every spot balance's change
  in USD; a coin-settled unit is valued at its coin's shocked price. An account whose venue pools
  collateral (Multi-Assets, UTA, multi-currency) is one unit: its pool, collateral moving with its
  coin, worth its total equity in USD (:mod:`desk.domain.unified`).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from desk.domain import display
from desk.domain.building import builder_for
from desk.domain.engine import CompiledPortfolio, compile_portfolio, compute_risk, unit_state_moved
from desk.domain.model import Account, Kind, Leg, MarginMode, Portfolio, Side
from desk.domain.position_math import pnl_at
from desk.domain.report import PositionRisk, RiskReport, at_or_past_liquidation, signed_distance
from desk.domain.scenario import stress_drivers, stress_factors
from desk.domain.suggest import amount_step
from desk.domain.unified import _evaluate, compile_pool, cross_positions

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: currencies counted as US dollars one to one
DOLLARS = frozenset({"USDT", "USDC", "USD", "BUSD", "FDUSD", "DAI", "USDE", "TUSD"})
#: the default stress grid: −50 % … +50 % in steps of 1 %
SHOCKS = np.round(np.linspace(-0.5, 0.5, 101), 10)
#: the default move a hedge should survive for the margin-transfer suggestion (±20 %)
DEFAULT_MOVE = 0.20
_MIN_FACTOR = 1e-3  # a mark never falls below 0.1 % of itself (scenario.stress_factors)
_PATH_POINTS = 41  # grid points on each side of 0 for the transfer suggestion


def underlying_of(symbol: str) -> str:
    """``BTC/USDT:USDT`` → ``BTC``; a bare asset is its own underlying."""
    return symbol.split("/")[0].split(":")[0]


@dataclass(frozen=True, slots=True)
class BookLeg:
    """One position or spot balance as exposure to its underlying."""

    account: str
    venue: str
    symbol: str  # the ccxt symbol, or the asset for a spot balance
    kind: str  # "linear", "inverse" or "spot"
    side: str  # "long" or "short"
    leg: str  # "both", "long", "short" ("both" for spot)
    underlying: str
    coin: float  # size in coins of the underlying, > 0
    price: float  # the leg's mark (spot: its price), USD per coin
    liquidation_price: float | None  # the engine's; None for spot or where none exists
    distance_to_liquidation: float | None  # |mark − liquidation| ÷ mark
    liquidatable: bool = False  # already at or past its liquidation price
    tick_size: float | None = None  # the symbol's price step, for display

    @property
    def usd(self) -> float:
        return self.coin * self.price

    @property
    def signed_coin(self) -> float:
        return self.coin if self.side == "long" else -self.coin

    @property
    def label(self) -> str:
        """``demo-bybit BTC/USDT:USDT short`` — the leg named for a trader."""
        what = "spot" if self.kind == "spot" else self.side
        return f"{self.account} {self.symbol} {what}"


@dataclass(frozen=True, slots=True)
class Exposure:
    """Net exposure to one underlying across the book."""

    underlying: str
    long_coin: float
    short_coin: float
    long_usd: float
    short_usd: float
    legs: tuple[BookLeg, ...]

    @property
    def net_coin(self) -> float:
        return self.long_coin - self.short_coin

    @property
    def net_usd(self) -> float:
        return self.long_usd - self.short_usd


@dataclass(frozen=True, slots=True)
class Transfer:
    """A read-only suggestion: move margin so neither leg of a hedge is liquidated within ±``move``.

    ``amount`` is in ``currency`` (the receiving account's); ``source`` None means no account of
    the hedge has that much to spare: add it from outside. ``reaches`` is False when the spare margin
    of the other leg is not enough (``shortfall_usd`` more is needed from outside)."""

    move: float
    to_account: str
    currency: str
    amount: float
    amount_usd: float
    source: str | None
    source_currency: str | None
    source_amount: float | None
    reaches: bool
    shortfall_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class Hedge:
    underlying: str
    long: BookLeg
    short: BookLeg
    hedged_coin: float  # the size the two legs offset
    breaks: str | None  # "long" or "short": the leg liquidated first; None if neither can be
    transfer: Transfer | None = None  # None: both legs already survive ±move

    @property
    def breaking(self) -> BookLeg | None:
        return None if self.breaks is None else (self.long if self.breaks == "long" else self.short)

    @property
    def survivor(self) -> BookLeg | None:
        return None if self.breaks is None else (self.short if self.breaks == "long" else self.long)

    @property
    def break_price(self) -> float | None:
        """The first leg's liquidation price (in that leg's own mark)."""
        leg = self.breaking
        return None if leg is None else leg.liquidation_price

    @property
    def break_distance(self) -> float | None:
        leg = self.breaking
        return None if leg is None else leg.distance_to_liquidation

    @property
    def signed_break_distance(self) -> float | None:
        """The break distance, negative once the first leg is at or past its liquidation price."""
        leg = self.breaking
        return None if leg is None else signed_distance(leg.distance_to_liquidation, leg.liquidatable)

    def text(self) -> str:
        """"at BTC 71,400.0 the demo-bybit BTC/USDT:USDT short is liquidated; the demo-binance
        BTC/USDT:USDT long of 2.1 BTC is then unhedged"."""
        leg, other = self.breaking, self.survivor
        if leg is None or other is None:
            return (f"{self.long.label} against {self.short.label}: neither leg can be liquidated; "
                    "the hedge holds at any price")
        return (f"at {self.underlying} {display.price(leg.liquidation_price, leg.tick_size)} the {leg.label} "
                f"is liquidated; the {other.label} of {display.quantity(self.hedged_coin, self.underlying)} "
                "is then unhedged")


@dataclass(frozen=True, slots=True)
class BookStress:
    """The book under one shock for all venues: ``pnl_usd[i]`` at ``shocks[i]`` (a loss is negative)."""

    mode: str  # "uniform" or "beta"
    betas: Mapping[str, float]
    shocks: FloatArray
    pnl_usd: FloatArray
    account_pnl_usd: Mapping[str, FloatArray]  # the same per account: they sum to pnl_usd
    first_liquidated: tuple[str | None, ...]  # per shock: the unit liquidated first on the way
    liquidated: tuple[tuple[str, ...], ...]  # per shock: every unit liquidated on the way
    units: tuple[str, ...]  # every margin unit's label

    def at(self, shock: float) -> int:
        """Index of the grid point nearest ``shock``."""
        return int(np.argmin(np.abs(self.shocks - shock)))


@dataclass(frozen=True, slots=True)
class Book:
    exposures: tuple[Exposure, ...]
    hedges: tuple[Hedge, ...]
    stress: tuple[BookStress, ...]  # uniform, then beta
    move: float
    warnings: tuple[str, ...] = ()

    def stress_of(self, mode: str) -> BookStress:
        for s in self.stress:
            if s.mode == mode:
                return s
        raise KeyError(mode)


# ---------------------------------------------------------------------------- legs and exposure

#: 10,000 legs and some 5,000 hedges and transfers for a 10,000-position book: made by builders
#: (desk.domain.building)
_build_leg = builder_for(BookLeg)
_build_hedge = builder_for(Hedge)
_build_transfer = builder_for(Transfer)

#: an enum member's value by member: a dict lookup, cheaper than ``.value`` ten thousand times
_VALUE: dict[object, str] = {m: m.value for e in (Kind, Side, Leg, MarginMode) for m in e}


def book_legs(portfolio: Portfolio, risk: Sequence[PositionRisk]) -> tuple[BookLeg, ...]:
    """Every position (with the engine's figures ``risk``, matched by account, symbol, leg and margin
    mode: OKX holds one instrument cross and isolated at once) and spot balance as a leg. A position
    the figures do not cover gets no liquidation price."""
    figures = {(r.account, r.symbol, r.leg, r.margin_mode): r for r in risk}
    value = _VALUE
    underlyings: dict[str, str] = {}  # by symbol: a book has far fewer symbols than positions
    legs: list[BookLeg] = []
    append = legs.append
    inverse = Kind.INVERSE
    for account in portfolio.accounts:
        name, venue = account.name, account.venue
        for p in account.positions:
            symbol, leg, mark = p.symbol, value[p.leg], p.mark_price
            r = figures.get((name, symbol, leg, value[p.margin_mode]))
            underlying = underlyings.get(symbol)
            if underlying is None:
                underlying = underlyings[symbol] = underlying_of(symbol)
            kind, side = value[p.kind], value[p.side]
            coin = p.base_quantity  # in coins (module docstring): an inverse contract's ÷ its mark
            if p.kind is inverse:
                coin /= mark
            if r is None:
                append(_build_leg(name, venue, symbol, kind, side, leg, underlying, coin, mark, None, None,
                                  False, p.tick_size))
            else:
                append(_build_leg(name, venue, symbol, kind, side, leg, underlying, coin, mark,
                                  r.liquidation_price, r.distance_to_liquidation,
                                  at_or_past_liquidation(r.margin_ratio), p.tick_size))
        for b in account.spot:
            if b.amount == 0:
                continue
            append(BookLeg(name, venue, b.asset, "spot", "long" if b.amount > 0 else "short", "both",
                           b.asset, abs(b.amount), b.price, None, None))
    return tuple(legs)


def exposures(legs: Sequence[BookLeg]) -> tuple[Exposure, ...]:
    # per underlying: its legs, then the coin and USD of its longs and of its shorts, summed by sum()
    # in leg order as before
    by: dict[str, tuple[list[BookLeg], list[float], list[float], list[float], list[float]]] = {}
    for leg in legs:
        group = by.get(leg.underlying)
        if group is None:
            group = by[leg.underlying] = ([], [], [], [], [])
        group[0].append(leg)
        side = leg.side
        if side == "long":
            group[1].append(leg.coin)
            group[3].append(leg.coin * leg.price)
        elif side == "short":
            group[2].append(leg.coin)
            group[4].append(leg.coin * leg.price)
    out = [Exposure(name, sum(long_coin), sum(short_coin), sum(long_usd), sum(short_usd), tuple(group))
           for name, (group, long_coin, short_coin, long_usd, short_usd) in by.items()]
    return tuple(sorted(out, key=lambda e: -(e.long_usd + e.short_usd)))


# ---------------------------------------------------------------------------- hedges


def _may_pair(a: BookLeg, b: BookLeg) -> bool:
    return a.account != b.account or a.kind == "spot" or b.kind == "spot"


def _nearness(leg: BookLeg) -> float | None:
    """How near ``leg`` is to liquidation, for ordering (−1 once at or past it); None: it cannot be."""
    if leg.liquidatable:
        return -1.0
    if leg.liquidation_price is None:
        return None
    return math.inf if leg.distance_to_liquidation is None else leg.distance_to_liquidation


def _first_to_break(long: BookLeg, short: BookLeg) -> str | None:
    return _earlier(_nearness(long), _nearness(short))


def _earlier(long: float | None, short: float | None) -> str | None:
    """The leg liquidated first by nearness; "long" on a tie (or where a nearness is NaN)."""
    if long is None:
        return None if short is None else "short"
    if short is None:
        return "long"
    return "short" if short < long else "long"


def _pairs(legs: Sequence[BookLeg]) -> list[tuple[str, BookLeg, BookLeg, float, str | None]]:
    """(underlying, long, short, hedged coin, the leg that breaks first) of every hedge, in order."""
    found: list[tuple[str, BookLeg, BookLeg, float, str | None]] = []
    by_underlying: dict[str, list[BookLeg]] = {}
    for x in legs:
        group = by_underlying.get(x.underlying)
        if group is None:
            group = by_underlying[x.underlying] = []
        group.append(x)
    nearness: dict[int, float | None] = {}
    for name, mine in by_underlying.items():
        longs = sorted((x for x in mine if x.side == "long"), key=lambda x: -x.coin)
        shorts = sorted((x for x in mine if x.side == "short"), key=lambda x: -x.coin)
        if not longs or not shorts:
            continue
        short_left = [x.coin for x in shorts]
        live = [k for k, left in enumerate(short_left) if not left <= 0]  # a spent short is skipped
        for lg in longs:
            if not live:
                break
            left = lg.coin
            spent = False
            for k in live:
                if left <= 0:
                    break
                sh = shorts[k]
                if not (lg.account != sh.account or lg.kind == "spot" or sh.kind == "spot"):
                    continue
                size = min(left, short_left[k])
                left -= size
                short_left[k] -= size
                spent = spent or short_left[k] <= 0
                if id(lg) not in nearness:
                    nearness[id(lg)] = _nearness(lg)
                if id(sh) not in nearness:
                    nearness[id(sh)] = _nearness(sh)
                found.append((name, lg, sh, size, _earlier(nearness[id(lg)], nearness[id(sh)])))
            if spent:
                live = [k for k in live if not short_left[k] <= 0]
    return found


def find_hedges(legs: Sequence[BookLeg]) -> tuple[Hedge, ...]:
    """Long against short legs of each underlying, larger first, across accounts or perp against spot."""
    return tuple(Hedge(*pair) for pair in _pairs(legs))


# ---------------------------------------------------------------------------- units and prices


def _unit_labels(compiled: object, portfolio: Portfolio) -> tuple[tuple[str, ...], tuple[str, ...]]:
    f = compiled
    names = [a.name for a in portfolio.accounts]
    labels, owners = [], []
    # a unit's positions are the rows unit_start[u]:unit_start[u + 1] (read here without building
    # the compiled portfolio's Unit objects)
    for settle, account, isolated, start in zip(f.unit_settle, f.unit_account.tolist(),  # type: ignore[attr-defined]
                                                f.unit_isolated.tolist(), f.unit_start.tolist(),  # type: ignore[attr-defined]
                                                strict=False):
        name = names[account]
        if isolated:
            p = f.positions[start]  # type: ignore[attr-defined]
            what = _VALUE[p.side] if p.leg is Leg.BOTH else f"{_VALUE[p.leg]} leg"
            labels.append(f"{name} {p.symbol} ({what}, isolated)")
        else:
            labels.append(f"{name} {settle} pool")
        owners.append(name)
    return tuple(labels), tuple(owners)


def reference_prices(legs: Sequence[BookLeg]) -> dict[str, float]:
    """A USD price per underlying: a linear leg's mark first, else an inverse leg's, else a spot price."""
    prices: dict[str, float] = {}
    for kind in ("linear", "inverse", "spot"):
        for leg in legs:
            if leg.kind == kind:
                prices.setdefault(leg.underlying, leg.price)
    return prices


def _beta_of(asset: str, betas: Mapping[str, float] | None) -> float:
    return 1.0 if not betas else float(betas.get(asset, 1.0))


def _asset_factor(asset: str, shocks: FloatArray, betas: Mapping[str, float] | None) -> FloatArray:
    return np.maximum(1.0 + shocks * _beta_of(asset, betas), _MIN_FACTOR)


def _settle_usd(settle: str, shocks: FloatArray, prices: Mapping[str, float],
                betas: Mapping[str, float] | None) -> FloatArray | None:
    """USD per unit of ``settle`` at each shock; None when the book holds no price for it."""
    if settle.upper() in DOLLARS:
        return np.ones_like(shocks)
    if settle not in prices:
        return None
    return prices[settle] * _asset_factor(settle, shocks, betas)


# ---------------------------------------------------------------------------- stress


def _path_liquidated(ratios: FloatArray, shocks: FloatArray) -> npt.NDArray[np.bool_]:
    """Per (shock, unit): True once the unit's ratio reached 1.0 anywhere between 0 and that shock."""
    hit = ratios >= 1.0
    zero = int(np.argmin(np.abs(shocks)))
    out = np.zeros_like(hit)
    out[zero] = hit[zero]
    for i in range(zero + 1, len(shocks)):
        out[i] = out[i - 1] | hit[i]
    for i in range(zero - 1, -1, -1):
        out[i] = out[i + 1] | hit[i]
    return out


def _pooled_units(portfolio: Portfolio, s: FloatArray, betas: Mapping[str, float] | None
                  ) -> tuple[list[str], list[str], list[FloatArray], list[FloatArray]]:
    """An account whose venue pools collateral (unified-margin.md §6) is one unit: its pool at every
    shock (marks and crypto collateral moved as :func:`desk.domain.scenario.stress_grid` moves them),
    worth its total equity in the pool's unit (USD), liquidated where k·MM reaches the margin balance."""
    labels: list[str] = []
    owners: list[str] = []
    values: list[FloatArray] = []
    ratios: list[FloatArray] = []
    for account in portfolio.accounts:
        margin = account.margin
        if not account.pooled or margin is None or margin.cannot_recompute is not None:
            continue
        c = compile_pool(account)
        factors = stress_factors(cross_positions(account), s, betas)
        asset_factors = np.stack([np.ones_like(s) if col.underlying is None else
                                  _asset_factor(col.underlying, s, betas) for col in margin.collateral],
                                 axis=1)
        b = _evaluate(c, c.mark * factors, c.price * asset_factors)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(b.margin_balance > 0, margin.threshold * b.maintenance / b.margin_balance,
                             np.inf)
        labels.append(f"{account.name} {margin.valuation} pool")
        owners.append(account.name)
        values.append(np.asarray(b.total_equity, dtype=np.float64))
        ratios.append(np.asarray(ratio, dtype=np.float64))
    return labels, owners, values, ratios


def _outside_pool(account: Account) -> Account:
    """What of ``account`` the single-asset engine models: all of it, or, where the venue pools the
    account's collateral, only its isolated positions (the pool is one unit of its own, or — in a mode
    desk cannot recompute — no unit at all: see :func:`_unmodelled_pools`)."""
    if not account.pooled or account.margin is None:
        return account
    isolated = tuple(p for p in account.positions if p.margin_mode is MarginMode.ISOLATED)
    return dataclasses.replace(account, positions=isolated, wallets={}, margin=None, reported={})


def _outside_portfolio(portfolio: Portfolio) -> Portfolio:
    return dataclasses.replace(portfolio, accounts=tuple(_outside_pool(a) for a in portfolio.accounts))


class _Modelled:
    """What the stress curves and transfers of one book share: the single-asset engine's units (the
    portfolio outside the pools, compiled once), their labels and owners, the reference prices, the
    spot legs not counted in a pool, and the engine's last grid (the uniform curve's, which the beta
    curve reuses where every beta in play is 1)."""

    def __init__(self, portfolio: Portfolio, legs: Sequence[BookLeg], prices: dict[str, float] | None = None,
                 ) -> None:
        self.outside = _outside_portfolio(portfolio)
        self.compiled = compile_portfolio(self.outside)
        self.labels, self.owners = _unit_labels(self.compiled, self.outside)
        self.prices = reference_prices(legs) if prices is None else prices
        # a coin that is collateral of its account's pool moves with the pool's value: counted
        # there, not again as a spot leg (it stays a leg for exposure and hedges)
        in_pool = {(a.name, c.asset) for a in portfolio.accounts if a.margin is not None
                   for c in a.margin.collateral}
        self.spot = [leg for leg in legs
                     if leg.kind == "spot" and (leg.account, leg.underlying) not in in_pool]
        self._moved: tuple[IntArray, FloatArray, tuple[FloatArray, FloatArray]] | None = None

    def unit_state(self, driver: IntArray, factors: FloatArray) -> tuple[FloatArray, FloatArray]:
        """:func:`~desk.domain.engine.unit_state_moved` of the compiled units; the same grid again
        (the arrays equal) gives the same arrays without a second evaluation."""
        last = self._moved
        if last is not None and np.array_equal(last[0], driver) and last[1].shape == factors.shape \
                and np.array_equal(last[1], factors):
            return last[2]
        state = unit_state_moved(self.compiled, driver, factors)
        self._moved = (driver, factors, state)
        return state


def _running_sum(columns: FloatArray) -> FloatArray:
    """0 + column 0 + column 1 + … row by row, in that order (as a loop of ``+=`` adds them): the
    columns laid out as contiguous rows and reduced over that outer axis, which numpy adds one row
    at a time into the result (it pairs terms only along the contiguous axis)."""
    laid = np.empty((columns.shape[1] + 1, columns.shape[0]))
    laid[0] = 0.0
    laid[1:] = columns.T
    return np.asarray(np.add.reduce(laid, axis=0), dtype=np.float64)


def _first_on_the_way(gone: npt.NDArray[np.bool_], ratios: FloatArray, zero: int, labels: Sequence[str],
                      direction: int) -> str | None:
    """The unit liquidated first on the way from 0 in ``direction``: at the grid point nearest 0 where
    any unit crossed, the one with the highest ratio there; None if none crossed."""
    for j in range(zero, len(gone) if direction > 0 else -1, direction):
        crossed = np.flatnonzero(gone[j])
        if len(crossed):
            return labels[int(crossed[np.argmax(ratios[j, crossed])])]
    return None


def _book_stress(portfolio: Portfolio, modelled: _Modelled, shocks: FloatArray,
                 betas: Mapping[str, float] | None) -> tuple[BookStress, tuple[str, ...]]:
    """The book's P&L and the first unit liquidated at every shock (uniform, or by ``betas``)."""
    s = np.asarray(shocks, dtype=np.float64).reshape(-1)
    # a pooled account's cross positions and collateral are its pool's (below); its isolated
    # positions stay units of their own
    f, prices = modelled.compiled, modelled.prices
    warnings: list[str] = []
    # per unit (columns), its worth in USD and its margin ratio at every shock (rows); priced: the
    # units with a USD price (the others' P&L is left out)
    worth = np.zeros((len(s), 0))
    ratios = np.zeros((len(s), 0))
    priced = np.zeros(0, dtype=bool)
    if f.n_units:
        equity, mm = modelled.unit_state(*stress_drivers(f.positions, s, betas))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(equity > 0, mm / equity, np.inf)
        settles = np.asarray(f.unit_settle, dtype=object)
        usd = np.ones((len(s), f.n_units))
        priced = np.ones(f.n_units, dtype=bool)
        for settle in dict.fromkeys(f.unit_settle):
            rate = _settle_usd(settle, s, prices, betas)
            columns = np.flatnonzero(settles == settle)
            if rate is None:
                priced[columns] = False
            else:
                usd[:, columns] = rate[:, None]
        for u in np.flatnonzero(~priced).tolist():
            warnings.append(f"{modelled.labels[u]}: no price for {f.unit_settle[u]} in the book; its P&L is "
                            "left out of the stress curve")
        worth = equity * usd
    pool_labels, pool_owners, pool_values, pool_ratios = _pooled_units(portfolio, s, betas)
    labels, owners = (*modelled.labels, *pool_labels), (*modelled.owners, *pool_owners)
    if pool_values:
        worth = np.concatenate([worth, np.stack(pool_values, axis=1)], axis=1)
        ratios = np.concatenate([ratios, np.stack(pool_ratios, axis=1)], axis=1)
        priced = np.concatenate([priced, np.ones(len(pool_values), dtype=bool)])
    pnl = np.zeros_like(s)
    per_account = {a.name: np.zeros_like(s) for a in portfolio.accounts}
    first: list[str | None] = [None] * len(s)
    liquidated: list[tuple[str, ...]] = [()] * len(s)
    if len(labels):
        zero = int(np.argmin(np.abs(s)))
        gone = _path_liquidated(ratios, s)
        # at 0 a unit is worth its margin balance (nothing below 0 once it is liquidated there);
        # once liquidated on the way, nothing
        start = worth[zero]
        start = np.where(gone[zero] & (start < 0.0), 0.0, start)
        change = (np.where(gone, 0.0, worth) - start)[:, priced]
        # added unit by unit in order, as the curve always was (the same floats, not a pairwise sum)
        pnl = _running_sum(change)
        columns_of: dict[str, list[int]] = {}  # each account's priced units, as columns of change
        for column, owner in enumerate(itertools.compress(owners, priced.tolist())):
            columns_of.setdefault(owner, []).append(column)
        for name, mine in columns_of.items():
            per_account[name] = _running_sum(change[:, mine])
        up = _first_on_the_way(gone, ratios, zero, labels, 1)
        down = _first_on_the_way(gone, ratios, zero, labels, -1)
        named = np.array(labels, dtype=object)  # picked by index in C, not label by label
        for i, row in enumerate(gone):
            names = tuple(named[np.flatnonzero(row)].tolist())
            liquidated[i] = names
            if names:
                first[i] = up if i >= zero else down
    unmodelled, said = _unmodelled_pools(portfolio, s, prices, betas)
    warnings += said
    for name, change in unmodelled.items():
        pnl += change
        per_account[name] += change
    for leg in modelled.spot:
        change = leg.signed_coin * leg.price * (_asset_factor(leg.underlying, s, betas) - 1.0)
        pnl += change
        per_account[leg.account] += change
    mode = "uniform" if betas is None else "beta"
    return BookStress(mode, dict(betas or {}), s, pnl, per_account, tuple(first), tuple(liquidated),
                      tuple(labels)), tuple(warnings)


def _unmodelled_pools(portfolio: Portfolio, s: FloatArray, prices: Mapping[str, float],
                      betas: Mapping[str, float] | None) -> tuple[dict[str, FloatArray], list[str]]:
    """Per account whose pool desk cannot recompute (its mode's margin is not published), the USD
    change of its cross positions and crypto collateral at each shock — never a liquidation, which
    desk cannot place — and the warnings saying so."""
    changes: dict[str, FloatArray] = {}
    warnings: list[str] = []
    for account in portfolio.accounts:
        margin = account.margin
        if not account.pooled or margin is None or margin.cannot_recompute is None:
            continue
        warnings.append(f"{account.name}: desk cannot recompute {margin.mode or 'this account mode'} "
                        f"({margin.cannot_recompute}); its positions and collateral move the book's P&L, "
                        "but where it is liquidated is unknown")
        change = np.zeros_like(s)
        positions = cross_positions(account)
        factors = stress_factors(positions, s, betas) if positions else np.ones((len(s), 0))
        for k, p in enumerate(positions):
            usd = _settle_usd(p.settle, s, prices, betas)
            if usd is None:
                warnings.append(f"{account.name} {p.symbol}: no price for {p.settle} in the book; its P&L "
                                "is left out of the stress curve")
                continue
            moved = np.array([pnl_at(p, p.mark_price * f) for f in factors[:, k]])
            change += moved * usd - pnl_at(p, p.mark_price) * usd[int(np.argmin(np.abs(s)))]
        for c in margin.collateral:
            if c.underlying is not None:
                change += c.amount * c.price * (_asset_factor(c.underlying, s, betas) - 1.0)
        changes[account.name] = change
    return changes, warnings


# ---------------------------------------------------------------------------- margin transfer


def _units_of_legs(f: object, portfolio: Portfolio) -> dict[tuple[str, str, str], int]:
    """(account, symbol, leg) → the margin unit (index into the compiled portfolio) holding that
    position; the first one where an account holds it both cross and isolated."""
    names = [portfolio.accounts[a].name for a in f.unit_account.tolist()]  # type: ignore[attr-defined]
    units: dict[tuple[str, str, str], int] = {}
    for p, u in zip(f.positions, f.unit_of.tolist(), strict=True):  # type: ignore[attr-defined]
        units.setdefault((names[u], p.symbol, _VALUE[p.leg]), u)
    return units


def _margin_needs(f: CompiledPortfolio, move: float) -> FloatArray:
    """Per margin unit of ``f``, in its settle currency: the margin to add (> 0) so its ratio stays
    below 1.0 at every uniform move within ±``move``, or the margin it can spare (< 0) meanwhile."""
    path = np.linspace(-move, move, 2 * _PATH_POINTS + 1)
    # every mark moves together: one driver
    factors = np.maximum(1.0 + path, _MIN_FACTOR)[:, None]
    equity, mm = unit_state_moved(f, np.zeros(len(f.positions), dtype=np.intp), factors)
    return np.max(mm - equity, axis=0) if f.n_units else np.zeros(0)


# a pure function of one amount: many hedges share a unit, so many ask for the same amount
@functools.lru_cache(maxsize=4096)
def _round_up(amount: float) -> float:
    step = amount_step(amount)
    k = math.floor(amount / step + 1e-9) + 1  # strictly above the exact need: the ratio must stay < 1.0
    return float(f"{k * step:.12g}")


@functools.lru_cache(maxsize=4096)
def _round_down(amount: float) -> float:
    step = amount_step(amount)
    return float(f"{max(math.ceil(amount / step - 1e-9) - 1, 0) * step:.12g}")


#: one leg of a hedge as a party to a transfer: the leg, its unit's settle currency, the unit's need
#: (> 0: to add; < 0: to spare) and the USD rate of that currency
_Side = tuple[BookLeg, str, float, float]


def _transfer_side(leg: BookLeg, compiled: object, needs: FloatArray, prices: Mapping[str, float],
                   units: Mapping[tuple[str, str, str], int]) -> _Side | None:
    """``leg`` as a party to a transfer; None for a spot leg, a leg in no unit of ``compiled`` (a
    pool's) or a unit without a USD price."""
    u = None if leg.kind == "spot" else units.get((leg.account, leg.symbol, leg.leg))
    if u is None:
        return None
    settle = compiled.unit_settle[u]  # type: ignore[attr-defined]
    rate = 1.0 if settle.upper() in DOLLARS else prices.get(settle)
    if rate is None:
        return None
    return (leg, settle, float(needs[u]), rate)


def _transfer_between(long: _Side | None, short: _Side | None, move: float) -> Transfer | None:
    """The transfer between the hedge's two accounts that keeps both legs alive within ±``move``."""
    # the receiver: the side short of margin (need ≥ 0) with the larger need in USD, the long on a
    # tie; the other side gives, if it is of another account and has margin to spare after rounding
    if long is not None and long[2] >= 0:
        receiver, other = long, short
        if short is not None and short[2] >= 0 and short[2] * short[3] > long[2] * long[3]:
            receiver, other = short, long
    elif short is not None and short[2] >= 0:
        receiver, other = short, long
    else:
        return None
    leg, currency, need, rate = receiver
    amount = _round_up(need)
    if other is None or other[0].account == leg.account or not _round_down(-other[2]) > 0:
        return _build_transfer(move, leg.account, currency, amount, amount * rate, None, None, None, False,
                               amount * rate)
    d_leg, d_currency, d_need, d_rate = other
    spare_usd = _round_down(-d_need) * d_rate
    if spare_usd >= amount * rate:
        source_amount = _round_up(amount * rate / d_rate) if d_rate != rate else amount
        if source_amount > -d_need:  # rounding must not take the donor below its own need
            source_amount = _round_down(-d_need)
        return _build_transfer(move, leg.account, currency, amount, amount * rate, d_leg.account,
                               d_currency, source_amount, True)
    give = _round_down(-d_need)
    return _build_transfer(move, leg.account, currency, give * d_rate / rate, give * d_rate, d_leg.account,
                           d_currency, give, False, amount * rate - give * d_rate)


# ---------------------------------------------------------------------------- the book


def compute_book(portfolio: Portfolio, *, move: float = DEFAULT_MOVE,
                 betas: Mapping[str, float] | None = None, shocks: FloatArray = SHOCKS,
                 risk: RiskReport | None = None) -> Book:
    """Exposure, hedges (with break prices and transfer suggestions) and the book's stress curves.
    ``risk``: the engine's report on ``portfolio`` when the caller has it (its liquidation prices are
    the legs'; a goal changes only its suggestions), else computed here."""
    if not 0 < move < 1:
        raise ValueError(f"the move a hedge should survive must be a fraction between 0 and 1, got {move}")
    if risk is None:
        risk = compute_risk(portfolio)
    legs = book_legs(portfolio, risk.positions())
    # a leg in a pooled account neither gives nor takes margin here: desk does not size a transfer
    # into a pool of several collateral coins yet (the other leg's need is still suggested); the
    # stress curves model the same portfolio outside the pools, compiled once for both
    modelled = _Modelled(portfolio, legs)
    compiled, prices = modelled.compiled, modelled.prices
    needs = _margin_needs(compiled, move)
    units = _units_of_legs(compiled, modelled.outside)
    sides: dict[int, _Side | None] = {}  # by id(leg): a leg is in several hedges
    hedges = []
    for name, long, short, size, breaks in _pairs(legs):
        for leg in (long, short):
            if id(leg) not in sides:
                sides[id(leg)] = _transfer_side(leg, compiled, needs, prices, units)
        hedges.append(_build_hedge(name, long, short, size, breaks,
                                   _transfer_between(sides[id(long)], sides[id(short)], move)))
    uniform, w1 = _book_stress(portfolio, modelled, shocks, None)
    beta, w2 = _book_stress(portfolio, modelled, shocks, dict(betas or {}))
    warnings = tuple(dict.fromkeys((*w1, *w2)))
    return Book(exposures(legs), tuple(hedges), (uniform, beta), move, warnings)


def transfer_text(t: Transfer) -> str:
    """The suggestion in words: amount, currency and direction (read-only: desk moves nothing)."""
    goal = f"so neither leg is liquidated within ±{t.move * 100:g} %"
    if t.source is not None and t.reaches:
        converted = "" if t.source_currency == t.currency else \
            f" (= {display.money(t.amount, t.currency)})"
        return (f"move {display.money(t.source_amount, t.source_currency)} from {t.source} to "
                f"{t.to_account}{converted} {goal}")
    if t.source is not None:
        return (f"move {display.money(t.source_amount, t.source_currency)} from {t.source} to {t.to_account} "
                f"and add {display.money(t.shortfall_usd, 'USD')} more from outside {goal}")
    return (f"add {display.money(t.amount, t.currency)} to {t.to_account} {goal} "
            "(no account of the hedge has margin to spare)")


def hedges_near_break(book: Book, warning_distance: float) -> tuple[Hedge, ...]:
    """The hedges whose first leg is within ``warning_distance`` (fraction of its mark) of liquidation."""
    return tuple(h for h in book.hedges
                 if h.breaking is not None and (h.breaking.liquidatable or (
                     h.break_distance is not None and h.break_distance <= warning_distance)))


__all__ = [
    "Book",
    "BookLeg",
    "BookStress",
    "Exposure",
    "Hedge",
    "Transfer",
    "book_legs",
    "compute_book",
    "exposures",
    "find_hedges",
    "hedges_near_break",
    "transfer_text",
    "underlying_of",
]
