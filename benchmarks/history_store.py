"""History store figures: write cost per sample, read cost for a chart, compaction, size per day.

Run: ``.venv/bin/python -m benchmarks.history_store`` (uses a temporary folder; prints figures).
A deliberately large desk (10 accounts x 20 positions = 220 rows per tick). Targets: a tick
recorded far inside the 10 s cadence (< 50 ms); a 24 h position series read for a chart in
< 250 ms; the hourly compaction < 2 s. The 90-day size scales with rows per tick: the printed
estimate shows when ``history.max_megabytes`` will start deleting the oldest samples.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from desk.store.history import History
from tests.support.store import report

ACCOUNTS = 10
POSITIONS = 20
DAY = 86400
CADENCE = 10.0


def main() -> None:
    symbols = tuple(f"C{i}/USDT:USDT" for i in range(POSITIONS))
    extra = tuple(f"acct{i}" for i in range(1, ACCOUNTS))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.sqlite3"
        h = History(path, sample_seconds=CADENCE, max_megabytes=10_000)  # measure, do not bound
        t0 = 1_700_000_000.0
        ticks = int(DAY / CADENCE)
        r = report(symbols=symbols, extra_accounts=extra)
        h.compact(t0)  # so record() does not compact inside the timed loop
        start = time.perf_counter()
        for i in range(ticks):
            h._last_compact = t0 + i * CADENCE  # keep the hourly compaction out of the write figure
            h.record(r, t0 + i * CADENCE)
        elapsed = time.perf_counter() - start
        rows_per_tick = ACCOUNTS * (1 + 1 + POSITIONS)
        print(f"record: {ticks} ticks x {rows_per_tick} rows in {elapsed:.2f} s "
              f"= {elapsed / ticks * 1000:.2f} ms per tick ({ACCOUNTS} accounts x {POSITIONS} positions)")
        day_bytes = h.used_bytes()
        print(f"one day at {CADENCE:.0f} s cadence: {day_bytes / 1e6:.1f} MB in use")

        start = time.perf_counter()
        rows = h.samples(account="main", symbol="C7/USDT:USDT")
        read = time.perf_counter() - start
        print(f"read a 24 h position series ({len(rows)} samples): {read * 1000:.1f} ms")

        start = time.perf_counter()
        h.compact(t0 + DAY + 3600)  # the hourly routine: one hour of fine samples crosses the horizon
        hourly = time.perf_counter() - start
        print(f"hourly compaction (one hour of fine samples -> 5-min samples): {hourly:.2f} s")
        start = time.perf_counter()
        h.compact(t0 + 2 * DAY)  # the rest of the day: a backlog, compacted in one-hour transactions
        backlog = time.perf_counter() - start
        coarse = h.used_bytes()
        print(f"backlog compaction of the other 23 h: {backlog:.2f} s; {coarse / 1e6:.2f} MB per coarse day; "
              f"90 coarse days + 1 fine day ~ {(90 * coarse + day_bytes) / 1e6:.0f} MB")
        h.close()


if __name__ == "__main__":
    main()
