"""The GUI-thread bridge: events published on a worker thread arrive on the GUI thread,
snapshots coalesced to the refresh rate, status changes and alerts every one."""

from __future__ import annotations

import itertools
import threading
import time

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from desk.domain.alerts import Alert, AlertLevel
from desk.services.alerts import AlertRaised
from desk.services.bus import EventBus
from desk.services.snapshot import DataStatus, StatusChange
from desk.ui.bridge import EventBridge
from tests.support.ui import position, snapshot


def publish_from_thread(bus: EventBus, events: list[object], pause: float = 0.0) -> threading.Thread:
    def run() -> None:
        for event in events:
            bus.publish(event)
            if pause:
                time.sleep(pause)

    thread = threading.Thread(target=run, name="fake-monitor")
    thread.start()
    return thread


def test_snapshot_published_on_a_worker_thread_arrives_on_the_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    bridge = EventBridge(refresh_hz=4)
    bridge.attach(bus)
    seen: list[tuple[int, bool]] = []
    app_thread = QApplication.instance().thread()  # type: ignore[union-attr]
    bridge.snapshot_ready.connect(lambda s: seen.append((s.seq, QThread.currentThread() is app_thread)))
    with qtbot.waitSignal(bridge.snapshot_ready, timeout=2000):
        publish_from_thread(bus, [snapshot([position()], seq=1)]).join(2)
    assert seen == [(1, True)]


def test_a_burst_of_snapshots_is_coalesced_to_the_newest(qtbot) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    bridge = EventBridge(refresh_hz=4)
    bridge.attach(bus)
    delivered: list[int] = []
    bridge.snapshot_ready.connect(lambda s: delivered.append(s.seq))
    burst = [snapshot([position()], seq=i) for i in range(1, 201)]
    publish_from_thread(bus, burst).join(5)
    qtbot.waitUntil(lambda: bool(delivered) and delivered[-1] == 200, timeout=3000)
    assert bridge.received == 200
    assert len(delivered) <= 3  # the first at once, the rest folded into the newest
    assert delivered == sorted(delivered)


def test_a_steady_stream_is_throttled_to_the_refresh_rate(qtbot) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    bridge = EventBridge(refresh_hz=4)
    bridge.attach(bus)
    delivered: list[float] = []
    bridge.snapshot_ready.connect(lambda s: delivered.append(time.monotonic()))
    # 20 snapshots a second for 1.5 s
    thread = publish_from_thread(bus, [snapshot([position()], seq=i) for i in range(30)], pause=0.05)
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=5000)
    qtbot.wait(400)
    assert 4 <= len(delivered) <= 8  # ~4 per second, not 20
    gaps = [b - a for a, b in itertools.pairwise(delivered)]
    assert min(gaps) >= 0.2  # 1 / 4 Hz, with a little scheduling slack


def test_status_changes_and_alerts_are_never_coalesced(qtbot) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    bridge = EventBridge(refresh_hz=1)
    bridge.attach(bus)
    changes: list[StatusChange] = []
    alerts: list[tuple[Alert, str | None]] = []
    bridge.status_changed.connect(changes.append)
    bridge.alert_raised.connect(lambda a, muted: alerts.append((a, muted)))
    events: list[object] = []
    for i in range(10):
        events.append(StatusChange(at=float(i), account="main", old=DataStatus.LIVE, new=DataStatus.DELAYED,
                                   reason=f"#{i}"))
        alert = Alert(at=float(i), rule="distance", level=AlertLevel.WARNING, title=f"alert {i}", body="b")
        events.append(AlertRaised(alert, "snoozed" if i == 3 else None))
    publish_from_thread(bus, events).join(5)
    qtbot.waitUntil(lambda: len(changes) == 10 and len(alerts) == 10, timeout=3000)
    assert [c.reason for c in changes] == [f"#{i}" for i in range(10)]
    assert [a.title for a, _ in alerts] == [f"alert {i}" for i in range(10)]
    assert alerts[3][1] == "snoozed"


def test_unrelated_events_are_ignored(qtbot) -> None:  # type: ignore[no-untyped-def]
    bridge = EventBridge()
    got: list[object] = []
    bridge.snapshot_ready.connect(got.append)
    bridge.on_event("something else")
    qtbot.wait(50)
    assert got == [] and bridge.received == 0
