"""Suggestions: the smallest single action of each kind that brings a position (or a cross pool)
back to the user's goal — margin ratio at most the target ratio AND distance to liquidation at
least the target distance (portfolio-format.md, "--target"; the alert thresholds).

Every candidate fix is judged by the engine's own figures on the modified position (margin ratio
from :func:`maintenance_at`, liquidation price from :func:`symbol_liquidation_price`); nothing here
has a second formula for them. Both goals are monotone in the size of each fix, so:

* ``add_margin`` — bisection on the amount added (the isolated margin, or the cross wallet), then
  rounded UP to a step of three significant figures ("add 412 USDT", not 411.3027), so the amount
  reaches the goal and one step less does not.
* ``reduce_size`` — closing at the mark, searched over whole lots (the venue's lot size; inverse
  contracts without one trade whole contracts). In a cross pool the realised PnL stays in the
  wallet and only the maintenance margin falls; an isolated position releases its margin in
  proportion to the part closed (Binance and Bybit do), so only the tier structure can help it.
* ``set_leverage`` — isolated only: lowering leverage sets the position margin to
  ``entry value ÷ leverage`` (Bybit §3.1 "IM = PV / leverage"); the largest whole leverage that
  reaches the goal.

Where no fix of a kind exists the suggestion says so in plain words (``reaches_target`` False).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from desk.domain import display
from desk.domain.model import Kind, MarginMode, Position
from desk.domain.position_math import (
    Unit,
    maintenance_at,
    margin_ratio,
    pnl_at,
    symbol_liquidation_price,
    value_at,
)
from desk.domain.report import Suggestion
from desk.domain.rules import VenueRules

_SIGNIFICANT = 3  # add-margin amounts are rounded up to three significant figures
_SMALLEST_STEP = 1e-8  # one satoshi: no currency amount is finer


@dataclass(frozen=True, slots=True)
class Goal:
    """Where a fix must bring the subject: ratio ≤ ``margin_ratio``; distance ≥ ``distance``."""

    margin_ratio: float
    distance: float | None = None  # fraction of the mark (0.10 = 10 %); None: no distance goal

    def met(self, ratio: float, distance: float) -> bool:
        return ratio <= self.margin_ratio and (self.distance is None or distance >= self.distance)

    def unmet_by(self, ratio: float, distance: float | None) -> bool:
        """Whether the subject needs a fix (``distance`` None: no liquidation price reachable)."""
        far = distance is None or self.distance is None or distance >= self.distance
        return not (ratio <= self.margin_ratio and far)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def amount_step(amount: float) -> float:
    """The rounding step of a currency amount: its third significant figure (412 → 1, 0.0123 → 0.0001)."""
    if not (amount > 0 and math.isfinite(amount)):
        return _SMALLEST_STEP
    return max(10.0 ** (math.floor(math.log10(amount)) - (_SIGNIFICANT - 1)), _SMALLEST_STEP)


def lot_step(p: Position) -> float:
    """The size step of ``p`` in contracts: the venue's lot size; whole contracts for inverse
    contracts without one; else the position's fourth significant figure."""
    if p.lot_size is not None and p.lot_size > 0:
        return p.lot_size
    if p.kind is Kind.INVERSE:
        return 1.0
    return 10.0 ** (math.floor(math.log10(p.contracts)) - 3)


def _bisect(ok: Callable[[float], bool], hi: float) -> float:
    """Smallest x in (0, hi] with ok(x) (ok monotone, ok(hi) true), to 1e-4 of x: a tenth of the
    rounding step (a thousandth of x); :func:`_smallest_multiple` then settles the step exactly."""
    lo = 0.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if mid <= lo or mid >= hi or hi - lo <= hi * 1e-4:
            break
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _smallest_multiple(ok: Callable[[float], bool], exact: float, step: float) -> float:
    """The smallest multiple of ``step`` with ok(), starting from ceil(exact ÷ step) (floating point
    may put the exact answer a hair on either side of a multiple)."""
    k = max(math.ceil(exact / step - 1e-9), 1)
    while not ok(k * step):
        k += 1
    while k > 1 and ok((k - 1) * step):
        k -= 1
    return float(f"{k * step:.12g}")  # 0.102, not 0.10200000000000001


def _smallest_lots(ok: Callable[[int], bool], most: int) -> int | None:
    """Smallest k in [1, most] with ok(k) (ok monotone), or None."""
    if most < 1 or not ok(most):
        return None
    lo, hi = 0, most  # ok(hi); not known at lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


# ---------------------------------------------------------------------------- the subject


@dataclass(frozen=True, slots=True)
class _Subject:
    """A position in its margin unit, and what the engine says after a fix."""

    position: Position
    unit: Unit  # the cross pool, or the isolated position alone
    rules: VenueRules

    @property
    def isolated(self) -> bool:
        return self.unit.isolated

    def state(self, *, add: float = 0.0, closed: float = 0.0, margin: float | None = None
              ) -> tuple[float, float]:
        """(margin ratio, distance to liquidation) after adding ``add`` of margin, closing
        ``closed`` contracts at the mark, or (isolated) setting the position margin to ``margin``.
        Distance is ``inf`` where no liquidation price is reachable or the position is closed."""
        p, rules = self.position, self.rules
        left = p.contracts - closed
        if self.isolated:
            held = self.unit.balance if margin is None else margin
            keep = left / p.contracts
            balance = held * keep + add  # a partial close releases margin in proportion
            if left <= 0:
                return 0.0, math.inf
            moved = dataclasses.replace(p, contracts=left, isolated_margin=balance)
            unit = Unit(p.settle, (moved,), balance, True)
        else:
            realised = pnl_at(p, p.mark_price) * closed / p.contracts  # stays in the wallet
            moved = dataclasses.replace(p, contracts=left)
            rest = tuple(o for o in self.unit.positions if o is not p)
            unit = Unit(p.settle, rest + ((moved,) if left > 0 else ()), self.unit.balance + add + realised,
                        False)
        pnl = sum(pnl_at(o, o.mark_price) for o in unit.positions)
        mm = sum(maintenance_at(o, rules, o.mark_price) for o in unit.positions)
        ratio = margin_ratio(mm, unit.balance + pnl)
        if left <= 0:
            return ratio, math.inf
        legs = [o for o in unit.positions if o.symbol == p.symbol]
        liq = symbol_liquidation_price(unit, legs, rules)
        return ratio, math.inf if liq is None else abs(p.mark_price - liq) / p.mark_price


def _made(goal: Goal, action: str, reaches: bool, *, amount: float | None = None,
          currency: str | None = None, contracts: float | None = None, fraction: float | None = None,
          leverage: float | None = None, reason: str | None = None, step: float | None = None
          ) -> Suggestion:
    """A suggestion that records the goal it answers (no ratio goal: ``None``, not ∞)."""
    ratio = goal.margin_ratio if math.isfinite(goal.margin_ratio) else None
    return Suggestion(action, reaches, amount=amount, currency=currency, contracts=contracts,
                      fraction=fraction, leverage=leverage, reason=reason, step=step,
                      target_margin_ratio=ratio, target_distance=goal.distance)


def _add_margin(s: _Subject, goal: Goal) -> Suggestion:
    def ok(x: float) -> bool:
        return goal.met(*s.state(add=x))

    hi = max(s.unit.balance, 1.0)
    for _ in range(200):
        if ok(hi):
            break
        hi *= 2.0
    else:
        return _made(goal, "add_margin", False, currency=s.position.settle,
                     reason="no amount of margin brings it back to the target")
    exact = _bisect(ok, hi)
    step = amount_step(exact)
    amount = _smallest_multiple(ok, exact, step)
    return _made(goal, "add_margin", True, amount=amount, currency=s.position.settle, step=step)


def _reduce_size(s: _Subject, goal: Goal) -> Suggestion:
    p = s.position
    lot = lot_step(p)
    lots = math.floor(p.contracts / lot + 1e-9)  # lots that fit in the position

    def closed_of(k: int) -> float:
        return min(k * lot, p.contracts)

    def ok(k: int) -> bool:
        return goal.met(*s.state(closed=closed_of(k)))

    if s.isolated:
        if s.unit.balance + pnl_at(p, p.mark_price) <= 0.0:
            return _made(goal, "reduce_size", False,
                         reason="the position's margin balance is not positive; closing part of it "
                         "cannot restore it — add margin or close it")
        most = lots if lots * lot < p.contracts * (1 - 1e-9) else lots - 1  # keep some open
        k = _smallest_lots(ok, most)
        if k is None:
            return _made(goal, "reduce_size", False,
                         reason="closing part of an isolated position releases its margin in "
                         "proportion, so its ratio and liquidation price hardly move; add margin, "
                         "lower the leverage or close it")
    else:
        balance = s.unit.balance + sum(pnl_at(o, o.mark_price) for o in s.unit.positions)
        if balance <= 0.0:
            return _made(goal, "reduce_size", False,
                         reason="the pool's margin balance is not positive; closing positions at the "
                         "mark cannot restore it — add margin")
        most = lots + (1 if lots * lot < p.contracts * (1 - 1e-9) else 0)  # the last, partial lot
        k = _smallest_lots(ok, most)
        if k is None:
            held = sum(maintenance_at(o, s.rules, o.mark_price) for o in s.unit.positions if o is not p)
            return _made(
                goal, "reduce_size", False,
                reason="even closing the whole position leaves the pool at margin ratio "
                f"{_fmt(held / balance)}: the other positions hold {_fmt(held)} {p.settle} of "
                "maintenance margin",
            )
    closed = closed_of(k)
    return _made(goal, "reduce_size", True, contracts=closed, fraction=closed / p.contracts, step=lot)


def _set_leverage(s: _Subject, goal: Goal) -> Suggestion:
    p = s.position
    entry_value = value_at(p, p.entry_price)

    def ok(leverage: int) -> bool:
        return goal.met(*s.state(margin=entry_value / leverage))

    if not ok(1):
        return _made(goal, "set_leverage", False,
                     reason=f"even 1x (margin {_fmt(entry_value)} {p.settle}, the entry value) does "
                     "not reach the target; add margin instead")
    most = 1
    while most < 10_000 and ok(most * 2):
        most *= 2
    lo, hi = most, most * 2  # ok(lo), not ok(hi) (or hi beyond any venue's leverage)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return _made(goal, "set_leverage", True, leverage=float(lo))


def position_suggestions(
    p: Position, unit_positions: Sequence[Position], balance: float, rules: VenueRules, goal: Goal
) -> tuple[Suggestion, ...]:
    """Every kind of fix for ``p``: ``unit_positions`` and ``balance`` are its cross pool's positions
    and wallet, or (isolated) ``(p,)`` and its isolated margin."""
    isolated = p.margin_mode is MarginMode.ISOLATED
    subject = _Subject(p, Unit(p.settle, tuple(unit_positions), balance, isolated), rules)
    out = [_add_margin(subject, goal), _reduce_size(subject, goal)]
    if isolated:
        out.append(_set_leverage(subject, goal))
    return tuple(out)


# ---------------------------------------------------------------------------- cross pools


def add_margin(maintenance: float, balance: float, target: float, currency: str) -> Suggestion:
    """A cross pool back to ratio ``target``: closed form ``MM ÷ R − balance``, rounded up."""
    exact = maintenance / target - balance
    if not math.isfinite(exact):  # a target ratio so close to 0 that no amount reaches it
        return Suggestion("add_margin", False, currency=currency, target_margin_ratio=target,
                          reason="no finite amount of margin reaches the target")
    if exact <= 0:
        return Suggestion("add_margin", True, amount=0.0, currency=currency, target_margin_ratio=target)
    step = amount_step(exact)

    def ok(x: float) -> bool:
        return margin_ratio(maintenance, balance + x) <= target

    return Suggestion("add_margin", True, amount=_smallest_multiple(ok, exact, step), currency=currency,
                      step=step, target_margin_ratio=target)


def reduce_pool(
    positions: Sequence[Position], rules: VenueRules, balance: float, target: float
) -> Suggestion:
    """Close the same fraction of every cross position in the pool."""
    if balance <= 0.0:
        return Suggestion("reduce_size", False, target_margin_ratio=target,
                     reason="the pool's margin balance is not positive; "
                     "closing positions at the mark cannot restore it — add margin")

    def ok(fraction: float) -> bool:
        keep = 1.0 - fraction
        mm = sum(maintenance_at(dataclasses.replace(p, contracts=p.contracts * keep), rules, p.mark_price)
                 for p in positions) if keep > 0 else 0.0
        return mm / balance <= target

    exact = _bisect(ok, 1.0)
    fraction = _smallest_multiple(ok, exact, 0.001) if exact < 1.0 else 1.0  # whole tenths of a percent
    return Suggestion("reduce_size", True, fraction=min(fraction, 1.0), target_margin_ratio=target)


# ---------------------------------------------------------------------------- in words
# Kept local and simple so they can move to a shared display formatter later.


def _decimals(step: float | None) -> int:
    if step is None or not step > 0:
        return 8
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _up(x: float, step: float | None) -> float:
    """``x`` rounded UP to its step, so the figure shown still reaches the goal (an exact amount of an
    account-wide pool, :func:`desk.domain.unified.distance_suggestions`); amounts already a multiple
    of their step stay as they are."""
    if step is None or not step > 0 or not math.isfinite(x):
        return x
    return float(f"{math.ceil(x / step - 1e-9) * step:.12g}")


def _number(x: float, step: float | None) -> str:
    """``x`` at the precision of its rounding step, thousands separated: 8,920 / 0.102 / 1.334."""
    text = f"{x:,.{_decimals(step)}f}"
    return text.rstrip("0").rstrip(".") if "." in text and step is None else text


def goal_text(target_margin_ratio: float | None, target_distance: float | None) -> str:
    """"back to 10 % from liquidation and margin ratio 50 %"."""
    parts = []
    if target_distance is not None:
        parts.append(f"{display.threshold_percent(target_distance)} from liquidation")
    if target_margin_ratio is not None and math.isfinite(target_margin_ratio):
        parts.append(f"margin ratio {display.threshold_percent(target_margin_ratio)}")
    return "back to " + " and ".join(parts) if parts else ""


def convention_text(s: Suggestion) -> str:
    """Which liquidation price the goal is counted on, where it is not the venue's: "" otherwise."""
    if s.moves_with is None or s.target_distance is None:
        return ""
    return (f"liquidation with the pool's {s.moves_with} collateral moving with the price, desk's "
            "wrong-way figure")


def suggestion_text(s: Suggestion, settle: str | None = None, *, with_goal: bool = True) -> str:
    """One suggestion for a person, with its currency and (``with_goal``) the goal it reaches:
    "add 8,920 USDT of margin to get back to 10 % from liquidation and margin ratio 50 %"."""
    goal = goal_text(s.target_margin_ratio, s.target_distance) if with_goal else ""
    to_goal = f" to get {goal}" if goal else ""
    if not s.reaches_target:
        return f"{s.action.replace('_', ' ')}: no fix of this kind — {s.reason}"
    moving = convention_text(s)
    to_goal += f" ({moving})" if moving and with_goal else ""
    if s.action == "add_margin" and s.amount is not None:
        amount = f"{_number(_up(s.amount, s.step), s.step)} {s.currency or settle or ''}"
        if s.haircut is not None:  # collateral of an account-wide pool, counted after its haircut
            cut = f" (its {display.percent(s.haircut)} haircut applied)" if s.haircut > 1e-12 else ""
            return f"add {amount} as collateral{cut}{to_goal}"
        return f"add {amount} of margin{to_goal}"
    if s.action == "reduce_size":
        if s.contracts is not None and s.fraction is not None:
            return (f"cut {_number(_up(s.contracts, s.step), s.step)} contracts ({s.fraction * 100:.1f} % of "
                    f"the position){to_goal}")
        if s.fraction is not None:
            return f"cut every position in the pool by {s.fraction * 100:.1f} %{to_goal}"
    if s.action == "set_leverage" and s.leverage is not None:
        return f"set leverage to {s.leverage:g}x{to_goal}"
    return s.action.replace("_", " ")


def advice_text(suggestions: Sequence[Suggestion], settle: str | None = None) -> str:
    """The fixes that reach the goal as one sentence, for a notification or a tooltip ("" if none):
    "To get back to 10 % from liquidation and margin ratio 50 %: add 8,920 USDT of margin, or set
    leverage to 6x."."""
    reaching = [s for s in suggestions if s.reaches_target]
    if not reaching:
        return ""
    goal = goal_text(reaching[0].target_margin_ratio, reaching[0].target_distance)
    moving = convention_text(reaching[0])
    goal += f" ({moving})" if moving and goal else ""
    fixes = ", or ".join(suggestion_text(s, settle, with_goal=False) for s in reaching)
    return f"To get {goal}: {fixes}." if goal else f"Fix: {fixes}."
