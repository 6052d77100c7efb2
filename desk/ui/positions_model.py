"""The positions table: a Qt model over the engine's PositionRisk rows, one row per position.

Rows are keyed by the position's :class:`~desk.domain.model.PositionKey` (account, symbol, leg,
margin mode: OKX may hold one instrument cross and isolated at once). A new snapshot makes the
next state of every row beside the table (:meth:`PositionsModel.stage`, a few rows at a time if the
caller likes), then the table takes them all at once (:meth:`PositionsModel.commit`): rows replaced,
new ones appended, closed ones removed, re-sorted, and only then the changed cells signalled
(``dataChanged``) at the rows they now occupy — so a repaint never shows a row made of two
snapshots, nor one position's cells in another's row, and the view's selection, sort order and
scroll position survive live updates. Critical, stale and LIQUIDATED rows are pinned above the
rest whatever the sort column. A position gone on a good read while critical (the alert engine's
"gone" rule) stays as a greyed LIQUIDATED row until acknowledged. Every figure comes from the
engine's report; this model only formats it, shows the monitor's ours-vs-exchange comparison
(made at the last account read, at that read's marks: :class:`~desk.services.snapshot.ExchangeCheck`)
with that read's age, and marks rows whose data is stale.
"""

from __future__ import annotations

import functools
import math
import operator
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from itertools import compress
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont

from desk.domain.adl import AdlLevel, AdlReading, adl_description, adl_reading, lights_text
from desk.domain.alerts import AlertLevel
from desk.domain.model import PositionKey
from desk.domain.protection import Verdict, loss_text, verdict_text
from desk.domain.report import PositionRisk
from desk.domain.suggest import convention_text, goal_text, suggestion_text
from desk.services.alerts_config import Thresholds
from desk.services.alerts_engine import GONE_WINDOW, level_for
from desk.services.freshness import read_cycle_missed
from desk.services.snapshot import AccountState, DataStatus, ExchangeCheck, MonitorSnapshot, PositionState
from desk.ui import formatting as fmt
from desk.ui.levels import Level, ThresholdsFor, global_thresholds
from desk.ui.theme import LEVEL_HEX, LEVEL_TEXT_HEX, current_theme

# A row whose inputs are older than this is shown stale even if the monitor has not said so
# yet (for instance when snapshots stop arriving at all).
DEFAULT_STALE_AFTER = 60.0

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2
LEVEL_ROLE = Qt.ItemDataRole.UserRole + 3
FILTER_ROLE = Qt.ItemDataRole.UserRole + 4
RISK_ROLE = Qt.ItemDataRole.UserRole + 5
# What the cell painter (desk.ui.cell_painter) draws, in one answer: (text, foreground, background,
# font, alignment) — the Display, Foreground, Background, Font and TextAlignment roles' values.
PAINT_ROLE = Qt.ItemDataRole.UserRole + 6

NO_LIQUIDATION_TIP = (
    "No liquidation price: no mark price can bring this position's margin ratio to 100 % "
    "(the margin covers the whole adverse move)."
)
LIQUIDATED_LABEL = "✖ LIQUIDATED"
NO_BANKRUPTCY_TIP = "No bankruptcy price: the margin covers a move of the mark to zero or beyond."


class Column(IntEnum):
    """Columns, ordered so the "am I safe?" figures stay in view on a narrow screen."""

    STATUS = 0
    ACCOUNT = 1
    SYMBOL = 2
    SIDE = 3
    MODE = 4
    SIZE = 5
    MARK = 6
    UPNL = 7  # uPnL and ROI beside the mark, as on the exchanges' position panels
    ROI = 8
    LIQ = 9
    LIQ_EXCHANGE = 10
    DISTANCE = 11
    MARGIN_RATIO = 12
    POSITION_MARGIN = 13
    BANKRUPTCY = 14
    ENTRY = 15
    NOTIONAL = 16
    AGE = 17
    STOP = 18  # issue 17: is the position protected by a stop that fires before liquidation?
    ADL = 19  # issue 17: the venue's auto-deleveraging rank, as lights on the venue's scale
    REALIZED = 20  # issue 17: the realised PnL the venue reports on the position


COLUMN_COUNT = len(Column)

HEADERS = {
    Column.STATUS: ("Risk", "Risk level from distance and margin ratio against your alert thresholds"),
    Column.ACCOUNT: ("Account", "Account name as configured"),
    Column.SYMBOL: ("Symbol", "Contract (ccxt symbol)"),
    Column.SIDE: ("Side", "Long or short (and the hedge-mode leg)"),
    Column.MODE: ("Mode", "Margin mode and leverage"),
    Column.SIZE: ("Size", "Contracts"),
    Column.NOTIONAL: ("Notional", "Position value at the mark, in the settle currency"),
    Column.ENTRY: ("Entry", "Average entry price"),
    Column.MARK: ("Mark", "Mark price (liquidation is triggered by the mark, not the last trade)"),
    Column.LIQ: ("Liq.\ndesk", "Liquidation price computed by desk's engine from the venue's rules"),
    Column.LIQ_EXCHANGE: ("Liq.\nexchange", "Liquidation price reported by the exchange at the last "
                          "account read, with that read's age (greyed when a read cycle was missed); "
                          "⚠ when desk, computing from the same read's marks, differs by more than the "
                          "tolerance (alerts.disagree_ticks)"),
    Column.BANKRUPTCY: ("Bank-\nruptcy", "Price at which the position's margin is exhausted"),
    Column.DISTANCE: ("Distance", "Distance from the mark to the liquidation price, % of the mark"),
    Column.MARGIN_RATIO: ("Margin\nratio", "Maintenance margin ÷ margin balance on desk's scale "
                          "(100 % = liquidation); cross positions show their pool's"),
    Column.UPNL: ("uPnL", "Unrealised profit and loss, settle currency"),
    Column.ROI: ("ROI", "Return on the initial margin: uPnL ÷ (entry notional ÷ leverage), as the "
                 "exchanges show it (on the isolated margin when the leverage is unknown)"),
    Column.POSITION_MARGIN: ("Margin", "The position's margin: isolated, its own margin; cross, the "
                             "initial margin at entry (entry notional ÷ leverage)"),
    Column.AGE: ("Age", "How old the inputs of this row are"),
    Column.STOP: ("Stop", "Stop orders against liquidation: protected, partly (share of the size), "
                  "unprotected, beyond liquidation (can never fire) or on the wrong side of the mark; "
                  "— when the account's orders are not read"),
    Column.ADL: ("ADL", "The venue's auto-deleveraging rank as lights on the venue's published scale "
                 "(more lit = deleveraged sooner; all lit in the warning colour); the venue's bare number "
                 "where its scale is unverified; — where the venue gives none"),
    Column.REALIZED: ("Realised", "Realised PnL as the venue reports it on the position (Bybit, OKX), settle "
                      "currency; — where the venue gives none on the position (Binance, Hyperliquid)"),
}

NUMERIC = frozenset({Column.REALIZED, Column.SIZE, Column.NOTIONAL, Column.ENTRY, Column.MARK, Column.LIQ,
                     Column.LIQ_EXCHANGE, Column.BANKRUPTCY, Column.DISTANCE, Column.MARGIN_RATIO,
                     Column.UPNL, Column.ROI, Column.POSITION_MARGIN, Column.AGE})


@dataclass(slots=True)
class Row:
    risk: PositionRisk
    status: DataStatus | None
    observed_at: float | None  # when the row's inputs were observed (mark or account data time)
    reason: str | None
    check: ExchangeCheck | None = None  # ours vs the exchange's at the last account read
    thresholds: Thresholds = field(default_factory=Thresholds)
    level: Level = Level.OK
    stale: bool = False
    disagrees: bool = False
    distance_level: Level = Level.OK
    ratio_level: Level = Level.OK
    figure_level: Level = Level.OK  # from the figures alone, whatever the data status
    inputs: tuple[object, ...] = ()  # the figures the level was last decided from
    text: list[str] = field(default_factory=list)  # display text per column, filled lazily
    shown: tuple[object, ...] = ()  # per column, what its text and colours are made from
    cells: dict[int, Sequence[Any]] | None = None  # per painted role, the value of every column
    read_interval: float | None = None  # how often the monitor reads the account (the exchange's figure)
    exchange_late: bool = False  # the exchange's figure missed a read cycle (greyed)
    critical_at: float | None = None  # when the figures were last critical (the "gone" rule)
    liquidated_at: float | None = None  # gone while critical: kept, greyed, until acknowledged
    venue: str | None = None  # the account's venue (ccxt id), from its state; None when unknown
    demo: bool = False  # a demo account: no venue website behind it
    # the position's identity, fixed for the row's life (asked several times per row per update)
    key: PositionKey = field(init=False)

    def __post_init__(self) -> None:
        self.key = self.risk.key

    @property
    def pinned(self) -> bool:
        """Critical, stale and liquidated rows sit above the rest whatever the sort column."""
        return self.liquidated_at is not None or self.level in _PINNED_LEVELS

    def copy(self) -> Row:
        """A copy to make the next snapshot's state in while this row stays on screen unchanged
        (its caches are shared: they are replaced, never changed in place). Written out, field by
        field: 500 rows are copied per update (tests check that no field is left out)."""
        new = object.__new__(Row)
        new.risk, new.status, new.observed_at = self.risk, self.status, self.observed_at
        new.reason, new.check, new.thresholds = self.reason, self.check, self.thresholds
        new.level, new.stale, new.disagrees = self.level, self.stale, self.disagrees
        new.distance_level, new.ratio_level = self.distance_level, self.ratio_level
        new.figure_level, new.inputs = self.figure_level, self.inputs
        new.text, new.shown, new.cells = self.text, self.shown, self.cells
        new.read_interval, new.exchange_late = self.read_interval, self.exchange_late
        new.critical_at, new.liquidated_at = self.critical_at, self.liquidated_at
        new.venue = self.venue
        new.demo, new.key = self.demo, self.key
        return new


Item = tuple[PositionKey, PositionRisk, AccountState | None, PositionState | None]


@dataclass(slots=True)
class Staging:
    """One snapshot's rows being made beside the table (:meth:`PositionsModel.stage_rows`) until the
    table takes them all at once (:meth:`PositionsModel.commit`): until then nothing on screen changes."""

    items: list[Item]  # one per position, in the snapshot's order
    read_well: set[str] | None  # the accounts read without trouble (None: every account)
    generation: int  # the model's thresholds and theme the rows are made with
    now: float  # the time the rows are classified at
    done: int = 0  # items made so far
    rows: dict[PositionKey, Row] = field(default_factory=dict)  # the rows made
    # per row made from a row of the table: that row, and the bit mask of the columns that differ
    bases: dict[PositionKey, tuple[Row, int]] = field(default_factory=dict)
    restarts: int = 0  # times made again from the start (the thresholds, theme or clock moved on)

    @property
    def complete(self) -> bool:
        return self.done >= len(self.items)


class PositionsModel(QAbstractTableModel):
    def __init__(
        self,
        thresholds_for: ThresholdsFor | None = None,
        *,
        clock: Callable[[], float] = time.time,
        stale_after: float = DEFAULT_STALE_AFTER,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self._thresholds_for = thresholds_for or global_thresholds()
        self._thresholds_cache: dict[tuple[str, str], Thresholds] = {}
        self.clock = clock
        self.stale_after = stale_after
        self._rows: list[Row] = []
        self._index: dict[PositionKey, int] = {}
        # bumped when the rows on screen change other than by a commit (thresholds, theme, a clock
        # tick): rows staged before are made again from them
        self._generation = 0
        # True between beginRemoveRows and the rows' actual removal: a proxy announces its own
        # rows removed in that window, while this model still holds them
        self.removing = False
        self._italic = QFont()
        self._italic.setItalic(True)
        self._bold = QFont()
        self._bold.setBold(True)
        self._sort_column: int = Column.STATUS
        self._sort_order = Qt.SortOrder.AscendingOrder
        roles = Qt.ItemDataRole
        self._handlers: dict[int, Callable[[Row, int], Any]] = {
            roles.ToolTipRole: self._tooltip,
            SORT_ROLE: lambda row, column: _sort_key(row, column, self.clock()),
            KEY_ROLE: lambda row, column: row.key,
            LEVEL_ROLE: lambda row, column: int(row.level),
            FILTER_ROLE: self._filter_text,
            RISK_ROLE: lambda row, column: row.risk,
            roles.AccessibleTextRole: _accessible_text,
        }

    # -- updates ---------------------------------------------------------------------------

    def apply_snapshot(self, snapshot: MonitorSnapshot) -> None:
        """Bring the rows to ``snapshot`` at once (staged whole, then committed)."""
        self.commit(self.stage(snapshot))

    def apply(
        self, items: Iterable[tuple[PositionRisk, AccountState | None, PositionState | None]],
        *, read_well: set[str] | None = None,
    ) -> None:
        """Bring the rows to ``items`` at once; ``read_well`` as in :meth:`stage_items`."""
        self.commit(self.stage_items([(risk, a, p) for risk, a, p in items], read_well=read_well))

    def stage(self, snapshot: MonitorSnapshot) -> Staging:
        """Start making ``snapshot``'s rows beside the table (see :meth:`stage_rows`)."""
        accounts = {a.name: a for a in snapshot.accounts}
        positions = snapshot.positions
        items: list[Item] = []
        for account in snapshot.report.accounts:
            state = accounts.get(account.name)
            for risk in account.positions:
                key = risk.key  # made anew at each call: once per position
                items.append((key, risk, state, positions.get(key)))
        # only a good read of an account proves that a position is gone (alerts_engine's "gone" rule)
        reported = {a.name for a in snapshot.report.accounts}
        read_well = {a.name for a in snapshot.accounts
                     if a.name in reported and a.status in (DataStatus.LIVE, DataStatus.DELAYED)}
        return self._staging(items, read_well)

    def stage_items(
        self, items: Iterable[tuple[PositionRisk, AccountState | None, PositionState | None]],
        *, read_well: set[str] | None = None,
    ) -> Staging:
        """Start making rows for ``items`` beside the table.

        ``read_well``: the accounts whose positions were read without trouble; a position gone
        from one of them while critical is kept as a LIQUIDATED row (None: every account).
        """
        return self._staging([(risk.key, risk, a, p) for risk, a, p in items], read_well)

    def _staging(self, items: list[Item], read_well: set[str] | None) -> Staging:
        if len({item[0] for item in items}) < len(items):  # a key listed twice: the last one counts
            items = list({item[0]: item for item in items}.values())
        return Staging(items=items, read_well=read_well, generation=self._generation, now=self.clock())

    def stage_rows(self, staging: Staging, count: int) -> bool:
        """Make up to ``count`` more of ``staging``'s rows; True once all are made.

        Each is made in a copy of the position's row (or a new row): the rows on screen are left
        exactly as they are. Made again from the start if the rows on screen changed meanwhile
        (new thresholds or theme, a clock tick's ages and stale marks).
        """
        if staging.generation != self._generation:
            staging.generation, staging.now, staging.done = self._generation, self.clock(), 0
            staging.rows.clear()
            staging.bases.clear()
            staging.restarts += 1
        now, rows, index = staging.now, self._rows, self._index
        made, bases = staging.rows, staging.bases
        end = min(len(staging.items), staging.done + count)
        for key, risk, account_state, position_state in staging.items[staging.done:end]:
            i = index.get(key)
            base = rows[i] if i is not None else None
            if base is None:
                row = Row(risk=risk, status=None, observed_at=None, reason=None)
            else:
                row = base.copy()
                if row.liquidated_at is not None:  # the same key opened again: a new position
                    row.liquidated_at = None
                    row.inputs = ()
            _fill_row(row, risk, account_state, position_state)
            self._classify(row, now)
            mask = self._restyle(row)
            if base is not None:
                bases[key] = (base, mask)
            made[key] = row
        staging.done = end
        return staging.complete

    def paint_ahead(self, staging: Staging, keys: Iterable[PositionKey]) -> None:
        """Make the painted cells of these staged rows (those in view) now, so that the repaint
        after the commit only draws them."""
        made = staging.rows
        for key in keys:
            row = made.get(key)
            if row is not None and row.cells is None:
                self._paint_cells(row)

    def ready(self, staging: Staging) -> bool:
        """All of ``staging``'s rows are made, with the thresholds and theme in force."""
        return staging.complete and staging.generation == self._generation

    def commit(self, staging: Staging) -> None:
        """The table takes ``staging``'s rows at once (any not made yet are made first): rows are
        replaced, added and removed, re-sorted, and only then are the changed cells signalled,
        at the rows they now occupy."""
        self.stage_rows(staging, len(staging.items))
        now = self.clock()
        made = staging.rows
        changed: dict[PositionKey, int] = {}  # key -> bit mask of the columns to repaint
        gone = []
        for i, row in enumerate(self._rows):
            if row.key in made or row.liquidated_at is not None:
                continue
            if _looks_liquidated(row, now, staging.read_well):
                row.liquidated_at = now
                row.level = Level.CRITICAL
                self._restyle(row)
                changed[row.key] = _ALL_COLUMNS
            else:
                gone.append(i)
        for start, end in reversed(_runs(gone)):
            self.removing = True
            self.beginRemoveRows(QModelIndex(), start, end)
            del self._rows[start : end + 1]
            self._index = {row.key: i for i, row in enumerate(self._rows)}  # right for the listeners
            self.removing = False
            self.endRemoveRows()

        bases = staging.bases
        rows = self._rows
        for i, live in enumerate(rows):
            new = made.get(live.key)
            if new is None:
                continue  # a liquidated row: its last figures stay as they were
            base = bases.get(live.key)
            if base is not None and base[0] is live:
                mask = base[1]  # the copy's own changes: it was copied from this very row
            else:
                mask = _changed_columns(new.shown, live.shown)
            rows[i] = new
            if mask:
                changed[live.key] = changed.get(live.key, 0) | mask

        fresh = [row for key, row in made.items() if key not in self._index]
        if fresh:
            start = len(rows)
            self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
            for row in fresh:
                self._index[row.key] = len(rows)
                rows.append(row)
            self.endInsertRows()
        # Re-sort before signalling: a changed cell is named by the row it is shown in after the
        # sort. Signalled before, the view repainted those rectangles with whatever position the
        # sort had moved there while the row's other cells still showed the previous one.
        self._resort(now)
        self._emit_changed(sorted((self._index[key], mask) for key, mask in changed.items()))

    def _restyle(self, row: Row) -> int:
        """Note what each column is drawn from; returns a bit mask of the columns that changed
        (their cached text and colours are dropped, to be made again when painted)."""
        shown = _shown(row)
        old = row.shown
        if shown == old:
            return 0
        row.shown = shown
        row.cells = None
        mask = _changed_columns(shown, old)
        if mask & ~_AGE_BIT:
            row.text = []
        return mask

    def _emit_changed(self, changed: list[tuple[int, int]]) -> None:
        """dataChanged for the rectangles of changed cells, so the view repaints only those:
        consecutive rows with the same changed columns form one rectangle per run of columns."""
        if not changed:
            return
        rects: list[tuple[int, int, int, int]] = []
        run_start, run_end, run_mask = changed[0][0], changed[0][0], changed[0][1]
        for i, mask in [*changed[1:], (-2, 0)]:
            if i == run_end + 1 and mask == run_mask:
                run_end = i
                continue
            rects.extend((run_start, first, run_end, last) for first, last in _column_runs(run_mask))
            run_start = run_end = i
            run_mask = mask
        if len(rects) > _MAX_RECTS:  # scattered changes: one signal is cheaper than hundreds
            mask = 0
            for _, m in changed:
                mask |= m
            rects = [(changed[0][0], min(f for f, _ in _column_runs(mask)), changed[-1][0],
                      max(last for _, last in _column_runs(mask)))]
        for top, left, bottom, right in rects:
            self.dataChanged.emit(self.index(top, left), self.index(bottom, right))

    # -- sorting ---------------------------------------------------------------------------
    # The model keeps its rows in display order itself: one Python sort over precomputed keys
    # costs well under a millisecond for 500 rows, where a sorting proxy would call data()
    # thousands of times per update.

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort_column = column
        self._sort_order = order
        self._resort(self.clock())

    def sort_state(self) -> tuple[int, Qt.SortOrder]:
        return self._sort_column, self._sort_order

    def _resort(self, now: float) -> None:
        rows = self._rows
        if len(rows) < 2 or not 0 <= self._sort_column < len(Column):
            return
        keys = [_sort_key(row, self._sort_column, now) for row in rows]
        order = sorted(range(len(rows)), key=keys.__getitem__,
                       reverse=self._sort_order == Qt.SortOrder.DescendingOrder)
        order.sort(key=lambda i: not rows[i].pinned)  # stable: the pinned rows first, in that order
        if order == list(range(len(rows))):
            return
        self.layoutAboutToBeChanged.emit()
        new_position = {old: new for new, old in enumerate(order)}
        persistent = self.persistentIndexList()
        moved = [self.index(new_position[i.row()], i.column()) for i in persistent]
        self._rows = [rows[i] for i in order]
        self._index = {row.key: i for i, row in enumerate(self._rows)}
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def refresh_ages(self) -> None:
        """Called about once a second: ages move on, and rows may become stale with no update."""
        if not self._rows:
            return
        self._generation += 1  # rows staged before this tick are made again at its time
        now = self.clock()
        changed = False
        for row in self._rows:
            if row.liquidated_at is not None:
                row.cells = None  # its "gone … ago" moves on
                continue
            was = (row.level, row.stale, row.exchange_late)
            self._classify(row, now)
            if (row.level, row.stale, row.exchange_late) != was:
                changed = True
                self._restyle(row)
            row.cells = None  # the Age text and the exchange figure's age move on
        if changed or self._sort_column == Column.AGE:
            self._resort(now)  # first: the repaint below names rows where they now are
        first = 0 if changed else Column.LIQ_EXCHANGE
        last = COLUMN_COUNT - 1
        self.dataChanged.emit(self.index(0, first), self.index(len(self._rows) - 1, last))

    def _classify(self, row: Row, now: float) -> None:
        too_old = row.observed_at is not None and now - row.observed_at > self.stale_after
        stale = row.status in (DataStatus.STALE, DataStatus.ERROR) or too_old
        row.exchange_late = row.check is not None and read_cycle_missed(
            row.check.observed_at, row.read_interval, now)
        r = row.risk
        inputs = (r.distance_to_liquidation, r.margin_ratio, r.liquidation_price,
                  r.reported_liquidation_price, row.check, stale)
        if inputs == row.inputs:
            if row.figure_level is Level.CRITICAL:
                row.critical_at = now
            return  # nothing that decides the level changed (most rows, most of the time)
        row.inputs = inputs
        row.stale = stale
        scope = (r.account, r.symbol)
        thresholds = self._thresholds_cache.get(scope)
        if thresholds is None:
            thresholds = self._thresholds_cache[scope] = self.thresholds_for(r.account, r.symbol)
        row.thresholds = thresholds
        # signed: past liquidation the distance is negative, so its cell is painted critical however far
        row.distance_level = _distance_level(r.signed_distance_to_liquidation, thresholds)
        row.ratio_level = _ratio_level(r.margin_ratio, thresholds)
        # the rule of levels.position_level, from the two figures already at hand
        row.figure_level = max(row.distance_level, row.ratio_level)
        row.level = Level.STALE if stale else row.figure_level
        row.disagrees = row.check is not None and row.check.disagrees
        if row.figure_level is Level.CRITICAL:
            row.critical_at = now

    @property
    def thresholds_for(self) -> ThresholdsFor:
        return self._thresholds_for

    @thresholds_for.setter
    def thresholds_for(self, value: ThresholdsFor) -> None:
        self._thresholds_for = value
        self._thresholds_cache.clear()
        self._generation += 1
        for row in self._rows:
            row.inputs = ()  # decide every level again with the new thresholds

    def restyle(self) -> None:
        """The theme changed: colours are made again when painted."""
        self._generation += 1  # rows staged meanwhile hold the old theme's colours
        for row in self._rows:
            row.cells = None
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, COLUMN_COUNT - 1))

    # -- queries ---------------------------------------------------------------------------

    def rows(self) -> list[Row]:
        """Every row in display order, LIQUIDATED ones included (see :meth:`liquidated`)."""
        return list(self._rows)

    def liquidated(self) -> list[Row]:
        """Positions gone while critical, kept on view until the trader acknowledges them."""
        return [row for row in self._rows if row.liquidated_at is not None]

    def acknowledge(self, key: PositionKey) -> bool:
        """Remove the LIQUIDATED row of ``key``; False when there is none."""
        i = self._index.get(key)
        if i is None or self._rows[i].liquidated_at is None:
            return False
        self.removing = True
        self.beginRemoveRows(QModelIndex(), i, i)
        del self._rows[i]
        self._index = {row.key: n for n, row in enumerate(self._rows)}
        self.removing = False
        self.endRemoveRows()
        return True

    def row_for_key(self, key: PositionKey) -> int | None:
        return self._index.get(key)

    def worst_level(self) -> Level:
        return max((r.level for r in self._rows), default=Level.OK)

    def figure_levels(self) -> dict[str, Level]:
        """Per account, the worst level of its positions' figures (data status aside): the
        levels this model already decided, for the account cards (levels.account_level)."""
        out: dict[str, Level] = {}
        for row in self._rows:
            if row.liquidated_at is not None:
                continue  # no longer in the account
            account = row.risk.account
            out[account] = max(out.get(account, Level.OK), row.figure_level)
        return out

    # -- Qt model interface ----------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else COLUMN_COUNT

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        title, tip = HEADERS[Column(section)]
        if role == Qt.ItemDataRole.DisplayRole:
            return title
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip
        if role == Qt.ItemDataRole.TextAlignmentRole and Column(section) in NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        # The view asks for seven roles per visible cell on every repaint: the painted ones come
        # from per-row tuples made once per change, the rest dispatch on a dict; unhandled roles
        # are answered at once.
        if role in _PAINT_ROLES:
            if not index.isValid():
                return None
            row = self._rows[index.row()]
            cells = row.cells or self._paint_cells(row)
            return cells[role][index.column()]
        handler = self._handlers.get(role)
        if handler is None or not index.isValid():
            return None
        return handler(self._rows[index.row()], index.column())

    def _paint_cells(self, row: Row) -> dict[int, Sequence[Any]]:
        columns = range(COLUMN_COUNT)
        cells: dict[int, Sequence[Any]] = {
            _DISPLAY: [self._display(row, c) for c in columns],
            _FOREGROUND: [self._foreground(row, c) for c in columns],
            _BACKGROUND: [self._background(row, c) for c in columns],
            _FONT: [self._font(row, c) for c in columns],
            _ALIGNMENT: _ALIGN,
        }
        # made from the same lists, so the painter can never draw what the roles do not say
        cells[_PAINT] = list(zip(cells[_DISPLAY], cells[_FOREGROUND], cells[_BACKGROUND], cells[_FONT],
                                 _ALIGN, strict=True))
        row.cells = cells
        return cells

    def _display(self, row: Row, column: int) -> str:
        if column == Column.AGE:
            return self._age_text(row)
        if column == Column.LIQ_EXCHANGE:
            return self._exchange_text(row)
        if not row.text:
            row.text = _texts(row)
        if column == Column.STATUS and row.liquidated_at is not None:
            return LIQUIDATED_LABEL
        if column == Column.STATUS and row.status is DataStatus.DELAYED and not row.stale:
            return f"{row.text[column]} ◐"  # delayed inputs, visible without scrolling to Age
        return row.text[column]

    def _background(self, row: Row, column: int) -> QColor | None:
        if column == Column.STATUS and row.level != Level.OK:
            return _TINTS[row.level]
        return None

    def _font(self, row: Row, column: int) -> QFont | None:
        if row.stale or row.liquidated_at is not None:
            return self._italic
        if column == Column.LIQ_EXCHANGE and row.exchange_late:
            return self._italic
        if column == Column.STATUS or (column == Column.DISTANCE and row.distance_level == Level.CRITICAL):
            return self._bold
        return None

    def _filter_text(self, row: Row, column: int) -> str:
        r = row.risk
        word = "liquidated" if row.liquidated_at is not None else row.level.word
        return (f"{_ACCOUNT_FIELD}{r.account}{_SYMBOL_FIELD}{r.symbol}"
                f"{_OTHER_FIELD}{r.side} {r.margin_mode} {word}")

    def _age_text(self, row: Row) -> str:
        if row.liquidated_at is not None:
            return f"gone {fmt.age(self.clock() - row.liquidated_at)}"
        if row.observed_at is None:
            return fmt.DASH
        text = fmt.age(self.clock() - row.observed_at)
        return f"STALE {text}" if row.stale else text

    def _exchange_text(self, row: Row) -> str:
        """The exchange's figure with its age: it is as old as the last account read."""
        if not row.text:
            row.text = _texts(row)
        text = row.text[Column.LIQ_EXCHANGE]
        check = row.check
        if check is None or row.risk.reported_liquidation_price is None:
            return text
        return f"{text} · {fmt.age(self.clock() - check.observed_at)}"

    def _foreground(self, row: Row, column: int) -> QColor | None:
        colors = _TEXT_COLORS[current_theme().name]
        if row.liquidated_at is not None:
            return colors[Level.CRITICAL] if column == Column.STATUS else colors[Level.STALE]
        if row.stale:
            return colors[Level.STALE]
        if column == Column.LIQ_EXCHANGE and row.exchange_late:
            return colors[Level.STALE]
        if column == Column.STATUS:
            return colors[row.level]
        if column == Column.DISTANCE and row.distance_level != Level.OK:
            return colors[row.distance_level]
        if column == Column.MARGIN_RATIO and row.ratio_level != Level.OK:
            return colors[row.ratio_level]
        if column == Column.LIQ_EXCHANGE and row.disagrees:
            return colors[Level.WARNING]
        if column == Column.AGE and row.status == DataStatus.DELAYED:
            return colors[Level.WARNING]
        if column == Column.STOP and row.risk.protection is not None \
                and row.risk.protection.verdict in _EXPOSED:
            return colors[Level.WARNING]
        if column == Column.ADL and (adl := adl_reading(row.venue, row.risk.adl_rank)) is not None \
                and adl.level is AdlLevel.HIGH:
            return colors[Level.WARNING]
        return None

    def _tooltip(self, row: Row, column: int) -> str | None:
        """A cell's tooltip: the lines of :meth:`_tooltip_lines`, one place to add more."""
        lines = self._tooltip_lines(row, column)
        return "\n".join(lines) if lines else None

    def _tooltip_lines(self, row: Row, column: int) -> list[str]:
        r = row.risk
        lines: list[str] = []
        if row.liquidated_at is not None:
            lines.append(_liquidated_tip(row))
        if column == Column.SIDE and r.leg != "both":
            lines.append(f"Hedge mode: the {r.leg} leg of {r.symbol}")
        elif column == Column.STATUS:
            lines.append(f"{row.level.word}: {_level_reason(row, row.thresholds)}")
            if row.stale:
                lines.append(f"Data is stale ({row.reason or 'no fresh update'}); the figures are the last "
                             "known ones and may be wrong now.")
            elif row.status is DataStatus.DELAYED:
                lines.append(f"◐ Data is delayed ({row.reason or 'updates are late'}); see the Age column.")
            lines.extend(_advice_lines(r))
        elif column == Column.LIQ and r.liquidation_price is None:
            lines.append(NO_LIQUIDATION_TIP)
        elif column == Column.LIQ_EXCHANGE:
            lines.append(_exchange_liq_tip(r, row, self.clock()))
        elif column == Column.BANKRUPTCY and r.bankruptcy_price is None:
            lines.append(NO_BANKRUPTCY_TIP)
        elif column == Column.DISTANCE and r.distance_to_liquidation is None and not r.liquidatable:
            lines.append(NO_LIQUIDATION_TIP)
        elif column == Column.DISTANCE and r.suggestions:
            lines.extend(_advice_lines(r))
        elif column == Column.MARGIN_RATIO:
            whose = ("its pool's (cross margin)" if r.margin_mode == "cross"
                     else "the position's own (isolated)")
            lines.append(f"Margin ratio: {whose}; 100 % = liquidation.")
            lines.extend(_advice_lines(r))
        elif column == Column.STOP:
            lines.extend(_stop_lines(r))
        elif column == Column.ADL and (adl := adl_reading(row.venue, r.adl_rank)) is not None:
            lines.append(_sentence(adl_description(adl)))
            lines.append("The more lit, the sooner this position is closed against a liquidated one when "
                         "the insurance fund cannot cover it.")
            if adl.scale is not None:
                lines.append(f"Scale: {adl.scale.source}")
        elif column == Column.REALIZED and r.realized_pnl is not None:
            lines.append(f"Realised PnL {fmt.money(r.realized_pnl, r.settle, signed=True)} as {r.account}'s "
                         "venue reports it on this position.")
        elif column == Column.AGE:
            status = row.status.value if row.status else "unknown"
            tip = f"Data status: {'stale' if row.stale else status}"
            lines.append(f"{tip} — {row.reason}" if row.reason else tip)
        return lines


_EXPOSED = frozenset({Verdict.UNPROTECTED, Verdict.BEYOND_LIQUIDATION, Verdict.FIRES_AT_ONCE})


def _accessible_text(row: Row, column: int) -> str | None:
    """What a screen reader says for a cell whose text is drawn, not written (the ADL lights);
    None: the displayed text itself."""
    if column == Column.ADL:
        adl = adl_reading(row.venue, row.risk.adl_rank)
        return adl_description(adl) if adl is not None else "no ADL rank given"
    return None


def _adl_sort_key(adl: AdlReading | None) -> float:
    """Ascending: the most lit first (the domain's normalised level), then the ranks whose scale is
    unverified (by their number, highest first), then positions without a rank."""
    if adl is None:
        return math.inf
    fraction = adl.fraction
    if fraction is not None:
        return -fraction
    return 1.0 - adl.value / 1000.0


def _stop_lines(r: PositionRisk) -> list[str]:
    """The Stop column's tooltip: the verdict, every stop and take-profit, and what the stop saves."""
    pr = r.protection
    if pr is None:
        return ["The account's open orders are not read, so desk cannot say whether a stop protects it."]
    lines = [_sentence(verdict_text(pr, r.tick_size))]
    for order, trigger in zip(pr.stops, pr.stop_triggers, strict=True):
        size = "whole position" if order.contracts is None else fmt.quantity(order.contracts)
        lines.append(f"Stop {fmt.price(trigger, r.tick_size)} · {size} · {order.source}")
    for order in pr.take_profits:
        size = "whole position" if order.contracts is None else fmt.quantity(order.contracts)
        lines.append(f"Take-profit {fmt.price(order.trigger_price, r.tick_size)} · {size}")
    lines.append(_sentence(loss_text(pr, r.settle)))
    return lines


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _advice_lines(r: PositionRisk) -> list[str]:
    """What the engine suggests for the row (the suggestions of desk.domain.suggest), one per line."""
    reaching = [s for s in r.suggestions if s.reaches_target]
    if not reaching:
        return []
    goal = goal_text(reaching[0].target_margin_ratio, reaching[0].target_distance)
    moving = convention_text(reaching[0])  # a pooled goal counted with same-coin collateral moving
    goal += f" ({moving})" if moving and goal else ""
    return [f"To get {goal}, any one of:" if goal else "Any one of:",
            *(f"• {suggestion_text(s, r.settle, with_goal=False)}" for s in reaching)]


def _distance_level(distance: float | None, th: Thresholds) -> Level:
    """levels.figure_level for the distance alone (the alert engine's level_for, no hysteresis)."""
    if distance is None:
        return Level.OK
    return _FROM_ALERT[level_for(distance, None, th.distance_warning, th.distance_critical,
                                 higher_is_worse=False, rearm=0.0)]


def _ratio_level(ratio: float | None, th: Thresholds) -> Level:
    if ratio is None:
        return Level.OK
    return _FROM_ALERT[level_for(ratio, None, th.margin_ratio_warning, th.margin_ratio_critical,
                                 higher_is_worse=True, rearm=0.0)]


_FROM_ALERT = {None: Level.OK, AlertLevel.INFO: Level.OK, AlertLevel.WARNING: Level.WARNING,
               AlertLevel.CRITICAL: Level.CRITICAL}
_STATUS_RANK = {s: s.rank for s in DataStatus}


def _fill_row(row: Row, risk: PositionRisk, account: AccountState | None,
              position: PositionState | None) -> None:
    status = position.status if position is not None else (account.status if account else None)
    if account is not None and _STATUS_RANK[account.status] > (_STATUS_RANK[status] if status else -1):
        status = account.status  # an account that cannot be read makes all its rows stale
    observed = position.mark_time if position is not None and position.mark_time else None
    if observed is None and account is not None:
        observed = account.oldest_mark_time or account.data_time
    reason = (position.reason if position is not None else None) or (account.reason if account else None)
    row.risk, row.status, row.observed_at, row.reason = risk, status, observed, reason
    row.check = position.exchange_check if position is not None else None
    row.read_interval = account.read_interval if account is not None else None
    row.venue = account.venue if account is not None else None
    row.demo = account.demo if account is not None else False


def _shown(row: Row) -> tuple[object, ...]:
    """What each column's text, colour and font are made from (index 0: what the whole row's are),
    in Column order — a plain tuple: made for every row of every update, so no dict and no enum walk."""
    r = row.risk
    check = row.check
    return (
        (row.stale, r.tick_size, row.level, row.status is DataStatus.DELAYED, row.liquidated_at),  # STATUS
        r.account,  # ACCOUNT
        r.symbol,  # SYMBOL
        (r.side, r.leg),  # SIDE
        (r.margin_mode, r.leverage),  # MODE
        r.contracts,  # SIZE
        r.mark_price,  # MARK
        (r.unrealized_pnl, r.settle),  # UPNL
        r.roi,  # ROI
        r.liquidation_price,  # LIQ
        (r.reported_liquidation_price, row.disagrees, row.exchange_late,
         check.observed_at if check is not None else None),  # LIQ_EXCHANGE
        (r.distance_to_liquidation, row.distance_level),  # DISTANCE
        (r.margin_ratio, row.ratio_level),  # MARGIN_RATIO
        (r.position_margin, r.settle),  # POSITION_MARGIN
        r.bankruptcy_price,  # BANKRUPTCY
        r.entry_price,  # ENTRY
        (r.notional, r.settle),  # NOTIONAL
        (row.observed_at, row.status),  # AGE
        r.protection,  # STOP
        (r.adl_rank, row.venue),  # ADL
        (r.realized_pnl, r.settle),  # REALIZED
    )


assert [c.name for c in Column] == [
    "STATUS", "ACCOUNT", "SYMBOL", "SIDE", "MODE", "SIZE", "MARK", "UPNL", "ROI", "LIQ", "LIQ_EXCHANGE",
    "DISTANCE", "MARGIN_RATIO", "POSITION_MARGIN", "BANKRUPTCY", "ENTRY", "NOTIONAL", "AGE", "STOP", "ADL",
    "REALIZED",
], "_shown lists the columns in this order"


def _texts(row: Row) -> list[str]:
    r = row.risk
    tick = r.tick_size
    side = r.side.upper() if r.leg == "both" else f"{r.side.upper()} (H)"
    exch = fmt.price(r.reported_liquidation_price, tick)
    if row.disagrees:
        exch = f"⚠ {exch}" if r.reported_liquidation_price is not None else exch
    texts = {
        Column.STATUS: row.level.label if not row.stale else f"{Level.STALE.glyph} STALE",
        Column.ACCOUNT: r.account,
        Column.SYMBOL: r.symbol,
        Column.SIDE: side,
        Column.MODE: f"{_MODE_WORDS.get(r.margin_mode, r.margin_mode)} {fmt.leverage(r.leverage)}".strip(),
        Column.SIZE: fmt.quantity(r.contracts),
        Column.NOTIONAL: fmt.money(r.notional, r.settle),
        Column.ENTRY: fmt.price(r.entry_price, tick),
        Column.MARK: fmt.price(r.mark_price, tick),
        Column.LIQ: fmt.price(r.liquidation_price, tick),
        Column.LIQ_EXCHANGE: exch,
        Column.BANKRUPTCY: fmt.price(r.bankruptcy_price, tick),
        Column.DISTANCE: fmt.distance_with_state(r.signed_distance_to_liquidation, r.liquidatable),
        Column.MARGIN_RATIO: fmt.margin_ratio(r.margin_ratio),
        Column.UPNL: fmt.money(r.unrealized_pnl, r.settle, signed=True),
        Column.ROI: fmt.percent(r.roi, signed=True),
        Column.POSITION_MARGIN: fmt.money(r.position_margin, r.settle),
        Column.AGE: "",  # computed at paint time
        Column.STOP: r.protection.label if r.protection is not None else fmt.DASH,
        Column.ADL: lights_text(adl) if (adl := adl_reading(row.venue, r.adl_rank)) else fmt.DASH,
        Column.REALIZED: fmt.money(r.realized_pnl, r.settle, signed=True),
    }
    return [texts[c] for c in Column]


_MODE_WORDS = {"isolated": "isol.", "cross": "cross"}
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_PINNED_LEVELS = frozenset({Level.CRITICAL, Level.STALE})
_PAINT = int(PAINT_ROLE)
_PAINT_ROLES = frozenset({_DISPLAY, _FOREGROUND, _BACKGROUND, _FONT, _ALIGNMENT, _PAINT})
_ALL_COLUMNS = (1 << COLUMN_COUNT) - 1
_AGE_BIT = 1 << Column.AGE
_COLUMN_BITS = tuple(1 << c for c in range(COLUMN_COUNT))
_MAX_RECTS = 48


def _changed_columns(shown: tuple[object, ...], old: tuple[object, ...]) -> int:
    """The bit mask of the columns whose ``shown`` part differs from ``old``'s (all of them when
    the row-wide part, index 0, does)."""
    if not old or shown[0] != old[0]:  # the row-wide part (stale, tick size, level) changed
        return _ALL_COLUMNS
    return sum(compress(_COLUMN_BITS, map(operator.ne, shown, old)))  # the loop in C: 500 rows a tick


@functools.lru_cache(maxsize=1024)
def _column_runs(mask: int) -> tuple[tuple[int, int], ...]:
    """The runs of consecutive set bits of ``mask`` as (first, last) column pairs."""
    return tuple(_runs([c for c in range(COLUMN_COUNT) if mask >> c & 1]))
_TEXT_COLORS = {name: {level: QColor(hex_color) for level, hex_color in colors.items()}
                for name, colors in LEVEL_TEXT_HEX.items()}
_TINTS = {level: QColor(QColor(hex_color).red(), QColor(hex_color).green(), QColor(hex_color).blue(), 60)
          for level, hex_color in LEVEL_HEX.items()}
_ALIGN = [int((Qt.AlignmentFlag.AlignRight if c in NUMERIC else Qt.AlignmentFlag.AlignLeft)
              | Qt.AlignmentFlag.AlignVCenter) for c in Column]


def _sort_key(row: Row, column: int, now: float) -> Any:
    """Sort keys as plain floats/strings (compared in C++ by the proxy); ascending = worst first
    for the risk column, and "no liquidation" sorts as the safest."""
    r = row.risk
    distance = r.distance_to_liquidation
    if column == Column.STATUS:
        return -10.0 * int(row.level) + min(distance if distance is not None else 9.0, 9.0)
    if column == Column.DISTANCE:
        return distance if distance is not None else math.inf
    if column == Column.MARGIN_RATIO:
        return r.margin_ratio if r.margin_ratio is not None else -1.0
    numbers = {
        Column.SIZE: r.contracts, Column.NOTIONAL: r.notional, Column.ENTRY: r.entry_price,
        Column.MARK: r.mark_price, Column.LIQ: r.liquidation_price,
        Column.LIQ_EXCHANGE: r.reported_liquidation_price, Column.BANKRUPTCY: r.bankruptcy_price,
        Column.UPNL: r.unrealized_pnl, Column.ROI: r.roi, Column.POSITION_MARGIN: r.position_margin,
    }
    if column in numbers:
        value = numbers[Column(column)]
        return value if value is not None else math.inf
    if column == Column.AGE:
        return now - row.observed_at if row.observed_at is not None else math.inf
    if column == Column.ADL:
        return _adl_sort_key(adl_reading(row.venue, r.adl_rank))
    if column == Column.REALIZED:
        return r.realized_pnl if r.realized_pnl is not None else math.inf
    if column == Column.STOP:  # least covered first; orders not read last
        return r.protection.coverage if r.protection is not None else math.inf
    texts = {Column.ACCOUNT: r.account, Column.SYMBOL: r.symbol, Column.SIDE: r.side,
             Column.MODE: f"{r.margin_mode} {r.leverage or 0:08.2f}"}
    return texts.get(Column(column), "")


def _level_reason(row: Row, thresholds: Thresholds) -> str:
    r = row.risk
    parts = []
    if r.liquidatable:
        parts.append(f"{fmt.PAST_LIQUIDATION}: the mark is at or past the liquidation price")
    if r.distance_to_liquidation is None:
        parts.append("no liquidation price")
    else:
        parts.append(f"distance {fmt.distance(r.signed_distance_to_liquidation)} (warn ≤ "
                     f"{fmt.threshold_percent(thresholds.distance_warning)}, critical ≤ "
                     f"{fmt.threshold_percent(thresholds.distance_critical)})")
    if r.margin_ratio is not None:
        parts.append(f"margin ratio {fmt.margin_ratio(r.margin_ratio)} (warn ≥ "
                     f"{fmt.threshold_percent(thresholds.margin_ratio_warning)}, critical ≥ "
                     f"{fmt.threshold_percent(thresholds.margin_ratio_critical)})")
    return "; ".join(parts)


def _looks_liquidated(row: Row, now: float, read_well: set[str] | None) -> bool:
    """The alert engine's "gone — probably liquidated" rule: gone on a good read of its account
    after being critical within GONE_WINDOW, and still at warning or worse when last seen."""
    if read_well is not None and row.risk.account not in read_well:
        return False
    return (row.critical_at is not None and now - row.critical_at <= GONE_WINDOW
            and row.figure_level >= Level.WARNING)


def _liquidated_tip(row: Row) -> str:
    r = row.risk
    assert row.liquidated_at is not None
    at = datetime.fromtimestamp(row.liquidated_at).strftime("%H:%M:%S")
    return (f"LIQUIDATED: this {r.side} {fmt.quantity(r.contracts)} {r.symbol} position left {r.account} at "
            f"{at} while critical (mark {fmt.price(r.mark_price, r.tick_size)}, liquidation "
            f"{fmt.price(r.liquidation_price, r.tick_size)}): most likely liquidated (a manual close looks "
            "the same). The figures are the last ones seen. Check the exchange's history, then "
            "right-click → Acknowledge to remove the row.")


def _exchange_liq_tip(r: PositionRisk, row: Row, now: float) -> str:
    theirs, check = r.reported_liquidation_price, row.check
    if theirs is None and check is None:
        return "The exchange reports no liquidation price for this position."
    if check is None:
        return (f"Exchange {fmt.price(theirs, r.tick_size)}. desk compares it with its own figure at "
                "each account read (at that read's marks); the next read will show whether they agree.")
    tick = check.tick_size
    read_at = datetime.fromtimestamp(check.observed_at).strftime("%H:%M:%S")
    age = fmt.age(now - check.observed_at)
    if row.read_interval is None:
        every = "desk reads the account every few seconds"
    else:
        every = f"desk reads the account every {fmt.age(row.read_interval)}"
    if row.exchange_late:
        head_age = (f"◌ Read {age} ago at {read_at} — a read cycle was missed ({every}): this figure "
                    "is out of date, and older than desk's own (Liq. desk).")
    else:
        head_age = (f"Read {age} ago at {read_at} ({every}); between reads it is older than desk's own "
                    "figure (Liq. desk), which follows every mark.")
    head = "⚠ Disagrees with desk" if check.disagrees else "Agrees with desk"
    if check.ours_at_read is None:
        ours = ("desk finds no liquidation price at the same marks — check the position's margin "
                "and the venue rules")
    else:
        ours = f"desk at the same marks {fmt.price(check.ours_at_read, tick)}"
        if check.gap_ticks is not None:
            ours += f" ({check.gap_ticks:,.1f} ticks apart; tolerance {check.tolerance})"
        elif check.gap_relative is not None:
            ours += f" ({fmt.percent(check.gap_relative, 3)} apart; tolerance {check.tolerance})"
    lines = [f"{head}: exchange {fmt.price(check.theirs, tick)} at the last account read {read_at}; {ours}.",
             head_age]
    if check.disagrees:
        lines.append("Trust the more conservative figure until they agree.")
    if r.margin_mode == "cross":
        lines.append(f"desk now, at the newest marks: {fmt.price(r.liquidation_price, r.tick_size)} "
                     "(a cross position's liquidation price moves with every mark in its pool).")
    return "\n".join(lines)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs of sorted indices as (first, last) pairs."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


class PositionsProxy(QSortFilterProxyModel):
    """The filter box, as a trader means it (see :func:`filter_pattern`), evaluated in C++ on one
    role. Sorting is passed to the source model, which keeps its rows in order (see
    PositionsModel.sort), so the proxy itself never sorts."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setFilterRole(FILTER_ROLE)
        self.setFilterKeyColumn(Column.STATUS)
        self.setDynamicSortFilter(True)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        source = self.sourceModel()
        if source is not None:
            source.sort(column, order)

    def set_filter_text(self, text: str) -> None:
        self.setFilterRegularExpression(QRegularExpression(
            filter_pattern(text), QRegularExpression.PatternOption.CaseInsensitiveOption))


# The filter role's fields, each after a control character no one types: a word of the filter
# matches the start of a word (so "sol" finds SOL/USDT, not "demo-bybit-isolated"), "account:x"
# and "symbol:x" match anywhere in that field alone.
_ACCOUNT_FIELD, _SYMBOL_FIELD, _OTHER_FIELD = "\x1e", "\x1d", "\x1c"
_FIELD_PREFIXES = {"account": _ACCOUNT_FIELD, "symbol": _SYMBOL_FIELD}


def filter_pattern(text: str) -> str:
    """The filter box's text as one regular expression over the filter role: every word must
    match (in any order); a plain word matches where a word of the account, symbol, side, margin
    mode or risk level starts; ``account:`` / ``symbol:`` restrict a word to that field, matched
    anywhere in it."""
    parts = []
    for word in text.split():
        field_name, colon, value = word.partition(":")
        marker = _FIELD_PREFIXES.get(field_name.lower()) if colon else None
        if marker is not None:
            if value:
                parts.append(f"(?=[\\s\\S]*{marker}[^\\x1c-\\x1e]*{QRegularExpression.escape(value)})")
            continue
        parts.append(f"(?=[\\s\\S]*(?<![\\p{{L}}\\p{{N}}]){QRegularExpression.escape(word)})")
    return "^" + "".join(parts) if parts else ""
