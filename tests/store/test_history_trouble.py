"""Issue 14 part 5: a full disk, a read-only home or corrupt pages never hide or lose a healthy history.

Through the real entry point — `desk watch --demo` as a subprocess — with the history file made full
or read-only by SQLite itself (tests/support/history_faults.py) or with its middle pages overwritten,
then `desk export history --demo`; the store's own behaviour (queue bound, backoff, quick_check,
0600) with real SQLite errors in process.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from desk.store.history import CORRUPT, FULL, IO_ERROR, LOCKED, READ_ONLY, History, classify
from desk.store.paths import desk_paths
from tests.support.store import report

ROOT = Path(__file__).resolve().parents[2]
TRACEBACK = "Traceback (most recent call last)"


class Watch:
    """A running `desk watch --demo` (through the fault shim), its stdout read line by line."""

    def __init__(self, env: dict[str, str], control: Path, stderr: Path, *, json_lines: bool = False) -> None:
        self.json_lines = json_lines
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        with stderr.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.history_faults", str(control), "watch", "--demo",
                 "--speed", "10", "--seed", "3", "--no-alerts", *(["--json-lines"] if json_lines else [])],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)
        out = self.proc.stdout
        assert out is not None
        def read() -> None:
            for line in out:
                self._queue.put(line)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def wait_for(self, seen: Callable[[list[str]], bool], what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not seen(self.lines):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"never saw {what}; output:\n{''.join(self.lines)}")
            try:
                self.lines.append(self._queue.get(timeout=min(left, 1.0)))
            except queue.Empty:
                continue

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def tables(self) -> int:
        if self.json_lines:
            return sum(json.loads(line)["type"] == "snapshot" for line in self.lines)
        return sum(line.startswith("— ") for line in self.lines)

    def history_events(self) -> list[dict[str, Any]]:
        return [doc for doc in map(json.loads, self.lines) if doc["type"] == "history"]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=30)
        self._reader.join(10)
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return code


def _env(subprocess_env: dict[str, str]) -> dict[str, str]:
    subprocess.run([sys.executable, "-m", "desk", "config", "set", "history.sample_seconds", "1"],
                   cwd=ROOT, env=subprocess_env, check=True, capture_output=True)
    return subprocess_env


def _count(path: Path) -> int:
    """Sample rows in the file: those moved into samples and those still in recent_samples."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT (SELECT count(*) FROM samples) + "
                                "(SELECT count(*) FROM recent_samples)").fetchone()[0])
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # the file is made (0600) a moment before its tables
            return 0
        raise
    finally:
        conn.close()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("mode, trouble, json_lines", [("full", FULL, False), ("read-only", READ_ONLY, False),
                                                       ("full", FULL, True)])
def test_watch_keeps_samples_through_a_full_disk_and_says_so_once(
        subprocess_env: dict[str, str], tmp_path: Path, mode: str, trouble: str, json_lines: bool) -> None:
    env = _env(subprocess_env)
    control = tmp_path / "control"
    control.write_text("ok")
    db = desk_paths().demo_history_db
    watch = Watch(env, control, tmp_path / "stderr.txt", json_lines=json_lines)
    try:
        watch.wait_for(lambda _: db.exists() and _count(db) > 0, "the first samples written")
        control.write_text(mode)
        watch.wait_for(lambda _: watch.count("history not being recorded") == 1, "the trouble reported")
        stalled = _count(db)
        tables = watch.tables()
        # samples keep coming while the file takes none: they wait in memory
        watch.wait_for(lambda _: watch.tables() >= tables + 3, "three more tables")
        assert _count(db) == stalled
        control.write_text("ok")  # space returns
        watch.wait_for(lambda _: watch.count("history recorded again") == 1, "the recovery reported")
    finally:
        code = watch.stop()
    err = (tmp_path / "stderr.txt").read_text()
    out = "".join(watch.lines)
    assert code == 0, err
    assert TRACEBACK not in out and TRACEBACK not in err
    down = [line for line in watch.lines if "history not being recorded" in line]
    up = [line for line in watch.lines if "history recorded again" in line]
    assert len(down) == 1 and len(up) == 1, out
    assert f"not being recorded: {trouble} (" in down[0]
    assert "rows dropped" not in up[0]
    written = int(up[0].split("again: ")[1].split(" queued")[0])
    if json_lines:
        stopped, resumed = watch.history_events()
        assert stopped["recording"] is False and stopped["trouble"] == trouble and stopped["queued"] > 0
        assert resumed["recording"] is True and resumed["written_after"] == written
        assert resumed["dropped"] == stopped["dropped"] == 0
    # the samples taken while the file was full were all written once space returned (how many
    # depends on how fast the loaded machine ran the demo, so the test counts what was written)
    assert written > 0
    assert _count(db) >= stalled + written

    # The healthy file was never moved, and holds what was queued.
    assert not list(db.parent.glob("*.corrupt-*"))
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    conn.close()
    assert _count(db) >= stalled + written

    exported = subprocess.run(
        [sys.executable, "-m", "desk", "export", "history", "--demo", "--format", "json"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    rows = json.loads(exported.stdout)
    assert len(rows) == _count(db) and {r["account"] for r in rows} >= {"demo-binance-usdm"}


@pytest.mark.integration
@pytest.mark.slow
def test_watch_moves_a_corrupt_history_aside_once_and_says_so_once(
        subprocess_env: dict[str, str], tmp_path: Path) -> None:
    env = _env(subprocess_env)
    db = desk_paths().ensure().demo_history_db
    with History(db, sample_seconds=1) as history:
        for i in range(400):
            history.record(report(symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), mark=100 + i % 7), 1e6 + i)
    pages = db.stat().st_size // 4096
    assert pages > 20
    with db.open("r+b") as f:  # the header page stays intact; pages in the middle become noise
        for page in range(pages // 3, 2 * pages // 3):
            f.seek(page * 4096 + 100)
            f.write(b"\xa5" * 3000)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] > 0
    conn.close()

    control = tmp_path / "control"
    control.write_text("ok")
    watch = Watch(env, control, tmp_path / "stderr.txt")
    try:
        watch.wait_for(lambda _: watch.count("is corrupt") == 1, "the corrupt file reported")
        moved = watch.tables()
        watch.wait_for(lambda _: watch.tables() >= moved + 5, "five more tables")
    finally:
        code = watch.stop()
    err = (tmp_path / "stderr.txt").read_text()
    out = "".join(watch.lines)
    assert code == 0, err
    assert TRACEBACK not in out and TRACEBACK not in err
    assert watch.count("is corrupt") == 1 and watch.count("moved to") == 1, out
    assert "history not being recorded" not in out
    aside = list(db.parent.glob(f"{db.name}.corrupt-*"))
    assert len(aside) == 1 and aside[0].name in out
    fresh = sqlite3.connect(db)
    assert fresh.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    accounts = {r[0] for r in fresh.execute("SELECT DISTINCT account FROM subjects")}
    fresh.close()
    assert "demo-binance-usdm" in accounts and "main" not in accounts


# --- the store itself, with real SQLite errors -------------------------------------------------------

class CappedHistory(History):
    """A History whose connections SQLite caps at ``cap`` pages (SQLITE_FULL beyond), or read-only."""

    cap: int | None = None
    read_only = False

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        if self.cap is not None:
            conn.execute(f"PRAGMA max_page_count = {self.cap}")
        conn.execute(f"PRAGMA query_only = {int(self.read_only)}")
        return conn

    def set_cap(self, cap: int | None, read_only: bool = False) -> None:
        self.cap, self.read_only = cap, read_only
        conn = self._conn()
        conn.execute(f"PRAGMA max_page_count = {cap or 1073741823}")
        conn.execute(f"PRAGMA query_only = {int(read_only)}")


def _real_error(sql: str, *, setup: str = "") -> sqlite3.Error:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x)")
    if setup:
        conn.execute(setup)
    try:
        conn.execute(sql)
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("no error")


def test_sqlite_errors_are_classified_by_their_code() -> None:
    big = "INSERT INTO t SELECT randomblob(100000) FROM (SELECT 1 UNION SELECT 2)"
    assert classify(_real_error(big, setup="PRAGMA max_page_count = 2")) == FULL
    assert classify(_real_error("INSERT INTO t VALUES (1)", setup="PRAGMA query_only = 1")) == READ_ONLY
    assert classify(OSError(28, "No space left on device")) == FULL
    assert classify(OSError(30, "Read-only file system")) == READ_ONLY
    assert classify(sqlite3.OperationalError("database is locked")) == LOCKED
    assert classify(sqlite3.DatabaseError("file is not a database")) == CORRUPT
    assert classify(sqlite3.OperationalError("disk I/O error")) == IO_ERROR


def test_a_full_file_queues_then_drops_the_oldest_and_says_what_then_writes_the_rest(tmp_path: Path) -> None:
    clock = [0.0]
    h = CappedHistory(tmp_path / "h.db", sample_seconds=1, max_queued_rows=30, clock=lambda: clock[0])
    at = 1_000_000.0
    h.record(report(symbols=("A",)), at)
    assert h.health.recording
    h.set_cap(h._conn().execute("PRAGMA page_count").fetchone()[0])
    stored = len(h.all_samples())
    tries = []
    for i in range(20):  # 20 samples of 1 account + 1 pool + 5 positions = 7 rows each
        at += 1
        clock[0] += 1
        h.record(report(symbols=tuple("ABCDE"), mark=101 + i), at)
        tries.append(h.health.retries)
    health = h.health
    assert not health.recording and health.trouble == FULL
    assert "database or disk is full" in health.detail
    # nothing lost without a count: in the file (free pages), waiting in memory, or dropped and said
    in_file = len(h.all_samples()) - stored
    assert health.queued == 30 and health.dropped > 0
    assert in_file + health.queued + health.dropped == 20 * 7
    assert health.dropped_from is not None and health.dropped_to is not None
    assert health.dropped_from < health.dropped_to < at
    assert f"{health.dropped} sample rows dropped (queue full, oldest first" in health.describe()
    # backoff: 1, 2, 4, 8 s between attempts — a handful of retries in 20 s, not 20
    assert 2 <= tries[-1] <= 4, tries
    before = len(h.all_samples())
    h.set_cap(None)
    clock[0] += 60
    at += 1
    assert h.record(report(symbols=tuple("ABCDE")), at)  # 7 more rows: the queue keeps the newest 30
    assert h.health.recording and h.health.written_after == 30 and h.health.dropped == health.dropped + 7
    assert "history recorded again: 30 queued sample rows written" in h.health.describe()
    assert len(h.all_samples()) == before + 30
    assert h.all_samples()[-1].at == at
    # a later episode starts its own count
    h.set_cap(h._conn().execute("PRAGMA page_count").fetchone()[0])
    for _ in range(5):
        at += 1
        clock[0] += 1
        h.record(report(symbols=tuple("ABCDEFGHIJ")), at)
    assert not h.health.recording and h.health.dropped == 0 and h.health.written_after == 0
    assert [p for p in tmp_path.iterdir() if "corrupt" in p.name] == []
    h.close()


def test_corrupt_pages_found_while_recording_are_moved_aside_once(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with History(path, sample_seconds=1) as h:
        for i in range(300):
            h.record(report(symbols=("A", "B", "C")), 1e6 + i)
    pages = path.stat().st_size // 4096
    with path.open("r+b") as f:
        for page in range(2, pages - 1):
            f.seek(page * 4096 + 8)
            f.write(b"\x5a" * 4000)
    h = History(path, sample_seconds=1)  # the header is intact: it opens
    assert h.available and not h.problems
    for i in range(20):
        h.record(report(symbols=("A",)), 2e6 + i)
    assert len(h.problems) == 1 and "confirmed by quick_check" in h.problems[0]
    assert len(list(tmp_path.glob("h.db.corrupt-*"))) == 1
    assert h.health.recording and h.integrity_check() == "ok"
    assert len(h.all_samples()) >= 3 * 19  # the new file has the samples since
    h.close()


def test_a_file_locked_by_another_program_is_retried_then_written(tmp_path: Path) -> None:
    class Impatient(History):  # desk waits 30 s for a lock; this test need not
        def _connect(self) -> sqlite3.Connection:
            conn = super()._connect()
            conn.execute("PRAGMA busy_timeout = 0")
            return conn

    clock = [0.0]
    path = tmp_path / "h.db"
    h = Impatient(path, sample_seconds=1, clock=lambda: clock[0])
    h.record(report(), 1e6)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    h.record(report(), 1e6 + 1)
    assert not h.health.recording and h.health.trouble == LOCKED and h.health.queued == 3
    other.execute("COMMIT")
    other.close()
    clock[0] += 5
    assert h.record(report(), 1e6 + 2)
    assert h.health.recording and h.health.written_after == 6
    assert [s.at for s in h.samples(account="main")] == [1e6, 1e6 + 1, 1e6 + 2]
    assert not list(tmp_path.glob("*corrupt*"))
    h.close()


def test_a_healthy_file_that_cannot_be_written_at_open_is_never_moved(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with History(path) as h:
        h.record(report(), 1e6)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 1")  # an older schema: opening must write (migrate)
    conn.close()
    CappedHistory.read_only = True
    try:
        h = CappedHistory(path)
    finally:
        CappedHistory.read_only = False
    assert not h.health.recording and h.health.trouble == READ_ONLY
    h.close()
    assert not [p for p in tmp_path.iterdir() if "corrupt" in p.name]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT (SELECT count(*) FROM samples) + (SELECT count(*) FROM recent_samples)"
                        ).fetchone()[0] == 3
    conn.close()


def test_history_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with History(path) as h:
        h.record(report(), 1e6)
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert p.stat().st_mode & 0o777 == 0o600, p
    old = tmp_path / "old.db"
    old.touch(mode=0o644)
    os.chmod(old, 0o644)
    History(old).close()
    assert old.stat().st_mode & 0o777 == 0o600
