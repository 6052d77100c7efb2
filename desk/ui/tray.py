"""The tray icon (worst status at a glance, a menu) and the tray-balloon alert notifier."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from desk.domain.alerts import Alert, AlertLevel
from desk.ui.levels import Level
from desk.ui.theme import LEVEL_HEX

_RESOURCE_NAMES = {Level.OK: "tray-ok.png", Level.WARNING: "tray-warning.png",
                   Level.CRITICAL: "tray-critical.png", Level.STALE: "tray-stale.png"}


def status_icon(level: Level | None, size: int = 64) -> QIcon:
    """The packaged icon for ``level`` when it exists, else one drawn here: a coloured disc with
    a distinct glyph per level (check, triangle, cross, ring), readable without colour."""
    if level is not None:
        packaged = _packaged_icon(_RESOURCE_NAMES[level])
        if packaged is not None:
            return packaged
    return QIcon(draw_status_pixmap(level, size))


def _packaged_icon(name: str) -> QIcon | None:
    try:
        from desk.resources import resource_path  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        path = resource_path(name)
    except Exception:  # a missing packaged icon: draw one instead
        return None
    if path is None or not Path(path).exists():
        return None
    icon = QIcon(str(path))
    return None if icon.isNull() else icon


def draw_status_pixmap(level: Level | None, size: int = 64) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = QColor(LEVEL_HEX[level if level is not None else Level.STALE])
    s = float(size)
    painter.setPen(QPen(QColor("#000000"), s * 0.04))
    painter.setBrush(color)
    painter.drawEllipse(QRectF(s * 0.04, s * 0.04, s * 0.92, s * 0.92))
    pen = QPen(QColor("#000000"), s * 0.11, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
               Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    if level is Level.OK:
        path = QPainterPath(QPointF(s * 0.28, s * 0.52))
        path.lineTo(QPointF(s * 0.44, s * 0.68))
        path.lineTo(QPointF(s * 0.72, s * 0.34))
        painter.drawPath(path)
    elif level is Level.WARNING:
        painter.drawLine(QPointF(s * 0.5, s * 0.26), QPointF(s * 0.5, s * 0.56))
        painter.drawPoint(QPointF(s * 0.5, s * 0.74))
    elif level is Level.CRITICAL:
        painter.drawLine(QPointF(s * 0.32, s * 0.32), QPointF(s * 0.68, s * 0.68))
        painter.drawLine(QPointF(s * 0.68, s * 0.32), QPointF(s * 0.32, s * 0.68))
    else:  # stale: a question mark; starting (no data yet): an ellipsis
        font = QFont()
        font.setBold(True)
        font.setPixelSize(int(s * 0.6))
        painter.setFont(font)
        painter.drawText(QRectF(0, 0, s, s), int(Qt.AlignmentFlag.AlignCenter),
                         "?" if level is Level.STALE else "…")
    painter.end()
    return pixmap


class Tray(QObject):
    """The tray icon and its menu. ``available`` is False where no tray host exists."""

    show_hide_requested = Signal()
    snooze_requested = Signal(float)  # seconds
    acknowledge_requested = Signal()  # stop the reminders of every critical alert
    quit_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.level: Level | None = None
        self.icon = QSystemTrayIcon(status_icon(None), self)
        self.icon.setToolTip("desk — starting")
        self.menu = QMenu()
        self.show_action = QAction("Show / hide window", self.menu)
        self.show_action.triggered.connect(self.show_hide_requested)
        self.menu.addAction(self.show_action)
        self.menu.addSeparator()
        self.ack_action = QAction("Acknowledge critical alerts", self.menu)
        self.ack_action.setToolTip("Stop the reminders of every critical alert (they come back if it "
                                   "recovers and turns critical again)")
        self.ack_action.triggered.connect(self.acknowledge_requested)
        self.menu.addAction(self.ack_action)
        for label, seconds in (("Snooze alerts 15 min", 15 * 60.0), ("Snooze alerts 1 h", 3600.0)):
            action = QAction(label, self.menu)
            action.triggered.connect(lambda _=False, s=seconds: self.snooze_requested.emit(s))
            self.menu.addAction(action)
        self.unsnooze_action = QAction("Resume alerts", self.menu)
        self.unsnooze_action.triggered.connect(lambda: self.snooze_requested.emit(0.0))
        self.menu.addAction(self.unsnooze_action)
        self.menu.addSeparator()
        quit_action = QAction("Quit desk", self.menu)
        quit_action.triggered.connect(self.quit_requested)
        self.menu.addAction(quit_action)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        if self.available:
            self.icon.show()

    def set_status(self, level: Level | None, tooltip: str) -> None:
        if level != self.level:
            self.level = level
            self.icon.setIcon(status_icon(level))
        self.icon.setToolTip(tooltip)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_hide_requested.emit()


class TrayNotifier(QObject):
    """A :class:`desk.notify.base.Notifier` showing alerts as tray balloons.

    ``send`` runs on the alert delivery thread: it hands the alert to the GUI thread through a
    queued signal and returns at once (Qt widgets are touched on the GUI thread only).
    """

    channel = "tray"
    _show = Signal(str, str, int, int)

    def __init__(self, tray: Tray, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tray = tray
        self._lock = threading.Lock()
        self._available = tray.available
        self.shown: list[tuple[str, str]] = []  # what was shown (for the tests)
        self._show.connect(self._show_on_gui_thread, Qt.ConnectionType.QueuedConnection)

    def set_available(self, available: bool) -> None:
        with self._lock:
            self._available = available

    def available(self) -> bool:
        with self._lock:
            return self._available

    def send(self, alert: Alert) -> str:
        if not self.available():
            raise RuntimeError("no system tray to show the alert in")
        icon = {AlertLevel.CRITICAL: QSystemTrayIcon.MessageIcon.Critical,
                AlertLevel.WARNING: QSystemTrayIcon.MessageIcon.Warning}.get(
            alert.level, QSystemTrayIcon.MessageIcon.Information)
        timeout = 0 if alert.level is AlertLevel.CRITICAL else 10_000
        from desk.sanitize import for_user

        title, body = for_user(alert.title, limit=None), for_user(alert.body, limit=None, multiline=True)
        self._show.emit(title, body, int(icon.value), timeout)
        return "balloon"

    @Slot(str, str, int, int)
    def _show_on_gui_thread(self, title: str, body: str, icon: int, timeout: int) -> None:
        self.shown.append((title, body))
        self._tray.icon.showMessage(title, body, QSystemTrayIcon.MessageIcon(icon), timeout)


Callback = Callable[[], None]
