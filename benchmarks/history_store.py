"""History store figures: write cost per tick, read cost for a chart, compaction, size per day.

Run: ``.venv/bin/python -m benchmarks.history_store [--hours 24] [--ticks 300] [--reads 7]``
(uses a temporary folder; prints figures). A deliberately large desk (10 accounts x 20 positions
= 220 rows per tick), sampled every 10 s:

1. the day grows: ``--hours`` of ticks recorded one by one into an empty file (mean per tick);
2. steady state on the full day: ``--ticks`` more ticks, each timed (min/median/max and mean —
   the mean carries the WAL checkpoints and the moves of recent samples, which land on a few
   ticks). Target <= 5 ms per tick. Given apart: the wall time (which also waits for the disk and
   for a core), the writer thread's CPU time, the CPU of building the rows in Python alone, and the
   bytes the process handed to write() per tick (the WAL, and its checkpoints into the file);
3. a 24 h position series read whole (``History.samples``) and as the chart reads it (five
   columns, ``History.series``), ``--reads`` times each. Target <= 30 ms;
4. the hourly compaction, then the backlog of the rest of the day.

Every figure is also given as a multiple of the reference job (benchmarks/figures.py) timed in the
same run, with the load average: compare runs by that ratio on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.figures import Reference, load_line, spread
from desk.store.history import History, _account_rows
from tests.support.store import report

ACCOUNTS = 10
POSITIONS = 20
CADENCE = 10.0
CHART_COLUMNS = ("margin_ratio", "distance_to_liquidation", "mark_price", "liquidation_price",
                 "reported_liquidation_price")  # desk.ui.charts.history's curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=24.0, help="history recorded before measuring")
    parser.add_argument("--ticks", type=int, default=300, help="ticks timed one by one on the full file")
    parser.add_argument("--reads", type=int, default=7, help="times the series is read")
    args = parser.parse_args()
    reference = Reference()
    reference.sample(20)
    print(load_line())
    symbols = tuple(f"C{i}/USDT:USDT" for i in range(POSITIONS))
    extra = tuple(f"acct{i}" for i in range(1, ACCOUNTS))
    rows_per_tick = ACCOUNTS * (1 + 1 + POSITIONS)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.sqlite3"
        h = History(path, sample_seconds=CADENCE, max_megabytes=10_000)  # measure, do not bound
        t0 = 1_700_000_000.0
        fill = int(args.hours * 3600 / CADENCE)
        r = report(symbols=symbols, extra_accounts=extra)
        h.compact(t0)  # so record() does not compact inside the timed loop
        start = time.perf_counter()
        for i in range(fill):
            h._last_compact = t0 + i * CADENCE  # keep the hourly compaction out of the write figure
            h.record(r, t0 + i * CADENCE)
        elapsed = time.perf_counter() - start
        print(f"record while {args.hours:g} h grow: {fill} ticks x {rows_per_tick} rows in {elapsed:.2f} s "
              f"= {elapsed / fill * 1000:.2f} ms per tick ({ACCOUNTS} accounts x {POSITIONS} positions)")
        day_bytes = h.used_bytes()
        print(f"{args.hours:g} h at {CADENCE:.0f} s cadence: {day_bytes / 1e6:.1f} MB in use")

        reference.sample()
        ticks, cpu = [], []
        written = _written_bytes()
        for i in range(fill, fill + args.ticks):
            h._last_compact = t0 + i * CADENCE
            start, on_cpu = time.perf_counter(), time.thread_time()
            h.record(r, t0 + i * CADENCE)
            ticks.append((time.perf_counter() - start) * 1000)
            cpu.append((time.thread_time() - on_cpu) * 1000)
        written = _written_bytes() - written if written >= 0 else -1
        mean = statistics.fmean(ticks)
        print(f"record one tick on the full file ({args.ticks} ticks), wall: {spread(ticks)} ms, "
              f"mean {mean:.2f} ms; median = {reference.ratio(statistics.median(ticks))} (target <= 5 ms)")
        # the rest of the wall time is waiting: for the disk (the WAL, checkpoints) or for a core
        print(f"  the writer thread's CPU: {spread(cpu)} ms, mean {statistics.fmean(cpu):.2f} ms; "
              f"median = {reference.ratio(statistics.median(cpu))}")
        building = []
        for _ in range(args.reads * 5):
            on_cpu = time.thread_time()
            for account in r.accounts:
                _account_rows(account, t0)
            building.append((time.thread_time() - on_cpu) * 1000)
        print(f"  of which building the {rows_per_tick} rows in Python (CPU): {spread(building)} ms")
        if written >= 0:
            print(f"  handed to write(): {written / args.ticks / 1024:.0f} KiB per tick "
                  f"(~{written / args.ticks / 4096:.0f} pages)")

        reference.sample()
        reads = []
        for _ in range(args.reads):
            start = time.perf_counter()
            rows = h.samples(account="main", symbol="C7/USDT:USDT")
            reads.append((time.perf_counter() - start) * 1000)
        print(f"read a {args.hours:g} h position series ({len(rows)} samples, {args.reads} reads): "
              f"{spread(reads, 1)} ms = {reference.ratio(statistics.median(reads))} (target <= 30 ms)")
        charts = []
        for _ in range(args.reads):
            start = time.perf_counter()
            drawn = h.series(CHART_COLUMNS, account="main", symbol="C7/USDT:USDT")
            charts.append((time.perf_counter() - start) * 1000)
        print(f"the same series as the history chart reads it ({len(CHART_COLUMNS)} columns of "
              f"{len(drawn['at'])} samples, {args.reads} reads): {spread(charts, 1)} ms = "
              f"{reference.ratio(statistics.median(charts))} (target <= 30 ms)")

        reference.sample()
        end = t0 + (fill + args.ticks) * CADENCE
        start = time.perf_counter()
        h.compact(end + 3600)  # the hourly routine: one hour of fine samples crosses the horizon
        hourly = time.perf_counter() - start
        print(f"hourly compaction (one hour of fine samples -> 5-min samples): {hourly:.2f} s")
        start = time.perf_counter()
        h.compact(end + 86400)  # the rest: a backlog, compacted in one-hour transactions
        backlog = time.perf_counter() - start
        coarse = h.used_bytes()
        print(f"backlog compaction of the rest: {backlog:.2f} s; {coarse / 1e6:.2f} MB coarse")
        h.close()
    reference.sample()
    print(reference.describe())
    print(load_line())


def _written_bytes() -> int:
    """Bytes this process has passed to write() so far (Linux), or -1 where unknown."""
    try:
        with open("/proc/self/io") as io:
            return next(int(line.split()[1]) for line in io if line.startswith("wchar:"))
    except (OSError, StopIteration):
        return -1


if __name__ == "__main__":
    main()
