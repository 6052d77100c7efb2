"""Issue 19: the filter as a trader means it, the column chooser and the window's size kept between
runs, and keys that keep their usual meaning — on the real main window under Xvfb."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QFontMetrics, QKeySequence
from PySide6.QtWidgets import QMenu

from desk.ui import main_window as main_window_module
from desk.ui.main_window import DEFAULT_HIDDEN, MainWindow, initial_geometry
from desk.ui.positions_model import Column, filter_pattern
from tests.support.ui import position, snapshot


@pytest.fixture(autouse=True)
def no_charts(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)


def make_window(qtbot, state: Path | None = None) -> MainWindow:  # type: ignore[no-untyped-def]
    w = MainWindow(demo=True, state_file=str(state) if state else None)
    w.allow_close = True
    qtbot.addWidget(w)
    w.show()
    return w


BOOK = [
    position("SOL/USDT:USDT", account="demo-binance-usdm", mark=150.0, liquidation=120.0),
    position("BTC/USDT:USDT", account="demo-bybit-isolated", margin_mode="isolated"),
    position("SOLVBTC/USDT:USDT", account="main", side="short", mark=100.0, liquidation=130.0),
    position("ETH/USDT:USDT", account="demo-bybit-isolated", side="short", mark=3000.0, liquidation=3300.0),
]


def shown_symbols(window: MainWindow) -> list[tuple[str, str]]:
    proxy = window.proxy
    return sorted((proxy.index(r, Column.ACCOUNT).data(), proxy.index(r, Column.SYMBOL).data())
                  for r in range(proxy.rowCount()))


@pytest.mark.parametrize(("text", "expected"), [
    # a word matches where a word starts: SOL (and SOLVBTC), never demo-bybit-isolated's "isolated"
    ("sol", [("demo-binance-usdm", "SOL/USDT:USDT"), ("main", "SOLVBTC/USDT:USDT")]),
    ("SOL/USDT", [("demo-binance-usdm", "SOL/USDT:USDT")]),
    # the mode word "isolated" and the account's word "isolated" (but no word inside another)
    ("isol", [("demo-bybit-isolated", "BTC/USDT:USDT"), ("demo-bybit-isolated", "ETH/USDT:USDT")]),
    ("bybit short", [("demo-bybit-isolated", "ETH/USDT:USDT")]),  # every word must match
    ("account:bybit", [("demo-bybit-isolated", "BTC/USDT:USDT"), ("demo-bybit-isolated", "ETH/USDT:USDT")]),
    ("account:sol", [("demo-bybit-isolated", "BTC/USDT:USDT"), ("demo-bybit-isolated", "ETH/USDT:USDT")]),
    ("symbol:vbtc", [("main", "SOLVBTC/USDT:USDT")]),  # anywhere in the symbol
    ("symbol:usdm", []),  # the account's words are not the symbol's
    ("account:", [("demo-binance-usdm", "SOL/USDT:USDT"), ("demo-bybit-isolated", "BTC/USDT:USDT"),
                  ("demo-bybit-isolated", "ETH/USDT:USDT"), ("main", "SOLVBTC/USDT:USDT")]),
    ("(", []),  # typed characters are text, not a pattern
])
def test_the_filter_matches_what_the_trader_means(qtbot, text, expected) -> None:  # type: ignore[no-untyped-def]
    window = make_window(qtbot)
    window.apply_snapshot(snapshot(BOOK))
    qtbot.keyClicks(window.filter_edit, text)
    assert shown_symbols(window) == expected
    assert "account:" in window.filter_edit.placeholderText()


def test_an_empty_filter_is_no_pattern() -> None:
    assert filter_pattern("  ") == ""


def test_the_column_chooser_shows_a_column_and_the_choice_is_kept(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "window-state.ini"
    window = make_window(qtbot, state)
    window.apply_snapshot(snapshot(BOOK))
    table = window.table
    assert {c for c in Column if table.isColumnHidden(c)} == DEFAULT_HIDDEN
    header = table.horizontalHeader()
    header.customContextMenuRequested.emit(QPoint(10, 5))  # a right-click on the header
    menu: QMenu = window._column_menu_shown
    actions = {a.text(): a for a in menu.actions() if a.isCheckable()}
    assert set(actions) >= {"Risk", "Account", "Symbol", "Mark", "uPnL", "ROI", "Margin", "Entry",
                            "Bankruptcy", "Liq. desk", "Age"}
    assert not actions["Risk"].isEnabled() and not actions["Symbol"].isEnabled()
    assert not actions["Entry"].isChecked()
    actions["Entry"].trigger()  # show Entry
    assert actions["ROI"].isChecked() and not actions["Margin"].isChecked()
    actions["Margin"].trigger()  # show the position margin
    actions["ROI"].trigger()  # hide the ROI
    assert not table.isColumnHidden(Column.ENTRY) and not table.isColumnHidden(Column.POSITION_MARGIN)
    assert table.isColumnHidden(Column.ROI)
    window.close()

    again = make_window(qtbot, state)
    assert not again.table.isColumnHidden(Column.ENTRY)
    assert not again.table.isColumnHidden(Column.POSITION_MARGIN)
    assert again.table.isColumnHidden(Column.ROI)
    assert again.table.isColumnHidden(Column.BANKRUPTCY)
    again.default_columns()
    assert {c for c in Column if again.table.isColumnHidden(c)} == DEFAULT_HIDDEN


def test_a_past_liquidation_row_fits_1280_without_scrolling(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(qtbot)
    window.resize(1278, 736)  # a 1280×800 screen under a panel, less the frame
    coin = replace(position("BTC/USD:BTC", account="demo-binance-coinm", mark=54_356.9, liquidation=50_546.3),
                   settle="BTC", unrealized_pnl=-0.05604, position_margin=0.049587, roi=-1.1301)
    book = [*BOOK, coin, position("SOL/USDT:USDT", account="demo-bybit-isolated", margin_ratio=1.3,
                                  mark=114.94, liquidation=123.17, distance=0.0717, margin_mode="isolated")]
    window.apply_snapshot(snapshot(book))
    table = window.table
    assert any("PAST LIQUIDATION" in str(table.model().index(r, Column.DISTANCE).data())
               for r in range(table.model().rowCount()))
    qtbot.waitUntil(lambda: not table.horizontalScrollBar().isVisible())
    shown = [c for c in Column if not table.isColumnHidden(c)]
    assert sum(table.columnWidth(c) for c in shown) <= table.viewport().width()
    # the distance is whole, never elided; account and symbol keep a readable width
    bold = table.font()
    bold.setBold(True)
    words = QFontMetrics(bold).horizontalAdvance("PAST LIQUIDATION -7.17 %")
    assert table.columnWidth(Column.DISTANCE) > words
    assert table.columnWidth(Column.ACCOUNT) >= 84 and table.columnWidth(Column.SYMBOL) >= 84


def test_five_accounts_do_not_push_the_window_past_1280(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(qtbot)
    window.apply_snapshot(snapshot([position("BTC/USDT:USDT", account=f"demo-account-number-{i}")
                                    for i in range(5)]))
    qtbot.waitUntil(lambda: len(window.accounts_panel.cards) == 5)
    assert window.minimumSizeHint().width() <= 1278
    assert window.minimumSize().width() <= 1278


def test_the_window_size_is_kept_between_runs(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "window-state.ini"
    window = make_window(qtbot, state)
    window.resize(700, 500)  # within pytest-xvfb's 800×600 screen
    qtbot.waitUntil(lambda: window.size().width() == 700)
    window.close()
    again = make_window(qtbot, state)
    assert (again.width(), again.height()) == (700, 500)


@pytest.mark.parametrize(("screen", "expected"), [
    (QRect(0, 0, 1280, 768), QRect(1, 32, 1278, 736)),  # 1280×800 under a 32 px panel: all of it
    (QRect(0, 0, 1366, 736), QRect(1, 32, 1364, 704)),
    (QRect(0, 0, 1920, 1048), QRect(144, 40, 1632, 1000)),  # large: 85 %, at least 1600×1000, centred
])
def test_first_start_takes_the_available_screen(screen: QRect, expected: QRect) -> None:
    geometry = initial_geometry(screen)
    assert geometry == expected
    assert screen.contains(geometry.adjusted(-1, -32, 1, 0))  # with the window manager's frame


def test_keys_keep_their_usual_meaning(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(qtbot)
    actions = window.menu_actions
    bound = {a.shortcut().toString(): name for name, a in actions.items() if not a.shortcut().isEmpty()}
    assert len(bound) == len([a for a in actions.values() if not a.shortcut().isEmpty()])  # no key twice
    assert "Ctrl+W" not in bound  # Close, in every other application
    for standard in (QKeySequence.StandardKey.Close, QKeySequence.StandardKey.Save,
                     QKeySequence.StandardKey.Open, QKeySequence.StandardKey.Print,
                     QKeySequence.StandardKey.Undo, QKeySequence.StandardKey.Copy,
                     QKeySequence.StandardKey.SelectAll, QKeySequence.StandardKey.Refresh):
        for key in QKeySequence.keyBindings(standard):
            assert key.toString() not in bound, (standard, key.toString())
    assert actions["settings"].shortcut().toString() == "Ctrl+,"
    assert actions["quit"].shortcut().matches(QKeySequence("Ctrl+Q")) == QKeySequence.SequenceMatch.ExactMatch
    # every action reachable from the keyboard: a shortcut, or a mnemonic in its menu
    for name, action in actions.items():
        assert "&" in action.text(), name
    help_menu = next(m for m in window.menuBar().findChildren(QMenu) if m.title() == "&Help")
    assert [a.text() for a in help_menu.actions() if a.text()] == [
        "&Keyboard shortcuts", "&Documentation", "Open the &log folder", "&About desk"]


def test_the_shortcuts_list_names_every_key(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(qtbot)
    window.menu_actions["shortcuts"].trigger()
    box = window._shortcuts_box
    qtbot.waitUntil(box.isVisible)
    text = box.text()
    for keys, what in window.shortcut_lines():
        assert f"<b>{keys}</b>" in text and what in text
    assert "Ctrl+," in text and "Sort worst first" in text
    box.close()


def test_worst_first_and_the_column_chooser_from_the_keyboard(qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(qtbot)
    window.apply_snapshot(snapshot(BOOK))
    window.table.sortByColumn(Column.SYMBOL, Qt.SortOrder.AscendingOrder)
    window.menu_actions["worst_first"].trigger()
    assert window.model.sort_state() == (Column.STATUS, Qt.SortOrder.AscendingOrder)
    window.menu_actions["columns"].trigger()
    assert window._column_menu_shown.isVisible()
    window._column_menu_shown.close()
