"""Retry delays for a venue that failed: exponential, capped, with jitter.

Jitter keeps several accounts on one exchange (one IP) from retrying in lock-step after a shared
outage. A server's own ``retry_after`` (429 / 418 Retry-After) is never undercut.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, initial: float = 1.0, maximum: float = 60.0, *, factor: float = 2.0,
                 rng: random.Random | None = None):
        if initial <= 0 or maximum < initial:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self, retry_after: float | None = None) -> float:
        """The wait before the next attempt, counting this failure."""
        ceiling = min(self.maximum, self.initial * self.factor ** self.failures)
        self.failures += 1
        # "equal jitter": at least half the ceiling, so a failing venue is never hammered
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        return delay

    def reset(self) -> None:
        self.failures = 0
