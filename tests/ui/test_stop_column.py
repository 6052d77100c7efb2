"""The Stop column of the positions table in the real main window (issue 17): what it paints.

The protection of each row is computed by the domain from real orders; the expected texts,
colours and tooltips are written here from the verdicts' definitions.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from desk.domain.model import Kind, MarginMode, Position, Side, Tier
from desk.domain.protection import Order, OrderKind, OrderSide, assess
from desk.ui import main_window as main_window_module
from desk.ui.levels import Level
from desk.ui.main_window import MainWindow
from desk.ui.positions_model import KEY_ROLE, Column
from desk.ui.theme import level_text_hex
from tests.support.ui import position, snapshot

MARK, LIQ, BANKRUPT = 60_000.0, 54_300.0, 54_028.5  # tests.support.ui: bankruptcy = liq × 0.995


def _held(symbol: str) -> Position:
    return Position(symbol, "USDT", Kind.LINEAR, 0.5, Side.LONG, MARK * 0.99, MARK, MarginMode.CROSS,
                    tiers=(Tier(0.0, float("inf"), 0.004),), taker_fee=0.0005)


def _row(symbol: str, orders: list[Order] | None):
    p = position(symbol, mark=MARK, liquidation=LIQ)
    if orders is None:
        return p
    return replace(p, protection=assess(_held(symbol), orders, LIQ, BANKRUPT, "binanceusdm"))


def _stop(symbol: str, trigger: float, contracts: float | None = None) -> Order:
    return Order(symbol, OrderKind.STOP, OrderSide.SELL, contracts, trigger_price=trigger, reduce_only=True,
                 source="conditional")


@pytest.fixture
def window(qtbot, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    w = MainWindow(demo=True)
    w.allow_close = True
    qtbot.addWidget(w)
    w.show()
    return w


def test_each_verdict_as_painted(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    rows = [
        _row("PROT/USDT:USDT", [_stop("PROT/USDT:USDT", 57_000.0)]),
        _row("PART/USDT:USDT", [_stop("PART/USDT:USDT", 57_000.0, 0.15)]),
        _row("NONE/USDT:USDT", []),
        _row("BEYOND/USDT:USDT", [_stop("BEYOND/USDT:USDT", 54_000.0)]),
        _row("UNREAD/USDT:USDT", None),
    ]
    window.apply_snapshot(snapshot(rows, at=time.time()))
    model = window.table.model()
    qtbot.waitUntil(lambda: model.rowCount() == 5)
    header = model.headerData(Column.STOP, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
    assert header == "Stop"
    assert window.table.isColumnHidden(Column.STOP) is False

    cells = {}
    for row in range(model.rowCount()):
        index = model.index(row, Column.STOP)
        symbol = index.data(KEY_ROLE)[1]
        cells[symbol] = {role: index.data(role) for role in (
            Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.ForegroundRole,
            Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.FontRole)}
    text = {s: c[Qt.ItemDataRole.DisplayRole] for s, c in cells.items()}
    assert text == {"PROT/USDT:USDT": "protected", "PART/USDT:USDT": "partly 30 %",  # 0.15 of 0.5
                    "NONE/USDT:USDT": "UNPROTECTED", "BEYOND/USDT:USDT": "stop beyond liq",
                    "UNREAD/USDT:USDT": "—"}
    warning = QColor(level_text_hex(Level.WARNING)).name().upper()
    for symbol, c in cells.items():
        colour = c[Qt.ItemDataRole.ForegroundRole]
        exposed = symbol in ("NONE/USDT:USDT", "BEYOND/USDT:USDT")
        assert (colour is not None) is exposed, symbol
        if exposed:
            assert QColor(colour).name().upper() == warning
        assert c[Qt.ItemDataRole.BackgroundRole] is None and c[Qt.ItemDataRole.FontRole] is None

    tip = cells["PROT/USDT:USDT"][Qt.ItemDataRole.ToolTipRole]
    # stop at 57,000 for 0.5 from the mark 60,000: 1,500 + fee 0.0005 × 0.5 × 57,000 = 14.25
    assert tip.splitlines()[0] == "Protected (stop 57,000.0)."
    assert "Stop 57,000.0 · whole position · conditional" in tip
    assert "If the stops fill: loses 1,514.25 USDT (incl. taker fee 14.25 USDT)" in tip
    # liquidated at the bankruptcy price 54,028.5: 0.5 × (60,000 − 54,028.5) = 2,985.75
    assert "if liquidated: loses 2,985.75 USDT" in tip
    assert "not published/unverified" in tip
    assert cells["BEYOND/USDT:USDT"][Qt.ItemDataRole.ToolTipRole].startswith(
        "Stop beyond liquidation: can never fire.")
    assert "open orders are not read" in cells["UNREAD/USDT:USDT"][Qt.ItemDataRole.ToolTipRole]

