"""Ours vs the exchange's liquidation price, compared like with like (risk-math.md §1.1, §7.3, §7.7).

A cross position's liquidation price is conditional on every mark in its pool at the moment it is
computed (§1.1), and the exchange's figure is as old as the account read it came with (§7.7). The
comparison is therefore made once per account read, with desk's figure computed from exactly the
inputs of that read (the read's marks, balances and positions), never against newer marks.

Venues display liquidation prices rounded to the tick (§7.3, §7.4), so the gap is measured in
ticks; without a tick size it is relative to the exchange's figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: the default tolerance, declared once (the alert thresholds use it; a test holds the settings default to it)
DEFAULT_TICKS = 2.0
DEFAULT_RELATIVE = 0.001  # |ours − theirs| ÷ |theirs|, used without a tick size


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far apart the two figures may be before they disagree (``alerts.disagree_ticks``)."""

    ticks: float = DEFAULT_TICKS
    relative: float = DEFAULT_RELATIVE

    def describe(self, has_tick: bool) -> str:
        return f"{self.ticks:g} ticks" if has_tick else f"{self.relative * 100:g} %"


@dataclass(frozen=True, slots=True)
class Gap:
    ours: float | None  # None: desk finds no liquidation price for these inputs
    theirs: float
    ticks: float | None  # |ours − theirs| ÷ tick size (None without a tick size, or ours None)
    relative: float | None  # |ours − theirs| ÷ |theirs| (None when ours is None or theirs is 0)
    disagrees: bool
    tolerance: str  # the tolerance applied, in words ("2 ticks", "0.1 %")


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def liquidation_gap(ours: float | None, theirs: float | None, tick_size: float | None,
                    tolerance: Tolerance | None = None) -> Gap | None:
    """The gap between desk's and the exchange's liquidation price at the same inputs.

    None when there is nothing to compare (the exchange reports no liquidation price). When only
    the exchange finds one, they disagree. ``tick_size`` ≤ 0 or None falls back to the relative
    tolerance.
    """
    if not _finite(theirs):
        return None
    assert theirs is not None
    tol = tolerance or Tolerance()
    has_tick = tick_size is not None and math.isfinite(tick_size) and tick_size > 0
    words = tol.describe(has_tick)
    if not _finite(ours):
        return Gap(None, theirs, None, None, True, words)
    assert ours is not None
    diff = abs(ours - theirs)
    relative = diff / abs(theirs) if theirs else None
    if has_tick:
        assert tick_size is not None
        ticks: float | None = diff / tick_size
        # a hair of slack for binary floating point: 2.0000000001 ticks is 2 ticks
        disagrees = ticks is not None and ticks > tol.ticks + 1e-6
    else:
        ticks = None
        disagrees = diff > tol.relative * abs(theirs) * (1 + 1e-9)
    return Gap(ours, theirs, ticks, relative, disagrees, words)
