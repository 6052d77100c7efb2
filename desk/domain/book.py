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
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from desk.domain import display
from desk.domain.engine import compile_portfolio, compute_risk, unit_state_moved
from desk.domain.model import Account, Kind, MarginMode, Portfolio, Position
from desk.domain.position_math import pnl_at
from desk.domain.report import PositionRisk, RiskReport, signed_distance
from desk.domain.scenario import stress_drivers, stress_factors
from desk.domain.suggest import amount_step
from desk.domain.unified import _evaluate, compile_pool, cross_positions

FloatArray = npt.NDArray[np.float64]

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


def _coin(p: Position) -> float:
    q = p.contracts * p.contract_size
    return q / p.mark_price if p.kind is Kind.INVERSE else q


def book_legs(portfolio: Portfolio, risk: Sequence[PositionRisk]) -> tuple[BookLeg, ...]:
    """Every position (with the engine's figures ``risk``, matched by account, symbol, leg and margin
    mode: OKX holds one instrument cross and isolated at once) and spot balance as a leg. A position
    the figures do not cover gets no liquidation price."""
    figures = {(r.account, r.symbol, r.leg, r.margin_mode): r for r in risk}
    legs: list[BookLeg] = []
    for account in portfolio.accounts:
        for p in account.positions:
            r = figures.get((account.name, p.symbol, p.leg.value, p.margin_mode.value))
            legs.append(BookLeg(
                account.name, account.venue, p.symbol, p.kind.value, p.side.value, p.leg.value,
                underlying_of(p.symbol), _coin(p), p.mark_price, None if r is None else r.liquidation_price,
                None if r is None else r.distance_to_liquidation, r is not None and r.liquidatable,
                p.tick_size))
        for b in account.spot:
            if b.amount == 0:
                continue
            legs.append(BookLeg(
                account.name, account.venue, b.asset, "spot", "long" if b.amount > 0 else "short", "both",
                b.asset, abs(b.amount), b.price, None, None))
    return tuple(legs)


def exposures(legs: Sequence[BookLeg]) -> tuple[Exposure, ...]:
    by: dict[str, list[BookLeg]] = {}
    for leg in legs:
        by.setdefault(leg.underlying, []).append(leg)
    out = []
    for name, group in by.items():
        longs = [x for x in group if x.side == "long"]
        shorts = [x for x in group if x.side == "short"]
        out.append(Exposure(name, sum(x.coin for x in longs), sum(x.coin for x in shorts),
                            sum(x.usd for x in longs), sum(x.usd for x in shorts), tuple(group)))
    return tuple(sorted(out, key=lambda e: -(e.long_usd + e.short_usd)))


# ---------------------------------------------------------------------------- hedges


def _may_pair(a: BookLeg, b: BookLeg) -> bool:
    return a.account != b.account or a.kind == "spot" or b.kind == "spot"


def _first_to_break(long: BookLeg, short: BookLeg) -> str | None:
    def nearness(leg: BookLeg) -> float:
        if leg.liquidatable:
            return -1.0
        return math.inf if leg.distance_to_liquidation is None else leg.distance_to_liquidation

    candidates = [(nearness(leg), name) for leg, name in ((long, "long"), (short, "short"))
                  if leg.liquidation_price is not None or leg.liquidatable]
    if not candidates:
        return None
    return min(candidates)[1]


def find_hedges(legs: Sequence[BookLeg]) -> tuple[Hedge, ...]:
    """Long against short legs of each underlying, larger first, across accounts or perp against spot."""
    hedges: list[Hedge] = []
    by_underlying: dict[str, list[BookLeg]] = {}
    for x in legs:
        by_underlying.setdefault(x.underlying, []).append(x)
    for name, mine in by_underlying.items():
        longs = sorted((x for x in mine if x.side == "long"), key=lambda x: -x.coin)
        shorts = sorted((x for x in mine if x.side == "short"), key=lambda x: -x.coin)
        left = {id(x): x.coin for x in (*longs, *shorts)}
        for lg in longs:
            for sh in shorts:
                if left[id(lg)] <= 0:
                    break
                if left[id(sh)] <= 0 or not _may_pair(lg, sh):
                    continue
                size = min(left[id(lg)], left[id(sh)])
                left[id(lg)] -= size
                left[id(sh)] -= size
                hedges.append(Hedge(name, lg, sh, size, _first_to_break(lg, sh)))
    return tuple(hedges)


# ---------------------------------------------------------------------------- units and prices


def _unit_labels(compiled: object, portfolio: Portfolio) -> tuple[tuple[str, ...], tuple[str, ...]]:
    f = compiled
    labels, owners = [], []
    for u, unit in enumerate(f.units):  # type: ignore[attr-defined]
        account = portfolio.accounts[int(f.unit_account[u])].name  # type: ignore[attr-defined]
        if unit.isolated:
            p = unit.positions[0]
            what = p.side.value if p.leg.value == "both" else f"{p.leg.value} leg"
            labels.append(f"{account} {p.symbol} ({what}, isolated)")
        else:
            labels.append(f"{account} {unit.settle} pool")
        owners.append(account)
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


def book_stress(portfolio: Portfolio, legs: Sequence[BookLeg], *, shocks: FloatArray = SHOCKS,
                betas: Mapping[str, float] | None = None) -> tuple[BookStress, tuple[str, ...]]:
    """The book's P&L and the first unit liquidated at every shock (uniform, or by ``betas``)."""
    s = np.asarray(shocks, dtype=np.float64).reshape(-1)
    # a pooled account's cross positions and collateral are its pool's (below); its isolated
    # positions stay units of their own
    plain = dataclasses.replace(portfolio, accounts=tuple(_outside_pool(a) for a in portfolio.accounts))
    f = compile_portfolio(plain)
    labels, owners = _unit_labels(f, plain)
    prices = reference_prices(legs)
    warnings: list[str] = []
    # per unit, its worth in USD and its margin ratio at every shock (None: no USD price for it)
    worth: list[FloatArray | None] = []
    unit_ratios: list[FloatArray] = []
    if f.n_units:
        equity, mm = unit_state_moved(f, *stress_drivers(f.positions, s, betas))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(equity > 0, mm / equity, np.inf)
        for u, label in enumerate(labels):
            usd = _settle_usd(f.unit_settle[u], s, prices, betas)
            if usd is None:
                warnings.append(f"{label}: no price for {f.unit_settle[u]} in the book; its P&L is left out "
                                "of the stress curve")
            worth.append(None if usd is None else equity[:, u] * usd)
            unit_ratios.append(ratios[:, u])
    pool_labels, pool_owners, pool_values, pool_ratios = _pooled_units(portfolio, s, betas)
    labels, owners = (*labels, *pool_labels), (*owners, *pool_owners)
    worth += pool_values
    unit_ratios += pool_ratios
    pnl = np.zeros_like(s)
    per_account = {a.name: np.zeros_like(s) for a in portfolio.accounts}
    first: list[str | None] = [None] * len(s)
    liquidated: list[tuple[str, ...]] = [()] * len(s)
    if unit_ratios:
        ratios = np.stack(unit_ratios, axis=1)
        zero = int(np.argmin(np.abs(s)))
        gone = _path_liquidated(ratios, s)
        for u, value_usd in enumerate(worth):
            if value_usd is None:
                continue
            # at 0 the unit is worth its margin balance; once liquidated on the way, nothing
            start = max(float(value_usd[zero]), 0.0) if gone[zero, u] else float(value_usd[zero])
            value = np.where(gone[:, u], 0.0, value_usd)
            change = value - start
            pnl += change
            per_account[owners[u]] += change
        for i in range(len(s)):
            names = [labels[u] for u in np.flatnonzero(gone[i]).tolist()]
            liquidated[i] = tuple(names)
            if not names:
                continue
            # the first on the way: the grid point nearest 0 where any unit crossed; ties by ratio
            step = 1 if i >= zero else -1
            for j in range(zero, i + step, step):
                crossed = np.flatnonzero(gone[j])
                if len(crossed):
                    worst = crossed[np.argmax(ratios[j, crossed])]
                    first[i] = labels[int(worst)]
                    break
    unmodelled, said = _unmodelled_pools(portfolio, s, prices, betas)
    warnings += said
    for name, change in unmodelled.items():
        pnl += change
        per_account[name] += change
    # a coin that is collateral of its account's pool moves with the pool's value above: counted
    # there, not again as a spot leg (it stays a leg for exposure and hedges)
    in_pool = {(a.name, c.asset) for a in portfolio.accounts if a.margin is not None
               for c in a.margin.collateral}
    for leg in legs:
        if leg.kind != "spot" or (leg.account, leg.underlying) in in_pool:
            continue
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
        units.setdefault((names[u], p.symbol, p.leg.value), u)
    return units


def margin_needed(portfolio: Portfolio, move: float) -> tuple[object, FloatArray]:
    """Per margin unit, in its settle currency: the margin to add (> 0) so its ratio stays below 1.0 at
    every uniform move within ±``move``, or the margin it can spare (< 0) while still doing so."""
    f = compile_portfolio(portfolio)
    path = np.linspace(-move, move, 2 * _PATH_POINTS + 1)
    # every mark moves together: one driver
    factors = np.maximum(1.0 + path, _MIN_FACTOR)[:, None]
    equity, mm = unit_state_moved(f, np.zeros(len(f.positions), dtype=np.intp), factors)
    return f, np.max(mm - equity, axis=0) if f.n_units else np.zeros(0)


def _round_up(amount: float) -> float:
    step = amount_step(amount)
    k = math.floor(amount / step + 1e-9) + 1  # strictly above the exact need: the ratio must stay < 1.0
    return float(f"{k * step:.12g}")


def _round_down(amount: float) -> float:
    step = amount_step(amount)
    return float(f"{max(math.ceil(amount / step - 1e-9) - 1, 0) * step:.12g}")


def transfer_for(hedge: Hedge, portfolio: Portfolio, compiled: object, needs: FloatArray,
                 prices: Mapping[str, float], move: float,
                 units: Mapping[tuple[str, str, str], int] | None = None) -> Transfer | None:
    """The transfer between the hedge's two accounts that keeps both legs alive within ±``move``
    (``units``: :func:`_units_of_legs` of ``compiled``, computed once for many hedges)."""
    if units is None:
        units = _units_of_legs(compiled, portfolio)
    sides = []
    for leg in (hedge.long, hedge.short):
        u = None if leg.kind == "spot" else units.get((leg.account, leg.symbol, leg.leg))
        if u is None:
            continue
        settle = compiled.unit_settle[u]  # type: ignore[attr-defined]
        rate = 1.0 if settle.upper() in DOLLARS else prices.get(settle)
        if rate is None:
            continue
        sides.append((leg, settle, float(needs[u]), rate))
    short_of = [x for x in sides if x[2] >= 0]
    if not short_of:
        return None
    receiver = max(short_of, key=lambda x: x[2] * x[3])
    leg, currency, need, rate = receiver
    amount = _round_up(need)
    donors = [x for x in sides if x[0] is not leg and x[0].account != leg.account
              and _round_down(-x[2]) > 0]  # an account with margin to spare (after rounding)
    if not donors:
        return Transfer(move, leg.account, currency, amount, amount * rate, None, None, None, False,
                        amount * rate)
    d_leg, d_currency, d_need, d_rate = donors[0]
    spare_usd = _round_down(-d_need) * d_rate
    if spare_usd >= amount * rate:
        source_amount = _round_up(amount * rate / d_rate) if d_rate != rate else amount
        if source_amount > -d_need:  # rounding must not take the donor below its own need
            source_amount = _round_down(-d_need)
        return Transfer(move, leg.account, currency, amount, amount * rate, d_leg.account, d_currency,
                        source_amount, True)
    give = _round_down(-d_need)
    return Transfer(move, leg.account, currency, give * d_rate / rate, give * d_rate, d_leg.account,
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
    hedges = find_hedges(legs)
    prices = reference_prices(legs)
    # a leg in a pooled account neither gives nor takes margin here: desk does not size a transfer
    # into a pool of several collateral coins yet (the other leg's need is still suggested)
    outside = dataclasses.replace(portfolio, accounts=tuple(_outside_pool(a) for a in portfolio.accounts))
    compiled, needs = margin_needed(outside, move)
    units = _units_of_legs(compiled, outside)
    hedges = tuple(dataclasses.replace(h, transfer=transfer_for(h, outside, compiled, needs, prices, move,
                                                                units))
                   for h in hedges)
    uniform, w1 = book_stress(portfolio, legs, shocks=shocks)
    beta, w2 = book_stress(portfolio, legs, shocks=shocks, betas=dict(betas or {}))
    beta = dataclasses.replace(beta, mode="beta")
    warnings = tuple(dict.fromkeys((*w1, *w2)))
    return Book(exposures(legs), hedges, (uniform, beta), move, warnings)


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
    "book_stress",
    "compute_book",
    "exposures",
    "find_hedges",
    "hedges_near_break",
    "margin_needed",
    "transfer_text",
    "underlying_of",
]
