"""The main window: status strip, account cards, the positions table and the chart/what-if tabs."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QItemSelection,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSettings,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QKeySequence,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desk.domain.alerts import Alert
from desk.domain.model import PositionKey, held_in_both_modes
from desk.domain.report import PositionRisk
from desk.domain.venue_pages import position_page
from desk.services.freshness import Thresholds as Freshness
from desk.services.snapshot import MonitorSnapshot, StatusChange
from desk.ui import formatting as fmt
from desk.ui.cell_painter import CellPainter
from desk.ui.levels import Level, ThresholdsFor, global_thresholds, worst
from desk.ui.positions_model import (
    DEFAULT_STALE_AFTER,
    HEADERS,
    KEY_ROLE,
    LIQUIDATED_LABEL,
    RISK_ROLE,
    Column,
    PositionsModel,
    PositionsProxy,
    Staging,
)
from desk.ui.theme import theme_events
from desk.ui.widgets import AccountsPanel, StatusStrip, placeholder

APP_TITLE = "desk — risk dashboard"
PANEL_NAMES = ("Ladder", "History", "Stress", "What-if", "Book")
_PANEL_HINTS = {
    "Ladder": "Select a position to see its price ladder: mark, entry, liquidation (desk and exchange), "
              "bankruptcy.",
    "History": "Margin ratio and distance to liquidation over time.",
    "Stress": "Margin ratio against a uniform price shock, per account.",
    "What-if": "Try a change (margin, size, leverage, marks) before making it.",
    "Book": "Every account at once: exposure, hedges and where they break, one stress for all venues.",
}


#: columns left out of the default set (right-click the header to show them): what fits 1280 px
#: with a PAST LIQUIDATION distance and coin-settled amounts (a row's age shows in its Risk cell
#: once it is stale, and each account's in the strip above)
DEFAULT_HIDDEN = frozenset({Column.BANKRUPTCY, Column.ENTRY, Column.NOTIONAL, Column.AGE,
                            Column.POSITION_MARGIN, Column.ADL, Column.REALIZED})
#: columns the chooser cannot hide: without them a row says nothing
ALWAYS_SHOWN = frozenset({Column.STATUS, Column.SYMBOL})


def initial_geometry(available: QRect) -> QRect:
    """The window's first geometry on a screen whose free area is ``available``: all of it (less
    the frame a window manager adds) on a small screen; on a large one 85 % of it (at least
    1600×1000), centred."""
    frame_w, frame_h = 2, 32  # borders and title bar, which the window's own geometry excludes
    width = min(available.width() - frame_w, max(1600, int(available.width() * 0.85)))
    height = min(available.height() - frame_h, max(1000, int(available.height() * 0.85)))
    left = available.x() + (available.width() - width) // 2
    top = available.y() + frame_h + (available.height() - frame_h - height) // 2
    return QRect(left, top, width, height)


def window_title(demo: bool) -> str:
    return f"{APP_TITLE} [DEMO]" if demo else APP_TITLE


class MainWindow(QMainWindow):
    #: positions made ready per pass of the event loop when a live snapshot is applied in steps
    #: (show_snapshot): about a millisecond of the GUI thread
    rows_per_step = 100
    #: snapshots that may in turn replace the one being made ready before the newest is applied
    #: in one step: a book too large for the refresh rate is still shown, never starved
    max_superseded = 2

    position_selected = Signal(object)  # PositionRisk | None — charts and what-if follow it
    snapshot_applied = Signal(object)  # MonitorSnapshot, after the table and cards are updated
    close_requested = Signal()  # the window's close button; the app decides (tray or quit)
    summary_refreshed = Signal()  # the strip and cards are current (worst_level is up to date)
    alert_log_requested = Signal()  # View → Alert log, or a click on "Alerts today"

    def __init__(self, *, demo: bool = False, thresholds_for: ThresholdsFor | None = None,
                 stale_after: float = DEFAULT_STALE_AFTER, clock: Callable[[], float] = time.time,
                 parent: QWidget | None = None, live_after: float | None = None,
                 state_file: str | None = None) -> None:
        super().__init__(parent)
        # the window's size, splitter and chosen columns, kept between runs (None: not kept)
        self.state_file = state_file
        self.demo = demo
        self.thresholds_for = thresholds_for or global_thresholds()
        self.stale_after = stale_after
        # the card and the strip say live / delayed / stale from one rule (freshness.shown_status)
        self.freshness = Freshness(live_after if live_after is not None else Freshness().live_seconds,
                                   stale_after)
        self.clock = clock
        self.snapshot: MonitorSnapshot | None = None
        self.alerts_today: list[Alert] = []
        self.allow_close = False
        self.worst_level: Level | None = None
        self._summary_pending = False
        # a live snapshot being made ready beside the table (show_snapshot), and how many newer
        # ones replaced it in turn since the table last took one
        self._staging: tuple[MonitorSnapshot, Staging] | None = None
        self._step_posted = False
        self._painted_ahead = False
        self._superseded = 0
        self._split_done = False
        self._auto_split = True
        self._splitting = False
        self.setWindowTitle(window_title(demo))
        self._fit_to_screen()

        self.model = PositionsModel(self.thresholds_for, clock=clock, stale_after=stale_after, parent=self)
        self.proxy = PositionsProxy(self)
        self.proxy.setSourceModel(self.model)

        self.status_strip = StatusStrip()
        self.status_strip.demo.setVisible(demo)
        # one status pill per account: with five accounts the strip asked for 1,414 px and pushed
        # the window past a 1280 px screen; it now takes the window's width and no more
        self.status_strip.setSizePolicy(QSizePolicy.Policy.Ignored,
                                        self.status_strip.sizePolicy().verticalPolicy())
        self.accounts_panel = AccountsPanel()

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(
            "Filter: sol, long, critical… or account:NAME, symbol:TEXT (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_filter_text)
        self.counts = QLabel("")
        self.counts.setObjectName("muted")

        self.table = PositionsTable()
        self.table.setModel(self.proxy)
        self.table.setItemDelegate(CellPainter(self.table))  # one question to the model per cell
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Column.STATUS, Qt.SortOrder.AscendingOrder)  # worst first
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in _COLUMN_WIDTHS.items():
            self.table.setColumnWidth(column, width)
        self._natural_widths = dict(_COLUMN_WIDTHS)  # fitted to the data; spread over the room left
        self._spreading = False
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._column_menu)
        header.sectionResized.connect(self._column_resized)
        self.table.viewport_resized.connect(self._spread_columns, Qt.ConnectionType.QueuedConnection)
        for column in DEFAULT_HIDDEN:
            self.table.setColumnHidden(column, True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.setObjectName("positionsTable")
        # A re-sort, a filter or rows added/removed move positions between rows; the view only
        # re-lays out on a later timer and would meanwhile repaint single cells over rows that
        # still show what was there before. Repaint the whole table in the next frame instead.
        for moved in (self.proxy.layoutChanged, self.proxy.rowsInserted, self.proxy.rowsRemoved,
                      self.proxy.modelReset):
            moved.connect(self.table.viewport().update)
        # The selection belongs to a position, not to a row: it follows the position's identity
        # through sorts, filters and updates; when the position goes, nothing else is selected.
        self._selected_key: PositionKey | None = None
        for moved in (self.proxy.layoutChanged, self.proxy.rowsInserted, self.proxy.rowsRemoved,
                      self.model.rowsRemoved):
            moved.connect(self._keep_selection)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._table_menu)
        # Said beside the detail tabs (their corner), so showing it never moves them.
        self.selection_note = QLabel("")
        self.selection_note.setObjectName("selectionNote")
        self.selection_note.setContentsMargins(8, 0, 12, 0)
        note_font = self.selection_note.font()
        note_font.setBold(True)
        self.selection_note.setFont(note_font)
        self.selection_note.hide()

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.panels: dict[str, QWidget] = {}
        self._panel_holders: dict[str, QScrollArea] = {}
        for name in PANEL_NAMES:
            self.set_panel(name, placeholder(_PANEL_HINTS[name]))

        filter_row = QHBoxLayout()
        filter_row.setContentsMargins(8, 0, 8, 0)
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.counts)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(6)
        top_layout.addLayout(filter_row)
        top_layout.addWidget(self.table, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.tabs.setCornerWidget(self.selection_note, Qt.Corner.TopRightCorner)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.splitterMoved.connect(self._splitter_moved)
        # the account cards grow once accounts are known: the split is fitted again to what is left
        self.splitter.installEventFilter(self)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 6)
        layout.setSpacing(4)
        layout.addWidget(self.status_strip)
        layout.addWidget(self.accounts_panel)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.accounts_panel.setFixedHeight(0)

        self.menu_actions: dict[str, QAction] = {}
        self._build_menus()
        self._clock_timer = QTimer(self)
        self._clock_timer.timeout.connect(self.tick)
        self._clock_timer.start(1000)
        self.last_update = QLabel("")
        self.last_update.setObjectName("muted")
        self.statusBar().addPermanentWidget(self.last_update)
        self.statusBar().showMessage("Starting the monitor…")
        # issue 10: the charts and the what-if panel fill the tabs once the window is up (pyqtgraph
        # is imported then, off the cold-start path). The app may hold them back further, until
        # its first numbers are on screen (charts_deferred, then attach_charts; issue 18).
        self.charts: object | None = None
        self.charts_deferred = False
        self._charts_started = False
        # the history store the running monitor writes (set by the app); the History tab reads it
        self.history_source: Callable[[], object] | None = None
        QTimer.singleShot(0, self, self._charts_due)
        theme_events().changed.connect(self._theme_changed)
        self._restore_state()

    # -- size and what is kept between runs ------------------------------------------------

    def _fit_to_screen(self) -> None:
        """First start: the window takes the screen's available area (less the window frame), so
        its status bar is on screen at 1280×800; on a large screen it keeps a margin around."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(1280, 760)
            return
        self.setGeometry(initial_geometry(screen.availableGeometry()))

    def _state(self) -> QSettings | None:
        if self.state_file is None:
            return None
        return QSettings(self.state_file, QSettings.Format.IniFormat)

    def _restore_state(self) -> None:
        state = self._state()
        if state is None:
            return
        geometry = state.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        layout = state.value("window/state")
        if isinstance(layout, QByteArray) and not layout.isEmpty():
            self.restoreState(layout)
        hidden = state.value("table/hidden_columns")
        if hidden is not None:
            names = {str(n) for n in (hidden if isinstance(hidden, list) else [hidden]) if n}
            for column in Column:
                self.table.setColumnHidden(column, column.name in names)

    def save_state(self) -> None:
        """Keep the window's geometry and the chosen columns (by name, so new columns appear)."""
        state = self._state()
        if state is None:
            return
        state.setValue("window/geometry", self.saveGeometry())
        state.setValue("window/state", self.saveState())
        hidden = [c.name for c in Column if self.table.isColumnHidden(c)]
        state.setValue("table/hidden_columns", hidden or [""])
        state.sync()

    def _column_menu(self, pos: QPoint) -> None:
        """Right-click on the header: a tick per column; the choice is kept between runs."""
        menu = QMenu(self.table)
        for column in Column:
            title = HEADERS[column][0].replace("-\n", "").replace("\n", " ")
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(not self.table.isColumnHidden(column))
            action.setEnabled(column not in ALWAYS_SHOWN)
            action.toggled.connect(lambda on, c=column: self.show_column(c, on))
        menu.addSeparator()
        menu.addAction("Default columns", self.default_columns)
        self._column_menu_shown = menu  # kept for tests; replaced at the next right-click
        menu.popup(self.table.horizontalHeader().mapToGlobal(pos))

    def show_column(self, column: Column, shown: bool) -> None:
        if column in ALWAYS_SHOWN and not shown:
            return
        self.table.setColumnHidden(column, not shown)
        self._spread_columns()
        self.save_state()

    def default_columns(self) -> None:
        for column in Column:
            self.table.setColumnHidden(column, column in DEFAULT_HIDDEN)
        self._spread_columns()
        self.save_state()

    def _column_resized(self, column: int, old: int, new: int) -> None:
        if not self._spreading and old and new:  # hiding or showing a column is not sizing it
            self._spread_user = True  # the trader sized a column: leave the widths alone

    def _spread_columns(self) -> None:
        """The shown columns at their fitted widths, the room left spread over them (a wide
        screen); when they do not fit, the text columns (account, symbol) give way first."""
        if getattr(self, "_spread_user", False):
            return
        shown = [c for c in Column if not self.table.isColumnHidden(c)]
        if not shown:
            return
        room = self.table.viewport().width()
        if room <= 0:
            return
        widths = {c: self._natural_widths.get(c, 80) for c in shown}
        spare = room - sum(widths.values())
        if spare < 0:
            # text gives way first (elided, whole in the tooltip), numbers never
            for column, least in _GIVE_WAY:
                if column in widths and spare < 0:
                    give = min(-spare, widths[column] - least)
                    if give > 0:
                        widths[column] -= give
                        spare += give
        elif spare > 0:
            share, rest = divmod(spare, len(shown))
            for i, column in enumerate(shown):
                widths[column] += share + (1 if i < rest else 0)
        self._spreading = True
        for column, width in widths.items():
            self.table.setColumnWidth(column, width)
        self._spreading = False

    def _theme_changed(self, theme: object) -> None:
        """Risk text colours differ per theme: repaint the table, rebuild the strip and cards."""
        self.model.restyle()
        if self.snapshot is not None:
            self._refresh_summary()

    def _charts_due(self) -> None:
        if not self.charts_deferred:
            self.attach_charts()

    def attach_charts(self) -> None:
        """Fill the chart, what-if and book tabs (once; later calls do nothing)."""
        if not self._charts_started:
            self._charts_started = True
            self._attach_charts()

    def _attach_charts(self) -> None:
        from desk.ui.charts import attach_panels

        self.charts = attach_panels(self, history_factory=self.history_source)
        from desk.ui.book import attach_book  # issue 21: the whole book across accounts

        self.book_panel = attach_book(self)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._split_done:
            self._split_done = True
            QTimer.singleShot(0, self, self._initial_split)

    def _initial_split(self) -> None:
        self._fit_split()

    def _fit_split(self) -> None:
        """Until the user drags the splitter: the table gets the height its rows need (at most
        62 % of the space, at least 40 %), the chart tabs the rest — but at least _TABS_HEIGHT,
        room for a plot 200 px tall under its title and legend, while the table keeps 30 %."""
        if not self._auto_split:
            return
        total = self.splitter.height()
        if total <= 0:
            return
        header = self.table.horizontalHeader().sizeHint().height()
        rows = self.proxy.rowCount() * self.table.verticalHeader().defaultSectionSize()
        needed = header + rows + self.filter_edit.sizeHint().height() + 2 * self.table.frameWidth() + 28
        room = total - _TABS_HEIGHT
        top = max(int(total * 0.30), min(int(total * 0.40), room), min(needed, int(total * 0.62), room))
        self._splitting = True
        self.splitter.setSizes([top, total - top])
        self._splitting = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.splitter and event.type() == QEvent.Type.Resize and self._split_done:
            QTimer.singleShot(0, self, self._fit_split)
        return super().eventFilter(watched, event)

    def _splitter_moved(self) -> None:
        if not self._splitting:
            self._auto_split = False  # the user chose; leave it

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._split_done:
            QTimer.singleShot(0, self, self._fit_split)
        QTimer.singleShot(0, self, self._spread_columns)

    def set_demo(self, demo: bool) -> None:
        self.demo = demo
        self.setWindowTitle(window_title(demo))
        self.status_strip.demo.setVisible(demo)

    def set_thresholds(self, thresholds_for: ThresholdsFor) -> None:
        self.thresholds_for = thresholds_for
        self.model.thresholds_for = thresholds_for
        self.tick()

    # -- panels for the charts and the what-if (issue 10) ---------------------------------

    def set_panel(self, name: str, widget: QWidget) -> None:
        """Put ``widget`` in the tab ``name`` ("Ladder", "History", "Stress", "What-if" or new).

        The tab holds it in a scroll area, so a panel's minimum size never takes rows away from
        the positions table: on a small screen the panel scrolls instead.
        """
        _scroll_side_panel(widget)
        holder = QScrollArea()
        holder.setWidgetResizable(True)
        holder.setFrameShape(QFrame.Shape.NoFrame)
        holder.setWidget(widget)
        old = self._panel_holders.get(name)
        if old is not None:
            current = self.tabs.currentIndex()
            index = self.tabs.indexOf(old)
            self.tabs.removeTab(index)
            old.deleteLater()
            self.tabs.insertTab(index, holder, name)
            self.tabs.setCurrentIndex(current)  # replacing a panel does not switch tabs
        else:
            self.tabs.addTab(holder, name)
        self._panel_holders[name] = holder
        self.panels[name] = widget

    def selected_position(self) -> PositionRisk | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        risk: PositionRisk = rows[0].data(RISK_ROLE)
        return risk

    def select_instrument(self, account: str, symbol: str, leg: str = "both") -> bool:
        """Select the position an alert names (an alert names no margin mode: of OKX twins, their
        condition is the worse one's, so the worse row is selected)."""
        held = [row for row in self.model.rows() if row.key.instrument == (account, symbol, leg)]
        if not held:
            return False
        return self.select_key(max(held, key=lambda row: (row.liquidated_at is not None, int(row.level))).key)

    def select_key(self, key: PositionKey) -> bool:
        source_row = self.model.row_for_key(key)
        if source_row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(source_row, 0))
        if not index.isValid():
            return False
        self.table.selectRow(index.row())
        self.table.scrollTo(index)
        return True

    # -- live data -------------------------------------------------------------------------

    def show_snapshot(self, snapshot: MonitorSnapshot) -> None:
        """A live snapshot (the bridge's): a book of more than :attr:`rows_per_step` positions is
        made ready over several passes of the event loop, so input and timers are served between
        them, then the table takes it whole in a pass of its own (with its re-sort and repaint):
        never a row, nor a table, made of two snapshots. A newer snapshot arriving meanwhile
        replaces the one being made ready, which is never shown: the newest numbers, not a queue
        of old ones (after :attr:`max_superseded` such replacements the newest is applied at once).
        The first snapshot and small books are applied at once."""
        if self._staging is not None:
            self._superseded += 1
            if self._superseded > self.max_superseded:
                self.apply_snapshot(snapshot)
                return
        elif not self.model.rowCount() or _position_count(snapshot) <= self.rows_per_step:
            self.apply_snapshot(snapshot)
            return
        self._staging = (snapshot, self.model.stage(snapshot))
        self._painted_ahead = False
        self._post_step()

    def _post_step(self) -> None:
        if not self._step_posted:
            self._step_posted = True
            # a posted event: the event loop serves what is due (input, timers) before the next step
            QTimer.singleShot(0, self, self._apply_step)

    def _apply_step(self) -> None:
        self._step_posted = False
        if self._staging is None:
            return  # applied at once meanwhile
        snapshot, staging = self._staging
        # made again from the start too often (ticks, theme, thresholds): the commit makes the rest
        if staging.restarts <= self.max_superseded:
            if not self.model.ready(staging):
                self.model.stage_rows(staging, self.rows_per_step)
                self._painted_ahead = False
                self._post_step()
                return
            if not self._painted_ahead:  # a pass of its own: the repaint after the commit only draws
                self.model.paint_ahead(staging, self._keys_in_view())
                self._painted_ahead = True
                self._post_step()
                return
        self._staging = None
        self._superseded = 0
        self._apply(snapshot, staging)

    def _keys_in_view(self) -> list[PositionKey]:
        """The positions of the rows the table shows now (most are still in view after the commit)."""
        proxy, rows = self.proxy, self.model.rows()
        first = self.table.rowAt(0)
        if first < 0:
            return []
        last = self.table.rowAt(self.table.viewport().height() - 1)
        last = proxy.rowCount() - 1 if last < 0 else last
        return [rows[proxy.mapToSource(proxy.index(r, 0)).row()].key for r in range(first, last + 1)]

    def staging(self) -> MonitorSnapshot | None:
        """The live snapshot being made ready, not yet in the table (None: none)."""
        return self._staging[0] if self._staging is not None else None

    def apply_snapshot(self, snapshot: MonitorSnapshot) -> None:
        """Apply ``snapshot`` now, in this step; a live snapshot still being made ready (handed
        over before this one) is dropped."""
        self._staging = None
        self._superseded = 0
        self._apply(snapshot, self.model.stage(snapshot))

    def _apply(self, snapshot: MonitorSnapshot, staging: Staging) -> None:
        self._keep_selection()
        selected = self.selected_position()
        self.snapshot = snapshot
        rows_before = self.model.rowCount()
        self.model.commit(staging)
        if not rows_before and self.model.rowCount() > 0:
            # the split is fitted to the first rows only: later it stays put, so the detail tabs
            # never move under the mouse when positions come and go
            self._fit_split()
            self._fit_columns()
            self._refresh_summary()
        elif not self._summary_pending:
            # The cards and the strip are refreshed in an event of their own, so no single step
            # of the GUI thread carries the table, the cards and a repaint at once.
            self._summary_pending = True
            QTimer.singleShot(0, self, self._summary_after_repaint)
        self._keep_selection()
        if self._selected_key is not None:
            self._note_liquidated(self._selected_key)
        if selected is not None:
            now_selected = self.selected_position()
            if now_selected is not None and now_selected.key == selected.key:
                self.position_selected.emit(now_selected)
        # a permanent label, so that messages (alerts, account changes) are not overwritten 4× a second
        self.last_update.setText(
            f"Last update {datetime.fromtimestamp(snapshot.at).strftime('%H:%M:%S')} · "
            f"snapshot #{snapshot.seq}")
        self.snapshot_applied.emit(snapshot)

    def _summary_after_repaint(self) -> None:
        """Posted with the table's update, this runs in the pass that repaints the table (Qt sends
        the posted events of one pass together, before the timers): the refresh waits one pass more."""
        QTimer.singleShot(0, self, self._refresh_summary)

    def _fit_columns(self) -> None:
        """Size the columns to the first data (within limits), so numbers are never cut off."""
        metrics = QFontMetrics(self.table.horizontalHeader().font())
        for column in Column:
            title = max(metrics.horizontalAdvance(line) for line in HEADERS[column][0].split("\n"))
            width = max(self.table.sizeHintForColumn(column), title + 12)
            if column is Column.STATUS:  # room for a LIQUIDATED row, which may come later
                bold = self.table.font()
                bold.setBold(True)
                width = max(width, QFontMetrics(bold).horizontalAdvance(LIQUIDATED_LABEL) + 8)
            limit = _COLUMN_LIMITS.get(column, 160)
            self._natural_widths[column] = max(_MIN_WIDTH, min(width + 10, limit))
        self._distance_width = self._natural_widths[Column.DISTANCE]
        self._spread_columns()

    def _fit_past_liquidation(self, shown: bool) -> None:
        """While a row at or past liquidation is in the table, its distance cell says so: the column
        is wide enough for the words whole (in the bold of a critical row), never elided to
        "PAST L…"; once no such row is left it gives the room back to the others."""
        needed = getattr(self, "_distance_width", _COLUMN_WIDTHS[Column.DISTANCE])
        if shown:
            font = QFont(self.table.font())
            font.setBold(True)
            words = QFontMetrics(font).horizontalAdvance(f"{fmt.PAST_LIQUIDATION} -100.00 %")
            needed = max(needed, words + 16)
        if self._natural_widths.get(Column.DISTANCE) != needed:
            self._natural_widths[Column.DISTANCE] = needed
            self._spread_columns()

    def tick(self) -> None:
        """Once a second: ages move on without new data, and old data turns stale by itself."""
        self.model.refresh_ages()
        if self.snapshot is not None:
            self._refresh_summary()

    def _refresh_summary(self) -> None:
        self._summary_pending = False
        snapshot = self.snapshot
        if snapshot is None:
            return
        now = self.clock()
        # the table decided every position's level at this update: the cards reuse them
        account_levels = self.accounts_panel.update_accounts(
            snapshot.report.accounts, snapshot.accounts, self.thresholds_for, now, self.stale_after,
            self.model.figure_levels(), self.freshness.live_seconds)
        rows = [r for r in self.model.rows() if r.liquidated_at is None]
        liquidated = self.model.liquidated()
        # a kept LIQUIDATED row shows its last distance too: it counts until acknowledged
        self._fit_past_liquidation(any(r.risk.liquidatable for r in self.model.rows()))
        counts = Counter(r.level for r in rows)
        # an unacknowledged liquidation keeps the strip critical: the trader has not seen it yet
        level = worst([*account_levels, *counts, *(Level.CRITICAL for _ in liquidated)])
        summary = self._summary_text(len(rows), counts, len(snapshot.accounts))
        self.status_strip.set_health(level, summary)
        self.status_strip.set_liquidated([f"{r.risk.symbol} {r.risk.side} ({r.risk.account})"
                                          for r in liquidated])
        self.menu_actions["acknowledge"].setEnabled(bool(liquidated))
        self.status_strip.set_accounts(snapshot.accounts, now, self.freshness)
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        gone = f" + {len(liquidated)} liquidated" if liquidated else ""
        self.counts.setText(f"{shown} of {total} rows" if shown != total else f"{len(rows)} positions{gone}")
        self.worst_level = level
        self.summary_refreshed.emit()

    @staticmethod
    def _summary_text(positions: int, counts: dict[Level, int], accounts: int) -> str:
        parts = [f"{positions} position{'s' if positions != 1 else ''} in {accounts} "
                 f"account{'s' if accounts != 1 else ''}"]
        for lv, word in ((Level.CRITICAL, "critical"), (Level.WARNING, "warning"), (Level.STALE, "stale")):
            if counts.get(lv):
                parts.append(f"{counts[lv]} {word}")
        return " · ".join(parts)

    def on_alert(self, alert: Alert, muted: str | None = None) -> None:
        midnight = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        self.alerts_today = [a for a in self.alerts_today if a.at >= midnight]
        if alert.at >= midnight:
            self.alerts_today.append(alert)
        self.status_strip.set_alerts_today(len(self.alerts_today), f"{alert.title} — {alert.body}")
        note = f" (not notified: {muted})" if muted else ""
        self.statusBar().showMessage(f"Alert: {alert.title}{note}", 15000)

    def on_status_change(self, change: StatusChange) -> None:
        from desk.sanitize import for_user

        reason = f" — {change.reason}" if change.reason else ""
        text = for_user(f"{change.account}: {change.new.value}{reason}", limit=600)
        self.statusBar().showMessage(text, 15000)

    # -- window behaviour ------------------------------------------------------------------

    def _selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        if self.table.rows_leaving:
            return  # the view's own pick of a neighbour: _keep_selection decides after the removal
        risk = self.selected_position()
        if risk is not None:
            self._selected_key = risk.key
            self._note_liquidated(risk.key)
        else:
            self._selected_key = None
        self.position_selected.emit(risk)

    def _keep_selection(self, *_: object) -> None:
        """The selection stays on the position selected; if that position is gone, nothing else
        is selected and the detail tabs say so."""
        if self.model.removing:
            return  # called again once the rows are really gone (the model's rowsRemoved)
        self.table.rows_leaving = False
        key = self._selected_key
        if key is None:
            return
        current = self.selected_key()
        if current == key:
            return
        source_row = self.model.row_for_key(key)
        index = (self.proxy.mapFromSource(self.model.index(source_row, 0))
                 if source_row is not None else QModelIndex())
        if index.isValid():
            self.table.selectRow(index.row())
            return
        selection = self.table.selectionModel()
        if source_row is None:  # the position itself is gone
            self._selected_key = None
            selection.clearSelection()
            selection.setCurrentIndex(QModelIndex(), selection.SelectionFlag.NoUpdate)
            leg = f" {key.leg} leg" if key.leg != "both" else ""
            # its twin (the same instrument in the other margin mode) may still be open: say which
            mode = f" {key.margin_mode}" if self.twinned(key) else ""
            self._say_beside_tabs(f"{key.symbol}{leg}{mode} is no longer open",
                                  f"{key.symbol}{leg}{mode} ({key.account}) is no longer open: the panels "
                                  "below show no position. Select another one in the table.")
            self.position_selected.emit(None)
        else:  # filtered out of view: keep it selected once it shows again, select nothing meanwhile
            blocked = selection.blockSignals(True)
            selection.clearSelection()
            selection.setCurrentIndex(QModelIndex(), selection.SelectionFlag.NoUpdate)
            selection.blockSignals(blocked)
            self.table.viewport().update()

    def _note_liquidated(self, key: PositionKey) -> None:
        """A selected LIQUIDATED row: the panels below have no open position to show, and say why."""
        source_row = self.model.row_for_key(key)
        row = self.model.rows()[source_row] if source_row is not None else None
        if row is None or row.liquidated_at is None:
            self.selection_note.hide()
            return
        at = datetime.fromtimestamp(row.liquidated_at).strftime("%H:%M:%S")
        who = f"{key.symbol} {row.risk.side}" + (f" {key.margin_mode}" if self.twinned(key) else "")
        self._say_beside_tabs(f"✖ {who}: most likely liquidated",
                              f"{who} ({key.account}) left the account at {at} while critical: "
                              "most likely liquidated. The panels below have no open position to show. "
                              "Right-click the row → Acknowledge once you have checked the exchange.")

    def twinned(self, key: PositionKey) -> bool:
        """The table holds (or held) this instrument in the other margin mode too: a label must
        say which of the two it means."""
        keys = [row.key for row in self.model.rows()]
        return key.instrument in held_in_both_modes([*keys, key])

    def _say_beside_tabs(self, text: str, details: str) -> None:
        """A short line beside the tabs (it must leave them their room), the whole story as its tooltip."""
        self.selection_note.setText(text)
        self.selection_note.setToolTip(details)
        self.selection_note.show()

    def select_worst(self) -> bool:
        """Select the worst position (the top pinned row when sorted worst first)."""
        rows = self.model.rows()
        if not rows:
            return False
        worst_row = min(rows, key=lambda r: (r.liquidated_at is None, -int(r.level),
                                             r.risk.distance_to_liquidation
                                             if r.risk.distance_to_liquidation is not None else 9.0))
        if not self.select_key(worst_row.key):
            self.filter_edit.clear()  # the filter hid it: show everything, then select it
            return self.select_key(worst_row.key)
        return True

    def acknowledge(self, key: PositionKey) -> bool:
        """The trader has seen a liquidation: its row and strip badge go."""
        done = self.model.acknowledge(key)
        if done:
            self._refresh_summary()
        return done

    def acknowledge_all(self) -> int:
        count = sum(self.model.acknowledge(r.key) for r in self.model.liquidated())
        if count:
            self._refresh_summary()
        return count

    def _table_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        menu = QMenu(self.table)
        if index.isValid():
            key = index.data(KEY_ROLE)
            row = self.model.rows()[self.model.row_for_key(key) or 0]
            if row.key == key and row.liquidated_at is not None:
                menu.addAction("Acknowledge liquidation", lambda: self.acknowledge(key))
            if row.key == key:
                self._add_venue_page_action(menu, row.risk.symbol, row.venue, row.demo)
        if self.model.liquidated():
            menu.addAction("Acknowledge all liquidations", self.acknowledge_all)
        menu.addAction("Select the worst position", self.select_worst)
        self._table_menu_shown = menu  # kept for tests; replaced at the next right-click
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def _add_venue_page_action(self, menu: QMenu, symbol: str, venue: str | None, demo: bool) -> None:
        """"Open on <venue>": the position's trading page in the browser; disabled, with the reason
        in its text, where there is none (a demo account, a contract whose page desk does not know)."""
        if venue is None:
            return  # the account's state is not known yet: nothing to name
        page = position_page(venue, symbol, demo=demo)
        if page.url is None:
            action = menu.addAction(f"Open on {page.venue} — {page.reason}")
            action.setEnabled(False)
            return
        url = page.url
        action = menu.addAction(f"Open on {page.venue}", lambda: QDesktopServices.openUrl(QUrl(url)))
        action.setToolTip(url)
        action.setStatusTip(url)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        if self.allow_close:
            event.accept()
            return
        event.ignore()
        self.close_requested.emit()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        view_menu = self.menuBar().addMenu("&View")
        help_menu = self.menuBar().addMenu("&Help")
        # Standard keys keep their usual meaning (Ctrl+W closes elsewhere, so it sorts nothing here);
        # every action has a mnemonic, so the menus reach all of them from the keyboard.
        entries = [
            (file_menu, "accounts", "&Accounts…", QKeySequence("Ctrl+Shift+A")),
            (file_menu, "settings", "&Settings…", QKeySequence("Ctrl+,")),
            (file_menu, "export", "&Export visible table…", QKeySequence("Ctrl+E")),
            (file_menu, None, None, None),
            (file_menu, "quit", "&Quit", QKeySequence.StandardKey.Quit),
            (view_menu, "filter", "&Filter positions", QKeySequence.StandardKey.Find),
            (view_menu, "worst_first", "Sort &worst first", QKeySequence("Ctrl+Shift+R")),
            (view_menu, "select_worst", "&Select the worst position", QKeySequence("Ctrl+Shift+J")),
            (view_menu, "columns", "&Columns…", QKeySequence("Ctrl+Shift+C")),
            (view_menu, None, None, None),
            (view_menu, "acknowledge", "Ac&knowledge liquidations", QKeySequence("Ctrl+K")),
            (view_menu, "alert_log", "&Alert log…", QKeySequence("Ctrl+L")),
            (help_menu, "shortcuts", "&Keyboard shortcuts", QKeySequence("Ctrl+/")),
            (help_menu, "docs", "&Documentation", QKeySequence.StandardKey.HelpContents),
            (help_menu, "log_folder", "Open the &log folder", None),
            (help_menu, None, None, None),
            (help_menu, "about", "&About desk", None),
        ]
        for menu, key, text, shortcut in entries:
            if key is None or text is None:
                menu.addSeparator()
                continue
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(shortcut)
            menu.addAction(action)
            self.menu_actions[key] = action
        self.menu_actions["filter"].triggered.connect(self._focus_filter)
        self.menu_actions["alert_log"].triggered.connect(self.alert_log_requested)
        self.status_strip.alerts.clicked.connect(self.alert_log_requested)
        self.status_strip.health.clicked.connect(self.select_worst)
        self.status_strip.liquidated.clicked.connect(self.select_worst)
        self.menu_actions["acknowledge"].triggered.connect(self.acknowledge_all)
        self.menu_actions["acknowledge"].setEnabled(False)
        self.menu_actions["worst_first"].triggered.connect(
            lambda: self.table.sortByColumn(Column.STATUS, Qt.SortOrder.AscendingOrder))
        self.menu_actions["select_worst"].triggered.connect(self.select_worst)
        self.menu_actions["columns"].triggered.connect(lambda: self._column_menu(QPoint(0, 0)))
        self.menu_actions["shortcuts"].triggered.connect(self.show_shortcuts)

    def shortcut_lines(self) -> list[tuple[str, str]]:
        """(keys, what they do) for every action with a shortcut, read from the actions themselves."""
        out = []
        for action in self.menu_actions.values():
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if keys:
                out.append((keys, action.text().replace("&", "").rstrip("…")))
        return out

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{keys}</b></td><td>&nbsp;&nbsp;{what}</td></tr>"
                       for keys, what in self.shortcut_lines())
        extra = ("<p>Alt and a menu's underlined letter opens it; Tab moves between the filter, the "
                 "table and the tabs below; Ctrl+Tab / Ctrl+PgDown switch those tabs; right-click the "
                 "table's header (or View → Columns…) to choose its columns.</p>")
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", f"<table>{rows}</table>{extra}",
                          QMessageBox.StandardButton.Close, self)
        self._shortcuts_box = box  # kept for tests
        box.open()

    def _focus_filter(self) -> None:
        self.filter_edit.setFocus()
        self.filter_edit.selectAll()

    def visible_rows(self) -> list[dict[str, str]]:
        """The table as shown (filtered, sorted, formatted), for export."""
        headers = [HEADERS[c][0].replace("\n", " ").replace("- ", "") for c in Column]
        out = []
        for r in range(self.proxy.rowCount()):
            out.append({headers[c]: str(self.proxy.index(r, c).data() or "") for c in range(len(Column))})
        return out

    def selected_key(self) -> PositionKey | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        key: PositionKey = rows[0].data(KEY_ROLE)
        return key


class PositionsTable(QTableView):
    """The positions view. When a selected row leaves (closed, filtered out), QTableView selects
    a neighbour in single-selection mode; ``rows_leaving`` marks that moment so the window can
    tell the view's pick from the trader's and keep the selection on the position itself."""

    viewport_resized = Signal()  # a vertical scrollbar came or went: the columns are spread again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows_leaving = False

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.viewport_resized.emit()
        return super().viewportEvent(event)

    def rowsAboutToBeRemoved(self, parent: QModelIndex | QPersistentModelIndex, start: int, end: int) -> None:
        self.rows_leaving = True
        super().rowsAboutToBeRemoved(parent, start, end)


def _position_count(snapshot: MonitorSnapshot) -> int:
    return sum(len(account.positions) for account in snapshot.report.accounts)


def _scroll_side_panel(panel: QWidget) -> None:
    """A panel's ``side_panel`` (the ladder's legend and figures, ~330 px tall) scrolls on its own.

    Otherwise its height becomes the whole panel's minimum, and on a 1280×800 screen the tab would
    scroll the plot out of view together with it.
    """
    side = getattr(panel, "side_panel", None)
    layout = panel.layout()
    if not isinstance(side, QWidget) or layout is None or isinstance(side.parentWidget(), QScrollArea):
        return
    scroller = QScrollArea()
    scroller.setObjectName("sidePanelScroller")
    scroller.setWidgetResizable(True)
    scroller.setFrameShape(QFrame.Shape.NoFrame)
    scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    if layout.replaceWidget(side, scroller) is None:
        scroller.deleteLater()
        return
    bar = scroller.verticalScrollBar().sizeHint().width()
    scroller.setMinimumWidth(side.minimumWidth() + bar)
    scroller.setMaximumWidth(min(side.maximumWidth() + bar, 16_777_215))  # QWIDGETSIZE_MAX
    scroller.setWidget(side)


_MIN_WIDTH = 48
_TABS_HEIGHT = 300  # the detail tabs' share of the splitter, when the window has it
_MIN_TEXT_WIDTH = 84  # account and symbol shrink no further (elided in the middle, whole in the tooltip)
# the columns that give way when the shown ones do not fit, in order, and how far: the account
# first (the card above names it), the stop verdict, then the symbol
_GIVE_WAY = ((Column.ACCOUNT, _MIN_TEXT_WIDTH), (Column.STOP, 64), (Column.SYMBOL, _MIN_TEXT_WIDTH))
_COLUMN_LIMITS = {Column.ACCOUNT: 150, Column.SYMBOL: 140, Column.NOTIONAL: 150, Column.UPNL: 140,
                  Column.POSITION_MARGIN: 140}
_COLUMN_WIDTHS = {
    Column.STATUS: 78, Column.ACCOUNT: 110, Column.SYMBOL: 130, Column.SIDE: 60, Column.MODE: 80,
    Column.SIZE: 70, Column.NOTIONAL: 128, Column.ENTRY: 92, Column.MARK: 88, Column.LIQ: 88,
    Column.LIQ_EXCHANGE: 100, Column.BANKRUPTCY: 92, Column.DISTANCE: 78, Column.MARGIN_RATIO: 72,
    Column.UPNL: 110, Column.ROI: 72, Column.POSITION_MARGIN: 100, Column.AGE: 60,
    Column.STOP: 96, Column.ADL: 64, Column.REALIZED: 110,
}
