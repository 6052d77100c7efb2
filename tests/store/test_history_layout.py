"""History's two sample tables: a tick is appended to recent_samples (time first) and moved into
samples (subject first) in batches. Every read returns exactly what was recorded at every tick,
before, during and after a move; a time recorded again replaces its row wherever it is; a clock
that went back still reads in time order; a file of the previous schema (4) opens with its series."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from desk.store.history import MIGRATIONS, RECENT_SERIES_SQL, SCHEMA_VERSION, History, series_sql
from tests.support.store import report

T0 = 1_700_000_000.0
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
SYMBOLS = (BTC, ETH)  # with the account and its pool: 4 rows a tick


def _mark(i: int) -> float:
    return 100.0 + i * 1.25


def _ratio(i: int) -> float:
    return 0.2 + (i % 7) / 100


def _stored(path: Path) -> tuple[int, int]:
    """(rows in samples, rows in recent_samples)."""
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("SELECT count(*) FROM samples").fetchone()[0],
                conn.execute("SELECT count(*) FROM recent_samples").fetchone()[0])
    finally:
        conn.close()


def test_every_tick_reads_exactly_before_during_and_after_the_moves(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    seen_split = False
    with History(path, sample_seconds=10, merge_rows=10) as h:  # moved every third tick
        for i in range(14):
            at = T0 + 10 * i
            other = ("late",) if i == 13 else ()  # an account only in recent_samples (moved at 12)
            assert h.record(report(mark=_mark(i), ratio=_ratio(i), symbols=SYMBOLS, extra_accounts=other), at)
            times = [T0 + 10 * k for k in range(i + 1)]
            eth = h.samples(account="main", symbol=ETH, leg="both")
            assert [(s.at, s.mark_price, s.margin_ratio, s.coarse) for s in eth] == [
                (T0 + 10 * k, _mark(k), _ratio(k), False) for k in range(i + 1)]
            assert h.series(("mark_price", "margin_ratio"), account="main", symbol=ETH) == {
                "at": times, "mark_price": [_mark(k) for k in range(i + 1)],
                "margin_ratio": [_ratio(k) for k in range(i + 1)]}
            assert [s.margin_ratio for s in h.samples(account="main")] == [_ratio(k) for k in range(i + 1)]
            assert [s.at for s in h.samples(account="main", since=T0 + 15, until=at)] == times[2:]
            assert h.positions("main") == [(BTC, "both"), (ETH, "both")]
            assert h.accounts() == (["late", "main"] if i == 13 else ["main"])
            everything = h.all_samples()
            assert len(everything) == 4 * (i + 1) + (4 if i == 13 else 0)
            assert [s.at for s in everything] == sorted(s.at for s in everything)
            moved, recent = _stored(path)
            assert moved + recent == len(everything)
            seen_split |= moved > 0 and recent > 0
        assert seen_split  # the reads above really joined both tables; the moves came by themselves:
        assert _stored(path) == (4 * 13, 8)
        assert [s.mark_price for s in h.samples(account="late", symbol=ETH)] == [_mark(13)]
        assert h.positions("late") == [(BTC, "both"), (ETH, "both")]


def test_a_tick_is_appended_to_recent_samples_and_leaves_samples_alone(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with History(path, sample_seconds=10, merge_rows=1000) as h:
        h.record(report(symbols=SYMBOLS), T0)  # the first record compacts, which moves everything
        assert _stored(path) == (4, 0)
        for i in range(1, 4):
            h.record(report(mark=_mark(i), symbols=SYMBOLS), T0 + 10 * i)
        assert _stored(path) == (4, 12)
        h.compact(T0 + 40)  # compaction sees every sample: it moves them first
        assert _stored(path) == (16, 0)
        assert [s.mark_price for s in h.samples(account="main", symbol=BTC)] == [100.0] + [
            _mark(i) for i in range(1, 4)]


def test_a_time_recorded_again_replaces_its_row_wherever_it_is(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with History(path, sample_seconds=10, merge_rows=1000) as h:
        for i in range(4):
            h.record(report(mark=_mark(i), symbols=SYMBOLS), T0 + 10 * i)
        h.compact(T0 + 40)
        assert _stored(path) == (16, 0)
    # a restarted desk (no memory of its last samples) records T0 + 10 again, and once more
    with History(path, sample_seconds=10, merge_rows=1000) as h:
        h._last_compact = T0  # keep compaction (and its move) out: the new row stays in recent_samples
        assert h.record(report(mark=500.0, symbols=SYMBOLS), T0 + 10)
        assert _stored(path) == (12, 4)  # the moved row it replaces is gone from samples
        marks = [(s.at, s.mark_price) for s in h.samples(account="main", symbol=BTC)]
        assert marks == [(T0, _mark(0)), (T0 + 10, 500.0), (T0 + 20, _mark(2)), (T0 + 30, _mark(3))]
        assert h.series(("mark_price",), account="main", symbol=BTC) == {
            "at": [t for t, _ in marks], "mark_price": [m for _, m in marks]}
    with History(path, sample_seconds=10, merge_rows=1000) as h:
        h._last_compact = T0
        assert h.record(report(mark=600.0, symbols=SYMBOLS), T0 + 10)  # replaces the recent row
        assert _stored(path) == (12, 4)
        h.compact(T0 + 40)
        assert _stored(path) == (16, 0)
        assert [s.mark_price for s in h.samples(account="main", symbol=BTC)] == [
            _mark(0), 600.0, _mark(2), _mark(3)]


def test_a_clock_that_went_back_still_reads_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with History(path, sample_seconds=10, merge_rows=1000) as h:
        for i in range(4):
            h.record(report(mark=_mark(i), symbols=SYMBOLS), T0 + 10 * i)
        h.compact(T0 + 40)  # moved
        h._last_compact = T0  # a clock gone back would compact (and move) at once: not this time
        assert h.record(report(mark=7.0, symbols=SYMBOLS), T0 + 15)  # backwards: recorded at once
        assert _stored(path) == (16, 4)
        at = [T0, T0 + 10, T0 + 15, T0 + 20, T0 + 30]
        marks = [_mark(0), _mark(1), 7.0, _mark(2), _mark(3)]
        read = h.samples(account="main", symbol=BTC)
        assert [(s.at, s.mark_price) for s in read] == list(zip(at, marks, strict=True))
        assert h.series(("mark_price",), account="main", symbol=BTC, leg="both") == {
            "at": at, "mark_price": marks}
        early = h.samples(account="main", symbol=BTC, until=T0 + 15)
        assert [s.at for s in early] == at[:3]


def test_a_recent_series_is_read_by_its_time_key_without_a_scan_or_a_sort(tmp_path: Path) -> None:
    with History(tmp_path / "h.db", sample_seconds=10) as h:
        for k in range(3):
            h.record(report(symbols=SYMBOLS, extra_accounts=("other",)), T0 + 10 * k)
    conn = sqlite3.connect(tmp_path / "h.db")
    for sql in (RECENT_SERIES_SQL, series_sql(("at", "mark_price"), "recent_samples")):
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", (3, T0, T0 + 10))]
        assert plan == ["SEARCH recent_samples USING PRIMARY KEY (at>? AND at<?)"], plan
    conn.close()


def schema_4_database(path: Path) -> None:
    """A history as the desk before recent_samples left it: schema 4, made by its own migrations."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.execute("INSERT INTO subjects (id, kind, account, settle, symbol, leg, margin_mode) VALUES "
                 "(1, 'account', 'main', 'USDT', '', '', ''), "
                 "(2, 'position', 'main', 'USDT', ?, 'both', 'cross')", (BTC,))
    for i in range(5):
        conn.execute("INSERT INTO samples (subject, at, coarse, side, mark_price, margin_ratio) "
                     "VALUES (2, ?, ?, 'long', ?, 0.25)", (T0 + i * 300, int(i < 2), 60_000.0 + i))
        conn.execute("INSERT INTO samples (subject, at, coarse, margin_ratio) VALUES (1, ?, ?, ?)",
                     (T0 + i * 300, int(i < 2), 0.3 + i / 100))
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()


def test_a_schema_4_file_opens_with_its_series_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    schema_4_database(path)
    with History(path, sample_seconds=10, merge_rows=1000) as h:
        assert h.schema_version == SCHEMA_VERSION == 5
        assert any("schema 4 upgraded to 5" in p for p in h.problems)
        btc = h.samples(account="main", symbol=BTC, leg="both")
        assert [(s.at, s.mark_price, s.side, s.coarse) for s in btc] == [
            (T0 + i * 300, 60_000.0 + i, "long", i < 2) for i in range(5)]
        assert [s.margin_ratio for s in h.samples(account="main")] == pytest.approx(
            [0.3 + i / 100 for i in range(5)])
        h._last_compact = T0 + 1500  # the recorded tick stays in recent_samples
        assert h.record(report(mark=61_000.0), T0 + 1500)
        assert _stored(path) == (10, 3)
        assert h.series(("mark_price",), account="main", symbol=BTC) == {
            "at": [T0 + i * 300 for i in range(6)],
            "mark_price": [60_000.0 + i for i in range(5)] + [61_000.0]}
        assert h.integrity_check() == "ok"
    backups = list(tmp_path.glob("h.db.v4-backup-*"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert old.execute("PRAGMA user_version").fetchone()[0] == 4
    assert old.execute("SELECT count(*) FROM samples").fetchone()[0] == 10
    old.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def test_a_move_committed_between_the_two_reads_of_a_series_hides_nothing(tmp_path: Path) -> None:
    # The chart reads on the UI thread while the writer thread moves recent_samples into samples: a
    # series read from samples, then from recent_samples, must see one state of the file.
    path = tmp_path / "h.db"
    with History(path, sample_seconds=10, merge_rows=1000) as writer, History(path) as reader:
        for i in range(5):
            writer.record(report(mark=_mark(i), symbols=SYMBOLS), T0 + 10 * i)
        assert _stored(path) == (4, 16)
        moved: list[str] = []
        writers = [writer]

        def move_meanwhile(sql: str) -> None:
            if "FROM recent_samples" in sql and not moved:
                moved.append(sql)
                writers[-1]._merge()  # committed by the other connection, between the reader's two reads

        reader._conn().set_trace_callback(move_meanwhile)
        marks = [s.mark_price for s in reader.samples(account="main", symbol=BTC)]
        assert moved and _stored(path) == (20, 0)
        assert marks == [_mark(i) for i in range(5)]
        moved.clear()
        with History(path, sample_seconds=10, merge_rows=1000) as again:
            again._last_compact = T0
            again.record(report(mark=_mark(5), symbols=SYMBOLS), T0 + 50)
            assert _stored(path) == (20, 4)
            writers.append(again)
            drawn = reader.series(("mark_price",), account="main", symbol=BTC)
        assert moved and drawn["mark_price"] == [_mark(i) for i in range(6)]
        reader._conn().set_trace_callback(None)
