"""Alerts wired to the monitor: snapshots from the event bus → rule engine → log and delivery.

:class:`AlertService` subscribes to :class:`~desk.services.snapshot.MonitorSnapshot` on the
:class:`~desk.services.bus.EventBus`, runs :class:`AlertEngine` (under a lock: snapshots arrive
on the monitor's thread, ticks on a small timer thread, snoozes from the UI or a notification
action), publishes :class:`AlertRaised` on the bus (the UI's alert log view and ``desk watch``
listen) and hands every alert to the :class:`~desk.notify.base.DeliveryWorker`, which records it
and each delivery attempt in the alert log on its own thread, then to each remote channel
(:mod:`desk.services.alert_channels`), each on its own thread. Nothing here blocks the monitor.

A critical condition is repeated on the ``alerts.repeat_critical_minutes`` schedule until it is
acknowledged — :meth:`AlertService.acknowledge` (a notification's button, the tray, the alert log)
or ``desk alerts ack`` from another process, which writes to the alert log; the running service
picks acknowledgements up from there on its clock tick. Every acknowledgement is in the log.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from desk.domain.alerts import Acknowledgement, Alert
from desk.notify.base import AlertLog, Delivered, DeliveryChain, DeliveryWorker, Notifier
from desk.services.alert_channels import ChannelHealth, ChannelWorker
from desk.services.alerts_config import AlertConfig, QuietHours, Thresholds
from desk.services.alerts_engine import AlertEngine, Emission
from desk.services.bus import EventBus
from desk.services.snapshot import MonitorSnapshot

__all__ = [
    "AlertConfig",
    "AlertEngine",
    "AlertRaised",
    "AlertService",
    "ChannelHealth",
    "Delivered",
    "Emission",
    "QuietHours",
    "Thresholds",
    "attach_alerts",
    "build_channels",
]

log = logging.getLogger(__name__)

SNOOZE_SECONDS = 3600.0  # the "Snooze" action on a notification


@dataclass(frozen=True, slots=True)
class AlertRaised:
    """Published on the bus for every alert the engine raises (muted ones too, with the reason)."""

    alert: Alert
    muted: str | None = None


def build_channels(
    config: AlertConfig,
    *,
    tray: Notifier | None = None,
    console: TextIO | None = None,
    on_action: Callable[[str, Alert], None] | None = None,
) -> tuple[list[Notifier], list[Notifier]]:
    """The delivery channels the user enabled: (primary in fallback order, extras).

    Primary: desktop notification over D-Bus (Linux), then the tray balloon (``tray``, from
    desk.ui) where no notification server exists. Extras: sound (critical only) and ``console``
    for ``desk watch``. Remote channels (phone, chat) come from :func:`open_channels`.
    """
    primary: list[Notifier] = []
    extras: list[Notifier] = []
    if config.desktop:
        if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
            from desk.notify.freedesktop import FreedesktopNotifier

            primary.append(FreedesktopNotifier(on_action=on_action))
        if tray is not None:
            primary.append(tray)
    if config.sound:
        from desk.notify.sound import SoundNotifier

        extras.append(SoundNotifier())
    if console is not None:
        from desk.notify.console import ConsoleNotifier

        extras.append(ConsoleNotifier(console))
    return primary, extras


class AlertService:
    def __init__(
        self,
        bus: EventBus,
        config: AlertConfig,
        *,
        alert_log: AlertLog | None = None,
        primary: Sequence[Notifier] = (),
        extras: Sequence[Notifier] = (),
        clock: Callable[[], float] = time.time,
        tick_seconds: float = 1.0,
        on_open: Callable[[Alert], None] | None = None,
        channels: Sequence[ChannelWorker] = (),
        channel_problems: Sequence[ChannelHealth] = (),
    ):
        self.bus = bus
        self.clock = clock
        self.engine = AlertEngine(config, clock)
        self.on_open = on_open
        self.tick_seconds = tick_seconds
        self.channels = list(channels)
        self.channel_problems = list(channel_problems)  # channels that could not even be opened
        for channel in self.channels:
            if channel.alert_log is None:
                channel.alert_log = alert_log
            if channel.on_health is None:
                channel.on_health = bus.publish
        self.worker = DeliveryWorker(
            DeliveryChain(primary, extras, clock), alert_log, on_done=bus.publish, clock=clock,
            remote=self.channels,
        )
        self._ack_seen = 0  # the last acknowledgement read from the alert log
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def from_settings(
        cls,
        bus: EventBus,
        settings: Any,
        *,
        alert_log: AlertLog | None = None,
        tray: Notifier | None = None,
        console: TextIO | None = None,
        on_open: Callable[[Alert], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> AlertService:
        config = AlertConfig.from_settings(settings)
        service: AlertService

        def on_action(action: str, alert: Alert) -> None:
            service.handle_action(action, alert)

        primary, extras = build_channels(config, tray=tray, console=console, on_action=on_action)
        channels: list[ChannelWorker] = []
        problems: list[ChannelHealth] = []
        if config.enabled and hasattr(settings, "channels"):
            from desk.services.alert_channels import open_channels

            channels, problems = open_channels(settings, alert_log=alert_log, clock=clock,
                                               on_health=bus.publish, deferred=True)
        service = cls(bus, config, alert_log=alert_log, primary=primary, extras=extras, clock=clock,
                      on_open=on_open, channels=channels, channel_problems=problems)
        return service

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, runtime: Any = None, *, ticker: bool = True) -> AlertService:
        """Subscribe to snapshots, start delivering, and (``ticker``) re-check time rules every second.

        ``runtime``: called as a :class:`desk.services.runtime.Runtime` extension; its history
        becomes the alert log when none was given.
        """
        if self.worker.alert_log is None and runtime is not None:
            recorder = getattr(runtime, "history_recorder", None)
            self.worker.alert_log = getattr(recorder, "history", None)
            for channel in self.channels:
                channel.alert_log = channel.alert_log or self.worker.alert_log
        last_ack = getattr(self.worker.alert_log, "last_ack_id", None)
        if callable(last_ack):
            try:
                self._ack_seen = int(last_ack())  # acknowledgements from before this start are history
            except Exception:
                log.exception("could not read acknowledgements from the alert log")
        for problem in self.channel_problems:
            log.warning("alert channel %s cannot be used: %s", problem.channel, problem.reason)
            self.bus.publish(problem)
        for channel in self.channels:
            channel.start()
        self.worker.start()
        if self._unsubscribe is None:
            self._unsubscribe = self.bus.subscribe(self._on_event, MonitorSnapshot)
        if ticker and self._ticker is None:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick_loop, name="desk-alert-clock", daemon=True)
            self._ticker.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout)
            self._ticker = None
        self.worker.stop(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until every alert raised so far is logged and delivered (tests, shutdown)."""
        return self.worker.wait_idle(timeout)

    # -- inputs ---------------------------------------------------------------------------------

    def _on_event(self, event: object) -> None:
        if isinstance(event, MonitorSnapshot):
            self.evaluate(event)

    def evaluate(self, snapshot: MonitorSnapshot) -> list[Emission]:
        self._read_acks()  # an acknowledgement made elsewhere counts before any reminder goes out
        with self._lock:
            emissions = self.engine.evaluate(snapshot)
        self._dispatch(emissions)
        return emissions

    def tick(self, now: float | None = None) -> list[Emission]:
        """The clock: stale data, cooldowns, reminders, digests due, acknowledgements from the log."""
        now = self.clock() if now is None else now
        self._read_acks()
        with self._lock:
            emissions = self.engine.tick(now)
        self._dispatch(emissions)
        for channel in self.channels:
            channel.flush(now)
        return emissions

    def acknowledge(self, condition: tuple[str, str | None, str | None, str | None] | None = None, *,
                    source: str, alert_id: int | None = None) -> list[Alert]:
        """Stop the reminders of one critical condition (or all of them) and log who did it."""
        with self._lock:
            acked = self.engine.acknowledge(condition)
        rule, account, symbol, leg = condition if condition is not None else (None, None, None, None)
        ack = Acknowledgement(at=self.clock(), source=source, rule=rule, account=account, symbol=symbol,
                              leg=leg, alert_id=alert_id)
        record = getattr(self.worker.alert_log, "record_ack", None)
        if callable(record):
            try:
                self._ack_seen = max(self._ack_seen, int(record(ack)))
            except Exception:
                log.exception("could not record an acknowledgement in the alert log")
        self.bus.publish(ack)
        log.info("acknowledged from %s: %s", source, ", ".join(a.title for a in acked) or "nothing repeating")
        return acked

    def _read_acks(self) -> None:
        """Acknowledgements written to the alert log by another process (`desk alerts ack`)."""
        read = getattr(self.worker.alert_log, "acks", None)
        if not callable(read):
            return
        try:
            new = read(after_id=self._ack_seen)
        except Exception:
            log.exception("could not read acknowledgements from the alert log")
            return
        for ack_id, ack in new:
            self._ack_seen = max(self._ack_seen, ack_id)
            with self._lock:
                acked = self.engine.acknowledge(ack.condition)
            if acked:
                log.info("acknowledged from %s: %s", ack.source, ", ".join(a.title for a in acked))
            self.bus.publish(ack)

    def reload_channels(self, settings: Any) -> None:
        """Channels added, changed or removed in the settings take effect now; the old ones finish
        what they are sending on their own threads (a hung service must not hold the caller)."""
        from desk.services.alert_channels import open_channels

        old = self.channels
        channels, problems = open_channels(settings, alert_log=self.worker.alert_log, clock=self.clock,
                                           on_health=self.bus.publish, deferred=True)
        for channel in channels:
            channel.start()
        self.channels, self.channel_problems = channels, problems
        self.worker.remote = list(channels)
        for problem in problems:
            self.bus.publish(problem)
        def stop_old() -> None:
            for channel in old:
                channel.stop()

        threading.Thread(target=stop_old, name="desk-channels-stop", daemon=True).start()

    def failing_channels(self) -> dict[str, str]:
        """Channels whose last attempt failed (or that cannot be opened), with the reason."""
        failing = {p.channel: p.reason for p in self.channel_problems}
        failing.update({c.channel: c.failing for c in self.channels if c.failing})
        return failing

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.tick()
            except Exception:
                log.exception("alert clock tick failed")

    def snooze(self, until: float | None, subject: str | None = None) -> None:
        """Mute warnings until ``until`` (critical alerts still sound); None lifts the snooze."""
        with self._lock:
            self.engine.snooze(until, subject)

    def update_config(self, config: AlertConfig) -> None:
        with self._lock:
            self.engine.update_config(config)

    def handle_action(self, action: str, alert: Alert) -> None:
        """A click on a notification's action ("open", "snooze" or "ack")."""
        if action == "ack":
            self.acknowledge(alert.condition, source="notification")
        elif action == "snooze":
            self.snooze(self.clock() + SNOOZE_SECONDS, alert.subject or None)
            minutes = SNOOZE_SECONDS // 60
            log.info("snoozed %s for %d min from a notification", alert.subject or "all", minutes)
        elif action == "open" and self.on_open is not None:
            self.on_open(alert)

    def _dispatch(self, emissions: list[Emission]) -> None:
        for e in emissions:
            self.bus.publish(AlertRaised(e.alert, e.muted))
            self.worker.submit(e.alert, e.muted)


def attach_alerts(
    runtime: Any,
    settings: Any = None,
    *,
    console: TextIO | None = None,
    tray: Notifier | None = None,
    on_open: Callable[[Alert], None] | None = None,
) -> AlertService:
    """Add alerts to a :class:`desk.services.runtime.Runtime` (``desk watch``, the dashboard).

    The alert log is the runtime's history; channels follow the ``alerts.*`` settings, plus
    ``console`` (``desk watch`` prints every alert) and ``tray`` (the dashboard's balloon).
    """
    if settings is None:
        from desk.store.settings import Settings

        settings = Settings.load()
    recorder = getattr(runtime, "history_recorder", None)
    service = AlertService.from_settings(
        runtime.bus, settings, alert_log=getattr(recorder, "history", None), tray=tray, console=console,
        on_open=on_open,
    )
    runtime.add_extension(service)
    return service
