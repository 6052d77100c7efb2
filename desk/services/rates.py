"""Counts over the last minute: venue request weight and stream messages per account."""

from __future__ import annotations

from collections import deque


class PerMinute:
    """A sliding one-minute sum of amounts stamped with a clock time (seconds)."""

    WINDOW = 60.0

    def __init__(self) -> None:
        self._items: deque[tuple[float, float]] = deque()
        self._total = 0.0

    def add(self, at: float, amount: float = 1.0) -> None:
        if amount <= 0:
            return
        self._items.append((at, amount))
        self._total += amount

    def total(self, now: float) -> float:
        cutoff = now - self.WINDOW
        while self._items and self._items[0][0] <= cutoff:
            self._total -= self._items.popleft()[1]
        if not self._items:
            self._total = 0.0  # no drift from float sums
        return self._total
