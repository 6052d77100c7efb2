from __future__ import annotations

import random

import pytest

from desk.services.backoff import Backoff
from desk.services.rates import PerMinute


def test_backoff_grows_is_capped_and_jittered():
    b = Backoff(1.0, 8.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    for d, c in zip(delays, ceilings, strict=True):
        assert c / 2 <= d <= c
    assert len(set(delays)) == len(delays)  # jittered, not lock-step
    b.reset()
    assert b.next_delay() <= 1.0


def test_backoff_honours_retry_after():
    b = Backoff(1.0, 8.0, rng=random.Random(1))
    assert b.next_delay(retry_after=30.0) == 30.0
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_per_minute_window():
    w = PerMinute()
    w.add(0.0, 5)
    w.add(30.0, 10)
    w.add(30.0, 0)
    assert w.total(59.0) == 15
    assert w.total(60.5) == 10
    assert w.total(91.0) == 0
