"""Remote alert channels (a phone, a chat): per-channel routing, and a delivery thread per channel.

Routing (:class:`Route`, pure, injected clock) decides per channel and per alert:

* the channel's minimum level (``[channels.NAME] level``) — a phone may take critical only;
* its quiet hours (critical alerts and their reminders break through unless told not to);
* a digest for bursts — more than ``digest_after`` alerts within ``digest_minutes`` and the
  rest of the window's non-critical alerts are held, then sent as one message when it ends;
* "recovered" goes only to a channel that got the alert about that condition, once.

Each channel sends on its own thread (:class:`ChannelWorker`), so a slow or dead service never
delays the desktop notification or another channel. Every attempt — sent, failed and why, held
for a digest, silenced by quiet hours — goes to the alert log. A channel whose last attempt
failed is "failing" until one succeeds: :class:`ChannelHealth` is published on the event bus
(the status strip and ``desk watch --verbose`` show it).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from desk.domain.alerts import Alert, AlertLevel, DeliveryAttempt
from desk.notify.base import AlertLog, Notifier, NotifyError, describe_error
from desk.services.alerts_config import QuietHours

log = logging.getLogger(__name__)

_RANK = {AlertLevel.INFO: 1, AlertLevel.WARNING: 2, AlertLevel.CRITICAL: 3}
Condition = tuple[str, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """Published when a channel starts or stops failing (and after each test message)."""

    channel: str
    ok: bool
    reason: str  # the last failure, or what was delivered
    at: float


@dataclass
class Route:
    """Which alerts one channel gets, and when. Not thread-safe: one caller at a time."""

    channel: str
    min_level: AlertLevel = AlertLevel.WARNING
    quiet_hours: QuietHours | None = None
    critical_overrides_quiet: bool = True
    digest_after: int = 5
    digest_seconds: float = 600.0
    tz: tzinfo | None = None
    _recent: deque[float] = field(default_factory=deque)  # when alerts went out, within the window
    _held: list[tuple[int | None, Alert]] = field(default_factory=list)
    _held_since: float | None = None
    _got: set[Condition] = field(default_factory=set)  # conditions this channel was told about

    @classmethod
    def from_config(cls, cfg: Any, tz: tzinfo | None = None) -> Route:
        """From a :class:`desk.store.settings.ChannelConfig`."""
        return cls(
            channel=cfg.name, min_level=AlertLevel(cfg.level), quiet_hours=QuietHours.parse(cfg.quiet_hours),
            critical_overrides_quiet=cfg.critical_overrides_quiet, digest_after=cfg.digest_after,
            digest_seconds=cfg.digest_minutes * 60.0, tz=tz,
        )

    def admit(self, alert: Alert, now: float) -> tuple[bool, str | None]:
        """(send it now, why not) — why is None when the channel simply does not take this alert
        (below its level, a recovery of something it never got), else a reason for the alert log."""
        if alert.rule == "recovered":
            if alert.condition not in self._got:
                return False, None
            self._got.discard(alert.condition)
            return True, None
        critical = alert.level is AlertLevel.CRITICAL
        if _RANK[alert.level] < _RANK[self.min_level]:
            return False, None
        if self.quiet_hours is not None and self.quiet_hours.contains(now, self.tz) \
                and not (critical and self.critical_overrides_quiet):
            return False, f"quiet hours {self.quiet_hours} on this channel"
        while self._recent and now - self._recent[0] >= self.digest_seconds:
            self._recent.popleft()
        if not critical and self.digest_after and (len(self._recent) >= self.digest_after or self._held):
            if self._held_since is None:
                self._held_since = now
            return False, "held for this channel's digest"
        self._recent.append(now)
        if alert.account is not None:
            self._got.add(alert.condition)
        return True, None

    def hold(self, alert_id: int | None, alert: Alert) -> None:
        self._held.append((alert_id, alert))

    def due_digest(self, now: float) -> tuple[tuple[int | None, ...], Alert] | None:
        """The digest of the held alerts once the window since the first of them has passed."""
        if not self._held or self._held_since is None or now - self._held_since < self.digest_seconds:
            return None
        held, self._held, self._held_since = self._held, [], None
        self._recent.clear()
        self._recent.append(now)
        for _, alert in held:
            if alert.account is not None:
                self._got.add(alert.condition)
        worst = max((a.level for _, a in held), key=_RANK.__getitem__)
        digest = Alert(
            at=now, rule="digest", level=worst, title=f"{len(held)} alerts held during a burst",
            body="\n".join(f"[{a.level.value}] {a.title}" for _, a in held),
        )
        return tuple(i for i, _ in held), digest


class ChannelWorker:
    """One remote channel: routing in the caller's thread (quick), sending on its own thread."""

    def __init__(
        self,
        notifier: Notifier,
        route: Route,
        *,
        alert_log: AlertLog | None = None,
        clock: Callable[[], float] = time.time,
        on_health: Callable[[ChannelHealth], None] | None = None,
    ):
        self.notifier = notifier
        self.route = route
        self.alert_log = alert_log
        self.clock = clock
        self.on_health = on_health
        self.failing: str | None = None  # the reason of the last failure, until a success
        self._queue: queue.Queue[tuple[tuple[int | None, ...], Alert] | None] = queue.Queue(1000)
        self._idle = threading.Condition()
        self._pending = 0
        self._lock = threading.Lock()  # the route is used from the delivery worker and the ticker
        self._thread: threading.Thread | None = None

    @property
    def channel(self) -> str:
        return self.notifier.channel

    def start(self) -> ChannelWorker:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"desk-channel-{self.channel}",
                                            daemon=True)
            self._thread.start()
        return self

    def submit(self, alert_id: int | None, alert: Alert) -> None:
        with self._lock:
            send, why = self.route.admit(alert, self.clock())
            if not send and why == "held for this channel's digest":
                self.route.hold(alert_id, alert)
        if send:
            self._enqueue((alert_id,), alert)
        elif why is not None:
            self._record((alert_id,), DeliveryAttempt(self.clock(), self.channel, False, why))

    def flush(self, now: float) -> None:
        """Send the digest when its window has passed (the alert service's clock tick)."""
        with self._lock:
            due = self.route.due_digest(now)
        if due is not None:
            self._enqueue(*due)

    def _enqueue(self, ids: tuple[int | None, ...], alert: Alert) -> None:
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait((ids, alert))
        except queue.Full:
            self._done()
            self._record(ids, DeliveryAttempt(self.clock(), self.channel, False,
                                              "not sent: 1000 messages already waiting for this channel"))

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Let the channel finish within ``timeout``; what is still waiting then is logged as not
        sent (never dropped silently)."""
        if self._thread is None:
            return
        self.wait_idle(timeout)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._record(item[0], DeliveryAttempt(self.clock(), self.channel, False,
                                                      "not sent: desk stopped before it went out"))
                self._done()
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        prepare = getattr(self.notifier, "prepare", None)
        if prepare is not None:  # build the sender here, off the caller's thread
            try:
                prepare()
            except Exception as exc:
                self._health(DeliveryAttempt(self.clock(), self.channel, False, describe_error(exc)))
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                ids, alert = item
                attempt = send_once(self.notifier, alert, self.clock)
                if len(ids) > 1 and attempt.delivered:
                    attempt = DeliveryAttempt(attempt.at, attempt.channel, True,
                                              f"{attempt.detail} (in a digest of {len(ids)} alerts)")
                self._record(ids, attempt)
                self._health(attempt)
            except Exception:
                log.exception("alert channel %s", self.channel)
            finally:
                self._done()

    def _health(self, attempt: DeliveryAttempt) -> None:
        was = self.failing
        self.failing = None if attempt.delivered else attempt.detail
        if (was is None) != (self.failing is None) and self.on_health is not None:
            self.on_health(ChannelHealth(self.channel, attempt.delivered, attempt.detail, attempt.at))

    def _record(self, ids: tuple[int | None, ...], attempt: DeliveryAttempt) -> None:
        if self.alert_log is None:
            return
        for alert_id in ids:
            if alert_id is None:
                continue
            try:
                self.alert_log.record_delivery(alert_id, attempt)
            except Exception:
                log.exception("could not record a delivery attempt in the alert log")


def send_once(notifier: Notifier, alert: Alert, clock: Callable[[], float] = time.time) -> DeliveryAttempt:
    """One attempt, as the alert log records it (never raises)."""
    try:
        detail = notifier.send(alert)
    except Exception as exc:
        text = describe_error(exc)
        log.warning("alert channel %s failed: %s", notifier.channel, text)
        return DeliveryAttempt(clock(), notifier.channel, False, text)
    return DeliveryAttempt(clock(), notifier.channel, True, detail)


def open_channels(
    settings: Any,
    *,
    alert_log: AlertLog | None = None,
    clock: Callable[[], float] = time.time,
    on_health: Callable[[ChannelHealth], None] | None = None,
    only: str | None = None,
    deferred: bool = False,
) -> tuple[list[ChannelWorker], list[ChannelHealth]]:
    """The configured channels with their URLs from the keyring; a channel that cannot be opened
    (no URL stored, keyring locked, URL Apprise does not know) is reported, never silently skipped.

    ``deferred``: each channel's sender is built on its own thread when it starts (a running
    desk: Apprise's import must not hold up the monitor); a URL Apprise refuses then shows as a
    failing channel."""
    channels = settings.channels()
    if not channels:
        return [], []  # nothing to read from the keyring, whose import alone is slow (issue 18)
    from desk.notify.remote import AppriseNotifier, DeferredAppriseNotifier
    from desk.store import secrets

    workers: list[ChannelWorker] = []
    problems: list[ChannelHealth] = []
    for name, cfg in channels.items():
        if only is not None and name != only:
            continue
        try:
            url = secrets.channel_url(name)
            if not url:
                raise NotifyError("no URL stored in the keyring — add it with "
                                  f"`desk alerts channel add {name}`")
            notifier: Notifier = (DeferredAppriseNotifier(name, url) if deferred
                                  else AppriseNotifier(name, url))
        except (NotifyError, ValueError, secrets.SecretStoreError) as exc:
            problems.append(ChannelHealth(name, False, describe_error(exc), clock()))
            continue
        workers.append(ChannelWorker(notifier, Route.from_config(cfg), alert_log=alert_log, clock=clock,
                                     on_health=on_health))
    return workers, problems


def test_targets(settings: Any, only: str | None = None) -> tuple[list[Notifier], list[ChannelHealth]]:
    """What "Send test alert" and `desk alerts test` try: the desktop notification (when
    alerts.desktop is on, as channel "desktop") and every remote channel; plus the channels that
    cannot even be opened."""
    import sys

    targets: list[Notifier] = []
    linux = sys.platform.startswith(("linux", "freebsd"))
    if only in (None, "desktop") and settings.get("alerts.desktop") and linux:
        from desk.notify.freedesktop import FreedesktopNotifier

        desktop = FreedesktopNotifier(retry_seconds=0)
        desktop.channel = "desktop"
        targets.append(desktop)
    workers, problems = open_channels(settings, only=only)
    return targets + [w.notifier for w in workers], problems


def send_test(notifiers: Sequence[Notifier], alert: Alert, timeout: float = 30.0) -> list[DeliveryAttempt]:
    """Send ``alert`` to every channel at once (each on its own thread) and wait for the answers."""
    results: dict[str, DeliveryAttempt] = {}

    def one(notifier: Notifier) -> None:
        if not notifier.available():
            results[notifier.channel] = DeliveryAttempt(
                time.time(), notifier.channel, False, "not available (no notification server answers)")
            return
        results[notifier.channel] = send_once(notifier, alert)

    threads = [threading.Thread(target=one, args=(n,), daemon=True) for n in notifiers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    for notifier in notifiers:
        close = getattr(notifier, "close", None)
        if close is not None:
            close()
    return [results.get(n.channel) or DeliveryAttempt(time.time(), n.channel, False,
                                                     f"no answer within {timeout:g} s") for n in notifiers]
