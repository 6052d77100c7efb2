"""OKX twins (one instrument and leg held cross and isolated at once) in the real main window's
positions table: two rows, and every painted role of every visible cell belongs to its own twin —
through re-sorts on every column and an update of one twin only (the oracle of
test_table_integrity: expectations built from the test's own book)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import QCoreApplication, Qt

from desk.services.alerts_config import Thresholds
from desk.services.snapshot import DataStatus
from desk.ui.main_window import MainWindow
from desk.ui.positions_model import KEY_ROLE, Column
from tests.ui.table_oracle import (
    Book,
    Held,
    PaintRecorder,
    cell_mismatches,
    make_position,
    remark,
    shown_window,
)

NOW = 1_800_000_000.0
BTC = "BTC/USDT:USDT"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def window(qtbot, monkeypatch):  # type: ignore[no-untyped-def]
    return shown_window(qtbot, monkeypatch, Clock())


def twins() -> tuple[Book, tuple[str, str, str, str], tuple[str, str, str, str]]:
    cross = replace(make_position("ok", BTC, leg="both", side="long", mark=62_000.0, liq=33_700.0, ratio=0.2,
                                  tick=0.1, reported=None, mode="cross"), contracts=100.0)
    isolated = replace(make_position("ok", BTC, leg="both", side="long", mark=62_000.0, liq=58_212.0,
                                     ratio=0.55, tick=0.1, reported=58_211.9, mode="isolated"),
                       contracts=20.0)
    book = Book(accounts=("ok",), thresholds=Thresholds(), held={}, status={"ok": DataStatus.LIVE}, now=NOW)
    for risk in (cross, isolated):
        book.held[risk.key] = Held(risk, mark_time=NOW)
    return book, cross.key, isolated.key


def settle(recorder: PaintRecorder) -> list[str]:
    for _ in range(12):
        before = recorder.frames
        QCoreApplication.processEvents()
        if recorder.frames == before:
            break
    return recorder.mismatches()


def shown(window: MainWindow, key: object, column: Column) -> str:
    proxy = window.proxy
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data(KEY_ROLE) == key)
    return str(proxy.index(row, column).data(Qt.ItemDataRole.DisplayRole))


def test_twins_are_two_rows_each_cell_its_own_through_sorts_and_one_twins_update(window) -> None:  # type: ignore[no-untyped-def]
    book, cross, isolated = twins()
    recorder = PaintRecorder(window.table)
    window.apply_snapshot(book.snapshot(1, NOW))
    assert window.model.rowCount() == 2
    assert {window.proxy.index(r, 0).data(KEY_ROLE) for r in range(2)} == {cross, isolated}
    assert cell_mismatches(window.table, book, NOW) == []
    assert settle(recorder) == []
    assert shown(window, cross, Column.SIZE) != shown(window, isolated, Column.SIZE)
    assert shown(window, cross, Column.MODE).startswith("cross")
    assert shown(window, isolated, Column.MODE).startswith("isol.")

    window.table.selectRow(next(r for r in range(2) if window.proxy.index(r, 0).data(KEY_ROLE) == isolated))
    for column in Column:
        for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
            window.table.sortByColumn(column, order)
            assert cell_mismatches(window.table, book, NOW) == [], (column.name, order)
            assert settle(recorder) == [], (column.name, order)
            assert window.selected_key() == isolated

    # one twin moves (the isolated one nears its own liquidation), the other does not
    window.clock.now = book.now = NOW + 2  # type: ignore[attr-defined]
    window.tick()  # the one-second timer: ages move on every row
    held = book.held[isolated]
    before_cross = shown(window, cross, Column.MARK)
    held.risk, held.mark_time = remark(held.risk, 59_500.0, 0.93), NOW + 2
    window.apply_snapshot(book.snapshot(2, NOW + 2))
    assert window.model.rowCount() == 2
    assert cell_mismatches(window.table, book, NOW + 2) == []
    assert settle(recorder) == []
    assert shown(window, isolated, Column.MARK) != before_cross == shown(window, cross, Column.MARK)
    assert window.selected_key() == isolated
    window.table.sortByColumn(Column.DISTANCE, Qt.SortOrder.AscendingOrder)
    assert window.proxy.index(0, 0).data(KEY_ROLE) == isolated  # the nearer to liquidation first
    assert cell_mismatches(window.table, book, NOW + 2) == []
    assert settle(recorder) == []

    # an alert names no margin mode (its condition is the worse twin's): opening it selects the
    # worse twin, whichever was selected before
    window.select_key(cross)
    assert window.select_instrument("ok", BTC, "both")
    assert window.selected_key() == isolated
    assert window.twinned(cross) and window.twinned(isolated)
