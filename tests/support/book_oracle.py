"""The whole book the plain way, one leg, one hedge and one margin unit at a time: the expectation the
vectorised :func:`desk.domain.book.compute_book` is compared against, field by field.

It follows the conventions of desk/domain/book.py's docstring literally: a leg per position (matched
to the engine's figures by account, symbol, leg and margin mode) and per non-zero spot balance; sums
and greedy pairing in leg order; the stress curve adding every unit's change with ``+=`` in unit
order. The engine's own grids (``unit_state_moved``, the pools' evaluation) and the book's small
pure helpers (rounding, prices of a settle currency, the path of liquidations) are called as they
are: they are not what the vectorised book changed."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from desk.domain import book as B
from desk.domain.engine import compile_portfolio, unit_state_moved
from desk.domain.model import Kind, Portfolio
from desk.domain.report import RiskReport
from desk.domain.scenario import stress_drivers


def legs(portfolio: Portfolio, risk: RiskReport) -> list[B.BookLeg]:
    out = []
    figures = {}
    for x in risk.positions():  # the last of the same four wins
        figures[x.account, x.symbol, x.leg, x.margin_mode] = x
    for account in portfolio.accounts:
        for p in account.positions:
            r = figures.get((account.name, p.symbol, p.leg.value, p.margin_mode.value))
            coin = p.contracts * p.contract_size / (p.mark_price if p.kind is Kind.INVERSE else 1.0)
            out.append(B.BookLeg(account.name, account.venue, p.symbol, p.kind.value, p.side.value,
                                 p.leg.value, p.symbol.split("/")[0].split(":")[0], coin, p.mark_price,
                                 None if r is None else r.liquidation_price,
                                 None if r is None else r.distance_to_liquidation,
                                 r is not None and r.liquidatable, p.tick_size))
        for b in account.spot:
            if b.amount != 0:
                out.append(B.BookLeg(account.name, account.venue, b.asset, "spot",
                                     "long" if b.amount > 0 else "short", "both", b.asset, abs(b.amount),
                                     b.price, None, None))
    return out


def exposures(all_legs: list[B.BookLeg]) -> tuple[B.Exposure, ...]:
    names = list(dict.fromkeys(x.underlying for x in all_legs))
    out = []
    for name in names:
        group = [x for x in all_legs if x.underlying == name]
        longs = [x for x in group if x.side == "long"]
        shorts = [x for x in group if x.side == "short"]
        out.append(B.Exposure(name, sum(x.coin for x in longs), sum(x.coin for x in shorts),
                              sum(x.coin * x.price for x in longs), sum(x.coin * x.price for x in shorts),
                              tuple(group)))
    return tuple(sorted(out, key=lambda e: -(e.long_usd + e.short_usd)))


def _breaks(long: B.BookLeg, short: B.BookLeg) -> str | None:
    ranked = []
    for leg, name in ((long, "long"), (short, "short")):
        if leg.liquidatable:
            ranked.append((-1.0, name))
        elif leg.liquidation_price is not None:
            ranked.append((math.inf if leg.distance_to_liquidation is None else leg.distance_to_liquidation,
                           name))
    return min(ranked)[1] if ranked else None


def hedges(all_legs: list[B.BookLeg]) -> list[B.Hedge]:
    out = []
    for name in dict.fromkeys(x.underlying for x in all_legs):
        longs = sorted((x for x in all_legs if x.underlying == name and x.side == "long"),
                       key=lambda x: -x.coin)
        shorts = sorted((x for x in all_legs if x.underlying == name and x.side == "short"),
                        key=lambda x: -x.coin)
        left = {id(x): x.coin for x in (*longs, *shorts)}
        for lg in longs:
            for sh in shorts:
                if left[id(lg)] <= 0:
                    break
                paired = lg.account != sh.account or "spot" in (lg.kind, sh.kind)
                if left[id(sh)] <= 0 or not paired:
                    continue
                size = min(left[id(lg)], left[id(sh)])
                left[id(lg)] -= size
                left[id(sh)] -= size
                out.append(B.Hedge(name, lg, sh, size, _breaks(lg, sh)))
    return out


def stress(portfolio: Portfolio, all_legs: list[B.BookLeg], shocks: np.ndarray,
           betas: Mapping[str, float] | None) -> tuple[B.BookStress, tuple[str, ...]]:
    s = np.asarray(shocks, dtype=np.float64)
    outside = dataclasses.replace(portfolio, accounts=tuple(B._outside_pool(a) for a in portfolio.accounts))
    f = compile_portfolio(outside)
    prices = B.reference_prices(all_legs)
    labels, owners, worth, ratios, warnings = [], [], [], [], []
    if f.n_units:
        equity, mm = unit_state_moved(f, *stress_drivers(f.positions, s, betas))
        for u, unit in enumerate(f.units):
            account = outside.accounts[int(f.unit_account[u])].name
            if unit.isolated:
                p = unit.positions[0]
                what = p.side.value if p.leg.value == "both" else f"{p.leg.value} leg"
                labels.append(f"{account} {p.symbol} ({what}, isolated)")
            else:
                labels.append(f"{account} {unit.settle} pool")
            owners.append(account)
            usd = B._settle_usd(unit.settle, s, prices, betas)
            if usd is None:
                warnings.append(f"{labels[-1]}: no price for {unit.settle} in the book; its P&L is left out "
                                "of the stress curve")
            worth.append(None if usd is None else equity[:, u] * usd)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios.append(np.where(equity[:, u] > 0, mm[:, u] / equity[:, u], np.inf))
    pool_labels, pool_owners, pool_values, pool_ratios = B._pooled_units(portfolio, s, betas)
    labels += pool_labels
    owners += pool_owners
    worth += pool_values
    ratios += pool_ratios
    pnl = np.zeros_like(s)
    per_account = {a.name: np.zeros_like(s) for a in portfolio.accounts}
    first: list[str | None] = [None] * len(s)
    gone_at: list[tuple[str, ...]] = [()] * len(s)
    if ratios:
        table = np.stack(ratios, axis=1)
        zero = int(np.argmin(np.abs(s)))
        gone = B._path_liquidated(table, s)
        for u, value in enumerate(worth):
            if value is None:
                continue
            start = float(value[zero])
            if gone[zero, u]:
                start = max(start, 0.0)
            change = np.where(gone[:, u], 0.0, value) - start
            pnl += change
            per_account[owners[u]] += change
        for i in range(len(s)):
            gone_at[i] = tuple(labels[u] for u in range(len(labels)) if gone[i, u])
            path = range(zero, i + 1) if i >= zero else range(zero, i - 1, -1)
            for j in path:
                crossed = [u for u in range(len(labels)) if gone[j, u]]
                if crossed and gone_at[i]:
                    first[i] = labels[max(crossed, key=lambda u: table[j, u])]  # the first on a tie
                    break
    unmodelled, said = B._unmodelled_pools(portfolio, s, prices, betas)
    warnings += said
    for name, change in unmodelled.items():
        pnl += change
        per_account[name] += change
    in_pool = {(a.name, c.asset) for a in portfolio.accounts if a.margin for c in a.margin.collateral}
    for leg in all_legs:
        if leg.kind == "spot" and (leg.account, leg.underlying) not in in_pool:
            change = leg.signed_coin * leg.price * (B._asset_factor(leg.underlying, s, betas) - 1.0)
            pnl += change
            per_account[leg.account] += change
    return B.BookStress("uniform" if betas is None else "beta", dict(betas or {}), s, pnl, per_account,
                        tuple(first), tuple(gone_at), tuple(labels)), tuple(warnings)


def margin_needs(outside: Portfolio, move: float) -> tuple[Any, list[float]]:
    """Per unit of the portfolio outside the pools: the most its maintenance exceeds its equity on the
    uniform path within ±``move`` (> 0: margin to add; < 0: to spare), unit by unit."""
    f = compile_portfolio(outside)
    path = np.linspace(-move, move, 2 * B._PATH_POINTS + 1)
    factors = np.maximum(1.0 + path, B._MIN_FACTOR)[:, None]
    equity, mm = unit_state_moved(f, np.zeros(len(f.positions), dtype=np.intp), factors)
    return f, [max((mm[:, u] - equity[:, u]).tolist()) for u in range(f.n_units)]


def transfer(hedge: B.Hedge, outside: Portfolio, compiled: Any, needs: list[float],
             prices: Mapping[str, float], move: float) -> B.Transfer | None:
    """The hedge's transfer as book.py's docstring says it, side by side for this one hedge: the leg
    short of margin receives (the larger need in USD), the other account gives what it can spare."""
    sides = []
    for leg in (hedge.long, hedge.short):
        if leg.kind == "spot":
            continue
        unit = next((int(compiled.unit_of[i]) for i, p in enumerate(compiled.positions)
                     if outside.accounts[int(compiled.unit_account[compiled.unit_of[i]])].name == leg.account
                     and p.symbol == leg.symbol and p.leg.value == leg.leg), None)
        if unit is None:
            continue
        settle = compiled.unit_settle[unit]
        rate = 1.0 if settle.upper() in B.DOLLARS else prices.get(settle)
        if rate is not None:
            sides.append((leg, settle, needs[unit], rate))
    short_of = [x for x in sides if x[2] >= 0]
    if not short_of:
        return None
    leg, currency, need, rate = max(short_of, key=lambda x: x[2] * x[3])
    amount = B._round_up(need)
    donors = [x for x in sides
              if x[0] is not leg and x[0].account != leg.account and B._round_down(-x[2]) > 0]
    if not donors:
        return B.Transfer(move, leg.account, currency, amount, amount * rate, None, None, None, False,
                          amount * rate)
    d_leg, d_currency, d_need, d_rate = donors[0]
    if B._round_down(-d_need) * d_rate >= amount * rate:
        source_amount = B._round_up(amount * rate / d_rate) if d_rate != rate else amount
        if source_amount > -d_need:
            source_amount = B._round_down(-d_need)
        return B.Transfer(move, leg.account, currency, amount, amount * rate, d_leg.account, d_currency,
                          source_amount, True)
    give = B._round_down(-d_need)
    return B.Transfer(move, leg.account, currency, give * d_rate / rate, give * d_rate, d_leg.account,
                      d_currency, give, False, amount * rate - give * d_rate)


def book(portfolio: Portfolio, risk: RiskReport, move: float, betas: Mapping[str, float] | None) -> B.Book:
    all_legs = legs(portfolio, risk)
    outside = dataclasses.replace(portfolio, accounts=tuple(B._outside_pool(a) for a in portfolio.accounts))
    compiled, needs = margin_needs(outside, move)
    prices = B.reference_prices(all_legs)
    paired = [dataclasses.replace(h, transfer=transfer(h, outside, compiled, needs, prices, move))
              for h in hedges(all_legs)]
    uniform, w1 = stress(portfolio, all_legs, B.SHOCKS, None)
    beta, w2 = stress(portfolio, all_legs, B.SHOCKS, dict(betas or {}))
    return B.Book(exposures(all_legs), tuple(paired), (uniform, beta), move, tuple(dict.fromkeys((*w1, *w2))))
