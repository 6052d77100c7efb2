"""What-if scenarios: moved marks, uniform shocks, and the stress grid for the dashboard."""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from desk.domain.engine import flatten_account, unit_ratios_at
from desk.domain.limits import MAX_SHOCK, InputError, check_price
from desk.domain.model import Account, AccountMargin, MarginMode, Portfolio, Position, Reported
from desk.domain.position_math import margin_units, unit_state
from desk.domain.rules import rules_for
from desk.domain.unified import _evaluate, compile_pool, cross_positions, pool_state_scalar

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def apply_what_if(
    portfolio: Portfolio, *, marks: Mapping[str, float] | None = None, shock: float | None = None
) -> Portfolio:
    """A copy of ``portfolio`` with marks replaced and/or shocked.

    ``marks`` (keyed by ccxt symbol) set the mark of that symbol in every account first; then
    ``shock`` (a fraction: −0.05 = 5 % down) moves every mark, including those just set. In an
    account whose marks moved, the exchange's reported figures are dropped: they describe the
    real marks, not the scenario.
    Raises ``ValueError`` for a symbol held nowhere, a price outside ``limits`` or a shock ≤ −100 % or
    above ``limits.MAX_SHOCK``.
    """
    marks = dict(marks or {})
    held = {p.symbol for a in portfolio.accounts for p in a.positions}
    for symbol, price in marks.items():
        if symbol not in held:
            raise ValueError(f'no position in the portfolio has the symbol "{symbol}"')
        if not (math.isfinite(price) and price > 0):
            raise ValueError(f'the mark price of "{symbol}" must be a positive number, got {price}')
        check_price(price, f'the mark price of "{symbol}"')
    factor = 1.0
    if shock is not None:
        if not (math.isfinite(shock) and shock > -1.0):
            raise ValueError(f"a shock must be a fraction greater than -1 (−100 %), got {shock}")
        if shock > MAX_SHOCK:
            raise InputError(f"a shock must be at most {MAX_SHOCK:g} (+{MAX_SHOCK * 100:,.0f} %), "
                             f"got {shock}", field="shock")
        factor = 1.0 + shock

    def moved(account: Account) -> Account:
        new_marks = [marks.get(p.symbol, p.mark_price) * factor for p in account.positions]
        if all(m == p.mark_price for m, p in zip(new_marks, account.positions, strict=True)):
            return account
        # the exchange's own figures describe the real marks, not this scenario: drop them
        positions = tuple(dataclasses.replace(p, mark_price=m, reported=Reported())
                          for p, m in zip(account.positions, new_marks, strict=True))
        return dataclasses.replace(account, positions=positions, reported={},
                                   margin=_moved_margin(account, factor))

    return dataclasses.replace(portfolio, accounts=tuple(moved(a) for a in portfolio.accounts))


def _moved_margin(account: Account, factor: float) -> AccountMargin | None:
    """The account's collateral after a uniform shock: crypto collateral moves, stablecoins do not
    (unified-margin.md §6.6); the venue's own ratio describes the real prices and is dropped."""
    margin = account.margin
    if margin is None:
        return None
    collateral = tuple(dataclasses.replace(c, price=c.price * factor) if c.underlying is not None else c
                       for c in margin.collateral)
    return dataclasses.replace(margin, collateral=collateral, venue_margin_ratio=None)


@dataclass(frozen=True, slots=True)
class StressGrid:
    """Margin ratios across a range of shocks (desk's scale: 1.0 = liquidation, ``inf`` = balance gone).

    ``margin_ratio[settle]`` is the cross pool's ratio per shock; ``position_margin_ratio`` maps
    each isolated position's ``(symbol, leg)`` to its own ratio per shock.
    """

    shocks: FloatArray
    margin_ratio: Mapping[str, FloatArray]
    position_margin_ratio: Mapping[tuple[str, str], FloatArray]


_SYMBOL = operator.attrgetter("symbol")


def _beta(symbol: str, betas: Mapping[str, float]) -> float:
    """The symbol's own beta, else its base asset's, else 1 (it follows BTC one to one)."""
    if symbol in betas:
        return float(betas[symbol])
    return float(betas.get(symbol.split("/")[0], 1.0))


def stress_factors(positions: Sequence[Position], shocks: FloatArray,
                   betas: Mapping[str, float] | None) -> FloatArray:
    """Mark multipliers (shocks × positions): ``1 + beta × shock``, never below 0.001."""
    driver, factors = stress_drivers(positions, shocks, betas)
    return factors[:, driver]


def stress_drivers(positions: Sequence[Position], shocks: FloatArray,
                   betas: Mapping[str, float] | None) -> tuple[IntArray, FloatArray]:
    """:func:`stress_factors` as (the driver of each position, multipliers shocks × drivers): the
    positions of one beta move together (:func:`desk.domain.engine.unit_state_moved`)."""
    if betas:
        by_symbol: dict[str, float] = {}  # a book has far fewer symbols than positions
        for symbol in map(_SYMBOL, positions):
            if symbol not in by_symbol:
                by_symbol[symbol] = _beta(symbol, betas)
        beta = np.fromiter(map(by_symbol.__getitem__, map(_SYMBOL, positions)), dtype=np.float64,
                           count=len(positions))
    else:
        beta = np.ones(len(positions))
    distinct, driver = np.unique(beta, return_inverse=True)
    factors = np.maximum(1.0 + shocks[:, None] * distinct[None, :], 1e-3)
    return np.asarray(driver, dtype=np.intp).reshape(-1), factors


def stress_grid(
    account: Account, shocks: Sequence[float] | FloatArray, *, betas: Mapping[str, float] | None = None
) -> StressGrid:
    """Ratios of every pool and isolated position of ``account`` after each uniform shock (vectorised).

    With ``betas`` (keyed by symbol, else by base asset; default 1.0), a shock ``s`` moves each
    mark by ``beta × s`` (a BTC shock scaled per asset); a mark never goes below 0.1 % of itself.
    """
    s = np.asarray(shocks, dtype=np.float64).reshape(-1)
    if account.pooled:
        return _pooled_grid(account, s, betas, vectorised=True)
    flat = flatten_account(account)
    ratios = unit_ratios_at(flat, stress_factors(flat.positions, s, betas))
    pools: dict[str, FloatArray] = {}
    isolated: dict[tuple[str, str], FloatArray] = {}
    for u, unit in enumerate(flat.units):
        column = np.ascontiguousarray(ratios[:, u])
        if unit.isolated:
            isolated[unit.positions[0].key] = column
        else:
            pools[unit.settle] = column
    return StressGrid(s, pools, isolated)


def stress_grid_scalar(
    account: Account, shocks: Sequence[float] | FloatArray, *, betas: Mapping[str, float] | None = None
) -> StressGrid:
    """:func:`stress_grid` on the scalar path, one shock and one position at a time (the oracle)."""
    s = np.asarray(shocks, dtype=np.float64).reshape(-1)
    if account.pooled:
        return _pooled_grid(account, s, betas, vectorised=False)
    rules = rules_for(account.venue)
    pools: dict[str, FloatArray] = {}
    isolated: dict[tuple[str, str], FloatArray] = {}
    for unit in margin_units(account):
        ratios = np.empty_like(s)
        factors = stress_factors(unit.positions, s, betas)
        for i in range(len(s)):
            prices = [p.mark_price * float(x) for p, x in zip(unit.positions, factors[i], strict=True)]
            _, balance, mm = unit_state(unit, rules, prices)
            ratios[i] = math.inf if balance <= 0 else mm / balance
        if unit.isolated:
            isolated[unit.positions[0].key] = ratios
        else:
            pools[unit.settle] = ratios
    return StressGrid(s, pools, isolated)


def _pooled_grid(account: Account, s: FloatArray, betas: Mapping[str, float] | None, *,
                 vectorised: bool) -> StressGrid:
    """The stress grid of an account-wide pool: marks and crypto collateral move by ``beta × s``
    (a collateral asset takes the beta of its underlying), stablecoins stay (unified-margin.md §6.6)."""
    margin = account.margin
    assert margin is not None
    legs = cross_positions(account)
    factors = stress_factors(legs, s, betas)
    asset_beta = np.array([0.0 if c.underlying is None else float((betas or {}).get(c.underlying, 1.0))
                           for c in margin.collateral], dtype=np.float64)
    asset_factors = np.maximum(1.0 + s[:, None] * asset_beta[None, :], 1e-3)
    k = margin.threshold
    if margin.cannot_recompute is not None:
        pool = np.full(len(s), np.nan)
    elif vectorised:
        c = compile_pool(account)
        b = _evaluate(c, c.mark * factors, c.price * asset_factors)
        with np.errstate(divide="ignore", invalid="ignore"):
            pool = np.where(b.margin_balance > 0, k * b.maintenance / b.margin_balance, np.inf)
    else:
        pool = np.empty(len(s))
        for i in range(len(s)):
            marks = [p.mark_price * float(x) for p, x in zip(legs, factors[i], strict=True)]
            prices = {c.asset: c.price * float(x)
                      for c, x in zip(margin.collateral, asset_factors[i], strict=True)}
            pool[i] = pool_state_scalar(account, marks, prices).ratio(k)
    isolated: dict[tuple[str, str], FloatArray] = {}
    iso = tuple(p for p in account.positions if p.margin_mode is MarginMode.ISOLATED)
    if iso:
        alone = Account(account.name, account.venue, {}, iso)
        grid = (stress_grid if vectorised else stress_grid_scalar)(alone, s, betas=betas)
        isolated = dict(grid.position_margin_ratio)
    return StressGrid(s, {margin.valuation: pool}, isolated)


__all__ = ["StressGrid", "apply_what_if", "stress_grid", "stress_grid_scalar"]
