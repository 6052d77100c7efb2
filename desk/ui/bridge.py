"""The one bridge from the monitor's worker thread to the GUI thread.

The event bus calls :meth:`EventBridge.on_event` on the publisher's thread. The bridge keeps
only the newest snapshot (older ones are superseded, never queued up), queues status changes,
alerts, their delivery reports and the history's state changes (none may be lost), and wakes the
GUI thread with a queued signal. On the GUI thread it emits at most ``refresh_hz`` snapshots a
second, so a monitor publishing 20 times a second costs the GUI 4 repaints, and a quiet monitor's
update is shown at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from desk.domain.alerts import Acknowledgement, Alert
from desk.services.alerts import AlertRaised, ChannelHealth, Delivered
from desk.services.snapshot import HistoryStatus, MonitorSnapshot, StatusChange

DEFAULT_REFRESH_HZ = 4.0


class EventBridge(QObject):
    snapshot_ready = Signal(object)  # MonitorSnapshot, coalesced
    status_changed = Signal(object)  # StatusChange, every one
    alert_raised = Signal(object, object)  # (Alert, muted reason or None), every one
    alert_delivered = Signal(object)  # Delivered: the alert's log id and delivery attempts, every one
    history_changed = Signal(object)  # HistoryStatus: the risk history stopped / resumed recording, every one
    alert_path_changed = Signal(object)  # ChannelHealth (a channel failing / working) or Acknowledgement
    _wake = Signal()

    def __init__(self, refresh_hz: float = DEFAULT_REFRESH_HZ, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._latest: MonitorSnapshot | None = None
        self._events: list[object] = []
        self._wake_pending = False
        self._last_flush = -1e9
        self._interval = 1.0 / max(0.5, min(60.0, refresh_hz))
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush_snapshot)
        self._wake.connect(self._on_wake, Qt.ConnectionType.QueuedConnection)
        self.delivered = 0  # snapshots emitted (for tests and the benchmark)
        self.received = 0  # snapshots received from the bus
        self._closed = False

    @property
    def interval(self) -> float:
        return self._interval

    def set_refresh_hz(self, hz: float) -> None:
        self._interval = 1.0 / max(0.5, min(60.0, hz))

    def close(self) -> None:
        """Deliver nothing more: what is queued is dropped (the window it was for is going)."""
        with self._lock:
            self._closed = True
            self._latest = None
            self._events = []
        self._timer.stop()

    def attach(self, bus: Any) -> Callable[[], None]:
        """Subscribe to an EventBus; returns the unsubscribe function."""
        unsubscribe: Callable[[], None] = bus.subscribe(self.on_event)
        return unsubscribe

    # -- any thread ------------------------------------------------------------------------

    def on_event(self, event: object) -> None:
        with self._lock:
            if self._closed:
                return
            if isinstance(event, MonitorSnapshot):
                self.received += 1
                if self._latest is None or event.seq >= self._latest.seq:
                    self._latest = event
            elif isinstance(event, StatusChange | Alert | AlertRaised | Delivered | HistoryStatus
                            | ChannelHealth | Acknowledgement):
                self._events.append(event)
            else:
                return
            if self._wake_pending:
                return
            self._wake_pending = True
        self._wake.emit()

    # -- GUI thread ------------------------------------------------------------------------

    @Slot()
    def _on_wake(self) -> None:
        with self._lock:
            self._wake_pending = False
            if self._closed:
                return
            events, self._events = self._events, []
            has_snapshot = self._latest is not None
        for event in events:
            if isinstance(event, StatusChange):
                self.status_changed.emit(event)
            elif isinstance(event, AlertRaised):
                self.alert_raised.emit(event.alert, event.muted)
            elif isinstance(event, Delivered):
                self.alert_delivered.emit(event)
            elif isinstance(event, HistoryStatus):
                self.history_changed.emit(event)
            elif isinstance(event, ChannelHealth | Acknowledgement):
                self.alert_path_changed.emit(event)
            else:
                self.alert_raised.emit(event, None)
        if not has_snapshot or self._timer.isActive():
            return
        wait = self._last_flush + self._interval - time.monotonic()
        if wait <= 0:
            self._flush_snapshot()
        else:
            self._timer.start(max(1, int(wait * 1000)))

    @Slot()
    def _flush_snapshot(self) -> None:
        with self._lock:
            snapshot, self._latest = self._latest, None
        if snapshot is None:
            return
        self._last_flush = time.monotonic()
        self.delivered += 1
        self.snapshot_ready.emit(snapshot)
