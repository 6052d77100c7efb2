"""Delivery of alerts: the notifier interface, the ordered fallback chain and the delivery worker.

A chain has *primary* notifiers, tried in order until one delivers (freedesktop notification,
then the tray balloon where no notification server exists), and *extras* that each get every
alert they accept (sound, console). Remote channels (a phone, a chat: :class:`RemoteChannel`) get
the alert after it is logged, each on a thread of its own. Every attempt — delivered, failed or skipped
because the channel is not available — becomes a :class:`DeliveryAttempt` in the alert log.

Delivery never runs on the monitor's thread: :class:`DeliveryWorker` takes alerts from a queue
on its own thread, so a slow remote channel or a hung D-Bus server cannot delay monitoring.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from desk.domain.alerts import Alert, DeliveryAttempt
from desk.sanitize import for_user

log = logging.getLogger(__name__)


class NotifyError(Exception):
    """A delivery failed. The message is for the alert log: short, and never contains a secret."""


@runtime_checkable
class Notifier(Protocol):
    """One way of telling the trader.

    ``send`` runs on the delivery worker's thread, never on the GUI thread: a Qt implementation
    (the tray balloon) must hand the alert over to the GUI thread itself (a queued signal) and
    return at once.
    """

    channel: str  # "dbus", "tray", "sound", "console", or a remote channel's name

    def available(self) -> bool:
        """Whether the channel can deliver right now (e.g. a notification server exists)."""
        ...

    def send(self, alert: Alert) -> str:
        """Deliver; return a short detail for the log (server id, HTTP status). Raise on failure."""
        ...


class AlertLog(Protocol):
    """Where alerts and delivery attempts are recorded (``desk.store.history.History``)."""

    def record_alert(self, alert: Alert) -> int: ...

    def record_delivery(self, alert_id: int, attempt: DeliveryAttempt) -> object: ...


def accepts(notifier: Notifier, alert: Alert) -> bool:
    """A notifier may limit itself (e.g. sound only for critical alerts) with ``accepts(alert)``."""
    check = getattr(notifier, "accepts", None)
    return True if check is None else bool(check(alert))


class RemoteChannel(Protocol):
    """A channel with its own sending thread (desk.services.alert_channels.ChannelWorker)."""

    @property
    def channel(self) -> str: ...

    def submit(self, alert_id: int | None, alert: Alert) -> None: ...

    def wait_idle(self, timeout: float) -> bool: ...

    def stop(self, timeout: float = 5.0) -> None: ...


def describe_error(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, NotifyError) else f"{type(exc).__name__}: {exc}"
    return for_user(text)  # shown in the alert log: a channel URL's token must not be


class DeliveryChain:
    def __init__(
        self,
        primary: Sequence[Notifier] = (),
        extras: Sequence[Notifier] = (),
        clock: Callable[[], float] = time.time,
    ):
        self.primary = list(primary)
        self.extras = list(extras)
        self.clock = clock

    def deliver(self, alert: Alert) -> list[DeliveryAttempt]:
        attempts: list[DeliveryAttempt] = []
        for notifier in self.primary:
            if not accepts(notifier, alert):
                continue
            attempt = self._try(notifier, alert)
            attempts.append(attempt)
            if attempt.delivered:
                break
        for notifier in self.extras:
            if accepts(notifier, alert):
                attempts.append(self._try(notifier, alert))
        return attempts

    def _try(self, notifier: Notifier, alert: Alert) -> DeliveryAttempt:
        try:
            if not notifier.available():
                return DeliveryAttempt(self.clock(), notifier.channel, False, "not available")
            detail = notifier.send(alert)
        except Exception as exc:  # one broken channel must never stop the others
            log.warning("alert delivery via %s failed: %s", notifier.channel, describe_error(exc))
            return DeliveryAttempt(self.clock(), notifier.channel, False, describe_error(exc))
        return DeliveryAttempt(self.clock(), notifier.channel, True, detail)

    def close(self) -> None:
        for notifier in (*self.primary, *self.extras):
            close = getattr(notifier, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("closing notifier %s", notifier.channel)


@dataclass(frozen=True, slots=True)
class Delivered:
    """What the worker did with one alert (for listeners such as `desk watch`)."""

    alert: Alert
    alert_id: int | None
    attempts: tuple[DeliveryAttempt, ...]
    muted: str | None = None


class DeliveryWorker:
    """Logs and delivers alerts on its own thread, in order, without blocking the caller."""

    def __init__(
        self,
        chain: DeliveryChain,
        alert_log: AlertLog | None = None,
        *,
        on_done: Callable[[Delivered], None] | None = None,
        clock: Callable[[], float] = time.time,
        maxsize: int = 1000,
        remote: Sequence[RemoteChannel] = (),
    ):
        self.chain = chain
        self.remote = list(remote)
        self.alert_log = alert_log
        self.on_done = on_done
        self.clock = clock
        self._queue: queue.Queue[tuple[Alert, str | None] | None] = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._pending = 0

    def start(self) -> DeliveryWorker:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="desk-alert-delivery", daemon=True)
            self._thread.start()
        return self

    def submit(self, alert: Alert, muted: str | None = None) -> None:
        """Queue an alert; ``muted`` (snoozed, quiet hours) logs it without delivering it."""
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait((alert, muted))
        except queue.Full:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()
            log.error("alert delivery queue full; alert dropped: %s", alert.title)

    def wait_idle(self, timeout: float) -> bool:
        """Block until every queued alert is handled, remote channels included (tests, shutdown).
        False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return all(r.wait_idle(max(0.0, deadline - time.monotonic())) for r in self.remote)

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self.wait_idle(timeout)
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None
        for remote in self.remote:
            remote.stop(timeout)
        self.chain.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._handle(*item)
            except Exception:
                log.exception("alert delivery failed")
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _handle(self, alert: Alert, muted: str | None) -> None:
        alert_id = self._record_alert(alert)
        if muted:
            attempts = [DeliveryAttempt(self.clock(), "muted", False, muted)]
        else:
            for remote in self.remote:  # first: they send on their own threads, whatever D-Bus does
                remote.submit(alert_id, alert)
            attempts = self.chain.deliver(alert)
            if not attempts and not self.remote:
                attempts = [DeliveryAttempt(self.clock(), "none", False, "no delivery channel is enabled")]
        if alert_id is not None and self.alert_log is not None:
            for attempt in attempts:
                try:
                    self.alert_log.record_delivery(alert_id, attempt)
                except Exception:
                    log.exception("could not record a delivery attempt in the alert log")
        if self.on_done is not None:
            self.on_done(Delivered(alert, alert_id, tuple(attempts), muted))

    def _record_alert(self, alert: Alert) -> int | None:
        if self.alert_log is None:
            return None
        try:
            return int(self.alert_log.record_alert(alert))
        except Exception:
            log.exception("could not record an alert in the alert log")
            return None
