"""What every benchmark prints beside its figures: min/median/max, the load, and a same-run baseline.

The machine is shared, so a figure alone says little: the *reference job* — a fixed piece of
Python and SQLite work that no desk change touches — is timed in the same run, between the
measurements, and each figure is also given as a multiple of it. Two runs on a busier or a faster
machine compare by that ratio, not by milliseconds.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence

_REFERENCE_ROWS = [(float(i), *(i * 0.5 + k for k in range(15))) for i in range(220)]


def reference_job_ms() -> float:
    """Wall time of the fixed job: 220 rows of 16 floats into a fresh in-memory table, read back."""
    start = time.perf_counter()
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE t ({', '.join(f'c{k} REAL' for k in range(16))})")
    conn.executemany(f"INSERT INTO t VALUES ({', '.join('?' * 16)})", _REFERENCE_ROWS)
    total = sum(row[1] for row in conn.execute("SELECT * FROM t"))
    conn.close()
    assert total > 0
    return (time.perf_counter() - start) * 1000


class Reference:
    """Times the reference job whenever asked (between measurements) and keeps every time."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def sample(self, repeats: int = 5) -> None:
        self.times.extend(reference_job_ms() for _ in range(repeats))

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def ratio(self, figure_ms: float) -> str:
        return f"{figure_ms / self.median:.1f}x the reference job"

    def describe(self) -> str:
        return f"reference job (same run, {len(self.times)} times): {spread(self.times)} ms"


def timed(work: Callable[[], object], reference: Reference, runs: int) -> list[float]:
    """``work``'s wall time in ms, ``runs`` times, with one reference sample after each run (so the
    baseline is measured under the same load as the figure)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
        reference.sample(1)
    return times


def spread(values: Sequence[float], digits: int = 2) -> str:
    """'min a / median b / max c' of the values."""
    return (f"min {min(values):.{digits}f} / median {statistics.median(values):.{digits}f} / "
            f"max {max(values):.{digits}f}")


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"
