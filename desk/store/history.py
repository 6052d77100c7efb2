"""Risk history, the alert log and saved snapshots, in one SQLite database (WAL mode).

* **Samples**: every ``sample_seconds`` per account, one row for the account, one per settle-currency
  pool and one per position. ``compact`` thins rows older than ``fine_retention_hours`` to one row per
  ``coarse_sample_minutes`` per subject — the *riskiest* sample of each bucket (highest margin ratio,
  then smallest distance to liquidation), so a thinned chart still shows the worst moments — and
  deletes coarse rows and alerts after ``coarse_retention_days``. The file is kept under
  ``max_megabytes`` by deleting the oldest samples first. ``record`` compacts by itself once an hour.
* **Alerts** with their delivery attempts; **snapshots** (portfolio JSON saved by the user, never
  deleted automatically).

Layout: a tick's rows are appended to ``recent_samples``, keyed by (at, subject) — time first, so a
tick of 220 rows fills a few consecutive pages instead of touching one page per subject. Once it holds
``merge_rows`` rows they move, sorted, into ``samples``, keyed by (subject, at): one subject's rows
are together there, so its series is one range of the primary key, already in time order (no scan,
no sort), and the move touches each subject's last page once for many ticks. A (subject, at) is in
one of the two tables, never both. Reads take the range from ``samples`` and the subject's rows from
the small ``recent_samples`` (its at range, in time order), and join the two in time order;
:meth:`History.series` reads only the columns a chart draws.

Threads: one connection per thread (WAL lets the UI read while the monitor writes); writes are
serialised by a lock. Every write is one transaction, so a process killed mid-write (kill -9)
leaves the database consistent with everything committed before. A database from a newer desk is
refused rather than touched.

Trouble (:func:`classify`): a full disk, a read-only folder, a lock held by another program or an
I/O error is *not* corruption — the file is left alone, samples wait in a bounded queue in memory
(:attr:`History.max_queued_rows`; the oldest are dropped beyond it, counted in :attr:`History.health`)
and the write is retried with backoff. A file is called corrupt only when SQLite says so *and*
``PRAGMA quick_check`` confirms it; then it is moved aside once (with a timestamp), reported once in
:attr:`History.problems`, and a new history is started. The files are private to the user (0600).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from desk.domain.alerts import Acknowledgement, Alert, AlertLevel, DeliveryAttempt
from desk.domain.report import AccountRisk, RiskReport
from desk.store.paths import desk_paths
from desk.store.redact import redact

log = logging.getLogger(__name__)

class HistoryError(RuntimeError):
    """The history database cannot be used (newer schema, unreadable); the message says what to do."""


# What went wrong with the file, in the user's words. Only CORRUPT (confirmed by quick_check) ever
# moves a file; the others leave it alone and are retried.
FULL = "disk full"
READ_ONLY = "read-only"
LOCKED = "locked by another program"
IO_ERROR = "I/O error"
CORRUPT = "corrupt"

# SQLite's primary result codes (the low byte of an extended code).
_SQLITE_KINDS = {13: FULL, 8: READ_ONLY, 5: LOCKED, 6: LOCKED, 10: IO_ERROR, 14: IO_ERROR, 11: CORRUPT,
                 26: CORRUPT}
_OS_KINDS = {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EFBIG: FULL, errno.EROFS: READ_ONLY,
             errno.EACCES: READ_ONLY, errno.EPERM: READ_ONLY}


def classify(exc: BaseException) -> str:
    """Which kind of trouble an error from SQLite or the file system is (FULL, READ_ONLY, ...)."""
    if isinstance(exc, OSError):
        return _OS_KINDS.get(exc.errno or 0, IO_ERROR)
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _SQLITE_KINDS:
        return _SQLITE_KINDS[code & 0xFF]
    text = str(exc).lower()
    for words, kind in (("full", FULL), ("readonly", READ_ONLY), ("read-only", READ_ONLY),
                        ("locked", LOCKED), ("busy", LOCKED), ("malformed", CORRUPT),
                        ("not a database", CORRUPT)):
        if words in text:
            return kind
    return IO_ERROR


@dataclass(frozen=True, slots=True)
class HistoryHealth:
    """Whether samples reach the file now; what waits in memory and what was dropped meanwhile."""

    recording: bool
    trouble: str | None = None  # FULL, READ_ONLY, LOCKED or IO_ERROR while not recording
    detail: str = ""  # SQLite's (or the OS's) own words
    since: float | None = None  # when the trouble began (epoch seconds)
    queued: int = 0  # sample rows waiting in memory to be written
    dropped: int = 0  # rows dropped because the queue was full (oldest first), since the trouble began
    dropped_from: float | None = None  # the time span of the dropped samples
    dropped_to: float | None = None
    retries: int = 0  # failed write attempts since the trouble began
    written_after: int = 0  # on recovery: queued rows written once the file took writes again

    def describe(self) -> str:
        """One line for a person: what is wrong, what is kept, what was lost."""
        if self.recording:
            text = "history recorded again"
            if self.written_after:
                text += f": {self.written_after} queued sample rows written"
        else:
            text = f"history not being recorded: {self.trouble} ({self.detail}); retrying"
            if self.queued:
                text += f", {self.queued} sample rows kept in memory"
        if self.dropped:
            text += (f"; {self.dropped} sample rows dropped (queue full, oldest first: "
                     f"{_clock(self.dropped_from)}–{_clock(self.dropped_to)})")
        return text


def _clock(at: float | None) -> str:
    return "?" if at is None else datetime.fromtimestamp(at).strftime("%H:%M:%S")


# Each entry turns schema version n (its index) into n + 1. Never edit a released entry: add one.
MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: the first schema.
    """
    CREATE TABLE samples (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        coarse INTEGER NOT NULL DEFAULT 0,
        kind TEXT NOT NULL,                 -- 'account' | 'pool' | 'position'
        account TEXT NOT NULL,
        settle TEXT NOT NULL DEFAULT '',
        symbol TEXT NOT NULL DEFAULT '',
        leg TEXT NOT NULL DEFAULT '',
        side TEXT,
        margin_ratio REAL,
        distance_to_liquidation REAL,
        mark_price REAL,
        liquidation_price REAL,
        bankruptcy_price REAL,
        unrealized_pnl REAL,
        maintenance_margin REAL,
        margin_balance REAL,
        wallet_balance REAL,
        notional REAL,
        contracts REAL,
        shock_to_liquidation REAL
    );
    CREATE INDEX samples_by_subject ON samples(account, kind, symbol, leg, settle, at);
    CREATE INDEX samples_by_age ON samples(coarse, at);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        rule TEXT NOT NULL,
        level TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        account TEXT,
        symbol TEXT,
        leg TEXT,
        value REAL,
        threshold REAL
    );
    CREATE INDEX alerts_by_time ON alerts(at);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        at REAL NOT NULL,
        channel TEXT NOT NULL,
        delivered INTEGER NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX deliveries_by_alert ON deliveries(alert_id);
    CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        at REAL NOT NULL,
        portfolio BLOB NOT NULL
    );
    """,
    # 1 -> 2: subjects (account / pool / position) in their own table, samples keyed by (subject, at)
    # without a rowid — about half the bytes per sample; and the venue's own figures beside ours
    # ("ours beside theirs", ARCHITECTURE rule 4).
    """
    CREATE TABLE subjects (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        account TEXT NOT NULL,
        settle TEXT NOT NULL DEFAULT '',
        symbol TEXT NOT NULL DEFAULT '',
        leg TEXT NOT NULL DEFAULT '',
        UNIQUE (account, kind, symbol, leg, settle)
    );
    INSERT INTO subjects (kind, account, settle, symbol, leg)
        SELECT DISTINCT kind, account, settle, symbol, leg FROM samples;
    CREATE TABLE samples_v2 (
        subject INTEGER NOT NULL REFERENCES subjects(id),
        at REAL NOT NULL,
        coarse INTEGER NOT NULL DEFAULT 0,
        side TEXT,
        margin_ratio REAL,
        distance_to_liquidation REAL,
        mark_price REAL,
        liquidation_price REAL,
        bankruptcy_price REAL,
        unrealized_pnl REAL,
        maintenance_margin REAL,
        margin_balance REAL,
        wallet_balance REAL,
        notional REAL,
        contracts REAL,
        shock_to_liquidation REAL,
        venue_margin_ratio REAL,
        reported_liquidation_price REAL,
        PRIMARY KEY (subject, at)
    ) WITHOUT ROWID;
    INSERT OR REPLACE INTO samples_v2 (subject, at, coarse, side, margin_ratio, distance_to_liquidation,
            mark_price, liquidation_price, bankruptcy_price, unrealized_pnl, maintenance_margin,
            margin_balance, wallet_balance, notional, contracts, shock_to_liquidation)
        SELECT j.id, s.at, s.coarse, s.side, s.margin_ratio, s.distance_to_liquidation, s.mark_price,
               s.liquidation_price, s.bankruptcy_price, s.unrealized_pnl, s.maintenance_margin,
               s.margin_balance, s.wallet_balance, s.notional, s.contracts, s.shock_to_liquidation
        FROM samples AS s JOIN subjects AS j
          ON j.kind = s.kind AND j.account = s.account AND j.settle = s.settle AND j.symbol = s.symbol
         AND j.leg = s.leg;
    DROP TABLE samples;
    ALTER TABLE samples_v2 RENAME TO samples;
    CREATE INDEX samples_by_age ON samples(coarse, at);
    """,
    # 2 -> 3: reminders of an unacknowledged critical alert (alerts.repeat), and acknowledgements.
    """
    ALTER TABLE alerts ADD COLUMN repeat INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE acks (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        source TEXT NOT NULL,
        rule TEXT,                          -- NULL: every condition critical at the time
        account TEXT,
        symbol TEXT,
        leg TEXT,
        alert_id INTEGER
    );
    CREATE INDEX acks_by_time ON acks(at);
    """,
    # 3 -> 4: a position's subject names its margin mode — OKX holds one instrument and leg both cross
    # and isolated at once ("twins"), two positions with two series. Subjects written before keep
    # their ids (so every sample stays theirs) with margin_mode '' (not told apart then): a
    # position's series reads them whatever its mode. Rebuilt, not altered: the unique key changes.
    """
    CREATE TABLE subjects_v4 (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        account TEXT NOT NULL,
        settle TEXT NOT NULL DEFAULT '',
        symbol TEXT NOT NULL DEFAULT '',
        leg TEXT NOT NULL DEFAULT '',
        margin_mode TEXT NOT NULL DEFAULT '',
        UNIQUE (account, kind, symbol, leg, settle, margin_mode)
    );
    INSERT INTO subjects_v4 (id, kind, account, settle, symbol, leg)
        SELECT id, kind, account, settle, symbol, leg FROM subjects;
    DROP TABLE subjects;
    ALTER TABLE subjects_v4 RENAME TO subjects;
    """,
    # 4 -> 5: ticks are appended to recent_samples, keyed by time first, and moved into samples in
    # batches (History._merge): keyed by subject first, a tick wrote one page per subject (220 pages,
    # about 1 MB of WAL, for 10 accounts of 20 positions). Same columns as samples, in its order.
    """
    CREATE TABLE recent_samples (
        subject INTEGER NOT NULL REFERENCES subjects(id),
        at REAL NOT NULL,
        coarse INTEGER NOT NULL DEFAULT 0,
        side TEXT,
        margin_ratio REAL,
        distance_to_liquidation REAL,
        mark_price REAL,
        liquidation_price REAL,
        bankruptcy_price REAL,
        unrealized_pnl REAL,
        maintenance_margin REAL,
        margin_balance REAL,
        wallet_balance REAL,
        notional REAL,
        contracts REAL,
        shock_to_liquidation REAL,
        venue_margin_ratio REAL,
        reported_liquidation_price REAL,
        PRIMARY KEY (at, subject)
    ) WITHOUT ROWID;
    """,
)
SUBJECT_COLUMNS = ("kind", "account", "settle", "symbol", "leg", "margin_mode")
SCHEMA_VERSION = len(MIGRATIONS)

COMPACT_EVERY_SECONDS = 3600.0
# recent_samples moves into samples once it holds this many rows: every 37 ticks of 10 accounts x 20
# positions, every 6 h of 1 account with 2 positions. A series read scans it whole (a few ms at
# most); the move costs a few ms per thousand rows and touches each subject's last page once.
MERGE_ROWS = 8192
MAX_QUEUED_ROWS = 20_000  # about 2 hours of 3 accounts with 5 positions each, sampled every 10 s
RETRY_FIRST_SECONDS = 1.0  # backoff after a failed write: doubles up to RETRY_MAX_SECONDS
RETRY_MAX_SECONDS = 60.0


class Sample(NamedTuple):
    """One stored row. ``kind`` says which level it describes; unused fields are None.

    A named tuple (immutable, like a frozen dataclass) because a chart reads thousands at once:
    one is made in a fraction of a frozen dataclass's time."""

    at: float
    kind: str  # "account" | "pool" | "position"
    account: str
    settle: str | None
    symbol: str | None
    leg: str | None
    margin_mode: str | None  # positions: "cross" | "isolated"; None before desk told twins apart
    side: str | None
    margin_ratio: float | None
    distance_to_liquidation: float | None
    mark_price: float | None
    liquidation_price: float | None
    bankruptcy_price: float | None
    unrealized_pnl: float | None
    maintenance_margin: float | None
    margin_balance: float | None
    wallet_balance: float | None
    notional: float | None
    contracts: float | None
    shock_to_liquidation: float | None
    venue_margin_ratio: float | None
    reported_liquidation_price: float | None
    coarse: bool  # True once thinned to the coarse cadence

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(SAMPLE_COLUMNS, self, strict=True))


SAMPLE_COLUMNS = Sample._fields
# The columns of the samples table a tick writes after the subject, in Sample's order.
VALUE_COLUMNS = tuple(c for c in SAMPLE_COLUMNS if c not in (*SUBJECT_COLUMNS, "coarse"))
# A tick goes to recent_samples (see the module's docstring); a row replaces one of the same subject and
# time there, and _DROP_REPLACED removes one already moved into samples.
_INSERT_SAMPLE = (f"INSERT OR REPLACE INTO recent_samples (subject, {', '.join(VALUE_COLUMNS)}) "
                  f"VALUES (?, {', '.join('?' for _ in VALUE_COLUMNS)})")
# Whether samples holds any time >= ?: two seeks of samples_by_age (coarse is 0 or 1).
_MERGED_SINCE = "SELECT 1 FROM samples WHERE coarse IN (0, 1) AND at >= ? LIMIT 1"
_DROP_REPLACED = ("DELETE FROM samples WHERE (subject, at) IN "
                  "(SELECT subject, at FROM recent_samples WHERE at >= ?)")
_STORED_COLUMNS = ", ".join(("subject", *VALUE_COLUMNS, "coarse"))
# Sorted by samples' key, so each subject's rows go to its pages in one pass.
_MERGE = (f"INSERT OR REPLACE INTO samples ({_STORED_COLUMNS}) SELECT {_STORED_COLUMNS} "
          "FROM recent_samples ORDER BY subject, at")


def series_sql(columns: Sequence[str], table: str = "samples") -> str:
    """One subject's samples in time order. In ``samples`` the primary key (subject, at) serves both
    the search and the order; in ``recent_samples`` the key (at, subject) gives the time range in
    order, the subject filtered on the way. SQLite sorts neither (tests/store checks the plans)."""
    return (f"SELECT {', '.join(columns)} FROM {table} WHERE subject = ? AND at >= ? AND at <= ? "
            "ORDER BY at")


SERIES_SQL = series_sql((*VALUE_COLUMNS, "coarse"))
RECENT_SERIES_SQL = series_sql((*VALUE_COLUMNS, "coarse"), "recent_samples")
# What a query selects for a Sample: subject fields from the subjects table (alias j), the rest from
# both sample tables (alias s).
_SELECT = ", ".join(f"j.{c}" if c in SUBJECT_COLUMNS else f"s.{c}" for c in SAMPLE_COLUMNS)
_FROM = (f"(SELECT {_STORED_COLUMNS} FROM samples UNION ALL SELECT {_STORED_COLUMNS} FROM recent_samples)"
         " AS s JOIN subjects AS j ON j.id = s.subject")
# Subjects with samples: samples by its key, subject by subject; the small recent_samples once.
_HAS_SAMPLES = ("(EXISTS (SELECT 1 FROM samples WHERE subject = subjects.id) "
                "OR id IN (SELECT subject FROM recent_samples))")


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    alert: Alert
    deliveries: tuple[DeliveryAttempt, ...]

    def as_dict(self) -> dict[str, Any]:
        """Flat form for export: the alert's fields, then a summary of its deliveries."""
        a = self.alert
        return {
            "id": self.id, "at": a.at, "level": a.level.value, "rule": a.rule, "account": a.account,
            "symbol": a.symbol, "leg": a.leg, "title": a.title, "body": a.body, "value": a.value,
            "threshold": a.threshold, "repeat": a.repeat,
            "delivered_via": ",".join(d.channel for d in self.deliveries if d.delivered),
            "failed_via": ",".join(d.channel for d in self.deliveries if not d.delivered),
            "deliveries": [
                {"at": d.at, "channel": d.channel, "delivered": d.delivered, "detail": d.detail}
                for d in self.deliveries
            ],
        }


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    id: int
    name: str
    at: float
    size: int  # bytes of portfolio JSON


def _finite(x: float | None) -> float | None:
    """NaN has no meaning in a chart or an export: store it as missing."""
    if x is None:
        return None
    x = float(x)
    return x if not math.isnan(x) else None


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _create_private(path: Path) -> None:
    """Create ``path`` readable by its owner only (0600, like the settings); tighten an older file.
    SQLite gives the -wal and -shm files the database file's permissions."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        with contextlib.suppress(OSError):  # e.g. a read-only home: reading still works
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)


class History:
    def __init__(self, path: Path | None = None, *, sample_seconds: float = 10.0,
                 fine_retention_hours: float = 24, coarse_sample_minutes: float = 5,
                 coarse_retention_days: float = 90, max_megabytes: float = 200,
                 max_queued_rows: int = MAX_QUEUED_ROWS, merge_rows: int = MERGE_ROWS,
                 clock: Any = time.monotonic) -> None:
        self.path = Path(path) if path is not None else desk_paths().ensure().history_db
        self.sample_seconds = float(sample_seconds)
        self.fine_retention_hours = float(fine_retention_hours)
        self.coarse_sample_minutes = float(coarse_sample_minutes)
        self.coarse_retention_days = float(coarse_retention_days)
        self.max_megabytes = float(max_megabytes)
        self.max_queued_rows = int(max_queued_rows)
        self.merge_rows = int(merge_rows)
        self.problems: list[str] = []
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._last_sample: dict[str, float] = {}
        self._subjects: dict[_SubjectKey, int] = {}  # never deleted, so cacheable
        self._last_compact: float | None = None
        self._recent_rows: int | None = None  # rows in recent_samples, counted once then kept up to date
        self._closed = False
        # Sample rows not yet in the file (the disk was full, the folder read-only...), oldest first:
        # (kind, account, settle, symbol, leg, margin mode) and the VALUE_COLUMNS.
        self._queue: deque[tuple[_SubjectKey, tuple[Any, ...]]] = deque()
        self._clock = clock  # for the retry backoff only
        self._retry_at: float | None = None
        self._delay = RETRY_FIRST_SECONDS
        self._opened = False
        self.health = HistoryHealth(recording=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _create_private(self.path)
            self._open_and_migrate()
        except (sqlite3.Error, OSError) as exc:
            # Not corruption (that was handled): leave the file alone and try again later.
            self._drop_connections()
            self._failed(exc)
        else:
            self._opened = True

    @classmethod
    def from_settings(cls, settings: Any, path: Path | None = None) -> History:
        return cls(
            path,
            sample_seconds=settings.get("history.sample_seconds"),
            fine_retention_hours=settings.get("history.fine_retention_hours"),
            coarse_sample_minutes=settings.get("history.coarse_sample_minutes"),
            coarse_retention_days=settings.get("history.coarse_retention_days"),
            max_megabytes=settings.get("history.max_megabytes"),
        )

    # --- connections and schema ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA foreign_keys = ON")
        # WAL + NORMAL: no fsync per commit. A killed or crashed desk loses nothing committed; a power
        # cut or an OS crash may lose the last commits (never the file's consistency). Acceptable
        # here: the history is a record of what desk saw, not the source of truth (the venues are),
        # and the fsync would make every tick wait for the disk.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA journal_size_limit = 8388608")
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise HistoryError("the history database is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _open_and_migrate(self) -> None:
        try:
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if classify(exc) != CORRUPT or not self._confirmed_corrupt():
                raise
            self._move_aside(exc)
            self._migrate()

    def _confirmed_corrupt(self) -> bool:
        """SQLite said "malformed" or "not a database": is it really? Asked on a fresh connection."""
        try:
            conn = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error:
            return False
        try:
            verdict = str(conn.execute("PRAGMA quick_check").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            return classify(exc) == CORRUPT
        finally:
            conn.close()
        return verdict != "ok"

    def _move_aside(self, exc: BaseException) -> None:
        """Rename a confirmed-corrupt file (with its WAL) and say so once; a new history starts."""
        self._drop_connections()
        self._subjects.clear()
        self._recent_rows = None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{_stamp()}")
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):
            extra = Path(str(self.path) + suffix)
            if extra.exists():
                os.replace(extra, Path(str(aside) + suffix))
        self.problems.append(f"{self.path} is corrupt ({exc}; confirmed by quick_check); it was moved to "
                             f"{aside} and a new history was started")
        _create_private(self.path)

    def _drop_connections(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def _migrate(self) -> None:
        conn = self._conn()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"{self.path} was written by a newer desk (history schema {version}, this desk knows "
                f"{SCHEMA_VERSION}); update desk, or point --home elsewhere")
        if version == SCHEMA_VERSION:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        if version == 0:
            # Must precede the first table; lets compaction hand freed pages back to the file system.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        else:
            backup = self.path.with_name(f"{self.path.name}.v{version}-backup-{_stamp()}")
            _create_private(backup)
            target = sqlite3.connect(backup)
            try:
                conn.backup(target)
            finally:
                target.close()
            self.problems.append(f"{self.path}: history schema {version} upgraded to {SCHEMA_VERSION} "
                                 f"(the old file is kept as {backup})")
        conn.execute("PRAGMA journal_mode = WAL")
        # A migration may rebuild a table other tables reference (SQLite's way to change a
        # constraint): foreign keys are off meanwhile (only outside a transaction can they be), and
        # checked before the commit.
        conn.execute("PRAGMA foreign_keys = OFF")
        try:
            with self._write_lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # Re-read inside the lock: another process may have migrated meanwhile.
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    for step in range(version, SCHEMA_VERSION):
                        for statement in _statements(MIGRATIONS[step]):
                            conn.execute(statement)
                    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise HistoryError(f"{self.path}: upgrading the history schema left "
                                           f"{len(broken)} rows without their subject; nothing was changed")
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        finally:
            conn.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite rolls back by itself after some errors (full disk)
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: the statements inside see one state of the file. A series is read
        from samples, then from recent_samples; a move committed in between must not hide its rows."""
        conn = self._conn()
        if conn.in_transaction:  # already inside one (a write on this thread)
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")  # nothing written: ends the read

    def close(self) -> None:
        """Close every thread's connection (checkpointing the WAL into the main file)."""
        if self._closed:
            return
        with self._connections_lock:
            if self._connections:
                # Another process may still read; the WAL stays valid either way.
                with contextlib.suppress(sqlite3.Error):
                    self._connections[0].execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._closed = True

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    def integrity_check(self) -> str:
        return str(self._conn().execute("PRAGMA integrity_check").fetchone()[0])

    # --- samples ---------------------------------------------------------------------------------

    def record(self, report: RiskReport, at: float) -> bool:
        """Store a sample of every account due at ``at`` (epoch seconds); True if anything was written.

        An account is due when its last sample is ``sample_seconds`` old (5 % slack absorbs tick
        jitter) — or when the clock went backwards. Never raises for a full disk, a read-only or
        locked file or an I/O error: the rows wait in memory, :attr:`health` says why, and the
        write is retried with backoff (a corrupt file is moved aside once and a new one started).
        """
        for account in report.accounts:
            last = self._last_sample.get(account.name)
            if last is not None and 0 <= at - last < self.sample_seconds * 0.95:
                continue
            self._queue.extend(_account_rows(account, at))
            self._last_sample[account.name] = at
        self._bound_queue()
        if not self._queue or not self._may_try():
            return False
        try:
            written = self._flush()
        except (sqlite3.Error, OSError) as exc:
            still = self._set_aside_if_corrupt(exc)
            if still is not None:
                self._failed(still)
                return False
            try:  # the queued rows go to the new file at once
                written = self._flush()
            except (sqlite3.Error, OSError) as again:
                self._failed(again)
                return False
        self._recovered(written)
        last = self._last_compact
        if last is None or not 0 <= at - last < COMPACT_EVERY_SECONDS:
            self._upkeep(lambda: self.compact(at), "compacting")  # merges too
        elif (self._recent_rows or 0) >= self.merge_rows:
            self._upkeep(self._merge, "moving recent samples of")
        return written > 0

    def _upkeep(self, work: Any, doing: str) -> None:
        """Compaction or a merge after a tick: the samples are written; on failure it is tried again
        later (the next merge after ``merge_rows`` more rows, the next compaction in an hour)."""
        try:
            work()
        except (sqlite3.Error, OSError) as exc:
            still = self._set_aside_if_corrupt(exc)
            if still is not None:
                log.warning("%s the risk history %s failed (%s): %s", doing, self.path, classify(still),
                            still)

    def _set_aside_if_corrupt(self, exc: BaseException) -> BaseException | None:
        """Move the file aside when ``exc`` says corrupt and quick_check confirms it. Returns what is
        still wrong: None once moved, else ``exc`` (not corrupt) or why the file could not be moved."""
        if not isinstance(exc, sqlite3.Error) or classify(exc) != CORRUPT or not self._confirmed_corrupt():
            return exc
        try:
            self._move_aside(exc)
        except OSError as cannot:  # e.g. a read-only folder: reported as such, tried again later
            return cannot
        self._opened = False
        return None

    def _flush(self) -> int:
        """Write every queued row in one transaction; they leave the queue only once committed."""
        if not self._opened:
            self._open_and_migrate()
            self._opened = True
        if not self._queue:
            return 0
        with self._write() as conn:
            if self._recent_rows is None:
                self._recent_rows = int(conn.execute("SELECT count(*) FROM recent_samples").fetchone()[0])
            subject_id = self._subject_id
            rows = [(subject_id(conn, key), *values) for key, values in self._queue]
            conn.executemany(_INSERT_SAMPLE, rows)  # one statement, prepared once, one transaction
            # A time already moved into samples (the clock went back; a restarted desk wrote the same
            # time again) is replaced, not doubled: nearly always nothing is that recent there.
            lowest = min(values[0] for _, values in self._queue)
            if conn.execute(_MERGED_SINCE, (lowest,)).fetchone() is not None:
                conn.execute(_DROP_REPLACED, (lowest,))
        self._queue.clear()
        self._recent_rows += len(rows)  # an upper bound: a replaced row is counted again
        return len(rows)

    def _merge(self) -> None:
        """Move recent_samples into samples in one transaction (see the module's docstring)."""
        with self._write() as conn:
            conn.execute(_MERGE)
            conn.execute("DELETE FROM recent_samples")
        self._recent_rows = 0

    def _bound_queue(self) -> None:
        excess = len(self._queue) - self.max_queued_rows
        if excess <= 0:
            return
        dropped = [self._queue.popleft() for _ in range(excess)]
        h = self.health
        self.health = HistoryHealth(
            recording=h.recording, trouble=h.trouble, detail=h.detail, since=h.since,
            queued=len(self._queue), dropped=h.dropped + excess,
            dropped_from=h.dropped_from if h.dropped_from is not None else dropped[0][1][0],
            dropped_to=dropped[-1][1][0], retries=h.retries)

    def _may_try(self) -> bool:
        return self._retry_at is None or self._clock() >= self._retry_at

    def _failed(self, exc: BaseException) -> None:
        """Keep the rows, back off, and say what is wrong (in :attr:`health`)."""
        kind = classify(exc)
        if kind == CORRUPT:  # SQLite said so but quick_check did not confirm it: treat it as I/O
            kind = IO_ERROR
        h = self.health if not self.health.recording else HistoryHealth(recording=True, since=time.time())
        self.health = HistoryHealth(
            recording=False, trouble=kind, detail=str(exc) or type(exc).__name__, since=h.since,
            queued=len(self._queue), dropped=h.dropped, dropped_from=h.dropped_from,
            dropped_to=h.dropped_to, retries=h.retries + (0 if h.recording else 1))
        self._retry_at = self._clock() + self._delay
        self._delay = min(RETRY_MAX_SECONDS, self._delay * 2)

    def _recovered(self, written: int) -> None:
        """Writes work (again). The first health after trouble tells what was written and dropped."""
        self._retry_at = None
        self._delay = RETRY_FIRST_SECONDS
        h = self.health
        if not h.recording:
            self.health = HistoryHealth(recording=True, dropped=h.dropped, dropped_from=h.dropped_from,
                                        dropped_to=h.dropped_to, retries=h.retries, written_after=written)
        elif h != HistoryHealth(recording=True):
            self.health = HistoryHealth(recording=True)

    @property
    def queued_rows(self) -> int:
        return len(self._queue)

    @property
    def available(self) -> bool:
        """False while the file could not be opened at all (see :attr:`health`); retried on record."""
        return self._opened

    def _subject_id(self, conn: sqlite3.Connection, key: _SubjectKey) -> int:
        found = self._subjects.get(key)  # nearly always cached
        if found is None:
            conn.execute("INSERT OR IGNORE INTO subjects (kind, account, settle, symbol, leg, margin_mode) "
                         "VALUES (?, ?, ?, ?, ?, ?)", key)
            found = int(conn.execute(
                "SELECT id FROM subjects WHERE kind = ? AND account = ? AND settle = ? AND symbol = ? "
                "AND leg = ? AND margin_mode = ?", key).fetchone()[0])
            self._subjects[key] = found
        return found

    def samples(self, *, account: str, symbol: str | None = None, leg: str | None = None,
                settle: str | None = None, since: float | None = None,
                until: float | None = None, margin_mode: str | None = None) -> list[Sample]:
        """Samples of one subject, oldest first: the account's own rows when ``symbol`` and ``settle``
        are None, a pool's rows with ``settle``, a position's with ``symbol`` (and ``leg``, and
        ``margin_mode`` to tell an OKX cross/isolated pair apart).

        Several subjects may match (a symbol's two hedge legs when ``leg`` is None; a position's rows
        from before desk recorded the margin mode, and its rows since): their samples are merged in
        time order. Each subject is read on its own by the primary keys, in order."""
        low, high = _bounds(since, until)
        with self._reading() as conn:
            series = [self._series(conn, subject[0], subject[1:], low, high)
                      for subject in self._subjects_of(conn, account, symbol, leg, settle, margin_mode)]
        if len(series) == 1:
            return series[0]
        # as ORDER BY at, subject would: a stable sort of the series taken in subject order
        return sorted((s for one in series for s in one), key=_sample_time)

    def series(self, columns: Sequence[str], *, account: str, symbol: str | None = None,
               leg: str | None = None, settle: str | None = None, since: float | None = None,
               until: float | None = None, margin_mode: str | None = None) -> dict[str, list[Any]]:
        """The same samples as :meth:`samples`, column by column — ``at`` and the ``columns`` asked
        for (of :data:`VALUE_COLUMNS`) and only those read from the file: what a chart draws."""
        unknown = set(columns) - set(VALUE_COLUMNS)
        if unknown:
            raise ValueError(f"not a sample column: {', '.join(sorted(unknown))}")
        names = ("at", *(c for c in columns if c != "at"))
        low, high = _bounds(since, until)
        sql = (series_sql(names), series_sql(names, "recent_samples"))
        with self._reading() as conn:
            parts = [_subject_rows(conn, sql, subject[0], low, high)
                     for subject in self._subjects_of(conn, account, symbol, leg, settle, margin_mode)]
        rows = parts[0] if len(parts) == 1 else sorted((r for part in parts for r in part), key=_row_time)
        if not rows:
            return {name: [] for name in names}
        return dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))

    @staticmethod
    def _subjects_of(conn: sqlite3.Connection, account: str, symbol: str | None, leg: str | None,
                     settle: str | None, margin_mode: str | None = None) -> list[tuple[Any, ...]]:
        """(id, kind, account, settle, symbol, leg, margin_mode) of the subjects :meth:`samples`
        names, by id. A margin mode also takes the subject written before modes were recorded ('')."""
        where = ["account = ?"]
        args: list[Any] = [account]
        if symbol is not None:
            where.append("kind = 'position' AND symbol = ?")
            args.append(symbol)
            if leg is not None:
                where.append("leg = ?")
                args.append(leg)
            if settle is not None:
                where.append("settle = ?")
                args.append(settle)
            if margin_mode is not None:
                where.append("margin_mode IN (?, '')")
                args.append(margin_mode)
        elif settle is not None:
            where.append("kind = 'pool' AND settle = ?")
            args.append(settle)
        else:
            where.append("kind = 'account'")
        return conn.execute(f"SELECT id, {', '.join(SUBJECT_COLUMNS)} FROM subjects "
                            f"WHERE {' AND '.join(where)} ORDER BY id", args).fetchall()

    @staticmethod
    def _series(conn: sqlite3.Connection, subject: int, key: Sequence[str], low: float,
                high: float) -> list[Sample]:
        kind, account, settle, symbol, leg, margin_mode = key
        subject_fields = (kind, account, settle or None, symbol or None, leg or None,
                          margin_mode or None)  # '' is none
        make = Sample._make
        return [make((row[0], *subject_fields, *row[1:-1], row[-1] == 1))
                for row in _subject_rows(conn, (SERIES_SQL, RECENT_SERIES_SQL), subject, low, high)]

    def all_samples(self, *, account: str | None = None, since: float | None = None,
                    until: float | None = None, kinds: Sequence[str] = ("account", "pool", "position"),
                    ) -> list[Sample]:
        """Every sample in the range (all levels, all accounts unless one is named), for export."""
        where = [f"j.kind IN ({', '.join('?' for _ in kinds)})"]
        args: list[Any] = list(kinds)
        if account is not None:
            where.append("j.account = ?")
            args.append(account)
        return self._select_samples(where, args, since, until)

    def _select_samples(self, where: list[str], args: list[Any], since: float | None,
                        until: float | None) -> list[Sample]:
        if since is not None:
            where.append("s.at >= ?")
            args.append(since)
        if until is not None:
            where.append("s.at <= ?")
            args.append(until)
        sql = f"SELECT {_SELECT} FROM {_FROM} WHERE {' AND '.join(where)} ORDER BY s.at, s.subject"
        return [_sample(row) for row in self._conn().execute(sql, args)]

    def accounts(self) -> list[str]:
        """Accounts that have samples, alphabetically."""
        rows = self._conn().execute(
            f"SELECT DISTINCT account FROM subjects WHERE {_HAS_SAMPLES} ORDER BY account")
        return [r[0] for r in rows]

    def positions(self, account: str) -> list[tuple[str, str]]:
        """(symbol, leg) of every position of ``account`` with samples."""
        rows = self._conn().execute(
            "SELECT DISTINCT symbol, leg FROM subjects WHERE account = ? AND kind = 'position' "
            f"AND {_HAS_SAMPLES} ORDER BY symbol, leg", (account,))
        return [(r[0], r[1]) for r in rows]

    # --- alerts ----------------------------------------------------------------------------------

    def record_alert(self, alert: Alert) -> int:
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO alerts (at, rule, level, title, body, account, symbol, leg, value, threshold, "
                "repeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (alert.at, alert.rule, alert.level.value, redact(alert.title), redact(alert.body),
                 alert.account, alert.symbol, alert.leg, _finite(alert.value), _finite(alert.threshold),
                 alert.repeat))
            return int(cur.lastrowid or 0)

    def record_delivery(self, alert_id: int, attempt: DeliveryAttempt) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO deliveries (alert_id, at, channel, delivered, detail) VALUES (?, ?, ?, ?, ?)",
                (alert_id, attempt.at, attempt.channel, int(attempt.delivered), redact(attempt.detail)))

    def alerts(self, *, since: float | None = None, until: float | None = None,
               account: str | None = None) -> list[AlertRow]:
        """The alert log in the range, oldest first, each with its delivery attempts."""
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        if until is not None:
            where.append("at <= ?")
            args.append(until)
        if account is not None:
            where.append("account = ?")
            args.append(account)
        conn = self._conn()
        rows = conn.execute(
            "SELECT id, at, rule, level, title, body, account, symbol, leg, value, threshold, repeat "
            "FROM alerts "
            f"WHERE {' AND '.join(where)} ORDER BY at, id", args).fetchall()
        deliveries: dict[int, list[DeliveryAttempt]] = {}
        if rows:
            first, last = rows[0][0], rows[-1][0]
            for alert_id, at, channel, delivered, detail in conn.execute(
                    "SELECT alert_id, at, channel, delivered, detail FROM deliveries "
                    "WHERE alert_id BETWEEN ? AND ? ORDER BY at, id", (min(first, last), max(first, last))):
                deliveries.setdefault(alert_id, []).append(
                    DeliveryAttempt(at=at, channel=channel, delivered=bool(delivered), detail=detail))
        result = []
        for (alert_id, at, rule, level, title, body, account_, symbol, leg, value, threshold, repeat) in rows:
            alert = Alert(at=at, rule=rule, level=AlertLevel(level), title=title, body=body,
                          account=account_, symbol=symbol, leg=leg, value=value, threshold=threshold,
                          repeat=int(repeat))
            result.append(AlertRow(id=alert_id, alert=alert,
                                   deliveries=tuple(deliveries.get(alert_id, ()))))
        return result

    def alert(self, alert_id: int) -> AlertRow | None:
        """One alert of the log by id (``desk alerts ack ID``), or None."""
        row = self._conn().execute("SELECT at FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            return None
        return next((r for r in self.alerts(since=row[0], until=row[0]) if r.id == alert_id), None)

    def record_ack(self, ack: Acknowledgement) -> int:
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO acks (at, source, rule, account, symbol, leg, alert_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ack.at, ack.source, ack.rule, ack.account, ack.symbol, ack.leg, ack.alert_id))
            return int(cur.lastrowid or 0)

    def acks(self, *, after_id: int = 0, since: float | None = None) -> list[tuple[int, Acknowledgement]]:
        """Acknowledgements recorded after ``after_id`` (a running desk picks up `desk alerts ack`)."""
        rows = self._conn().execute(
            "SELECT id, at, source, rule, account, symbol, leg, alert_id FROM acks WHERE id > ? AND at >= ? "
            "ORDER BY id", (after_id, -math.inf if since is None else since)).fetchall()
        return [(r[0], Acknowledgement(at=r[1], source=r[2], rule=r[3], account=r[4], symbol=r[5], leg=r[6],
                                       alert_id=r[7])) for r in rows]

    def last_ack_id(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(id), 0) FROM acks").fetchone()
        return int(row[0])

    # --- snapshots -------------------------------------------------------------------------------

    def save_snapshot(self, name: str, portfolio_json: bytes, at: float) -> int:
        with self._write() as conn:
            cur = conn.execute("INSERT INTO snapshots (name, at, portfolio) VALUES (?, ?, ?)",
                               (name, at, sqlite3.Binary(portfolio_json)))
            return int(cur.lastrowid or 0)

    def snapshots(self) -> list[SnapshotInfo]:
        rows = self._conn().execute(
            "SELECT id, name, at, length(portfolio) FROM snapshots ORDER BY at, id")
        return [SnapshotInfo(id=r[0], name=r[1], at=r[2], size=r[3]) for r in rows]

    def load_snapshot(self, snapshot_id: int) -> bytes:
        row = self._conn().execute(
            "SELECT portfolio FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
        if row is None:
            raise KeyError(f"no saved snapshot with id {snapshot_id}")
        return bytes(row[0])

    # --- retention -------------------------------------------------------------------------------

    def compact(self, now: float) -> None:
        """Thin old samples to the coarse cadence, drop what is past retention, bound the size."""
        self._last_compact = now
        self._merge()  # every sample where compaction and the size bound see it
        bucket = self.coarse_sample_minutes * 60
        fine_cut = math.floor((now - self.fine_retention_hours * 3600) / bucket) * bucket
        coarse_cut = now - self.coarse_retention_days * 86400
        # One transaction per hour of data, so a long backlog (desk was closed for days) does not
        # hold the write lock for long: the monitor's record() interleaves between chunks.
        step = max(bucket, math.floor(3600 / bucket) * bucket)
        next_fine = "SELECT min(at) FROM samples WHERE coarse = 0 AND at >= ? AND at < ?"
        oldest = self._conn().execute(next_fine, (-math.inf, fine_cut)).fetchone()[0]
        while oldest is not None:
            low = math.floor(oldest / bucket) * bucket
            high = min(low + step, fine_cut)
            with self._write() as conn:
                conn.execute(
                    """
                    UPDATE samples SET coarse = 1 WHERE (subject, at) IN (
                        SELECT subject, at FROM (
                            SELECT subject, at, ROW_NUMBER() OVER (
                                PARTITION BY subject, CAST(at / :bucket AS INTEGER)
                                ORDER BY margin_ratio DESC NULLS LAST,
                                         distance_to_liquidation ASC NULLS LAST, at DESC) AS rank
                            FROM samples WHERE coarse = 0 AND at >= :low AND at < :high)
                        WHERE rank = 1)
                    """, {"bucket": bucket, "low": low, "high": high})
                conn.execute("DELETE FROM samples WHERE coarse = 0 AND at >= ? AND at < ?", (low, high))
            # Jump over gaps (desk closed for a week) instead of walking them hour by hour.
            oldest = self._conn().execute(next_fine, (high, fine_cut)).fetchone()[0]
        with self._write() as conn:
            conn.execute("DELETE FROM samples WHERE at < ?", (coarse_cut,))
            conn.execute("DELETE FROM alerts WHERE at < ?", (coarse_cut,))
            conn.execute("DELETE FROM acks WHERE at < ?", (coarse_cut,))
        self._bound_size()

    def used_bytes(self) -> int:
        """Bytes of the database in use (pages holding data, not free pages)."""
        conn = self._conn()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def _bound_size(self) -> None:
        limit = self.max_megabytes * 1024 * 1024
        conn = self._conn()
        for _ in range(200):  # bounded: each pass removes at least 1 000 rows or stops
            used = self.used_bytes()
            if used <= limit:
                break
            count = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
            if count == 0:
                self.problems.append(f"{self.path}: alerts and snapshots alone exceed history.max_megabytes")
                break
            # Remove a share proportional to the excess, aiming 10 % under the limit, oldest first.
            share = min(1.0, (used - limit * 0.9) / used)
            n = max(1000, int(count * share))
            with self._write() as w:
                # Everything up to the n-th oldest time goes (at least n rows: always progress).
                nth = w.execute("SELECT at FROM samples ORDER BY at LIMIT 1 OFFSET ?",
                                (min(n, count) - 1,)).fetchone()
                w.execute("DELETE FROM samples WHERE at <= ?", (nth[0],))
        with self._write_lock:
            # executescript steps the pragma to completion (execute() would free a single page).
            conn.executescript("PRAGMA incremental_vacuum;")
            # Busy while a reader holds the WAL: the next compaction truncates it.
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def file_bytes(self) -> int:
        """Size on disk: the database plus its write-ahead log."""
        total = 0
        for p in (self.path, Path(str(self.path) + "-wal")):
            if p.exists():
                total += p.stat().st_size
        return total


def _statements(script: str) -> Iterable[str]:
    """Split a migration script into statements (none of ours contains ';' inside a literal)."""
    for part in script.split(";"):
        lines = [line.split("--", 1)[0] for line in part.splitlines()]
        statement = "\n".join(lines).strip()
        if statement:
            yield statement


def _subject_rows(conn: sqlite3.Connection, sql: tuple[str, str], subject: int, low: float,
                  high: float) -> list[Any]:
    """One subject's rows in time order (``at`` first): those moved into samples, then the recent ones.
    A clock that went back puts a recent row before a moved one: then the two runs are merged."""
    moved = conn.execute(sql[0], (subject, low, high)).fetchall()
    recent = conn.execute(sql[1], (subject, low, high)).fetchall()
    if not recent:
        return moved
    if moved and moved[-1][0] > recent[0][0]:
        return sorted(moved + recent, key=_row_time)  # two sorted runs: one linear merge
    moved += recent
    return moved


def _sample(row: Sequence[Any]) -> Sample:
    at, kind, account, settle, symbol, leg, margin_mode, *values, coarse = row
    subject_fields = (kind, account, settle or None, symbol or None, leg or None,
                      margin_mode or None)  # '' is none
    return Sample._make((at, *subject_fields, *values, bool(coarse)))


def _sample_time(sample: Sample) -> float:
    return sample.at


def _row_time(row: Sequence[Any]) -> float:
    return float(row[0])


def _bounds(since: float | None, until: float | None) -> tuple[float, float]:
    return (-math.inf if since is None else since, math.inf if until is None else until)


_SubjectKey = tuple[str, str, str, str, str, str]  # kind, account, settle, symbol, leg, margin mode


def _values(at: float, side: str | None = None, *figures: float | None) -> tuple[Any, ...]:
    """A row's VALUE_COLUMNS: the time, the side, then the figures in VALUE_COLUMNS' order."""
    return (at, side, *[None if x is None or x != x else float(x) for x in figures])  # NaN: missing


def _account_rows(account: AccountRisk, at: float) -> list[tuple[_SubjectKey, tuple[Any, ...]]]:
    """One row for the account, one per pool, one per position: (subject, VALUE_COLUMNS)."""
    name = account.name
    ratios = [p.margin_ratio for p in account.pools if p.margin_ratio is not None]
    ratios += [p.margin_ratio for p in account.positions
               if p.margin_mode == "isolated" and p.margin_ratio is not None]
    # signed: a position past liquidation is the account's worst (its distance is negative)
    distances = [d for d in (p.signed_distance_to_liquidation for p in account.positions) if d is not None]
    settles = {p.settle for p in account.pools}
    single = next(iter(settles)) if len(settles) == 1 else None
    # Summing PnL across settle currencies would add USDT to BTC: only total it for one currency.
    pools = account.pools
    rows = [(("account", name, single or "", "", "", ""), _values(
        at, None,
        max(ratios) if ratios else None,  # margin_ratio
        min(distances) if distances else None,  # distance_to_liquidation
        None, None, None,  # mark, liquidation and bankruptcy prices
        sum(p.unrealized_pnl for p in pools) if single else None,
        sum(p.maintenance_margin for p in pools) if single else None,
        sum(p.margin_balance for p in pools) if single else None,
        sum(p.wallet_balance for p in pools) if single else None,
        None, None,  # notional, contracts
        account.shock_to_liquidation,
        None, None))]  # venue margin ratio, reported liquidation price
    rows.extend((("pool", name, pool.settle, "", "", ""), _values(
        at, None, pool.margin_ratio, None, None, None, None, pool.unrealized_pnl, pool.maintenance_margin,
        pool.margin_balance, pool.wallet_balance, None, None, None, pool.venue_margin_ratio, None))
        for pool in pools)
    # a position's subject is its PositionKey: an OKX cross/isolated pair is two series
    for p in account.positions:
        key = p.key  # made once: a property that builds a PositionKey each time it is read
        rows.append((("position", name, p.settle, key.symbol, key.leg, key.margin_mode), _values(
            at, p.side, p.margin_ratio, p.signed_distance_to_liquidation, p.mark_price,
            p.liquidation_price, p.bankruptcy_price, p.unrealized_pnl, p.maintenance_margin, None, None,
            p.notional, p.contracts, None, None, p.reported_liquidation_price)))
    return rows


assert VALUE_COLUMNS == (
    "at", "side", "margin_ratio", "distance_to_liquidation", "mark_price", "liquidation_price",
    "bankruptcy_price", "unrealized_pnl", "maintenance_margin", "margin_balance", "wallet_balance",
    "notional", "contracts", "shock_to_liquidation", "venue_margin_ratio", "reported_liquidation_price",
), "_account_rows writes the figures in this order"
