"""History: samples at a cadence, downsampling retention, bounded size, alerts, snapshots,
threads, schema migrations, corrupt files, and kill -9 in the middle of writes."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from desk.domain.alerts import DeliveryAttempt
from desk.store.history import MIGRATIONS, SCHEMA_VERSION, SERIES_SQL, History, HistoryError, series_sql
from desk.store.paths import desk_paths
from desk.store.settings import Settings
from tests.support.store import alert, report

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


def test_default_location_wal_mode_and_schema(desk_home: Path) -> None:
    with History() as h:
        assert h.path == desk_paths().history_db
        assert h.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(desk_paths().history_db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    conn.close()


def test_from_settings_uses_the_history_options() -> None:
    s = Settings.load()
    s.set("history.sample_seconds", 30)
    s.set("history.max_megabytes", 50)
    with History.from_settings(s) as h:
        assert h.sample_seconds == 30 and h.max_megabytes == 50
        assert h.coarse_retention_days == 90 and h.fine_retention_hours == 24


def test_record_samples_account_pool_and_positions_at_the_cadence(tmp_path: Path) -> None:
    with History(tmp_path / "h.db", sample_seconds=10) as h:
        assert h.record(report(mark=110.0, ratio=0.3, symbols=("BTC/USDT:USDT", "ETH/USDT:USDT")), T0)
        assert not h.record(report(mark=111.0), T0 + 5)  # too soon
        assert h.record(report(mark=112.0, ratio=0.4, symbols=("BTC/USDT:USDT", "ETH/USDT:USDT")), T0 + 10)
        account_rows = h.samples(account="main")
        assert [s.at for s in account_rows] == [T0, T0 + 10]
        assert [s.margin_ratio for s in account_rows] == [0.3, 0.4]
        assert account_rows[0].kind == "account" and account_rows[0].symbol is None
        assert account_rows[0].shock_to_liquidation == 0.2
        assert account_rows[0].distance_to_liquidation == pytest.approx(1 - 80 / 110)
        btc = h.samples(account="main", symbol="BTC/USDT:USDT", leg="both")
        assert [s.mark_price for s in btc] == [110.0, 112.0]
        assert btc[0].liquidation_price == 80.0 and btc[0].reported_liquidation_price == 80.5
        assert btc[0].unrealized_pnl == pytest.approx(20.0)
        pool = h.samples(account="main", settle="USDT")
        assert [s.venue_margin_ratio for s in pool] == pytest.approx([0.31, 0.41])
        assert h.samples(account="main", since=T0 + 1) == account_rows[1:]
        assert h.samples(account="main", until=T0 + 1) == account_rows[:1]
        assert h.accounts() == ["main"]
        assert h.positions("main") == [("BTC/USDT:USDT", "both"), ("ETH/USDT:USDT", "both")]


def test_a_series_is_read_by_the_primary_key_without_a_scan_or_a_sort(tmp_path: Path) -> None:
    with History(tmp_path / "h.db", sample_seconds=10) as h:
        two = report(symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), extra_accounts=("other",))
        for k in range(3):
            h.record(two, T0 + 10 * k)
        conn = sqlite3.connect(tmp_path / "h.db")
        subject = conn.execute("SELECT id FROM subjects WHERE account = 'main' AND symbol = 'ETH/USDT:USDT'"
                               ).fetchone()[0]
        for sql in (SERIES_SQL, series_sql(("at", "mark_price"))):  # samples(), and series() for a chart
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", (subject, T0, T0 + 10))]
            assert len(plan) == 1 and plan[0].startswith("SEARCH samples USING PRIMARY KEY (subject=?"), plan
            assert not any("TEMP B-TREE" in step or step.startswith("SCAN") for step in plan), plan
        conn.close()
        series = h.samples(account="main", symbol="ETH/USDT:USDT", since=T0, until=T0 + 10)
        assert [(s.account, s.symbol, s.at) for s in series] == [("main", "ETH/USDT:USDT", T0),
                                                                 ("main", "ETH/USDT:USDT", T0 + 10)]


def test_both_legs_of_a_symbol_are_merged_in_time_order(tmp_path: Path) -> None:
    with History(tmp_path / "h.db", sample_seconds=10) as h:
        for k, mark in enumerate((100.0, 101.0)):
            base = report(mark=mark)
            account = base.accounts[0]
            long_leg = replace(account.positions[0], leg="long")
            short_leg = replace(account.positions[0], leg="short", side="short", mark_price=mark + 0.5)
            hedged = replace(account, positions=(long_leg, short_leg))
            h.record(replace(base, accounts=(hedged,)), T0 + 10 * k)
        both = h.samples(account="main", symbol="BTC/USDT:USDT")
        assert [(s.at, s.leg, s.side, s.mark_price) for s in both] == [
            (T0, "long", "long", 100.0), (T0, "short", "short", 100.5),
            (T0 + 10, "long", "long", 101.0), (T0 + 10, "short", "short", 101.5)]
        assert [s.mark_price for s in h.samples(account="main", symbol="BTC/USDT:USDT", leg="short")] == [
            100.5, 101.5]
        # the chart's read: the same samples column by column, only the columns asked for
        columns = h.series(("mark_price", "margin_ratio", "side"), account="main", symbol="BTC/USDT:USDT")
        assert columns == {"at": [s.at for s in both], "mark_price": [s.mark_price for s in both],
                           "margin_ratio": [s.margin_ratio for s in both], "side": [s.side for s in both]}
        assert h.series(("mark_price",), account="main", symbol="BTC/USDT:USDT", since=T0 + 5) == {
            "at": [T0 + 10, T0 + 10], "mark_price": [101.0, 101.5]}
        assert h.series(("mark_price",), account="nobody") == {"at": [], "mark_price": []}
        with pytest.raises(ValueError, match="not a sample column: kind"):
            h.series(("kind",), account="main")


def test_cadence_is_per_account(tmp_path: Path) -> None:
    with History(tmp_path / "h.db", sample_seconds=10) as h:
        h.record(report(account="a"), T0)
        assert h.record(report(account="a", extra_accounts=("b",)), T0 + 3)  # b is new: due
        assert len(h.samples(account="a")) == 1
        assert len(h.samples(account="b")) == 1


def test_none_and_nan_are_stored_as_missing(tmp_path: Path) -> None:
    r = report(ratio=float("nan"))
    with History(tmp_path / "h.db") as h:
        h.record(r, T0)
        assert h.samples(account="main", settle="USDT")[0].margin_ratio is None


def test_compaction_keeps_the_riskiest_sample_per_bucket_then_deletes(tmp_path: Path) -> None:
    with History(tmp_path / "h.db", sample_seconds=10, fine_retention_hours=1, coarse_sample_minutes=5,
                 coarse_retention_days=1) as h:
        start = 1_700_000_100.0 - 1_700_000_100.0 % 300  # a bucket boundary
        ratios = {}
        for i in range(60):  # 10 minutes = two 5-minute buckets
            at = start + i * 10
            ratio = 0.2 + (0.5 if i == 7 else 0.0) + (0.3 if i == 40 else 0.0) + i * 0.001
            ratios[at] = ratio
            h.record(report(ratio=ratio, mark=100 + i), at)
        assert len(h.samples(account="main")) == 60
        h.compact(start + 3600 + 600)  # both buckets older than the fine horizon
        kept = h.samples(account="main")
        assert [s.at for s in kept] == [start + 70, start + 400]  # the worst of each bucket
        assert all(s.coarse for s in kept)
        btc = h.samples(account="main", symbol="BTC/USDT:USDT")
        assert [s.mark_price for s in btc] == [107, 140]
        h.compact(start + 600 + 86400 + 1)  # past coarse retention
        assert h.samples(account="main") == []


def test_compaction_leaves_recent_fine_samples_and_partial_buckets(tmp_path: Path) -> None:
    with History(tmp_path / "h.db", sample_seconds=10, fine_retention_hours=1, coarse_sample_minutes=5) as h:
        start = 1_700_000_100.0 - 1_700_000_100.0 % 300
        for i in range(90):
            h.record(report(ratio=0.3), start + i * 10)
        # The fine horizon falls mid-way through the third bucket: that bucket stays fine.
        h.compact(start + 3600 + 650)
        rows = h.samples(account="main")
        coarse = [s for s in rows if s.coarse]
        fine = [s for s in rows if not s.coarse]
        assert len(coarse) == 2 and len(fine) == 30
        assert min(s.at for s in fine) == start + 600


def test_size_is_bounded_by_deleting_the_oldest(tmp_path: Path) -> None:
    symbols = tuple(f"C{i}/USDT:USDT" for i in range(40))
    with History(tmp_path / "h.db", sample_seconds=1, max_megabytes=1, fine_retention_hours=10_000,
                 coarse_retention_days=10_000) as h:
        for i in range(400):
            h.record(report(symbols=symbols, mark=100 + i % 10), T0 + i)
        assert h.used_bytes() > 1024 * 1024  # the test really exceeds the bound
        h.compact(T0 + 400)
        assert h.used_bytes() <= 1024 * 1024
        assert h.file_bytes() <= 1.2 * 1024 * 1024  # pages were handed back, the WAL truncated
        rows = h.samples(account="main")
        assert rows and rows[-1].at == T0 + 399  # the newest survive
        assert rows[0].at > T0  # the oldest went first


def test_alert_log_with_deliveries(tmp_path: Path) -> None:
    with History(tmp_path / "h.db") as h:
        first = h.record_alert(alert(1, T0))
        second = h.record_alert(alert(2, T0 + 60))
        h.record_delivery(first, DeliveryAttempt(at=T0 + 1, channel="dbus", delivered=False,
                                                 detail="no notification server"))
        h.record_delivery(first, DeliveryAttempt(at=T0 + 2, channel="tray", delivered=True, detail="shown"))
        rows = h.alerts()
        assert [r.id for r in rows] == [first, second]
        assert rows[0].alert == alert(1, T0)
        assert [(d.channel, d.delivered) for d in rows[0].deliveries] == [("dbus", False), ("tray", True)]
        assert rows[1].deliveries == ()
        assert [r.id for r in h.alerts(since=T0 + 30)] == [second]
        assert [r.id for r in h.alerts(until=T0 + 30)] == [first]
        flat = rows[0].as_dict()
        assert flat["delivered_via"] == "tray" and flat["failed_via"] == "dbus"


def test_delivery_detail_is_redacted(tmp_path: Path) -> None:
    with History(tmp_path / "h.db") as h:
        alert_id = h.record_alert(alert(1, T0))
        secret = "a1" * 20
        detail = f"POST https://127.0.0.1/hook?token={secret} failed"
        h.record_delivery(alert_id, DeliveryAttempt(at=T0, channel="webhook", delivered=False, detail=detail))
        assert secret not in h.alerts()[0].deliveries[0].detail


def test_snapshots_round_trip(tmp_path: Path) -> None:
    with History(tmp_path / "h.db") as h:
        sid = h.save_snapshot("before the fed", b'{"format": "desk.portfolio/1"}', T0)
        assert [(s.id, s.name, s.size) for s in h.snapshots()] == [(sid, "before the fed", 30)]
        assert h.load_snapshot(sid) == b'{"format": "desk.portfolio/1"}'
        with pytest.raises(KeyError, match="no saved snapshot"):
            h.load_snapshot(sid + 1)
        h.compact(T0 + 10 * 365 * 86400)  # retention never touches snapshots
        assert h.load_snapshot(sid)


def test_one_writer_thread_and_a_reader_thread(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db", sample_seconds=1)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for i in range(300):
                h.record(report(mark=100 + i), T0 + i)
                h.record_alert(alert(i, T0 + i))
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = 0
    deadline = time.monotonic() + 30
    while not done.is_set() and time.monotonic() < deadline:
        rows = h.samples(account="main")
        assert [r.at for r in rows] == sorted(r.at for r in rows)
        assert len(rows) >= seen  # readers see a consistent, growing history
        seen = len(rows)
    thread.join(timeout=30)
    assert not errors
    assert len(h.samples(account="main")) == 300
    assert len(h.alerts()) == 300
    h.close()


def test_v1_database_is_backed_up_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO samples (at, kind, account, margin_ratio) VALUES (?, 'account', 'old', 0.7)",
                 (T0,))
    for i in range(3):
        conn.execute("INSERT INTO samples (at, coarse, kind, account, settle, symbol, leg, side, mark_price) "
                     "VALUES (?, 1, 'position', 'old', 'USDT', 'BTC/USDT:USDT', 'both', 'long', ?)",
                     (T0 + i * 300, 60000.0 + i))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with History(path) as h:
        assert h.schema_version == SCHEMA_VERSION
        assert any("upgraded" in p for p in h.problems)
        old = h.samples(account="old")
        assert old[0].margin_ratio == 0.7 and old[0].venue_margin_ratio is None
        btc = h.samples(account="old", symbol="BTC/USDT:USDT", leg="both")
        assert [(s.at, s.mark_price, s.side, s.settle, s.coarse) for s in btc] == [
            (T0 + i * 300, 60000.0 + i, "long", "USDT", True) for i in range(3)]
        assert h.positions("old") == [("BTC/USDT:USDT", "both")]
        assert h.record(report(account="old"), T0 + 1000)  # and it keeps working on the new schema
    backups = list(tmp_path.glob("h.db.v1-backup-*"))
    assert len(backups) == 1
    b = sqlite3.connect(backups[0])
    assert b.execute("PRAGMA user_version").fetchone()[0] == 1
    assert b.execute("SELECT count(*) FROM samples").fetchone()[0] == 4
    b.close()


def test_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(HistoryError, match="newer desk"):
        History(path)
    assert path.read_bytes() == before


def test_corrupt_database_is_moved_aside_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    garbage = b"this is not a database at all" * 100
    path.write_bytes(garbage)
    with History(path) as h:
        assert any("moved to" in p for p in h.problems)
        assert h.record(report(), T0)
    aside = list(tmp_path.glob("h.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage


@pytest.mark.slow
def test_survives_kill_9_in_the_middle_of_writes(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    path = tmp_path / "killed.db"
    rng = random.Random(20261121)
    committed = -1
    kills = 0
    deadline = time.monotonic() + 600  # a hang guard: ten interpreter starts on a busy machine
    for _ in range(10):
        assert time.monotonic() < deadline, "the kill -9 loop hangs"
        start = committed + 1
        proc = subprocess.Popen([sys.executable, "-m", "tests.support.store", str(path), str(start)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env=subprocess_env)
        assert proc.stdout is not None
        # Wait for the first commit, then kill at a random moment while it keeps writing.
        first = proc.stdout.readline()
        assert first.strip() == str(start), proc.stderr.read() if proc.stderr else ""
        time.sleep(rng.uniform(0.05, 0.5))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        kills += 1
        printed = [int(x) for x in (first + out).split()]
        committed = printed[-1]
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    assert kills == 10
    with History(path) as h:
        assert h.integrity_check() == "ok"
        numbers = {int(r.alert.value) for r in h.alerts() if r.alert.value is not None}
        # Every alert reported as committed is there (one committed but not yet printed when the
        # process died may be there twice: the next run starts from the last printed number).
        assert numbers == set(range(committed + 1)) or numbers == set(range(committed + 2))
        delivered = {int(r.alert.value) for r in h.alerts() if r.deliveries and r.alert.value is not None}
        assert delivered >= set(range(committed + 1))
        assert h.samples(account="main")
        assert h.record(report(), 9e9)


def test_compaction_of_a_backlog_with_gaps_is_chunked_and_complete(tmp_path: Path) -> None:
    with History(tmp_path / "h.db", sample_seconds=10, fine_retention_hours=1, coarse_sample_minutes=5,
                 coarse_retention_days=365) as h:
        start = 1_700_000_100.0 - 1_700_000_100.0 % 300
        days = (0, 7, 8)  # desk closed for a week in between
        for day in days:
            for i in range(3 * 360):  # three hours at 10 s: spans several one-hour chunks
                h.record(report(ratio=0.3 + (i % 30) / 1000), start + day * 86400 + i * 10)
        h.compact(start + 30 * 86400)
        rows = h.samples(account="main")
        assert all(s.coarse for s in rows)
        assert len(rows) == len(days) * 3 * 12  # one per 5-minute bucket, none lost, none doubled
        assert all(s.margin_ratio == pytest.approx(0.329) for s in rows)  # the riskiest of each bucket
