"""What-if building blocks for the dashboard: a fast probe of one position at a moved mark, edits of a
position or an account (size, leverage, margin) and the fee-adjusted break-even price.

Every figure comes from the engine (:mod:`desk.domain.engine`); this module only changes its inputs.
:class:`MarkProbe` compiles one account once and then re-evaluates it at new marks of one symbol —
the path a dragged price line takes many times a second. Its figures equal those of
``compute_risk(apply_what_if(portfolio, marks={symbol: price}))`` for that position (tests assert it):
accounts are margined independently, so only the position's own account needs recomputing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from desk.domain.engine import PlanCache, compile_portfolio, compute_arrays, compute_risk, with_marks
from desk.domain.limits import (
    MAX_AMOUNT,
    MAX_LEVERAGE,
    MAX_QUANTITY,
    MAX_SHOCK,
    MIN_LEVERAGE,
    check_number,
    check_price,
)
from desk.domain.model import Account, AccountMargin, Kind, MarginMode, Portfolio, Position, Reported
from desk.domain.position_math import pnl_at, value_at
from desk.domain.report import at_or_past_liquidation, signed_distance
from desk.domain.scenario import stress_grid


@dataclass(frozen=True, slots=True)
class ProbeFigures:
    """One position's figures with its symbol's mark at ``mark`` (desk's scale, see report.py)."""

    mark: float
    liquidation_price: float | None
    bankruptcy_price: float | None
    distance_to_liquidation: float | None  # |mark − liq| ÷ mark
    margin_ratio: float | None  # the position's (isolated: its own; cross: its pool's)
    pool_ratio: float | None  # the account's cross pool (with positions) in the position's settle currency
    unrealized_pnl: float

    @property
    def liquidatable(self) -> bool:
        return at_or_past_liquidation(self.margin_ratio)

    @property
    def signed_distance_to_liquidation(self) -> float | None:
        return signed_distance(self.distance_to_liquidation, self.liquidatable)


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else x


def _is(p: Position, symbol: str, leg: str, margin_mode: str | None) -> bool:
    """``p`` is the position (symbol, leg) — of ``margin_mode`` when given: OKX may hold one
    instrument and leg both cross and isolated (twins), and only the mode tells them apart."""
    return (p.symbol == symbol and p.leg.value == leg
            and (margin_mode is None or p.margin_mode.value == margin_mode))


class MarkProbe:
    """The figures of position ``(symbol, leg)`` (of ``margin_mode``, for a twin) of ``account`` at
    any mark of ``symbol``.

    All positions of ``symbol`` in the account move to the new mark (as ``apply_what_if`` does);
    the others stay at their marks. Compiles once (through ``plans``, the caller's plan cache; by
    default the shared one); each :meth:`at` call is one vectorised pass.
    """

    def __init__(self, account: Account, symbol: str, leg: str = "both", *,
                 plans: PlanCache | None = None, margin_mode: str | None = None) -> None:
        self.account = account
        self.symbol = symbol
        self._leg = leg
        self._mode = margin_mode
        self._plans = plans
        if account.pooled:  # one pool with collateral: the pooled engine, one report per probe
            if not any(_is(p, symbol, leg, margin_mode) for p in account.positions):
                raise KeyError(f'account "{account.name}" holds no {symbol} ({leg}) position')
            return
        self._compiled = compile_portfolio(Portfolio((account,)), plans=plans)
        rows = [i for i, p in enumerate(self._compiled.positions) if p.symbol == symbol]
        target = [i for i in rows if _is(self._compiled.positions[i], symbol, leg, margin_mode)]
        if not target:
            raise KeyError(f'account "{account.name}" holds no {symbol} ({leg}) position')
        self._row = target[0]
        self._symbol_rows = np.asarray(rows, dtype=np.intp)
        self._marks = np.array(self._compiled.mark, dtype=np.float64)
        self._settle = self._compiled.positions[self._row].settle
        self._pool_unit: int | None = None
        arr_units = self._compiled.units
        for u, unit in enumerate(arr_units):
            if not unit.isolated and unit.settle == self._settle and unit.positions:
                self._pool_unit = u

    @property
    def position(self) -> Position:
        if self.account.pooled:
            return next(p for p in self.account.positions if _is(p, self.symbol, self._leg, self._mode))
        return self._compiled.positions[self._row]

    def _pooled_at(self, price: float) -> ProbeFigures:
        """A pooled account (unified-margin.md §6): the symbol's marks at ``price``, collateral at its
        index; the figures are those of :func:`desk.domain.engine.compute_risk` for that scenario."""
        moved = tuple(dataclasses.replace(p, mark_price=price) if p.symbol == self.symbol else p
                      for p in self.account.positions)
        risk = compute_risk(Portfolio((dataclasses.replace(self.account, positions=moved),)),
                            plans=self._plans).accounts[0]
        index = next(i for i, p in enumerate(self.account.positions)
                     if _is(p, self.symbol, self._leg, self._mode))
        r = risk.positions[index]
        pool = next((q.margin_ratio for q in risk.pools if q.pool == "account"), None)
        return ProbeFigures(price, r.liquidation_price, r.bankruptcy_price, r.distance_to_liquidation,
                            r.margin_ratio, pool if r.margin_mode == "cross" else None, r.unrealized_pnl)

    def at(self, price: float) -> ProbeFigures:
        """Figures with every ``symbol`` mark of the account at ``price`` (> 0)."""
        if not (math.isfinite(price) and price > 0):
            raise ValueError(f"a mark price must be a positive number, got {price}")
        check_price(price, "a mark price")
        if self.account.pooled:
            return self._pooled_at(price)
        marks = self._marks.copy()
        marks[self._symbol_rows] = price
        arr = compute_arrays(with_marks(self._compiled, marks))
        i = self._row
        liq = _finite(float(arr.liquidation_price[i]))
        pool = None if self._pool_unit is None else float(arr.unit_ratio[self._pool_unit])
        return ProbeFigures(
            mark=price,
            liquidation_price=liq,
            bankruptcy_price=_finite(float(arr.bankruptcy_price[i])),
            distance_to_liquidation=None if liq is None else abs(price - liq) / price,
            margin_ratio=float(arr.margin_ratio[i]),
            pool_ratio=pool,
            unrealized_pnl=float(arr.unrealized_pnl[i]),
        )


def break_even_price(p: Position) -> tuple[float, bool]:
    """The mark at which closing the position breaks even, and whether fees were included.

    With a taker fee f paid on opening and on closing (both on the notional), PnL − fees = 0 at
    ``entry × (1 + f) / (1 − f)`` for a long and ``entry × (1 − f) / (1 + f)`` for a short — the same
    for linear and inverse contracts (the fee is charged on each side's value). Without a fee rate
    the entry price is returned and the flag is False: funding and the real fees paid are unknown.
    """
    f = p.taker_fee
    if not f or f <= 0:
        return p.entry_price, False
    if p.side.sign > 0:
        return p.entry_price * (1.0 + f) / (1.0 - f), True
    return p.entry_price * (1.0 - f) / (1.0 + f), True


def _replace_position(portfolio: Portfolio, account: str, old: Position, new: Position | None,
                      wallet_change: float = 0.0) -> Portfolio:
    def edit(a: Account) -> Account:
        if a.name != account:
            return a
        positions = tuple(q for q in (new if p is old else p for p in a.positions) if q is not None)
        wallets = dict(a.wallets)
        if wallet_change:
            wallets[old.settle] = wallets.get(old.settle, 0.0) + wallet_change
        # the exchange's figures describe the account as it is, not this scenario
        return dataclasses.replace(a, positions=positions, wallets=wallets, reported={},
                                   margin=_collateral_changed(a, old.settle, wallet_change))

    return dataclasses.replace(portfolio, accounts=tuple(edit(a) for a in portfolio.accounts))


def find_position(portfolio: Portfolio, account: str, symbol: str, leg: str = "both", *,
                  margin_mode: str | None = None) -> Position:
    """The position (symbol, leg) of ``account``; of ``margin_mode`` when given (an OKX twin)."""
    for p in portfolio.account(account).positions:
        if _is(p, symbol, leg, margin_mode):
            return p
    raise KeyError(f'account "{account}" holds no {symbol} ({leg}) position')


def edit_position(
    portfolio: Portfolio,
    account: str,
    symbol: str,
    leg: str = "both",
    *,
    contracts: float | None = None,
    leverage: float | None = None,
    add_margin: float | None = None,
    margin_mode: str | None = None,
) -> Portfolio:
    """A copy of ``portfolio`` with one position changed, the way the venue would book it (the one
    of ``margin_mode`` when given: an OKX twin).

    * ``contracts`` — a new size. Closing part at the mark realises that part's PnL into the wallet
      (a cross pool's margin balance is unchanged, as ``reduce_size`` suggestions assume); an isolated
      position releases its margin in proportion to the part closed, back to the wallet. Adding
      contracts buys at the mark: the entry becomes the size-weighted average (of values for inverse
      contracts); an isolated position moves ``added value ÷ leverage`` from the wallet (or the same
      margin per contract when no leverage is known). 0 closes the position.
    * ``leverage`` — recorded; for an isolated position its margin becomes ``entry value ÷ leverage``
      (as ``set_leverage`` suggestions assume), the difference taken from or returned to the wallet.
      A cross position's leverage does not change its maintenance margin or liquidation price.
    * ``add_margin`` — to an isolated position's margin, or to the cross wallet of its settle
      currency for a cross position; negative removes margin.

    Raises ``ValueError`` naming the field for an impossible edit (negative size, leverage ≤ 0,
    removing more margin than there is). Reported exchange figures of the account are dropped.
    """
    p = find_position(portfolio, account, symbol, leg, margin_mode=margin_mode)
    wallet_change = 0.0
    new: Position | None = p
    if contracts is not None:
        if not (math.isfinite(contracts) and contracts >= 0):
            raise ValueError(f"size: contracts must be zero or a positive number, got {contracts}")
        check_number(contracts, "size: contracts", 0.0, MAX_QUANTITY)
        new, wallet_change = _resize(p, contracts)
    if new is not None and leverage is not None:
        if not (math.isfinite(leverage) and leverage > 0):
            raise ValueError(f"leverage must be a positive number, got {leverage}")
        check_number(leverage, "leverage", MIN_LEVERAGE, MAX_LEVERAGE)
        if new.margin_mode is MarginMode.ISOLATED:
            margin = value_at(new, new.entry_price) / leverage
            wallet_change -= margin - float(new.isolated_margin or 0.0)
            new = dataclasses.replace(new, leverage=leverage, isolated_margin=margin)
        else:
            new = dataclasses.replace(new, leverage=leverage)
    if new is not None and add_margin:
        if not math.isfinite(add_margin):
            raise ValueError(f"margin: the amount must be a finite number, got {add_margin}")
        check_number(add_margin, "margin: the amount", -MAX_AMOUNT, MAX_AMOUNT)
        if new.margin_mode is MarginMode.ISOLATED:
            margin = float(new.isolated_margin or 0.0) + add_margin
            if margin < 0:
                raise ValueError(f"margin: cannot remove {-add_margin:g} {p.settle}; the position holds "
                                 f"{float(new.isolated_margin or 0.0):g}")
            new = dataclasses.replace(new, isolated_margin=margin)
            wallet_change -= add_margin
        else:
            wallet_change += add_margin
    out = _replace_position(portfolio, account, p, new, wallet_change)
    wallet = out.account(account).wallet(p.settle)
    if wallet < 0 and wallet < portfolio.account(account).wallet(p.settle):
        raise ValueError(f"margin: the {p.settle} wallet of {account} would go negative ({wallet:g})")
    return out


def _resize(p: Position, contracts: float) -> tuple[Position | None, float]:
    """(the resized position or None when closed, the change of the wallet)."""
    if contracts <= p.contracts:
        closed = p.contracts - contracts
        keep = contracts / p.contracts
        realised = pnl_at(dataclasses.replace(p, contracts=closed), p.mark_price) if closed else 0.0
        if p.margin_mode is MarginMode.ISOLATED:
            released = float(p.isolated_margin or 0.0) * (1.0 - keep)
            margin = float(p.isolated_margin or 0.0) * keep
            change = released + realised
            return (dataclasses.replace(p, contracts=contracts, isolated_margin=margin)
                    if contracts > 0 else None), change
        return (dataclasses.replace(p, contracts=contracts) if contracts > 0 else None), realised
    added = contracts - p.contracts
    old_value = value_at(p, p.entry_price)
    add = dataclasses.replace(p, contracts=added)
    add_value = value_at(add, p.mark_price)
    q_total = contracts * p.contract_size
    if p.kind is Kind.LINEAR:
        entry = (old_value + add_value) / q_total
    else:  # inverse value = q / price: average in value, entry = q ÷ total value
        entry = q_total / (old_value + add_value)
    new = dataclasses.replace(p, contracts=contracts, entry_price=entry)
    change = 0.0
    if p.margin_mode is MarginMode.ISOLATED:
        per_contract = float(p.isolated_margin or 0.0) / p.contracts
        extra = add_value / p.leverage if p.leverage else per_contract * added
        new = dataclasses.replace(new, isolated_margin=float(p.isolated_margin or 0.0) + extra)
        change = -extra
    return new, change


def add_account_margin(portfolio: Portfolio, account: str, currency: str, amount: float) -> Portfolio:
    """A copy with ``amount`` (negative removes) added to the cross wallet ``currency`` of ``account``."""
    if not math.isfinite(amount):
        raise ValueError(f"margin: the amount must be a finite number, got {amount}")
    check_number(amount, "margin: the amount", -MAX_AMOUNT, MAX_AMOUNT)
    acc = portfolio.account(account)
    wallet = acc.wallet(currency) + amount
    if wallet < 0:
        raise ValueError(f"margin: cannot remove {-amount:g} {currency}; "
                         f"the wallet holds {acc.wallet(currency):g}")
    wallets: Mapping[str, float] = {**acc.wallets, currency: wallet}
    new = dataclasses.replace(acc, wallets=wallets, reported={},
                              margin=_collateral_changed(acc, currency, amount))
    return dataclasses.replace(portfolio, accounts=tuple(new if a is acc else a for a in portfolio.accounts))


def move_collateral_price(portfolio: Portfolio, account: str, asset: str, change: float) -> Portfolio:
    """A copy where the index of collateral ``asset`` of pooled ``account`` moved by ``change`` (a
    fraction: −0.10 = 10 % lower); marks stay (move them with ``apply_what_if``). The venue's own
    figures describe the real prices and are dropped. ``ValueError`` for an account that does not
    pool collateral, an asset not in its pool, or a move of −100 % or less."""
    if not (math.isfinite(change) and change > -1.0):
        raise ValueError(f"collateral price: a move must be a fraction above -1 (−100 %), got {change}")
    check_number(change, "collateral price: the move", -1.0, MAX_SHOCK)
    acc = portfolio.account(account)
    margin = acc.margin
    if margin is None or not acc.pooled:
        raise ValueError(f'collateral price: account "{account}" does not pool collateral')
    held = margin.asset(asset)
    if held is None:
        raise ValueError(f'collateral price: "{asset}" is not a collateral asset of account "{account}"')
    collateral = tuple(dataclasses.replace(c, price=c.price * (1.0 + change)) if c is held else c
                       for c in margin.collateral)
    positions = tuple(dataclasses.replace(p, reported=Reported()) for p in acc.positions)
    moved = dataclasses.replace(margin, collateral=collateral, venue_margin_ratio=None)
    new = dataclasses.replace(acc, positions=positions, reported={}, margin=moved)
    return dataclasses.replace(portfolio, accounts=tuple(new if a is acc else a for a in portfolio.accounts))


def _collateral_changed(account: Account, currency: str, change: float) -> AccountMargin | None:
    """A pooled account's collateral with ``change`` added to ``currency`` (unified-margin.md §6.1):
    in such an account the wallet that counts is the pool's collateral. Raises ``ValueError`` when the
    pool has no such asset (its index price would be unknown)."""
    margin = account.margin
    if margin is None or not change:
        return margin
    asset = margin.asset(currency)
    if asset is None:
        raise ValueError(f'margin: "{currency}" is not a collateral asset of account "{account.name}"; '
                         f"its index price is unknown")
    collateral = tuple(dataclasses.replace(c, amount=c.amount + change) if c is asset else c
                       for c in margin.collateral)
    return dataclasses.replace(margin, collateral=collateral, venue_margin_ratio=None)





def stress_liquidation_shock(
    account: Account, *, betas: Mapping[str, float] | None = None, low: float = -0.5, high: float = 0.5,
    steps: int = 201,
) -> float | None:
    """The shock nearest 0 within [low, high] at which the worst unit of ``account`` (any cross pool or
    isolated position) reaches margin ratio 1.0 under :func:`desk.domain.scenario.stress_grid` (so with
    ``betas`` it is a BTC move with each asset following by its beta). A grid brackets the crossing,
    bisection on the same engine call refines it to ~1e-12. ``None`` when no shock in the range reaches it.
    """
    def worst(shocks: np.typing.NDArray[np.float64]) -> np.typing.NDArray[np.float64]:
        grid = stress_grid(account, shocks, betas=betas)
        columns = [*grid.margin_ratio.values(), *grid.position_margin_ratio.values()]
        if not columns:
            return np.zeros_like(shocks)
        return np.asarray(np.max(np.vstack(columns), axis=0), dtype=np.float64)

    best: float | None = None
    for lo_end, hi_end in ((0.0, low), (0.0, high)):
        grid_s = np.linspace(lo_end, hi_end, max(steps // 2, 2))
        ratios = worst(grid_s)
        hit = np.flatnonzero(ratios >= 1.0)
        if not len(hit):
            continue
        k = int(hit[0])
        if k == 0:
            return 0.0
        safe, bad = float(grid_s[k - 1]), float(grid_s[k])
        for _ in range(60):
            mid = (safe + bad) / 2.0
            if mid in (safe, bad):
                break
            if worst(np.array([mid]))[0] >= 1.0:
                bad = mid
            else:
                safe = mid
        if best is None or abs(bad) < abs(best):
            best = bad
    return best


__all__ = [
    "MarkProbe",
    "ProbeFigures",
    "add_account_margin",
    "break_even_price",
    "edit_position",
    "find_position",
    "move_collateral_price",
    "stress_liquidation_shock",
]
