"""Issue 15 on the real main window: the selection belongs to a position, a liquidation leaves a
trace until acknowledged, critical and stale rows stay on top, the exchange's figure shows its age."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMenu

from desk.domain.engine import compute_risk
from desk.services.snapshot import AccountState, DataStatus, MonitorSnapshot
from desk.ui import main_window as main_window_module
from desk.ui.levels import Level
from desk.ui.main_window import MainWindow
from desk.ui.positions_model import KEY_ROLE, Column
from desk.ui.theme import level_text_hex
from tests.support.demo import follow_isolated, manual_market
from tests.support.ui import checked_at_read, moved, position, snapshot

NOW = 1_800_000_000.0
ROLE = Qt.ItemDataRole


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def window(qtbot, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    w = MainWindow(demo=True, clock=Clock())
    w.allow_close = True
    w._clock_timer.stop()  # the tests move the clock and tick by hand
    qtbot.addWidget(w)
    with qtbot.waitExposed(w):  # a context manager: called bare it waits for nothing
        w.show()
    return w


def book():  # type: ignore[no-untyped-def]
    return [
        position("SAFE/USDT:USDT", mark=100.0, liquidation=70.0, margin_ratio=0.1),
        position("WARN/USDT:USDT", mark=100.0, liquidation=92.0, margin_ratio=0.2),
        position("CRIT/USDT:USDT", mark=100.0, liquidation=97.0, margin_ratio=0.3),
        position("FAR/USDT:USDT", mark=100.0, liquidation=40.0, margin_ratio=0.05),
    ]


def symbols(w: MainWindow) -> list[str]:
    return [w.proxy.index(r, Column.SYMBOL).data() for r in range(w.proxy.rowCount())]


def selected_symbols(w: MainWindow) -> list[str]:
    return [i.data(KEY_ROLE)[1] for i in w.table.selectionModel().selectedRows()]


def row_of(w: MainWindow, symbol: str) -> int:
    return symbols(w).index(symbol)


def cell(w: MainWindow, symbol: str, column: Column, role: int = ROLE.DisplayRole):  # type: ignore[no-untyped-def]
    return w.proxy.index(row_of(w, symbol), column).data(role)


def settle(qtbot, w: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not w._summary_pending)


def emitted(w: MainWindow) -> list[object]:
    out: list[object] = []
    w.position_selected.connect(out.append)
    return out


# -- selection follows the position -------------------------------------------------------------

def test_a_closed_selected_position_selects_nothing_else_and_the_tabs_say_so(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    positions = book()
    window.apply_snapshot(snapshot(positions, at=NOW))
    window.table.selectRow(row_of(window, "FAR/USDT:USDT"))
    # a re-sort and an update that moves FAR: the selection goes with it
    window.table.sortByColumn(Column.MARK, Qt.SortOrder.DescendingOrder)
    positions = [moved(p, 150.0) if p.symbol == "FAR/USDT:USDT" else p for p in positions]
    window.apply_snapshot(snapshot(positions, seq=2, at=NOW))
    assert selected_symbols(window) == ["FAR/USDT:USDT"]
    signals = emitted(window)
    # FAR was never critical: closing it is not a liquidation, its row goes
    window.apply_snapshot(snapshot([p for p in positions if p.symbol != "FAR/USDT:USDT"], seq=3, at=NOW))
    assert "FAR/USDT:USDT" not in symbols(window)
    assert selected_symbols(window) == []  # Qt's single selection moved to a neighbour before the fix
    assert window.selected_position() is None
    assert signals and signals[-1] is None and all(s is None for s in signals)  # no other position shown
    assert window.selection_note.isVisible()
    assert window.selection_note.text() == "FAR/USDT:USDT is no longer open"
    assert "Select another one" in window.selection_note.toolTip()


def test_a_filtered_out_selection_comes_back_with_its_row(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.apply_snapshot(snapshot(book(), at=NOW))
    window.table.selectRow(row_of(window, "WARN/USDT:USDT"))
    window.filter_edit.setText("SAFE")
    assert symbols(window) == ["SAFE/USDT:USDT"]
    assert selected_symbols(window) == []  # nothing else is selected in its place
    window.filter_edit.setText("")
    assert selected_symbols(window) == ["WARN/USDT:USDT"]
    # the trader clears the selection (Ctrl+click): the next update does not bring it back
    window.table.selectionModel().clearSelection()
    window.apply_snapshot(snapshot(book(), seq=2, at=NOW))
    assert selected_symbols(window) == []


def test_the_detail_tabs_stay_put_when_rows_come_and_go(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    many = [position(f"OK{i}/USDT:USDT", mark=1000.0 + i, liquidation=500.0) for i in range(12)]
    positions = [*book(), *many]
    window.apply_snapshot(snapshot(positions, at=NOW))
    qtbot.waitUntil(lambda: window._split_done)
    window._fit_split()
    window.table.selectRow(row_of(window, "FAR/USDT:USDT"))
    tabs_at = window.tabs.tabBar().mapTo(window, QPoint(0, 0))
    sizes = window.splitter.sizes()
    window.apply_snapshot(snapshot(positions[:2], seq=2, at=NOW))  # FAR (selected) and CRIT leave
    assert window.selection_note.isVisible()  # said beside the tabs ...
    window.apply_snapshot(snapshot([*positions, position("NEW/USDT:USDT")], seq=3, at=NOW))
    assert window.splitter.sizes() == sizes
    assert window.tabs.tabBar().mapTo(window, QPoint(0, 0)) == tabs_at  # ... which did not move


# -- liquidated rows ----------------------------------------------------------------------------

def test_a_position_gone_while_critical_stays_as_a_liquidated_row_until_acknowledged(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    positions = book()
    window.apply_snapshot(snapshot(positions, at=NOW))
    window.table.selectRow(row_of(window, "CRIT/USDT:USDT"))
    window.clock.now = NOW + 2
    window.apply_snapshot(snapshot([p for p in positions if p.symbol != "CRIT/USDT:USDT"], seq=2, at=NOW + 2))
    settle(qtbot, window)

    assert symbols(window)[0] == "CRIT/USDT:USDT"  # kept, on top
    assert cell(window, "CRIT/USDT:USDT", Column.STATUS) == "✖ LIQUIDATED"
    assert cell(window, "CRIT/USDT:USDT", Column.AGE) == "gone 0.0 s"
    assert cell(window, "CRIT/USDT:USDT", Column.LIQ) == "97.0"  # the last figures seen
    grey = level_text_hex(Level.STALE).upper()
    for column in Column:
        font = cell(window, "CRIT/USDT:USDT", column, ROLE.FontRole)
        assert font is not None and font.italic()
        if column is not Column.STATUS:
            assert cell(window, "CRIT/USDT:USDT", column, ROLE.ForegroundRole).name().upper() == grey
        assert cell(window, "CRIT/USDT:USDT", column, ROLE.ToolTipRole).startswith(
            "LIQUIDATED: this long 0.5 CRIT/USDT:USDT position left main")
    # the selection did not jump, and the detail tabs say why they show no position
    assert selected_symbols(window) == ["CRIT/USDT:USDT"]
    assert window.selection_note.isVisible()
    assert window.selection_note.text() == "✖ CRIT/USDT:USDT long: most likely liquidated"
    tip = window.selection_note.toolTip()
    assert f"at {datetime.fromtimestamp(NOW + 2).strftime('%H:%M:%S')} while critical" in tip
    assert "Acknowledge" in tip
    assert window.counts.text() == "3 positions + 1 liquidated"
    # the strip does not say ALL OK
    assert window.worst_level is Level.CRITICAL
    strip = window.status_strip
    assert strip.liquidated.isVisible() and strip.liquidated.text() == "✖ 1 LIQUIDATED"
    assert "CRIT/USDT:USDT long (main)" in strip.liquidated.toolTip()
    # it stays through later updates
    window.apply_snapshot(snapshot([p for p in positions if p.symbol != "CRIT/USDT:USDT"], seq=3, at=NOW + 3))
    assert "CRIT/USDT:USDT" in symbols(window)

    # Acknowledge from the row's context menu
    rect = window.table.visualRect(window.proxy.index(row_of(window, "CRIT/USDT:USDT"), Column.SYMBOL))
    window.table.customContextMenuRequested.emit(rect.center())
    menu = window._table_menu_shown
    assert isinstance(menu, QMenu)
    actions = {a.text(): a for a in menu.actions()}
    actions["Acknowledge liquidation"].trigger()
    menu.close()
    settle(qtbot, window)
    assert "CRIT/USDT:USDT" not in symbols(window)
    assert selected_symbols(window) == []
    assert window.selection_note.isVisible()
    assert not strip.liquidated.isVisible()
    assert strip.health.text() == "▲ WARNING"


def test_a_position_closed_while_safe_or_on_a_failed_read_is_not_called_liquidated(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    positions = book()
    window.apply_snapshot(snapshot(positions, at=NOW))
    window.apply_snapshot(snapshot([p for p in positions if p.symbol != "SAFE/USDT:USDT"], seq=2, at=NOW))
    assert "SAFE/USDT:USDT" not in symbols(window)
    # a read that failed proves nothing: CRIT missing from a stale account is not a liquidation
    rest = [p for p in positions if p.symbol not in ("SAFE/USDT:USDT", "CRIT/USDT:USDT")]
    window.apply_snapshot(snapshot(rest, seq=3, at=NOW, status=DataStatus.STALE))
    assert "CRIT/USDT:USDT" not in symbols(window)
    assert not window.model.liquidated()
    assert all(cell(window, p.symbol, Column.STATUS) == "◌ STALE" for p in rest)


# -- worst first stays findable -----------------------------------------------------------------

def test_critical_and_stale_rows_stay_on_top_whatever_the_sort(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    healthy = [position(f"OK{i}/USDT:USDT", mark=1000.0 + i, liquidation=500.0) for i in range(7)]
    positions = [*book(), *healthy]
    window.apply_snapshot(snapshot(positions, at=NOW))
    for column in Column:
        for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
            window.table.sortByColumn(column, order)
            assert symbols(window)[0] == "CRIT/USDT:USDT", (column, order)
    window.table.sortByColumn(Column.MARK, Qt.SortOrder.DescendingOrder)
    assert symbols(window)[1:4] == ["OK6/USDT:USDT", "OK5/USDT:USDT", "OK4/USDT:USDT"]  # the rest by Mark


def test_one_click_on_the_health_badge_selects_the_worst(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.apply_snapshot(snapshot(book(), at=NOW))
    settle(qtbot, window)
    window.table.selectRow(row_of(window, "FAR/USDT:USDT"))
    window.filter_edit.setText("FAR")
    badge = window.status_strip.health
    qtbot.mouseClick(badge, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert window.filter_edit.text() == ""  # the filter hid it: cleared
    assert selected_symbols(window) == ["CRIT/USDT:USDT"]


# -- the exchange's figure shows its age --------------------------------------------------------

def test_the_exchange_figure_shows_its_read_age_and_greys_after_a_missed_read(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    p = position("BTC/USDT:USDT", mark=60_000.0, liquidation=54_300.0, reported_liquidation=54_300.1,
                 tick_size=0.1)
    state = checked_at_read(p, 54_300.0, at=NOW - 8)
    snap = snapshot([p], at=NOW, position_states={p.key: state})
    accounts = tuple(replace(a, read_interval=10.0) for a in snap.accounts)
    window.apply_snapshot(replace(snap, accounts=accounts))

    assert cell(window, "BTC/USDT:USDT", Column.LIQ_EXCHANGE) == "54,300.1 · 8.0 s"
    tip = cell(window, "BTC/USDT:USDT", Column.LIQ_EXCHANGE, ROLE.ToolTipRole)
    assert "Read 8.0 s ago" in tip and "every 10 s" in tip
    assert cell(window, "BTC/USDT:USDT", Column.LIQ_EXCHANGE, ROLE.ForegroundRole) is None  # live

    window.clock.now = NOW + 8  # 16 s after the read: the next read (due at 10 s) is 6 s late
    window.tick()
    assert cell(window, "BTC/USDT:USDT", Column.LIQ_EXCHANGE) == "54,300.1 · 16 s"
    grey = level_text_hex(Level.STALE).upper()
    assert cell(window, "BTC/USDT:USDT", Column.LIQ_EXCHANGE, ROLE.ForegroundRole).name().upper() == grey
    assert cell(window, "BTC/USDT:USDT", Column.LIQ_EXCHANGE, ROLE.FontRole).italic()
    assert "a read cycle was missed" in cell(window, "BTC/USDT:USDT", Column.LIQ_EXCHANGE, ROLE.ToolTipRole)
    # desk's own figure is not greyed: it follows the marks
    assert cell(window, "BTC/USDT:USDT", Column.LIQ, ROLE.ForegroundRole) is None



# -- the demo venue's flash crash, end to end through the engine --------------------------------

def test_the_demo_flash_crash_liquidation_stays_on_screen_until_acknowledged(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    """The demo venue liquidates the Bybit isolated SOL long mid-crash; desk saw it critical first."""
    account, symbol = "demo-bybit-isolated", "SOL/USDT:USDT"
    crossings = follow_isolated(manual_market("flash-crash", seed=7), account, symbol, "both", until=3600)
    assert crossings.critical is not None and crossings.liquidation is not None
    market = manual_market("flash-crash", seed=7)
    seq = 0

    def publish(sim_time: float) -> None:
        nonlocal seq
        market.advance_to(sim_time)
        portfolio = market.portfolio()
        seq += 1
        window.clock.now = NOW + sim_time
        states = tuple(AccountState(a.name, a.venue, DataStatus.LIVE, data_time=window.clock.now,
                                    read_interval=10.0) for a in portfolio.accounts)
        window.apply_snapshot(MonitorSnapshot(seq=seq, at=window.clock.now, portfolio=portfolio,
                                              report=compute_risk(portfolio), accounts=states))

    publish(crossings.critical)
    key = (account, symbol, "both", "isolated")
    assert window.model.rows()[window.model.row_for_key(key)].level is Level.CRITICAL
    window.table.sortByColumn(Column.ACCOUNT, Qt.SortOrder.AscendingOrder)  # worst-first given up
    window.select_key(key)
    publish(crossings.liquidation + 5)  # the venue has liquidated it: gone from the account
    settle(qtbot, window)
    assert all(p.symbol != symbol for a in market.portfolio().accounts if a.name == account
               for p in a.positions)
    assert symbols(window)[0] == symbol  # still there, pinned on top
    assert cell(window, symbol, Column.STATUS) == "✖ LIQUIDATED"
    assert selected_symbols(window) == [symbol]
    assert window.status_strip.liquidated.text() == "✖ 1 LIQUIDATED"
    assert window.status_strip.health.text() != "✓ ALL OK"
    assert window.menu_actions["acknowledge"].isEnabled()
    window.menu_actions["acknowledge"].trigger()  # View → Acknowledge liquidations
    settle(qtbot, window)
    assert window.model.row_for_key(key) is None
    assert not window.status_strip.liquidated.isVisible()
    assert selected_symbols(window) == []


def test_the_tray_never_calls_a_liquidated_position_the_closest(qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QApplication

    from desk.store.settings import Settings
    from desk.ui.app import DeskController, GuiOptions

    monkeypatch.setattr(main_window_module.MainWindow, "_attach_charts", lambda self: None)
    controller = DeskController(QApplication.instance(), Settings.load(), GuiOptions(demo=True))  # type: ignore[arg-type]
    w = controller.window
    w.allow_close = True
    qtbot.addWidget(w)
    try:
        positions = book()
        w.apply_snapshot(snapshot(positions, at=NOW))
        w.apply_snapshot(snapshot([p for p in positions if p.symbol != "CRIT/USDT:USDT"], seq=2, at=NOW))
        qtbot.waitUntil(lambda: "liquidated" in controller.tray.icon.toolTip())
        tip = controller.tray.icon.toolTip()
        assert "3 positions: 1 warn, 1 liquidated (not acknowledged)" in tip
        assert "closest: WARN/USDT:USDT (main) 8.00 % from liquidation" in tip
    finally:
        controller.shutdown()
