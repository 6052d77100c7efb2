"""Suggestions for a target margin ratio R: the smallest single action of each kind that brings a
position or pool to R (portfolio-format.md, "--target").

* ``add_margin`` — closed form: the ratio is MM ÷ (balance + x), so ``x = MM/R − balance``.
* ``reduce_size`` — closing at the mark: in a cross pool the realised PnL stays in the wallet (the
  margin balance is unchanged) and only the maintenance margin falls; an isolated position
  releases its margin in proportion to the part closed (Binance and Bybit do), so only the tier
  structure (maintenance amount, lower tiers) can improve its ratio. The ratio is monotone in the
  size closed (MM(v)/v never decreases with v when the maintenance amounts follow §0), so a
  bisection to machine precision finds the smallest reduction; a smaller position may drop a tier.
* ``set_leverage`` — isolated only: lowering leverage raises the position margin to
  ``entry value ÷ leverage`` (Bybit §3.1 "IM = PV / leverage"); the largest whole leverage that
  reaches R.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from desk.domain.model import Position
from desk.domain.report import Suggestion
from desk.domain.rules import VenueRules
from desk.domain.scalar import maintenance_at, margin_ratio, pnl_at, value_at


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def add_margin(maintenance: float, balance: float, target: float, currency: str) -> Suggestion:
    amount = maintenance / target - balance
    return Suggestion("add_margin", True, amount=max(amount, 0.0), currency=currency)


def _smallest(ratio_of: Callable[[float], float], hi: float, target: float) -> float:
    """Smallest x in (0, hi] with ratio_of(x) ≤ target (ratio_of non-increasing, ratio_of(hi) ≤ target)."""
    lo = 0.0
    for _ in range(300):
        mid = (lo + hi) / 2.0
        if mid <= lo or mid >= hi:
            break
        if ratio_of(mid) <= target:
            hi = mid
        else:
            lo = mid
    return hi


def _with_contracts(p: Position, contracts: float) -> Position:
    return dataclasses.replace(p, contracts=contracts)


def reduce_cross_position(
    p: Position, others: Sequence[Position], rules: VenueRules, balance: float, target: float
) -> Suggestion:
    """Close part of a cross position; the pool's margin balance stays, its MM falls."""
    held = sum(maintenance_at(o, rules, o.mark_price) for o in others)
    if balance <= 0.0:
        return Suggestion("reduce_size", False, reason="the pool's margin balance is not positive; "
                          "closing positions at the mark cannot restore it — add margin")
    if held / balance > target:
        return Suggestion(
            "reduce_size", False,
            reason=f"even closing the whole position leaves the pool at {_fmt(held / balance)}: the other "
            f"positions hold {_fmt(held)} {p.settle} of maintenance margin",
        )

    def ratio_after(closed: float) -> float:
        left = p.contracts - closed
        mm = maintenance_at(_with_contracts(p, left), rules, p.mark_price) if left > 0 else 0.0
        return (held + mm) / balance

    closed = _smallest(ratio_after, p.contracts, target)
    return Suggestion("reduce_size", True, contracts=closed, fraction=closed / p.contracts)


def reduce_isolated_position(p: Position, rules: VenueRules, target: float) -> Suggestion:
    """Close part of an isolated position; its margin is released in proportion."""
    balance = float(p.isolated_margin or 0.0) + pnl_at(p, p.mark_price)
    if balance <= 0.0:
        return Suggestion("reduce_size", False, reason="the position's margin balance is not positive; "
                          "closing part of it cannot restore it — add margin or close it")

    def ratio_after(closed: float) -> float:
        left = p.contracts - closed
        keep = left / p.contracts
        return margin_ratio(maintenance_at(_with_contracts(p, left), rules, p.mark_price), balance * keep)

    nearly_all = p.contracts * (1.0 - 1e-12)
    floor_ratio = ratio_after(nearly_all)
    if floor_ratio > target:
        return Suggestion(
            "reduce_size", False,
            reason=f"closing part of an isolated position releases its margin in proportion, so its ratio "
            f"stays above {_fmt(floor_ratio)}; add margin, lower the leverage or close it",
        )
    closed = _smallest(ratio_after, nearly_all, target)
    return Suggestion("reduce_size", True, contracts=closed, fraction=closed / p.contracts)


def set_isolated_leverage(p: Position, rules: VenueRules, target: float) -> Suggestion:
    """The largest whole leverage whose initial margin (entry value ÷ leverage) reaches the target."""
    mm = maintenance_at(p, rules, p.mark_price)
    needed = mm / target - pnl_at(p, p.mark_price)
    entry_value = value_at(p, p.entry_price)
    if needed <= 0:
        return Suggestion("set_leverage", False, reason="the position is already within the target")
    exact = entry_value / needed
    leverage = math.floor(exact)
    if margin_ratio(mm, entry_value / max(leverage, 1) + pnl_at(p, p.mark_price)) > target:
        leverage -= 1  # floor() landed on the boundary in floating point
    if leverage < 1:
        return Suggestion(
            "set_leverage", False,
            reason=f"it needs {_fmt(needed)} {p.settle} of margin, more than the entry value at 1x "
            f"({_fmt(entry_value)}); add margin instead",
        )
    return Suggestion("set_leverage", True, leverage=float(leverage))


def reduce_pool(
    positions: Sequence[Position], rules: VenueRules, balance: float, target: float
) -> Suggestion:
    """Close the same fraction of every cross position in the pool."""
    if balance <= 0.0:
        return Suggestion("reduce_size", False, reason="the pool's margin balance is not positive; "
                          "closing positions at the mark cannot restore it — add margin")

    def ratio_after(fraction: float) -> float:
        keep = 1.0 - fraction
        mm = sum(maintenance_at(_with_contracts(p, p.contracts * keep), rules, p.mark_price)
                 for p in positions) if keep > 0 else 0.0
        return mm / balance

    fraction = _smallest(ratio_after, 1.0, target)
    return Suggestion("reduce_size", True, fraction=fraction)
