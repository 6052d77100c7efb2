"""The main window: status strip, account cards, the positions table and the chart/what-if tabs."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QFont, QFontMetrics, QKeySequence, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desk.domain.alerts import Alert
from desk.domain.report import PositionRisk
from desk.services.freshness import Thresholds as Freshness
from desk.services.snapshot import MonitorSnapshot, StatusChange
from desk.ui import formatting as fmt
from desk.ui.levels import Level, ThresholdsFor, global_thresholds, worst
from desk.ui.positions_model import (
    DEFAULT_STALE_AFTER,
    HEADERS,
    KEY_ROLE,
    RISK_ROLE,
    Column,
    PositionsModel,
    PositionsProxy,
)
from desk.ui.theme import theme_events
from desk.ui.widgets import AccountsPanel, StatusStrip, placeholder

APP_TITLE = "desk — risk dashboard"
PANEL_NAMES = ("Ladder", "History", "Stress", "What-if")
_PANEL_HINTS = {
    "Ladder": "Select a position to see its price ladder: mark, entry, liquidation (desk and exchange), "
              "bankruptcy.",
    "History": "Margin ratio and distance to liquidation over time.",
    "Stress": "Margin ratio against a uniform price shock, per account.",
    "What-if": "Try a change (margin, size, leverage, marks) before making it.",
}


def window_title(demo: bool) -> str:
    return f"{APP_TITLE} [DEMO]" if demo else APP_TITLE


class MainWindow(QMainWindow):
    position_selected = Signal(object)  # PositionRisk | None — charts and what-if follow it
    snapshot_applied = Signal(object)  # MonitorSnapshot, after the table and cards are updated
    close_requested = Signal()  # the window's close button; the app decides (tray or quit)
    summary_refreshed = Signal()  # the strip and cards are current (worst_level is up to date)
    alert_log_requested = Signal()  # View → Alert log, or a click on "Alerts today"

    def __init__(self, *, demo: bool = False, thresholds_for: ThresholdsFor | None = None,
                 stale_after: float = DEFAULT_STALE_AFTER, clock: Callable[[], float] = time.time,
                 parent: QWidget | None = None, live_after: float | None = None) -> None:
        super().__init__(parent)
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
        self._split_done = False
        self._auto_split = True
        self._splitting = False
        self.setWindowTitle(window_title(demo))
        self.resize(1280, 800)

        self.model = PositionsModel(self.thresholds_for, clock=clock, stale_after=stale_after, parent=self)
        self.proxy = PositionsProxy(self)
        self.proxy.setSourceModel(self.model)

        self.status_strip = StatusStrip()
        self.status_strip.demo.setVisible(demo)
        self.accounts_panel = AccountsPanel()

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by account, symbol, side, mode or risk (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_filter_text)
        self.counts = QLabel("")
        self.counts.setObjectName("muted")

        self.table = QTableView()
        self.table.setModel(self.proxy)
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
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.setObjectName("positionsTable")

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
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.splitterMoved.connect(self._splitter_moved)

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
        # is imported then, off the cold-start path)
        self.charts: object | None = None
        QTimer.singleShot(0, self._attach_charts)
        theme_events().changed.connect(self._theme_changed)

    def _theme_changed(self, theme: object) -> None:
        """Risk text colours differ per theme: repaint the table, rebuild the strip and cards."""
        self.model.restyle()
        if self.snapshot is not None:
            self._refresh_summary()

    def _attach_charts(self) -> None:
        from desk.ui.charts import attach_panels

        self.charts = attach_panels(self)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._split_done:
            self._split_done = True
            QTimer.singleShot(0, self._initial_split)

    def _initial_split(self) -> None:
        self._fit_split()

    def _fit_split(self) -> None:
        """Until the user drags the splitter: the table gets the height its rows need (at most
        62 % of the space, at least 40 %), the chart tabs the rest."""
        if not self._auto_split:
            return
        total = self.splitter.height()
        if total <= 0:
            return
        header = self.table.horizontalHeader().sizeHint().height()
        rows = self.proxy.rowCount() * self.table.verticalHeader().defaultSectionSize()
        needed = header + rows + self.filter_edit.sizeHint().height() + 2 * self.table.frameWidth() + 28
        top = max(int(total * 0.40), min(needed, int(total * 0.62)))
        self._splitting = True
        self.splitter.setSizes([top, total - top])
        self._splitting = False

    def _splitter_moved(self) -> None:
        if not self._splitting:
            self._auto_split = False  # the user chose; leave it

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._split_done:
            QTimer.singleShot(0, self._fit_split)

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

    def select_key(self, key: tuple[str, str, str]) -> bool:
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

    def apply_snapshot(self, snapshot: MonitorSnapshot) -> None:
        selected = self.selected_position()
        self.snapshot = snapshot
        rows_before = self.model.rowCount()
        self.model.apply_snapshot(snapshot)
        if self.model.rowCount() != rows_before:
            self._fit_split()
        if not rows_before and self.model.rowCount() > 0:
            self._fit_columns()
            self._refresh_summary()
        elif not self._summary_pending:
            # The cards and the strip are refreshed in an event of their own, so no single step
            # of the GUI thread carries the table, the cards and a repaint at once.
            self._summary_pending = True
            QTimer.singleShot(0, self._refresh_summary)
        if selected is not None:
            now_selected = self.selected_position()
            if now_selected is not None and now_selected.key == selected.key:
                self.position_selected.emit(now_selected)
        # a permanent label, so that messages (alerts, account changes) are not overwritten 4× a second
        self.last_update.setText(
            f"Last update {datetime.fromtimestamp(snapshot.at).strftime('%H:%M:%S')} · "
            f"snapshot #{snapshot.seq}")
        self.snapshot_applied.emit(snapshot)

    def _fit_columns(self) -> None:
        """Size the columns to the first data (within limits), so numbers are never cut off."""
        header = self.table.horizontalHeader()
        for column in Column:
            width = max(self.table.sizeHintForColumn(column), header.sectionSizeHint(column))
            limit = _COLUMN_LIMITS.get(column, 160)
            self.table.setColumnWidth(column, max(_MIN_WIDTH, min(width + 10, limit)))

    def _fit_past_liquidation(self) -> None:
        """A row at or past liquidation says so in its distance cell: widen the column to show the
        words whole (in the bold of a critical row), never elided to "PAST L…"."""
        font = QFont(self.table.font())
        font.setBold(True)
        needed = QFontMetrics(font).horizontalAdvance(f"{fmt.PAST_LIQUIDATION} -100.00 %") + 16
        if self.table.columnWidth(Column.DISTANCE) < needed:
            self.table.setColumnWidth(Column.DISTANCE, needed)

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
        rows = self.model.rows()
        if any(r.risk.liquidatable for r in rows):
            self._fit_past_liquidation()
        counts = Counter(r.level for r in rows)
        level = worst([*account_levels, *counts])
        summary = self._summary_text(len(rows), counts, len(snapshot.accounts))
        self.status_strip.set_health(level, summary)
        self.status_strip.set_accounts(snapshot.accounts, now, self.freshness)
        shown = self.proxy.rowCount()
        self.counts.setText(f"{shown} of {len(rows)} positions" if shown != len(rows) else
                            f"{len(rows)} positions")
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
        reason = f" — {change.reason}" if change.reason else ""
        self.statusBar().showMessage(f"{change.account}: {change.new.value}{reason}", 15000)

    # -- window behaviour ------------------------------------------------------------------

    def _selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        self.position_selected.emit(self.selected_position())

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.allow_close:
            event.accept()
            return
        event.ignore()
        self.close_requested.emit()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        view_menu = self.menuBar().addMenu("&View")
        help_menu = self.menuBar().addMenu("&Help")
        entries = [
            (file_menu, "accounts", "&Accounts…", None),
            (file_menu, "settings", "&Settings…", QKeySequence.StandardKey.Preferences),
            (file_menu, "export", "&Export visible table…", QKeySequence("Ctrl+E")),
            (file_menu, None, None, None),
            (file_menu, "quit", "&Quit", QKeySequence.StandardKey.Quit),
            (view_menu, "filter", "&Filter positions", QKeySequence.StandardKey.Find),
            (view_menu, "worst_first", "Sort &worst first", QKeySequence("Ctrl+W")),
            (view_menu, "alert_log", "&Alert log…", QKeySequence("Ctrl+L")),
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
        self.menu_actions["worst_first"].triggered.connect(
            lambda: self.table.sortByColumn(Column.STATUS, Qt.SortOrder.AscendingOrder))

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

    def selected_key(self) -> tuple[str, str, str] | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        key: tuple[str, str, str] = rows[0].data(KEY_ROLE)
        return key

    def first_proxy_index(self) -> QModelIndex:
        return self.proxy.index(0, 0)


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
_COLUMN_LIMITS = {Column.ACCOUNT: 140, Column.SYMBOL: 140, Column.NOTIONAL: 150, Column.UPNL: 140}
_COLUMN_WIDTHS = {
    Column.STATUS: 78, Column.ACCOUNT: 110, Column.SYMBOL: 140, Column.SIDE: 64, Column.MODE: 88,
    Column.SIZE: 78, Column.NOTIONAL: 128, Column.ENTRY: 92, Column.MARK: 92, Column.LIQ: 92,
    Column.LIQ_EXCHANGE: 100, Column.BANKRUPTCY: 92, Column.DISTANCE: 78, Column.MARGIN_RATIO: 92,
    Column.UPNL: 118, Column.AGE: 70,
}
