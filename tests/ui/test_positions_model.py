"""The positions table model: worst first, in-place updates, stale rows, "—", ours vs theirs."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from desk.services.alerts_config import Thresholds
from desk.services.snapshot import DataStatus, PositionState
from desk.ui.levels import Level, global_thresholds
from desk.ui.positions_model import (
    KEY_ROLE,
    NO_LIQUIDATION_TIP,
    SORT_ROLE,
    Column,
    PositionsModel,
    PositionsProxy,
)
from desk.ui.theme import level_text_hex
from tests.support.ui import checked_at_read, many_positions, moved, position, snapshot

NOW = 1_000_000.0
DISPLAY = Qt.ItemDataRole.DisplayRole


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(qtbot, clock: Clock | None = None, **kw):  # type: ignore[no-untyped-def]
    model = PositionsModel(global_thresholds(Thresholds()), clock=clock or Clock(), **kw)
    proxy = PositionsProxy()
    proxy.setSourceModel(model)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(Column.STATUS, Qt.SortOrder.AscendingOrder)
    return model, proxy, view


def symbols_in_view(proxy: PositionsProxy) -> list[str]:
    return [proxy.index(r, Column.SYMBOL).data() for r in range(proxy.rowCount())]


def cell(model: PositionsModel, symbol: str, column: Column, role=DISPLAY):  # type: ignore[no-untyped-def]
    row = next(i for i, r in enumerate(model.rows()) if r.risk.symbol == symbol)
    return model.index(row, column).data(role)


def book():  # type: ignore[no-untyped-def]
    # distance: OK 30 %, OK-without-liquidation, warning 8 %, critical 3 %, critical by margin ratio
    return [
        position("SAFE/USDT:USDT", mark=100.0, liquidation=70.0, margin_ratio=0.1),
        position("NOLIQ/USDT:USDT", mark=100.0, liquidation=None, margin_ratio=None),
        position("WARN/USDT:USDT", mark=100.0, liquidation=92.0, margin_ratio=0.2),
        position("CRIT/USDT:USDT", mark=100.0, liquidation=97.0, margin_ratio=0.3),
        position("RATIO/USDT:USDT", mark=100.0, liquidation=60.0, margin_ratio=0.85),
    ]


def test_worst_first_by_default(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, proxy, _ = make(qtbot)
    model.apply_snapshot(snapshot(book(), at=NOW))
    assert symbols_in_view(proxy) == [
        "CRIT/USDT:USDT",  # critical, 3 % away
        "RATIO/USDT:USDT",  # critical by margin ratio, 40 % away
        "WARN/USDT:USDT",
        "SAFE/USDT:USDT",
        "NOLIQ/USDT:USDT",  # no liquidation possible: the safest of all
    ]
    levels = [Level(proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 3)) for r in range(5)]
    assert levels == [Level.CRITICAL, Level.CRITICAL, Level.WARNING, Level.OK, Level.OK]
    assert proxy.index(0, Column.STATUS).data() == "✖ CRIT"  # a word and a glyph, not colour alone
    assert proxy.index(2, Column.STATUS).data() == "▲ WARN"


def test_sorting_by_distance_puts_no_liquidation_last(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, proxy, view = make(qtbot)
    model.apply_snapshot(snapshot(book(), at=NOW))
    view.sortByColumn(Column.DISTANCE, Qt.SortOrder.AscendingOrder)
    assert symbols_in_view(proxy)[0] == "CRIT/USDT:USDT"
    assert symbols_in_view(proxy)[-1] == "NOLIQ/USDT:USDT"
    view.sortByColumn(Column.MARGIN_RATIO, Qt.SortOrder.DescendingOrder)
    assert symbols_in_view(proxy)[0] == "RATIO/USDT:USDT"


def test_updates_are_in_place_and_keep_the_selection(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, proxy, view = make(qtbot)
    positions = book()
    model.apply_snapshot(snapshot(positions, at=NOW))
    safe_row = symbols_in_view(proxy).index("SAFE/USDT:USDT")
    view.selectRow(safe_row)
    resets, inserts, removes, changes = [], [], [], []
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda *a: inserts.append(a))
    model.rowsRemoved.connect(lambda *a: removes.append(a))
    model.dataChanged.connect(lambda *a: changes.append(a))
    # SAFE falls to 2 % from liquidation: it becomes the worst row and moves to the top.
    updated = [moved(p, 71.4) if p.symbol == "SAFE/USDT:USDT" else p for p in positions]
    model.apply_snapshot(snapshot(updated, seq=2, at=NOW + 1))
    assert not resets and not inserts and not removes
    assert changes
    assert symbols_in_view(proxy)[0] == "SAFE/USDT:USDT"
    selected = view.selectionModel().selectedRows()
    assert len(selected) == 1
    assert selected[0].data(KEY_ROLE) == ("main", "SAFE/USDT:USDT", "both", "cross")
    assert selected[0].row() == 0  # the selection followed the row


def test_closed_positions_leave_and_new_ones_arrive(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, proxy, view = make(qtbot)
    positions = book()
    model.apply_snapshot(snapshot(positions, at=NOW))
    view.selectRow(symbols_in_view(proxy).index("WARN/USDT:USDT"))
    kept = [p for p in positions if p.symbol not in ("SAFE/USDT:USDT", "NOLIQ/USDT:USDT")]
    fresh = position("NEW/USDT:USDT", mark=100.0, liquidation=50.0)
    model.apply_snapshot(snapshot([*kept, fresh], seq=2, at=NOW + 1))
    assert sorted(symbols_in_view(proxy)) == sorted(["WARN/USDT:USDT", "CRIT/USDT:USDT", "RATIO/USDT:USDT",
                                                     "NEW/USDT:USDT"])
    assert model.row_for_key(("main", "NEW/USDT:USDT", "both", "cross")) is not None
    assert model.row_for_key(("main", "SAFE/USDT:USDT", "both", "cross")) is None
    assert view.selectionModel().selectedRows()[0].data(KEY_ROLE)[1] == "WARN/USDT:USDT"


def test_stale_rows_look_stale(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = make(qtbot)
    positions = book()
    states = {("main", "CRIT/USDT:USDT", "both", "cross"): PositionState(
        DataStatus.STALE, mark_time=NOW - 45, reason="mark feed silent for 45 s")}
    model.apply_snapshot(snapshot(positions, at=NOW, position_states=states))
    assert cell(model, "CRIT/USDT:USDT", Column.STATUS) == "◌ STALE"
    assert cell(model, "CRIT/USDT:USDT", Column.AGE).startswith("STALE 45 s")
    assert cell(model, "CRIT/USDT:USDT", Column.MARK, Qt.ItemDataRole.FontRole).italic()
    grey = cell(model, "CRIT/USDT:USDT", Column.MARK, Qt.ItemDataRole.ForegroundRole)
    assert grey.name().upper() == level_text_hex(Level.STALE).upper()
    assert "mark feed silent" in cell(model, "CRIT/USDT:USDT", Column.STATUS, Qt.ItemDataRole.ToolTipRole)
    # a live row is neither italic nor marked
    assert not cell(model, "SAFE/USDT:USDT", Column.MARK, Qt.ItemDataRole.FontRole)
    assert cell(model, "SAFE/USDT:USDT", Column.STATUS) == "✓ OK"


def test_delayed_rows_say_so_in_the_risk_column(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = make(qtbot)
    states = {("main", "SAFE/USDT:USDT", "both", "cross"): PositionState(
        DataStatus.DELAYED, mark_time=NOW - 9, reason="marks 9 s old")}
    model.apply_snapshot(snapshot(book(), at=NOW, position_states=states))
    assert cell(model, "SAFE/USDT:USDT", Column.STATUS) == "✓ OK ◐"
    assert "delayed (marks 9 s old)" in cell(model, "SAFE/USDT:USDT", Column.STATUS,
                                             Qt.ItemDataRole.ToolTipRole)
    assert cell(model, "WARN/USDT:USDT", Column.STATUS) == "▲ WARN"


def test_an_account_in_error_makes_its_rows_stale(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = make(qtbot)
    model.apply_snapshot(snapshot(book(), at=NOW, status=DataStatus.ERROR))
    assert all(r.stale and r.level is Level.STALE for r in model.rows())


def test_rows_turn_stale_when_updates_stop(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    model, _, _ = make(qtbot, clock, stale_after=30.0)
    model.apply_snapshot(snapshot(book(), at=NOW, data_time=NOW))
    assert cell(model, "SAFE/USDT:USDT", Column.AGE) == "0.0 s"
    clock.now = NOW + 12
    model.refresh_ages()
    assert cell(model, "SAFE/USDT:USDT", Column.AGE) == "12 s"
    assert cell(model, "SAFE/USDT:USDT", Column.STATUS) == "✓ OK"
    clock.now = NOW + 31  # the monitor has said nothing since: the figures cannot be trusted
    model.refresh_ages()
    assert cell(model, "SAFE/USDT:USDT", Column.STATUS) == "◌ STALE"
    assert cell(model, "SAFE/USDT:USDT", Column.AGE) == "STALE 31 s"


def test_no_liquidation_is_a_dash_with_a_tooltip(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = make(qtbot)
    model.apply_snapshot(snapshot(book(), at=NOW))
    for column in (Column.LIQ, Column.DISTANCE):
        assert cell(model, "NOLIQ/USDT:USDT", column) == "—"
        assert cell(model, "NOLIQ/USDT:USDT", column, Qt.ItemDataRole.ToolTipRole) == NO_LIQUIDATION_TIP
    assert cell(model, "NOLIQ/USDT:USDT", Column.BANKRUPTCY) == "—"
    assert cell(model, "SAFE/USDT:USDT", Column.LIQ, Qt.ItemDataRole.ToolTipRole) is None


@pytest.mark.parametrize(("reported", "flagged"), [(54_300.2, False), (54_300.3, True), (54_299.6, True),
                                                   (None, False)])
def test_exchange_liquidation_flagged_beyond_two_ticks_at_the_read(qtbot, reported, flagged) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = make(qtbot)
    p = position("BTC/USDT:USDT", mark=60_000.0, liquidation=54_300.0, reported_liquidation=reported,
                 tick_size=0.1)
    model.apply_snapshot(snapshot([p], at=NOW, position_states={p.key: checked_at_read(p, 54_300.0, at=NOW)}))
    text = cell(model, "BTC/USDT:USDT", Column.LIQ_EXCHANGE)
    assert text.startswith("⚠") is flagged
    color = cell(model, "BTC/USDT:USDT", Column.LIQ_EXCHANGE, Qt.ItemDataRole.ForegroundRole)
    assert (color is not None and color.name().upper() == level_text_hex(Level.WARNING).upper()) is flagged
    tip = cell(model, "BTC/USDT:USDT", Column.LIQ_EXCHANGE, Qt.ItemDataRole.ToolTipRole)
    if reported is None:
        assert tip == "The exchange reports no liquidation price for this position."
    else:
        assert tip.startswith("⚠ Disagrees") is flagged


def test_streamed_marks_do_not_flag_a_cross_position(qtbot) -> None:  # type: ignore[no-untyped-def]
    # The exchange's 2,070.29 came with the read at 2,070.28 desk; marks streamed since moved desk's
    # live cross figure to 2,070.02 (27 ticks away): nothing is wrong, nothing is flagged.
    model, _, _ = make(qtbot)
    p = position("ETH/USDT:USDT", mark=2_300.0, liquidation=2_070.02, reported_liquidation=2_070.29,
                 tick_size=0.01)
    read_at = NOW - 4
    states = {p.key: checked_at_read(p, 2_070.28, at=read_at)}
    model.apply_snapshot(snapshot([p], at=NOW, position_states=states))
    assert cell(model, "ETH/USDT:USDT", Column.LIQ_EXCHANGE) == "2,070.29 · 4.0 s"  # as old as the read
    tip = cell(model, "ETH/USDT:USDT", Column.LIQ_EXCHANGE, Qt.ItemDataRole.ToolTipRole)
    stamp = datetime.fromtimestamp(read_at).strftime("%H:%M:%S")
    assert tip.startswith(f"Agrees with desk: exchange 2,070.29 at the last account read {stamp}; "
                          "desk at the same marks 2,070.28 (1.0 ticks apart; tolerance 2 ticks).")
    assert "desk now, at the newest marks: 2,070.02" in tip


def test_a_real_disagreement_at_the_read_is_flagged_whatever_the_live_figures(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = make(qtbot)
    p = position("BTC/USDT:USDT", liquidation=54_300.0, reported_liquidation=54_300.0, tick_size=0.1)
    model.apply_snapshot(snapshot([p], at=NOW, position_states={p.key: checked_at_read(p, 54_299.0, at=NOW)}))
    assert cell(model, "BTC/USDT:USDT", Column.LIQ_EXCHANGE) == "⚠ 54,300.0 · 0.0 s"
    tip = cell(model, "BTC/USDT:USDT", Column.LIQ_EXCHANGE, Qt.ItemDataRole.ToolTipRole)
    assert "10.0 ticks apart" in tip


def test_no_comparison_before_the_first_read_is_not_a_flag(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = make(qtbot)
    p = position("BTC/USDT:USDT", liquidation=54_300.0, reported_liquidation=54_390.0, tick_size=0.1)
    model.apply_snapshot(snapshot([p], at=NOW))
    assert cell(model, "BTC/USDT:USDT", Column.LIQ_EXCHANGE) == "54,390.0"
    assert "next read" in cell(model, "BTC/USDT:USDT", Column.LIQ_EXCHANGE, Qt.ItemDataRole.ToolTipRole)


def test_exchange_price_where_desk_finds_none_is_flagged(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = make(qtbot)
    p = position("ETH/USDT:USDT", mark=3000.0, liquidation=None, reported_liquidation=1500.0, tick_size=0.01)
    model.apply_snapshot(snapshot([p], at=NOW, position_states={p.key: checked_at_read(p, None, at=NOW)}))
    assert cell(model, "ETH/USDT:USDT", Column.LIQ_EXCHANGE) == "⚠ 1,500.00 · 0.0 s"


def test_the_comparison_is_not_computed_in_the_ui_or_the_alert_rules() -> None:
    import inspect

    import desk.services.alerts_engine as engine
    import desk.ui.positions_model as table

    for module in (table, engine):
        source = inspect.getsource(module)
        assert "liquidation_gap" not in source and "disagree_ticks *" not in source
        assert "abs(ours - theirs)" not in source


def test_numbers_at_the_symbols_precision(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = make(qtbot)
    doge = position("DOGE/USDT:USDT", mark=0.15, liquidation=0.142, tick_size=0.00001)
    btc = position("BTC/USDT:USDT", mark=60_000.0, liquidation=54_321.98, tick_size=0.5)
    model.apply_snapshot(snapshot([doge, btc], at=NOW))
    assert cell(model, "DOGE/USDT:USDT", Column.MARK) == "0.15000"
    assert cell(model, "DOGE/USDT:USDT", Column.LIQ) == "0.14200"
    assert cell(model, "BTC/USDT:USDT", Column.LIQ) == "54,322.0"
    assert cell(model, "BTC/USDT:USDT", Column.DISTANCE) == "9.46 %"


def test_thresholds_per_position_follow_overrides(qtbot) -> None:  # type: ignore[no-untyped-def]
    strict = Thresholds(distance_warning=0.5, distance_critical=0.4)

    def thresholds_for(account: str, symbol: str | None) -> Thresholds:
        return strict if symbol == "SAFE/USDT:USDT" else Thresholds()

    model = PositionsModel(thresholds_for, clock=Clock())
    model.apply_snapshot(snapshot(book(), at=NOW))
    assert cell(model, "SAFE/USDT:USDT", Column.STATUS) == "✖ CRIT"  # 30 % away, critical below 40 %


def test_filter_matches_account_symbol_and_level(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, proxy, _ = make(qtbot)
    other = [replace(p, account="bybit") for p in book()[:2]]
    model.apply_snapshot(snapshot([*book(), *other], at=NOW))
    proxy.set_filter_text("bybit")
    assert proxy.rowCount() == 2
    proxy.set_filter_text("crit")
    assert symbols_in_view(proxy) == ["CRIT/USDT:USDT", "RATIO/USDT:USDT"]
    proxy.set_filter_text("DOGE (")  # regex characters are taken literally
    assert proxy.rowCount() == 0
    proxy.set_filter_text("")
    assert proxy.rowCount() == 7


def test_sort_keys_are_plain_numbers_for_speed(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = make(qtbot)
    model.apply_snapshot(snapshot(many_positions(20), at=NOW))
    for column in (Column.STATUS, Column.DISTANCE, Column.MARGIN_RATIO, Column.MARK, Column.AGE):
        assert isinstance(model.index(0, column).data(SORT_ROLE), float)


def test_an_update_signals_only_the_cells_whose_figures_changed(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, _proxy, _view = make(qtbot)
    positions = [position("BTC/USDT:USDT"), position("ETH/USDT:USDT", mark=3_000.0, liquidation=2_000.0)]
    model.apply_snapshot(snapshot(positions, at=NOW))
    changes: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(
        lambda tl, br, *_: changes.append((tl.row(), tl.column(), br.row(), br.column())))

    model.apply_snapshot(snapshot(positions, seq=2, at=NOW))  # the same figures again
    assert changes == []

    eth = model.row_for_key(positions[1].key)
    model.apply_snapshot(snapshot([positions[0], replace(positions[1], unrealized_pnl=12.5)], seq=3, at=NOW))
    assert changes == [(eth, Column.UPNL, eth, Column.UPNL)]  # one cell; BTC's row untouched
    assert model.index(eth, Column.UPNL).data(DISPLAY).startswith("+12.5")

    changes.clear()
    moved_eth = moved(positions[1], 2_100.0)  # at 5 % from liquidation: critical, the whole row
    model.apply_snapshot(snapshot([positions[0], moved_eth], seq=4, at=NOW))
    eth = model.row_for_key(moved_eth.key)
    assert eth == 0  # re-sorted first (worst first) ...
    assert changes == [(0, 0, 0, len(Column) - 1)]  # ... then signalled at the row it now occupies
    assert model.index(eth, Column.STATUS).data(DISPLAY) == Level.CRITICAL.label
