"""Run `desk` with its history file made full or read-only *by SQLite itself*, switched from a test.

``python -m tests.support.history_faults CONTROL desk-arguments...`` runs desk's real entry point;
before each history write, the writer's connection is set from the CONTROL file: ``full`` caps
the database at its current size (``PRAGMA max_page_count``: SQLite then fails with SQLITE_FULL,
"database or disk is full", as on a full disk), ``read-only`` sets ``PRAGMA query_only`` (SQLITE_READONLY,
as in a read-only home, which root — the CI user — would not get from file permissions), ``ok``
lifts both: space returns.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NO_CAP = 1073741823  # SQLite's default max_page_count


def install(control: Path) -> None:
    from desk.store import history

    original = history.History._write

    @contextmanager
    def write(self: history.History) -> Iterator[object]:
        conn = self._conn()
        mode = control.read_text().strip()
        cap = conn.execute("PRAGMA page_count").fetchone()[0] if mode == "full" else NO_CAP
        conn.execute(f"PRAGMA max_page_count = {cap}")
        conn.execute(f"PRAGMA query_only = {int(mode == 'read-only')}")
        with original(self) as c:
            yield c

    history.History._write = write  # type: ignore[method-assign,assignment]


if __name__ == "__main__":
    install(Path(sys.argv[1]))
    from desk.cli import main

    sys.exit(main(sys.argv[2:]))
