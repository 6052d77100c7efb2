"""The alert log view: every alert desk raised and what became of each delivery attempt.

Rows come from the alert log (:meth:`desk.store.history.History.alerts`), newest first, and
follow live events from the bridge: an alert appears when it is raised (``AlertRaised``, shown as
"delivering…") and gets its delivery attempts when the delivery worker reports them
(``Delivered``). Filters by level and account; the rows shown export as CSV or JSON.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desk.domain.alerts import Alert, AlertLevel, DeliveryAttempt
from desk.sanitize import for_user
from desk.ui.levels import Level
from desk.ui.theme import level_text_hex

HEADERS = ("Date and time", "Level", "Subject", "Alert", "Delivery")
TIME, LEVEL, SUBJECT, TITLE, DELIVERY = range(len(HEADERS))
PERIODS = (("Today", 0.0), ("Last 7 days", 7.0), ("Last 30 days", 30.0))
ROW_LEVEL_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ACCOUNT_ROLE = Qt.ItemDataRole.UserRole + 2

_LEVEL_OF = {AlertLevel.INFO: Level.OK, AlertLevel.WARNING: Level.WARNING,
             AlertLevel.CRITICAL: Level.CRITICAL}
_RANK = {AlertLevel.INFO: 0, AlertLevel.WARNING: 1, AlertLevel.CRITICAL: 2}


def level_text(level: AlertLevel) -> str:
    """Glyph and word, never colour alone."""
    if level is AlertLevel.INFO:
        return "ℹ INFO"
    return f"{_LEVEL_OF[level].glyph} {level.value.upper()}"


def attempt_text(a: DeliveryAttempt) -> str:
    if a.channel == "muted":
        return f"not notified ({a.detail})"
    state = "delivered" if a.delivered else "FAILED"
    detail = _for_person(a.detail)
    return f"{a.channel} {state}" + (f" ({detail})" if detail else "")


# the desktop notifier's own bookkeeping ("notification id 8 (replaces 7)", "; closed 7"): for the
# log file, not for the trader
_INTERNAL = re.compile(r"notification id \d+|\(replaces \d+\)|;?\s*closed \d+")


def _for_person(detail: str | None) -> str:
    if not detail:
        return ""
    return _INTERNAL.sub("", detail).strip(" ;,")


@dataclass(slots=True)
class LogRow:
    alert: Alert
    alert_id: int | None = None
    attempts: tuple[DeliveryAttempt, ...] = ()
    pending: bool = False  # raised, delivery not reported yet
    muted: str | None = None

    def delivery_text(self) -> str:
        if self.pending:
            return f"not notified ({self.muted})" if self.muted else "delivering…"
        if not self.attempts:
            return "no delivery recorded"
        return "; ".join(attempt_text(a) for a in self.attempts)

    def as_dict(self) -> dict[str, Any]:
        a = self.alert
        return {
            "id": self.alert_id, "at": a.at, "level": a.level.value, "rule": a.rule, "account": a.account,
            "symbol": a.symbol, "leg": a.leg, "title": a.title, "body": a.body, "value": a.value,
            "threshold": a.threshold, "delivery": self.delivery_text(),
            "deliveries": [{"at": d.at, "channel": d.channel, "delivered": d.delivered, "detail": d.detail}
                           for d in self.attempts],
        }


class AlertLogModel(QAbstractTableModel):
    """Alert rows, newest first (row 0 is the newest)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[LogRow] = []

    def set_rows(self, rows: list[LogRow]) -> None:
        self.beginResetModel()
        self._rows = sorted(rows, key=lambda r: (r.alert.at, r.alert_id or 0), reverse=True)
        self.endResetModel()

    def rows(self) -> list[LogRow]:
        return list(self._rows)

    def add_raised(self, alert: Alert, muted: str | None) -> None:
        if self._find(alert) is not None:
            return
        self._insert(LogRow(alert, pending=True, muted=muted))

    def add_delivered(self, alert: Alert, alert_id: int | None, attempts: tuple[DeliveryAttempt, ...],
                      muted: str | None) -> None:
        found = self._find(alert)
        if found is None:
            self._insert(LogRow(alert, alert_id, attempts, muted=muted))
            return
        row = self._rows[found]
        row.alert_id, row.attempts, row.pending, row.muted = alert_id, attempts, False, muted
        self.dataChanged.emit(self.index(found, 0), self.index(found, len(HEADERS) - 1))

    def _find(self, alert: Alert) -> int | None:
        # Live alerts are looked up among the recent rows only: they are at the top.
        for i, row in enumerate(self._rows[:200]):
            if row.alert == alert and (row.pending or row.alert_id is None):
                return i
        return None

    def _insert(self, row: LogRow) -> None:
        position = next((i for i, r in enumerate(self._rows) if r.alert.at <= row.alert.at), len(self._rows))
        self.beginInsertRows(QModelIndex(), position, position)
        self._rows.insert(position, row)
        self.endInsertRows()

    # -- Qt --------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        a, column = row.alert, index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == TIME:
                return _when(a.at)
            if column == LEVEL:
                return level_text(a.level)
            if column == SUBJECT:
                return a.subject or "all accounts"
            if column == TITLE:
                return a.title
            return row.delivery_text()
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == SUBJECT:  # cut to the column's width: whole here
                return a.subject or "all accounts"
            if column == LEVEL:
                return level_text(a.level)
            if column == TITLE:
                return f"{a.title}\n\n{a.body}"
            if column == DELIVERY:
                if not row.attempts:
                    return row.delivery_text()
                return "\n".join(f"{datetime.fromtimestamp(d.at).strftime('%H:%M:%S')}  {attempt_text(d)}"
                                 for d in row.attempts)
            if column == TIME:
                return _when(a.at)
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == LEVEL and a.level is not AlertLevel.INFO:
                return QColor(level_text_hex(_LEVEL_OF[a.level]))
            if column == DELIVERY and row.attempts and not any(d.delivered for d in row.attempts) \
                    and not row.muted:
                return QColor(level_text_hex(Level.CRITICAL))
            return None
        if role == ROW_LEVEL_ROLE:
            return _RANK[a.level]
        if role == ROW_ACCOUNT_ROLE:
            return a.account or ""
        return None


class AlertLogFilter(QSortFilterProxyModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.min_rank = 0
        self.account: str | None = None

    def set_filter(self, min_rank: int, account: str | None) -> None:
        self.beginFilterChange()
        self.min_rank, self.account = min_rank, account
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        index = model.index(source_row, 0, source_parent)
        if int(model.data(index, ROW_LEVEL_ROLE)) < self.min_rank:
            return False
        return self.account is None or model.data(index, ROW_ACCOUNT_ROLE) == self.account


def _when(at: float) -> str:
    """Date and time, always both: the log spans days (Last 7 days, Last 30 days)."""
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


class AlertLogDialog(QDialog):
    """View → Alert log. ``history`` is a callable returning the History (or None) so the view
    can open before the services are up; live rows come through :meth:`on_raised` and
    :meth:`on_delivered` (connected to the bridge)."""

    def __init__(self, history: Callable[[], Any], parent: QWidget | None = None,
                 clock: Callable[[], float] = time.time,
                 acknowledge: Callable[[Alert, int | None], None] | None = None) -> None:
        super().__init__(parent)
        self._acknowledge = acknowledge
        self.setWindowTitle("desk — alert log")
        self.resize(980, 460)
        self._history = history
        self.clock = clock
        self.model = AlertLogModel(self)
        self.proxy = AlertLogFilter(self)
        self.proxy.setSourceModel(self.model)

        self.period = QComboBox()
        for text, days in PERIODS:
            self.period.addItem(text, days)
        self.period.setCurrentIndex(1)
        self.level = QComboBox()
        for text, rank in (("All levels", 0), ("Warning and critical", 1), ("Critical only", 2)):
            self.level.addItem(text, rank)
        self.account = QComboBox()
        self.account.addItem("All accounts", None)
        self.export_button = QPushButton("Export…")
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.setToolTip("Stop the reminders of the selected critical alert")
        self.ack_button.setEnabled(False)
        self.status = QLabel("")
        self.status.setObjectName("muted")

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)  # the tooltip holds the whole text
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        stamp = self.table.fontMetrics().horizontalAdvance("2026-12-31 23:59:59") + 16
        for column, width in ((TIME, stamp), (LEVEL, 100), (SUBJECT, 200)):
            self.table.setColumnWidth(column, width)
        header.setSectionResizeMode(TITLE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(DELIVERY, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(DELIVERY, 260)

        controls = QHBoxLayout()
        for label, widget in (("Period", self.period), ("Level", self.level), ("Account", self.account)):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.status)
        controls.addWidget(self.ack_button)
        controls.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.table, 1)

        self.period.currentIndexChanged.connect(self.reload)
        self.level.currentIndexChanged.connect(self._apply_filter)
        self.account.currentIndexChanged.connect(self._apply_filter)
        self.export_button.clicked.connect(self._export_clicked)
        self.ack_button.clicked.connect(self._ack_clicked)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.proxy.rowsInserted.connect(self._count)
        self.proxy.modelReset.connect(self._count)

    # -- data --------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the alert log for the chosen period (a local SQLite read, newest rows first)."""
        history = self._history()
        if history is None:
            self.model.set_rows([r for r in self.model.rows() if r.alert_id is None])
            self.status.setText("no alert log yet (the monitor is starting)")
            return
        try:
            stored = history.alerts(since=self._since())
        except Exception as exc:  # a locked or damaged database: say so, keep what is shown
            self.status.setText(f"cannot read the alert log: {for_user(exc)}")
            return
        rows = [LogRow(r.alert, r.id, r.deliveries) for r in stored]
        live = [r for r in self.model.rows() if r.pending and r.alert.at >= self._since()]
        self.model.set_rows(rows + live)
        self._refresh_accounts()
        self._count()

    def _since(self) -> float:
        days = float(self.period.currentData() or 0.0)
        if days <= 0:
            return datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        return self.clock() - days * 86400.0

    def _selected(self) -> LogRow | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.rows()[self.proxy.mapToSource(rows[0]).row()]

    def _selection_changed(self, *_: object) -> None:
        row = self._selected()
        critical = (row is not None and row.alert.level is AlertLevel.CRITICAL
                    and row.alert.account is not None)
        self.ack_button.setEnabled(self._acknowledge is not None and critical)

    def _ack_clicked(self) -> None:
        row = self._selected()
        if row is None or self._acknowledge is None:
            return
        self._acknowledge(row.alert, row.alert_id)
        self.status.setText(f"acknowledged: {for_user(row.alert.title, limit=80)}")

    def on_raised(self, alert: Alert, muted: str | None = None) -> None:
        self.model.add_raised(alert, muted)
        self._refresh_accounts()

    def on_delivered(self, delivered: Any) -> None:
        """A :class:`desk.notify.base.Delivered` from the bridge."""
        self.model.add_delivered(delivered.alert, delivered.alert_id, tuple(delivered.attempts),
                                 delivered.muted)
        self._refresh_accounts()

    # -- filter and export -------------------------------------------------------------------

    def _refresh_accounts(self) -> None:
        names = sorted({r.alert.account for r in self.model.rows() if r.alert.account})
        present = {self.account.itemData(i) for i in range(1, self.account.count())}
        for name in names:
            if name not in present:
                self.account.addItem(name, name)

    def _apply_filter(self) -> None:
        self.proxy.set_filter(int(self.level.currentData() or 0), self.account.currentData())
        self._count()

    def _count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.status.setText(f"{shown} of {total} alerts" if shown != total else f"{total} alerts")

    def visible_rows(self) -> list[dict[str, Any]]:
        rows = self.model.rows()
        return [rows[self.proxy.mapToSource(self.proxy.index(i, 0)).row()].as_dict()
                for i in range(self.proxy.rowCount())]

    def export_to(self, path: str) -> int:
        from desk.store.export import format_for, write_rows

        rows = self.visible_rows()
        write_rows(rows, path, format_for(path, None))
        return len(rows)

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the alert log", "alerts.csv",
                                              "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
        try:
            count = self.export_to(path)
        except Exception as exc:
            QMessageBox.warning(self, "Export failed", f"Could not write {path}:\n{for_user(exc)}")
            return
        self.status.setText(f"exported {count} alerts to {path}")

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.reload()
